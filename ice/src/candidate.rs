//! ICE candidates (RFC 8445 section 5.1): kinds, priorities, foundations, and the SDP
//! `candidate` attribute (RFC 8839 section 5.1).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use thiserror::Error;

use crate::small::PushSmall;

/// The type of a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateKind {
    /// An address on a local interface.
    Host,
    /// The address a STUN server saw (our NAT's mapping).
    ServerReflexive,
    /// An address learned from a connectivity check.
    PeerReflexive,
    /// An address on a TURN server.
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

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "host" => CandidateKind::Host,
            "srflx" => CandidateKind::ServerReflexive,
            "prflx" => CandidateKind::PeerReflexive,
            "relay" => CandidateKind::Relayed,
            _ => return None,
        })
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

/// Candidate-pair priority (RFC 8445 6.1.2.3), from the controlling agent's candidate priority `g`
/// and the controlled agent's `d`: `2^32 * min(g, d) + 2 * max(g, d) + (g > d ? 1 : 0)`.
///
/// Candidate priorities are below 2^31 when built by the RFC formula, but a peer may signal any
/// 32-bit value: the sum wraps modulo 2^64 rather than overflowing (both agents still compute the
/// same value).
pub fn pair_priority(g: u32, d: u32) -> u64 {
    let (min, max) = (g.min(d) as u64, g.max(d) as u64);
    (min << 32)
        .wrapping_add(2 * max)
        .wrapping_add(u64::from(g > d))
}

/// Where a candidate is: an IP address, or an mDNS `.local` name the caller must resolve.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CandidateAddress {
    /// An IP address and port.
    Ip(SocketAddr),
    /// An mDNS hostname (ending in `.local`) and port, as browsers hide local addresses.
    Mdns(String, u16),
}

impl fmt::Display for CandidateAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CandidateAddress::Ip(a) => write!(f, "{} {}", a.ip(), a.port()),
            CandidateAddress::Mdns(h, p) => write!(f, "{h} {p}"),
        }
    }
}

/// Why an SDP candidate attribute could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CandidateError {
    /// A mandatory field is missing.
    #[error("candidate attribute is missing its {0}")]
    Missing(&'static str),
    /// A field has an invalid value.
    #[error("invalid candidate {field}: {value:?}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The offending text (truncated to 64 bytes).
        value: String,
    },
    /// The transport is not UDP (TCP candidates are not supported yet).
    #[error("unsupported candidate transport {0:?}")]
    UnsupportedTransport(String),
}

fn truncated(value: &str) -> String {
    let mut end = value.len().min(64);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

fn invalid(field: &'static str, value: &str) -> CandidateError {
    CandidateError::Invalid {
        field,
        value: truncated(value),
    }
}

/// An ICE candidate as exchanged in SDP (`a=candidate:...`) or trickled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Foundation: 1 to 32 ice-chars; equal for candidates of the same type, base IP and server.
    pub foundation: String,
    /// Component id (1 for RTP, 2 for RTCP without rtcp-mux).
    pub component: u16,
    /// Priority.
    pub priority: u32,
    /// Transport address.
    pub address: CandidateAddress,
    /// Type.
    pub kind: CandidateKind,
    /// Related address (`raddr`/`rport`) of reflexive and relayed candidates.
    pub related: Option<SocketAddr>,
}

fn is_ice_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '+' || c == '/'
}

impl Candidate {
    /// Parses the value of an SDP `candidate` attribute (with or without the `candidate:` and
    /// `a=` prefixes). Extension attributes (`generation`, `network-id`, `ufrag`, ...) are
    /// skipped. Only UDP candidates are accepted.
    pub fn parse(s: &str) -> Result<Self, CandidateError> {
        let s = s.trim();
        let s = s.strip_prefix("a=").unwrap_or(s);
        let s = s.strip_prefix("candidate:").unwrap_or(s);
        let mut it = s.split_ascii_whitespace();
        let foundation = it.next().ok_or(CandidateError::Missing("foundation"))?;
        if foundation.is_empty() || foundation.len() > 32 || !foundation.chars().all(is_ice_char) {
            return Err(invalid("foundation", foundation));
        }
        let component = it.next().ok_or(CandidateError::Missing("component"))?;
        let component: u16 = component
            .parse()
            .ok()
            .filter(|c| (1..=256).contains(c))
            .ok_or_else(|| invalid("component", component))?;
        let transport = it.next().ok_or(CandidateError::Missing("transport"))?;
        if !transport.eq_ignore_ascii_case("udp") {
            return Err(CandidateError::UnsupportedTransport(truncated(transport)));
        }
        let prio = it.next().ok_or(CandidateError::Missing("priority"))?;
        let priority: u32 = prio.parse().map_err(|_| invalid("priority", prio))?;
        let host = it.next().ok_or(CandidateError::Missing("address"))?;
        let port = it.next().ok_or(CandidateError::Missing("port"))?;
        let port: u16 = port.parse().map_err(|_| invalid("port", port))?;
        let address = match host.parse::<IpAddr>() {
            Ok(ip) => CandidateAddress::Ip(SocketAddr::new(ip, port)),
            Err(_) if is_mdns_name(host) => CandidateAddress::Mdns(host.to_ascii_lowercase(), port),
            Err(_) => return Err(invalid("address", host)),
        };
        if it.next() != Some("typ") {
            return Err(CandidateError::Missing("typ"));
        }
        let typ = it.next().ok_or(CandidateError::Missing("type"))?;
        let kind = CandidateKind::parse(typ).ok_or_else(|| invalid("type", typ))?;
        let (mut raddr, mut rport) = (None, None);
        while let Some(name) = it.next() {
            let value = it
                .next()
                .ok_or(CandidateError::Missing("extension value"))?;
            match name {
                "raddr" => raddr = Some(value),
                "rport" => rport = Some(value),
                _ => {}
            }
        }
        let related = match (raddr, rport) {
            (Some(a), Some(p)) => {
                let p: u16 = p.parse().map_err(|_| invalid("rport", p))?;
                // Browsers hide the related address of reflexive candidates as 0.0.0.0 or an
                // mDNS name; only a literal IP is kept.
                a.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, p))
            }
            _ => None,
        };
        Ok(Candidate {
            foundation: foundation.to_owned(),
            component,
            priority,
            address,
            kind,
            related,
        })
    }

    /// The IP transport address, unless this is an unresolved mDNS candidate.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.address {
            CandidateAddress::Ip(a) => Some(a),
            CandidateAddress::Mdns(..) => None,
        }
    }
}

fn is_mdns_name(host: &str) -> bool {
    host.len() <= 255
        && host.len() > ".local".len()
        && host.to_ascii_lowercase().ends_with(".local")
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
}

impl fmt::Display for Candidate {
    /// Formats the attribute value without the `a=` prefix: `candidate:1 1 udp 2130706431 ...`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "candidate:{} {} udp {} {} typ {}",
            self.foundation,
            self.component,
            self.priority,
            self.address,
            self.kind.as_str()
        )?;
        if let Some(r) = self.related {
            write!(f, " raddr {} rport {}", r.ip(), r.port())?;
        }
        Ok(())
    }
}

/// Assigns foundations (RFC 8445 5.1.1.3): candidates share a foundation when they have the same
/// type, base IP address, STUN/TURN server IP address and transport.
#[derive(Debug, Default, Clone)]
pub struct Foundations {
    known: Vec<(CandidateKind, IpAddr, Option<IpAddr>)>,
}

impl Foundations {
    /// A new, empty assignment.
    pub fn new() -> Self {
        Self::default()
    }

    /// The foundation for a candidate of `kind` with base `base_ip`, obtained from `server`
    /// (reflexive and relayed candidates) or `None` (host and peer-reflexive).
    pub fn foundation(
        &mut self,
        kind: CandidateKind,
        base_ip: IpAddr,
        server: Option<IpAddr>,
    ) -> String {
        let key = (kind, base_ip, server);
        let index = match self.known.iter().position(|k| *k == key) {
            Some(i) => i,
            None => {
                self.known.push_small(key);
                self.known.len() - 1
            }
        };
        (index + 1).to_string()
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
    fn pair_priorities() {
        let (g, d) = (2_130_706_431u32, 1_694_498_815u32);
        assert_eq!(pair_priority(g, d), ((d as u64) << 32) + 2 * g as u64 + 1);
        assert_eq!(pair_priority(d, g), ((d as u64) << 32) + 2 * g as u64);
        // Both agents compute the same ordering whichever role they are in.
        assert!(pair_priority(g, d) > pair_priority(d, g));
        // Out-of-range priorities from a peer wrap instead of overflowing.
        assert_eq!(
            pair_priority(u32::MAX, u32::MAX),
            ((u32::MAX as u64) << 32).wrapping_add(2 * u32::MAX as u64)
        );
    }

    #[test]
    fn parse_browser_candidates() {
        let c = Candidate::parse(
            "candidate:842163049 1 udp 1677729535 203.0.113.7 61665 typ srflx raddr 192.168.1.5 rport 61665 generation 0 ufrag EsAw network-cost 999",
        )
        .unwrap();
        assert_eq!(c.foundation, "842163049");
        assert_eq!(c.component, 1);
        assert_eq!(c.priority, 1_677_729_535);
        assert_eq!(c.kind, CandidateKind::ServerReflexive);
        assert_eq!(c.socket_addr(), Some("203.0.113.7:61665".parse().unwrap()));
        assert_eq!(c.related, Some("192.168.1.5:61665".parse().unwrap()));

        let m = Candidate::parse(
            "a=candidate:1 1 UDP 2122260223 3c9d0f1e-54a6-4d0e-9a53-7f5f3f0c8d1b.local 54321 typ host",
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
    fn format_round_trip() {
        for s in [
            "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host",
            "candidate:ab+/ 2 udp 16777214 ::1 3478 typ relay raddr 10.0.0.1 rport 1",
            "candidate:x 1 udp 1 foo.local 1 typ prflx",
        ] {
            assert_eq!(Candidate::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "candidate:",
            "candidate:1 0 udp 1 127.0.0.1 1 typ host",
            "candidate:1 257 udp 1 127.0.0.1 1 typ host",
            "candidate:1 1 udp x 127.0.0.1 1 typ host",
            "candidate:1 1 udp 1 example.com 1 typ host",
            "candidate:1 1 udp 1 127.0.0.1 70000 typ host",
            "candidate:1 1 udp 1 127.0.0.1 1 host",
            "candidate:1 1 udp 1 127.0.0.1 1 typ nat",
            "candidate:1 1 udp 1 127.0.0.1 1 typ host raddr",
            "candidate:-_- 1 udp 1 127.0.0.1 1 typ host",
            "candidate:123456789012345678901234567890123 1 udp 1 127.0.0.1 1 typ host",
        ] {
            assert!(Candidate::parse(s).is_err(), "{s:?} parsed");
        }
        assert!(matches!(
            Candidate::parse("candidate:1 1 tcp 1 127.0.0.1 9 typ host tcptype active"),
            Err(CandidateError::UnsupportedTransport(_))
        ));
    }

    #[test]
    fn foundations() {
        let mut f = Foundations::new();
        let ip: IpAddr = "192.168.1.5".parse().unwrap();
        let ip2: IpAddr = "10.0.0.1".parse().unwrap();
        let stun: IpAddr = "198.51.100.1".parse().unwrap();
        let a = f.foundation(CandidateKind::Host, ip, None);
        assert_eq!(a, f.foundation(CandidateKind::Host, ip, None));
        assert_ne!(a, f.foundation(CandidateKind::Host, ip2, None));
        assert_ne!(
            a,
            f.foundation(CandidateKind::ServerReflexive, ip, Some(stun))
        );
        assert_eq!(
            f.foundation(CandidateKind::ServerReflexive, ip, Some(stun)),
            f.foundation(CandidateKind::ServerReflexive, ip, Some(stun))
        );
    }
}
