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
        out.push_str("v=");
        push_u64(out, u64::from(self.version));
        out.push_str("\r\no=");
        let o = &self.origin;
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
            out.push_str("t=");
            push_u64(out, t.start);
            out.push(' ');
            push_u64(out, t.stop);
            out.push_str("\r\n");
            for r in &t.repeats {
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
        }
        if !self.time_zones.is_empty() {
            out.push_str("z=");
            for (i, z) in self.time_zones.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                push_u64(out, z.time);
                out.push(' ');
                typed_time(out, &z.offset);
            }
            out.push_str("\r\n");
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
