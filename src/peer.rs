//! The peer connection: JSEP, ICE, DTLS, SRTP and SCTP data channels composed into one sans-IO
//! state machine over one bundled, rtcp-muxed transport.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sansrtc_dtls as dtls;
use sansrtc_ice as ice;
use sansrtc_sctp as sctp;
use sansrtc_sdp as sdp;
use sansrtc_srtp as srtp;

use ice::agent::{Agent, AgentConfig, AgentEvent};
use sdp::jsep::{
    Codec, JsepConfig, JsepSession, MediaKind, Negotiated, SectionKind, Transceiver, TransceiverId,
};
use sdp::{Attribute, AttributeList, SessionDescription, Setup};

use crate::demux::{self, Kind};
use crate::media::{MediaState, Received};
use crate::relay::{RelayEvent, Relays, TurnServer};
use crate::rng::PcRng;
use crate::stats::{CandidatePairStats, DataChannelStats, StatsReport, TransportStats};
use crate::track::{KeyframeKind, MediaError, RtpReceived, RtpWrite};

pub use ice::agent::ConnectionState as IceState;
pub use sctp::ChannelConfig;

/// Settings of a [`PeerConnection`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The DTLS certificate; `None` generates a fresh one for this connection.
    pub certificate: Option<Arc<dtls::Certificate>>,
    /// Offer an SCTP data channel section (default true).
    pub data_channels: bool,
    /// Role to take when answering an `actpass` offer (default [`Setup::Active`]).
    pub answer_setup: Setup,
    /// Randomness (default the operating system's).
    pub rng: PcRng,
    /// STUN servers for server-reflexive candidates.
    pub stun_servers: Vec<SocketAddr>,
    /// Largest data channel message we accept (default 256 KiB).
    pub max_message_size: usize,
    /// Data channel bytes queued or sent and not yet acknowledged, over all channels, at most
    /// (default 16 MiB, like Chromium's `bufferedAmount` limit): past it `send_data` fails with
    /// [`sctp::SendError::BufferFull`], so a peer that never acknowledges cannot grow our
    /// memory. Raised to one `max_message_size` message if smaller.
    pub max_buffered_amount: usize,
    /// How often RTCP receiver/sender reports are sent while media flows (default 1 s).
    pub rtcp_interval: Duration,
    /// SRTP profiles offered or accepted in DTLS `use_srtp`, in preference order (default all
    /// four, in the dtls crate's order: AES-128-GCM, AES-CM-80, AES-256-GCM, AES-CM-32).
    pub srtp_profiles: Vec<dtls::SrtpProfile>,
    /// DTLS cipher suites in preference order (default every suite the dtls crate has).
    pub cipher_suites: Vec<dtls::CipherSuite>,
    /// TURN servers (UDP) for relayed candidates.
    pub turn_servers: Vec<TurnServer>,
    /// Which candidates to use (default all; `Relay` keeps our addresses private).
    pub ice_transport_policy: IceTransportPolicy,
    /// Packets kept per sending SSRC (of sections that negotiated `nack`) to answer the peer's
    /// NACKs by sending them again, as RTX when negotiated (default 512; 0: NACKs only arrive
    /// as [`Event::Nack`]). Buffers are reused, so the history allocates only while filling.
    pub retransmission_history: usize,
    /// Answer STUN requests that fail ICE authentication with a 400/401 error, as RFC 8445
    /// 7.3 describes (default `true`). `false` drops them silently (counted in the ICE stats),
    /// so a spoofed request reflects nothing: the choice for servers on the internet.
    pub answer_unauthenticated_stun: bool,
    /// Ask for lost packets of received streams whose section negotiated `nack` (NACK after a
    /// short reordering wait, again every round trip, up to 10 times; a gap too large for
    /// NACKs sends a PLI when `nack pli` is negotiated). Default true.
    pub nack_requests: bool,
}

/// Which local candidates ICE uses (W3C `iceTransportPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IceTransportPolicy {
    /// Host, server-reflexive and relayed candidates.
    #[default]
    All,
    /// Only relayed candidates: the peer never learns our addresses.
    Relay,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            certificate: None,
            data_channels: true,
            answer_setup: Setup::Active,
            rng: PcRng::System,
            stun_servers: Vec::new(),
            max_message_size: 256 * 1024,
            max_buffered_amount: 16 << 20,
            rtcp_interval: Duration::from_secs(1),
            srtp_profiles: dtls::SrtpProfile::ALL.to_vec(),
            cipher_suites: dtls::CipherSuite::ALL.to_vec(),
            turn_servers: Vec::new(),
            ice_transport_policy: IceTransportPolicy::All,
            retransmission_history: 512,
            nack_requests: true,
            answer_unauthenticated_stun: true,
        }
    }
}

/// Whether a description is an offer or an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpType {
    /// An offer.
    Offer,
    /// An answer.
    Answer,
}

/// State of the DTLS transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DtlsState {
    /// Not negotiated yet.
    New,
    /// Handshaking.
    Connecting,
    /// Handshake done, peer certificate matched the SDP fingerprint.
    Connected,
    /// Closed with close_notify.
    Closed,
    /// The handshake or the connection failed.
    Failed,
}

/// The overall state (as `RTCPeerConnection.connectionState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Nothing started.
    New,
    /// ICE or DTLS in progress.
    Connecting,
    /// ICE and DTLS connected.
    Connected,
    /// ICE lost consent temporarily.
    Disconnected,
    /// ICE or DTLS failed.
    Failed,
    /// Closed by either side.
    Closed,
}

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The registered local address to send from.
    pub source: SocketAddr,
    /// Where to send it.
    pub destination: SocketAddr,
    /// The bytes.
    pub contents: Vec<u8>,
}

/// Something the application must know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A local candidate (`candidate:...` attribute value) to signal to the peer (trickle).
    LocalCandidate(String),
    /// Local candidate gathering finished.
    GatheringComplete,
    /// The peer hides an address behind this mDNS name (`<uuid>.local`): resolve it (an mDNS
    /// query is I/O, so it is the caller's) and pass the address to
    /// [`PeerConnection::resolve_mdns`]. Meanwhile ICE may still connect through a peer-reflexive
    /// candidate when the peer's checks reach us.
    ResolveMdns(String),
    /// The ICE state changed.
    IceStateChange(IceState),
    /// The DTLS state changed.
    DtlsStateChange(DtlsState),
    /// The overall state changed.
    ConnectionStateChange(ConnectionState),
    /// A change (a transceiver or data channel section added, an ICE restart) needs a new
    /// offer/answer exchange to take effect.
    NegotiationNeeded,
    /// ICE selected the path DTLS, SRTP and SCTP now use (first selection, after an ICE
    /// restart, or a better pair).
    SelectedPairChange {
        /// Our address (a registered socket).
        local: SocketAddr,
        /// The peer's address.
        remote: SocketAddr,
    },
    /// A data channel is open (ours once acknowledged, or one the peer opened).
    DataChannelOpen {
        /// Channel id (SCTP stream id).
        id: u16,
        /// Label.
        label: String,
        /// Sub-protocol.
        protocol: String,
    },
    /// A data channel message.
    DataChannelMessage {
        /// Channel id.
        id: u16,
        /// The bytes.
        data: Vec<u8>,
        /// Binary (`true`) or text (`false`).
        binary: bool,
    },
    /// A data channel closed.
    DataChannelClose(u16),
    /// A channel created before the DTLS role was known got another id than the provisional
    /// one [`PeerConnection::create_data_channel`] returned (the answer gave us the other DTLS
    /// role, whose ids have the other parity): use `id` from now on.
    DataChannelIdChanged {
        /// The id returned at creation.
        provisional: u16,
        /// The channel's id.
        id: u16,
    },
    /// A channel's buffered amount fell to its low threshold.
    BufferedAmountLow(u16),
    /// A decrypted RTP packet, with the track (mid) and simulcast layer (rid) it belongs to.
    Rtp(RtpReceived),
    /// The peer asks for a key frame on one of our streams (PLI or FIR received).
    KeyframeRequest {
        /// The m-section of our stream.
        mid: Option<Arc<str>>,
        /// Our SSRC the request is about.
        ssrc: u32,
        /// PLI or FIR.
        kind: KeyframeKind,
    },
    /// The peer lost packets of one of our streams (generic NACK received).
    Nack {
        /// The m-section of our stream.
        mid: Option<Arc<str>>,
        /// Our SSRC the packets were sent on.
        ssrc: u32,
        /// The lost sequence numbers.
        lost: Vec<u16>,
    },
    /// A decrypted compound RTCP packet, whole (reports, feedback, REMB, transport-cc: parse with
    /// `sansrtc::rtp::rtcp::CompoundIter`). PLI, FIR and NACK also arrive typed, above.
    Rtcp(Vec<u8>),
}

/// Why an API call failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The SDP did not parse.
    #[error("SDP: {0}")]
    Sdp(#[from] sdp::ParseError),
    /// Offer/answer failed.
    #[error("negotiation: {0}")]
    Negotiation(#[from] NegotiationFailure),
    /// A description arrived in the wrong signalling state.
    #[error("wrong signalling state: {0}")]
    State(&'static str),
    /// The DTLS certificate could not be generated.
    #[error("certificate: {0}")]
    Certificate(#[from] dtls::DtlsError),
    /// A candidate did not parse.
    #[error("candidate: {0}")]
    Candidate(#[from] ice::candidate::CandidateError),
    /// Data channels are not negotiated yet, or the channel is not open.
    #[error("data channel: {0}")]
    DataChannel(#[from] sctp::SendError),
    /// SRTP is not up yet or failed.
    #[error("SRTP: {0}")]
    Srtp(#[from] srtp::Error),
    /// The message is larger than the peer's `a=max-message-size` (RFC 8841; 65536 when the
    /// peer states none).
    #[error("message of {size} bytes is over the peer's limit of {max}")]
    MessageTooLarge {
        /// The message's size.
        size: usize,
        /// The peer's limit.
        max: usize,
    },
    /// A media call failed.
    #[error("media: {0}")]
    Media(#[from] MediaError),
    /// Not possible before the transport is connected.
    #[error("not connected")]
    NotConnected,
    /// ICE consent on the path expired (RFC 7675: no authenticated answer for 30 s): nothing
    /// but ICE checks is sent until an ICE restart ([`PeerConnection::restart_ice`]) selects a
    /// path again.
    #[error("ICE consent expired")]
    NoConsent,
    /// The connection is closed.
    #[error("closed")]
    Closed,
}

/// A [`sdp::NegotiationError`] (wrapped to keep our error type small).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NegotiationFailure(pub sdp::NegotiationError);

/// Counters of what was dropped or done (bad input never panics; it is counted here).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Datagrams queued for sending.
    pub datagrams_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Bytes queued for sending.
    pub bytes_sent: u64,
    /// Datagrams that fit no RFC 7983 range, or arrived on an unregistered address.
    pub dropped_unknown: u64,
    /// DTLS, SRTP and SRTCP datagrams from a path that no authenticated ICE check validated
    /// (anyone can send to our sockets: only the peer knows the ICE password).
    pub dropped_unvalidated: u64,
    /// DTLS, SRTP and SRTCP datagrams not sent because no path has ICE consent (RFC 7675:
    /// consent expired, or nothing is selected yet).
    pub dropped_no_consent: u64,
    /// STUN datagrams the ICE agent did not accept.
    pub dropped_stun: u64,
    /// DTLS datagrams before DTLS was set up.
    pub dropped_dtls: u64,
    /// SRTP/SRTCP packets before keys existed or failing authentication/replay checks.
    pub dropped_srtp: u64,
    /// Remote candidates in the SDP that did not parse (TCP, unknown syntax).
    pub bad_candidates: u64,
    /// SRTP packets unprotected.
    pub rtp_received: u64,
    /// SRTP packets protected and sent.
    pub rtp_sent: u64,
    /// SRTCP packets unprotected.
    pub rtcp_received: u64,
    /// SRTCP packets sent.
    pub rtcp_sent: u64,
    /// Datagrams a TURN relay could not take yet (no permission or allocation).
    pub dropped_relay: u64,
    /// TURN allocations that failed.
    pub relay_failures: u64,
    /// RTX packets dropped: padding only (bandwidth probes), or repairing an unknown stream.
    pub rtx_discarded: u64,
    /// Packets sent again to answer NACKs.
    pub retransmissions_sent: u64,
    /// NACKed packets not sent again: their stream had spent its retransmission budget (as
    /// many bytes per second as it sends, at least 16 KiB).
    pub retransmissions_limited: u64,
}

/// A sans-IO WebRTC peer connection.
///
/// `Clone` copies the whole state, keys and all (a snapshot of a live connection, for
/// fuzzing or simulation; the two copies must not both talk to the real peer). A copy taken
/// mid-handshake, after our DTLS key share went out, cannot finish that handshake.
#[derive(Clone)]
pub struct PeerConnection {
    config: Config,
    rng: PcRng,
    jsep: JsepSession,
    certificate: Arc<dtls::Certificate>,
    locals: Vec<SocketAddr>,
    local_candidates: Vec<String>,
    agent: Option<Agent<PcRng>>,
    relays: Relays,
    relay_events: Vec<RelayEvent>,
    pending_remote_candidates: Vec<ice::candidate::Candidate>,
    /// Remote candidates waiting for their mDNS name to be resolved by the caller.
    mdns_pending: Vec<ice::candidate::Candidate>,
    negotiated: Option<Negotiated>,
    pending_answer: Option<String>,
    /// `restart_ice` was called: the next offer restarts the agent.
    ice_restart_requested: bool,
    dtls: Option<dtls::Endpoint>,
    dtls_role: Option<dtls::Role>,
    sctp: Option<sctp::DataChannelEndpoint>,
    /// The largest message the peer accepts (`a=max-message-size`).
    remote_max_message_size: usize,
    channels: BTreeMap<u16, ChannelInfo>,
    /// Channels created before SCTP exists (before the data section is negotiated), with the
    /// id promised to the application; opened once the DTLS role is known.
    pending_channels: Vec<PendingChannel>,
    /// SRTP contexts (~3.8 KB), made only once media sections are negotiated and DTLS is up.
    srtp: Option<Box<srtp::SessionContexts>>,
    /// Where DTLS/SRTP go: the selected pair, or the last address DTLS came from.
    path: Option<(SocketAddr, SocketAddr)>,
    paths: Vec<PathCounters>,
    ice_state: IceState,
    dtls_state: DtlsState,
    state: ConnectionState,
    /// `close()` was called: SCTP shuts down, then DTLS sends close_notify (at the latest at
    /// this deadline).
    closing: Option<Instant>,
    media: MediaState,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
}

/// What the stats report says of a data channel.
#[derive(Debug, Clone, Default)]
struct ChannelInfo {
    label: String,
    protocol: String,
    open: bool,
    messages_sent: u64,
    bytes_sent: u64,
    messages_received: u64,
    bytes_received: u64,
}

/// Traffic on one path (candidate pair) that carried DTLS, SRTP or SCTP.
#[derive(Debug, Clone, Copy)]
struct PathCounters {
    local: SocketAddr,
    remote: SocketAddr,
    packets_sent: u64,
    bytes_sent: u64,
    packets_received: u64,
    bytes_received: u64,
}

/// Remote mDNS candidates waiting for resolution at most.
const MAX_MDNS_PENDING: usize = 16;
/// Paths whose traffic is counted (the selected pairs over the connection's life).
const MAX_PATHS: usize = 16;
/// Closed channels kept in the stats report.
/// A channel created before SCTP exists.
#[derive(Clone)]
struct PendingChannel {
    /// The id promised to the application.
    id: u16,
    config: ChannelConfig,
    /// Set with [`PeerConnection::set_buffered_amount_low_threshold`] meanwhile.
    low_threshold: Option<usize>,
}

/// Channels that may wait for the data section to be negotiated.
const MAX_PENDING_CHANNELS: usize = 1024;
const MAX_CLOSED_CHANNELS: usize = 256;
/// How long `close()` waits for the SCTP shutdown before sending close_notify.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

impl std::fmt::Debug for PeerConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerConnection")
            .field("state", &self.state)
            .field("ice_state", &self.ice_state)
            .field("dtls_state", &self.dtls_state)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl PeerConnection {
    /// A new peer connection; generates a fresh certificate unless the config carries one.
    pub fn new(config: Config) -> Result<Self, Error> {
        let certificate = match &config.certificate {
            Some(c) => c.clone(),
            None => Arc::new(dtls::Certificate::generate()?),
        };
        let mut rng = config.rng.clone();
        let jsep_config = JsepConfig {
            fingerprint_hash: sdp::FingerprintHash::Sha256,
            fingerprint: certificate.fingerprint(dtls::HashAlgorithm::Sha256).value,
            answer_setup: config.answer_setup,
            sctp_port: 5000,
            max_message_size: config.max_message_size as u64,
            trickle: true,
            extmap_allow_mixed: true,
        };
        let mut jsep_rng = rng.fork();
        let mut jsep =
            JsepSession::new(jsep_config, Box::new(move |b: &mut [u8]| jsep_rng.fill(b)));
        if config.data_channels {
            jsep.add_data_channel();
        }
        let mut cname = [0u8; 12];
        rng.fill(&mut cname);
        let cname: String = cname
            .iter()
            .map(|b| {
                char::from(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                        [usize::from(b % 64)],
                )
            })
            .collect();
        let mut media = MediaState::new(rng.fork(), cname);
        media.set_history_capacity(config.retransmission_history);
        media.set_nack_requests(config.nack_requests);
        Ok(Self {
            config,
            rng,
            jsep,
            certificate,
            locals: Vec::new(),
            local_candidates: Vec::new(),
            agent: None,
            relays: Relays::default(),
            relay_events: Vec::new(),
            pending_remote_candidates: Vec::new(),
            pending_channels: Vec::new(),
            mdns_pending: Vec::new(),
            negotiated: None,
            pending_answer: None,
            ice_restart_requested: false,
            dtls: None,
            dtls_role: None,
            sctp: None,
            remote_max_message_size: 65_536,
            channels: BTreeMap::new(),
            srtp: None,
            path: None,
            paths: Vec::new(),
            ice_state: IceState::New,
            dtls_state: DtlsState::New,
            state: ConnectionState::New,
            closing: None,
            media,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        })
    }

    /// Our ICE username fragment (to route STUN from an unknown address to this connection).
    pub fn local_ufrag(&self) -> &str {
        &self.jsep.local_ice().ufrag
    }

    /// Our certificate's SHA-256 fingerprint (as written in SDP).
    pub fn fingerprint(&self) -> dtls::Fingerprint {
        self.certificate.fingerprint(dtls::HashAlgorithm::Sha256)
    }

    /// Registers a local socket address: it becomes a host candidate. Register every socket
    /// before creating the offer or answer; later ones are trickled as [`Event::LocalCandidate`].
    pub fn add_local_address(&mut self, addr: SocketAddr) {
        if self.locals.contains(&addr) {
            return;
        }
        self.locals.push(addr);
        if let Some(agent) = &mut self.agent
            && self.config.ice_transport_policy == IceTransportPolicy::All
            && let Some(c) = agent.add_host_candidate(addr)
        {
            self.local_candidates.push(c.to_string());
            self.events.push_back(Event::LocalCandidate(c.to_string()));
        }
    }

    /// Adds a transceiver (audio or video) to the next offer, or to match the next remote offer.
    /// Without `send_ssrcs` it gets a random SSRC (signalled with `a=ssrc` and our CNAME), which
    /// [`PeerConnection::write_rtp`] sends on, and another for RTX when its codecs include
    /// `rtx` (`a=ssrc-group:FID`; NACKed packets are sent again on it). Adding one after the
    /// connection is up takes a renegotiation (a new offer).
    pub fn add_transceiver(&mut self, mut transceiver: Transceiver) -> TransceiverId {
        if transceiver.send_ssrcs.is_none() {
            let media = self.media.new_ssrc();
            let rtx = transceiver
                .codecs
                .iter()
                .any(|c| c.name.eq_ignore_ascii_case("rtx"))
                .then(|| {
                    loop {
                        let rtx = self.media.new_ssrc();
                        if rtx != media {
                            break rtx;
                        }
                    }
                });
            transceiver.send_ssrcs = Some((media, rtx));
        }
        if transceiver.cname.is_none() {
            transceiver.cname = Some(self.media.cname().to_owned());
        }
        self.negotiation_needed();
        self.jsep.add_transceiver(transceiver)
    }

    /// A transceiver, to change its direction or stop it (takes effect with the next offer).
    pub fn transceiver_mut(&mut self, id: TransceiverId) -> Option<&mut Transceiver> {
        self.jsep.transceiver_mut(id)
    }

    /// The mid a transceiver was negotiated on.
    pub fn transceiver_mid(&self, id: TransceiverId) -> Option<&str> {
        self.negotiated.as_ref().and_then(|n| {
            n.sections
                .iter()
                .find(|s| s.transceiver == Some(id) && !s.rejected)
                .map(|s| s.mid.as_str())
        })
    }

    /// Asks for an SCTP data channel section in the next offer (needed only when the
    /// connection was created with `data_channels: false`; takes a renegotiation).
    pub fn add_data_channel_section(&mut self) {
        self.jsep.add_data_channel();
        self.negotiation_needed();
    }

    /// After the first exchange, changes need a new one: tell the application.
    fn negotiation_needed(&mut self) {
        if self.negotiated.is_some() {
            self.events.push_back(Event::NegotiationNeeded);
        }
    }

    /// Restarts ICE with new credentials: call, then create and exchange a new offer
    /// (RFC 8445 9). Media and data keep flowing on the old pair until the new one is selected.
    pub fn restart_ice(&mut self) {
        self.jsep.restart_ice();
        self.ice_restart_requested = true;
        self.negotiation_needed();
    }

    fn ensure_agent(&mut self, now: Instant, controlling: bool) {
        if self.agent.is_some() {
            return;
        }
        let creds = self.jsep.local_ice().clone();
        let mut cfg = AgentConfig::new(controlling, &creds.ufrag, &creds.pwd);
        cfg.answer_unauthenticated = self.config.answer_unauthenticated_stun;
        let all = self.config.ice_transport_policy == IceTransportPolicy::All;
        if all {
            cfg.stun_servers = self.config.stun_servers.clone();
        }
        let mut agent = Agent::new(cfg, self.rng.fork());
        if all {
            for &a in &self.locals {
                if let Some(c) = agent.add_host_candidate(a) {
                    self.local_candidates.push(c.to_string());
                }
            }
        }
        self.agent = Some(agent);
        self.relays
            .start(now, &self.config.turn_servers, &self.locals, &mut self.rng);
    }

    fn with_candidates(&self, mut desc: SessionDescription<'static>) -> String {
        if let Some(m) = desc.media.first_mut() {
            for c in &self.local_candidates {
                let value = c.strip_prefix("candidate:").unwrap_or(c);
                m.attributes
                    .push(Attribute::new("candidate", value.to_owned()));
            }
            m.attributes.push(Attribute::flag("end-of-candidates"));
        }
        desc.to_sdp_string()
    }

    /// Creates an offer (and sets it as the local description). Candidates of every registered
    /// address are included. Also the way to renegotiate: after new transceivers, a data channel
    /// section, a direction change or [`PeerConnection::restart_ice`].
    pub fn create_offer(&mut self, now: Instant) -> Result<String, Error> {
        if self.closing.is_some() || self.state == ConnectionState::Closed {
            return Err(Error::Closed);
        }
        if self.pending_answer.is_some() {
            return Err(Error::State("an offer is being answered"));
        }
        self.ensure_agent(now, true);
        if std::mem::take(&mut self.ice_restart_requested)
            && self.negotiated.is_some()
            && let Some(agent) = &mut self.agent
        {
            let creds = self.jsep.local_ice().clone();
            agent.restart(now, &creds.ufrag, &creds.pwd);
        }
        let offer = self.jsep.create_offer();
        Ok(self.with_candidates(offer))
    }

    /// Sets the local description: accepts the offer or answer this connection created (the
    /// JSEP session already holds it); anything else is refused.
    pub fn set_local_description(&mut self, kind: SdpType, _sdp: &str) -> Result<(), Error> {
        match kind {
            SdpType::Offer if self.jsep.has_pending_offer() => Ok(()),
            SdpType::Answer if self.negotiated.is_some() => Ok(()),
            _ => Err(Error::State("no such local description was created")),
        }
    }

    /// Discards our pending offer (JSEP rollback), e.g. when both sides offered at once and we
    /// are the polite peer: then [`PeerConnection::set_remote_description`] takes the peer's
    /// offer.
    pub fn rollback(&mut self) {
        self.jsep.rollback();
    }

    /// Sets the remote description. For an offer, the answer is then available from
    /// [`PeerConnection::create_answer`]. Offers after the first renegotiate: new media
    /// sections, a data channel added later, direction changes, ICE restarts.
    pub fn set_remote_description(
        &mut self,
        now: Instant,
        kind: SdpType,
        sdp_text: &str,
    ) -> Result<(), Error> {
        if self.closing.is_some() || self.state == ConnectionState::Closed {
            return Err(Error::Closed);
        }
        let desc = SessionDescription::parse(sdp_text)?;
        let negotiated = match kind {
            SdpType::Offer => {
                if self.jsep.has_pending_offer() {
                    return Err(Error::State(
                        "have a local offer: roll it back first (glare)",
                    ));
                }
                self.ensure_agent(now, false);
                let (answer, negotiated) =
                    self.jsep.create_answer(&desc).map_err(NegotiationFailure)?;
                if negotiated.ice_restart
                    && self.negotiated.is_some()
                    && let Some(agent) = &mut self.agent
                {
                    let creds = self.jsep.local_ice().clone();
                    agent.restart(now, &creds.ufrag, &creds.pwd);
                }
                self.pending_answer = Some(self.with_candidates(answer));
                negotiated
            }
            SdpType::Answer => {
                if !self.jsep.has_pending_offer() {
                    return Err(Error::State("no local offer"));
                }
                self.jsep
                    .set_remote_answer(&desc)
                    .map_err(NegotiationFailure)?
            }
        };
        self.apply(now, negotiated, kind == SdpType::Answer);
        // Non-trickle peers (and trickle peers done gathering) say so in the description.
        if desc
            .media
            .iter()
            .any(|m| m.port != 0 && m.end_of_candidates())
            && let Some(a) = &mut self.agent
        {
            a.end_of_remote_candidates();
        }
        self.drive(now);
        Ok(())
    }

    /// The answer to the remote offer last set (also the local description from then on).
    pub fn create_answer(&mut self) -> Result<String, Error> {
        self.pending_answer
            .take()
            .ok_or(Error::State("no remote offer to answer"))
    }

    /// Adds a remote candidate (the `candidate:...` attribute value, trickled). An empty string
    /// means end-of-candidates.
    pub fn add_remote_candidate(&mut self, now: Instant, candidate: &str) -> Result<(), Error> {
        if candidate.trim().is_empty() {
            if let Some(a) = &mut self.agent {
                a.end_of_remote_candidates();
            }
            return Ok(());
        }
        let c = ice::candidate::Candidate::parse(candidate)?;
        if self.agent.is_some() && self.negotiated.is_some() {
            self.give_remote_candidate(c);
        } else if self.pending_remote_candidates.len() < 64 {
            self.pending_remote_candidates.push(c);
        }
        self.drive(now);
        Ok(())
    }

    /// Hands a remote candidate to the agent; an mDNS one (`<uuid>.local`, how browsers hide
    /// their addresses) waits for [`PeerConnection::resolve_mdns`] and is announced with
    /// [`Event::ResolveMdns`].
    fn give_remote_candidate(&mut self, c: ice::candidate::Candidate) {
        if let ice::candidate::CandidateAddress::Mdns(name, _) = &c.address {
            if self.mdns_pending.len() < MAX_MDNS_PENDING && !self.mdns_pending.contains(&c) {
                if !self
                    .mdns_pending
                    .iter()
                    .any(|p| matches!(&p.address, ice::candidate::CandidateAddress::Mdns(n, _) if n == name))
                {
                    self.events.push_back(Event::ResolveMdns(name.clone()));
                }
                self.mdns_pending.push(c);
            }
            return;
        }
        if let Some(a) = &mut self.agent {
            // Limits reached or a duplicate: the agent refuses it and we drop it.
            let _ = a.add_remote_candidate(c);
        }
    }

    /// The caller resolved an mDNS name from [`Event::ResolveMdns`]: the candidates waiting
    /// for it join ICE with that address.
    pub fn resolve_mdns(&mut self, now: Instant, name: &str, ip: std::net::IpAddr) {
        let (matching, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.mdns_pending)
            .into_iter()
            .partition(
                |c| matches!(&c.address, ice::candidate::CandidateAddress::Mdns(n, _) if n == name),
            );
        self.mdns_pending = rest;
        for mut c in matching {
            if let ice::candidate::CandidateAddress::Mdns(_, port) = c.address {
                c.address = ice::candidate::CandidateAddress::Ip(SocketAddr::new(ip, port));
                self.give_remote_candidate(c);
            }
        }
        self.drive(now);
    }

    /// Applies a completed offer/answer exchange to the transport, data channels and media.
    /// Puts a finished negotiation to work; `offered`: it completes our offer.
    fn apply(&mut self, now: Instant, n: Negotiated, offered: bool) {
        let first = self.negotiated.is_none();
        let agent = self.agent.as_mut().expect("agent exists once negotiating");
        if let Some(ice) = n.sections.iter().find_map(|s| s.remote_ice.clone()) {
            agent.set_remote_credentials(&ice.ufrag, &ice.pwd);
        }
        agent.set_remote_lite(n.remote_ice_lite);
        let bundle_first = n.bundle.first().cloned();
        let mut candidates = Vec::new();
        for s in &n.sections {
            if s.rejected {
                continue;
            }
            // With BUNDLE only the tagged section's candidates matter; others repeat them.
            if bundle_first.as_ref().is_some_and(|b| *b != s.mid) && !s.remote_candidates.is_empty()
            {
                continue;
            }
            for c in &s.remote_candidates {
                match ice::candidate::Candidate::parse(c) {
                    Ok(c) => candidates.push(c),
                    Err(_) => self.stats.bad_candidates += 1,
                }
            }
        }
        // Then the ones trickled before the description.
        candidates.append(&mut self.pending_remote_candidates);
        for c in candidates {
            self.give_remote_candidate(c);
        }
        let agent = self.agent.as_mut().expect("agent exists once negotiating");
        agent.start(now);
        if first {
            agent.gather(now);
        }
        self.media
            .configure(&n, &self.jsep, self.config.rtcp_interval);
        // Media added by a renegotiation after DTLS connected.
        self.ensure_srtp();
        let role = match n.dtls_role {
            sdp::jsep::DtlsRole::Client => dtls::Role::Client,
            sdp::jsep::DtlsRole::Server => dtls::Role::Server,
        };
        if self.dtls.is_none() {
            let mut cfg = dtls::Config::new(self.certificate.clone());
            cfg.srtp_profiles = self.config.srtp_profiles.clone();
            cfg.cipher_suites = self.config.cipher_suites.clone();
            // JSEP refused any description without a usable fingerprint, so this list is never
            // empty (and an empty one would fail the handshake: the dtls crate fails closed).
            cfg.remote_fingerprints = n
                .remote_fingerprints
                .iter()
                .map(|f| dtls::Fingerprint {
                    algorithm: hash_algorithm(f.hash()),
                    value: f.digest().to_vec(),
                })
                .collect();
            let rng = Box::new(self.rng.fork());
            self.dtls = Some(match role {
                dtls::Role::Client => dtls::Endpoint::client(cfg, rng),
                dtls::Role::Server => dtls::Endpoint::server(cfg, rng),
            });
            self.dtls_role = Some(role);
            self.set_dtls_state(DtlsState::Connecting);
        }
        // The data channel section may come with the first negotiation or a later one.
        if let Some(data) = n
            .sections
            .iter()
            .find(|s| s.kind == SectionKind::Data && !s.rejected)
        {
            // 0 means the peer takes any size (RFC 8841 6).
            self.remote_max_message_size = match data.remote_max_message_size.unwrap_or(65_536) {
                0 => usize::MAX,
                m => usize::try_from(m).unwrap_or(usize::MAX),
            };
        }
        if self.sctp.is_none()
            && let Some(data) = n
                .sections
                .iter()
                .find(|s| s.kind == SectionKind::Data && !s.rejected)
        {
            let role = self.dtls_role.unwrap_or(role);
            let mut ec = sctp::EndpointConfig::new(match role {
                dtls::Role::Client => sctp::DtlsRole::Client,
                dtls::Role::Server => sctp::DtlsRole::Server,
            });
            ec.sctp.local_port = 5000;
            ec.sctp.remote_port = data.remote_sctp_port.unwrap_or(5000);
            ec.sctp.max_message_size = self.config.max_message_size;
            ec.sctp.max_buffered_amount = self.config.max_buffered_amount;
            let mut rng = self.rng.fork();
            let mut endpoint = sctp::DataChannelEndpoint::new(ec, now, &mut rng);
            if self.dtls_state == DtlsState::Connected {
                endpoint.connect(now);
            }
            self.sctp = Some(endpoint);
            self.open_pending_channels(now);
        }
        if self.sctp.is_none() && !self.pending_channels.is_empty() {
            if offered {
                // Our offer asked for data channels and the answer refused them.
                self.close_pending_channels();
            } else {
                // The peer's offer had no data section: ours comes with the next offer.
                self.events.push_back(Event::NegotiationNeeded);
            }
        }
        self.negotiated = Some(n);
    }

    /// Opens a data channel and returns its id (the SCTP stream id: even for the DTLS client,
    /// odd for the server, or the `negotiated` id). Like a browser's `createDataChannel`, it
    /// may be called at any time: before the first offer the connection asks for a data
    /// channel section (and [`Event::NegotiationNeeded`] once negotiated without one), and the
    /// open waits until SCTP is up.
    ///
    /// Before the DTLS role is known the id is provisional: it assumes we will be the DTLS
    /// server when we offer (browsers and this stack answer `actpass` with `active`) and the
    /// client when we answer. Should the answer decide otherwise, the channel moves to the
    /// next id of the right parity and [`Event::DataChannelIdChanged`] says so. Should the
    /// answer reject data channels, [`Event::DataChannelClose`] follows.
    pub fn create_data_channel(
        &mut self,
        now: Instant,
        config: ChannelConfig,
    ) -> Result<u16, Error> {
        self.check_open()?;
        let (label, protocol) = (config.label.clone(), config.protocol.clone());
        let id = match &mut self.sctp {
            Some(sctp) => sctp.open_channel(now, config)?,
            None => self.queue_channel(config)?,
        };
        self.channel_info(id, label, protocol);
        self.drive(now);
        Ok(id)
    }

    /// Keeps a channel created before SCTP exists, with a provisional id.
    fn queue_channel(&mut self, config: ChannelConfig) -> Result<u16, Error> {
        if self.pending_channels.len() >= MAX_PENDING_CHANNELS {
            return Err(sctp::SendError::NoFreeStream.into());
        }
        let taken = |id: u16| self.pending_channels.iter().any(|p| p.id == id);
        let id = match config.negotiated {
            Some(id) if taken(id) => return Err(sctp::SendError::StreamInUse(id).into()),
            Some(id) => id,
            None => {
                let first = match self.expected_dtls_role() {
                    dtls::Role::Client => 0,
                    dtls::Role::Server => 1,
                };
                (first..u16::MAX)
                    .step_by(2)
                    .find(|id| !taken(*id))
                    .ok_or(sctp::SendError::NoFreeStream)?
            }
        };
        if !self.jsep.has_data_channel() {
            self.add_data_channel_section();
        }
        self.pending_channels.push(PendingChannel {
            id,
            config,
            low_threshold: None,
        });
        Ok(id)
    }

    /// Our DTLS role, or the one we expect before the answer decides: the client when we
    /// answer (we answer `actpass` with `active` by default), the server when we offer.
    fn expected_dtls_role(&self) -> dtls::Role {
        if let Some(role) = self.dtls_role {
            return role;
        }
        let answering = self.pending_answer.is_some() || self.negotiated.is_some();
        if answering && self.jsep.config().answer_setup == sdp::Setup::Active {
            dtls::Role::Client
        } else {
            dtls::Role::Server
        }
    }

    /// SCTP now exists: open the channels created before it, on their promised ids when the
    /// role allows it.
    fn open_pending_channels(&mut self, now: Instant) {
        let Some(sctp) = &mut self.sctp else { return };
        let mut pending = std::mem::take(&mut self.pending_channels);
        // Pre-agreed ids first, so the automatic choice cannot take one of them.
        pending.sort_by_key(|p| p.config.negotiated.is_none());
        for PendingChannel {
            id: provisional,
            config,
            low_threshold,
        } in pending
        {
            let opened = if config.negotiated.is_some() {
                sctp.open_channel(now, config)
            } else {
                match sctp.open_channel_with_id(now, provisional, config.clone()) {
                    Err(sctp::SendError::WrongParity(_) | sctp::SendError::StreamInUse(_)) => {
                        sctp.open_channel(now, config)
                    }
                    other => other,
                }
            };
            if let (Ok(id), Some(t)) = (&opened, low_threshold) {
                sctp.set_buffered_amount_low_threshold(*id, t);
            }
            match opened {
                Ok(id) if id == provisional => {}
                Ok(id) => {
                    if let Some(info) = self.channels.remove(&provisional) {
                        self.channels.insert(id, info);
                    }
                    self.events
                        .push_back(Event::DataChannelIdChanged { provisional, id });
                }
                Err(_) => {
                    self.channels.remove(&provisional);
                    self.events.push_back(Event::DataChannelClose(provisional));
                }
            }
        }
    }

    /// The data section was rejected or is gone: channels waiting for it close.
    fn close_pending_channels(&mut self) {
        for PendingChannel { id, .. } in std::mem::take(&mut self.pending_channels) {
            self.pending_channel_closed(id);
        }
    }

    /// A channel that never reached SCTP is closed.
    fn pending_channel_closed(&mut self, id: u16) {
        if let Some(c) = self.channels.get_mut(&id) {
            c.open = false;
        }
        self.events.push_back(Event::DataChannelClose(id));
    }

    fn channel_info(&mut self, id: u16, label: String, protocol: String) -> &mut ChannelInfo {
        if self.channels.len() >= MAX_CLOSED_CHANNELS + 1024
            && let Some(closed) = self.channels.iter().find(|(_, c)| !c.open).map(|(&k, _)| k)
        {
            self.channels.remove(&closed);
        }
        let info = self.channels.entry(id).or_default();
        if !label.is_empty() || !protocol.is_empty() {
            info.label = label;
            info.protocol = protocol;
        }
        info
    }

    /// Sends a message on a data channel.
    pub fn send_data(
        &mut self,
        now: Instant,
        id: u16,
        data: &[u8],
        binary: bool,
    ) -> Result<(), Error> {
        self.check_open()?;
        let sctp = self.sctp.as_mut().ok_or(Error::NotConnected)?;
        if data.len() > self.remote_max_message_size {
            return Err(Error::MessageTooLarge {
                size: data.len(),
                max: self.remote_max_message_size,
            });
        }
        sctp.send(now, id, data.to_vec(), binary)?;
        if let Some(c) = self.channels.get_mut(&id) {
            c.messages_sent += 1;
            c.bytes_sent += data.len() as u64;
        }
        self.drive(now);
        Ok(())
    }

    /// Sends a text message on a data channel.
    pub fn send_text(&mut self, now: Instant, id: u16, text: &str) -> Result<(), Error> {
        self.send_data(now, id, text.as_bytes(), false)
    }

    /// Closes a data channel (its stream is reset; [`Event::DataChannelClose`] follows).
    pub fn close_data_channel(&mut self, now: Instant, id: u16) {
        if let Some(i) = self.pending_channels.iter().position(|p| p.id == id) {
            self.pending_channels.remove(i);
            self.pending_channel_closed(id);
            return;
        }
        if let Some(s) = &mut self.sctp {
            s.close(now, id);
        }
        self.drive(now);
    }

    /// Bytes queued on a data channel and not yet sent.
    pub fn buffered_amount(&self, id: u16) -> usize {
        self.sctp.as_ref().map_or(0, |s| s.buffered_amount(id))
    }

    /// Sets the threshold for [`Event::BufferedAmountLow`].
    pub fn set_buffered_amount_low_threshold(&mut self, id: u16, threshold: usize) {
        if let Some(s) = &mut self.sctp {
            s.set_buffered_amount_low_threshold(id, threshold);
        } else if let Some(p) = self.pending_channels.iter_mut().find(|p| p.id == id) {
            p.low_threshold = Some(threshold);
        }
    }

    fn check_open(&self) -> Result<(), Error> {
        if self.closing.is_some() || self.state == ConnectionState::Closed {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// Sends RTP on the track of m-section `mid`: the stack sets the SSRC (the one signalled
    /// for the track), the sequence number and the negotiated header extensions (`sdes:mid`,
    /// `rtp-stream-id` for a simulcast layer, `abs-send-time`), then protects it with SRTP.
    pub fn write_rtp(&mut self, now: Instant, mid: &str, write: RtpWrite<'_>) -> Result<(), Error> {
        self.check_open()?;
        if self.srtp.is_none() {
            return Err(Error::NotConnected);
        }
        let packet = self.media.build_rtp(now, mid, &write)?;
        self.send_plain_rtp(now, packet)
    }

    /// Sends a complete RTP packet (the caller chose SSRC, sequence number and extensions, e.g.
    /// to forward a packet) through SRTP.
    pub fn send_rtp(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        if self.srtp.is_none() {
            return Err(Error::NotConnected);
        }
        let mut buf = Vec::with_capacity(packet.len() + 16);
        buf.extend_from_slice(packet);
        self.send_plain_rtp(now, buf)
    }

    fn send_plain_rtp(&mut self, now: Instant, mut packet: Vec<u8>) -> Result<(), Error> {
        let (local, remote) = self.consented_path()?;
        let srtp = self.srtp.as_mut().ok_or(Error::NotConnected)?;
        if let Ok(p) = sansrtc_rtp::RtpPacket::parse(&packet) {
            self.media.on_sent(now, &p, &packet);
        }
        srtp.outbound.protect_rtp(&mut packet)?;
        self.stats.rtp_sent += 1;
        self.push(now, local, remote, packet);
        self.drive(now);
        Ok(())
    }

    /// Sends the retransmissions the peer's NACKs asked for.
    fn send_retransmissions(&mut self, now: Instant) {
        let (Some((local, remote)), Some(srtp)) = (self.sending_path(), self.srtp.as_mut()) else {
            return;
        };
        let mut protected = Vec::new();
        while let Some(mut packet) = self.media.poll_retransmit() {
            packet.reserve(16);
            if srtp.outbound.protect_rtp(&mut packet).is_ok() {
                protected.push(packet);
            }
        }
        for packet in protected {
            self.stats.retransmissions_sent += 1;
            self.stats.rtp_sent += 1;
            self.push(now, local, remote, packet);
        }
    }

    /// Sends a compound RTCP packet (built with `sansrtc::rtp::rtcp`) through SRTCP.
    pub fn send_rtcp(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        self.check_open()?;
        let (local, remote) = self.consented_path()?;
        let srtp = self.srtp.as_mut().ok_or(Error::NotConnected)?;
        let out = srtp.outbound.protect_rtcp_to_vec(packet)?;
        self.stats.rtcp_sent += 1;
        self.push(now, local, remote, out);
        self.drive(now);
        Ok(())
    }

    /// Asks the sender of the remote stream `ssrc` for a key frame (PLI or FIR).
    pub fn request_keyframe(
        &mut self,
        now: Instant,
        ssrc: u32,
        kind: KeyframeKind,
    ) -> Result<(), Error> {
        let packet = self.media.keyframe_request(ssrc, kind)?;
        self.send_rtcp(now, &packet)
    }

    /// Tells the sender of the remote stream `ssrc` that packets `lost` did not arrive (generic
    /// NACK, RFC 4585).
    pub fn send_nack(&mut self, now: Instant, ssrc: u32, lost: &[u16]) -> Result<(), Error> {
        let packet = self.media.nack(ssrc, lost)?;
        self.send_rtcp(now, &packet)
    }

    /// The codec negotiated for `payload_type` on m-section `mid`.
    pub fn codec(&self, mid: &str, payload_type: u8) -> Option<&Codec> {
        self.media.codec(mid, payload_type)
    }

    /// Our SSRC on m-section `mid` (the one signalled with `a=ssrc`, which
    /// [`PeerConnection::write_rtp`] sends on).
    pub fn sending_ssrc(&self, mid: &str) -> Option<u32> {
        self.media.sending_ssrc(mid)
    }

    /// Whether m-section `mid` carries audio or video.
    pub fn media_kind(&self, mid: &str) -> Option<MediaKind> {
        self.media.kind(mid)
    }

    /// Closes the connection cleanly: SCTP shuts down (SHUTDOWN / SHUTDOWN-ACK / -COMPLETE,
    /// at most 2 s), then DTLS sends close_notify and ICE stops. The state is `Closed` at once;
    /// keep polling until [`PeerConnection::is_closed`] to let the goodbyes out.
    pub fn close(&mut self, now: Instant) {
        if self.closing.is_some() || self.state == ConnectionState::Closed {
            return;
        }
        let sctp_up = self.dtls_state == DtlsState::Connected
            && self
                .sctp
                .as_ref()
                .is_some_and(|s| s.association().state() == sctp::State::Established);
        self.set_state(ConnectionState::Closed);
        if sctp_up && let Some(s) = &mut self.sctp {
            s.shutdown(now);
            self.closing = Some(now + CLOSE_WAIT);
            self.drive(now);
        } else {
            self.finish_close(now);
        }
    }

    /// SCTP is down (or gave up): DTLS says goodbye, ICE stops.
    fn finish_close(&mut self, now: Instant) {
        self.closing = None;
        if let Some(d) = &mut self.dtls {
            d.close();
        }
        self.relays.close(now);
        self.drive(now);
        if let Some(a) = &mut self.agent {
            a.close();
        }
        for c in self.channels.values_mut() {
            c.open = false;
        }
        self.sctp = None;
        self.srtp = None;
        self.set_dtls_state(DtlsState::Closed);
        self.set_state(ConnectionState::Closed);
    }

    /// Closed, and every goodbye handed out through [`PeerConnection::poll_transmit`].
    pub fn is_closed(&self) -> bool {
        self.state == ConnectionState::Closed && self.closing.is_none()
    }

    /// Counters of datagrams and drops.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// A snapshot of every statistic: transport, candidate pairs, RTP streams, data channels.
    pub fn stats_report(&self) -> StatsReport {
        let selected = self.path;
        let candidate_pairs = self
            .agent
            .as_ref()
            .map(|a| {
                a.checklist()
                    .pairs()
                    .iter()
                    .map(|p| {
                        let c = self
                            .paths
                            .iter()
                            .find(|c| c.local == p.local && c.remote == p.remote);
                        CandidatePairStats {
                            local: p.local,
                            remote: p.remote,
                            state: p.state,
                            nominated: p.nominated,
                            selected: selected == Some((p.local, p.remote)),
                            round_trip_time: a.round_trip_time(p.local, p.remote),
                            packets_sent: c.map_or(0, |c| c.packets_sent),
                            bytes_sent: c.map_or(0, |c| c.bytes_sent),
                            packets_received: c.map_or(0, |c| c.packets_received),
                            bytes_received: c.map_or(0, |c| c.bytes_received),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        let data_channels = self
            .channels
            .iter()
            .map(|(&id, c)| DataChannelStats {
                id,
                label: c.label.clone(),
                protocol: c.protocol.clone(),
                open: c.open,
                messages_sent: c.messages_sent,
                bytes_sent: c.bytes_sent,
                messages_received: c.messages_received,
                bytes_received: c.bytes_received,
                buffered_amount: self.buffered_amount(id),
            })
            .collect();
        StatsReport {
            transport: TransportStats {
                state: self.state,
                ice_state: self.ice_state,
                dtls_state: self.dtls_state,
                counters: self.stats,
                selected_pair: selected,
                dtls_cipher_suite: self.dtls.as_ref().and_then(|d| d.cipher_suite()),
                srtp_profile: self.srtp_profile(),
                ice: self.agent.as_ref().map(|a| a.stats()).unwrap_or_default(),
                dtls: self.dtls_stats(),
                sctp_round_trip_time: self
                    .sctp
                    .as_ref()
                    .and_then(|s| s.association().smoothed_rtt()),
                sctp: self
                    .sctp
                    .as_ref()
                    .map(|s| (s.association().state(), s.association().stats())),
            },
            candidate_pairs,
            inbound_rtp: self.media.inbound_stats(),
            outbound_rtp: self.media.outbound_stats(),
            data_channels,
        }
    }

    /// The DTLS endpoint's counters (dropped records, retransmissions), once negotiated.
    pub fn dtls_stats(&self) -> Option<dtls::endpoint::Stats> {
        self.dtls.as_ref().map(|d| d.stats().clone())
    }

    /// The ICE agent's counters (checks, authentication failures), once negotiating.
    pub fn ice_stats(&self) -> Option<ice::agent::AgentStats> {
        self.agent.as_ref().map(|a| a.stats())
    }

    /// The overall state.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// The selected path `(local, remote)`, once ICE selected a pair.
    pub fn selected_path(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.path
    }

    /// The negotiated SRTP profile, once DTLS is connected (and after it closed).
    pub fn srtp_profile(&self) -> Option<srtp::Profile> {
        if !matches!(self.dtls_state, DtlsState::Connected | DtlsState::Closed) {
            return None;
        }
        Some(srtp_profile(self.dtls.as_ref()?.srtp_profile()?))
    }

    /// The mids of the negotiated media sections, in order.
    pub fn media_mids(&self) -> Vec<String> {
        self.media.mids().map(str::to_owned).collect()
    }

    /// A datagram arrived on local address `destination` from `source`.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) {
        self.stats.datagrams_received += 1;
        self.stats.bytes_received += datagram.len() as u64;
        if !self.locals.contains(&destination) || self.is_closed() {
            self.stats.dropped_unknown += 1;
            return;
        }
        if self
            .relays
            .handle_receive(now, source, destination, datagram, &mut self.relay_events)
        {
            self.on_relay_events(now);
        } else {
            self.handle_datagram(now, source, destination, datagram);
        }
        self.drive(now);
    }

    /// What TURN relays reported: new relayed candidates, data relayed from peers, failures.
    fn on_relay_events(&mut self, now: Instant) {
        for e in std::mem::take(&mut self.relay_events) {
            match e {
                RelayEvent::Allocated { relayed, server } => {
                    if let Some(a) = &mut self.agent
                        && let Some(c) = a.add_relayed_candidate(relayed, server)
                    {
                        self.local_candidates.push(c.to_string());
                        self.events.push_back(Event::LocalCandidate(c.to_string()));
                    }
                }
                RelayEvent::Data {
                    peer,
                    relayed,
                    data,
                } => self.handle_datagram(now, peer, relayed, &data),
                RelayEvent::Failed { .. } => self.stats.relay_failures += 1,
            }
        }
    }

    /// A datagram for one of our addresses (a socket, or a relayed address through TURN).
    fn handle_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) {
        let kind = demux::classify(datagram);
        if matches!(kind, Kind::Dtls | Kind::Rtp | Kind::Rtcp)
            && !self.is_validated_path(destination, source)
        {
            // Only the peer knows the ICE password: anything from a path its checks did not
            // validate may come from anyone, and never reaches DTLS, SRTP or SCTP.
            self.stats.dropped_unvalidated += 1;
            return;
        }
        if kind != Kind::Stun
            && let Some(c) = self
                .paths
                .iter_mut()
                .find(|c| c.local == destination && c.remote == source)
        {
            c.packets_received += 1;
            c.bytes_received += datagram.len() as u64;
        }
        match kind {
            Kind::Stun => match &mut self.agent {
                Some(a) => {
                    if !a.handle_receive(now, source, destination, datagram) {
                        self.stats.dropped_stun += 1;
                    }
                }
                None => self.stats.dropped_stun += 1,
            },
            Kind::Dtls if self.dtls.is_none() => self.stats.dropped_dtls += 1,
            Kind::Dtls => {
                // A server answers where the ClientHello came from (a validated path) until
                // ICE selects a pair.
                if self.path.is_none() {
                    self.set_path(destination, source);
                }
                if let Some(d) = &mut self.dtls {
                    d.handle_receive(now, datagram);
                }
            }
            Kind::Rtp => self.receive_rtp(now, datagram),
            Kind::Rtcp => self.receive_rtcp(now, datagram),
            Kind::Unknown => self.stats.dropped_unknown += 1,
        }
    }

    fn receive_rtp(&mut self, now: Instant, datagram: &[u8]) {
        let Some(srtp) = &mut self.srtp else {
            self.stats.dropped_srtp += 1;
            return;
        };
        match srtp.inbound.unprotect_rtp_to_vec(datagram) {
            Ok(plain) => match self.media.on_received(now, plain) {
                Received::Rtp(packet) => {
                    self.stats.rtp_received += 1;
                    self.events.push_back(Event::Rtp(packet));
                }
                Received::Discarded => self.stats.rtx_discarded += 1,
                Received::Malformed => self.stats.dropped_srtp += 1,
            },
            Err(_) => self.stats.dropped_srtp += 1,
        }
    }

    fn receive_rtcp(&mut self, now: Instant, datagram: &[u8]) {
        let Some(srtp) = &mut self.srtp else {
            self.stats.dropped_srtp += 1;
            return;
        };
        match srtp.inbound.unprotect_rtcp_to_vec(datagram) {
            Ok(plain) => {
                self.stats.rtcp_received += 1;
                self.media.on_rtcp(now, &plain, &mut self.events);
                self.stats.retransmissions_limited = self.media.retransmissions_limited;
                self.send_retransmissions(now);
                self.events.push_back(Event::Rtcp(plain));
            }
            Err(_) => self.stats.dropped_srtp += 1,
        }
    }

    /// The deadline passed (calling early or twice is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        if let Some(a) = &mut self.agent {
            a.handle_timeout(now);
        }
        if let Some(d) = &mut self.dtls {
            d.handle_timeout(now);
        }
        if let Some(s) = &mut self.sctp {
            s.handle_timeout(now);
        }
        self.relays.handle_timeout(now, &mut self.relay_events);
        self.on_relay_events(now);
        if self.srtp.is_some()
            && self.closing.is_none()
            && let Some(rtcp) = self.media.poll_reports(now)
        {
            let _ = self.send_rtcp(now, &rtcp);
        }
        if self.srtp.is_some() && self.closing.is_none() {
            if let (Some(agent), Some((local, remote))) = (&self.agent, self.path)
                && let Some(rtt) = agent.round_trip_time(local, remote)
            {
                self.media.set_transport_rtt(rtt);
            }
            for feedback in self.media.poll_feedback(now) {
                let _ = self.send_rtcp(now, &feedback);
            }
        }
        self.drive(now);
        if self.closing.is_some_and(|deadline| now >= deadline) {
            self.finish_close(now);
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`PeerConnection::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        let mut t: Option<Instant> = None;
        let mut min = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        min(self.agent.as_ref().and_then(|a| a.poll_timeout()));
        min(self.dtls.as_ref().and_then(|d| d.poll_timeout()));
        min(self.sctp.as_ref().and_then(|s| s.poll_timeout()));
        min(self.closing);
        min(self.relays.poll_timeout());
        if self.srtp.is_some() && self.closing.is_none() {
            min(self.media.next_deadline());
        }
        t
    }

    /// Whether the path from our address `local` to the peer's `remote` may carry DTLS, SRTP
    /// and SCTP: the selected pair, or a path an authenticated ICE check validated (a check
    /// or answer with the right MESSAGE-INTEGRITY: only the peer knows the password). Consent
    /// lost forgets the path (RFC 7675). A server routing datagrams of many connections by
    /// source address creates a route only once this holds.
    pub fn is_validated_path(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        self.agent.as_ref().is_some_and(|a| {
            a.is_validated(local, remote) || a.selected_pair() == Some((local, remote))
        })
    }

    /// The path DTLS, SRTP and SCTP are sent on, while it has ICE consent.
    fn sending_path(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.path.filter(|&(l, r)| self.is_validated_path(l, r))
    }

    fn set_path(&mut self, local: SocketAddr, remote: SocketAddr) {
        self.path = Some((local, remote));
        if !self
            .paths
            .iter()
            .any(|c| c.local == local && c.remote == remote)
        {
            if self.paths.len() >= MAX_PATHS {
                self.paths.remove(0);
            }
            self.paths.push(PathCounters {
                local,
                remote,
                packets_sent: 0,
                bytes_sent: 0,
                packets_received: 0,
                bytes_received: 0,
            });
        }
    }

    /// The path to send media on, or why there is none: nothing selected yet, or consent
    /// expired (RFC 7675: only ICE, a restart, brings it back).
    fn consented_path(&mut self) -> Result<(SocketAddr, SocketAddr), Error> {
        match (self.path, self.sending_path()) {
            (_, Some(p)) => Ok(p),
            (Some(_), None) => {
                self.stats.dropped_no_consent += 1;
                Err(Error::NoConsent)
            }
            (None, None) => Err(Error::NotConnected),
        }
    }

    /// Sends a datagram from one of our addresses: a socket directly, a relayed address
    /// through its TURN server.
    fn emit(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        contents: Vec<u8>,
    ) {
        if self.relays.is_relayed(source) {
            self.relays.send(now, source, destination, &contents);
            self.stats.dropped_relay = self.relays.dropped;
            while let Some((local, server, bytes)) = self.relays.poll_transmit() {
                self.transmits.push_back(Transmit {
                    source: local,
                    destination: server,
                    contents: bytes,
                });
            }
        } else {
            self.transmits.push_back(Transmit {
                source,
                destination,
                contents,
            });
        }
    }

    /// Sends DTLS, SRTP or SRTCP on the selected path, counted per path.
    fn push(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        contents: Vec<u8>,
    ) {
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += contents.len() as u64;
        if let Some(c) = self
            .paths
            .iter_mut()
            .find(|c| c.local == source && c.remote == destination)
        {
            c.packets_sent += 1;
            c.bytes_sent += contents.len() as u64;
        }
        self.emit(now, source, destination, contents);
    }

    fn set_dtls_state(&mut self, s: DtlsState) {
        if self.dtls_state != s {
            self.dtls_state = s;
            self.events.push_back(Event::DtlsStateChange(s));
        }
        self.update_state();
    }

    fn set_state(&mut self, s: ConnectionState) {
        if self.state != s {
            self.state = s;
            self.events.push_back(Event::ConnectionStateChange(s));
        }
    }

    fn update_state(&mut self) {
        if self.state == ConnectionState::Closed {
            return;
        }
        let s = match (self.ice_state, self.dtls_state) {
            (IceState::Failed | IceState::Closed, _) | (_, DtlsState::Failed) => {
                ConnectionState::Failed
            }
            (_, DtlsState::Closed) => ConnectionState::Closed,
            (IceState::Disconnected, _) => ConnectionState::Disconnected,
            (IceState::Connected | IceState::Completed, DtlsState::Connected) => {
                ConnectionState::Connected
            }
            (IceState::New, DtlsState::New) => ConnectionState::New,
            _ => ConnectionState::Connecting,
        };
        self.set_state(s);
    }

    /// Moves output between the layers until nothing changes.
    fn drive(&mut self, now: Instant) {
        for _ in 0..10_000 {
            let mut progress = false;
            if let Some(agent) = &mut self.agent {
                let mut out = Vec::new();
                while let Some(t) = agent.poll_transmit() {
                    out.push(t);
                }
                for t in out {
                    self.stats.datagrams_sent += 1;
                    self.stats.bytes_sent += t.contents.len() as u64;
                    self.emit(now, t.source, t.destination, t.contents);
                }
                while let Some(e) = self.agent.as_mut().and_then(|a| a.poll_event()) {
                    progress = true;
                    self.on_agent_event(now, e);
                }
            }
            let path = self.sending_path();
            while let Some(bytes) = self.dtls.as_mut().and_then(|d| d.poll_transmit()) {
                match path {
                    Some((l, r)) => self.push(now, l, r, bytes),
                    None => self.stats.dropped_no_consent += 1,
                }
            }
            while let Some(e) = self.dtls.as_mut().and_then(|d| d.poll_event()) {
                progress = true;
                self.on_dtls_event(now, e);
            }
            if let (Some(s), Some(d)) = (&mut self.sctp, &mut self.dtls)
                && d.is_connected()
            {
                while let Some(p) = s.poll_transmit(now) {
                    progress = true;
                    let _ = d.send_application_data(&p);
                }
            }
            while let Some(e) = self.sctp.as_mut().and_then(|s| s.poll_event()) {
                progress = true;
                self.on_sctp_event(now, e);
            }
            if !progress {
                break;
            }
        }
        while let Some((local, server, bytes)) = self.relays.poll_transmit() {
            self.transmits.push_back(Transmit {
                source: local,
                destination: server,
                contents: bytes,
            });
        }
    }

    fn on_agent_event(&mut self, now: Instant, e: AgentEvent) {
        match e {
            AgentEvent::StateChanged(s) => {
                if self
                    .path
                    .is_some_and(|(l, r)| !self.is_validated_path(l, r))
                {
                    // Consent expired (or ICE closed): the path is gone until ICE selects one.
                    self.path = None;
                }
                self.ice_state = s;
                self.events.push_back(Event::IceStateChange(s));
                self.update_state();
            }
            AgentEvent::SelectedPair { local, remote, .. } => {
                self.set_path(local, remote);
                if self.relays.is_relayed(local) {
                    self.relays.selected(now, local, remote);
                }
                self.events
                    .push_back(Event::SelectedPairChange { local, remote });
                if let Some(d) = &mut self.dtls
                    && self.dtls_role == Some(dtls::Role::Client)
                    && !d.is_connected()
                {
                    d.connect(now);
                }
            }
            AgentEvent::LocalCandidate(c) => {
                self.events.push_back(Event::LocalCandidate(c.to_string()))
            }
            AgentEvent::GatheringComplete => self.events.push_back(Event::GatheringComplete),
        }
    }

    fn on_dtls_event(&mut self, now: Instant, e: dtls::Event) {
        match e {
            dtls::Event::Connected { .. } => {
                // The endpoint already checked the certificate against the SDP fingerprints.
                self.ensure_srtp();
                if self.srtp.is_none() && self.media.mids().next().is_some() {
                    // Media was negotiated but no SRTP profile was agreed (RFC 5764 4.1.1 lets
                    // either side abort): close instead of connecting without media.
                    if let Some(d) = &mut self.dtls {
                        d.close();
                    }
                    self.set_dtls_state(DtlsState::Failed);
                    return;
                }
                if let Some(s) = &mut self.sctp {
                    s.connect(now);
                }
                self.media.start(now);
                self.set_dtls_state(DtlsState::Connected);
            }
            dtls::Event::ApplicationData(data) => {
                if let Some(s) = &mut self.sctp {
                    s.handle_receive(now, &data);
                }
            }
            dtls::Event::AlertReceived(_) => {}
            dtls::Event::Closed => {
                if self.closing.is_none() && self.dtls_state != DtlsState::Failed {
                    // The peer said goodbye.
                    for c in self.channels.values_mut() {
                        c.open = false;
                    }
                    self.set_dtls_state(DtlsState::Closed);
                }
            }
            dtls::Event::Failed(_) => self.set_dtls_state(DtlsState::Failed),
        }
    }

    /// Makes the SRTP contexts from the DTLS exporter once DTLS is connected and a media section
    /// is negotiated (a data-channel-only connection never needs them).
    fn ensure_srtp(&mut self) {
        if self.srtp.is_some() || self.media.mids().next().is_none() {
            return;
        }
        if let Some(d) = &self.dtls
            && d.is_connected()
            && let Ok((profile, material)) = d.srtp_keying_material()
        {
            let role = match self.dtls_role {
                Some(dtls::Role::Client) => srtp::Role::Client,
                _ => srtp::Role::Server,
            };
            self.srtp = srtp::Context::from_dtls_keying_material(
                srtp_profile(profile),
                &material,
                role,
                srtp::Config::default(),
            )
            .ok()
            .map(Box::new);
        }
    }

    fn on_sctp_event(&mut self, now: Instant, e: sctp::DataChannelEvent) {
        use sctp::DataChannelEvent as D;
        let ev = match e {
            D::Connected => return,
            D::ChannelOpened {
                id,
                label,
                protocol,
            } => {
                self.channel_info(id, label.clone(), protocol.clone()).open = true;
                Event::DataChannelOpen {
                    id,
                    label,
                    protocol,
                }
            }
            D::Message {
                channel,
                data,
                binary,
            } => {
                if let Some(c) = self.channels.get_mut(&channel) {
                    c.messages_received += 1;
                    c.bytes_received += data.len() as u64;
                }
                Event::DataChannelMessage {
                    id: channel,
                    data,
                    binary,
                }
            }
            D::ChannelClosed(id) => {
                if let Some(c) = self.channels.get_mut(&id) {
                    c.open = false;
                }
                Event::DataChannelClose(id)
            }
            D::BufferedAmountLow(id) => Event::BufferedAmountLow(id),
            D::Disconnected(_) => {
                if self.closing.is_some() {
                    self.finish_close(now);
                }
                return;
            }
            // Events a newer sansrtc-sctp may add (the enum is non-exhaustive).
            _ => return,
        };
        self.events.push_back(ev);
    }
}

/// The dtls crate's name for a fingerprint hash the sdp crate parsed.
fn hash_algorithm(h: sdp::FingerprintHash) -> dtls::HashAlgorithm {
    match h {
        sdp::FingerprintHash::Sha1 => dtls::HashAlgorithm::Sha1,
        sdp::FingerprintHash::Sha224 => dtls::HashAlgorithm::Sha224,
        sdp::FingerprintHash::Sha256 => dtls::HashAlgorithm::Sha256,
        sdp::FingerprintHash::Sha384 => dtls::HashAlgorithm::Sha384,
        sdp::FingerprintHash::Sha512 => dtls::HashAlgorithm::Sha512,
    }
}

fn srtp_profile(p: dtls::SrtpProfile) -> srtp::Profile {
    match p {
        dtls::SrtpProfile::Aes128CmHmacSha1_80 => srtp::Profile::Aes128CmHmacSha1_80,
        dtls::SrtpProfile::Aes128CmHmacSha1_32 => srtp::Profile::Aes128CmHmacSha1_32,
        dtls::SrtpProfile::AeadAes128Gcm => srtp::Profile::AeadAes128Gcm,
        dtls::SrtpProfile::AeadAes256Gcm => srtp::Profile::AeadAes256Gcm,
    }
}
