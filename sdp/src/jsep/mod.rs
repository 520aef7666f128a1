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
//! VP9 and AV1 profile, RTX by its associated payload type); rtcp-fb and extmap intersection; direction negotiation;
//! BUNDLE and rtcp-mux acceptance (rtcp-mux is required, as in browsers); m-sections with port 0
//! rejected (answered with port 0); the DTLS role (an `actpass` offer is answered `active` by
//! default, or `passive`); `sctp-port` and `max-message-size`; RID-based simulcast; subsequent offers
//! with tracks added and removed, rejected m-sections recycled, ICE restart with new credentials and
//! stable mids.
//!
//! What negotiation reads is typed once: m-sections are named by [`Mid`]s (a remote `a=mid` that
//! is not one, e.g. longer than [`MAX_MID_LEN`] bytes, is refused with
//! [`NegotiationError::InvalidMid`]), transceivers by opaque [`TransceiverId`]s, codecs carry a
//! [`CodecName`] and [`FormatParameters`] with typed accessors, and every negotiated codec list
//! pairs RTX with what it repairs ([`Codec::rtx`], [`Codec::apt`]).
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
//! use sansrtc_sdp::jsep::{Codec, CodecName, DtlsRole, JsepConfig, JsepSession, MediaKind, Transceiver};
//! use sansrtc_sdp::{Direction, SessionDescription};
//!
//! // Any byte source will do here; a peer connection passes a cryptographic one.
//! let rng = |seed: u8| {
//!     let mut n = seed;
//!     Box::new(move |buf: &mut [u8]| buf.iter_mut().for_each(|b| { n = n.wrapping_mul(167).wrapping_add(13); *b = n; }))
//! };
//! let opus = || vec![Codec::opus(111).minptime(10).useinbandfec(true)];
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
//! let codec = &alice_view.sections[0].codecs[0];
//! assert_eq!((codec.name.clone(), codec.fmtp.useinbandfec()), (CodecName::Opus, Some(true)));
//! assert_eq!(alice_view.sections[0].direction, Direction::SendOnly);
//! assert_eq!(bob_view.sections[0].direction, Direction::RecvOnly);
//! assert_eq!((alice_view.dtls_role, bob_view.dtls_role), (DtlsRole::Server, DtlsRole::Client));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod answer;
mod codec;
mod error;
mod fmtp;
mod limits;
mod matching;
mod negotiated;
mod offer;
mod remote;
mod remote_answer;
mod sections;
mod transceiver;

pub use crate::mid::{MAX_MID_LEN, Mid, MidError};
pub use codec::{Codec, CodecName, Feedback};
pub use error::NegotiationError;
pub use fmtp::{FormatParameters, ProfileLevelId};
pub use limits::{
    MAX_ATTRIBUTES, MAX_CANDIDATES, MAX_FEEDBACK, MAX_FEEDBACK_LENGTH, MAX_FORMATS,
    MAX_ICE_CREDENTIAL_LENGTH, MAX_MEDIA_SECTIONS, NegotiationLimit,
};
pub use negotiated::{DtlsRole, IceCredentials, Negotiated, NegotiatedSection};
pub use transceiver::{
    HeaderExtension, MediaKind, SectionKind, SendEncoding, Transceiver, TransceiverId,
};

use crate::attributes::{FingerprintHash, Setup};
use crate::model::{MediaDescription, Origin};

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

/// Fixed local parameters of a session. Start from [`JsepConfig::default`] and change fields.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

#[derive(Debug, Clone)]
struct Section {
    mid: Mid,
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
        TransceiverId::new(self.transceivers.len() - 1)
    }

    /// The transceiver, to change its direction (removing a track = no longer sending) or stop it.
    pub fn transceiver_mut(&mut self, id: TransceiverId) -> Option<&mut Transceiver> {
        self.transceivers.get_mut(id.index())
    }

    /// The transceiver.
    pub fn transceiver(&self, id: TransceiverId) -> Option<&Transceiver> {
        self.transceivers.get(id.index())
    }

    /// Every transceiver with its id, in the order they were added (transceivers made for remote
    /// tracks included).
    pub fn transceivers(&self) -> impl ExactSizeIterator<Item = (TransceiverId, &Transceiver)> {
        self.transceivers
            .iter()
            .enumerate()
            .map(|(i, t)| (TransceiverId::new(i), t))
    }

    /// The mid of the m-section transceiver `id` is bound to: by our pending offer, else by the
    /// last completed negotiation (unless that section was rejected).
    pub fn transceiver_mid(&self, id: TransceiverId) -> Option<Mid> {
        // A pending offer of ours already binds new transceivers to mids.
        let sections = self
            .pending
            .as_ref()
            .map_or(&self.sections, |p| &p.sections);
        sections
            .iter()
            .find(|s| s.transceiver == Some(id.index()) && !s.rejected)
            .map(|s| s.mid)
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
    pub fn mids(&self) -> Vec<Mid> {
        self.sections.iter().map(|s| s.mid).collect()
    }

    fn fresh_mid(&mut self) -> Mid {
        loop {
            // Numbers come from 0 up, or from above a remote numeric mid, which is a `u32`.
            let mid = Mid::from_number(self.next_mid).expect("mid numbers stay below 10^16");
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
}
