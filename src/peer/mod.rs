//! The peer connection: JSEP, ICE, DTLS, SRTP and SCTP data channels composed into one sans-IO
//! state machine over one bundled, rtcp-muxed transport.

use std::collections::VecDeque;
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
use sdp::{Attribute, AttributeList, Mid, SessionDescription};

use crate::buffer::{BufferPool, PacketBuf};
use crate::demux::{self, Kind};
use crate::media::{MediaState, Received};
use crate::relay::{RelayEvent, Relays};
use crate::rng::PcRng;
use crate::stats::{CandidatePairStats, DataChannelStats, StatsReport, TransportStats};
use crate::track::{KeyframeKind, MediaError, RtpWrite};

mod channels;

use channels::Channels;
pub use channels::{Channel, ChannelId, ChannelState, MessageKind};
pub use media::Track;
mod media;
mod report;
mod signalling;
mod transport;

pub use crate::config::{Config, IceTransportPolicy};
pub use crate::error::{Error, NegotiationFailure, StateError};
pub use crate::event::{ConnectionState, DtlsState, Event, IceState, SdpType, Transmit, Transport};
pub use crate::stats::Stats;
pub use sctp::ChannelConfig;

/// A sans-IO WebRTC peer connection.
///
/// Two of them, wired back to back in memory (no sockets, a clock that jumps to the next
/// deadline), negotiate, connect and exchange a data channel message:
///
/// ```
/// use std::net::SocketAddr;
/// use std::time::Instant;
///
/// use sansrtc::{ChannelConfig, Config, Event, PeerConnection, SdpType};
///
/// # fn main() -> Result<(), sansrtc::Error> {
/// let addrs: [SocketAddr; 2] = ["127.0.0.1:5000".parse().unwrap(), "127.0.0.1:5001".parse().unwrap()];
/// let mut pcs = [PeerConnection::new(Config::default())?, PeerConnection::new(Config::default())?];
/// pcs[0].add_local_address(addrs[0])?;
/// pcs[1].add_local_address(addrs[1])?;
/// let mut now = Instant::now();
/// let chat = pcs[0].create_data_channel(now, ChannelConfig::reliable("chat"))?;
/// let offer = pcs[0].create_offer(now)?;
/// pcs[1].set_remote_description(now, SdpType::Offer, &offer)?;
/// let answer = pcs[1].create_answer(now)?;
/// pcs[0].set_remote_description(now, SdpType::Answer, &answer)?;
///
/// let mut received = None;
/// while received.is_none() {
///     for i in 0..2 {
///         while let Some(t) = pcs[i].poll_transmit() {
///             pcs[1 - i].handle_receive(now, t.source, t.destination, &t.contents);
///         }
///         while let Some(e) = pcs[i].poll_event() {
///             match e {
///                 Event::DataChannelOpen { id, .. } if i == 0 && id == chat => {
///                     pcs[0].channel(chat)?.send_text(now, "hello")?;
///                 }
///                 Event::DataChannelMessage { data, .. } => received = Some(data.to_vec()),
///                 _ => {}
///             }
///         }
///     }
///     // Nothing in flight: jump to the next deadline.
///     if let Some(t) = pcs.iter().filter_map(|p| p.poll_timeout()).min() {
///         now = now.max(t);
///         for p in &mut pcs {
///             p.handle_timeout(now);
///         }
///     }
/// }
/// assert_eq!(received.as_deref(), Some(&b"hello"[..]));
/// # Ok(()) }
/// ```
///
/// `Clone` copies the whole state, keys and all (a snapshot of a live connection, for
/// fuzzing or simulation; the two copies must not both talk to the real peer). A copy taken
/// mid-handshake, after our DTLS key share went out, cannot finish that handshake.
#[derive(Clone)]
pub struct PeerConnection {
    /// The settings; its `rng` is the connection's randomness (advanced as it is used).
    config: Config,
    jsep: JsepSession,
    certificate: Arc<dtls::Certificate>,
    locals: Vec<SocketAddr>,
    /// Registered listening TCP addresses (passive ICE-TCP candidates).
    tcp_locals: Vec<SocketAddr>,
    local_candidates: Vec<String>,
    agent: Option<Agent<PcRng>>,
    relays: Relays,
    relay_events: Vec<RelayEvent>,
    pending_remote_candidates: Vec<ice::candidate::Candidate>,
    /// Remote candidates waiting for their mDNS name to be resolved by the caller.
    mdns_pending: Vec<ice::candidate::Candidate>,
    /// An offer/answer exchange completed (what it negotiated was put to work by `apply`, and
    /// is not kept: the layers hold what they need).
    negotiated: bool,
    /// The peer's offer was set and `create_answer` not called yet.
    pending_answer: bool,
    /// The last offer or answer we created, without candidates ([`PeerConnection::local_description`]
    /// adds those gathered so far). Kept as its text: a parsed description costs several
    /// times more memory, for as long as the connection lives.
    local_description: Option<(SdpType, Box<str>)>,
    /// The ICE agent finished gathering (server-reflexive candidates).
    agent_gathered: bool,
    /// [`Event::GatheringComplete`] was reported (the agent and every relay done).
    gathering_complete: bool,
    /// Unregistered local addresses datagrams were given for, each reported once.
    unknown_destinations: Vec<SocketAddr>,
    /// `restart_ice` was called: the next offer restarts the agent.
    ice_restart_requested: bool,
    dtls: Option<dtls::Endpoint>,
    dtls_role: Option<dtls::Role>,
    sctp: Option<sctp::DataChannelEndpoint>,
    /// The largest message the peer accepts (`a=max-message-size`).
    remote_max_message_size: usize,
    channels: Channels,
    /// SRTP contexts (~3.8 KB), made only once media sections are negotiated and DTLS is up.
    srtp: Option<Box<srtp::SessionContexts>>,
    /// Where DTLS/SRTP go: the selected pair, or the last address DTLS came from.
    path: Option<(SocketAddr, SocketAddr)>,
    /// The transport of `path`.
    path_transport: Transport,
    paths: Vec<PathCounters>,
    ice_state: IceState,
    dtls_state: DtlsState,
    state: ConnectionState,
    /// `close()` was called: SCTP shuts down, then DTLS sends close_notify (at the latest at
    /// this deadline).
    closing: Option<Instant>,
    media: MediaState,
    transmits: VecDeque<Transmit>,
    /// The SCTP packet being sealed into a datagram (reused).
    sctp_scratch: Vec<u8>,
    /// Application data DTLS decrypted for SCTP (reused).
    dtls_scratch: Vec<u8>,
    /// Datagrams sealed while SCTP and DTLS were borrowed, to send.
    sealed: VecDeque<(SocketAddr, SocketAddr, PacketBuf)>,
    /// Packet buffers, reused once the application drops what it was given.
    buffers: BufferPool,
    /// The last datagram in or out (an idle connection frees its packet buffers).
    last_activity: Option<Instant>,
    events: VecDeque<Event>,
    stats: Stats,
}

/// Traffic on one path (candidate pair) that carried DTLS, SRTP or SCTP.
#[derive(Debug, Clone, Copy)]
struct PathCounters {
    transport: Transport,
    local: SocketAddr,
    remote: SocketAddr,
    packets_sent: u64,
    bytes_sent: u64,
    packets_received: u64,
    bytes_received: u64,
}

/// Without a datagram in or out for this long, the packet buffers kept for reuse are freed.
const IDLE_BUFFER_RELEASE: Duration = Duration::from_secs(2);
/// Unregistered local addresses reported at most.
const MAX_UNKNOWN_DESTINATIONS: usize = 8;
/// Remote mDNS candidates waiting for resolution at most.
const MAX_MDNS_PENDING: usize = 16;
/// Paths whose traffic is counted (the selected pairs over the connection's life).
const MAX_PATHS: usize = 16;
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
    pub fn new(mut config: Config) -> Result<Self, Error> {
        crate::bandwidth::bwe_config(
            config.min_bitrate,
            config.start_bitrate,
            config.max_bitrate,
            config.probing,
        )?;
        let certificate = match &config.certificate {
            Some(c) => c.clone(),
            None => Arc::new(dtls::Certificate::generate()?),
        };
        let mut rng = config.rng.clone();
        let mut jsep_config = JsepConfig::default();
        jsep_config.fingerprint_hash = sdp::FingerprintHash::Sha256;
        jsep_config.fingerprint = certificate.fingerprint(dtls::HashAlgorithm::Sha256).value;
        jsep_config.answer_setup = config.answer_setup;
        jsep_config.sctp_port = 5000;
        jsep_config.max_message_size = config.max_message_size as u64;
        jsep_config.trickle = true;
        jsep_config.extmap_allow_mixed = true;
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
        // The configured generator, advanced, is the connection's from now on (one copy).
        config.rng = rng;
        Ok(Self {
            config,
            jsep,
            certificate,
            locals: Vec::new(),
            tcp_locals: Vec::new(),
            local_candidates: Vec::new(),
            agent: None,
            relays: Relays::default(),
            relay_events: Vec::new(),
            pending_remote_candidates: Vec::new(),
            mdns_pending: Vec::new(),
            negotiated: false,
            pending_answer: false,
            local_description: None,
            agent_gathered: false,
            gathering_complete: false,
            unknown_destinations: Vec::new(),
            ice_restart_requested: false,
            dtls: None,
            dtls_role: None,
            sctp: None,
            remote_max_message_size: 65_536,
            channels: Channels::default(),
            srtp: None,
            path: None,
            path_transport: Transport::Udp,
            paths: Vec::new(),
            ice_state: IceState::New,
            dtls_state: DtlsState::New,
            state: ConnectionState::New,
            closing: None,
            media,
            transmits: VecDeque::new(),
            sctp_scratch: Vec::new(),
            dtls_scratch: Vec::new(),
            sealed: VecDeque::new(),
            buffers: BufferPool::default(),
            last_activity: None,
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
    /// The address must be the socket's concrete one: an unspecified address (`0.0.0.0`,
    /// `::`) or port 0 is refused ([`Error::UnusableLocalAddress`]), as it would be written
    /// into the SDP where the peer cannot reach it.
    pub fn add_local_address(&mut self, addr: SocketAddr) -> Result<(), Error> {
        if addr.ip().is_unspecified() || addr.port() == 0 {
            return Err(Error::UnusableLocalAddress(addr));
        }
        if self.locals.contains(&addr) {
            return Ok(());
        }
        self.locals.push(addr);
        if let Some(agent) = &mut self.agent
            && self.config.ice_transport_policy == IceTransportPolicy::All
            && let Some(c) = agent.add_host_candidate(addr)
        {
            self.local_candidates.push(c.to_string());
            self.events.push_back(Event::LocalCandidate(c.to_string()));
        }
        Ok(())
    }

    /// Registers a listening TCP socket address: it becomes a passive ICE-TCP host candidate
    /// (RFC 6544, `tcptype passive`), for peers that cannot use UDP (networks that block it).
    /// Its priority is below the UDP host candidates': when both work, UDP is selected.
    ///
    /// The caller owns the listening socket and the streams it accepts (we never connect out):
    /// it splits what each stream reads into RFC 4571 frames with a
    /// [`Deframer`](crate::framing::Deframer), gives every frame to
    /// [`PeerConnection::handle_receive_on`] with [`Transport::Tcp`], and writes each
    /// [`Transmit`] marked TCP as one frame on the stream accepted from its `destination`.
    /// The same rules as [`PeerConnection::add_local_address`] apply to the address (the port
    /// number may be the UDP socket's).
    pub fn add_local_tcp_address(&mut self, addr: SocketAddr) -> Result<(), Error> {
        if addr.ip().is_unspecified() || addr.port() == 0 {
            return Err(Error::UnusableLocalAddress(addr));
        }
        if self.tcp_locals.contains(&addr) {
            return Ok(());
        }
        self.tcp_locals.push(addr);
        if let Some(agent) = &mut self.agent
            && self.config.ice_transport_policy == IceTransportPolicy::All
            && let Some(c) = agent.add_passive_tcp_candidate(addr)
        {
            self.local_candidates.push(c.to_string());
            self.events.push_back(Event::LocalCandidate(c.to_string()));
        }
        Ok(())
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
        // Closed by us: the channels close without events (as a browser's `close()`).
        self.channels.close_all();
        self.sctp = None;
        self.srtp = None;
        self.set_dtls_state(DtlsState::Closed);
        self.set_state(ConnectionState::Closed);
    }

    /// Closed, and every goodbye handed out through [`PeerConnection::poll_transmit`].
    pub fn is_closed(&self) -> bool {
        self.state == ConnectionState::Closed && self.closing.is_none()
    }

    /// The overall state.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// How fast this connection can send media, all streams together: the send-side bandwidth
    /// estimate from the peer's transport-wide congestion control feedback (transport-cc) on
    /// the packets we send, or its REMB. `None` until a section we send on negotiated either
    /// (the transport-wide sequence number extension or `goog-remb`); then the
    /// [`Config::start_bitrate`] until feedback arrives. Changes also arrive as
    /// [`Event::BandwidthEstimate`]. Advice for the encoders: nothing is dropped or delayed by
    /// the stack.
    pub fn bandwidth_estimate(&self) -> Option<crate::BandwidthEstimate> {
        self.media.bandwidth_estimate()
    }

    /// Counters of datagrams and drops.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// A datagram arrived on local address `destination` from `source`.
    pub fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) {
        self.handle_receive_on(now, Transport::Udp, source, destination, datagram);
    }

    /// A packet arrived over `transport` on local address `destination` from `source`: a UDP
    /// datagram (as [`PeerConnection::handle_receive`]), or one RFC 4571 frame read from the TCP
    /// stream accepted on `destination` (registered with
    /// [`PeerConnection::add_local_tcp_address`]) from `source`. ICE, DTLS, SRTP and SCTP work
    /// the same over both; paths are per transport.
    pub fn handle_receive_on(
        &mut self,
        now: Instant,
        transport: Transport,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) {
        self.stats.datagrams_received += 1;
        self.stats.bytes_received += datagram.len() as u64;
        let registered = match transport {
            Transport::Udp => {
                self.locals.contains(&destination) || self.relays.is_relayed(destination)
            }
            Transport::Tcp => self.tcp_locals.contains(&destination),
        };
        if !registered {
            self.stats.dropped_unknown += 1;
            if !self.unknown_destinations.contains(&destination)
                && self.unknown_destinations.len() < MAX_UNKNOWN_DESTINATIONS
            {
                self.unknown_destinations.push(destination);
                self.events
                    .push_back(Event::UnregisteredLocalAddress(destination));
            }
            return;
        }
        if self.is_closed() {
            self.stats.dropped_unknown += 1;
            return;
        }
        if transport == Transport::Udp
            && self.relays.handle_receive(
                now,
                source,
                destination,
                datagram,
                &mut self.relay_events,
            )
        {
            self.on_relay_events(now);
        } else if matches!(demux::classify(datagram), Kind::Rtp | Kind::Rtcp) {
            // SRTP and SRTCP involve no other layer: nothing to drive.
            self.handle_datagram(now, transport, source, destination, datagram);
            return;
        } else {
            self.handle_datagram(now, transport, source, destination, datagram);
        }
        self.drive(now);
    }

    /// The deadline passed (calling early or twice is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        if self
            .last_activity
            .is_some_and(|t| now.saturating_duration_since(t) >= IDLE_BUFFER_RELEASE)
        {
            // Idle: the packet buffers kept for reuse are freed.
            self.buffers.release();
            if let Some(d) = &mut self.dtls {
                d.release_buffers();
            }
            if let Some(s) = &mut self.sctp {
                s.release_buffers();
            }
            if let Some(a) = &mut self.agent {
                a.release_buffers();
            }
            // Queues drained by now give their storage back too.
            if self.transmits.is_empty() {
                self.transmits.shrink_to_fit();
            }
            if self.sealed.is_empty() {
                self.sealed.shrink_to_fit();
            }
            if self.events.is_empty() {
                self.events.shrink_to_fit();
            }
            // The record and packet scratch buffers grow again with the next datagram.
            self.dtls_scratch = Vec::new();
            self.sctp_scratch = Vec::new();
            self.last_activity = None;
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
            self.send_paced(now);
            self.send_probes(now);
        }
        self.drive(now);
        if self.closing.is_some_and(|deadline| now >= deadline) {
            self.finish_close(now);
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.transmits.pop_front();
        if t.is_none() && self.last_activity.is_none() && self.transmits.capacity() > 0 {
            // Idle (buffers released): the queue's room goes too, so the consent checks of a
            // quiet connection do not keep it (one allocation per check, seconds apart).
            self.transmits = VecDeque::new();
        }
        t
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
        // Once quiet for a while, the buffers kept for reuse are freed.
        min(self.last_activity.map(|t| t + IDLE_BUFFER_RELEASE));
        if self.srtp.is_some() && self.closing.is_none() {
            min(self.media.next_deadline());
        }
        t
    }

    fn set_state(&mut self, s: ConnectionState) {
        if self.state != s {
            self.state = s;
            self.events.push_back(Event::ConnectionStateChange(s));
        }
    }

    fn set_dtls_state(&mut self, s: DtlsState) {
        if self.dtls_state != s {
            self.dtls_state = s;
            self.events.push_back(Event::DtlsStateChange(s));
        }
        self.update_state();
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

    fn check_open(&self) -> Result<(), Error> {
        if self.closing.is_some() || self.state == ConnectionState::Closed {
            Err(Error::Closed)
        } else {
            Ok(())
        }
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
