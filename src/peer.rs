//! The peer connection: JSEP, ICE, DTLS, SRTP and SCTP data channels composed into one sans-IO
//! state machine over one bundled, rtcp-muxed transport.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sansrtc_dtls as dtls;
use sansrtc_ice as ice;
use sansrtc_sctp as sctp;
use sansrtc_sdp as sdp;
use sansrtc_srtp as srtp;

use ice::agent::{Agent, AgentConfig, AgentEvent};
use sdp::jsep::{JsepConfig, JsepSession, Negotiated, SectionKind, Transceiver, TransceiverId};
use sdp::{Attribute, SessionDescription, Setup};

use crate::demux::{self, Kind};
use crate::rng::PcRng;

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
    /// How often RTCP receiver/sender reports are sent while media flows (default 1 s).
    pub rtcp_interval: Duration,
    /// SRTP profiles offered or accepted in DTLS `use_srtp`, in preference order (default all
    /// four, in the dtls crate's order: AES-128-GCM, AES-CM-80, AES-256-GCM, AES-CM-32).
    pub srtp_profiles: Vec<dtls::SrtpProfile>,
    /// DTLS cipher suites in preference order (default every suite the dtls crate has).
    pub cipher_suites: Vec<dtls::CipherSuite>,
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
            rtcp_interval: Duration::from_secs(1),
            srtp_profiles: dtls::SrtpProfile::ALL.to_vec(),
            cipher_suites: dtls::CipherSuite::ALL.to_vec(),
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
    /// The ICE state changed.
    IceStateChange(IceState),
    /// The DTLS state changed.
    DtlsStateChange(DtlsState),
    /// The overall state changed.
    ConnectionStateChange(ConnectionState),
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
    /// A channel's buffered amount fell to its low threshold.
    BufferedAmountLow(u16),
    /// A decrypted RTP packet.
    Rtp {
        /// The m-section it belongs to, when known (by SSRC signalling or a single media section).
        mid: Option<String>,
        /// The whole RTP packet, decrypted.
        packet: Vec<u8>,
    },
    /// A decrypted compound RTCP packet (reports, PLI, FIR, NACK).
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
    /// Not possible before the transport is connected.
    #[error("not connected")]
    NotConnected,
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
}

/// A sans-IO WebRTC peer connection.
pub struct PeerConnection {
    config: Config,
    rng: PcRng,
    jsep: JsepSession,
    certificate: Arc<dtls::Certificate>,
    locals: Vec<SocketAddr>,
    local_candidates: Vec<String>,
    agent: Option<Agent<PcRng>>,
    pending_remote_candidates: Vec<ice::candidate::Candidate>,
    negotiated: Option<Negotiated>,
    pending_answer: Option<String>,
    have_local_offer: bool,
    dtls: Option<dtls::Endpoint>,
    dtls_role: Option<dtls::Role>,
    sctp: Option<sctp::DataChannelEndpoint>,
    hello: crate::hello::HelloAssembler,
    /// SRTP contexts (~3.8 KB), made only once media sections are negotiated and DTLS is up.
    srtp: Option<Box<srtp::SessionContexts>>,
    /// Where DTLS/SRTP go: the selected pair, or the last address DTLS came from.
    path: Option<(SocketAddr, SocketAddr)>,
    ice_state: IceState,
    dtls_state: DtlsState,
    state: ConnectionState,
    ssrc_mid: HashMap<u32, String>,
    media_mids: Vec<String>,
    media: crate::media::MediaState,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: Stats,
    last_now: Option<Instant>,
}

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
            fingerprint_hash: "sha-256".into(),
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
        Ok(Self {
            config,
            rng,
            jsep,
            certificate,
            locals: Vec::new(),
            local_candidates: Vec::new(),
            agent: None,
            pending_remote_candidates: Vec::new(),
            negotiated: None,
            pending_answer: None,
            have_local_offer: false,
            dtls: None,
            dtls_role: None,
            sctp: None,
            hello: crate::hello::HelloAssembler::default(),
            srtp: None,
            path: None,
            ice_state: IceState::New,
            dtls_state: DtlsState::New,
            state: ConnectionState::New,
            ssrc_mid: HashMap::new(),
            media_mids: Vec::new(),
            media: crate::media::MediaState::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            last_now: None,
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
            && let Some(c) = agent.add_host_candidate(addr)
        {
            self.local_candidates.push(c.to_string());
            self.events.push_back(Event::LocalCandidate(c.to_string()));
        }
    }

    /// Adds a transceiver (audio or video) to the next offer, or to match the next remote offer.
    pub fn add_transceiver(&mut self, transceiver: Transceiver) -> TransceiverId {
        self.jsep.add_transceiver(transceiver)
    }

    fn ensure_agent(&mut self, controlling: bool) {
        if self.agent.is_some() {
            return;
        }
        let creds = self.jsep.local_ice().clone();
        let mut cfg = AgentConfig::new(controlling, &creds.ufrag, &creds.pwd);
        cfg.stun_servers = self.config.stun_servers.clone();
        let mut agent = Agent::new(cfg, self.rng.fork());
        for &a in &self.locals {
            if let Some(c) = agent.add_host_candidate(a) {
                self.local_candidates.push(c.to_string());
            }
        }
        self.agent = Some(agent);
    }

    fn with_candidates(&self, mut desc: SessionDescription<'static>) -> String {
        let cands = self.local_candidates.clone();
        if let Some(m) = desc.media.first_mut() {
            for c in cands {
                m.attributes
                    .push(Attribute::new("candidate", c[10..].to_owned()));
            }
            m.attributes.push(Attribute::flag("end-of-candidates"));
        }
        desc.to_sdp_string()
    }

    /// Creates an offer (and sets it as the local description). Candidates of every registered
    /// address are included.
    pub fn create_offer(&mut self, now: Instant) -> Result<String, Error> {
        if self.pending_answer.is_some() {
            return Err(Error::State("an offer is being answered"));
        }
        self.last_now = Some(now);
        self.ensure_agent(true);
        let offer = self.jsep.create_offer();
        self.have_local_offer = true;
        Ok(self.with_candidates(offer))
    }

    /// Sets the local description: accepts the offer or answer this connection created (the
    /// JSEP session already holds it); anything else is refused.
    pub fn set_local_description(&mut self, kind: SdpType, _sdp: &str) -> Result<(), Error> {
        match kind {
            SdpType::Offer if self.have_local_offer => Ok(()),
            SdpType::Answer if self.negotiated.is_some() => Ok(()),
            _ => Err(Error::State("no such local description was created")),
        }
    }

    /// Sets the remote description. For an offer, the answer is then available from
    /// [`PeerConnection::create_answer`].
    pub fn set_remote_description(
        &mut self,
        now: Instant,
        kind: SdpType,
        sdp_text: &str,
    ) -> Result<(), Error> {
        self.last_now = Some(now);
        let desc = SessionDescription::parse(sdp_text)?;
        let negotiated = match kind {
            SdpType::Offer => {
                if self.have_local_offer {
                    return Err(Error::State("have a local offer (no glare handling)"));
                }
                self.ensure_agent(false);
                let (answer, negotiated) =
                    self.jsep.create_answer(&desc).map_err(NegotiationFailure)?;
                self.pending_answer = Some(self.with_candidates(answer));
                negotiated
            }
            SdpType::Answer => {
                if !self.have_local_offer {
                    return Err(Error::State("no local offer"));
                }
                let n = self
                    .jsep
                    .set_remote_answer(&desc)
                    .map_err(NegotiationFailure)?;
                self.have_local_offer = false;
                n
            }
        };
        self.apply(now, negotiated);
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
        match &mut self.agent {
            Some(a) if self.negotiated.is_some() => {
                // Limits reached: the agent refuses it and we drop it.
                let _ = a.add_remote_candidate(c);
            }
            _ => {
                if self.pending_remote_candidates.len() < 64 {
                    self.pending_remote_candidates.push(c);
                }
            }
        }
        self.drive(now);
        Ok(())
    }

    fn apply(&mut self, now: Instant, n: Negotiated) {
        let first_new = self.negotiated.is_none();
        let agent = self.agent.as_mut().expect("agent exists once negotiating");
        if let Some(ice) = n.sections.iter().find_map(|s| s.remote_ice.clone()) {
            agent.set_remote_credentials(&ice.ufrag, &ice.pwd);
        }
        agent.set_remote_lite(n.remote_ice_lite);
        let bundle_first = n.bundle.first().cloned();
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
                    Ok(c) => {
                        let _ = agent.add_remote_candidate(c);
                    }
                    Err(_) => self.stats.bad_candidates += 1,
                }
            }
        }
        for c in self.pending_remote_candidates.drain(..) {
            let _ = agent.add_remote_candidate(c);
        }
        agent.start(now);
        if first_new {
            agent.gather(now);
        }
        self.ssrc_mid.clear();
        self.media_mids.clear();
        for s in &n.sections {
            if let SectionKind::Media(_) = s.kind
                && !s.rejected
            {
                self.media_mids.push(s.mid.clone());
                for &ssrc in &s.remote_ssrcs {
                    self.ssrc_mid.insert(ssrc, s.mid.clone());
                }
            }
        }
        self.media
            .configure(&n, &mut self.rng, self.config.rtcp_interval);
        // Media added by a renegotiation after DTLS connected.
        self.ensure_srtp();
        if self.dtls.is_none() {
            let role = match n.dtls_role {
                sdp::jsep::DtlsRole::Client => dtls::Role::Client,
                sdp::jsep::DtlsRole::Server => dtls::Role::Server,
            };
            let mut cfg = dtls::Config::new(self.certificate.clone());
            cfg.srtp_profiles = self.config.srtp_profiles.clone();
            cfg.cipher_suites = self.config.cipher_suites.clone();
            cfg.remote_fingerprints = n
                .remote_fingerprints
                .iter()
                .filter_map(|(hash, digest)| {
                    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
                    dtls::Fingerprint::parse(&format!("{hash} {}", hex.join(":"))).ok()
                })
                .collect();
            let rng = Box::new(self.rng.fork());
            self.dtls = Some(match role {
                dtls::Role::Client => dtls::Endpoint::client(cfg, rng),
                dtls::Role::Server => dtls::Endpoint::server(cfg, rng),
            });
            self.dtls_role = Some(role);
            if let Some(data) = n
                .sections
                .iter()
                .find(|s| s.kind == SectionKind::Data && !s.rejected)
            {
                let mut ec = sctp::EndpointConfig::new(match role {
                    dtls::Role::Client => sctp::DtlsRole::Client,
                    dtls::Role::Server => sctp::DtlsRole::Server,
                });
                ec.sctp.local_port = 5000;
                ec.sctp.remote_port = data.remote_sctp_port.unwrap_or(5000);
                ec.sctp.max_message_size = self.config.max_message_size;
                let mut rng = self.rng.fork();
                self.sctp = Some(sctp::DataChannelEndpoint::new(ec, now, &mut rng));
            }
            self.set_dtls_state(DtlsState::Connecting);
        }
        self.negotiated = Some(n);
    }

    /// Opens a data channel (after negotiation; the open is queued until SCTP is up).
    pub fn create_data_channel(
        &mut self,
        now: Instant,
        config: ChannelConfig,
    ) -> Result<u16, Error> {
        let sctp = self.sctp.as_mut().ok_or(Error::NotConnected)?;
        let id = sctp.open_channel(now, config)?;
        self.drive(now);
        Ok(id)
    }

    /// Sends a message on a data channel.
    pub fn send_data(
        &mut self,
        now: Instant,
        id: u16,
        data: &[u8],
        binary: bool,
    ) -> Result<(), Error> {
        let sctp = self.sctp.as_mut().ok_or(Error::NotConnected)?;
        sctp.send(now, id, data.to_vec(), binary)?;
        self.drive(now);
        Ok(())
    }

    /// Sends a text message on a data channel.
    pub fn send_text(&mut self, now: Instant, id: u16, text: &str) -> Result<(), Error> {
        self.send_data(now, id, text.as_bytes(), false)
    }

    /// Closes a data channel.
    pub fn close_data_channel(&mut self, now: Instant, id: u16) {
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
        }
    }

    /// Sends an RTP packet (plain, complete) through SRTP. The SSRC identifies the stream.
    pub fn send_rtp(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        let srtp = self.srtp.as_mut().ok_or(Error::NotConnected)?;
        let (local, remote) = self.path.ok_or(Error::NotConnected)?;
        if let Ok(p) = sansrtc_rtp::RtpPacket::parse(packet) {
            self.media.on_sent(now, &p);
        }
        let out = srtp.outbound.protect_rtp_to_vec(packet)?;
        self.stats.rtp_sent += 1;
        self.push(local, remote, out);
        self.drive(now);
        Ok(())
    }

    /// Sends a compound RTCP packet (e.g. a PLI, FIR or NACK built with `sansrtc::rtp::rtcp`)
    /// through SRTCP.
    pub fn send_rtcp(&mut self, now: Instant, packet: &[u8]) -> Result<(), Error> {
        let srtp = self.srtp.as_mut().ok_or(Error::NotConnected)?;
        let (local, remote) = self.path.ok_or(Error::NotConnected)?;
        let out = srtp.outbound.protect_rtcp_to_vec(packet)?;
        self.stats.rtcp_sent += 1;
        self.push(local, remote, out);
        self.drive(now);
        Ok(())
    }

    /// Closes the connection: SCTP shutdown is skipped, DTLS sends close_notify.
    pub fn close(&mut self, now: Instant) {
        if let Some(d) = &mut self.dtls {
            d.close();
        }
        self.drive(now);
        self.set_dtls_state(DtlsState::Closed);
        self.set_state(ConnectionState::Closed);
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The DTLS endpoint's counters (dropped records, retransmissions), once negotiated.
    pub fn dtls_stats(&self) -> Option<dtls::endpoint::Stats> {
        self.dtls.as_ref().map(|d| d.stats().clone())
    }

    /// The overall state.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// The selected path `(local, remote)`, once ICE selected a pair.
    pub fn selected_path(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.path
    }

    /// The negotiated SRTP profile, once DTLS is connected.
    pub fn srtp_profile(&self) -> Option<srtp::Profile> {
        let d = self.dtls.as_ref().filter(|d| d.is_connected())?;
        srtp_profile(d.srtp_profile()?)
    }

    /// The mids of the negotiated media sections, in order.
    pub fn media_mids(&self) -> &[String] {
        &self.media_mids
    }

    /// A datagram arrived on local address `destination` from `source`.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) {
        self.last_now = Some(now);
        self.stats.datagrams_received += 1;
        self.stats.bytes_received += datagram.len() as u64;
        if !self.locals.contains(&destination) {
            self.stats.dropped_unknown += 1;
            return;
        }
        match demux::classify(datagram) {
            Kind::Stun => match &mut self.agent {
                Some(a) => {
                    if !a.handle_receive(now, source, destination, datagram) {
                        self.stats.dropped_stun += 1;
                    }
                }
                None => self.stats.dropped_stun += 1,
            },
            Kind::Dtls => match &mut self.dtls {
                Some(d) => {
                    // A server answers where the ClientHello came from until ICE selects a pair.
                    if self.path.is_none() {
                        self.path = Some((destination, source));
                    }
                    let joined = if self.dtls_role == Some(dtls::Role::Server) && !d.is_connected()
                    {
                        self.hello.process(datagram)
                    } else {
                        None
                    };
                    let datagram = joined.as_deref().unwrap_or(datagram);
                    match demux::normalize_dtls10_records(datagram) {
                        Some(fixed) => d.handle_receive(now, &fixed),
                        None if !datagram.is_empty() => d.handle_receive(now, datagram),
                        None => {}
                    }
                }
                None => self.stats.dropped_dtls += 1,
            },
            Kind::Rtp => self.receive_rtp(now, datagram),
            Kind::Rtcp => self.receive_rtcp(datagram),
            Kind::Unknown => self.stats.dropped_unknown += 1,
        }
        self.drive(now);
    }

    fn receive_rtp(&mut self, now: Instant, datagram: &[u8]) {
        let Some(srtp) = &mut self.srtp else {
            self.stats.dropped_srtp += 1;
            return;
        };
        match srtp.inbound.unprotect_rtp_to_vec(datagram) {
            Ok(plain) => {
                self.stats.rtp_received += 1;
                let Ok(p) = sansrtc_rtp::RtpPacket::parse(&plain) else {
                    self.stats.dropped_srtp += 1;
                    return;
                };
                self.media.on_received(now, &p);
                let mid =
                    self.ssrc_mid.get(&p.ssrc()).cloned().or_else(|| {
                        (self.media_mids.len() == 1).then(|| self.media_mids[0].clone())
                    });
                self.events.push_back(Event::Rtp { mid, packet: plain });
            }
            Err(_) => self.stats.dropped_srtp += 1,
        }
    }

    fn receive_rtcp(&mut self, datagram: &[u8]) {
        let Some(srtp) = &mut self.srtp else {
            self.stats.dropped_srtp += 1;
            return;
        };
        match srtp.inbound.unprotect_rtcp_to_vec(datagram) {
            Ok(plain) => {
                self.stats.rtcp_received += 1;
                self.events.push_back(Event::Rtcp(plain));
            }
            Err(_) => self.stats.dropped_srtp += 1,
        }
    }

    /// The deadline passed (calling early or twice is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = Some(now);
        if let Some(a) = &mut self.agent {
            a.handle_timeout(now);
        }
        if let Some(d) = &mut self.dtls {
            d.handle_timeout(now);
        }
        if let Some(s) = &mut self.sctp {
            s.handle_timeout(now);
        }
        if self.srtp.is_some()
            && let Some(rtcp) = self.media.poll_reports(now)
        {
            let _ = self.send_rtcp(now, &rtcp);
        }
        self.drive(now);
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
        let mut t: Option<Instant> = None;
        let mut min = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |t| t.min(x)));
            }
        };
        min(self.agent.as_ref().and_then(|a| a.poll_timeout()));
        min(self.dtls.as_ref().and_then(|d| d.poll_timeout()));
        min(self.sctp.as_ref().and_then(|s| s.poll_timeout()));
        if self.srtp.is_some() {
            min(self.media.next_report());
        }
        t
    }

    fn push(&mut self, source: SocketAddr, destination: SocketAddr, contents: Vec<u8>) {
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += contents.len() as u64;
        self.transmits.push_back(Transmit {
            source,
            destination,
            contents,
        });
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
                while let Some(t) = agent.poll_transmit() {
                    self.stats.datagrams_sent += 1;
                    self.stats.bytes_sent += t.contents.len() as u64;
                    self.transmits.push_back(Transmit {
                        source: t.source,
                        destination: t.destination,
                        contents: t.contents,
                    });
                }
                while let Some(e) = self.agent.as_mut().and_then(|a| a.poll_event()) {
                    progress = true;
                    self.on_agent_event(now, e);
                }
            }
            if let Some(d) = &mut self.dtls {
                while let Some(bytes) = d.poll_transmit() {
                    if let Some((l, r)) = self.path {
                        self.stats.datagrams_sent += 1;
                        self.stats.bytes_sent += bytes.len() as u64;
                        self.transmits.push_back(Transmit {
                            source: l,
                            destination: r,
                            contents: bytes,
                        });
                    }
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
                self.on_sctp_event(e);
            }
            if !progress {
                break;
            }
        }
    }

    fn on_agent_event(&mut self, now: Instant, e: AgentEvent) {
        match e {
            AgentEvent::StateChanged(s) => {
                self.ice_state = s;
                self.events.push_back(Event::IceStateChange(s));
                self.update_state();
            }
            AgentEvent::SelectedPair { local, remote, .. } => {
                self.path = Some((local, remote));
                if let Some(d) = &mut self.dtls
                    && self.dtls_role == Some(dtls::Role::Client)
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
            dtls::Event::Closed => self.set_dtls_state(DtlsState::Closed),
            dtls::Event::Failed(_) => self.set_dtls_state(DtlsState::Failed),
        }
    }

    /// Makes the SRTP contexts from the DTLS exporter once DTLS is connected and a media section
    /// is negotiated (a data-channel-only connection never needs them).
    fn ensure_srtp(&mut self) {
        if self.srtp.is_some() || self.media_mids.is_empty() {
            return;
        }
        if let Some(d) = &self.dtls
            && d.is_connected()
            && let Ok((profile, material)) = d.srtp_keying_material()
            && let Some(p) = srtp_profile(profile)
        {
            let role = match self.dtls_role {
                Some(dtls::Role::Client) => srtp::Role::Client,
                _ => srtp::Role::Server,
            };
            self.srtp =
                srtp::Context::from_dtls_keying_material(p, &material, role, Default::default())
                    .ok()
                    .map(Box::new);
        }
    }

    fn on_sctp_event(&mut self, e: sctp::DataChannelEvent) {
        use sctp::DataChannelEvent as D;
        let ev = match e {
            D::Connected => return,
            D::ChannelOpened {
                id,
                label,
                protocol,
            } => Event::DataChannelOpen {
                id,
                label,
                protocol,
            },
            D::Message {
                channel,
                data,
                binary,
            } => Event::DataChannelMessage {
                id: channel,
                data,
                binary,
            },
            D::ChannelClosed(id) => Event::DataChannelClose(id),
            D::BufferedAmountLow(id) => Event::BufferedAmountLow(id),
            D::Disconnected(_) => return,
        };
        self.events.push_back(ev);
    }
}

fn srtp_profile(p: dtls::SrtpProfile) -> Option<srtp::Profile> {
    Some(match p {
        dtls::SrtpProfile::Aes128CmHmacSha1_80 => srtp::Profile::Aes128CmHmacSha1_80,
        dtls::SrtpProfile::Aes128CmHmacSha1_32 => srtp::Profile::Aes128CmHmacSha1_32,
        dtls::SrtpProfile::AeadAes128Gcm => srtp::Profile::AeadAes128Gcm,
        dtls::SrtpProfile::AeadAes256Gcm => srtp::Profile::AeadAes256Gcm,
    })
}
