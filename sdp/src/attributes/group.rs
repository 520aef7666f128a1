//! `a=group` (RFC 5888).

use std::fmt;

use crate::error::AttributeError;

use super::{TypedAttribute, err, is_token, word};

/// `a=group:<semantics> <mid>...` (RFC 5888; `BUNDLE` from RFC 9143, `LS` lip sync).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group<'a> {
    /// `BUNDLE`, `LS`, `FID`, ...
    pub semantics: &'a str,
    /// Space-separated identification tags.
    pub mids: &'a str,
}

impl<'a> Group<'a> {
    /// Parses the attribute value.
    pub fn parse(v: &'a str) -> Result<Self, AttributeError> {
        let (semantics, mids) = word(v);
        if !is_token(semantics) {
            return Err(err("group", "missing semantics"));
        }
        Ok(Self { semantics, mids })
    }

    /// The mids in the group.
    pub fn mids(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        self.mids.split_ascii_whitespace()
    }

    /// Whether this is a `BUNDLE` group.
    pub fn is_bundle(&self) -> bool {
        self.semantics.eq_ignore_ascii_case("BUNDLE")
    }

    /// Whether this is an `LS` (lip synchronization) group.
    pub fn is_lip_sync(&self) -> bool {
        self.semantics.eq_ignore_ascii_case("LS")
    }
}

impl fmt::Display for Group<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.semantics)?;
        for m in self.mids() {
            write!(f, " {m}")?;
        }
        Ok(())
    }
}

impl TypedAttribute for Group<'_> {
    const NAME: &'static str = "group";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups() {
        let grp = Group::parse("BUNDLE 0 1 2").unwrap();
        assert!(grp.is_bundle());
        assert_eq!(grp.mids().collect::<Vec<_>>(), vec!["0", "1", "2"]);
        assert!(Group::parse("LS a b").unwrap().is_lip_sync());
    }
}
