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

use thiserror::Error;

use crate::attributes::{
    AttributeList, Direction, Extmap, FeedbackPayload, Fingerprint, Rid, RidDirection, RtcpFb,
    Rtpmap, Setup, Simulcast, TypedAttribute,
};
use crate::model::{Attribute, Connection, MediaDescription, Origin, SessionDescription};

/// Where random bytes come from (ICE credentials, the session id). Closures qualify.
pub trait RandomSource: Send {
    /// Fills `buf` with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

impl<F: FnMut(&mut [u8]) + Send> RandomSource for F {
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
    /// Hash function name of the local DTLS certificate fingerprint (`sha-256`).
    pub fingerprint_hash: String,
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
            fingerprint_hash: "sha-256".into(),
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
    /// Remote certificate fingerprints `(hash function, digest)`.
    pub remote_fingerprints: Vec<(String, Vec<u8>)>,
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
pub struct JsepSession {
    config: JsepConfig,
    rng: Box<dyn RandomSource>,
    transceivers: Vec<Transceiver>,
    data_channel: bool,
    sections: Vec<Section>,
    next_mid: u32,
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

/// Whether an offered codec and a local codec are the same codec for negotiation.
fn codec_matches(offered: &Codec, local: &Codec) -> bool {
    if !offered.name.eq_ignore_ascii_case(&local.name)
        || offered.clock_rate != local.clock_rate
        || offered.channels.unwrap_or(1) != local.channels.unwrap_or(1)
    {
        return false;
    }
    if offered.name.eq_ignore_ascii_case("H264") {
        let mode = |c: &Codec| c.param("packetization-mode").unwrap_or("0").to_string();
        let profile = |c: &Codec| {
            c.param("profile-level-id")
                .map(|p| p.get(..4).unwrap_or(p).to_ascii_lowercase())
                .unwrap_or_else(|| "4200".into())
        };
        return mode(offered) == mode(local) && profile(offered) == profile(local);
    }
    if offered.name.eq_ignore_ascii_case("VP9") || offered.name.eq_ignore_ascii_case("AV1") {
        let key = if offered.name.eq_ignore_ascii_case("VP9") {
            "profile-id"
        } else {
            "profile"
        };
        return offered.param(key).unwrap_or("0") == local.param(key).unwrap_or("0");
    }
    true
}

/// Reads the codecs of an RTP m-section in `m=` order.
fn read_codecs(m: &MediaDescription<'_>) -> Vec<Codec> {
    let mut out = Vec::new();
    for f in &m.formats {
        let Ok(pt) = f.parse::<u8>() else { continue };
        let (name, clock_rate, channels) = match m.rtpmap(pt) {
            Some(r) => (r.encoding.to_string(), r.clock_rate, r.channels),
            None => match static_payload(pt) {
                Some((n, c, ch)) => (n.to_string(), c, ch),
                None => continue,
            },
        };
        let fmtp = m
            .fmtp(pt)
            .map(|f| f.parameters.to_string())
            .filter(|s| !s.is_empty());
        let feedback = m
            .rtcp_fbs()
            .filter(|fb| {
                fb.payload == FeedbackPayload::Pt(pt) || fb.payload == FeedbackPayload::All
            })
            .map(|fb| Feedback {
                kind: fb.kind.into(),
                parameter: fb.parameter.map(Into::into),
            })
            .collect();
        out.push(Codec {
            payload_type: pt,
            name,
            clock_rate,
            channels,
            fmtp,
            feedback,
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
fn intersect_codecs(offered: &[Codec], local: &[Codec]) -> Vec<Codec> {
    let mut out: Vec<Codec> = Vec::new();
    for o in offered.iter().filter(|c| !c.is_rtx()) {
        if let Some(l) = local.iter().find(|l| !l.is_rtx() && codec_matches(o, l)) {
            let feedback = o
                .feedback
                .iter()
                .filter(|f| l.feedback.iter().any(|lf| lf.same(f)))
                .cloned()
                .collect();
            let fmtp = l.fmtp.clone().or_else(|| o.fmtp.clone());
            out.push(Codec {
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
        for o in offered.iter().filter(|c| c.is_rtx()) {
            let apt = o.param("apt").and_then(|a| a.parse::<u8>().ok());
            if apt.is_some_and(|apt| out.iter().any(|c| c.payload_type == apt && !c.is_rtx())) {
                out.push(Codec {
                    feedback: Vec::new(),
                    ..o.clone()
                });
            }
        }
    }
    // Keep the offer's order.
    out.sort_by_key(|c| {
        offered
            .iter()
            .position(|o| o.payload_type == c.payload_type)
    });
    out
}

/// The m-section carrying `m`'s transport: `m` itself, or, when `m` is bundled without ICE
/// credentials or a fingerprint of its own, the BUNDLE group's tagged section (its first mid).
/// RFC 8843 puts the transport attributes only in the tagged section of an answer, of a
/// subsequent offer, and never in a `bundle-only` section (RFC 9429 section 7.2's example).
fn transport_of<'s, 'd>(
    sd: &'s SessionDescription<'d>,
    m: &'s MediaDescription<'d>,
) -> &'s MediaDescription<'d> {
    if m.ice_ufrag().is_some() || m.fingerprints().next().is_some() {
        return m;
    }
    let (Some(mid), Some(group)) = (m.mid(), sd.bundle_group()) else {
        return m;
    };
    if !group.mids().any(|g| g == mid) {
        return m;
    }
    let tag = group.mids().next();
    sd.media
        .iter()
        .find(|t| t.mid().is_some() && t.mid() == tag && t.port != 0)
        .unwrap_or(m)
}

fn remote_ice(sd: &SessionDescription<'_>, m: &MediaDescription<'_>) -> Option<IceCredentials> {
    let ufrag = m.ice_ufrag().or_else(|| sd.ice_ufrag())?;
    let pwd = m.ice_pwd().or_else(|| sd.ice_pwd())?;
    Some(IceCredentials {
        ufrag: ufrag.into(),
        pwd: pwd.into(),
    })
}

fn remote_fingerprints(
    sd: &SessionDescription<'_>,
    m: &MediaDescription<'_>,
) -> Vec<(String, Vec<u8>)> {
    let media: Vec<_> = m.fingerprints().collect();
    let list = if media.is_empty() {
        sd.fingerprints().collect()
    } else {
        media
    };
    list.iter()
        .map(|f| (f.hash.as_str().to_ascii_lowercase(), f.digest()))
        .collect()
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
            self.config.fingerprint_hash,
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

    /// Applies the remote answer to the pending local offer.
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
        // Exact capacity: the result is kept for the connection's lifetime.
        let mut out = Vec::with_capacity(answer.media.len());
        let mut fingerprints = Vec::new();
        let mut role = None;
        let mut sections = pending.sections.clone();
        for (index, (s, m)) in sections.iter_mut().zip(&answer.media).enumerate() {
            let found = m.mid().ok_or(NegotiationError::MissingMid { index })?;
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
            let transport = transport_of(answer, m);
            n.remote_ice = Some(
                remote_ice(answer, transport)
                    .ok_or_else(|| NegotiationError::MissingIceCredentials(s.mid.clone()))?,
            );
            n.remote_candidates = m.values("candidate").map(String::from).collect();
            (n.remote_ssrcs, n.remote_rtx_ssrcs) = remote_ssrcs(m);
            let fps = remote_fingerprints(answer, transport);
            if fps.is_empty() {
                return Err(NegotiationError::MissingFingerprint(s.mid.clone()));
            }
            if fingerprints.is_empty() {
                fingerprints = fps;
            }
            let setup = m
                .setup()
                .or_else(|| transport.setup())
                .or_else(|| answer.setup());
            let this_role = match setup {
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
                    if !m.rtcp_mux() && !transport.rtcp_mux() {
                        return Err(NegotiationError::RtcpMuxRequired(s.mid.clone()));
                    }
                    let answered = read_codecs(m);
                    for c in &answered {
                        if !t.codecs.iter().any(|l| l.payload_type == c.payload_type) {
                            return Err(NegotiationError::UnknownPayloadType {
                                mid: s.mid.clone(),
                                payload_type: c.payload_type,
                            });
                        }
                    }
                    if answered.is_empty() {
                        return Err(NegotiationError::NoCodec(s.mid.clone()));
                    }
                    n.codecs = answered;
                    n.header_extensions = m
                        .extmaps()
                        .filter(|e| {
                            t.header_extensions
                                .iter()
                                .any(|l| l.id == e.id && l.uri == e.uri)
                        })
                        .map(|e| HeaderExtension::new(e.id, e.uri))
                        .collect();
                    let remote = m.direction().unwrap_or(Direction::SendRecv);
                    n.direction = Direction::from_flags(
                        t.direction.sends() && remote.receives(),
                        t.direction.receives() && remote.sends(),
                    );
                    let accepted: Vec<String> = rids(m, RidDirection::Recv);
                    n.send_rids = t
                        .send_rids
                        .iter()
                        .filter(|r| accepted.contains(r))
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
        let bundle = answer
            .bundle_group()
            .map(|g| g.mids().map(String::from).collect())
            .unwrap_or_default();
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
    /// leaves the session exactly as it was.
    pub fn create_answer(
        &mut self,
        offer: &SessionDescription<'_>,
    ) -> Result<(SessionDescription<'static>, Negotiated), NegotiationError> {
        let transceivers = self.transceivers.len();
        let ice = self.ice.clone();
        let version = self.version;
        let result = self.answer(offer);
        if result.is_err() {
            self.transceivers.truncate(transceivers);
            self.ice = ice;
            self.version = version;
        }
        result
    }

    fn answer(
        &mut self,
        offer: &SessionDescription<'_>,
    ) -> Result<(SessionDescription<'static>, Negotiated), NegotiationError> {
        // Validate mids and bind sections to transceivers.
        let mut sections: Vec<Section> = Vec::with_capacity(offer.media.len());
        for (index, m) in offer.media.iter().enumerate() {
            let mid = m.mid().ok_or(NegotiationError::MissingMid { index })?;
            if sections.iter().any(|s| s.mid == mid) {
                return Err(NegotiationError::DuplicateMid(mid.into()));
            }
            let kind = section_kind(m);
            let previous = self.sections.iter().find(|s| s.mid == mid);
            if let Some(p) = previous {
                if p.kind != kind {
                    return Err(NegotiationError::KindChanged(mid.into()));
                }
            }
            let mut transceiver = previous.and_then(|p| p.transceiver);
            if transceiver.is_none() {
                if let SectionKind::Media(k) = kind {
                    let taken = |t: usize| {
                        sections.iter().any(|s| s.transceiver == Some(t))
                            || self.sections.iter().any(|s| {
                                s.transceiver == Some(t)
                                    && offer
                                        .media
                                        .iter()
                                        .any(|om| om.mid() == Some(s.mid.as_str()))
                            })
                    };
                    transceiver = (0..self.transceivers.len()).find(|&t| {
                        self.transceivers[t].kind == k && !self.transceivers[t].stopped && !taken(t)
                    });
                    if transceiver.is_none() && m.port != 0 {
                        // Like a browser: a remote track creates a receive-only transceiver.
                        let codecs = read_codecs(m);
                        let mut t = Transceiver::new(k, Direction::RecvOnly, codecs);
                        t.header_extensions = m
                            .extmaps()
                            .map(|e| HeaderExtension::new(e.id, e.uri))
                            .collect();
                        self.transceivers.push(t);
                        transceiver = Some(self.transceivers.len() - 1);
                    }
                }
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

        // ICE restart detection: new remote credentials mean new local ones.
        let offered_ufrag = offer
            .media
            .iter()
            .find(|m| m.port != 0)
            .and_then(|m| remote_ice(offer, m))
            .map(|i| i.ufrag);
        let ice_restart = match (&self.remote_ufrag, &offered_ufrag) {
            (Some(old), Some(new)) => old != new,
            _ => false,
        };
        if ice_restart {
            self.ice = new_credentials(self.rng.as_mut());
        }

        let offered_bundle: Vec<String> = offer
            .bundle_group()
            .map(|g| g.mids().map(String::from).collect())
            .unwrap_or_default();
        let mut answer = SessionDescription::new(self.origin());
        // Exact capacity: the result is kept for the connection's lifetime.
        let mut out = Vec::with_capacity(offer.media.len());
        let mut media = Vec::new();
        let mut fingerprints = Vec::new();
        let mut role = None;
        for (s, m) in sections.iter_mut().zip(&offer.media) {
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
            let stopped = s.transceiver.is_some_and(|t| self.transceivers[t].stopped);
            let port_zero = m.port == 0 && !(m.bundle_only() && offered_bundle.contains(&s.mid));
            let supported = match s.kind {
                SectionKind::Media(_) => s.transceiver.is_some(),
                SectionKind::Data => true,
                SectionKind::Unsupported => false,
            };
            let mut accepted = None;
            if !port_zero && !stopped && supported {
                let transport = transport_of(offer, m);
                n.remote_ice = Some(
                    remote_ice(offer, transport)
                        .ok_or_else(|| NegotiationError::MissingIceCredentials(s.mid.clone()))?,
                );
                let fps = remote_fingerprints(offer, transport);
                if fps.is_empty() {
                    return Err(NegotiationError::MissingFingerprint(s.mid.clone()));
                }
                if fingerprints.is_empty() {
                    fingerprints = fps;
                }
                let setup = m
                    .setup()
                    .or_else(|| transport.setup())
                    .or_else(|| offer.setup());
                let local_setup = match setup {
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
                role.get_or_insert(if local_setup == Setup::Active {
                    DtlsRole::Client
                } else {
                    DtlsRole::Server
                });
                n.remote_candidates = m.values("candidate").map(String::from).collect();
                (n.remote_ssrcs, n.remote_rtx_ssrcs) = remote_ssrcs(m);
                match s.kind {
                    SectionKind::Media(_) => {
                        if !m.rtcp_mux() && !transport.rtcp_mux() {
                            return Err(NegotiationError::RtcpMuxRequired(s.mid.clone()));
                        }
                        let t = &self.transceivers[s.transceiver.expect("checked above")];
                        let codecs = intersect_codecs(&read_codecs(m), &t.codecs);
                        if !codecs.is_empty() {
                            let extensions: Vec<HeaderExtension> = m
                                .extmaps()
                                .filter(|e| t.header_extensions.iter().any(|l| l.uri == e.uri))
                                .map(|e| HeaderExtension::new(e.id, e.uri))
                                .collect();
                            let remote = m.direction().unwrap_or(Direction::SendRecv);
                            let direction = Direction::from_flags(
                                t.direction.sends() && remote.receives(),
                                t.direction.receives() && remote.sends(),
                            );
                            // The offerer's send layers become our receive layers, when the
                            // RID header extension that names them is negotiated (RFC 8853
                            // 5.3; browsers refuse simulcast without it).
                            let offered_sim = m.simulcast();
                            let rid_extension = extensions.iter().any(|e| e.uri == RID_URI);
                            let recv_rids: Vec<String> = match offered_sim {
                                Some(sim)
                                    if sim.send.is_some()
                                        && direction.receives()
                                        && rid_extension =>
                                {
                                    sim.send_streams()
                                        .iter()
                                        .filter_map(|alts| alts.first().map(|r| r.id.to_string()))
                                        .filter(|id| {
                                            m.rids().any(|r| {
                                                r.id == id && r.direction == RidDirection::Send
                                            })
                                        })
                                        .collect()
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
        let bundle: Vec<String> = offered_bundle
            .iter()
            .filter(|mid| out.iter().any(|n| &n.mid == *mid && !n.rejected))
            .cloned()
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
                self.next_mid = self.next_mid.max(n.saturating_add(1));
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
