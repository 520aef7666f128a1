//! Why an offer or answer cannot be accepted.

use thiserror::Error;

use crate::mid::{Mid, MidError};

use super::limits::NegotiationLimit;

/// Why an offer or answer cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NegotiationError {
    /// No local offer is waiting for this answer.
    #[error("no local offer is pending")]
    NoPendingOffer,
    /// The answer does not have one m-section per offered one.
    #[error("the answer has {answered} m-sections for {offered} offered")]
    SectionCount {
        /// Sections offered.
        offered: usize,
        /// Sections answered.
        answered: usize,
    },
    /// An m-section has no `a=mid`.
    #[error("m-section {index} has no a=mid")]
    MissingMid {
        /// 0-based index of the section.
        index: usize,
    },
    /// An m-section's `a=mid` is not a [`Mid`]: empty, longer than [`MAX_MID_LEN`](crate::MAX_MID_LEN) bytes (the
    /// `sdes:mid` RTP header extension could not carry it), or not an SDP token.
    #[error("m-section {index}: {reason}")]
    InvalidMid {
        /// 0-based index of the section.
        index: usize,
        /// What is wrong with it.
        reason: MidError,
    },
    /// Two m-sections share a mid.
    #[error("duplicate mid {0:?}")]
    DuplicateMid(Mid),
    /// The answer changed a section's mid.
    #[error("m-section {index} answered with mid {found:?} for {expected:?}")]
    MidMismatch {
        /// 0-based index of the section.
        index: usize,
        /// The offered mid.
        expected: Mid,
        /// The answered mid.
        found: Mid,
    },
    /// An m-section was re-offered with another media kind.
    #[error("mid {0:?} changed its media kind")]
    KindChanged(Mid),
    /// An accepted section lacks ICE credentials.
    #[error("mid {0:?} has no ice-ufrag/ice-pwd")]
    MissingIceCredentials(Mid),
    /// An accepted section lacks a DTLS fingerprint.
    #[error("mid {0:?} has no fingerprint")]
    MissingFingerprint(Mid),
    /// An accepted section has `a=fingerprint` lines (its own, or inherited from the session level
    /// or its BUNDLE transport) but none with a usable hash function ([`FingerprintHash`](crate::FingerprintHash): sha-1,
    /// sha-224, sha-256, sha-384, sha-512) and a digest of that function's length: `md5`, an
    /// unknown name or a truncated digest cannot authenticate the DTLS peer.
    #[error("mid {0:?} has no fingerprint with a usable hash function and digest length")]
    NoUsableFingerprint(Mid),
    /// The remote description exceeds one of the negotiation limits.
    #[error("{what}: more than {limit}{}", in_section(.section))]
    LimitExceeded {
        /// What was counted.
        what: NegotiationLimit,
        /// The 0-based index of the m-section, `None` for the session level or the whole
        /// description.
        section: Option<usize>,
        /// The limit ([`NegotiationLimit::max`]).
        limit: usize,
    },
    /// The DTLS role is missing or not allowed at this point.
    #[error("mid {mid:?}: setup {setup} is not acceptable in an {context}")]
    BadSetup {
        /// The section's mid.
        mid: Mid,
        /// The received setup value (or `none`).
        setup: &'static str,
        /// `offer` or `answer`.
        context: &'static str,
    },
    /// An RTP section without `a=rtcp-mux` (required, as in browsers).
    #[error("mid {0:?} does not offer rtcp-mux, which is required")]
    RtcpMuxRequired(Mid),
    /// The answer selected a payload type that was not offered.
    #[error("mid {mid:?} answered payload type {payload_type}, which was not offered")]
    UnknownPayloadType {
        /// The section's mid.
        mid: Mid,
        /// The unexpected payload type.
        payload_type: u8,
    },
    /// The answer accepted a section with no codec.
    #[error("mid {0:?} was accepted without any codec")]
    NoCodec(Mid),
}

fn in_section(section: &Option<usize>) -> String {
    section.map_or_else(String::new, |i| format!(" (m-section {i})"))
}
