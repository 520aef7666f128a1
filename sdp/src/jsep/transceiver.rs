//! The local side of media sections: transceivers, their ids and header extensions.

use crate::attributes::Direction;

use super::codec::Codec;

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    /// `m=audio`
    Audio,
    /// `m=video`
    Video,
}

impl MediaKind {
    /// The `m=` media token.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Audio => "audio",
            MediaKind::Video => "video",
        }
    }

    pub(super) fn from_media(media: &str) -> Option<Self> {
        if media.eq_ignore_ascii_case("audio") {
            Some(MediaKind::Audio)
        } else if media.eq_ignore_ascii_case("video") {
            Some(MediaKind::Video)
        } else {
            None
        }
    }
}

/// What an m-section carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// RTP media.
    Media(MediaKind),
    /// SCTP data channels.
    Data,
    /// Something this model does not handle (always rejected).
    Unsupported,
}

/// An RTP header extension.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderExtension {
    /// Extension id.
    pub id: u16,
    /// Extension URI.
    pub uri: String,
}

impl HeaderExtension {
    /// An extension with an id and URI.
    pub fn new(id: u16, uri: &str) -> Self {
        Self {
            id,
            uri: uri.into(),
        }
    }
}

/// The local side of an audio or video m-section.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transceiver {
    /// Audio or video.
    pub kind: MediaKind,
    /// The direction this side wants.
    pub direction: Direction,
    /// Codecs in preference order.
    pub codecs: Vec<Codec>,
    /// Header extensions offered or accepted.
    pub header_extensions: Vec<HeaderExtension>,
    /// RIDs to send as simulcast layers (empty: no simulcast).
    pub send_rids: Vec<String>,
    /// `a=msid` stream id and track id of the sent track.
    pub msid: Option<(String, String)>,
    /// SSRCs of the sent stream: `(media, rtx)`, written as `a=ssrc` (with `cname`, and `msid` when
    /// set) and `a=ssrc-group:FID` for stacks that demultiplex by SSRC rather than by mid/rid.
    pub send_ssrcs: Option<(u32, Option<u32>)>,
    /// RTCP canonical name written with `send_ssrcs`.
    pub cname: Option<String>,
    /// Stopped transceivers are offered with port 0 and their m-section can be recycled.
    pub stopped: bool,
}

impl Transceiver {
    /// A transceiver of `kind` with `direction` and `codecs`.
    pub fn new(kind: MediaKind, direction: Direction, codecs: Vec<Codec>) -> Self {
        Self {
            kind,
            direction,
            codecs,
            header_extensions: Vec::new(),
            send_rids: Vec::new(),
            msid: None,
            send_ssrcs: None,
            cname: None,
            stopped: false,
        }
    }

    /// With these header extensions.
    pub fn with_header_extensions(mut self, header_extensions: Vec<HeaderExtension>) -> Self {
        self.header_extensions = header_extensions;
        self
    }
}

/// The RID header extension (RFC 8852), without which simulcast layers cannot be told apart.
pub(super) const RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";

/// Identifies a transceiver of a [`JsepSession`](super::JsepSession): returned by
/// [`add_transceiver`](super::JsepSession::add_transceiver), named by
/// [`NegotiatedSection::transceiver`](super::NegotiatedSection::transceiver). Opaque: ids of one
/// session are only compared with each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransceiverId(usize);

impl TransceiverId {
    pub(super) fn new(index: usize) -> Self {
        Self(index)
    }

    /// Its index in the session's list of transceivers.
    pub(super) fn index(self) -> usize {
        self.0
    }
}
