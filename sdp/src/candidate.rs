//! `a=candidate` with the full RFC 8839 grammar (section 5.1), the TCP `tcptype` of RFC 6544 and the
//! extensions browsers add (`generation`, `ufrag`, `network-id`, `network-cost`); any other
//! extension is kept, in order.

use std::fmt;

use crate::attributes::TypedAttribute;
use crate::error::AttributeError;
use crate::parse::parse_num;

fn err(reason: &'static str) -> AttributeError {
    AttributeError::new("candidate", reason)
}

/// Transport of a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateTransport<'a> {
    /// `UDP` (any case).
    Udp,
    /// `TCP` (RFC 6544).
    Tcp,
    /// Another transport extension token, kept as written.
    Other(&'a str),
}

/// Candidate type (`typ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CandidateType<'a> {
    /// Host candidate.
    Host,
    /// Server reflexive.
    Srflx,
    /// Peer reflexive.
    Prflx,
    /// Relayed (TURN).
    Relay,
    /// Another token, kept as written.
    Other(&'a str),
}

impl<'a> CandidateType<'a> {
    /// The token as written in SDP.
    pub fn as_str(&self) -> &'a str {
        match self {
            CandidateType::Host => "host",
            CandidateType::Srflx => "srflx",
            CandidateType::Prflx => "prflx",
            CandidateType::Relay => "relay",
            CandidateType::Other(s) => s,
        }
    }
}

/// TCP candidate type (RFC 6544 `tcptype`).
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
    /// The token as written in SDP.
    pub fn as_str(self) -> &'static str {
        match self {
            TcpType::Active => "active",
            TcpType::Passive => "passive",
            TcpType::So => "so",
        }
    }
}

/// An ICE candidate: the value of `a=candidate` (an optional leading `candidate:`, as found in
/// JavaScript `RTCIceCandidate.candidate` strings, is accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Foundation (1-32 ice-chars).
    pub foundation: &'a str,
    /// Component id: 1 for RTP, 2 for RTCP.
    pub component: u16,
    /// Transport.
    pub transport: CandidateTransport<'a>,
    /// Priority.
    pub priority: u32,
    /// Connection address: an IP address or an FQDN (mDNS `.local` names included).
    pub address: &'a str,
    /// Port.
    pub port: u16,
    /// Candidate type.
    pub kind: CandidateType<'a>,
    /// `raddr`.
    pub related_address: Option<&'a str>,
    /// `rport`.
    pub related_port: Option<u16>,
    /// `tcptype`.
    pub tcp_type: Option<TcpType>,
    /// `generation`.
    pub generation: Option<u32>,
    /// `ufrag`.
    pub ufrag: Option<&'a str>,
    /// `network-id`.
    pub network_id: Option<u32>,
    /// `network-cost`.
    pub network_cost: Option<u32>,
    /// Every other extension `(name, value)`, in order.
    pub extensions: Vec<(&'a str, &'a str)>,
}

fn is_ice_chars(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

impl<'a> Candidate<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let v = v.strip_prefix("candidate:").unwrap_or(v);
        let mut it = v.split_ascii_whitespace();
        let mut next = |what: &'static str| it.next().ok_or_else(|| err(what));
        let foundation = next("missing foundation")?;
        if !is_ice_chars(foundation, 32) {
            return Err(err("foundation is not 1-32 ice-chars"));
        }
        let component = next("missing component id")?;
        if component.len() > 3 {
            return Err(err("component id has more than 3 digits"));
        }
        let component = parse_num(component).ok_or_else(|| err("component id is not a number"))?;
        let transport = next("missing transport")?;
        let transport = if transport.eq_ignore_ascii_case("udp") {
            CandidateTransport::Udp
        } else if transport.eq_ignore_ascii_case("tcp") {
            CandidateTransport::Tcp
        } else {
            CandidateTransport::Other(transport)
        };
        let priority = parse_num(next("missing priority")?)
            .ok_or_else(|| err("priority is not a 32-bit number"))?;
        let address = next("missing connection address")?;
        let port = parse_num(next("missing port")?).ok_or_else(|| err("port is not 0-65535"))?;
        if !next("missing typ")?.eq_ignore_ascii_case("typ") {
            return Err(err("expected `typ`"));
        }
        let kind = next("missing candidate type")?;
        let kind = [
            CandidateType::Host,
            CandidateType::Srflx,
            CandidateType::Prflx,
            CandidateType::Relay,
        ]
        .into_iter()
        .find(|t| kind.eq_ignore_ascii_case(t.as_str()))
        .unwrap_or(CandidateType::Other(kind));
        let mut c = Candidate {
            foundation,
            component,
            transport,
            priority,
            address,
            port,
            kind,
            related_address: None,
            related_port: None,
            tcp_type: None,
            generation: None,
            ufrag: None,
            network_id: None,
            network_cost: None,
            extensions: Vec::new(),
        };
        while let Some(name) = it.next() {
            let value = it
                .next()
                .ok_or_else(|| err("extension name without a value"))?;
            match name {
                "raddr" if c.related_address.is_none() => c.related_address = Some(value),
                "rport" if c.related_port.is_none() => {
                    c.related_port =
                        Some(parse_num(value).ok_or_else(|| err("rport is not 0-65535"))?)
                }
                "tcptype" if c.tcp_type.is_none() => {
                    c.tcp_type = Some(
                        [TcpType::Active, TcpType::Passive, TcpType::So]
                            .into_iter()
                            .find(|t| value.eq_ignore_ascii_case(t.as_str()))
                            .ok_or_else(|| err("tcptype is not active, passive or so"))?,
                    )
                }
                "generation" if c.generation.is_none() => {
                    c.generation =
                        Some(parse_num(value).ok_or_else(|| err("generation is not a number"))?)
                }
                "ufrag" if c.ufrag.is_none() => c.ufrag = Some(value),
                "network-id" if c.network_id.is_none() => {
                    c.network_id =
                        Some(parse_num(value).ok_or_else(|| err("network-id is not a number"))?)
                }
                "network-cost" if c.network_cost.is_none() => {
                    c.network_cost =
                        Some(parse_num(value).ok_or_else(|| err("network-cost is not a number"))?)
                }
                _ => c.extensions.push((name, value)),
            }
        }
        Ok(c)
    }
}

impl fmt::Display for Candidate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let transport = match self.transport {
            CandidateTransport::Udp => "udp",
            CandidateTransport::Tcp => "tcp",
            CandidateTransport::Other(t) => t,
        };
        write!(
            f,
            "{} {} {} {} {} {} typ {}",
            self.foundation,
            self.component,
            transport,
            self.priority,
            self.address,
            self.port,
            self.kind.as_str()
        )?;
        if let Some(a) = self.related_address {
            write!(f, " raddr {a}")?;
        }
        if let Some(p) = self.related_port {
            write!(f, " rport {p}")?;
        }
        if let Some(t) = self.tcp_type {
            write!(f, " tcptype {}", t.as_str())?;
        }
        if let Some(g) = self.generation {
            write!(f, " generation {g}")?;
        }
        if let Some(u) = self.ufrag {
            write!(f, " ufrag {u}")?;
        }
        if let Some(n) = self.network_id {
            write!(f, " network-id {n}")?;
        }
        if let Some(n) = self.network_cost {
            write!(f, " network-cost {n}")?;
        }
        for (k, v) in &self.extensions {
            write!(f, " {k} {v}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Candidate<'_> {
    const NAME: &'static str = "candidate";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chromium_host_udp() {
        let v = "1467250027 1 udp 2122260223 192.168.0.196 46243 typ host generation 0 network-id 1 network-cost 10";
        let c = Candidate::parse(v).unwrap();
        assert_eq!(c.component, 1);
        assert_eq!(c.transport, CandidateTransport::Udp);
        assert_eq!(c.priority, 2122260223);
        assert_eq!(
            (c.address, c.port, c.kind),
            ("192.168.0.196", 46243, CandidateType::Host)
        );
        assert_eq!(
            (c.generation, c.network_id, c.network_cost),
            (Some(0), Some(1), Some(10))
        );
        assert_eq!(c.to_string(), v);
    }

    #[test]
    fn tcp_and_related() {
        let c = Candidate::parse(
            "candidate:1853887674 1 TCP 1518280447 10.0.0.1 9 typ srflx raddr 192.168.1.2 rport 0 tcptype active",
        )
        .unwrap();
        assert_eq!(c.transport, CandidateTransport::Tcp);
        assert_eq!(c.kind, CandidateType::Srflx);
        assert_eq!(
            (c.related_address, c.related_port),
            (Some("192.168.1.2"), Some(0))
        );
        assert_eq!(c.tcp_type, Some(TcpType::Active));
    }

    #[test]
    fn rfc8839_example_and_unknown_extensions() {
        // RFC 8839 section 5.1 example plus an unknown extension that must be kept.
        let c =
            Candidate::parse("1 1 UDP 2130706431 203.0.113.141 8998 typ host x-foo bar ufrag EsAw")
                .unwrap();
        assert_eq!(c.extensions, vec![("x-foo", "bar")]);
        assert_eq!(c.ufrag, Some("EsAw"));
        let relay = Candidate::parse(
            "3 1 UDP 16777215 192.0.2.3 45664 typ relay raddr 203.0.113.141 rport 8998",
        )
        .unwrap();
        assert_eq!(relay.kind, CandidateType::Relay);
        let mdns =
            Candidate::parse("2 1 udp 2113937151 4e5c1b2c-9f1d-4a2b.local 50000 typ host").unwrap();
        assert_eq!(mdns.address, "4e5c1b2c-9f1d-4a2b.local");
    }

    #[test]
    fn rejects_broken() {
        for bad in [
            "",
            "1 1 udp",
            "1 1 udp 1 1.2.3.4 70000 typ host",
            "1 1 udp 4294967296 1.2.3.4 1 typ host",
            "1 1000 udp 1 1.2.3.4 1 typ host",
            "1 1 udp 1 1.2.3.4 1 type host",
            "1 1 udp 1 1.2.3.4 1 typ host generation",
            "1 1 tcp 1 1.2.3.4 1 typ host tcptype sideways",
            "f@o 1 udp 1 1.2.3.4 1 typ host",
        ] {
            assert!(Candidate::parse(bad).is_err(), "{bad}");
        }
    }
}
