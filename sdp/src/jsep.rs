//! The JSEP offer/answer model (RFC 9429) over the typed session model.
//!
//! A [`JsepSession`] holds the local transceivers, the data channel wish, the ICE credentials and the
//! m-section layout both sides agreed on. It creates offers ([`JsepSession::create_offer`]) and
//! applies the answer ([`JsepSession::set_remote_answer`]), or answers a remote offer
//! ([`JsepSession::create_answer`]); both return a [`Negotiated`] result the peer connection uses to
//! configure ICE, DTLS, SRTP, RTP and SCTP. There is no I/O and no clock; randomness (ICE credentials,
//! session id) comes from the injected [`RandomSource`].
//!
//! Rules implemented: codec intersection keeping the offerer's payload types (matching name, clock
//! rate, channels and the format parameters that must agree: H.264 profile and packetization mode,
//! RTX by its associated payload type); rtcp-fb and extmap intersection; direction negotiation;
//! BUNDLE and rtcp-mux acceptance (rtcp-mux is required, as in browsers); m-sections with port 0
//! rejected (answered with port 0); the DTLS role (an `actpass` offer is answered `active` by
//! default, or `passive`); `sctp-port` and `max-message-size`; RID-based simulcast; subsequent offers
//! with tracks added and removed, rejected m-sections recycled, ICE restart with new credentials and
//! stable mids.
//!
//! A remote description is untrusted input. Before anything else, negotiation checks it against
//! fixed limits ([`MAX_MEDIA_SECTIONS`], [`MAX_FORMATS`], [`MAX_ATTRIBUTES`], [`MAX_CANDIDATES`],
//! [`MAX_FEEDBACK`], [`MAX_FEEDBACK_LENGTH`], [`MAX_ICE_CREDENTIAL_LENGTH`]) and refuses it with
//! [`NegotiationError::LimitExceeded`] when one is exceeded; within them, the work and the memory of
//! a negotiation are linear in the size of the description. Every accepted m-section must carry (or
//! inherit, from the session level or its BUNDLE group's tagged section) an `a=fingerprint` with a
//! usable hash function ([`FingerprintHash`]) and a digest of its length; only such fingerprints
//! reach [`Negotiated::remote_fingerprints`]. A refused offer or answer leaves the session as it was.
//!
//! ```
//! use sansrtc_sdp::jsep::{Codec, DtlsRole, JsepConfig, JsepSession, MediaKind, Transceiver};
//! use sansrtc_sdp::{Direction, SessionDescription};
//!
//! // Any byte source will do here; a peer connection passes a cryptographic one.
//! let rng = |seed: u8| {
//!     let mut n = seed;
//!     Box::new(move |buf: &mut [u8]| buf.iter_mut().for_each(|b| { n = n.wrapping_mul(167).wrapping_add(13); *b = n; }))
//! };
//! let opus = || vec![Codec::new(111, "opus", 48000, Some(2))];
//!
//! let mut alice = JsepSession::new(JsepConfig::default(), rng(1));
//! alice.add_transceiver(Transceiver::new(MediaKind::Audio, Direction::SendRecv, opus()));
//! alice.add_data_channel();
//! let offer = alice.create_offer().to_sdp_string();
//!
//! let mut bob = JsepSession::new(JsepConfig::default(), rng(2));
//! bob.add_transceiver(Transceiver::new(MediaKind::Audio, Direction::RecvOnly, opus()));
//! let (answer, bob_view) = bob.create_answer(&SessionDescription::parse(&offer)?)?;
//! let alice_view = alice.set_remote_answer(&SessionDescription::parse(&answer.to_sdp_string())?)?;
//!
//! assert_eq!(alice_view.bundle, ["0", "1"]);
//! assert_eq!(alice_view.sections[0].direction, Direction::SendOnly);
//! assert_eq!(bob_view.sections[0].direction, Direction::RecvOnly);
//! assert_eq!((alice_view.dtls_role, bob_view.dtls_role), (DtlsRole::Server, DtlsRole::Client));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, HashSet};
use std::fmt;

use thiserror::Error;

use crate::attributes::{
    AttributeList, CertificateFingerprint, Direction, Extmap, FeedbackPayload, Fingerprint,
    FingerprintHash, Fmtp, Rid, RidDirection, RtcpFb, Rtpmap, Setup, Simulcast, TypedAttribute,
};
use crate::model::{Attribute, Connection, MediaDescription, Origin, SessionDescription};

/// Where random bytes come from (ICE credentials, the session id). Closures qualify.
pub trait RandomSource: Send + CloneRandomSource {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

/// Copies a boxed [`RandomSource`] (so a [`JsepSession`] can be cloned); every
/// `RandomSource + Clone` has it, closures included when what they capture is `Clone`.
pub trait CloneRandomSource {
    /// A boxed copy producing the same sequence as the original.
    fn clone_source(&self) -> Box<dyn RandomSource>;
}

impl<T: RandomSource + Clone + 'static> CloneRandomSource for T {
    fn clone_source(&self) -> Box<dyn RandomSource> {
        Box::new(self.clone())
    }
}

impl Clone for Box<dyn RandomSource> {
    fn clone(&self) -> Self {
        self.clone_source()
    }
}

impl<F: FnMut(&mut [u8]) + Send + Clone + 'static> RandomSource for F {
    fn fill(&mut self, buf: &mut [u8]) {
        self(buf)
    }
}

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

    fn from_media(media: &str) -> Option<Self> {
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

/// A codec: payload type, `rtpmap`, `fmtp` and `rtcp-fb`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// RTP payload type.
    pub payload_type: u8,
    /// Encoding name (`opus`, `VP8`, `rtx`, ...).
    pub name: String,
    /// Clock rate in Hz.
    pub clock_rate: u32,
    /// Audio channels.
    pub channels: Option<u16>,
    /// Format parameters, as written after the payload type in `a=fmtp`.
    pub fmtp: Option<String>,
    /// RTCP feedback.
    pub feedback: Vec<Feedback>,
}

impl Codec {
    /// A codec without format parameters or feedback.
    pub fn new(payload_type: u8, name: &str, clock_rate: u32, channels: Option<u16>) -> Self {
        Self {
            payload_type,
            name: name.into(),
            clock_rate,
            channels,
            fmtp: None,
            feedback: Vec::new(),
        }
    }

    /// With format parameters.
    pub fn fmtp(mut self, fmtp: &str) -> Self {
        self.fmtp = Some(fmtp.into());
        self
    }

    /// With an RTCP feedback.
    pub fn feedback(mut self, fb: Feedback) -> Self {
        self.feedback.push(fb);
        self
    }

    fn is_rtx(&self) -> bool {
        self.name.eq_ignore_ascii_case("rtx")
    }

    fn param(&self, key: &str) -> Option<&str> {
        fmtp_param(self.fmtp.as_deref(), key)
    }
}

fn fmtp_param<'a>(fmtp: Option<&'a str>, key: &str) -> Option<&'a str> {
    fmtp?.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
    })
}

/// An RTP header extension.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// The RID header extension (RFC 8852), without which simulcast layers cannot be told apart.
const RID_URI: &str = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id";

/// Identifies a transceiver of a [`JsepSession`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TransceiverId(pub usize);

/// Fixed local parameters of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsepConfig {
    /// Hash function of the local DTLS certificate fingerprint (`sha-256`).
    pub fingerprint_hash: FingerprintHash,
    /// The local certificate fingerprint.
    pub fingerprint: Vec<u8>,
    /// Role to take when answering an `actpass` offer: [`Setup::Active`] (the JSEP default) or
    /// [`Setup::Passive`].
    pub answer_setup: Setup,
    /// Local SCTP port.
    pub sctp_port: u16,
    /// Largest message the local SCTP stack accepts.
    pub max_message_size: u64,
    /// Advertise `a=ice-options:trickle`.
    pub trickle: bool,
    /// Offer and accept `a=extmap-allow-mixed` (one- and two-byte header extensions mixed, RFC 8285).
    pub extmap_allow_mixed: bool,
}

impl Default for JsepConfig {
    fn default() -> Self {
        Self {
            fingerprint_hash: FingerprintHash::Sha256,
            fingerprint: vec![0; 32],
            answer_setup: Setup::Active,
            sctp_port: 5000,
            max_message_size: 262_144,
            trickle: true,
            extmap_allow_mixed: true,
        }
    }
}

/// ICE username fragment and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceCredentials {
    /// `a=ice-ufrag`.
    pub ufrag: String,
    /// `a=ice-pwd`.
    pub pwd: String,
}

/// Which DTLS side this endpoint plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtlsRole {
    /// Sends the ClientHello (`setup:active`).
    Client,
    /// Waits for it (`setup:passive`).
    Server,
}

/// The negotiated state of one m-section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiatedSection {
    /// The section's mid.
    pub mid: String,
    /// What it carries.
    pub kind: SectionKind,
    /// Rejected (port 0) by either side.
    pub rejected: bool,
    /// The local transceiver bound to it.
    pub transceiver: Option<TransceiverId>,
    /// Direction from the local point of view.
    pub direction: Direction,
    /// Codecs both sides accept, with the offerer's payload types, in the answer's order.
    pub codecs: Vec<Codec>,
    /// Header extensions both sides accept, with the offerer's ids.
    pub header_extensions: Vec<HeaderExtension>,
    /// RIDs the remote side sends (simulcast layers we receive).
    pub recv_rids: Vec<String>,
    /// RIDs we send.
    pub send_rids: Vec<String>,
    /// Remote ICE credentials for this section.
    pub remote_ice: Option<IceCredentials>,
    /// Remote candidates (attribute values) found in the description.
    pub remote_candidates: Vec<String>,
    /// Remote SCTP port (data sections).
    pub remote_sctp_port: Option<u16>,
    /// Remote max message size (data sections; 65536 when absent, RFC 8841).
    pub remote_max_message_size: Option<u64>,
    /// SSRCs the remote side announced with `a=ssrc`, in order of first appearance.
    pub remote_ssrcs: Vec<u32>,
    /// Remote `a=ssrc-group:FID` pairs: `(media, rtx)`.
    pub remote_rtx_ssrcs: Vec<(u32, u32)>,
}

/// The outcome of an offer/answer exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Every m-section in order.
    pub sections: Vec<NegotiatedSection>,
    /// The mids of the accepted BUNDLE group, the tagged one first (empty: no bundling).
    pub bundle: Vec<String>,
    /// Our DTLS role.
    pub dtls_role: DtlsRole,
    /// Remote certificate fingerprints: those of the first accepted m-section's transport whose
    /// hash function is usable, each with a digest of its length (never empty when a section was
    /// accepted; fingerprints with other hash functions are left out).
    pub remote_fingerprints: Vec<CertificateFingerprint>,
    /// The remote side uses ICE lite.
    pub remote_ice_lite: bool,
    /// The remote side restarted ICE (new credentials) in this exchange, or we did.
    pub ice_restart: bool,
    /// Both sides allow mixing one- and two-byte header extensions.
    pub extmap_allow_mixed: bool,
}

/// Why an offer or answer cannot be accepted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
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
    /// Two m-sections share a mid.
    #[error("duplicate mid {0:?}")]
    DuplicateMid(String),
    /// The answer changed a section's mid.
    #[error("m-section {index} answered with mid {found:?} for {expected:?}")]
    MidMismatch {
        /// 0-based index of the section.
        index: usize,
        /// The offered mid.
        expected: String,
        /// The answered mid.
        found: String,
    },
    /// An m-section was re-offered with another media kind.
    #[error("mid {0:?} changed its media kind")]
    KindChanged(String),
    /// An accepted section lacks ICE credentials.
    #[error("mid {0:?} has no ice-ufrag/ice-pwd")]
    MissingIceCredentials(String),
    /// An accepted section lacks a DTLS fingerprint.
    #[error("mid {0:?} has no fingerprint")]
    MissingFingerprint(String),
    /// An accepted section has `a=fingerprint` lines (its own, or inherited from the session level
    /// or its BUNDLE transport) but none with a usable hash function ([`FingerprintHash`]: sha-1,
    /// sha-224, sha-256, sha-384, sha-512) and a digest of that function's length: `md5`, an
    /// unknown name or a truncated digest cannot authenticate the DTLS peer.
    #[error("mid {0:?} has no fingerprint with a usable hash function and digest length")]
    NoUsableFingerprint(String),
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
        mid: String,
        /// The received setup value (or `none`).
        setup: &'static str,
        /// `offer` or `answer`.
        context: &'static str,
    },
    /// An RTP section without `a=rtcp-mux` (required, as in browsers).
    #[error("mid {0:?} does not offer rtcp-mux, which is required")]
    RtcpMuxRequired(String),
    /// The answer selected a payload type that was not offered.
    #[error("mid {mid:?} answered payload type {payload_type}, which was not offered")]
    UnknownPayloadType {
        /// The section's mid.
        mid: String,
        /// The unexpected payload type.
        payload_type: u8,
    },
    /// The answer accepted a section with no codec.
    #[error("mid {0:?} was accepted without any codec")]
    NoCodec(String),
}

fn in_section(section: &Option<usize>) -> String {
    section.map_or_else(String::new, |i| format!(" (m-section {i})"))
}

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

    fn exceeded(self, section: Option<usize>) -> NegotiationError {
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
fn check_limits(sd: &SessionDescription<'_>) -> Result<(), NegotiationError> {
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

/// What negotiation reads from a remote description, looked up once instead of once per section:
/// the session-level values sections inherit, each section's mid and the BUNDLE group.
struct Remote<'s, 'd> {
    sd: &'s SessionDescription<'d>,
    /// Each section's `a=mid`.
    mids: Vec<Option<&'s str>>,
    /// The first BUNDLE group's mids, in order, each once.
    bundle: Vec<&'s str>,
    bundle_set: HashSet<&'s str>,
    /// The section carrying the BUNDLE transport: the first with the group's first mid and a
    /// port other than 0.
    tag: Option<usize>,
    ice_ufrag: Option<&'s str>,
    ice_pwd: Option<&'s str>,
    setup: Option<Setup>,
}

/// The transport of an accepted remote m-section.
struct RemoteTransport {
    ice: IceCredentials,
    fingerprints: Vec<CertificateFingerprint>,
    /// The section's `a=setup`, else its transport's, else the session's.
    setup: Option<Setup>,
    rtcp_mux: bool,
}

impl<'s, 'd> Remote<'s, 'd> {
    fn new(sd: &'s SessionDescription<'d>) -> Self {
        let mids: Vec<Option<&'s str>> = sd.media.iter().map(|m| m.mid()).collect();
        let mut bundle = Vec::new();
        let mut bundle_set = HashSet::new();
        for mid in sd.bundle_group().iter().flat_map(|g| g.mids()) {
            if bundle_set.insert(mid) {
                bundle.push(mid);
            }
        }
        let tag = bundle.first().and_then(|&tag| {
            (0..sd.media.len()).find(|&i| mids[i] == Some(tag) && sd.media[i].port != 0)
        });
        Self {
            sd,
            mids,
            bundle,
            bundle_set,
            tag,
            ice_ufrag: sd.ice_ufrag(),
            ice_pwd: sd.ice_pwd(),
            setup: sd.setup(),
        }
    }

    fn in_bundle(&self, mid: &str) -> bool {
        self.bundle_set.contains(mid)
    }

    /// The section carrying section `index`'s transport: itself, or, when it is bundled without ICE
    /// credentials or a fingerprint of its own, the BUNDLE group's tagged section. RFC 8843 puts
    /// the transport attributes only in the tagged section of an answer, of a subsequent offer,
    /// and never in a `bundle-only` section (RFC 9429 section 7.2's example).
    fn transport_index(&self, index: usize) -> usize {
        let m = &self.sd.media[index];
        if m.ice_ufrag().is_some() || m.has("fingerprint") {
            return index;
        }
        match self.mids[index] {
            Some(mid) if self.in_bundle(mid) => self.tag.unwrap_or(index),
            _ => index,
        }
    }

    /// Section `index`'s ICE credentials, inheriting the session level's.
    fn ice(&self, index: usize) -> Result<Option<IceCredentials>, NegotiationError> {
        let m = &self.sd.media[index];
        let ufrag = m.ice_ufrag().or(self.ice_ufrag);
        let pwd = m.ice_pwd().or(self.ice_pwd);
        let (Some(ufrag), Some(pwd)) = (ufrag, pwd) else {
            return Ok(None);
        };
        if ufrag.len().max(pwd.len()) > MAX_ICE_CREDENTIAL_LENGTH {
            return Err(NegotiationLimit::IceCredentialLength.exceeded(Some(index)));
        }
        Ok(Some(IceCredentials {
            ufrag: ufrag.into(),
            pwd: pwd.into(),
        }))
    }

    /// The usable fingerprints of the transport in section `index`: its own `a=fingerprint` lines
    /// when it has any (they override the session level's, RFC 8122 section 5), else the session
    /// level's.
    fn fingerprints(
        &self,
        index: usize,
        mid: &str,
    ) -> Result<Vec<CertificateFingerprint>, NegotiationError> {
        let m = &self.sd.media[index];
        let lines: &[crate::model::Attribute<'_>] = if m.has("fingerprint") {
            &m.attributes
        } else {
            &self.sd.attributes
        };
        let mut present = false;
        let mut usable = Vec::new();
        for value in lines.values("fingerprint") {
            present = true;
            if let Some(f) = CertificateFingerprint::from_attribute(value) {
                usable.push(f);
            }
        }
        if !present {
            return Err(NegotiationError::MissingFingerprint(mid.into()));
        }
        if usable.is_empty() {
            return Err(NegotiationError::NoUsableFingerprint(mid.into()));
        }
        Ok(usable)
    }

    /// The transport of section `index`, which is accepted: refused without ICE credentials or a
    /// usable fingerprint.
    fn transport(&self, index: usize, mid: &str) -> Result<RemoteTransport, NegotiationError> {
        let t = self.transport_index(index);
        let ice = self
            .ice(t)?
            .ok_or_else(|| NegotiationError::MissingIceCredentials(mid.into()))?;
        let fingerprints = self.fingerprints(t, mid)?;
        let (m, tm) = (&self.sd.media[index], &self.sd.media[t]);
        Ok(RemoteTransport {
            ice,
            fingerprints,
            setup: m.setup().or_else(|| tm.setup()).or(self.setup),
            rtcp_mux: m.rtcp_mux() || tm.rtcp_mux(),
        })
    }
}

#[derive(Debug, Clone)]
struct Section {
    mid: String,
    kind: SectionKind,
    transceiver: Option<usize>,
    /// Rejected in the last completed negotiation.
    rejected: bool,
    /// Proto and formats of a section we only answer (kept to answer with port 0).
    proto: String,
    media: String,
}

#[derive(Debug, Clone)]
struct PendingOffer {
    sections: Vec<Section>,
    ice_restart: bool,
}

/// The JSEP state of one peer connection.
#[derive(Clone)]
pub struct JsepSession {
    config: JsepConfig,
    rng: Box<dyn RandomSource>,
    transceivers: Vec<Transceiver>,
    data_channel: bool,
    sections: Vec<Section>,
    /// The next numeric mid to hand out: above every numeric mid (up to `u32::MAX`) the remote
    /// chose, so a `u64` never overflows.
    next_mid: u64,
    session_id: u64,
    version: u64,
    ice: IceCredentials,
    ice_restart_pending: bool,
    remote_ufrag: Option<String>,
    pending: Option<PendingOffer>,
    /// The DTLS role of the established association, kept across renegotiations (RFC 8842).
    dtls_role: Option<DtlsRole>,
}

impl std::fmt::Debug for JsepSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsepSession")
            .field("transceivers", &self.transceivers)
            .field("data_channel", &self.data_channel)
            .field("sections", &self.sections)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

const ICE_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_string(rng: &mut dyn RandomSource, len: usize) -> String {
    let mut buf = vec![0u8; len];
    rng.fill(&mut buf);
    buf.iter()
        .map(|b| ICE_CHARS[usize::from(b & 63)] as char)
        .collect()
}

fn new_credentials(rng: &mut dyn RandomSource) -> IceCredentials {
    IceCredentials {
        ufrag: random_string(rng, 8),
        pwd: random_string(rng, 24),
    }
}

fn section_kind(m: &MediaDescription<'_>) -> SectionKind {
    if let Some(k) = MediaKind::from_media(&m.media) {
        if m.proto.contains("RTP") {
            return SectionKind::Media(k);
        }
    }
    if m.media.eq_ignore_ascii_case("application") && m.proto.contains("SCTP") {
        return SectionKind::Data;
    }
    SectionKind::Unsupported
}

/// What must agree for an offered and a local codec to be the same codec in negotiation, computed
/// once per codec: the encoding name (lower case), clock rate, channels (1 when absent) and the
/// format parameters that must agree (H.264 packetization mode and profile, the first four hex
/// digits of `profile-level-id`; VP9 `profile-id`; AV1 `profile`).
#[derive(Debug, PartialEq, Eq, Hash)]
struct CodecKey {
    name: String,
    clock_rate: u32,
    channels: u16,
    params: Option<(String, String)>,
}

impl CodecKey {
    fn of(c: &Codec) -> Self {
        let name = c.name.to_ascii_lowercase();
        let params = match name.as_str() {
            "h264" => {
                let mode = c.param("packetization-mode").unwrap_or("0").to_string();
                let profile = c
                    .param("profile-level-id")
                    .map(|p| p.get(..4).unwrap_or(p).to_ascii_lowercase())
                    .unwrap_or_else(|| "4200".into());
                Some((mode, profile))
            }
            "vp9" => Some((
                c.param("profile-id").unwrap_or("0").to_string(),
                String::new(),
            )),
            "av1" => Some((c.param("profile").unwrap_or("0").to_string(), String::new())),
            _ => None,
        };
        Self {
            name,
            clock_rate: c.clock_rate,
            channels: c.channels.unwrap_or(1),
            params,
        }
    }
}

/// A feedback type and parameter in lower case: equal keys are [`Feedback::same`].
#[derive(Debug, PartialEq, Eq, Hash)]
struct FeedbackKey(String, Option<String>);

impl FeedbackKey {
    fn of(f: &Feedback) -> Self {
        Self(
            f.kind.to_ascii_lowercase(),
            f.parameter.as_deref().map(str::to_ascii_lowercase),
        )
    }
}

/// The `rtpmap`, `fmtp` and `rtcp-fb` lines of one m-section, indexed by payload type in one pass
/// over its attributes, so that reading its codecs is linear in its size rather than a scan of
/// every attribute per payload type. The first `rtpmap` and `fmtp` of a payload type count, as
/// with [`AttributeList::rtpmap`] and [`AttributeList::fmtp`].
struct CodecLines<'a> {
    rtpmap: Vec<Option<Rtpmap<'a>>>,
    fmtp: Vec<Option<&'a str>>,
    /// `rtcp-fb` lines grouped by payload type, then the `*` ones (group 256), each group in line
    /// order with its line's index: group `g` is `feedback[start[g]..start[g + 1]]`.
    feedback: Vec<(usize, RtcpFb<'a>)>,
    start: Vec<usize>,
}

const ALL_PAYLOADS: usize = 256;

impl<'a> CodecLines<'a> {
    fn new(m: &'a MediaDescription<'_>) -> Self {
        let mut rtpmap = vec![None; 256];
        let mut fmtp = vec![None; 256];
        let mut feedback: Vec<(usize, usize, RtcpFb<'a>)> = Vec::new();
        for (line, a) in m.attributes.iter().enumerate() {
            let Some(value) = a.value.as_deref() else {
                continue;
            };
            if a.is("rtpmap") {
                if let Ok(r) = Rtpmap::parse(value) {
                    rtpmap[usize::from(r.payload_type)].get_or_insert(r);
                }
            } else if a.is("fmtp") {
                if let Ok(f) = Fmtp::parse(value) {
                    if let Some(pt) = f.payload_type() {
                        fmtp[usize::from(pt)].get_or_insert(f.parameters);
                    }
                }
            } else if a.is("rtcp-fb") {
                if let Ok(fb) = RtcpFb::parse(value) {
                    let group = match fb.payload {
                        FeedbackPayload::Pt(pt) => usize::from(pt),
                        FeedbackPayload::All => ALL_PAYLOADS,
                    };
                    feedback.push((group, line, fb));
                }
            }
        }
        // Stable: each group stays in line order.
        feedback.sort_by_key(|&(group, _, _)| group);
        let mut start = vec![0; ALL_PAYLOADS + 2];
        for &(group, _, _) in &feedback {
            start[group + 1] += 1;
        }
        for g in 1..start.len() {
            start[g] += start[g - 1];
        }
        Self {
            rtpmap,
            fmtp,
            feedback: feedback.into_iter().map(|(_, l, f)| (l, f)).collect(),
            start,
        }
    }

    fn group(&self, g: usize) -> &[(usize, RtcpFb<'a>)] {
        &self.feedback[self.start[g]..self.start[g + 1]]
    }

    /// The feedback of payload type `pt`: its own lines and the `*` ones, in line order.
    fn feedback(&self, pt: u8) -> Vec<Feedback> {
        let (own, all) = (self.group(usize::from(pt)), self.group(ALL_PAYLOADS));
        let mut out = Vec::with_capacity(own.len() + all.len());
        let (mut i, mut j) = (0, 0);
        while i < own.len() || j < all.len() {
            let fb = if j == all.len() || (i < own.len() && own[i].0 < all[j].0) {
                i += 1;
                &own[i - 1].1
            } else {
                j += 1;
                &all[j - 1].1
            };
            out.push(Feedback {
                kind: fb.kind.into(),
                parameter: fb.parameter.map(Into::into),
            });
        }
        out
    }
}

/// Reads the codecs of an RTP m-section in `m=` order (a payload type listed twice is read once).
/// Linear in the section's size: its attributes are indexed once ([`CodecLines`]).
fn read_codecs(m: &MediaDescription<'_>) -> Vec<Codec> {
    let lines = CodecLines::new(m);
    let mut seen = [false; 256];
    let mut out = Vec::with_capacity(m.formats.len().min(MAX_FORMATS));
    for f in &m.formats {
        let Ok(pt) = f.parse::<u8>() else { continue };
        if std::mem::replace(&mut seen[usize::from(pt)], true) {
            continue;
        }
        let (name, clock_rate, channels) = match lines.rtpmap[usize::from(pt)] {
            Some(r) => (r.encoding.to_string(), r.clock_rate, r.channels),
            None => match static_payload(pt) {
                Some((n, c, ch)) => (n.to_string(), c, ch),
                None => continue,
            },
        };
        let fmtp = lines.fmtp[usize::from(pt)]
            .filter(|p| !p.is_empty())
            .map(String::from);
        out.push(Codec {
            payload_type: pt,
            name,
            clock_rate,
            channels,
            fmtp,
            feedback: lines.feedback(pt),
        });
    }
    out
}

fn static_payload(pt: u8) -> Option<(&'static str, u32, Option<u16>)> {
    match pt {
        0 => Some(("PCMU", 8000, None)),
        8 => Some(("PCMA", 8000, None)),
        9 => Some(("G722", 8000, None)),
        13 => Some(("CN", 8000, None)),
        _ => None,
    }
}

/// Intersects offered codecs with local ones, keeping the offerer's payload types and order.
/// Linear in both lists: local codecs are looked up by [`CodecKey`].
fn intersect_codecs(offered: &[Codec], local: &[Codec]) -> Vec<Codec> {
    // The first local codec of each key, as a search in preference order would find, with its
    // feedback as a set (lower case) so that filtering the offered feedback is linear too.
    let mut by_key: HashMap<CodecKey, (&Codec, HashSet<FeedbackKey>)> = HashMap::new();
    for l in local.iter().filter(|l| !l.is_rtx()) {
        by_key
            .entry(CodecKey::of(l))
            .or_insert_with(|| (l, l.feedback.iter().map(FeedbackKey::of).collect()));
    }
    let mut accepted: Vec<Option<Codec>> = vec![None; offered.len()];
    let mut accepted_pt = [false; 256];
    for (slot, o) in accepted.iter_mut().zip(offered) {
        if o.is_rtx() {
            continue;
        }
        if let Some((l, local_feedback)) = by_key.get(&CodecKey::of(o)) {
            let feedback = o
                .feedback
                .iter()
                .filter(|f| local_feedback.contains(&FeedbackKey::of(f)))
                .cloned()
                .collect();
            let fmtp = l.fmtp.clone().or_else(|| o.fmtp.clone());
            accepted_pt[usize::from(o.payload_type)] = true;
            *slot = Some(Codec {
                payload_type: o.payload_type,
                name: o.name.clone(),
                fmtp,
                feedback,
                ..o.clone()
            });
        }
    }
    // RTX follows its associated payload type.
    if local.iter().any(Codec::is_rtx) {
        for (slot, o) in accepted.iter_mut().zip(offered) {
            if !o.is_rtx() {
                continue;
            }
            let apt = o.param("apt").and_then(|a| a.parse::<u8>().ok());
            if apt.is_some_and(|apt| accepted_pt[usize::from(apt)]) {
                *slot = Some(Codec {
                    feedback: Vec::new(),
                    ..o.clone()
                });
            }
        }
    }
    // In the offer's order.
    accepted.into_iter().flatten().collect()
}

fn remote_ssrcs(m: &MediaDescription<'_>) -> (Vec<u32>, Vec<(u32, u32)>) {
    let mut seen = std::collections::HashSet::new();
    let ssrcs: Vec<u32> = m
        .ssrcs()
        .map(|s| s.ssrc)
        .filter(|s| seen.insert(*s))
        .collect();
    let rtx = m
        .ssrc_groups()
        .filter(|g| g.semantics.eq_ignore_ascii_case("FID"))
        .filter_map(|g| {
            let mut it = g.ssrcs();
            Some((it.next()?, it.next()?))
        })
        .collect();
    (ssrcs, rtx)
}

fn setup_name(s: Option<Setup>) -> &'static str {
    s.map_or("none", Setup::as_str)
}

/// The offerer's simulcast send layers: the first alternative of each stream of `sim`, when an
/// `a=rid` with direction `send` declares it, each once.
fn offered_send_layers(m: &MediaDescription<'_>, sim: &Simulcast<'_>) -> Vec<String> {
    let declared: HashSet<&str> = m
        .rids()
        .filter(|r| r.direction == RidDirection::Send)
        .map(|r| r.id)
        .collect();
    let mut seen = HashSet::new();
    sim.send_streams()
        .iter()
        .filter_map(|alts| alts.first().map(|r| r.id))
        .filter(|id| declared.contains(id) && seen.insert(*id))
        .map(String::from)
        .collect()
}

fn rids(m: &MediaDescription<'_>, direction: RidDirection) -> Vec<String> {
    m.rids()
        .filter(|r| r.direction == direction)
        .map(|r| r.id.to_string())
        .collect()
}

impl JsepSession {
    /// A session with `config`, drawing ICE credentials and the session id from `rng`.
    pub fn new(config: JsepConfig, mut rng: Box<dyn RandomSource>) -> Self {
        let mut id = [0u8; 8];
        rng.fill(&mut id);
        let ice = new_credentials(rng.as_mut());
        Self {
            config,
            rng,
            transceivers: Vec::new(),
            data_channel: false,
            sections: Vec::new(),
            next_mid: 0,
            // Keep the id below 2^62, as browsers do, so it never looks negative to signed parsers.
            session_id: u64::from_be_bytes(id) >> 2,
            version: 1,
            ice,
            ice_restart_pending: false,
            remote_ufrag: None,
            pending: None,
            dtls_role: None,
        }
    }

    /// Adds a transceiver; it appears in the next offer (or takes a matching m-section of the next
    /// remote offer).
    pub fn add_transceiver(&mut self, transceiver: Transceiver) -> TransceiverId {
        self.transceivers.push(transceiver);
        TransceiverId(self.transceivers.len() - 1)
    }

    /// The transceiver, to change its direction (removing a track = no longer sending) or stop it.
    pub fn transceiver_mut(&mut self, id: TransceiverId) -> Option<&mut Transceiver> {
        self.transceivers.get_mut(id.0)
    }

    /// The transceiver.
    pub fn transceiver(&self, id: TransceiverId) -> Option<&Transceiver> {
        self.transceivers.get(id.0)
    }

    /// Asks for an SCTP data channel section in the next offer.
    pub fn add_data_channel(&mut self) {
        self.data_channel = true;
    }

    /// The configuration this session was made with.
    pub fn config(&self) -> &JsepConfig {
        &self.config
    }

    /// Whether offers carry a data channel section (asked for with
    /// [`JsepSession::add_data_channel`] or accepted from a remote offer).
    pub fn has_data_channel(&self) -> bool {
        self.data_channel
    }

    /// The local ICE credentials.
    pub fn local_ice(&self) -> &IceCredentials {
        &self.ice
    }

    /// Discards the pending local offer (JSEP rollback, RFC 9429 4.1.10.2): the session is back
    /// to the last negotiated state, e.g. to answer the peer's offer after a glare.
    pub fn rollback(&mut self) {
        self.pending = None;
    }

    /// Whether a local offer is waiting for its answer (`have-local-offer`).
    pub fn has_pending_offer(&self) -> bool {
        self.pending.is_some()
    }

    /// Restarts ICE: the next offer carries new credentials.
    pub fn restart_ice(&mut self) {
        self.ice = new_credentials(self.rng.as_mut());
        self.ice_restart_pending = true;
    }

    /// The mid of each m-section, in order, as last negotiated or offered.
    pub fn mids(&self) -> Vec<&str> {
        self.sections.iter().map(|s| s.mid.as_str()).collect()
    }

    fn fresh_mid(&mut self) -> String {
        loop {
            let mid = self.next_mid.to_string();
            self.next_mid += 1;
            if !self.sections.iter().any(|s| s.mid == mid) {
                return mid;
            }
        }
    }

    fn origin(&mut self) -> Origin<'static> {
        self.version += 1;
        Origin {
            username: "-".into(),
            session_id: self.session_id,
            session_version: self.version,
            nettype: "IN".into(),
            addrtype: "IP4".into(),
            address: "127.0.0.1".into(),
        }
    }

    /// Creates an offer from the local transceivers and data channel (RFC 9429 section 5.2).
    ///
    /// Existing m-sections keep their order and mids; stopped transceivers are offered with port 0;
    /// new transceivers first take m-sections rejected in the last negotiation (with a new mid), then
    /// get new sections at the end.
    pub fn create_offer(&mut self) -> SessionDescription<'static> {
        let mut sections = self.sections.clone();
        // Bind unbound, unstopped transceivers: recycle rejected sections, else append.
        for t in 0..self.transceivers.len() {
            if self.transceivers[t].stopped || sections.iter().any(|s| s.transceiver == Some(t)) {
                continue;
            }
            let kind = SectionKind::Media(self.transceivers[t].kind);
            let mid = self.fresh_mid_excluding(&sections);
            let recycled = sections
                .iter_mut()
                .find(|s| s.rejected && s.transceiver.is_none_or(|x| self.transceivers[x].stopped));
            let section = Section {
                mid,
                kind,
                transceiver: Some(t),
                rejected: false,
                proto: "UDP/TLS/RTP/SAVPF".into(),
                media: self.transceivers[t].kind.as_str().into(),
            };
            match recycled {
                Some(slot) => *slot = section,
                None => sections.push(section),
            }
        }
        if self.data_channel
            && !sections
                .iter()
                .any(|s| s.kind == SectionKind::Data && !s.rejected)
        {
            let mid = self.fresh_mid_excluding(&sections);
            let section = Section {
                mid,
                kind: SectionKind::Data,
                transceiver: None,
                rejected: false,
                proto: "UDP/DTLS/SCTP".into(),
                media: "application".into(),
            };
            let recyclable = |s: &Section| {
                s.rejected && s.transceiver.is_none_or(|t| self.transceivers[t].stopped)
            };
            match sections.iter_mut().find(|s| recyclable(s)) {
                Some(slot) => *slot = section,
                None => sections.push(section),
            }
        }

        let mut sd = SessionDescription::new(self.origin());
        let active: Vec<&str> = sections
            .iter()
            .filter(|s| !self.section_stopped(s) && !s.rejected)
            .map(|s| s.mid.as_str())
            .collect();
        if !active.is_empty() {
            sd.attributes.push(Attribute::new(
                "group",
                format!("BUNDLE {}", active.join(" ")),
            ));
        }
        sd.attributes.push(Attribute::new("msid-semantic", "WMS *"));
        if self.config.extmap_allow_mixed {
            sd.attributes.push(Attribute::flag("extmap-allow-mixed"));
        }
        for s in &sections {
            let m = if s.rejected || self.section_stopped(s) {
                self.rejected_section(s)
            } else {
                match s.kind {
                    SectionKind::Media(_) => {
                        let t = &self.transceivers
                            [s.transceiver.expect("media sections have a transceiver")];
                        self.media_section(
                            s,
                            Setup::ActPass,
                            t.direction,
                            &t.codecs,
                            &t.header_extensions,
                            (&t.send_rids, &[]),
                            t,
                        )
                    }
                    SectionKind::Data => self.data_section(s, Setup::ActPass),
                    SectionKind::Unsupported => self.rejected_section(s),
                }
            };
            sd.media.push(m);
        }
        self.pending = Some(PendingOffer {
            sections,
            ice_restart: self.ice_restart_pending,
        });
        sd
    }

    fn fresh_mid_excluding(&mut self, sections: &[Section]) -> String {
        loop {
            let mid = self.fresh_mid();
            if !sections.iter().any(|s| s.mid == mid) {
                return mid;
            }
        }
    }

    fn section_stopped(&self, s: &Section) -> bool {
        s.transceiver.is_some_and(|t| self.transceivers[t].stopped)
    }

    fn common_lines(&self, m: &mut MediaDescription<'static>, s: &Section, setup: Setup) {
        m.connections.push(Connection {
            nettype: "IN".into(),
            addrtype: "IP4".into(),
            address: "0.0.0.0".into(),
            ttl: None,
            num_addresses: None,
        });
        m.attributes
            .push(Attribute::new("ice-ufrag", self.ice.ufrag.clone()));
        m.attributes
            .push(Attribute::new("ice-pwd", self.ice.pwd.clone()));
        if self.config.trickle {
            m.attributes.push(Attribute::new("ice-options", "trickle"));
        }
        let fp = format!(
            "{} {}",
            self.config.fingerprint_hash.name(),
            Fingerprint::format_digest(&self.config.fingerprint)
        );
        m.attributes.push(Attribute::new("fingerprint", fp));
        m.attributes.push(setup.to_attribute());
        m.attributes.push(Attribute::new("mid", s.mid.clone()));
    }

    #[allow(clippy::too_many_arguments)]
    fn media_section(
        &self,
        s: &Section,
        setup: Setup,
        direction: Direction,
        codecs: &[Codec],
        extensions: &[HeaderExtension],
        (send_rids, recv_rids): (&[String], &[String]),
        t: &Transceiver,
    ) -> MediaDescription<'static> {
        let formats = codecs
            .iter()
            .map(|c| c.payload_type.to_string().into())
            .collect();
        let mut m = MediaDescription::new(s.media.clone(), 9, "UDP/TLS/RTP/SAVPF", formats);
        self.common_lines(&mut m, s, setup);
        m.attributes
            .push(Attribute::new("rtcp", "9 IN IP4 0.0.0.0"));
        for e in extensions {
            m.attributes.push(
                Extmap {
                    id: e.id,
                    direction: None,
                    uri: &e.uri,
                    attributes: None,
                }
                .to_attribute(),
            );
        }
        m.attributes.push(Attribute::flag(direction.as_str()));
        if direction.sends() {
            let (stream, track) = t
                .msid
                .clone()
                .unwrap_or_else(|| ("-".into(), format!("track-{}", s.mid)));
            m.attributes
                .push(Attribute::new("msid", format!("{stream} {track}")));
        }
        m.attributes.push(Attribute::flag("rtcp-mux"));
        m.attributes.push(Attribute::flag("rtcp-rsize"));
        for c in codecs {
            let rtpmap = Rtpmap {
                payload_type: c.payload_type,
                encoding: &c.name,
                clock_rate: c.clock_rate,
                channels: c.channels,
            };
            m.attributes.push(rtpmap.to_attribute());
            for f in &c.feedback {
                let fb = RtcpFb {
                    payload: FeedbackPayload::Pt(c.payload_type),
                    kind: &f.kind,
                    parameter: f.parameter.as_deref(),
                };
                m.attributes.push(fb.to_attribute());
            }
            if let Some(p) = &c.fmtp {
                m.attributes
                    .push(Attribute::new("fmtp", format!("{} {p}", c.payload_type)));
            }
        }
        let (rid_dir, list) = if !send_rids.is_empty() && direction.sends() {
            (RidDirection::Send, send_rids)
        } else {
            (RidDirection::Recv, recv_rids)
        };
        if !list.is_empty() {
            for r in list {
                m.attributes.push(
                    Rid {
                        id: r,
                        direction: rid_dir,
                        restrictions: None,
                    }
                    .to_attribute(),
                );
            }
            let joined = list.join(";");
            let sim = match rid_dir {
                RidDirection::Send => Simulcast {
                    send: Some(&joined),
                    recv: None,
                    recv_first: false,
                },
                RidDirection::Recv => Simulcast {
                    send: None,
                    recv: Some(&joined),
                    recv_first: true,
                },
            };
            m.attributes.push(sim.to_attribute());
        }
        if let (Some((ssrc, rtx)), true) = (t.send_ssrcs, direction.sends()) {
            if let Some(rtx) = rtx {
                m.attributes
                    .push(Attribute::new("ssrc-group", format!("FID {ssrc} {rtx}")));
            }
            let cname = t.cname.as_deref().unwrap_or("sansrtc");
            for s in std::iter::once(ssrc).chain(rtx) {
                m.attributes
                    .push(Attribute::new("ssrc", format!("{s} cname:{cname}")));
                if let Some((stream, track)) = &t.msid {
                    m.attributes
                        .push(Attribute::new("ssrc", format!("{s} msid:{stream} {track}")));
                }
            }
        }
        m
    }

    fn data_section(&self, s: &Section, setup: Setup) -> MediaDescription<'static> {
        let legacy = s.proto.eq_ignore_ascii_case("DTLS/SCTP");
        let format = if legacy {
            self.config.sctp_port.to_string()
        } else {
            "webrtc-datachannel".to_string()
        };
        let mut m = MediaDescription::new("application", 9, s.proto.clone(), vec![format.into()]);
        self.common_lines(&mut m, s, setup);
        if legacy {
            m.attributes.push(Attribute::new(
                "sctpmap",
                format!("{} webrtc-datachannel 1024", self.config.sctp_port),
            ));
        } else {
            m.attributes.push(Attribute::new(
                "sctp-port",
                self.config.sctp_port.to_string(),
            ));
        }
        m.attributes.push(Attribute::new(
            "max-message-size",
            self.config.max_message_size.to_string(),
        ));
        m
    }

    fn rejected_section(&self, s: &Section) -> MediaDescription<'static> {
        let format = match s.kind {
            SectionKind::Data => "webrtc-datachannel".to_string(),
            SectionKind::Media(_) => s
                .transceiver
                .and_then(|t| self.transceivers[t].codecs.first())
                .map_or_else(|| "0".to_string(), |c| c.payload_type.to_string()),
            SectionKind::Unsupported => "0".to_string(),
        };
        let mut m = MediaDescription::new(s.media.clone(), 0, s.proto.clone(), vec![format.into()]);
        m.connections.push(Connection {
            nettype: "IN".into(),
            addrtype: "IP4".into(),
            address: "0.0.0.0".into(),
            ttl: None,
            num_addresses: None,
        });
        m.attributes.push(Attribute::new("mid", s.mid.clone()));
        if s.kind != SectionKind::Data {
            m.attributes.push(Attribute::flag("inactive"));
        }
        m
    }

    /// Applies the remote answer to the pending local offer. An answer that cannot be accepted
    /// changes nothing (the offer stays pending).
    pub fn set_remote_answer(
        &mut self,
        answer: &SessionDescription<'_>,
    ) -> Result<Negotiated, NegotiationError> {
        let pending = self
            .pending
            .as_ref()
            .ok_or(NegotiationError::NoPendingOffer)?;
        if pending.sections.len() != answer.media.len() {
            return Err(NegotiationError::SectionCount {
                offered: pending.sections.len(),
                answered: answer.media.len(),
            });
        }
        check_limits(answer)?;
        let remote = Remote::new(answer);
        // Exact capacity: the result is kept for the connection's lifetime.
        let mut out = Vec::with_capacity(answer.media.len());
        let mut fingerprints = Vec::new();
        let mut role = None;
        let mut sections = pending.sections.clone();
        for (index, (s, m)) in sections.iter_mut().zip(&answer.media).enumerate() {
            let found = remote.mids[index].ok_or(NegotiationError::MissingMid { index })?;
            if found != s.mid {
                return Err(NegotiationError::MidMismatch {
                    index,
                    expected: s.mid.clone(),
                    found: found.into(),
                });
            }
            let offered_rejected = s.rejected || self.section_stopped(s);
            let rejected = offered_rejected || m.port == 0 && !m.bundle_only();
            s.rejected = rejected;
            let mut n = NegotiatedSection {
                mid: s.mid.clone(),
                kind: s.kind,
                rejected,
                transceiver: s.transceiver.map(TransceiverId),
                direction: Direction::Inactive,
                codecs: Vec::new(),
                header_extensions: Vec::new(),
                recv_rids: Vec::new(),
                send_rids: Vec::new(),
                remote_ice: None,
                remote_candidates: Vec::new(),
                remote_sctp_port: None,
                remote_max_message_size: None,
                remote_ssrcs: Vec::new(),
                remote_rtx_ssrcs: Vec::new(),
            };
            if rejected {
                out.push(n);
                continue;
            }
            let transport = remote.transport(index, &s.mid)?;
            n.remote_ice = Some(transport.ice);
            n.remote_candidates = m.values("candidate").map(String::from).collect();
            (n.remote_ssrcs, n.remote_rtx_ssrcs) = remote_ssrcs(m);
            if fingerprints.is_empty() {
                fingerprints = transport.fingerprints;
            }
            let this_role = match transport.setup {
                Some(Setup::Active) => DtlsRole::Server,
                Some(Setup::Passive) => DtlsRole::Client,
                other => {
                    return Err(NegotiationError::BadSetup {
                        mid: s.mid.clone(),
                        setup: setup_name(other),
                        context: "answer",
                    });
                }
            };
            role.get_or_insert(this_role);
            match s.kind {
                SectionKind::Media(_) => {
                    let t = &self.transceivers
                        [s.transceiver.expect("media sections have a transceiver")];
                    if !transport.rtcp_mux {
                        return Err(NegotiationError::RtcpMuxRequired(s.mid.clone()));
                    }
                    let answered = read_codecs(m);
                    let mut offered_pt = [false; 256];
                    for c in &t.codecs {
                        offered_pt[usize::from(c.payload_type)] = true;
                    }
                    if let Some(c) = answered
                        .iter()
                        .find(|c| !offered_pt[usize::from(c.payload_type)])
                    {
                        return Err(NegotiationError::UnknownPayloadType {
                            mid: s.mid.clone(),
                            payload_type: c.payload_type,
                        });
                    }
                    if answered.is_empty() {
                        return Err(NegotiationError::NoCodec(s.mid.clone()));
                    }
                    n.codecs = answered;
                    let local: HashSet<(u16, &str)> = t
                        .header_extensions
                        .iter()
                        .map(|l| (l.id, l.uri.as_str()))
                        .collect();
                    n.header_extensions = m
                        .extmaps()
                        .filter(|e| local.contains(&(e.id, e.uri)))
                        .map(|e| HeaderExtension::new(e.id, e.uri))
                        .collect();
                    let remote_direction = m.direction().unwrap_or(Direction::SendRecv);
                    n.direction = Direction::from_flags(
                        t.direction.sends() && remote_direction.receives(),
                        t.direction.receives() && remote_direction.sends(),
                    );
                    let accepted: HashSet<String> =
                        rids(m, RidDirection::Recv).into_iter().collect();
                    n.send_rids = t
                        .send_rids
                        .iter()
                        .filter(|r| accepted.contains(*r))
                        .cloned()
                        .collect();
                }
                SectionKind::Data => {
                    n.direction = Direction::SendRecv;
                    n.remote_sctp_port = m
                        .sctp_port()
                        .or_else(|| m.sctpmap().map(|s| s.number))
                        .or(Some(5000));
                    n.remote_max_message_size = Some(m.max_message_size().unwrap_or(65536));
                }
                SectionKind::Unsupported => {}
            }
            out.push(n);
        }
        let bundle = remote.bundle.iter().map(|m| m.to_string()).collect();
        let ice_restart = pending.ice_restart;
        let remote_ufrag = out
            .iter()
            .find_map(|n| n.remote_ice.as_ref().map(|i| i.ufrag.clone()));
        self.remote_ufrag = remote_ufrag.or(self.remote_ufrag.take());
        self.sections = sections;
        self.pending = None;
        self.ice_restart_pending = false;
        Ok(Negotiated {
            sections: out,
            bundle,
            dtls_role: {
                if role.is_some() {
                    self.dtls_role = role;
                }
                self.dtls_role.unwrap_or(DtlsRole::Client)
            },
            remote_fingerprints: fingerprints,
            remote_ice_lite: answer.ice_lite(),
            ice_restart,
            extmap_allow_mixed: self.config.extmap_allow_mixed && answer.extmap_allow_mixed(),
        })
    }

    /// Answers a remote offer (RFC 9429 section 5.3) and returns the answer with the negotiated
    /// state. The offer's m-section layout becomes the session's. An offer that cannot be accepted
    /// leaves the session exactly as it was: every check (limits, mids, transports, fingerprints,
    /// DTLS roles, rtcp-mux) is made before anything changes.
    pub fn create_answer(
        &mut self,
        offer: &SessionDescription<'_>,
    ) -> Result<(SessionDescription<'static>, Negotiated), NegotiationError> {
        check_limits(offer)?;
        let remote = Remote::new(offer);

        // Validate mids and bind sections to transceivers; transceivers for remote tracks are
        // only created once the whole offer has been checked.
        let mut sections: Vec<Section> = Vec::with_capacity(offer.media.len());
        let existing = self.transceivers.len();
        let mut created: Vec<Transceiver> = Vec::new();
        // Remote codecs read while creating a transceiver, kept for the answer.
        let mut remote_codecs: Vec<Option<Vec<Codec>>> = vec![None; offer.media.len()];
        let previous: HashMap<&str, &Section> = self
            .sections
            .iter()
            .rev()
            .map(|s| (s.mid.as_str(), s))
            .collect();
        let offered_mids: HashSet<&str> = remote.mids.iter().flatten().copied().collect();
        // Transceivers bound to a section of this offer: those bound to a section the offer keeps,
        // then each one bound as the offer's sections are read.
        let mut taken = vec![false; existing];
        for s in &self.sections {
            if let Some(t) = s
                .transceiver
                .filter(|_| offered_mids.contains(s.mid.as_str()))
            {
                taken[t] = true;
            }
        }
        let mut seen_mids: HashSet<&str> = HashSet::with_capacity(offer.media.len());
        for (index, m) in offer.media.iter().enumerate() {
            let mid = remote.mids[index].ok_or(NegotiationError::MissingMid { index })?;
            if !seen_mids.insert(mid) {
                return Err(NegotiationError::DuplicateMid(mid.into()));
            }
            let kind = section_kind(m);
            let previous = previous.get(mid);
            if let Some(p) = previous {
                if p.kind != kind {
                    return Err(NegotiationError::KindChanged(mid.into()));
                }
            }
            let mut transceiver = previous.and_then(|p| p.transceiver);
            if transceiver.is_none() {
                if let SectionKind::Media(k) = kind {
                    transceiver = (0..existing).find(|&t| {
                        self.transceivers[t].kind == k && !self.transceivers[t].stopped && !taken[t]
                    });
                    if transceiver.is_none() && m.port != 0 {
                        // Like a browser: a remote track creates a receive-only transceiver.
                        let codecs = read_codecs(m);
                        let mut t = Transceiver::new(k, Direction::RecvOnly, codecs.clone());
                        remote_codecs[index] = Some(codecs);
                        t.header_extensions = m
                            .extmaps()
                            .map(|e| HeaderExtension::new(e.id, e.uri))
                            .collect();
                        created.push(t);
                        transceiver = Some(existing + created.len() - 1);
                    }
                }
            }
            if let Some(t) = transceiver.filter(|&t| t < existing) {
                taken[t] = true;
            }
            sections.push(Section {
                mid: mid.into(),
                kind,
                transceiver,
                rejected: false,
                proto: m.proto.to_string(),
                media: m.media.to_string(),
            });
        }
        let stopped = |t: usize| t < existing && self.transceivers[t].stopped;

        // Check the transport of every section that will be accepted.
        let mut transports: Vec<Option<(RemoteTransport, Setup)>> =
            Vec::with_capacity(sections.len());
        for (index, (s, m)) in sections.iter().zip(&offer.media).enumerate() {
            let port_zero = m.port == 0 && !(m.bundle_only() && remote.in_bundle(&s.mid));
            let supported = match s.kind {
                SectionKind::Media(_) => s.transceiver.is_some(),
                SectionKind::Data => true,
                SectionKind::Unsupported => false,
            };
            if port_zero || s.transceiver.is_some_and(stopped) || !supported {
                transports.push(None);
                continue;
            }
            let transport = remote.transport(index, &s.mid)?;
            let local_setup = match transport.setup {
                // A renegotiation keeps the established role; a restart of ICE does not
                // change it either (the DTLS association survives).
                Some(Setup::ActPass) => match self.dtls_role {
                    Some(DtlsRole::Client) => Setup::Active,
                    Some(DtlsRole::Server) => Setup::Passive,
                    None => self.config.answer_setup,
                },
                Some(Setup::Active) => Setup::Passive,
                Some(Setup::Passive) => Setup::Active,
                other => {
                    return Err(NegotiationError::BadSetup {
                        mid: s.mid.clone(),
                        setup: setup_name(other),
                        context: "offer",
                    });
                }
            };
            if matches!(s.kind, SectionKind::Media(_)) && !transport.rtcp_mux {
                return Err(NegotiationError::RtcpMuxRequired(s.mid.clone()));
            }
            transports.push(Some((transport, local_setup)));
        }
        // ICE restart detection: new remote credentials mean new local ones.
        let offered_ufrag = match offer.media.iter().position(|m| m.port != 0) {
            Some(i) => remote.ice(i)?.map(|i| i.ufrag),
            None => None,
        };

        // The offer is acceptable: from here on nothing fails.
        self.transceivers.append(&mut created);
        let ice_restart = match (&self.remote_ufrag, &offered_ufrag) {
            (Some(old), Some(new)) => old != new,
            _ => false,
        };
        if ice_restart {
            self.ice = new_credentials(self.rng.as_mut());
        }
        let mut answer = SessionDescription::new(self.origin());
        // Exact capacity: the result is kept for the connection's lifetime.
        let mut out = Vec::with_capacity(offer.media.len());
        let mut media = Vec::with_capacity(offer.media.len());
        let mut fingerprints = Vec::new();
        let mut role = None;
        for (index, ((s, m), transport)) in sections
            .iter_mut()
            .zip(&offer.media)
            .zip(transports)
            .enumerate()
        {
            let mut n = NegotiatedSection {
                mid: s.mid.clone(),
                kind: s.kind,
                rejected: true,
                transceiver: s.transceiver.map(TransceiverId),
                direction: Direction::Inactive,
                codecs: Vec::new(),
                header_extensions: Vec::new(),
                recv_rids: Vec::new(),
                send_rids: Vec::new(),
                remote_ice: None,
                remote_candidates: Vec::new(),
                remote_sctp_port: None,
                remote_max_message_size: None,
                remote_ssrcs: Vec::new(),
                remote_rtx_ssrcs: Vec::new(),
            };
            let mut accepted = None;
            if let Some((transport, local_setup)) = transport {
                n.remote_ice = Some(transport.ice);
                if fingerprints.is_empty() {
                    fingerprints = transport.fingerprints;
                }
                role.get_or_insert(if local_setup == Setup::Active {
                    DtlsRole::Client
                } else {
                    DtlsRole::Server
                });
                n.remote_candidates = m.values("candidate").map(String::from).collect();
                (n.remote_ssrcs, n.remote_rtx_ssrcs) = remote_ssrcs(m);
                match s.kind {
                    SectionKind::Media(_) => {
                        let t = &self.transceivers[s.transceiver.expect("checked above")];
                        let offered = remote_codecs[index]
                            .take()
                            .unwrap_or_else(|| read_codecs(m));
                        let codecs = intersect_codecs(&offered, &t.codecs);
                        if !codecs.is_empty() {
                            let local_uris: HashSet<&str> =
                                t.header_extensions.iter().map(|l| l.uri.as_str()).collect();
                            let extensions: Vec<HeaderExtension> = m
                                .extmaps()
                                .filter(|e| local_uris.contains(e.uri))
                                .map(|e| HeaderExtension::new(e.id, e.uri))
                                .collect();
                            let remote_direction = m.direction().unwrap_or(Direction::SendRecv);
                            let direction = Direction::from_flags(
                                t.direction.sends() && remote_direction.receives(),
                                t.direction.receives() && remote_direction.sends(),
                            );
                            // The offerer's send layers become our receive layers, when the
                            // RID header extension that names them is negotiated (RFC 8853
                            // 5.3; browsers refuse simulcast without it).
                            let rid_extension = extensions.iter().any(|e| e.uri == RID_URI);
                            let recv_rids = match m.simulcast() {
                                Some(sim)
                                    if sim.send.is_some()
                                        && direction.receives()
                                        && rid_extension =>
                                {
                                    offered_send_layers(m, &sim)
                                }
                                _ => Vec::new(),
                            };
                            let md = self.media_section(
                                s,
                                local_setup,
                                direction,
                                &codecs,
                                &extensions,
                                (&[], &recv_rids),
                                t,
                            );
                            n.direction = direction;
                            n.codecs = codecs;
                            n.header_extensions = extensions;
                            n.recv_rids = recv_rids;
                            accepted = Some(md);
                        }
                    }
                    SectionKind::Data => {
                        n.direction = Direction::SendRecv;
                        n.remote_sctp_port = m
                            .sctp_port()
                            .or_else(|| m.sctpmap().map(|s| s.number))
                            .or(Some(5000));
                        n.remote_max_message_size = Some(m.max_message_size().unwrap_or(65536));
                        accepted = Some(self.data_section(s, local_setup));
                    }
                    SectionKind::Unsupported => {}
                }
            }
            match accepted {
                Some(md) => {
                    n.rejected = false;
                    s.rejected = false;
                    media.push(md);
                }
                None => {
                    s.rejected = true;
                    let mut md = MediaDescription::new(
                        m.media.to_string(),
                        0,
                        m.proto.to_string(),
                        Vec::new(),
                    );
                    md.formats.push(
                        m.formats
                            .first()
                            .map_or_else(|| "0".to_string(), |f| f.to_string())
                            .into(),
                    );
                    md.connections.push(Connection {
                        nettype: "IN".into(),
                        addrtype: "IP4".into(),
                        address: "0.0.0.0".into(),
                        ttl: None,
                        num_addresses: None,
                    });
                    md.attributes.push(Attribute::new("mid", s.mid.clone()));
                    media.push(md);
                }
            }
            out.push(n);
        }
        // BUNDLE: accept the offered group, minus rejected sections, keeping its order.
        let accepted_mids: HashSet<&str> = out
            .iter()
            .filter(|n| !n.rejected)
            .map(|n| n.mid.as_str())
            .collect();
        let bundle: Vec<String> = remote
            .bundle
            .iter()
            .filter(|mid| accepted_mids.contains(*mid))
            .map(|mid| mid.to_string())
            .collect();
        if !bundle.is_empty() {
            answer.attributes.push(Attribute::new(
                "group",
                format!("BUNDLE {}", bundle.join(" ")),
            ));
        }
        answer
            .attributes
            .push(Attribute::new("msid-semantic", "WMS *"));
        let allow_mixed = self.config.extmap_allow_mixed && offer.extmap_allow_mixed();
        if allow_mixed {
            answer
                .attributes
                .push(Attribute::flag("extmap-allow-mixed"));
        }
        answer.media = media;
        // Remember the layout; mids the remote chose must never be handed out by us again.
        for s in &sections {
            if let Ok(n) = s.mid.parse::<u32>() {
                self.next_mid = self.next_mid.max(u64::from(n) + 1);
            }
        }
        self.sections = sections;
        self.remote_ufrag = offered_ufrag.or(self.remote_ufrag.take());
        self.pending = None;
        let negotiated = Negotiated {
            sections: out,
            bundle,
            dtls_role: {
                if role.is_some() {
                    self.dtls_role = role;
                }
                self.dtls_role.unwrap_or(DtlsRole::Client)
            },
            remote_fingerprints: fingerprints,
            remote_ice_lite: offer.ice_lite(),
            ice_restart,
            extmap_allow_mixed: allow_mixed,
        };
        Ok((answer, negotiated))
    }
}
