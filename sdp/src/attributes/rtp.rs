//! RTP transport: `a=rtcp` (RFC 3605) and `a=extmap` (RFC 8285).

use std::fmt;

use crate::error::AttributeError;
use crate::parse::parse_num;

use super::{Direction, TypedAttribute, err, is_token, split_slash, word};

/// `a=rtcp:<port> [<nettype> <addrtype> <address>]` (RFC 3605).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rtcp<'a> {
    /// RTCP port.
    pub port: u16,
    /// Network type, address type and address, when given.
    pub address: Option<(&'a str, &'a str, &'a str)>,
}

impl<'a> Rtcp<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let mut it = v.split_ascii_whitespace();
        let port = it
            .next()
            .and_then(parse_num)
            .ok_or_else(|| err("rtcp", "port is not 0-65535"))?;
        let address = match (it.next(), it.next(), it.next(), it.next()) {
            (None, ..) => None,
            (Some(n), Some(t), Some(a), None) => Some((n, t, a)),
            _ => {
                return Err(err(
                    "rtcp",
                    "expected <port> [<nettype> <addrtype> <address>]",
                ));
            }
        };
        Ok(Self { port, address })
    }
}

impl fmt::Display for Rtcp<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.port)?;
        if let Some((n, t, a)) = self.address {
            write!(f, " {n} {t} {a}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Rtcp<'_> {
    const NAME: &'static str = "rtcp";
}

/// `a=extmap:<id>[/<direction>] <uri> [<extension attributes>]` (RFC 8285).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extmap<'a> {
    /// Local identifier (1-14 for one-byte headers, up to 255 for two-byte headers).
    pub id: u16,
    /// Direction, when given.
    pub direction: Option<Direction>,
    /// Extension URI.
    pub uri: &'a str,
    /// Extension attributes after the URI.
    pub attributes: Option<&'a str>,
}

impl<'a> Extmap<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (id_dir, rest) = word(v);
        let (id, direction) = match split_slash(id_dir) {
            (id, Some(d)) => (
                id,
                Some(Direction::from_name(d).ok_or_else(|| err("extmap", "unknown direction"))?),
            ),
            (_, None) => (id_dir, None),
        };
        let id: u16 = parse_num(id).ok_or_else(|| err("extmap", "id is not a number"))?;
        if id == 0 || id > 4095 {
            return Err(err("extmap", "id outside 1-4095"));
        }
        let (uri, attrs) = word(rest);
        if !is_token(uri) {
            return Err(err("extmap", "missing URI"));
        }
        Ok(Self {
            id,
            direction,
            uri,
            attributes: (!attrs.is_empty()).then_some(attrs),
        })
    }
}

impl fmt::Display for Extmap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.id)?;
        if let Some(d) = self.direction {
            write!(f, "/{d}")?;
        }
        write!(f, " {}", self.uri)?;
        if let Some(a) = self.attributes {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Extmap<'_> {
    const NAME: &'static str = "extmap";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extmap() {
        let e = Extmap::parse("3/sendonly urn:ietf:params:rtp-hdrext:sdes:mid").unwrap();
        assert_eq!(e.id, 3);
        assert_eq!(e.direction, Some(Direction::SendOnly));
        assert_eq!(
            e.to_string(),
            "3/sendonly urn:ietf:params:rtp-hdrext:sdes:mid"
        );
        assert!(Extmap::parse("0 urn:x").is_err());
        assert!(Extmap::parse("1/sideways urn:x").is_err());
        let with_attr = Extmap::parse("4 urn:ietf:params:rtp-hdrext:encrypt urn:x").unwrap();
        assert_eq!(with_attr.attributes, Some("urn:x"));
    }

    #[test]
    fn rtcp() {
        let rtcp = Rtcp::parse("9 IN IP4 0.0.0.0").unwrap();
        assert_eq!(rtcp.port, 9);
        assert_eq!(rtcp.to_string(), "9 IN IP4 0.0.0.0");
    }
}
