//! `a=ssrc` and `a=ssrc-group` (RFC 5576).

use std::fmt;

use crate::error::AttributeError;
use crate::parse::parse_num;

use super::{TypedAttribute, err, is_token, word};

/// `a=ssrc:<ssrc> <attribute>[:<value>]` (RFC 5576).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ssrc<'a> {
    /// The synchronization source.
    pub ssrc: u32,
    /// Source attribute name (`cname`, `msid`, ...).
    pub attribute: &'a str,
    /// Its value.
    pub value: Option<&'a str>,
}

impl<'a> Ssrc<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (ssrc, rest) = word(v);
        let ssrc = parse_num(ssrc).ok_or_else(|| err("ssrc", "ssrc is not a 32-bit number"))?;
        let rest = rest.trim_ascii_end();
        let (attribute, value) = match rest.split_once(':') {
            Some((a, v)) => (a, Some(v)),
            None => (rest, None),
        };
        if attribute.is_empty() {
            return Err(err("ssrc", "missing source attribute"));
        }
        Ok(Self {
            ssrc,
            attribute,
            value,
        })
    }
}

impl fmt::Display for Ssrc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.ssrc, self.attribute)?;
        if let Some(v) = self.value {
            write!(f, ":{v}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Ssrc<'_> {
    const NAME: &'static str = "ssrc";
}

/// `a=ssrc-group:<semantics> <ssrc>...` (`FID`, `SIM`, `FEC-FR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SsrcGroup<'a> {
    /// Semantics token.
    pub semantics: &'a str,
    /// Space-separated SSRCs (checked to be numbers by `parse`).
    pub ssrcs: &'a str,
}

impl<'a> SsrcGroup<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (semantics, ssrcs) = word(v);
        if !is_token(semantics) {
            return Err(err("ssrc-group", "missing semantics"));
        }
        if ssrcs
            .split_ascii_whitespace()
            .any(|s| parse_num::<u32>(s).is_none())
        {
            return Err(err("ssrc-group", "ssrc is not a 32-bit number"));
        }
        Ok(Self { semantics, ssrcs })
    }

    /// The SSRCs.
    pub fn ssrcs(&self) -> impl Iterator<Item = u32> + use<'a> {
        self.ssrcs.split_ascii_whitespace().filter_map(parse_num)
    }
}

impl fmt::Display for SsrcGroup<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.semantics)?;
        for s in self.ssrcs() {
            write!(f, " {s}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for SsrcGroup<'_> {
    const NAME: &'static str = "ssrc-group";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssrc_and_groups() {
        let s = Ssrc::parse("3735928559 cname:4TOk42mSjXCkVIa6").unwrap();
        assert_eq!(
            (s.ssrc, s.attribute, s.value),
            (3735928559, "cname", Some("4TOk42mSjXCkVIa6"))
        );
        assert!(Ssrc::parse("4294967296 cname:x").is_err());
        let g = SsrcGroup::parse("FID 1 2").unwrap();
        assert_eq!(g.ssrcs().collect::<Vec<_>>(), vec![1, 2]);
        assert!(SsrcGroup::parse("SIM 1 x").is_err());
    }
}
