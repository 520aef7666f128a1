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
    /// Simulcast layers to send, lowest first as browsers list them (empty: no simulcast).
    pub send_encodings: Vec<SendEncoding>,
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
            send_encodings: Vec::new(),
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

/// One simulcast layer a side sends (RFC 8853): its RID, whether it is paused (`~` before it in
/// `a=simulcast`), and the restrictions its `a=rid` line announces (RFC 8851), which the
/// application's encoder for the layer keeps to (the peer connection does not encode).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendEncoding {
    /// The RID (1-255 alphanumerics, `-` or `_`; RFC 8851).
    pub rid: String,
    /// Paused: offered (or answered) as `~rid`, and nothing sent on it until resumed.
    pub paused: bool,
    /// `max-br`: the most bits per second the layer sends.
    pub max_bitrate: Option<u64>,
    /// `max-width`: the widest picture, in pixels.
    pub max_width: Option<u32>,
    /// `max-height`: the tallest picture, in pixels.
    pub max_height: Option<u32>,
    /// `max-fps`: the most frames per second.
    pub max_fps: Option<u32>,
}

impl SendEncoding {
    /// Layer `rid`, active, without restrictions.
    pub fn new(rid: impl Into<String>) -> Self {
        Self {
            rid: rid.into(),
            paused: false,
            max_bitrate: None,
            max_width: None,
            max_height: None,
            max_fps: None,
        }
    }

    /// Paused or not.
    pub fn paused(mut self, paused: bool) -> Self {
        self.paused = paused;
        self
    }

    /// At most `bits_per_second`.
    pub fn max_bitrate(mut self, bits_per_second: u64) -> Self {
        self.max_bitrate = Some(bits_per_second);
        self
    }

    /// At most `width` x `height` pixels.
    pub fn max_resolution(mut self, width: u32, height: u32) -> Self {
        self.max_width = Some(width);
        self.max_height = Some(height);
        self
    }

    /// At most `fps` frames per second.
    pub fn max_fps(mut self, fps: u32) -> Self {
        self.max_fps = Some(fps);
        self
    }

    /// The restrictions of its `a=rid` line (`max-width=1280;max-br=...`), if any.
    pub(super) fn restrictions(&self) -> Option<String> {
        let parts: Vec<String> = [
            ("max-width", self.max_width.map(u64::from)),
            ("max-height", self.max_height.map(u64::from)),
            ("max-fps", self.max_fps.map(u64::from)),
            ("max-br", self.max_bitrate),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
        .collect();
        (!parts.is_empty()).then(|| parts.join(";"))
    }

    /// This layer as negotiated with a receiver: paused if it is or the receiver wrote it
    /// `~rid`, and within the restrictions the receiver's `a=rid` line asks for as well (the
    /// tighter of both; restrictions it does not understand are ignored, RFC 8851 4).
    pub(super) fn negotiated(&self, paused_by_peer: bool, restrictions: Option<&str>) -> Self {
        let mut this = self.clone().paused(self.paused || paused_by_peer);
        this.restrict(restrictions);
        this
    }

    /// Tightens its restrictions to the receiver's where both give one.
    fn restrict(&mut self, restrictions: Option<&str>) {
        fn tighter<T: Ord + Copy>(ours: Option<T>, theirs: Option<T>) -> Option<T> {
            match (ours, theirs) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        }
        let params = restrictions
            .into_iter()
            .flat_map(|r| r.split(';'))
            .filter_map(|kv| kv.split_once('='));
        for (k, v) in params {
            let v = v.trim();
            match k.trim() {
                "max-br" => self.max_bitrate = tighter(self.max_bitrate, v.parse().ok()),
                "max-width" => self.max_width = tighter(self.max_width, v.parse().ok()),
                "max-height" => self.max_height = tighter(self.max_height, v.parse().ok()),
                "max-fps" => self.max_fps = tighter(self.max_fps, v.parse().ok()),
                _ => {}
            }
        }
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
