//! The line parser: text in, [`SessionDescription`] out, in one pass linear in the input.
//!
//! Lenient where browsers and servers really differ (LF or CRLF line ends, trailing spaces and tabs,
//! blank lines, a missing final newline, the case of tokens, runs of spaces between fields), strict on
//! everything else: every rejected line gives a [`ParseError`] naming its line number and the reason.

use std::sync::Arc;

use crate::attributes;
use crate::error::{ParseError, ParseErrorKind};
use crate::model::*;

/// Bounds on what a parse may accept, so a hostile description cannot make the parser allocate
/// without limit. Every check is made before the memory it guards is allocated. Start from
/// [`Limits::default`] and change fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest accepted input, in bytes.
    pub max_bytes: usize,
    /// Most lines (blank ones included).
    pub max_lines: usize,
    /// Longest line, in bytes.
    pub max_line_length: usize,
    /// Most `a=` lines in one section (session level or one media section).
    pub max_attributes: usize,
    /// Most `m=` sections.
    pub max_media: usize,
    /// Most items in any other list: formats of one `m=` line, `b=`/`c=`/`e=`/`p=`/`t=`/`r=` lines,
    /// offsets of one `r=` line, adjustments of one `z=` line, unknown lines of one section.
    pub max_list: usize,
    /// Check the value of every attribute this crate knows (`rtpmap`, `candidate`, `fingerprint`,
    /// ...) and reject the description if one is malformed.
    pub validate_attributes: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 20,
            max_lines: 16 * 1024,
            max_line_length: 8 * 1024,
            max_attributes: 4 * 1024,
            max_media: 512,
            max_list: 1024,
            validate_attributes: true,
        }
    }
}

impl<'a> SessionDescription<'a> {
    /// Parses a description with the default [`Limits`].
    pub fn parse(input: &'a str) -> Result<Self, ParseError> {
        Self::parse_with(input, &Limits::default())
    }

    /// Parses a description given as bytes (it must be UTF-8) with the default [`Limits`].
    pub fn parse_bytes(input: &'a [u8]) -> Result<Self, ParseError> {
        match std::str::from_utf8(input) {
            Ok(text) => Self::parse(text),
            Err(e) => {
                let line = 1 + input[..e.valid_up_to()]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count();
                Err(ParseError {
                    line,
                    kind: ParseErrorKind::NotUtf8,
                })
            }
        }
    }

    /// Parses a description within the given limits.
    pub fn parse_with(input: &'a str, limits: &Limits) -> Result<Self, ParseError> {
        check_size(input, limits)?;
        Parser { limits, line: 0 }.run(input, &Borrow)
    }
}

impl SessionDescription<'static> {
    /// Parses a description into one that owns its text, with the default [`Limits`]: the input
    /// is copied once into a buffer shared by every piece of text (see [`Text`]), which is
    /// much cheaper than [`SessionDescription::into_owned`] after [`SessionDescription::parse`].
    pub fn parse_owned(input: &str) -> Result<SessionDescription<'static>, ParseError> {
        Self::parse_owned_with(input, &Limits::default())
    }

    /// [`SessionDescription::parse_owned`] within the given limits.
    pub fn parse_owned_with(
        input: &str,
        limits: &Limits,
    ) -> Result<SessionDescription<'static>, ParseError> {
        check_size(input, limits)?;
        let buf = Arc::new(input.to_owned());
        let share = Share {
            base: buf.as_ptr() as usize,
            buf: Arc::clone(&buf),
        };
        Parser { limits, line: 0 }.run(buf.as_str(), &share)
    }
}

fn check_size(input: &str, limits: &Limits) -> Result<(), ParseError> {
    if input.len() > limits.max_bytes {
        return Err(ParseError {
            line: 0,
            kind: ParseErrorKind::TooLarge {
                size: input.len(),
                limit: limits.max_bytes,
            },
        });
    }
    Ok(())
}

/// How the parser turns slices of its input (lifetime `'a`) into the description's [`Text`]
/// (lifetime `'o`).
trait Texts<'a, 'o> {
    /// Any piece of text.
    fn text(&self, s: &'a str) -> Text<'o>;
    /// An attribute name.
    fn name(&self, s: &'a str) -> Text<'o>;
    /// A token that recurs across descriptions (formats, media types, protocols).
    fn token(&self, s: &'a str) -> Text<'o>;
}

/// Text borrowing the input.
struct Borrow;

impl<'a> Texts<'a, 'a> for Borrow {
    fn text(&self, s: &'a str) -> Text<'a> {
        Text::borrowed(s)
    }

    fn name(&self, s: &'a str) -> Text<'a> {
        Text::borrowed(s)
    }

    fn token(&self, s: &'a str) -> Text<'a> {
        Text::borrowed(s)
    }
}

/// Text as ranges of the shared copy of the input (recurring names and tokens as `'static`
/// text, which needs no reference count).
struct Share {
    buf: Arc<String>,
    /// Address of `buf`'s first byte: a slice's offset in `buf` is its address minus this.
    base: usize,
}

impl<'a> Texts<'a, 'static> for Share {
    fn text(&self, s: &'a str) -> Text<'static> {
        let start = (s.as_ptr() as usize).wrapping_sub(self.base);
        // Every slice the parser makes is a slice of `buf`; anything else would be copied.
        Text::shared(&self.buf, start, start.wrapping_add(s.len()))
            .unwrap_or_else(|| Text::from(s.to_owned()))
    }

    fn name(&self, s: &'a str) -> Text<'static> {
        match crate::model::static_name(s) {
            Some(n) => Text::from_static(n),
            None => self.text(s),
        }
    }

    fn token(&self, s: &'a str) -> Text<'static> {
        match crate::model::static_text(s) {
            Some(t) => Text::from_static(t),
            None => self.text(s),
        }
    }
}

struct Parser<'l> {
    limits: &'l Limits,
    line: usize,
}

#[derive(Default)]
struct Seen {
    origin: bool,
    name: bool,
    info: bool,
    uri: bool,
    connection: bool,
    zone: bool,
    key: bool,
}

impl Parser<'_> {
    fn err(&self, kind: ParseErrorKind) -> ParseError {
        ParseError {
            line: self.line,
            kind,
        }
    }

    fn bad(&self, line_type: char, reason: &'static str) -> ParseError {
        self.err(ParseErrorKind::BadField { line_type, reason })
    }

    fn push<T>(&self, list: &mut Vec<T>, item: T, what: &'static str) -> Result<(), ParseError> {
        if list.len() >= self.limits.max_list {
            return Err(self.err(ParseErrorKind::TooManyItems {
                what,
                limit: self.limits.max_list,
            }));
        }
        list.push(item);
        Ok(())
    }

    fn run<'a, 'o>(
        mut self,
        input: &'a str,
        texts: &impl Texts<'a, 'o>,
    ) -> Result<SessionDescription<'o>, ParseError> {
        let mut version: Option<u32> = None;
        let mut seen = Seen::default();
        let mut sd = SessionDescription {
            version: 0,
            origin: Origin {
                username: Text::default(),
                session_id: 0,
                session_version: 0,
                nettype: Text::default(),
                addrtype: Text::default(),
                address: Text::default(),
            },
            session_name: None,
            information: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            times: Vec::new(),
            time_zones: Vec::new(),
            key: None,
            unknown_lines: Vec::new(),
            attributes: Vec::new(),
            media: Vec::new(),
            line_order: None,
        };
        // Media-level "seen" flags for i= and k=.
        let mut media_info = false;
        let mut media_key = false;
        // Type letters of the current section's lines, to keep a non-canonical order.
        let mut order: Vec<u8> = Vec::with_capacity(64);

        let mut rest = input;
        while !rest.is_empty() {
            // Byte loop rather than `str::split`: SDP lines are short, and this is the hot path.
            let end = find_newline(rest.as_bytes());
            let raw = &rest[..end.unwrap_or(rest.len())];
            rest = &rest[end.map_or(rest.len(), |e| e + 1)..];
            self.line += 1;
            if self.line > self.limits.max_lines {
                return Err(self.err(ParseErrorKind::TooManyLines {
                    limit: self.limits.max_lines,
                }));
            }
            if raw.len() > self.limits.max_line_length {
                return Err(self.err(ParseErrorKind::LineTooLong {
                    limit: self.limits.max_line_length,
                }));
            }
            let mut len = raw.len();
            while len > 0 && matches!(raw.as_bytes()[len - 1], b' ' | b'\t' | b'\r') {
                len -= 1;
            }
            let line = &raw[..len];
            if line.is_empty() {
                continue;
            }
            let bytes = line.as_bytes();
            if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_alphabetic() {
                return Err(self.err(ParseErrorKind::MalformedLine));
            }
            let kind = bytes[0].to_ascii_lowercase() as char;
            let value = &line[2..];

            if version.is_none() {
                if kind != 'v' {
                    return Err(self.err(ParseErrorKind::MissingVersion));
                }
                version = Some(
                    parse_num(value.trim_ascii()).ok_or_else(|| self.bad('v', "not a number"))?,
                );
                continue;
            }
            if kind != 'm' {
                let known = matches!(
                    kind,
                    'v' | 'o'
                        | 's'
                        | 'i'
                        | 'u'
                        | 'e'
                        | 'p'
                        | 'c'
                        | 'b'
                        | 't'
                        | 'r'
                        | 'z'
                        | 'k'
                        | 'a'
                );
                order.push(if known { kind as u8 } else { b'?' });
            }

            if kind == 'a' {
                let attrs = match sd.media.last_mut() {
                    Some(m) => &mut m.attributes,
                    None => &mut sd.attributes,
                };
                if attrs.len() >= self.limits.max_attributes {
                    return Err(self.err(ParseErrorKind::TooManyAttributes {
                        limit: self.limits.max_attributes,
                    }));
                }
                let attribute = self.attribute(value, texts)?;
                attrs.push(attribute);
                continue;
            }
            if kind == 'm' {
                if sd.media.len() >= self.limits.max_media {
                    return Err(self.err(ParseErrorKind::TooManyMedia {
                        limit: self.limits.max_media,
                    }));
                }
                let last_order = keep_order(&mut order, !sd.media.is_empty());
                match sd.media.last_mut() {
                    Some(m) => m.line_order = last_order,
                    None => sd.line_order = last_order,
                }
                let mut media = self.media(value, texts)?;
                // Sections of one description tend to be alike: size the attribute list like the last one.
                let hint = sd
                    .media
                    .last()
                    .map_or(16, |m| m.attributes.len())
                    .min(self.limits.max_attributes);
                media.attributes.reserve_exact(hint);
                sd.media.push(media);
                media_info = false;
                media_key = false;
                continue;
            }

            if let Some(m) = sd.media.last_mut() {
                match kind {
                    'i' => {
                        if std::mem::replace(&mut media_info, true) {
                            return Err(self.err(ParseErrorKind::Duplicate('i')));
                        }
                        m.information = Some(texts.text(value));
                    }
                    'c' => {
                        let c = self.connection(value, texts)?;
                        self.push(&mut m.connections, c, "c= lines")?;
                    }
                    'b' => {
                        let b = self.bandwidth(value, texts)?;
                        self.push(&mut m.bandwidths, b, "b= lines")?;
                    }
                    'k' => {
                        if std::mem::replace(&mut media_key, true) {
                            return Err(self.err(ParseErrorKind::Duplicate('k')));
                        }
                        m.key = Some(key(value, texts));
                    }
                    'v' | 'o' | 's' | 'u' | 'e' | 'p' | 't' | 'r' | 'z' => {
                        return Err(self.err(ParseErrorKind::Misplaced(kind)));
                    }
                    _ => {
                        let u = UnknownLine {
                            line_type: bytes[0] as char,
                            value: texts.text(value),
                        };
                        self.push(&mut m.unknown_lines, u, "unknown lines")?;
                    }
                }
                continue;
            }

            match kind {
                'v' => return Err(self.err(ParseErrorKind::Duplicate('v'))),
                'o' => {
                    self.once(&mut seen.origin, 'o')?;
                    sd.origin = self.origin(value, texts)?;
                }
                's' => {
                    self.once(&mut seen.name, 's')?;
                    sd.session_name = Some(texts.text(value));
                }
                'i' => {
                    self.once(&mut seen.info, 'i')?;
                    sd.information = Some(texts.text(value));
                }
                'u' => {
                    self.once(&mut seen.uri, 'u')?;
                    sd.uri = Some(texts.text(value));
                }
                'e' => self.push(&mut sd.emails, texts.text(value), "e= lines")?,
                'p' => self.push(&mut sd.phones, texts.text(value), "p= lines")?,
                'c' => {
                    self.once(&mut seen.connection, 'c')?;
                    sd.connection = Some(self.connection(value, texts)?);
                }
                'b' => {
                    let b = self.bandwidth(value, texts)?;
                    self.push(&mut sd.bandwidths, b, "b= lines")?;
                }
                't' => {
                    let t = self.timing(value)?;
                    self.push(&mut sd.times, t, "t= lines")?;
                }
                'r' => {
                    let r = self.repeat(value)?;
                    let Some(t) = sd.times.last_mut() else {
                        return Err(self.err(ParseErrorKind::Misplaced('r')));
                    };
                    if t.repeats.len() >= self.limits.max_list {
                        return Err(self.err(ParseErrorKind::TooManyItems {
                            what: "r= lines",
                            limit: self.limits.max_list,
                        }));
                    }
                    t.repeats.push(r);
                }
                'z' => {
                    self.once(&mut seen.zone, 'z')?;
                    sd.time_zones = self.zones(value)?;
                }
                'k' => {
                    self.once(&mut seen.key, 'k')?;
                    sd.key = Some(key(value, texts));
                }
                _ => {
                    let u = UnknownLine {
                        line_type: bytes[0] as char,
                        value: texts.text(value),
                    };
                    self.push(&mut sd.unknown_lines, u, "unknown lines")?;
                }
            }
        }

        let last_order = keep_order(&mut order, !sd.media.is_empty());
        match sd.media.last_mut() {
            Some(m) => m.line_order = last_order,
            None => sd.line_order = last_order,
        }
        let Some(version) = version else {
            return Err(ParseError {
                line: 0,
                kind: ParseErrorKind::Empty,
            });
        };
        if !seen.origin {
            return Err(ParseError {
                line: 0,
                kind: ParseErrorKind::Missing('o'),
            });
        }
        sd.version = version;
        Ok(sd)
    }

    fn once(&self, flag: &mut bool, kind: char) -> Result<(), ParseError> {
        if std::mem::replace(flag, true) {
            return Err(self.err(ParseErrorKind::Duplicate(kind)));
        }
        Ok(())
    }

    fn attribute<'a, 'o>(
        &self,
        value: &'a str,
        texts: &impl Texts<'a, 'o>,
    ) -> Result<Attribute<'o>, ParseError> {
        let (name, val) = match value.bytes().position(|b| b == b':') {
            Some(i) => (&value[..i], Some(&value[i + 1..])),
            None => (value, None),
        };
        if name.is_empty() {
            return Err(self.err(ParseErrorKind::EmptyAttributeName));
        }
        if self.limits.validate_attributes {
            attributes::validate(name, val).map_err(|e| {
                self.err(ParseErrorKind::BadAttribute {
                    name: e.name,
                    reason: e.reason,
                })
            })?;
        }
        Ok(Attribute {
            name: texts.name(name),
            value: val.map(|v| texts.text(v)),
        })
    }

    fn origin<'a, 'o>(
        &self,
        value: &'a str,
        texts: &impl Texts<'a, 'o>,
    ) -> Result<Origin<'o>, ParseError> {
        let mut it = value.split_ascii_whitespace();
        let mut next = || it.next().ok_or_else(|| self.bad('o', "expected 6 fields"));
        let username = next()?;
        let session_id =
            parse_num(next()?).ok_or_else(|| self.bad('o', "session id is not a 64-bit number"))?;
        let session_version = parse_num(next()?)
            .ok_or_else(|| self.bad('o', "session version is not a 64-bit number"))?;
        let nettype = next()?;
        let addrtype = next()?;
        let address = next()?;
        if it.next().is_some() {
            return Err(self.bad('o', "expected 6 fields"));
        }
        Ok(Origin {
            username: texts.token(username),
            session_id,
            session_version,
            nettype: texts.token(nettype),
            addrtype: texts.token(addrtype),
            address: texts.token(address),
        })
    }

    fn connection<'a, 'o>(
        &self,
        value: &'a str,
        texts: &impl Texts<'a, 'o>,
    ) -> Result<Connection<'o>, ParseError> {
        let mut it = value.split_ascii_whitespace();
        let (Some(nettype), Some(addrtype), Some(full), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return Err(self.bad('c', "expected 3 fields"));
        };
        let mut parts = full.split('/');
        let address = parts.next().unwrap_or_default();
        if address.is_empty() {
            return Err(self.bad('c', "empty address"));
        }
        let first = parts.next();
        let second = parts.next();
        if parts.next().is_some() {
            return Err(self.bad('c', "too many `/` suffixes"));
        }
        let (ttl, num_addresses) = if addrtype.eq_ignore_ascii_case("IP4") {
            let ttl = match first {
                Some(t) => {
                    Some(parse_num::<u8>(t).ok_or_else(|| self.bad('c', "TTL is not 0-255"))?)
                }
                None => None,
            };
            let num = match second {
                Some(n) => {
                    Some(parse_num::<u32>(n).ok_or_else(|| self.bad('c', "bad address count"))?)
                }
                None => None,
            };
            (ttl, num)
        } else {
            if second.is_some() {
                return Err(self.bad('c', "IP6 takes at most one `/` suffix"));
            }
            let num = match first {
                Some(n) => {
                    Some(parse_num::<u32>(n).ok_or_else(|| self.bad('c', "bad address count"))?)
                }
                None => None,
            };
            (None, num)
        };
        Ok(Connection {
            nettype: texts.token(nettype),
            addrtype: texts.token(addrtype),
            address: texts.token(address),
            ttl,
            num_addresses,
        })
    }

    fn bandwidth<'a, 'o>(
        &self,
        value: &'a str,
        texts: &impl Texts<'a, 'o>,
    ) -> Result<Bandwidth<'o>, ParseError> {
        let Some((bwtype, bw)) = value.split_once(':') else {
            return Err(self.bad('b', "expected <bwtype>:<bandwidth>"));
        };
        if bwtype.is_empty() {
            return Err(self.bad('b', "empty bandwidth type"));
        }
        let bandwidth = parse_num(bw.trim_ascii())
            .ok_or_else(|| self.bad('b', "bandwidth is not a 64-bit number"))?;
        Ok(Bandwidth {
            bwtype: texts.token(bwtype),
            bandwidth,
        })
    }

    fn timing(&self, value: &str) -> Result<Timing, ParseError> {
        let mut it = value.split_ascii_whitespace();
        let (Some(start), Some(stop), None) = (it.next(), it.next(), it.next()) else {
            return Err(self.bad('t', "expected <start> <stop>"));
        };
        let start =
            parse_num(start).ok_or_else(|| self.bad('t', "start is not a 64-bit number"))?;
        let stop = parse_num(stop).ok_or_else(|| self.bad('t', "stop is not a 64-bit number"))?;
        Ok(Timing {
            start,
            stop,
            repeats: Vec::new(),
        })
    }

    fn repeat(&self, value: &str) -> Result<Repeat, ParseError> {
        let mut it = value.split_ascii_whitespace();
        let typed = |t: Option<&str>| -> Result<TypedTime, ParseError> {
            let t = t.ok_or_else(|| self.bad('r', "expected <interval> <duration> <offsets>"))?;
            parse_typed_time(t, false).ok_or_else(|| self.bad('r', "bad typed time"))
        };
        let interval = typed(it.next())?;
        let duration = typed(it.next())?;
        let mut offsets = Vec::new();
        for o in it {
            let o = parse_typed_time(o, false).ok_or_else(|| self.bad('r', "bad typed time"))?;
            self.push(&mut offsets, o, "r= offsets")?;
        }
        if offsets.is_empty() {
            return Err(self.bad('r', "expected at least one offset"));
        }
        Ok(Repeat {
            interval,
            duration,
            offsets,
        })
    }

    fn zones(&self, value: &str) -> Result<Vec<TimeZone>, ParseError> {
        let mut out = Vec::new();
        let mut it = value.split_ascii_whitespace();
        while let Some(time) = it.next() {
            let time =
                parse_num(time).ok_or_else(|| self.bad('z', "adjustment time is not a number"))?;
            let offset = it
                .next()
                .ok_or_else(|| self.bad('z', "adjustment time without offset"))?;
            let offset =
                parse_typed_time(offset, true).ok_or_else(|| self.bad('z', "bad offset"))?;
            self.push(&mut out, TimeZone { time, offset }, "z= adjustments")?;
        }
        if out.is_empty() {
            return Err(self.bad('z', "no adjustments"));
        }
        Ok(out)
    }

    fn media<'a, 'o>(
        &self,
        value: &'a str,
        texts: &impl Texts<'a, 'o>,
    ) -> Result<MediaDescription<'o>, ParseError> {
        let mut it = value.split_ascii_whitespace();
        let (Some(media), Some(port), Some(proto)) = (it.next(), it.next(), it.next()) else {
            return Err(self.bad('m', "expected <media> <port> <proto> <fmt>..."));
        };
        let (port, num_ports) = match port.split_once('/') {
            Some((p, n)) => (
                p,
                Some(parse_num::<u16>(n).ok_or_else(|| self.bad('m', "bad number of ports"))?),
            ),
            None => (port, None),
        };
        let port = parse_num::<u16>(port).ok_or_else(|| self.bad('m', "port is not 0-65535"))?;
        // Sized from the spaces left on the line (at most one allocation, even for a video
        // section's two dozen formats).
        let spaces = it.clone().count().min(self.limits.max_list);
        let mut formats = Vec::with_capacity(spaces);
        for f in it {
            self.push(&mut formats, texts.token(f), "formats")?;
        }
        Ok(MediaDescription {
            media: texts.token(media),
            port,
            num_ports,
            proto: texts.token(proto),
            formats,
            information: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            key: None,
            unknown_lines: Vec::new(),
            attributes: Vec::new(),
            line_order: None,
        })
    }
}

/// Position of the first `\n`, eight bytes at a time (SWAR): lines are short, so this beats both a
/// byte loop and a call into `memchr`.
fn find_newline(bytes: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = LO * b'\n' as u64;
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks_exact gives 8 bytes"));
        let x = word ^ NL;
        let found = x.wrapping_sub(LO) & !x & HI;
        if found != 0 {
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| b == b'\n')
        .map(|p| offset + p)
}

/// RFC 8866 rank of a line type in a section; unknown types go just before the attributes.
fn rank(t: u8, media: bool) -> u8 {
    match t {
        b'o' => 1,
        b's' => 2,
        b'i' => 3,
        b'u' => 4,
        b'e' => 5,
        b'p' => 6,
        b'c' => 7,
        b'b' => 8,
        b't' | b'r' if !media => 9,
        b'z' => 10,
        b'k' => 11,
        b'a' => 13,
        _ => 12,
    }
}

/// Takes the recorded order of a finished section: `None` when it is the canonical one.
fn keep_order(order: &mut Vec<u8>, media: bool) -> Option<String> {
    let canonical = order
        .windows(2)
        .all(|w| rank(w[0], media) <= rank(w[1], media));
    let kept = (!canonical).then(|| order.iter().map(|&b| b as char).collect());
    order.clear();
    kept
}

fn key<'a, 'o>(value: &'a str, texts: &impl Texts<'a, 'o>) -> Key<'o> {
    match value.split_once(':') {
        Some((m, k)) => Key {
            method: texts.text(m),
            value: Some(texts.text(k)),
        },
        None => Key {
            method: texts.text(value),
            value: None,
        },
    }
}

/// Unsigned integers of up to 64 bits written as plain ASCII digits (no sign, no spaces).
pub(crate) trait Num: Sized {
    fn from_u64(v: u64) -> Option<Self>;
}

macro_rules! num {
    ($($t:ty),*) => {$(
        impl Num for $t {
            fn from_u64(v: u64) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
        }
    )*};
}
num!(u8, u16, u32, u64);

/// Parses ASCII digits into an unsigned number; `None` when empty, not digits, or too large.
pub(crate) fn parse_num<T: Num>(s: &str) -> Option<T> {
    let bytes = s.as_bytes();
    if bytes.is_empty() || bytes.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in bytes {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(d))?;
    }
    T::from_u64(v)
}

fn parse_typed_time(s: &str, signed: bool) -> Option<TypedTime> {
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) if signed => (true, r),
        _ => (false, s),
    };
    let (digits, unit) = match rest.as_bytes().last()? {
        b'd' => (&rest[..rest.len() - 1], Some(TimeUnit::Days)),
        b'h' => (&rest[..rest.len() - 1], Some(TimeUnit::Hours)),
        b'm' => (&rest[..rest.len() - 1], Some(TimeUnit::Minutes)),
        b's' => (&rest[..rest.len() - 1], Some(TimeUnit::Seconds)),
        _ => (rest, None),
    };
    let v: u64 = parse_num(digits)?;
    let v = i64::try_from(v).ok()?;
    Some(TypedTime {
        value: if negative { -v } else { v },
        unit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newline_search() {
        for text in [
            "",
            "\n",
            "abc",
            "abcdefgh\n",
            "abcdefghijklmno\nx",
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\n",
            "a\u{8a}\n",
        ] {
            assert_eq!(find_newline(text.as_bytes()), text.find('\n'), "{text:?}");
        }
        let bytes: Vec<u8> = (0..=255u8).chain(std::iter::once(b'\n')).collect();
        assert_eq!(find_newline(&bytes), Some(10));
        // Random bytes (newline-free prefixes of every length, then a newline) against a plain search.
        let mut state = 0x1234_5678_9ABC_DEF1u64;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 40) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| (state.rotate_left(i as u32 * 7) as u8) | 0x80)
                .chain([b'\n', b'x'])
                .collect();
            assert_eq!(find_newline(&bytes), bytes.iter().position(|&b| b == b'\n'));
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_num::<u8>("255"), Some(255));
        assert_eq!(parse_num::<u8>("256"), None);
        assert_eq!(parse_num::<u64>("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_num::<u64>("18446744073709551616"), None);
        assert_eq!(parse_num::<u64>("99999999999999999999999"), None);
        assert_eq!(parse_num::<u32>("+1"), None);
        assert_eq!(parse_num::<u32>(""), None);
    }

    #[test]
    fn typed_time() {
        assert_eq!(parse_typed_time("7d", false).unwrap().seconds(), 7 * 86400);
        assert_eq!(parse_typed_time("-1h", true).unwrap().seconds(), -3600);
        assert!(parse_typed_time("-1h", false).is_none());
        assert!(parse_typed_time("h", false).is_none());
    }
}
