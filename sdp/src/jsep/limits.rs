//! The limits a remote description is checked against before negotiation.

use std::fmt;

use crate::attributes::{FeedbackPayload, RtcpFb};
use crate::model::SessionDescription;

use super::error::NegotiationError;

/// Most m-sections in a remote description. Browsers write one per track plus one for data;
/// conferences with hundreds of tracks use far fewer sections than this.
pub const MAX_MEDIA_SECTIONS: usize = 256;
/// Most formats on one remote `m=` line. RTP payload types are 0-127; Chromium 156 offers 34 for
/// video.
pub const MAX_FORMATS: usize = 128;
/// Most `a=` lines at the session level or in one remote m-section (Chromium 156's largest
/// section has 170).
pub const MAX_ATTRIBUTES: usize = 1024;
/// Most `a=candidate` lines in one remote m-section (the ICE agent keeps 64 remote candidates).
pub const MAX_CANDIDATES: usize = 128;
/// Most RTCP feedback entries in one remote description, an `a=rtcp-fb:*` line counting once per
/// format of its section, since it is copied into each codec (Chromium 156: 77 per video section).
pub const MAX_FEEDBACK: usize = 8192;
/// Longest `a=rtcp-fb` value, in bytes (RFC 4585 values are short: `96 nack pli`, `* trr-int 100`;
/// the longest in our browser corpus has 21). With [`MAX_FEEDBACK`], this bounds the feedback text
/// a description can make negotiation copy to 1 MiB, however `*` lines multiply it.
pub const MAX_FEEDBACK_LENGTH: usize = 128;
/// Longest remote `a=ice-ufrag` or `a=ice-pwd`, in bytes (RFC 8839 allows 256 characters). Both
/// are copied into every section that inherits them.
pub const MAX_ICE_CREDENTIAL_LENGTH: usize = 256;

/// What a negotiation limit counts; [`NegotiationError::LimitExceeded`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NegotiationLimit {
    /// m-sections in the description ([`MAX_MEDIA_SECTIONS`]).
    MediaSections,
    /// Formats on one `m=` line ([`MAX_FORMATS`]).
    Formats,
    /// `a=` lines at the session level or in one m-section ([`MAX_ATTRIBUTES`]).
    Attributes,
    /// `a=candidate` lines in one m-section ([`MAX_CANDIDATES`]).
    Candidates,
    /// RTCP feedback entries in the description, `*` counting once per format ([`MAX_FEEDBACK`]).
    Feedback,
    /// Bytes of one `a=rtcp-fb` value ([`MAX_FEEDBACK_LENGTH`]).
    FeedbackLength,
    /// Bytes of one `a=ice-ufrag` or `a=ice-pwd` value ([`MAX_ICE_CREDENTIAL_LENGTH`]).
    IceCredentialLength,
}

impl NegotiationLimit {
    /// The limit's value.
    pub fn max(self) -> usize {
        match self {
            NegotiationLimit::MediaSections => MAX_MEDIA_SECTIONS,
            NegotiationLimit::Formats => MAX_FORMATS,
            NegotiationLimit::Attributes => MAX_ATTRIBUTES,
            NegotiationLimit::Candidates => MAX_CANDIDATES,
            NegotiationLimit::Feedback => MAX_FEEDBACK,
            NegotiationLimit::FeedbackLength => MAX_FEEDBACK_LENGTH,
            NegotiationLimit::IceCredentialLength => MAX_ICE_CREDENTIAL_LENGTH,
        }
    }

    pub(super) fn exceeded(self, section: Option<usize>) -> NegotiationError {
        NegotiationError::LimitExceeded {
            what: self,
            section,
            limit: self.max(),
        }
    }
}

impl fmt::Display for NegotiationLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NegotiationLimit::MediaSections => "m-sections",
            NegotiationLimit::Formats => "formats on one m= line",
            NegotiationLimit::Attributes => "attributes in one section",
            NegotiationLimit::Candidates => "candidates in one m-section",
            NegotiationLimit::Feedback => "rtcp-fb entries (a `*` line once per format)",
            NegotiationLimit::FeedbackLength => "bytes in one rtcp-fb value",
            NegotiationLimit::IceCredentialLength => "bytes in an ICE ufrag or password",
        })
    }
}

/// Checks a remote description against the limits, in one pass over its attributes.
pub(super) fn check_limits(sd: &SessionDescription<'_>) -> Result<(), NegotiationError> {
    if sd.media.len() > MAX_MEDIA_SECTIONS {
        return Err(NegotiationLimit::MediaSections.exceeded(None));
    }
    if sd.attributes.len() > MAX_ATTRIBUTES {
        return Err(NegotiationLimit::Attributes.exceeded(None));
    }
    let mut feedback = 0usize;
    for (i, m) in sd.media.iter().enumerate() {
        let here = Some(i);
        if m.formats.len() > MAX_FORMATS {
            return Err(NegotiationLimit::Formats.exceeded(here));
        }
        if m.attributes.len() > MAX_ATTRIBUTES {
            return Err(NegotiationLimit::Attributes.exceeded(here));
        }
        let mut candidates = 0usize;
        for a in &m.attributes {
            if a.is("candidate") {
                candidates += 1;
            } else if a.is("rtcp-fb") {
                let v = a.value_str();
                if v.len() > MAX_FEEDBACK_LENGTH {
                    return Err(NegotiationLimit::FeedbackLength.exceeded(here));
                }
                let all = RtcpFb::parse(v).is_ok_and(|f| f.payload == FeedbackPayload::All);
                feedback += if all { m.formats.len() } else { 1 };
            }
        }
        if candidates > MAX_CANDIDATES {
            return Err(NegotiationLimit::Candidates.exceeded(here));
        }
        if feedback > MAX_FEEDBACK {
            return Err(NegotiationLimit::Feedback.exceeded(here));
        }
    }
    Ok(())
}
