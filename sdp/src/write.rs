//! The writer: a [`SessionDescription`] to SDP text with CRLF line ends, in RFC 8866 line order.

use std::fmt;

use crate::model::*;

/// Appends the decimal digits of `v` without going through `core::fmt`.
pub(crate) fn push_u64(out: &mut String, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

fn line(out: &mut String, kind: &str, value: &str) {
    out.push_str(kind);
    out.push_str(value);
    out.push_str("\r\n");
}

fn typed_time(out: &mut String, t: &TypedTime) {
    if t.value < 0 {
        out.push('-');
    }
    push_u64(out, t.value.unsigned_abs());
    if let Some(u) = t.unit {
        out.push(u.letter());
    }
}

fn connection(out: &mut String, c: &Connection<'_>) {
    out.push_str("c=");
    out.push_str(&c.nettype);
    out.push(' ');
    out.push_str(&c.addrtype);
    out.push(' ');
    out.push_str(&c.address);
    if let Some(ttl) = c.ttl {
        out.push('/');
        push_u64(out, u64::from(ttl));
    }
    if let Some(n) = c.num_addresses {
        out.push('/');
        push_u64(out, u64::from(n));
    }
    out.push_str("\r\n");
}

fn bandwidth(out: &mut String, b: &Bandwidth<'_>) {
    out.push_str("b=");
    out.push_str(&b.bwtype);
    out.push(':');
    push_u64(out, b.bandwidth);
    out.push_str("\r\n");
}

fn key(out: &mut String, k: &Key<'_>) {
    out.push_str("k=");
    out.push_str(&k.method);
    if let Some(v) = &k.value {
        out.push(':');
        out.push_str(v);
    }
    out.push_str("\r\n");
}

fn unknown(out: &mut String, lines: &[UnknownLine<'_>]) {
    for u in lines {
        out.push(u.line_type);
        out.push('=');
        out.push_str(&u.value);
        out.push_str("\r\n");
    }
}

pub(crate) fn attribute(out: &mut String, a: &Attribute<'_>) {
    out.push_str("a=");
    out.push_str(&a.name);
    if let Some(v) = &a.value {
        out.push(':');
        out.push_str(v);
    }
    out.push_str("\r\n");
}

fn origin(out: &mut String, o: &Origin<'_>) {
    out.push_str("o=");
    out.push_str(&o.username);
    out.push(' ');
    push_u64(out, o.session_id);
    out.push(' ');
    push_u64(out, o.session_version);
    out.push(' ');
    out.push_str(&o.nettype);
    out.push(' ');
    out.push_str(&o.addrtype);
    out.push(' ');
    out.push_str(&o.address);
    out.push_str("\r\n");
}

fn timing(out: &mut String, t: &Timing) {
    timing_line(out, t);
    for r in &t.repeats {
        repeat(out, r);
    }
}

fn timing_line(out: &mut String, t: &Timing) {
    out.push_str("t=");
    push_u64(out, t.start);
    out.push(' ');
    push_u64(out, t.stop);
    out.push_str("\r\n");
}

fn repeat(out: &mut String, r: &Repeat) {
    out.push_str("r=");
    typed_time(out, &r.interval);
    out.push(' ');
    typed_time(out, &r.duration);
    for o in &r.offsets {
        out.push(' ');
        typed_time(out, o);
    }
    out.push_str("\r\n");
}

fn zones(out: &mut String, zones: &[TimeZone]) {
    out.push_str("z=");
    for (i, z) in zones.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        push_u64(out, z.time);
        out.push(' ');
        typed_time(out, &z.offset);
    }
    out.push_str("\r\n");
}

fn next<'s, T>(list: &'s [T], cursor: &mut usize) -> Option<&'s T> {
    let item = list.get(*cursor)?;
    *cursor += 1;
    Some(item)
}

/// What of a session's lines has been written, for writing in a recorded order.
#[derive(Default)]
struct SessionCursor {
    o: bool,
    s: bool,
    i: bool,
    u: bool,
    c: bool,
    z: bool,
    k: bool,
    e: usize,
    p: usize,
    b: usize,
    t: usize,
    r: usize,
    x: usize,
    a: usize,
}

impl SessionCursor {
    /// Writes the next line of type `t`; `false` when there is none left.
    fn emit(&mut self, sd: &SessionDescription<'_>, out: &mut String, t: u8) -> bool {
        let once = |flag: &mut bool| !std::mem::replace(flag, true);
        match t {
            b'o' => {
                once(&mut self.o) && {
                    origin(out, &sd.origin);
                    true
                }
            }
            b's' => {
                once(&mut self.s)
                    && sd.session_name.as_ref().is_some_and(|v| {
                        line(out, "s=", v);
                        true
                    })
            }
            b'i' => {
                once(&mut self.i)
                    && sd.information.as_ref().is_some_and(|v| {
                        line(out, "i=", v);
                        true
                    })
            }
            b'u' => {
                once(&mut self.u)
                    && sd.uri.as_ref().is_some_and(|v| {
                        line(out, "u=", v);
                        true
                    })
            }
            b'e' => next(&sd.emails, &mut self.e).is_some_and(|v| {
                line(out, "e=", v);
                true
            }),
            b'p' => next(&sd.phones, &mut self.p).is_some_and(|v| {
                line(out, "p=", v);
                true
            }),
            b'c' => {
                once(&mut self.c)
                    && sd.connection.as_ref().is_some_and(|v| {
                        connection(out, v);
                        true
                    })
            }
            b'b' => next(&sd.bandwidths, &mut self.b).is_some_and(|v| {
                bandwidth(out, v);
                true
            }),
            b't' => next(&sd.times, &mut self.t).is_some_and(|v| {
                timing_line(out, v);
                self.r = 0;
                true
            }),
            // The next r= line of the last t= line written.
            b'r' => match self.t.checked_sub(1).and_then(|t| sd.times.get(t)) {
                Some(t) => next(&t.repeats, &mut self.r).is_some_and(|r| {
                    repeat(out, r);
                    true
                }),
                None => false,
            },
            b'z' => {
                once(&mut self.z) && !sd.time_zones.is_empty() && {
                    zones(out, &sd.time_zones);
                    true
                }
            }
            b'k' => {
                once(&mut self.k)
                    && sd.key.as_ref().is_some_and(|v| {
                        key(out, v);
                        true
                    })
            }
            b'a' => next(&sd.attributes, &mut self.a).is_some_and(|v| {
                attribute(out, v);
                true
            }),
            _ => next(&sd.unknown_lines, &mut self.x).is_some_and(|v| {
                unknown(out, std::slice::from_ref(v));
                true
            }),
        }
    }
}

/// What of a media section's lines has been written, for writing in a recorded order.
#[derive(Default)]
struct MediaCursor {
    i: bool,
    k: bool,
    c: usize,
    b: usize,
    x: usize,
    a: usize,
}

impl MediaCursor {
    /// Writes the next line of type `t`; `false` when there is none left.
    fn emit(&mut self, m: &MediaDescription<'_>, out: &mut String, t: u8) -> bool {
        let once = |flag: &mut bool| !std::mem::replace(flag, true);
        match t {
            b'i' => {
                once(&mut self.i)
                    && m.information.as_ref().is_some_and(|v| {
                        line(out, "i=", v);
                        true
                    })
            }
            b'c' => next(&m.connections, &mut self.c).is_some_and(|v| {
                connection(out, v);
                true
            }),
            b'b' => next(&m.bandwidths, &mut self.b).is_some_and(|v| {
                bandwidth(out, v);
                true
            }),
            b'k' => {
                once(&mut self.k)
                    && m.key.as_ref().is_some_and(|v| {
                        key(out, v);
                        true
                    })
            }
            b'a' => next(&m.attributes, &mut self.a).is_some_and(|v| {
                attribute(out, v);
                true
            }),
            _ => next(&m.unknown_lines, &mut self.x).is_some_and(|v| {
                unknown(out, std::slice::from_ref(v));
                true
            }),
        }
    }
}

fn attributes_len(attrs: &[Attribute<'_>]) -> usize {
    attrs
        .iter()
        .map(|a| a.name.len() + a.value.as_ref().map_or(0, |v| v.len() + 1) + 4)
        .sum()
}

impl SessionDescription<'_> {
    /// Appends the description to `out`, every line ending in CRLF.
    pub fn write_to(&self, out: &mut String) {
        out.reserve(self.size_hint());
        if let Some(order) = &self.line_order {
            out.push_str("v=");
            push_u64(out, u64::from(self.version));
            out.push_str("\r\n");
            let mut c = SessionCursor::default();
            for t in order.bytes() {
                c.emit(self, out, t);
            }
            for t in b"osiuepcb" {
                while c.emit(self, out, *t) {}
            }
            // Each remaining t= line with its remaining r= lines.
            loop {
                while c.emit(self, out, b'r') {}
                if !c.emit(self, out, b't') {
                    break;
                }
            }
            for t in b"zk?a" {
                while c.emit(self, out, *t) {}
            }
            for m in &self.media {
                m.write_to(out);
            }
            return;
        }
        out.push_str("v=");
        push_u64(out, u64::from(self.version));
        out.push_str("\r\n");
        origin(out, &self.origin);
        self.write_canonical_rest(out);
    }

    fn write_canonical_rest(&self, out: &mut String) {
        if let Some(s) = &self.session_name {
            line(out, "s=", s);
        }
        if let Some(i) = &self.information {
            line(out, "i=", i);
        }
        if let Some(u) = &self.uri {
            line(out, "u=", u);
        }
        for e in &self.emails {
            line(out, "e=", e);
        }
        for p in &self.phones {
            line(out, "p=", p);
        }
        if let Some(c) = &self.connection {
            connection(out, c);
        }
        for b in &self.bandwidths {
            bandwidth(out, b);
        }
        for t in &self.times {
            timing(out, t);
        }
        if !self.time_zones.is_empty() {
            zones(out, &self.time_zones);
        }
        if let Some(k) = &self.key {
            key(out, k);
        }
        unknown(out, &self.unknown_lines);
        for a in &self.attributes {
            attribute(out, a);
        }
        for m in &self.media {
            m.write_to(out);
        }
    }

    /// The description as SDP text.
    pub fn to_sdp_string(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out);
        out
    }

    /// A close upper estimate of the written length, used to reserve the output once.
    pub fn size_hint(&self) -> usize {
        let mut n = 128 + self.origin.username.len() + self.origin.address.len();
        n += self.session_name.as_ref().map_or(0, |s| s.len());
        n += attributes_len(&self.attributes);
        for m in &self.media {
            n += 32
                + m.media.len()
                + m.proto.len()
                + m.formats.iter().map(|f| f.len() + 1).sum::<usize>();
            n += attributes_len(&m.attributes) + 48 * (m.connections.len() + m.bandwidths.len());
        }
        n
    }
}

impl MediaDescription<'_> {
    /// Appends this media section to `out`, every line ending in CRLF.
    pub fn write_to(&self, out: &mut String) {
        self.write_media_line(out);
        if let Some(order) = &self.line_order {
            let mut c = MediaCursor::default();
            for t in order.bytes() {
                c.emit(self, out, t);
            }
            for t in b"icbk?a" {
                while c.emit(self, out, *t) {}
            }
            return;
        }
        if let Some(i) = &self.information {
            line(out, "i=", i);
        }
        for c in &self.connections {
            connection(out, c);
        }
        for b in &self.bandwidths {
            bandwidth(out, b);
        }
        if let Some(k) = &self.key {
            key(out, k);
        }
        unknown(out, &self.unknown_lines);
        for a in &self.attributes {
            attribute(out, a);
        }
    }

    fn write_media_line(&self, out: &mut String) {
        out.push_str("m=");
        out.push_str(&self.media);
        out.push(' ');
        push_u64(out, u64::from(self.port));
        if let Some(n) = self.num_ports {
            out.push('/');
            push_u64(out, u64::from(n));
        }
        out.push(' ');
        out.push_str(&self.proto);
        for f in &self.formats {
            out.push(' ');
            out.push_str(f);
        }
        out.push_str("\r\n");
    }
}

impl fmt::Display for SessionDescription<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_sdp_string())
    }
}

impl fmt::Display for MediaDescription<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.write_to(&mut s);
        f.write_str(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits() {
        for v in [0u64, 7, 10, 99, 12345, u64::MAX] {
            let mut s = String::new();
            push_u64(&mut s, v);
            assert_eq!(s, v.to_string());
        }
    }
}
