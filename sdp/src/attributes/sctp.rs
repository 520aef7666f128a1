//! Legacy `a=sctpmap`.

use std::fmt;

use crate::error::AttributeError;
use crate::parse::parse_num;

use super::{TypedAttribute, err};

/// Legacy `a=sctpmap:<number> <app> [<streams>]` (draft-ietf-mmusic-sctp-sdp-05).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sctpmap<'a> {
    /// SCTP port (the m= format).
    pub number: u16,
    /// Application, `webrtc-datachannel`.
    pub app: &'a str,
    /// Maximum number of streams.
    pub streams: Option<u32>,
}

impl<'a> Sctpmap<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let mut it = v.split_ascii_whitespace();
        let number = it
            .next()
            .and_then(parse_num)
            .ok_or_else(|| err("sctpmap", "number is not 0-65535"))?;
        let app = it
            .next()
            .ok_or_else(|| err("sctpmap", "missing application"))?;
        let streams = match it.next() {
            Some(s) => Some(parse_num(s).ok_or_else(|| err("sctpmap", "streams is not a number"))?),
            None => None,
        };
        if it.next().is_some() {
            return Err(err("sctpmap", "too many fields"));
        }
        Ok(Self {
            number,
            app,
            streams,
        })
    }
}

impl fmt::Display for Sctpmap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.number, self.app)?;
        if let Some(s) = self.streams {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Sctpmap<'_> {
    const NAME: &'static str = "sctpmap";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sctpmap() {
        assert_eq!(
            Sctpmap::parse("5000 webrtc-datachannel 1024")
                .unwrap()
                .streams,
            Some(1024)
        );
    }
}
