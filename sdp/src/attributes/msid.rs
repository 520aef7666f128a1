//! `a=msid` and `a=msid-semantic` (RFC 8830).

use std::fmt;

use crate::error::AttributeError;

use super::{TypedAttribute, err, is_token, word};

/// `a=msid-semantic:<semantic> <identifier>...` (e.g. `WMS *`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MsidSemantic<'a> {
    /// Usually `WMS`.
    pub semantic: &'a str,
    /// Space-separated stream identifiers (or `*`).
    pub identifiers: &'a str,
}

impl<'a> MsidSemantic<'a> {
    /// Parses the attribute value (leading spaces, as Chromium writes them, are allowed).
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (semantic, identifiers) = word(v);
        if !is_token(semantic) {
            return Err(err("msid-semantic", "missing semantic"));
        }
        Ok(Self {
            semantic,
            identifiers,
        })
    }

    /// The identifiers.
    pub fn identifiers(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.identifiers.split_ascii_whitespace()
    }
}

impl fmt::Display for MsidSemantic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.semantic)?;
        for i in self.identifiers() {
            write!(f, " {i}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for MsidSemantic<'_> {
    const NAME: &'static str = "msid-semantic";
}

/// `a=msid:<stream id> [<track id>]` (RFC 8830).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Msid<'a> {
    /// Media stream id (`-` for none).
    pub stream: &'a str,
    /// Track id (the "appdata").
    pub track: Option<&'a str>,
}

impl<'a> Msid<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (stream, rest) = word(v);
        if !is_token(stream) {
            return Err(err("msid", "missing stream id"));
        }
        let (track, extra) = word(rest);
        if !extra.is_empty() {
            return Err(err("msid", "more than two identifiers"));
        }
        Ok(Self {
            stream,
            track: (!track.is_empty()).then_some(track),
        })
    }
}

impl fmt::Display for Msid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.stream)?;
        if let Some(t) = self.track {
            write!(f, " {t}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Msid<'_> {
    const NAME: &'static str = "msid";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msid() {
        let m = Msid::parse("stream track").unwrap();
        assert_eq!(m.track, Some("track"));
        assert!(Msid::parse("a b c").is_err());
    }
}
