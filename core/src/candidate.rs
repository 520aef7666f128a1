//! ICE candidates (RFC 8445 section 5.1) and their signalled form, the `candidate` attribute
//! (RFC 8839 section 5.1, TCP candidates RFC 6544): one type and one parser for the SDP layer,
//! the trickle path and the ICE agent.
//!
//! ```
//! use sansrtc_core::candidate::{Candidate, CandidateKind};
//!
//! let c: Candidate = "candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host generation 0"
//!     .parse()
//!     .unwrap();
//! assert_eq!(c.kind, CandidateKind::Host);
//! assert_eq!(c.socket_addr(), Some("192.0.2.1:5000".parse().unwrap()));
//! assert_eq!(c.generation(), Some(0));
//! assert_eq!(
//!     c.to_string(),
//!     "candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host generation 0"
//! );
//! ```
//!
//! Parsing accepts everything RFC 8839 calls a candidate and types what ICE can use: a
//! candidate that is well formed but that no agent here can use (a transport other than UDP or
//! TCP, an address that is neither an IP address nor an mDNS `.local` name, an unknown type, a
//! component id outside 1-256) is refused with an error for which
//! [`CandidateError::is_unsupported`] holds, so the SDP layer can keep the line and skip the
//! candidate. Extensions (`generation`, `ufrag`, `network-id`, `network-cost`, `tcptype`, any
//! other) are kept in order, so formatting a parsed candidate gives back its text (in canonical
//! form: lower-case tokens, the `candidate:` prefix, the related address right after the type).

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use thiserror::Error;

/// The type of a candidate (`typ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateKind {
    /// An address on a local interface (`host`).
    Host,
    /// The address a STUN server saw: our NAT's mapping (`srflx`).
    ServerReflexive,
    /// An address learned from a connectivity check (`prflx`).
    PeerReflexive,
    /// An address on a TURN server (`relay`).
    Relayed,
}

impl CandidateKind {
    /// The recommended type preference (RFC 8445 5.1.2.2).
    pub fn type_preference(self) -> u32 {
        match self {
            CandidateKind::Host => 126,
            CandidateKind::PeerReflexive => 110,
            CandidateKind::ServerReflexive => 100,
            CandidateKind::Relayed => 0,
        }
    }

    /// The SDP name (`host`, `srflx`, `prflx`, `relay`).
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateKind::Host => "host",
            CandidateKind::ServerReflexive => "srflx",
            CandidateKind::PeerReflexive => "prflx",
            CandidateKind::Relayed => "relay",
        }
    }

    /// The kind an SDP name stands for (any case).
    pub fn from_token(s: &str) -> Option<Self> {
        [
            CandidateKind::Host,
            CandidateKind::ServerReflexive,
            CandidateKind::PeerReflexive,
            CandidateKind::Relayed,
        ]
        .into_iter()
        .find(|k| s.eq_ignore_ascii_case(k.as_str()))
    }
}

impl fmt::Display for CandidateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The transport of a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateTransport {
    /// UDP, the transport of every candidate the ICE agent checks.
    Udp,
    /// TCP (RFC 6544); its role is the `tcptype` extension ([`Candidate::tcp_type`]).
    Tcp,
}

impl CandidateTransport {
    /// The SDP token (`udp`, `tcp`).
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateTransport::Udp => "udp",
            CandidateTransport::Tcp => "tcp",
        }
    }
}

impl fmt::Display for CandidateTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role of a TCP candidate (RFC 6544 `tcptype`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpType {
    /// Opens outgoing connections.
    Active,
    /// Accepts incoming connections.
    Passive,
    /// Simultaneous open.
    So,
}

impl TcpType {
    /// The SDP token.
    pub fn as_str(self) -> &'static str {
        match self {
            TcpType::Active => "active",
            TcpType::Passive => "passive",
            TcpType::So => "so",
        }
    }

    /// The type a token stands for (any case).
    pub fn from_token(s: &str) -> Option<Self> {
        [TcpType::Active, TcpType::Passive, TcpType::So]
            .into_iter()
            .find(|t| s.eq_ignore_ascii_case(t.as_str()))
    }
}

/// Where a candidate is: an IP address, or an mDNS `.local` name the caller must resolve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CandidateAddress {
    /// An IP address and port.
    Ip(SocketAddr),
    /// An mDNS hostname (ending in `.local`, lower-cased) and port, as browsers hide local
    /// addresses.
    Mdns(String, u16),
}

impl CandidateAddress {
    /// The port.
    pub fn port(&self) -> u16 {
        match self {
            CandidateAddress::Ip(a) => a.port(),
            CandidateAddress::Mdns(_, p) => *p,
        }
    }
}

impl fmt::Display for CandidateAddress {
    /// The SDP form: `<address> <port>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CandidateAddress::Ip(a) => write!(f, "{} {}", a.ip(), a.port()),
            CandidateAddress::Mdns(h, p) => write!(f, "{h} {p}"),
        }
    }
}

/// Candidate priority (RFC 8445 5.1.2.1):
/// `2^24 * type preference + 2^8 * local preference + (256 - component id)`.
///
/// `type_preference` must be at most 126, `component` 1..=256.
pub fn priority(type_preference: u32, local_preference: u16, component: u16) -> u32 {
    debug_assert!(type_preference <= 126 && (1..=256).contains(&component));
    (type_preference.min(126) << 24)
        | ((local_preference as u32) << 8)
        | (256 - component.clamp(1, 256) as u32)
}

/// Why a `candidate` attribute was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CandidateError {
    /// A mandatory field is missing.
    #[error("candidate attribute is missing its {0}")]
    Missing(&'static str),
    /// A field breaks the RFC 8839 grammar.
    #[error("invalid candidate {field} {value:?}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
        /// The offending text (at most 64 bytes).
        value: String,
    },
    /// A well-formed candidate ICE cannot use here: a transport other than UDP and TCP, an
    /// address that is neither an IP address nor an mDNS `.local` name, an unknown type, a
    /// component id outside 1-256 (or, refused by the caller, a TCP candidate).
    #[error("unsupported candidate {field} {value:?}: {reason}")]
    Unsupported {
        /// The field.
        field: &'static str,
        /// Why it cannot be used.
        reason: &'static str,
        /// The offending text (at most 64 bytes).
        value: String,
    },
}

impl CandidateError {
    /// Whether the attribute is well formed (RFC 8839) and only its content is unusable: a
    /// description carrying it is valid, the candidate is skipped.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, CandidateError::Unsupported { .. })
    }

    /// A short static description of the problem.
    pub fn reason(&self) -> &'static str {
        match self {
            CandidateError::Missing(field) => match *field {
                "foundation" => "missing foundation",
                "component id" => "missing component id",
                "transport" => "missing transport",
                "priority" => "missing priority",
                "address" => "missing connection address",
                "port" => "missing port",
                "typ" => "missing typ",
                "type" => "missing candidate type",
                _ => "missing field",
            },
            CandidateError::Invalid { reason, .. } | CandidateError::Unsupported { reason, .. } => {
                reason
            }
        }
    }

    /// The error a caller reports for a TCP candidate it cannot use.
    pub fn tcp_unsupported() -> Self {
        unsupported("transport", "TCP candidates are not supported", "tcp")
    }
}

fn truncated(value: &str) -> String {
    let mut end = value.len().min(64);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

fn invalid(field: &'static str, reason: &'static str, value: &str) -> CandidateError {
    CandidateError::Invalid {
        field,
        reason,
        value: truncated(value),
    }
}

fn unsupported(field: &'static str, reason: &'static str, value: &str) -> CandidateError {
    CandidateError::Unsupported {
        field,
        reason,
        value: truncated(value),
    }
}

/// An ICE candidate, as gathered, signalled in SDP (`a=candidate:...`) or trickled.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Candidate {
    /// Foundation: 1 to 32 ice-chars; equal for candidates of the same type, base IP, server and
    /// transport.
    pub foundation: String,
    /// Component id (1 for RTP, 2 for RTCP without rtcp-mux).
    pub component: u16,
    /// Transport.
    pub transport: CandidateTransport,
    /// Priority.
    pub priority: u32,
    /// Transport address.
    pub address: CandidateAddress,
    /// Type.
    pub kind: CandidateKind,
    /// Related address (`raddr`/`rport`) of reflexive and relayed candidates, when it is an IP
    /// address (browsers hide it as `0.0.0.0` or an mDNS name: a name stays in `extensions`).
    pub related: Option<SocketAddr>,
    /// The extension attributes after the type (`generation`, `ufrag`, `network-id`,
    /// `network-cost`, `tcptype`, any other) as `(name, value)`, in order.
    pub extensions: Vec<(String, String)>,
}

impl Candidate {
    /// A UDP candidate at an IP address, without related address or extensions.
    pub fn new(
        foundation: impl Into<String>,
        component: u16,
        priority: u32,
        address: SocketAddr,
        kind: CandidateKind,
    ) -> Self {
        Candidate {
            foundation: foundation.into(),
            component,
            transport: CandidateTransport::Udp,
            priority,
            address: CandidateAddress::Ip(address),
            kind,
            related: None,
            extensions: Vec::new(),
        }
    }

    /// The candidate with `related` as its related address.
    pub fn with_related(mut self, related: SocketAddr) -> Self {
        self.related = Some(related);
        self
    }

    /// Parses the value of a `candidate` attribute, with or without the `a=` and `candidate:`
    /// prefixes (JavaScript's `RTCIceCandidate.candidate` has the latter).
    pub fn parse(s: &str) -> Result<Self, CandidateError> {
        let p = Parts::parse(s)?;
        let mut extensions = Vec::new();
        let mut rest = p.rest;
        let (mut raddr_seen, mut rport_seen) = (false, false);
        while let (Some(name), Some(value)) = (token(&mut rest), token(&mut rest)) {
            // The related address, when typed, is the first raddr and the first rport.
            if p.related.is_some() {
                if name == "raddr" && !std::mem::replace(&mut raddr_seen, true) {
                    continue;
                }
                if name == "rport" && !std::mem::replace(&mut rport_seen, true) {
                    continue;
                }
            }
            extensions.push((name.to_owned(), value.to_owned()));
        }
        Ok(Candidate {
            foundation: p.foundation.to_owned(),
            component: p.component,
            transport: p.transport,
            priority: p.priority,
            address: match p.host {
                Host::Ip(ip) => CandidateAddress::Ip(SocketAddr::new(ip, p.port)),
                Host::Mdns(name) => CandidateAddress::Mdns(name.to_ascii_lowercase(), p.port),
            },
            kind: p.kind,
            related: p.related,
            extensions,
        })
    }

    /// Checks a `candidate` attribute value exactly as [`Candidate::parse`] does, without
    /// building the candidate (nothing is allocated unless it fails).
    pub fn validate(s: &str) -> Result<(), CandidateError> {
        Parts::parse(s).map(drop)
    }

    /// The IP transport address, unless this is an unresolved mDNS candidate.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.address {
            CandidateAddress::Ip(a) => Some(a),
            CandidateAddress::Mdns(..) => None,
        }
    }

    /// The value of the first extension attribute called `name`.
    pub fn extension(&self, name: &str) -> Option<&str> {
        self.extensions
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `tcptype` (RFC 6544).
    pub fn tcp_type(&self) -> Option<TcpType> {
        self.extension("tcptype").and_then(TcpType::from_token)
    }

    /// `generation` (browsers).
    pub fn generation(&self) -> Option<u32> {
        self.extension("generation").and_then(number)
    }

    /// `ufrag`: the username fragment of the ICE generation the candidate belongs to.
    pub fn ufrag(&self) -> Option<&str> {
        self.extension("ufrag")
    }

    /// `network-id` (browsers).
    pub fn network_id(&self) -> Option<u32> {
        self.extension("network-id").and_then(number)
    }

    /// `network-cost` (browsers).
    pub fn network_cost(&self) -> Option<u32> {
        self.extension("network-cost").and_then(number)
    }
}

impl FromStr for Candidate {
    type Err = CandidateError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Candidate::parse(s)
    }
}

impl fmt::Display for Candidate {
    /// The attribute value with the `candidate:` prefix (`a=` excluded):
    /// `candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "candidate:{} {} {} {} {} typ {}",
            self.foundation, self.component, self.transport, self.priority, self.address, self.kind
        )?;
        if let Some(r) = self.related {
            write!(f, " raddr {} rport {}", r.ip(), r.port())?;
        }
        for (name, value) in &self.extensions {
            write!(f, " {name} {value}")?;
        }
        Ok(())
    }
}

/// The connection address as written.
enum Host<'a> {
    Ip(IpAddr),
    Mdns(&'a str),
}

/// A checked attribute, borrowing the text.
struct Parts<'a> {
    foundation: &'a str,
    component: u16,
    transport: CandidateTransport,
    priority: u32,
    host: Host<'a>,
    port: u16,
    kind: CandidateKind,
    related: Option<SocketAddr>,
    /// The extension attributes (checked), as written.
    rest: &'a str,
}

/// A decimal number of at most 10 digits (no sign), in range for `T`.
fn number<T: TryFrom<u64>>(s: &str) -> Option<T> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().and_then(|v| T::try_from(v).ok())
}

fn is_ice_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

/// An mDNS name as browsers use them (`<uuid>.local`), any case.
fn is_mdns_name(host: &str) -> bool {
    let suffix = ".local";
    host.len() <= 255
        && host.len() > suffix.len()
        && host.is_char_boundary(host.len() - suffix.len())
        && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// The next whitespace-separated token of `s`, advancing `s` past it.
fn token<'a>(s: &mut &'a str) -> Option<&'a str> {
    let t = s.trim_ascii_start();
    if t.is_empty() {
        *s = t;
        return None;
    }
    let end = t
        .bytes()
        .position(|b| b.is_ascii_whitespace())
        .unwrap_or(t.len());
    let (token, rest) = t.split_at(end);
    *s = rest;
    Some(token)
}

impl<'a> Parts<'a> {
    fn parse(s: &'a str) -> Result<Self, CandidateError> {
        let s = s.trim_ascii();
        let s = s.strip_prefix("a=").unwrap_or(s);
        let mut s = s.strip_prefix("candidate:").unwrap_or(s);
        let mut next = |field: &'static str| token(&mut s).ok_or(CandidateError::Missing(field));

        let foundation = next("foundation")?;
        if foundation.len() > 32 || !foundation.bytes().all(is_ice_char) {
            return Err(invalid(
                "foundation",
                "foundation is not 1-32 ice-chars",
                foundation,
            ));
        }
        let text = next("component id")?;
        let component: u16 = number(text)
            .filter(|_| text.len() <= 3)
            .ok_or_else(|| invalid("component id", "component id is not 1-3 digits", text))?;
        let component_text = text;
        let transport = next("transport")?;
        let text = next("priority")?;
        let priority = number(text)
            .ok_or_else(|| invalid("priority", "priority is not a 32-bit number", text))?;
        let address = next("address")?;
        let text = next("port")?;
        let port = number(text).ok_or_else(|| invalid("port", "port is not 0-65535", text))?;
        let typ = next("typ")?;
        if !typ.eq_ignore_ascii_case("typ") {
            return Err(invalid("typ", "expected `typ`", typ));
        }
        let kind_text = next("type")?;
        let rest = s;

        // Extensions: names with values; the first occurrence of each known one is checked.
        let (mut raddr, mut rport) = (None, None);
        let (mut tcptype, mut numbers) = (false, [false; 3]);
        let mut ext = rest;
        while let Some(name) = token(&mut ext) {
            let value = token(&mut ext)
                .ok_or_else(|| invalid("extension", "extension name without a value", name))?;
            let numeric = match name {
                "raddr" => {
                    raddr.get_or_insert(value);
                    None
                }
                "rport" if rport.is_none() => {
                    rport = Some(
                        number::<u16>(value)
                            .ok_or_else(|| invalid("rport", "rport is not 0-65535", value))?,
                    );
                    None
                }
                "tcptype" if !std::mem::replace(&mut tcptype, true) => {
                    TcpType::from_token(value).ok_or_else(|| {
                        invalid("tcptype", "tcptype is not active, passive or so", value)
                    })?;
                    None
                }
                "generation" => Some(0),
                "network-id" => Some(1),
                "network-cost" => Some(2),
                _ => None,
            };
            let first = numeric.is_some_and(|i| !std::mem::replace(&mut numbers[i], true));
            if first && number::<u32>(value).is_none() {
                return Err(invalid(
                    "extension",
                    "generation, network-id or network-cost is not a number",
                    value,
                ));
            }
        }

        // The grammar holds: now what ICE can use.
        if !(1..=256).contains(&component) {
            return Err(unsupported(
                "component id",
                "component id outside 1-256",
                component_text,
            ));
        }
        let transport = if transport.eq_ignore_ascii_case("udp") {
            CandidateTransport::Udp
        } else if transport.eq_ignore_ascii_case("tcp") {
            CandidateTransport::Tcp
        } else {
            return Err(unsupported(
                "transport",
                "transport is not UDP or TCP",
                transport,
            ));
        };
        let host = match address.parse::<IpAddr>() {
            Ok(ip) => Host::Ip(ip),
            Err(_) if is_mdns_name(address) => Host::Mdns(address),
            Err(_) => {
                return Err(unsupported(
                    "address",
                    "address is neither an IP address nor an mDNS .local name",
                    address,
                ));
            }
        };
        let kind = CandidateKind::from_token(kind_text)
            .ok_or_else(|| unsupported("type", "unknown candidate type", kind_text))?;
        let related = match (raddr, rport) {
            (Some(a), Some(p)) => a.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, p)),
            _ => None,
        };
        Ok(Parts {
            foundation,
            component,
            transport,
            priority,
            host,
            port,
            kind,
            related,
            rest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities() {
        // Host, local preference 65535, component 1: the value browsers use.
        assert_eq!(priority(126, 65535, 1), 2_130_706_431);
        assert_eq!(priority(100, 65535, 1), 1_694_498_815);
        assert_eq!(priority(0, 65535, 2), 16_777_214);
        assert_eq!(priority(110, 0, 1), 110 << 24 | 255);
        assert!(priority(126, 1, 1) > priority(110, 65535, 1));
    }

    #[test]
    fn browser_candidates() {
        let s = "candidate:842163049 1 udp 1677729535 203.0.113.7 61665 typ srflx raddr 192.168.1.5 rport 61665 generation 0 ufrag EsAw network-cost 999";
        let c = Candidate::parse(s).unwrap();
        assert_eq!(c.foundation, "842163049");
        assert_eq!(c.component, 1);
        assert_eq!(c.transport, CandidateTransport::Udp);
        assert_eq!(c.priority, 1_677_729_535);
        assert_eq!(c.kind, CandidateKind::ServerReflexive);
        assert_eq!(c.socket_addr(), Some("203.0.113.7:61665".parse().unwrap()));
        assert_eq!(c.related, Some("192.168.1.5:61665".parse().unwrap()));
        assert_eq!(
            (c.generation(), c.ufrag(), c.network_cost(), c.network_id()),
            (Some(0), Some("EsAw"), Some(999), None)
        );
        assert_eq!(c.to_string(), s);

        let v = "1467250027 1 udp 2122260223 192.168.0.196 46243 typ host generation 0 network-id 1 network-cost 10";
        let c = Candidate::parse(v).unwrap();
        assert_eq!(c.to_string(), format!("candidate:{v}"));
        assert_eq!(c.network_id(), Some(1));

        let m = Candidate::parse(
            "a=candidate:1 1 UDP 2122260223 3C9D0F1E-54a6-4d0e-9a53-7f5f3f0c8d1b.local 54321 typ host",
        )
        .unwrap();
        assert_eq!(
            m.address,
            CandidateAddress::Mdns("3c9d0f1e-54a6-4d0e-9a53-7f5f3f0c8d1b.local".into(), 54321)
        );
        assert_eq!(m.socket_addr(), None);

        let v6 = Candidate::parse("candidate:2 1 udp 2122262783 2001:db8::1 9 typ host").unwrap();
        assert_eq!(v6.socket_addr(), Some("[2001:db8::1]:9".parse().unwrap()));
    }

    #[test]
    fn tcp_and_hidden_related_addresses() {
        let c = Candidate::parse(
            "candidate:1853887674 1 TCP 1518280447 10.0.0.1 9 typ srflx raddr 192.168.1.2 rport 0 tcptype active",
        )
        .unwrap();
        assert_eq!(c.transport, CandidateTransport::Tcp);
        assert_eq!(c.tcp_type(), Some(TcpType::Active));
        assert_eq!(c.related, Some("192.168.1.2:0".parse().unwrap()));
        // An mDNS related address is no IP address: kept as written.
        let s = "candidate:3 1 udp 1686052607 198.51.100.7 50000 typ srflx raddr abc.local rport 9 generation 0";
        let c = Candidate::parse(s).unwrap();
        assert_eq!(c.related, None);
        assert_eq!(c.extension("raddr"), Some("abc.local"));
        assert_eq!(c.to_string(), s);
    }

    #[test]
    fn canonical_round_trips() {
        for s in [
            "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
            "candidate:ab+/ 2 udp 16777214 ::1 3478 typ relay raddr 10.0.0.1 rport 1",
            "candidate:x 1 udp 1 foo.local 1 typ prflx",
            "candidate:1 1 udp 2130706431 203.0.113.141 8998 typ host x-foo bar ufrag EsAw",
            "candidate:1 1 tcp 1 10.0.0.1 9 typ host tcptype passive",
        ] {
            assert_eq!(Candidate::parse(s).unwrap().to_string(), s);
        }
        // Tokens in any case and related addresses anywhere come out in canonical form.
        let c =
            Candidate::parse("7 1 UDP 5 10.0.0.2 7 TYP SRFLX generation 1 rport 4 raddr 10.0.0.3")
                .unwrap();
        assert_eq!(
            c.to_string(),
            "candidate:7 1 udp 5 10.0.0.2 7 typ srflx raddr 10.0.0.3 rport 4 generation 1"
        );
        assert_eq!(Candidate::parse(&c.to_string()).unwrap(), c);
    }

    #[test]
    fn constructors() {
        let base: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let c = Candidate::new(
            "4",
            1,
            priority(100, 65535, 1),
            "203.0.113.1:6000".parse().unwrap(),
            CandidateKind::ServerReflexive,
        )
        .with_related(base);
        assert_eq!(
            c.to_string(),
            "candidate:4 1 udp 1694498815 203.0.113.1 6000 typ srflx raddr 10.0.0.1 rport 5000"
        );
        assert_eq!(c.to_string().parse::<Candidate>().unwrap(), c);
    }

    #[test]
    fn broken_grammar_is_invalid() {
        for s in [
            "",
            "candidate:",
            "1 1 udp",
            "candidate:1 1000 udp 1 127.0.0.1 1 typ host",
            "candidate:1 x udp 1 127.0.0.1 1 typ host",
            "candidate:1 1 udp x 127.0.0.1 1 typ host",
            "candidate:1 1 udp +1 127.0.0.1 1 typ host",
            "1 1 udp 4294967296 1.2.3.4 1 typ host",
            "candidate:1 1 udp 1 127.0.0.1 70000 typ host",
            "candidate:1 1 udp 1 127.0.0.1 1 host",
            "1 1 udp 1 1.2.3.4 1 type host",
            "candidate:1 1 udp 1 127.0.0.1 1 typ host raddr",
            "1 1 udp 1 1.2.3.4 1 typ host generation",
            "1 1 udp 1 1.2.3.4 1 typ host generation x",
            "1 1 udp 1 1.2.3.4 1 typ srflx raddr 1.2.3.4 rport x",
            "1 1 tcp 1 1.2.3.4 1 typ host tcptype sideways",
            "candidate:-_- 1 udp 1 127.0.0.1 1 typ host",
            "candidate:123456789012345678901234567890123 1 udp 1 127.0.0.1 1 typ host",
        ] {
            let e = Candidate::parse(s).unwrap_err();
            assert!(!e.is_unsupported(), "{s:?}: {e}");
            assert_eq!(Candidate::validate(s), Err(e));
        }
        assert_eq!(
            Candidate::parse("1 1 udp 1 1.2.3.4 1 type host")
                .unwrap_err()
                .reason(),
            "expected `typ`"
        );
    }

    #[test]
    fn well_formed_but_unusable_is_unsupported() {
        for s in [
            "candidate:1 0 udp 1 127.0.0.1 1 typ host",
            "candidate:1 257 udp 1 127.0.0.1 1 typ host",
            "candidate:1 1 dccp 1 127.0.0.1 1 typ host",
            "candidate:1 1 udp 1 example.com 1 typ host",
            "candidate:1 1 udp 1 fe80::1%eth0 1 typ host",
            "candidate:1 1 udp 1 127.0.0.1 1 typ nat",
        ] {
            let e = Candidate::parse(s).unwrap_err();
            assert!(e.is_unsupported(), "{s:?}: {e}");
            assert_eq!(Candidate::validate(s), Err(e));
        }
        assert!(CandidateError::tcp_unsupported().is_unsupported());
    }

    #[test]
    fn errors_are_bounded() {
        let long = format!("candidate:{} 1 udp 1 1.2.3.4 1 typ host", "é".repeat(100));
        match Candidate::parse(&long) {
            Err(CandidateError::Invalid { value, .. }) => assert!(value.len() <= 64),
            other => panic!("{other:?}"),
        }
    }
}
