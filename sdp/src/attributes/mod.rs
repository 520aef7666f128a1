//! Typed views of the attributes WebRTC uses, and [`AttributeList`], the accessors shared by the
//! session level and every media section.
//!
//! Attributes are stored raw ([`Attribute`]); a view borrows its text and is parsed on demand, without
//! allocating. Each view parses with `parse(value)` (returning an [`AttributeError`] naming the
//! attribute and the reason) and writes its value back with `Display`; [`TypedAttribute::to_attribute`]
//! turns a view into an attribute line for building descriptions.

use std::fmt;

use crate::error::AttributeError;
use crate::model::Attribute;

mod codec;
mod direction;
mod dtls;
mod group;
mod list;
mod msid;
mod rtp;
mod sctp;
mod simulcast;
mod ssrc;
mod validate;

pub use codec::{FeedbackPayload, Fmtp, FmtpParameter, RtcpFb, Rtpmap};
pub use direction::Direction;
pub use dtls::{CertificateFingerprint, Fingerprint, FingerprintHash, HashFunction, Setup};
pub use group::Group;
pub use list::AttributeList;
pub use msid::{Msid, MsidSemantic};
pub use rtp::{Extmap, Rtcp};
pub use sctp::Sctpmap;
pub use simulcast::{Rid, RidDirection, Simulcast, SimulcastRid};
pub use ssrc::{Ssrc, SsrcGroup};
pub(crate) use validate::validate;

/// A typed attribute value that can be written back as an `a=` line.
pub trait TypedAttribute: fmt::Display {
    /// The attribute's canonical name.
    const NAME: &'static str;

    /// The `a=<NAME>:<value>` line for this value.
    fn to_attribute(&self) -> Attribute<'static> {
        Attribute::new(Self::NAME, self.to_string())
    }
}

fn err(name: &'static str, reason: &'static str) -> AttributeError {
    AttributeError::new(name, reason)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Splits off the first space-separated word; the rest has its leading spaces removed.
#[inline]
fn word(s: &str) -> (&str, &str) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    let start = i;
    while i < b.len() && b[i] != b' ' {
        i += 1;
    }
    let end = i;
    while i < b.len() && b[i] == b' ' {
        i += 1;
    }
    // Spaces are ASCII, so each index is a character boundary and `get` never fails.
    (
        s.get(start..end).unwrap_or_default(),
        s.get(i..).unwrap_or_default(),
    )
}

/// Splits at the first `/` (`(s, None)` when there is none).
#[inline]
fn split_slash(s: &str) -> (&str, Option<&str>) {
    match s.as_bytes().iter().position(|&b| b == b'/') {
        Some(i) => (
            s.get(..i).unwrap_or_default(),
            Some(s.get(i + 1..).unwrap_or_default()),
        ),
        None => (s, None),
    }
}

/// Parses a non-negative decimal (`20`, `29.97`) without exponent, sign, `inf` or `nan`.
fn parse_decimal(s: &str) -> Option<f64> {
    let mut dots = 0;
    if s.is_empty() || s.len() > 32 || s.starts_with('.') || s.ends_with('.') {
        return None;
    }
    for b in s.bytes() {
        match b {
            b'0'..=b'9' => {}
            b'.' => dots += 1,
            _ => return None,
        }
    }
    if dots > 1 {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal("29.97"), Some(29.97));
        assert_eq!(parse_decimal("inf"), None);
        assert_eq!(parse_decimal("1e5"), None);
    }
}
