//! Codecs and RTCP feedback as JSEP offers and negotiates them.

use std::convert::Infallible;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use super::fmtp::{FormatParameters, ProfileLevelId};

/// An RTCP feedback type with its optional parameter (`nack` / `pli`, `transport-cc`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    /// Feedback type.
    pub kind: String,
    /// Parameter.
    pub parameter: Option<String>,
}

impl Feedback {
    /// A feedback without parameter.
    pub fn new(kind: &str) -> Self {
        Self {
            kind: kind.into(),
            parameter: None,
        }
    }

    /// A feedback with a parameter.
    pub fn with(kind: &str, parameter: &str) -> Self {
        Self {
            kind: kind.into(),
            parameter: Some(parameter.into()),
        }
    }

    /// Same type and parameter, ignoring case.
    pub fn same(&self, other: &Feedback) -> bool {
        self.kind.eq_ignore_ascii_case(&other.kind)
            && match (&self.parameter, &other.parameter) {
                (None, None) => true,
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            }
    }
}

/// A codec's encoding name (`a=rtpmap`), recognized once, ignoring case (RFC 4855: encoding
/// names are case-insensitive).
///
/// Names compare, hash and match `&str` ignoring case, so `CodecName::Vp8 == "vp8"`. A known name
/// is written with its registered spelling ([`CodecName::as_str`]); any other is kept as written
/// in [`CodecName::Other`].
///
/// ```
/// use sansrtc_sdp::jsep::CodecName;
///
/// assert_eq!(CodecName::parse("OPUS"), CodecName::Opus);
/// assert_eq!(CodecName::Opus.as_str(), "opus");
/// assert_eq!(CodecName::parse("H264"), "h264");
/// assert_eq!(CodecName::parse("flexfec-03"), CodecName::Other("flexfec-03".into()));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CodecName {
    /// `opus` (RFC 7587).
    Opus,
    /// `VP8` (RFC 7741).
    Vp8,
    /// `VP9` (RFC 9628).
    Vp9,
    /// `H264` (RFC 6184).
    H264,
    /// `H265` (RFC 7798).
    H265,
    /// `AV1`.
    Av1,
    /// `rtx`: retransmission (RFC 4588); [`FormatParameters::apt`] names the payload type it
    /// repairs.
    Rtx,
    /// `red`: redundant coding (RFC 2198).
    Red,
    /// `ulpfec` (RFC 5109).
    Ulpfec,
    /// `flexfec` (RFC 8627).
    Flexfec,
    /// `G722`.
    G722,
    /// `PCMU` (G.711 µ-law).
    Pcmu,
    /// `PCMA` (G.711 A-law).
    Pcma,
    /// `CN`: comfort noise (RFC 3389).
    Cn,
    /// `telephone-event` (RFC 4733).
    TelephoneEvent,
    /// Any other name, as written.
    Other(String),
}

const KNOWN: [CodecName; 15] = [
    CodecName::Opus,
    CodecName::Vp8,
    CodecName::Vp9,
    CodecName::H264,
    CodecName::H265,
    CodecName::Av1,
    CodecName::Rtx,
    CodecName::Red,
    CodecName::Ulpfec,
    CodecName::Flexfec,
    CodecName::G722,
    CodecName::Pcmu,
    CodecName::Pcma,
    CodecName::Cn,
    CodecName::TelephoneEvent,
];

impl CodecName {
    /// Recognizes `name`, ignoring case.
    pub fn parse(name: &str) -> CodecName {
        KNOWN
            .iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(name))
            .cloned()
            .unwrap_or_else(|| CodecName::Other(name.to_string()))
    }

    /// The name as written in `a=rtpmap`: the registered spelling of a known name.
    pub fn as_str(&self) -> &str {
        match self {
            CodecName::Opus => "opus",
            CodecName::Vp8 => "VP8",
            CodecName::Vp9 => "VP9",
            CodecName::H264 => "H264",
            CodecName::H265 => "H265",
            CodecName::Av1 => "AV1",
            CodecName::Rtx => "rtx",
            CodecName::Red => "red",
            CodecName::Ulpfec => "ulpfec",
            CodecName::Flexfec => "flexfec",
            CodecName::G722 => "G722",
            CodecName::Pcmu => "PCMU",
            CodecName::Pcma => "PCMA",
            CodecName::Cn => "CN",
            CodecName::TelephoneEvent => "telephone-event",
            CodecName::Other(name) => name,
        }
    }
}

impl PartialEq for CodecName {
    fn eq(&self, other: &CodecName) -> bool {
        self.as_str().eq_ignore_ascii_case(other.as_str())
    }
}

impl Eq for CodecName {}

impl Hash for CodecName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Consistent with `eq`: the lower-case text.
        for b in self.as_str().bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
        state.write_u8(0xff);
    }
}

impl PartialEq<str> for CodecName {
    fn eq(&self, other: &str) -> bool {
        self.as_str().eq_ignore_ascii_case(other)
    }
}

impl PartialEq<&str> for CodecName {
    fn eq(&self, other: &&str) -> bool {
        self.as_str().eq_ignore_ascii_case(other)
    }
}

impl fmt::Display for CodecName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for CodecName {
    fn from(name: &str) -> Self {
        CodecName::parse(name)
    }
}

impl FromStr for CodecName {
    type Err = Infallible;

    fn from_str(name: &str) -> Result<Self, Infallible> {
        Ok(CodecName::parse(name))
    }
}

/// A codec: payload type, `rtpmap`, `fmtp` and `rtcp-fb`.
///
/// Built with a named constructor and typed format parameters, or [`Codec::new`] for any name:
///
/// ```
/// use sansrtc_sdp::jsep::{Codec, CodecName, Feedback, ProfileLevelId};
///
/// let opus = Codec::opus(111).minptime(10).useinbandfec(true);
/// assert_eq!(opus.fmtp.as_str(), "minptime=10;useinbandfec=1");
/// let h264 = Codec::h264(102)
///     .level_asymmetry_allowed(true)
///     .packetization_mode(1)
///     .profile_level_id(ProfileLevelId::CONSTRAINED_BASELINE_3_1)
///     .feedback(Feedback::with("nack", "pli"));
/// assert_eq!(h264.fmtp.as_str(), "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f");
/// let rtx = Codec::rtx(103, 102);
/// assert_eq!((rtx.name.clone(), rtx.apt()), (CodecName::Rtx, Some(102)));
/// assert_eq!(Codec::new(100, "x-custom", 90_000, None).name, "X-CUSTOM");
/// ```
///
/// In a negotiated codec list ([`NegotiatedSection::codecs`](super::NegotiatedSection::codecs)),
/// and in one read from a remote description, RTX is paired: each media codec's [`Codec::rtx`]
/// names the RTX payload type repairing it, and each RTX codec's [`Codec::apt`] the payload type
/// it repairs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Codec {
    /// RTP payload type.
    pub payload_type: u8,
    /// Encoding name.
    pub name: CodecName,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels.
    pub channels: Option<u16>,
    /// Format parameters (`a=fmtp`; empty: none).
    pub fmtp: FormatParameters,
    /// RTCP feedback.
    pub feedback: Vec<Feedback>,
    /// The payload type of the RTX codec repairing this one: set by negotiation in the codec
    /// lists it returns (the first RTX codec of the list whose `apt` names this codec), `None`
    /// for RTX codecs and when there is none. Ignored in the codecs we offer or answer with.
    pub rtx: Option<u8>,
}

impl Codec {
    /// A codec without format parameters or feedback.
    pub fn new(
        payload_type: u8,
        name: impl Into<CodecName>,
        clock_rate: u32,
        channels: Option<u16>,
    ) -> Self {
        Self {
            payload_type,
            name: name.into(),
            clock_rate,
            channels,
            fmtp: FormatParameters::default(),
            feedback: Vec::new(),
            rtx: None,
        }
    }

    /// Opus, 48 kHz, two channels (RFC 7587 section 7).
    pub fn opus(payload_type: u8) -> Self {
        Self::new(payload_type, CodecName::Opus, 48_000, Some(2))
    }

    /// VP8 at 90 kHz.
    pub fn vp8(payload_type: u8) -> Self {
        Self::new(payload_type, CodecName::Vp8, 90_000, None)
    }

    /// VP9 at 90 kHz.
    pub fn vp9(payload_type: u8) -> Self {
        Self::new(payload_type, CodecName::Vp9, 90_000, None)
    }

    /// H.264 at 90 kHz.
    pub fn h264(payload_type: u8) -> Self {
        Self::new(payload_type, CodecName::H264, 90_000, None)
    }

    /// AV1 at 90 kHz.
    pub fn av1(payload_type: u8) -> Self {
        Self::new(payload_type, CodecName::Av1, 90_000, None)
    }

    /// RTX at 90 kHz repairing payload type `apt` (`a=fmtp:<payload_type> apt=<apt>`).
    pub fn rtx(payload_type: u8, apt: u8) -> Self {
        Self::new(payload_type, CodecName::Rtx, 90_000, None).param("apt", apt)
    }

    /// `telephone-event` (RFC 4733) at `clock_rate`, events 0-15.
    pub fn telephone_event(payload_type: u8, clock_rate: u32) -> Self {
        Self::new(payload_type, CodecName::TelephoneEvent, clock_rate, None).fmtp("0-15")
    }

    /// PCMU (static payload type 0).
    pub fn pcmu() -> Self {
        Self::new(0, CodecName::Pcmu, 8000, None)
    }

    /// PCMA (static payload type 8).
    pub fn pcma() -> Self {
        Self::new(8, CodecName::Pcma, 8000, None)
    }

    /// G.722 (static payload type 9; its RTP clock is 8 kHz, RFC 3551).
    pub fn g722() -> Self {
        Self::new(9, CodecName::G722, 8000, None)
    }

    /// With these format parameters (replacing any), as written after the payload type in
    /// `a=fmtp`.
    pub fn fmtp(mut self, fmtp: &str) -> Self {
        self.fmtp = FormatParameters::parse(fmtp);
        self
    }

    /// With format parameter `key` set to `value` (see [`FormatParameters::set`]).
    pub fn param(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.fmtp.set(key, value);
        self
    }

    /// With Opus `minptime` (milliseconds).
    pub fn minptime(self, ms: u16) -> Self {
        self.param("minptime", ms)
    }

    /// With Opus `useinbandfec`.
    pub fn useinbandfec(self, on: bool) -> Self {
        self.param("useinbandfec", u8::from(on))
    }

    /// With Opus `stereo`.
    pub fn stereo(self, on: bool) -> Self {
        self.param("stereo", u8::from(on))
    }

    /// With H.264 `packetization-mode`.
    pub fn packetization_mode(self, mode: u8) -> Self {
        self.param("packetization-mode", mode)
    }

    /// With H.264 `profile-level-id`.
    pub fn profile_level_id(self, id: ProfileLevelId) -> Self {
        self.param("profile-level-id", id)
    }

    /// With H.264 `level-asymmetry-allowed`.
    pub fn level_asymmetry_allowed(self, allowed: bool) -> Self {
        self.param("level-asymmetry-allowed", u8::from(allowed))
    }

    /// With VP9 `profile-id`.
    pub fn profile_id(self, profile: u8) -> Self {
        self.param("profile-id", profile)
    }

    /// With AV1 `profile`.
    pub fn profile(self, profile: u8) -> Self {
        self.param("profile", profile)
    }

    /// With an RTCP feedback.
    pub fn feedback(mut self, fb: Feedback) -> Self {
        self.feedback.push(fb);
        self
    }

    /// Whether this is a retransmission format (`rtx`).
    pub fn is_rtx(&self) -> bool {
        self.name == CodecName::Rtx
    }

    /// For an RTX codec, the payload type it repairs (its `apt` parameter); `None` otherwise.
    pub fn apt(&self) -> Option<u8> {
        if self.is_rtx() { self.fmtp.apt() } else { None }
    }
}
