//! The session model: a description, its media sections, and the value of every RFC 8866 line type.
//!
//! Text ([`Text`]) borrows from the parsed input, so parsing copies almost nothing; parse with
//! [`SessionDescription::parse_owned`] (one copy of the input, shared by every piece of text) or
//! call [`SessionDescription::into_owned`] to keep a description beyond its input buffer. Attributes are
//! kept raw, in order, exactly as received (see [`Attribute`]); typed views are in
//! [`crate::attributes`].

pub use crate::text::Text;

fn own(t: Text<'_>) -> Text<'static> {
    t.into_owned()
}

/// Decimal strings of 0-127: payload types, mids and small values appear in every description.
const SMALL_NUMBERS: [&str; 128] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
    "17", "18", "19", "20", "21", "22", "23", "24", "25", "26", "27", "28", "29", "30", "31", "32",
    "33", "34", "35", "36", "37", "38", "39", "40", "41", "42", "43", "44", "45", "46", "47", "48",
    "49", "50", "51", "52", "53", "54", "55", "56", "57", "58", "59", "60", "61", "62", "63", "64",
    "65", "66", "67", "68", "69", "70", "71", "72", "73", "74", "75", "76", "77", "78", "79", "80",
    "81", "82", "83", "84", "85", "86", "87", "88", "89", "90", "91", "92", "93", "94", "95", "96",
    "97", "98", "99", "100", "101", "102", "103", "104", "105", "106", "107", "108", "109", "110",
    "111", "112", "113", "114", "115", "116", "117", "118", "119", "120", "121", "122", "123",
    "124", "125", "126", "127",
];

/// A `'static` copy of text that recurs in every WebRTC description, so owning it allocates nothing.
pub(crate) fn static_text(t: &str) -> Option<&'static str> {
    let b = t.as_bytes();
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    if b.len() <= 3 && b.iter().all(u8::is_ascii_digit) && (b.len() == 1 || b[0] != b'0') {
        let n = b.iter().fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
        return SMALL_NUMBERS.get(n).copied();
    }
    Some(match t {
        "-" => "-",
        "IN" => "IN",
        "IP4" => "IP4",
        "IP6" => "IP6",
        "0.0.0.0" => "0.0.0.0",
        "127.0.0.1" => "127.0.0.1",
        "audio" => "audio",
        "video" => "video",
        "application" => "application",
        "UDP/TLS/RTP/SAVPF" => "UDP/TLS/RTP/SAVPF",
        "UDP/DTLS/SCTP" => "UDP/DTLS/SCTP",
        "webrtc-datachannel" => "webrtc-datachannel",
        "9 IN IP4 0.0.0.0" => "9 IN IP4 0.0.0.0",
        "trickle" => "trickle",
        "actpass" => "actpass",
        "active" => "active",
        "passive" => "passive",
        "rcvr-rtt=all" => "rcvr-rtt=all",
        _ => return None,
    })
}

fn own_opt(t: Option<Text<'_>>) -> Option<Text<'static>> {
    t.map(own)
}

/// A whole session description (RFC 8866 section 5).
///
/// Lines are written in the order RFC 8866 gives (`v o s i u e p c b t r z k a m`); attributes and
/// media sections keep the order they were parsed or pushed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDescription<'a> {
    /// `v=`: protocol version, always 0 in practice.
    pub version: u32,
    /// `o=`: originator and session identifier.
    pub origin: Origin<'a>,
    /// `s=`: session name (`-` in WebRTC). `None` when the line was absent.
    pub session_name: Option<Text<'a>>,
    /// `i=`: session information.
    pub information: Option<Text<'a>>,
    /// `u=`: URI of a description.
    pub uri: Option<Text<'a>>,
    /// `e=`: email addresses.
    pub emails: Vec<Text<'a>>,
    /// `p=`: phone numbers.
    pub phones: Vec<Text<'a>>,
    /// `c=`: session-level connection data.
    pub connection: Option<Connection<'a>>,
    /// `b=`: session-level bandwidth lines.
    pub bandwidths: Vec<Bandwidth<'a>>,
    /// `t=` lines, each with its `r=` repeat lines.
    pub times: Vec<Timing>,
    /// `z=`: time zone adjustments.
    pub time_zones: Vec<TimeZone>,
    /// `k=`: encryption key (obsolete, kept for losslessness).
    pub key: Option<Key<'a>>,
    /// Lines of unknown type, in order (written before the attributes).
    pub unknown_lines: Vec<UnknownLine<'a>>,
    /// Session-level `a=` lines, in order.
    pub attributes: Vec<Attribute<'a>>,
    /// Media sections, in order.
    pub media: Vec<MediaDescription<'a>>,
    /// The type letters of the session-level lines (`v=` excluded) in the order they were parsed, kept
    /// only when it differs from RFC 8866's order so that writing reproduces it; `None` writes the
    /// canonical order. Lines the model has but the order does not mention are written after it.
    pub line_order: Option<String>,
}

impl<'a> SessionDescription<'a> {
    /// An empty description with the given origin and WebRTC's usual `s=-` and `t=0 0`.
    pub fn new(origin: Origin<'a>) -> Self {
        Self {
            version: 0,
            origin,
            session_name: Some(Text::borrowed("-")),
            information: None,
            uri: None,
            emails: Vec::new(),
            phones: Vec::new(),
            connection: None,
            bandwidths: Vec::new(),
            times: vec![Timing {
                start: 0,
                stop: 0,
                repeats: Vec::new(),
            }],
            time_zones: Vec::new(),
            key: None,
            unknown_lines: Vec::new(),
            attributes: Vec::new(),
            media: Vec::new(),
            line_order: None,
        }
    }

    /// Copies every borrowed piece of text so the description no longer borrows its input.
    pub fn into_owned(self) -> SessionDescription<'static> {
        SessionDescription {
            version: self.version,
            origin: self.origin.into_owned(),
            session_name: own_opt(self.session_name),
            information: own_opt(self.information),
            uri: own_opt(self.uri),
            emails: self.emails.into_iter().map(own).collect(),
            phones: self.phones.into_iter().map(own).collect(),
            connection: self.connection.map(Connection::into_owned),
            bandwidths: self
                .bandwidths
                .into_iter()
                .map(Bandwidth::into_owned)
                .collect(),
            times: self.times,
            time_zones: self.time_zones,
            key: self.key.map(Key::into_owned),
            unknown_lines: self
                .unknown_lines
                .into_iter()
                .map(UnknownLine::into_owned)
                .collect(),
            attributes: self
                .attributes
                .into_iter()
                .map(Attribute::into_owned)
                .collect(),
            media: self
                .media
                .into_iter()
                .map(MediaDescription::into_owned)
                .collect(),
            line_order: self.line_order,
        }
    }
}

/// One `m=` section with its lines (RFC 8866 section 5.14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription<'a> {
    /// Media type: `audio`, `video`, `application`, `text`, `message`, or another token.
    pub media: Text<'a>,
    /// Transport port; 0 rejects or disables the section.
    pub port: u16,
    /// The optional `/<number of ports>` after the port.
    pub num_ports: Option<u16>,
    /// Transport protocol, e.g. `UDP/TLS/RTP/SAVPF` or `UDP/DTLS/SCTP`.
    pub proto: Text<'a>,
    /// Media formats: RTP payload types, or `webrtc-datachannel`.
    pub formats: Vec<Text<'a>>,
    /// `i=`: media title.
    pub information: Option<Text<'a>>,
    /// `c=` lines of this section.
    pub connections: Vec<Connection<'a>>,
    /// `b=` lines of this section.
    pub bandwidths: Vec<Bandwidth<'a>>,
    /// `k=`: encryption key (obsolete).
    pub key: Option<Key<'a>>,
    /// Lines of unknown type, in order (written before the attributes).
    pub unknown_lines: Vec<UnknownLine<'a>>,
    /// `a=` lines of this section, in order.
    pub attributes: Vec<Attribute<'a>>,
    /// The type letters of this section's lines (`m=` excluded) in parsed order, kept only when it
    /// differs from RFC 8866's order (see [`SessionDescription::line_order`]).
    pub line_order: Option<String>,
}

impl<'a> MediaDescription<'a> {
    /// A section with the given media type, port, protocol and formats, and no other lines.
    pub fn new(
        media: impl Into<Text<'a>>,
        port: u16,
        proto: impl Into<Text<'a>>,
        formats: Vec<Text<'a>>,
    ) -> Self {
        Self {
            media: media.into(),
            port,
            num_ports: None,
            proto: proto.into(),
            formats,
            information: None,
            connections: Vec::new(),
            bandwidths: Vec::new(),
            key: None,
            unknown_lines: Vec::new(),
            attributes: Vec::new(),
            line_order: None,
        }
    }

    /// Copies every borrowed piece of text.
    pub fn into_owned(self) -> MediaDescription<'static> {
        MediaDescription {
            media: own(self.media),
            port: self.port,
            num_ports: self.num_ports,
            proto: own(self.proto),
            formats: self.formats.into_iter().map(own).collect(),
            information: own_opt(self.information),
            connections: self
                .connections
                .into_iter()
                .map(Connection::into_owned)
                .collect(),
            bandwidths: self
                .bandwidths
                .into_iter()
                .map(Bandwidth::into_owned)
                .collect(),
            key: self.key.map(Key::into_owned),
            unknown_lines: self
                .unknown_lines
                .into_iter()
                .map(UnknownLine::into_owned)
                .collect(),
            attributes: self
                .attributes
                .into_iter()
                .map(Attribute::into_owned)
                .collect(),
            line_order: self.line_order,
        }
    }
}

/// `o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin<'a> {
    /// User name, `-` when none.
    pub username: Text<'a>,
    /// Numeric session identifier.
    pub session_id: u64,
    /// Version, incremented on every change of the description.
    pub session_version: u64,
    /// Network type, `IN`.
    pub nettype: Text<'a>,
    /// Address type, `IP4` or `IP6`.
    pub addrtype: Text<'a>,
    /// The originator's address (or a placeholder like `127.0.0.1` / `0.0.0.0`).
    pub address: Text<'a>,
}

impl Origin<'_> {
    /// Copies every borrowed piece of text.
    pub fn into_owned(self) -> Origin<'static> {
        Origin {
            username: own(self.username),
            session_id: self.session_id,
            session_version: self.session_version,
            nettype: own(self.nettype),
            addrtype: own(self.addrtype),
            address: own(self.address),
        }
    }
}

/// `c=<nettype> <addrtype> <connection-address>`, with the multicast TTL and address count split out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection<'a> {
    /// Network type, `IN`.
    pub nettype: Text<'a>,
    /// Address type, `IP4` or `IP6`.
    pub addrtype: Text<'a>,
    /// The address (or FQDN) without the `/ttl/count` suffixes.
    pub address: Text<'a>,
    /// IPv4 multicast time-to-live (`/ttl`).
    pub ttl: Option<u8>,
    /// Number of consecutive multicast addresses (`/count`).
    pub num_addresses: Option<u32>,
}

impl Connection<'_> {
    /// Copies every borrowed piece of text.
    pub fn into_owned(self) -> Connection<'static> {
        Connection {
            nettype: own(self.nettype),
            addrtype: own(self.addrtype),
            address: own(self.address),
            ttl: self.ttl,
            num_addresses: self.num_addresses,
        }
    }
}

/// `b=<bwtype>:<bandwidth>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bandwidth<'a> {
    /// Modifier: `AS`, `CT`, `TIAS`, `RS`, `RR`, ...
    pub bwtype: Text<'a>,
    /// Value in the modifier's unit (kbit/s for AS and CT, bit/s for TIAS).
    pub bandwidth: u64,
}

impl Bandwidth<'_> {
    /// Copies every borrowed piece of text.
    pub fn into_owned(self) -> Bandwidth<'static> {
        Bandwidth {
            bwtype: own(self.bwtype),
            bandwidth: self.bandwidth,
        }
    }
}

/// `t=<start-time> <stop-time>` with the `r=` lines that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// NTP start time, 0 for unbounded.
    pub start: u64,
    /// NTP stop time, 0 for unbounded.
    pub stop: u64,
    /// `r=` repeat lines.
    pub repeats: Vec<Repeat>,
}

/// `r=<repeat interval> <active duration> <offsets from start-time>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeat {
    /// Repeat interval.
    pub interval: TypedTime,
    /// Active duration.
    pub duration: TypedTime,
    /// Offsets from the start time.
    pub offsets: Vec<TypedTime>,
}

/// One `z=` adjustment: at `time`, shift by `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone {
    /// NTP time of the adjustment.
    pub time: u64,
    /// Offset (may be negative).
    pub offset: TypedTime,
}

/// A time value with an optional unit suffix (`d`, `h`, `m`, `s`), as in `r=` and `z=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypedTime {
    /// The number as written (negative only in `z=` offsets).
    pub value: i64,
    /// The unit suffix, if any.
    pub unit: Option<TimeUnit>,
}

impl TypedTime {
    /// The value in seconds, saturating.
    pub fn seconds(&self) -> i64 {
        let factor = match self.unit {
            None | Some(TimeUnit::Seconds) => 1,
            Some(TimeUnit::Minutes) => 60,
            Some(TimeUnit::Hours) => 3600,
            Some(TimeUnit::Days) => 86400,
        };
        self.value.saturating_mul(factor)
    }
}

/// The unit suffix of a [`TypedTime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    /// `d`
    Days,
    /// `h`
    Hours,
    /// `m`
    Minutes,
    /// `s`
    Seconds,
}

impl TimeUnit {
    /// The suffix letter.
    pub fn letter(self) -> char {
        match self {
            TimeUnit::Days => 'd',
            TimeUnit::Hours => 'h',
            TimeUnit::Minutes => 'm',
            TimeUnit::Seconds => 's',
        }
    }
}

/// `k=<method>[:<encryption key>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key<'a> {
    /// `clear`, `base64`, `uri` or `prompt`.
    pub method: Text<'a>,
    /// The key, when the method takes one.
    pub value: Option<Text<'a>>,
}

impl Key<'_> {
    /// Copies every borrowed piece of text.
    pub fn into_owned(self) -> Key<'static> {
        Key {
            method: own(self.method),
            value: own_opt(self.value),
        }
    }
}

/// A line whose type letter this crate does not know; kept so writing loses nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLine<'a> {
    /// The type letter (ASCII).
    pub line_type: char,
    /// Everything after `=`.
    pub value: Text<'a>,
}

impl UnknownLine<'_> {
    /// Copies every borrowed piece of text.
    pub fn into_owned(self) -> UnknownLine<'static> {
        UnknownLine {
            line_type: self.line_type,
            value: own(self.value),
        }
    }
}

/// An `a=` line, kept raw: `a=<name>` (a flag) or `a=<name>:<value>`.
///
/// The name keeps the case it was received in; lookups ignore case. Typed views of the value are in
/// [`crate::attributes`] and through [`crate::AttributeList`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// Attribute name.
    pub name: Text<'a>,
    /// Everything after the first `:`, or `None` for a flag attribute.
    pub value: Option<Text<'a>>,
}

impl<'a> Attribute<'a> {
    /// `a=<name>:<value>`.
    pub fn new(name: impl Into<Text<'a>>, value: impl Into<Text<'a>>) -> Self {
        Self {
            name: name.into(),
            value: Some(value.into()),
        }
    }

    /// `a=<name>` with no value.
    pub fn flag(name: impl Into<Text<'a>>) -> Self {
        Self {
            name: name.into(),
            value: None,
        }
    }

    /// Whether the name matches, ignoring ASCII case.
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
    }

    /// The value, or `""` for a flag.
    pub fn value_str(&self) -> &str {
        self.value.as_deref().unwrap_or("")
    }

    /// Copies every borrowed piece of text (well-known names become `'static` without copying).
    pub fn into_owned(self) -> Attribute<'static> {
        let name = match static_name(&self.name) {
            Some(n) => Text::from_static(n),
            None => own(self.name),
        };
        Attribute {
            name,
            value: own_opt(self.value),
        }
    }
}

/// The attribute names browsers write, as `'static` strings, so owning a description does not copy them.
pub(crate) fn static_name(name: &str) -> Option<&'static str> {
    Some(match name {
        "candidate" => "candidate",
        "rtpmap" => "rtpmap",
        "fmtp" => "fmtp",
        "rtcp-fb" => "rtcp-fb",
        "extmap" => "extmap",
        "ssrc" => "ssrc",
        "ssrc-group" => "ssrc-group",
        "mid" => "mid",
        "msid" => "msid",
        "group" => "group",
        "msid-semantic" => "msid-semantic",
        "ice-ufrag" => "ice-ufrag",
        "ice-pwd" => "ice-pwd",
        "ice-options" => "ice-options",
        "fingerprint" => "fingerprint",
        "setup" => "setup",
        "rtcp" => "rtcp",
        "rtcp-mux" => "rtcp-mux",
        "rtcp-rsize" => "rtcp-rsize",
        "sendrecv" => "sendrecv",
        "sendonly" => "sendonly",
        "recvonly" => "recvonly",
        "inactive" => "inactive",
        "rid" => "rid",
        "simulcast" => "simulcast",
        "sctp-port" => "sctp-port",
        "max-message-size" => "max-message-size",
        "extmap-allow-mixed" => "extmap-allow-mixed",
        "end-of-candidates" => "end-of-candidates",
        "rtcp-xr" => "rtcp-xr",
        _ => return None,
    })
}
