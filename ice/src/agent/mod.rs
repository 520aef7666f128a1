//! An ICE agent (RFC 8445), sans-IO, over UDP: host candidates given by the caller, remote
//! candidates from signalling (trickled or not), paced connectivity checks with retransmission,
//! answers to the peer's checks, peer-reflexive remote candidates, local peer-reflexive candidates
//! learned from the mapped address of successful checks (RFC 8445 7.2.5.3.1, kept in the
//! check list's valid list, not signalled), triggered checks, role-conflict resolution (487) and
//! regular nomination.
//!
//! A stream has one component by default (RTP and RTCP multiplexed, or a data channel);
//! `AgentConfig::components = 2` adds component 2 (RTCP without rtcp-mux): each component has its
//! own candidates ([`Agent::add_host_candidate_for`]), pairs, nomination, selected pair
//! ([`Agent::selected_pair_of`], [`AgentEvent::SelectedPair`]) and consent. The connection state
//! is aggregated: `Connected` once every component has a selected pair, `Completed` once, in
//! addition, the peer signalled end-of-candidates and every check has run (frozen and waiting
//! pairs of a component are dropped when it is nominated, RFC 8445 8.1.2), `Failed` when one
//! component cannot connect or loses consent, `Closed` after [`Agent::close`].
//!
//! Once a pair is selected, consent freshness (RFC 7675) runs on it: a consent check every
//! `consent_interval` (randomized by ±20%; it also serves as the RFC 8445 keepalive). Without a
//! successful response for `consent_disconnected` the state is `Disconnected`; after
//! `consent_timeout` (30 s) consent is lost: the state is `Failed`, [`Agent::selected_pair`]
//! returns `None` and the application must stop sending.
//!
//! ICE-lite is supported in both directions: as a lite agent (`AgentConfig::lite`: answers checks,
//! selects what the full peer nominates, never sends a check) and against a lite peer
//! ([`Agent::set_remote_lite`]). With trickle ICE the agent reports `Failed` only after
//! [`Agent::end_of_remote_candidates`].
//!
//! Server-reflexive candidates are gathered by the agent ([`Agent::gather`]); relayed candidates
//! come from a [`crate::turn::TurnClient`] the caller runs beside it
//! ([`Agent::add_relayed_candidate`]).
//!
//! ICE restart ([`Agent::restart`]) keeps the previously selected pairs usable until the restart
//! selects new ones; consent keeps running on them meanwhile, with the old credentials (the
//! agent also answers the peer's consent checks made with them).
//!
//! ICE over TCP (RFC 6544), server side only: [`Agent::add_passive_tcp_candidate`] adds a
//! passive host candidate (below UDP in priority, so UDP wins when both work); the caller owns
//! the listening socket and the accepted streams, splits each stream into RFC 4571 frames
//! ([`crate::framing`]) and feeds them to [`Agent::handle_receive_on`] with
//! [`CandidateTransport::Tcp`](crate::candidate::CandidateTransport); what the agent sends on
//! such a path comes out of [`Agent::poll_transmit`] marked TCP. Pairs, validated paths and the
//! selected pair are per transport. The agent never opens a connection: signalled `active`
//! candidates are accepted and ignored (the connection's real address pairs, as a peer-reflexive
//! candidate, when its first check arrives), `passive` and `so` ones are refused with
//! [`RemoteCandidateError::UnsupportedTransport`](crate::checklist::RemoteCandidateError). An
//! ICE restart keeps only the addresses of a TCP pair selected before it (its consent checks
//! then go out as UDP): restart over TCP is not supported yet.
//!
//! The code is split by concern: `config` (configuration, credentials), `events` (state,
//! events, transmits), `candidates` (our candidates, gathering, the peer's candidates),
//! `checks` (sending, retransmitting and pacing checks), `nomination` (nomination, selection,
//! `Completed`/`Failed`), `consent` (consent freshness), `restart` (ICE restart), `requests`
//! (the peer's checks), `responses` (answers to ours), `stats` (counters, round-trip times) and
//! `validated` (the paths allowed to carry data). This module holds the agent itself and its
//! input/output methods.

mod candidates;
mod checks;
mod config;
mod consent;
mod events;
mod nomination;
mod requests;
mod responses;
mod restart;
mod stats;
mod validated;

#[cfg(test)]
mod tcp;

pub use config::{AgentConfig, COMPONENT, RTCP_COMPONENT};
pub use events::{AgentEvent, AgentTransmit, ConnectionState};
pub use stats::AgentStats;
pub use validated::MAX_VALIDATED;

use sansrtc_core::VecMap;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::candidate::{Candidate, CandidateTransport, Foundations};
use crate::checklist::{Checklist, PairId};
use crate::rng::Rng;
use crate::small::PushSmall;
use crate::stun::{IntegrityKey, MessageClass, StunMessage};

use candidates::Gather;
use checks::Check;
use consent::Consent;
use restart::OldSession;

/// The ICE agent.
#[derive(Debug, Clone)]
pub struct Agent<R> {
    config: AgentConfig,
    rng: R,
    controlling: bool,
    tie_breaker: u64,
    local_key: IntegrityKey,
    remote: Option<(String, IntegrityKey)>,
    locals: Vec<Candidate>,
    foundations: Foundations,
    checklist: Checklist,
    checks: Vec<Check>,
    next_pace: Option<Instant>,
    state: ConnectionState,
    /// Selected pair per component.
    selected: VecMap<u16, PairId>,
    /// The pairs selected before an ICE restart, `(transport, local, remote)`, used until the
    /// restart selects new ones.
    previous: VecMap<u16, (CandidateTransport, SocketAddr, SocketAddr)>,
    /// Nomination check in flight per component.
    nominating: VecMap<u16, PairId>,
    /// Consent per component with a selected pair.
    consent: VecMap<u16, Consent>,
    /// Credentials and consent of the session before an ICE restart.
    /// Boxed: only present during an ICE restart, and large (two integrity keys).
    old: Option<Box<OldSession>>,
    prflx_count: u32,
    remote_end: bool,
    /// Checks finished with a selected pair (the `Completed` state, or `Disconnected` from it).
    completed: bool,
    first_valid: Option<Instant>,
    gathers: Vec<Gather>,
    gathering: bool,
    transmits: VecDeque<AgentTransmit>,
    events: VecDeque<AgentEvent>,
    stats: AgentStats,
    /// Latest round-trip time per path.
    rtts: VecMap<(SocketAddr, SocketAddr), Duration>,
    /// The latest time the caller gave us (to resume pacing when candidates arrive later).
    last_now: Option<Instant>,
    /// Paths `(local, remote)` that carried an authenticated ICE message (a check with valid
    /// MESSAGE-INTEGRITY from the peer, or an authenticated answer to ours), newest last, at
    /// most [`MAX_VALIDATED`]: only these may carry DTLS, SRTP and SCTP.
    validated: Vec<(CandidateTransport, SocketAddr, SocketAddr)>,
    /// The transport of the input being handled (what answers and learned paths are over).
    rx_transport: CandidateTransport,
}

/// Largest STUN message the agent builds: no answer is larger than a check.
const MAX_MESSAGE: usize = 512;

impl<R: Rng> Agent<R> {
    /// Creates an agent; the tie-breaker is drawn from `rng`.
    pub fn new(config: AgentConfig, mut rng: R) -> Self {
        let tie_breaker = rng.next_u64();
        Agent {
            controlling: config.controlling && !config.lite,
            local_key: IntegrityKey::short_term(&config.local_password),
            checklist: Checklist::new(config.checklist.clone(), config.controlling && !config.lite),
            config,
            rng,
            tie_breaker,
            remote: None,
            locals: Vec::new(),
            foundations: Foundations::new(),
            checks: Vec::new(),
            next_pace: None,
            state: ConnectionState::New,
            selected: VecMap::new(),
            previous: VecMap::new(),
            nominating: VecMap::new(),
            consent: VecMap::new(),
            old: None,
            prflx_count: 0,
            remote_end: false,
            completed: false,
            first_valid: None,
            gathers: Vec::new(),
            gathering: false,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: AgentStats::default(),
            rtts: VecMap::new(),
            last_now: None,
            validated: Vec::new(),
            rx_transport: CandidateTransport::Udp,
        }
    }

    /// Whether the agent is currently controlling.
    pub fn is_controlling(&self) -> bool {
        self.controlling
    }

    /// The connection state.
    pub fn state(&self) -> ConnectionState {
        self.state
    }

    /// The check list.
    pub fn checklist(&self) -> &Checklist {
        &self.checklist
    }

    /// The selected pair `(local, remote)` of component 1.
    pub fn selected_pair(&self) -> Option<(SocketAddr, SocketAddr)> {
        self.selected_pair_of(COMPONENT)
    }

    /// The selected pair `(local, remote)` of `component`.
    pub fn selected_pair_of(&self, component: u16) -> Option<(SocketAddr, SocketAddr)> {
        if matches!(
            self.state,
            ConnectionState::Failed | ConnectionState::Closed
        ) {
            return None;
        }
        let Some(id) = self.selected.get(&component) else {
            return self.previous.get(&component).map(|&(_, l, r)| (l, r));
        };
        let p = self.checklist.pair(*id)?;
        Some((p.local, p.remote))
    }

    /// The transport of the selected pair of `component` (during an ICE restart, of the pair
    /// selected before it).
    pub fn selected_transport_of(&self, component: u16) -> Option<CandidateTransport> {
        self.selected_pair_of(component)?;
        match self.selected.get(&component) {
            Some(id) => self.checklist.pair(*id).map(|p| p.transport),
            None => self.previous.get(&component).map(|p| p.0),
        }
    }

    fn component_of(&self, pid: PairId) -> u16 {
        self.checklist.pair(pid).map_or(COMPONENT, |p| p.component)
    }

    /// Whether every component has a selected pair.
    fn all_selected(&self) -> bool {
        (1..=self.config.components.max(1)).all(|c| self.selected.contains_key(&c))
    }

    /// Closes the agent (W3C `closed`): checks, consent and gathering stop, nothing more is
    /// sent or answered, and [`Agent::selected_pair`] returns `None`. Final.
    pub fn close(&mut self) {
        self.checks.clear();
        self.gathers.clear();
        self.gathering = false;
        self.consent.clear();
        self.old = None;
        self.selected.clear();
        self.previous.clear();
        self.nominating.clear();
        self.next_pace = None;
        self.transmits.clear();
        self.validated.clear();
        self.set_state(ConnectionState::Closed);
    }

    fn set_state(&mut self, state: ConnectionState) {
        if self.state != state {
            self.state = state;
            self.events.push_small(AgentEvent::StateChanged(state));
        }
    }

    /// Handles a datagram received on local address `destination` from `source`. Returns `true`
    /// if it was a STUN message for this agent (consumed), `false` if the caller should treat it
    /// as application data (DTLS, RTP, ...).
    pub fn handle_receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        self.handle_receive_on(now, CandidateTransport::Udp, source, destination, datagram)
    }

    /// [`Agent::handle_receive`] over `transport`: for TCP, `datagram` is one RFC 4571 frame
    /// (see [`crate::framing`]) read from the stream the peer opened from `source` to our
    /// passive candidate `destination`. Answers and checks on that path come out of
    /// [`Agent::poll_transmit`] with the same transport, to be written on that stream.
    pub fn handle_receive_on(
        &mut self,
        now: Instant,
        transport: CandidateTransport,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        self.rx_transport = transport;
        let consumed = self.handle_stun(now, source, destination, datagram);
        self.rx_transport = CandidateTransport::Udp;
        consumed
    }

    fn handle_stun(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        datagram: &[u8],
    ) -> bool {
        let Ok(m) = StunMessage::parse(datagram) else {
            self.stats.ignored += 1;
            return false;
        };
        if self.state == ConnectionState::Closed {
            return true;
        }
        if m.has_fingerprint() && m.verify_fingerprint().is_err() {
            self.stats.ignored += 1;
            return true;
        }
        match m.class() {
            MessageClass::Request => self.handle_request(now, source, destination, &m),
            MessageClass::SuccessResponse | MessageClass::ErrorResponse => {
                self.handle_response(now, source, destination, &m)
            }
            MessageClass::Indication => {}
        }
        true
    }

    /// Sends the next paced check and retransmits or fails overdue ones.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = Some(now);
        if self.state == ConnectionState::Closed {
            return;
        }
        self.handle_timeout_inner(now);
        self.check_completed();
    }

    fn handle_timeout_inner(&mut self, now: Instant) {
        self.retransmit_gathers(now);
        self.retransmit_checks(now);
        self.consent_timers(now);
        self.pace(now);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<AgentTransmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<AgentEvent> {
        self.events.pop_front()
    }

    /// Frees the storage of the event and datagram queues while they are empty (a connection
    /// gone idle keeps no room for what gathering and the checks once queued).
    pub fn release_buffers(&mut self) {
        if self.events.is_empty() {
            self.events = VecDeque::new();
        }
        if self.transmits.is_empty() {
            self.transmits = VecDeque::new();
        }
    }

    /// When [`Agent::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.state == ConnectionState::Closed {
            return None;
        }
        // New checks and nominations run only while checking can go on (as in
        // `handle_timeout`): a failed agent may still hold waiting pairs (a peer's late check
        // makes one), and reporting their pacing slot would be a deadline that never clears.
        let checking =
            self.remote.is_some() && !self.config.lite && self.state != ConnectionState::Failed;
        let pace = if checking && self.has_work() {
            self.next_pace
        } else {
            None
        };
        self.checks
            .iter()
            .map(|c| c.timer.deadline())
            .chain(self.gathers.iter().map(|g| g.timer.deadline()))
            .chain(self.nomination_deadline().filter(|_| checking))
            .chain(pace)
            .chain(self.consent_deadline())
            .min()
    }

    /// Starts checking now (call once remote credentials and candidates are set).
    pub fn start(&mut self, now: Instant) {
        self.last_now = Some(now);
        self.next_pace = Some(now);
    }
}

#[cfg(test)]
mod test_support {
    //! What the unit tests of the submodules share: agents with fixed credentials, signed
    //! checks and their answers.

    use std::net::SocketAddr;
    use std::time::Instant;

    use super::{Agent, AgentConfig};
    use crate::candidate::{Candidate, CandidateKind};
    use crate::rng::SeededRng;
    use crate::stun::attribute::Attribute;
    use crate::stun::{IntegrityKey, MessageBuilder, MessageType, StunMessage, TransactionId};

    pub(super) const LOCAL: &str = "10.0.0.1:5000";
    pub(super) const REMOTE: &str = "10.0.0.2:6000";
    pub(super) const LOCAL_PWD: &str = "local-password-0123456";
    pub(super) const REMOTE_PWD: &str = "remote-password-012345";

    pub(super) fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// An agent with a host candidate on [`LOCAL`] and the peer's credentials (ufrag `rfrg`).
    pub(super) fn agent(config: AgentConfig) -> Agent<SeededRng> {
        let mut a = Agent::new(config, SeededRng::new(5));
        a.add_host_candidate(sa(LOCAL)).unwrap();
        a.set_remote_credentials("rfrg", REMOTE_PWD);
        a
    }

    pub(super) fn config(controlling: bool) -> AgentConfig {
        AgentConfig::new(controlling, "lfrg", LOCAL_PWD)
    }

    /// The peer's host candidate on `addr`.
    pub(super) fn remote(addr: &str) -> Candidate {
        Candidate::new("r", 1, 2_130_706_431, sa(addr), CandidateKind::Host)
    }

    /// A check from the peer, signed with `password` (ICE-CONTROLLING with tie-breaker 1).
    pub(super) fn check(id: u8, username: &str, password: &str) -> Vec<u8> {
        let mut buf = [0u8; 256];
        let mut b = MessageBuilder::new(
            &mut buf,
            MessageType::BINDING_REQUEST,
            TransactionId([id; 12]),
        )
        .unwrap();
        b.add(&Attribute::Username(username)).unwrap();
        b.add(&Attribute::IceControlling(1)).unwrap();
        b.add(&Attribute::Priority(1_853_824_767)).unwrap();
        b.add_message_integrity(&IntegrityKey::short_term(password))
            .unwrap();
        b.add_fingerprint().unwrap();
        let n = b.finish();
        buf[..n].to_vec()
    }

    /// The peer's success answer to `request`, mapping it to `mapped`.
    pub(super) fn answer(request: &[u8], mapped: SocketAddr, password: &str) -> Vec<u8> {
        let id = StunMessage::parse(request).unwrap().transaction_id();
        let mut buf = [0u8; 256];
        let mut b = MessageBuilder::new(&mut buf, MessageType::BINDING_SUCCESS, id).unwrap();
        b.add(&Attribute::XorMappedAddress(mapped)).unwrap();
        b.add_message_integrity(&IntegrityKey::short_term(password))
            .unwrap();
        b.add_fingerprint().unwrap();
        let n = b.finish();
        buf[..n].to_vec()
    }

    /// Sends `(source, destination, bytes)` of everything queued.
    pub(super) fn drain(a: &mut Agent<SeededRng>) -> Vec<(SocketAddr, SocketAddr, Vec<u8>)> {
        std::iter::from_fn(|| a.poll_transmit())
            .map(|t| (t.source, t.destination, t.contents))
            .collect()
    }

    /// Starts checking at `now` with the peer on [`REMOTE`].
    pub(super) fn checking(controlling: bool, now: Instant) -> Agent<SeededRng> {
        let mut a = agent(config(controlling));
        a.add_remote_candidate(remote(REMOTE)).unwrap();
        a.start(now);
        a.handle_timeout(now);
        a
    }
}
