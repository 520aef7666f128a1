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
//! Not yet: TCP candidates.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::candidate::{Candidate, CandidateKind, Foundations, priority};
use crate::checklist::{Checklist, ChecklistConfig, PairId, PairState, RemoteCandidateError};
use crate::rng::Rng;
use crate::small::PushSmall;
use crate::stun::attribute::{self as attr, Attribute};
use crate::stun::retransmit::{Backoff, Retransmission, Step};
use crate::stun::{
    IntegrityKey, MessageBuilder, MessageClass, MessageType, StunMessage, TransactionId,
};

/// The first component (RTP, or RTP and RTCP multiplexed, or a data channel).
pub const COMPONENT: u16 = 1;

/// The RTCP component when rtcp-mux is not used.
pub const RTCP_COMPONENT: u16 = 2;

/// Agent configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Start as the controlling agent (the offerer, in WebRTC).
    pub controlling: bool,
    /// Our username fragment.
    pub local_ufrag: String,
    /// Our password.
    pub local_password: String,
    /// Pacing between new checks (`Ta`, RFC 8445 14.2; default 50 ms).
    pub ta: Duration,
    /// Initial retransmission timeout of a check (default 250 ms).
    pub check_rto: Duration,
    /// Requests sent per check before it fails (default 7).
    pub check_max_requests: u32,
    /// Mean interval between consent checks on the selected pair (default 5 s).
    pub consent_interval: Duration,
    /// Time without consent after which the state is `Disconnected` (default 12 s).
    pub consent_disconnected: Duration,
    /// Time without consent after which consent is lost (RFC 7675: 30 s).
    pub consent_timeout: Duration,
    /// Limits of the check list.
    pub checklist: ChecklistConfig,
    /// Most local candidates.
    pub max_local_candidates: usize,
    /// How long the controlling agent waits for higher-priority pairs still being checked before
    /// nominating the best valid pair it has (default 500 ms).
    pub nomination_delay: Duration,
    /// STUN servers to learn server-reflexive candidates from ([`Agent::gather`]).
    pub stun_servers: Vec<SocketAddr>,
    /// Run as an ICE-lite agent (RFC 8445 2.5): always controlled, never sends checks, selects
    /// the pair the full peer nominates. For servers with a public address.
    pub lite: bool,
    /// Components of the stream (default 1; 2 for RTP and RTCP without rtcp-mux). Each has its
    /// own candidates, pairs, nomination, selected pair and consent; the connection state is
    /// aggregated over them.
    pub components: u16,
    /// Answer requests that fail authentication (a wrong or missing USERNAME or
    /// MESSAGE-INTEGRITY, or a method other than Binding) with a 400/401 error response, as
    /// RFC 8445 7.3 and RFC 8489 9.1.3 describe (default `true`). `false` drops them silently
    /// (still counted in [`AgentStats::auth_failures`]): nothing is reflected to a spoofed
    /// source, which suits a server exposed to the internet.
    pub answer_unauthenticated: bool,
}

impl AgentConfig {
    /// A configuration with the given role and credentials and default timers and limits.
    pub fn new(controlling: bool, local_ufrag: &str, local_password: &str) -> Self {
        AgentConfig {
            controlling,
            local_ufrag: local_ufrag.into(),
            local_password: local_password.into(),
            ta: Duration::from_millis(50),
            check_rto: Duration::from_millis(250),
            check_max_requests: 7,
            consent_interval: Duration::from_secs(5),
            consent_disconnected: Duration::from_secs(12),
            consent_timeout: Duration::from_secs(30),
            checklist: ChecklistConfig::default(),
            max_local_candidates: 16,
            lite: false,
            stun_servers: Vec::new(),
            nomination_delay: Duration::from_millis(500),
            components: 1,
            answer_unauthenticated: true,
        }
    }
}

/// ICE connection state (RFC 8445 / W3C `RTCIceConnectionState` subset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionState {
    /// Nothing checked yet.
    New,
    /// Checks are running.
    Checking,
    /// A pair is selected and consent is fresh; checks may still be running.
    Connected,
    /// Checks are done (every pair checked or dropped after nomination, the peer signalled
    /// end-of-candidates) and a pair is nominated and selected; consent is fresh (RFC 8445
    /// "Completed" check list state, W3C `completed`).
    Completed,
    /// A pair is selected but consent checks have gone unanswered for a while.
    Disconnected,
    /// Every pair failed, or consent was lost on the selected pair.
    Failed,
    /// [`Agent::close`] was called: the agent sends and answers nothing more.
    Closed,
}

/// Something the application must know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// The connection state changed.
    StateChanged(ConnectionState),
    /// The selected pair changed: send application data from `local` to `remote`.
    SelectedPair {
        /// The component (1 = RTP or multiplexed, 2 = RTCP).
        component: u16,
        /// Local address (base) to send from.
        local: SocketAddr,
        /// Remote address to send to.
        remote: SocketAddr,
    },
    /// A new local candidate (server-reflexive, from gathering): signal it to the peer.
    LocalCandidate(Candidate),
    /// Gathering finished (every STUN server answered or timed out): signal end-of-candidates.
    GatheringComplete,
}

/// A datagram to send from one of our local addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTransmit {
    /// The local address (a base given to [`Agent::add_host_candidate`]) to send from.
    pub source: SocketAddr,
    /// Where to send it.
    pub destination: SocketAddr,
    /// The bytes.
    pub contents: Vec<u8>,
}

/// Counters of an [`Agent`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentStats {
    /// Check requests sent, retransmissions included.
    pub checks_sent: u64,
    /// Check requests received and answered with success.
    pub checks_answered: u64,
    /// STUN messages dropped because authentication failed.
    pub auth_failures: u64,
    /// Role conflicts resolved (487 sent or role switched).
    pub role_conflicts: u64,
    /// Datagrams that were not STUN for us.
    pub ignored: u64,
    /// Consent checks that got a response.
    pub consent_refreshed: u64,
}

#[derive(Debug, Clone)]
struct Check {
    id: TransactionId,
    pair: PairId,
    local: SocketAddr,
    remote: SocketAddr,
    request: Vec<u8>,
    timer: Retransmission,
    use_candidate: bool,
    consent: bool,
    component: u16,
    /// A consent check on a pair selected before an ICE restart (old credentials).
    old: bool,
    /// When the request was first sent (round-trip times come from unretransmitted checks).
    first_sent: Instant,
    /// Cancelled by a triggered check (RFC 8445 7.3.1.4): no more retransmissions, and no
    /// answer within the transaction timeout is not a failure; an answer still counts.
    cancelled: bool,
}

/// The session before an ICE restart: its credentials and the consent of its selected pairs
/// (in `Agent::previous`), kept until the restart selects new pairs.
#[derive(Debug, Clone)]
struct OldSession {
    local_ufrag: String,
    local_key: IntegrityKey,
    remote_ufrag: String,
    remote_key: IntegrityKey,
    consent: BTreeMap<u16, Consent>,
}

/// `Check::pair` of consent checks on a pair of the old session (not in the check list).
const OLD_PAIR: PairId = PairId(u32::MAX);

#[derive(Debug, Clone)]
struct Gather {
    id: TransactionId,
    base: SocketAddr,
    server: SocketAddr,
    request: Vec<u8>,
    timer: Retransmission,
}

#[derive(Debug, Clone, Copy)]
struct Consent {
    last: Instant,
    next: Instant,
}

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
    selected: BTreeMap<u16, PairId>,
    /// The pairs selected before an ICE restart, used until the restart selects new ones.
    previous: BTreeMap<u16, (SocketAddr, SocketAddr)>,
    /// Nomination check in flight per component.
    nominating: BTreeMap<u16, PairId>,
    /// Consent per component with a selected pair.
    consent: BTreeMap<u16, Consent>,
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
    rtts: BTreeMap<(SocketAddr, SocketAddr), Duration>,
    /// The latest time the caller gave us (to resume pacing when candidates arrive later).
    last_now: Option<Instant>,
    /// Paths `(local, remote)` that carried an authenticated ICE message (a check with valid
    /// MESSAGE-INTEGRITY from the peer, or an authenticated answer to ours), newest last, at
    /// most [`MAX_VALIDATED`]: only these may carry DTLS, SRTP and SCTP.
    validated: Vec<(SocketAddr, SocketAddr)>,
}

/// Validated paths remembered at most (the oldest is forgotten first; the selected pairs are
/// validated again by every consent check).
pub const MAX_VALIDATED: usize = 32;

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
            selected: BTreeMap::new(),
            previous: BTreeMap::new(),
            nominating: BTreeMap::new(),
            consent: BTreeMap::new(),
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
            rtts: BTreeMap::new(),
            last_now: None,
            validated: Vec::new(),
        }
    }

    /// Whether the path `(local, remote)` has carried an authenticated ICE message: a
    /// connectivity check from the peer with valid MESSAGE-INTEGRITY, or an authenticated answer
    /// to one of our checks. Only such paths (and the selected pair) may carry DTLS, SRTP and
    /// SCTP: anything else may come from anyone. A path whose consent expired is forgotten
    /// until ICE validates it again.
    pub fn is_validated(&self, local: SocketAddr, remote: SocketAddr) -> bool {
        self.validated.contains(&(local, remote))
    }

    /// Remembers an authenticated path (newest last, bounded).
    fn mark_validated(&mut self, local: SocketAddr, remote: SocketAddr) {
        if let Some(i) = self.validated.iter().position(|p| *p == (local, remote)) {
            if i + 1 == self.validated.len() {
                return;
            }
            self.validated.remove(i);
        } else if self.validated.len() >= MAX_VALIDATED {
            self.validated.remove(0);
        }
        self.validated.push_small((local, remote));
    }

    /// Counters.
    pub fn stats(&self) -> AgentStats {
        self.stats
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
            return self.previous.get(&component).copied();
        };
        let p = self.checklist.pair(*id)?;
        Some((p.local, p.remote))
    }

    fn component_of(&self, pid: PairId) -> u16 {
        self.checklist.pair(pid).map_or(COMPONENT, |p| p.component)
    }

    /// Whether every component has a selected pair.
    fn all_selected(&self) -> bool {
        (1..=self.config.components.max(1)).all(|c| self.selected.contains_key(&c))
    }

    /// Adds a host candidate on a local socket address and returns it for signalling.
    /// Returns `None` when `max_local_candidates` is reached or the address is already known.
    pub fn add_host_candidate(&mut self, addr: SocketAddr) -> Option<Candidate> {
        self.add_host_candidate_for(COMPONENT, addr)
    }

    /// Adds a host candidate of `component` (1 to `AgentConfig::components`) on a local socket
    /// address (each component has its own sockets). Returns `None` for an unknown component,
    /// when `max_local_candidates` is reached or when the address is already known.
    pub fn add_host_candidate_for(
        &mut self,
        component: u16,
        addr: SocketAddr,
    ) -> Option<Candidate> {
        if component == 0 || component > self.config.components.max(1) {
            return None;
        }
        if self.locals.len() >= self.config.max_local_candidates
            || self.locals.iter().any(|c| c.socket_addr() == Some(addr))
        {
            return None;
        }
        let local_pref = 65535 - self.locals.len() as u16;
        let c = Candidate::new(
            self.foundations
                .foundation(CandidateKind::Host, addr.ip(), None),
            component,
            priority(CandidateKind::Host.type_preference(), local_pref, component),
            addr,
            CandidateKind::Host,
        );
        self.locals.push_small(c.clone());
        self.checklist.add_local(c.clone(), addr);
        self.resume_pacing();
        Some(c)
    }

    /// Adds a relayed candidate: the relayed address of a TURN allocation made by the caller
    /// (see [`crate::turn::TurnClient`]) on `server`. Checks and data from it come out of
    /// [`Agent::poll_transmit`] with `source` equal to the relayed address: the caller sends them
    /// through the TURN client, and feeds what the TURN client relays back to
    /// [`Agent::handle_receive`] with the relayed address as `destination`.
    pub fn add_relayed_candidate(
        &mut self,
        relayed: SocketAddr,
        server: SocketAddr,
    ) -> Option<Candidate> {
        self.add_relayed_candidate_for(COMPONENT, relayed, server)
    }

    /// Adds a relayed candidate of `component` (see [`Agent::add_relayed_candidate`]).
    pub fn add_relayed_candidate_for(
        &mut self,
        component: u16,
        relayed: SocketAddr,
        server: SocketAddr,
    ) -> Option<Candidate> {
        if component == 0 || component > self.config.components.max(1) {
            return None;
        }
        if self.locals.len() >= self.config.max_local_candidates
            || self.locals.iter().any(|c| c.socket_addr() == Some(relayed))
        {
            return None;
        }
        let local_pref = 65535 - self.locals.len() as u16;
        let c = Candidate::new(
            self.foundations
                .foundation(CandidateKind::Relayed, relayed.ip(), Some(server.ip())),
            component,
            priority(
                CandidateKind::Relayed.type_preference(),
                local_pref,
                component,
            ),
            relayed,
            CandidateKind::Relayed,
        );
        self.locals.push_small(c.clone());
        self.checklist.add_local(c.clone(), relayed);
        self.resume_pacing();
        Some(c)
    }

    /// Starts gathering server-reflexive candidates: a Binding request from every host candidate
    /// to every configured STUN server of the same address family. New candidates come out as
    /// [`AgentEvent::LocalCandidate`], then [`AgentEvent::GatheringComplete`].
    pub fn gather(&mut self, now: Instant) {
        self.gathering = true;
        let bases: Vec<SocketAddr> = self
            .locals
            .iter()
            .filter(|c| c.kind == CandidateKind::Host)
            .filter_map(|c| c.socket_addr())
            .collect();
        for base in bases {
            for server in self.config.stun_servers.clone() {
                if server.is_ipv4() != base.is_ipv4() {
                    continue;
                }
                let mut id = TransactionId([0; 12]);
                self.rng.fill(&mut id.0);
                let mut buf = [0u8; 64];
                let Ok(mut b) = MessageBuilder::new(&mut buf, MessageType::BINDING_REQUEST, id)
                else {
                    continue;
                };
                if b.add_fingerprint().is_err() {
                    continue;
                }
                let n = b.finish();
                let request = buf[..n].to_vec();
                self.transmits.push_small(AgentTransmit {
                    source: base,
                    destination: server,
                    contents: request.clone(),
                });
                self.gathers.push_small(Gather {
                    id,
                    base,
                    server,
                    request,
                    timer: self.check_backoff().start(now),
                });
            }
        }
        self.gathering_done();
    }

    fn gathering_done(&mut self) {
        if self.gathering && self.gathers.is_empty() {
            self.gathering = false;
            self.events.push_small(AgentEvent::GatheringComplete);
        }
    }

    fn handle_gather_response(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        m: &StunMessage<'_>,
    ) -> bool {
        let id = m.transaction_id();
        let Some(i) = self.gathers.iter().position(|g| g.id == id) else {
            return false;
        };
        let g = &self.gathers[i];
        if source != g.server || destination != g.base {
            self.stats.ignored += 1;
            return true;
        }
        let g = self.gathers.swap_remove(i);
        if let Some(mapped) = m
            .xor_mapped_address()
            .filter(|_| m.class() == MessageClass::SuccessResponse)
        {
            // A local peer-reflexive candidate with that address (learned from a check whose
            // answer came before the server's) does not count: it was never signalled, and the
            // server-reflexive candidate replaces it so the peer hears of the address.
            let known = self
                .locals
                .iter()
                .any(|c| c.socket_addr() == Some(mapped) && c.kind != CandidateKind::PeerReflexive);
            if mapped != g.base && !known {
                self.locals.retain(|c| {
                    !(c.socket_addr() == Some(mapped) && c.kind == CandidateKind::PeerReflexive)
                });
            }
            if mapped != g.base && !known && self.locals.len() < self.config.max_local_candidates {
                let idx = self
                    .locals
                    .iter()
                    .position(|c| c.socket_addr() == Some(g.base))
                    .unwrap_or(0);
                let component = self.locals.get(idx).map_or(COMPONENT, |c| c.component);
                let c = Candidate::new(
                    self.foundations.foundation(
                        CandidateKind::ServerReflexive,
                        g.base.ip(),
                        Some(g.server.ip()),
                    ),
                    component,
                    priority(
                        CandidateKind::ServerReflexive.type_preference(),
                        65535 - idx as u16,
                        component,
                    ),
                    mapped,
                    CandidateKind::ServerReflexive,
                )
                .with_related(g.base);
                self.locals.push_small(c.clone());
                self.checklist.add_local(c.clone(), g.base);
                self.events.push_small(AgentEvent::LocalCandidate(c));
            }
        }
        self.gathering_done();
        true
    }

    /// Restarts ICE (RFC 8445 9) with new local credentials: remote candidates, pairs and checks
    /// are dropped, local candidates kept (learned peer-reflexive ones excepted). The previously
    /// selected pair stays usable ([`Agent::selected_pair`]) until the restart selects a new one;
    /// consent keeps running on it with the old credentials meanwhile (losing it drops the old
    /// pair and the state goes to `Checking`). Signal the new credentials and candidates, then call
    /// [`Agent::set_remote_credentials`] with the peer's new ones and add its candidates.
    pub fn restart(&mut self, now: Instant, local_ufrag: &str, local_password: &str) {
        if self.state == ConnectionState::Closed {
            return;
        }
        if self.state != ConnectionState::Failed {
            self.previous = (1..=self.config.components.max(1))
                .filter_map(|c| self.selected_pair_of(c).map(|p| (c, p)))
                .collect();
        }
        // Consent keeps running on the old pairs with the old credentials (RFC 7675 applies to
        // whatever pair is in use), until the restart selects new pairs.
        self.old = match (
            self.previous.is_empty(),
            self.remote.take(),
            self.old.take(),
        ) {
            (false, Some((remote_ufrag, remote_key)), _) if !self.consent.is_empty() => {
                Some(Box::new(OldSession {
                    local_ufrag: self.config.local_ufrag.clone(),
                    local_key: self.local_key.clone(),
                    remote_ufrag,
                    remote_key,
                    consent: std::mem::take(&mut self.consent),
                }))
            }
            // Restarted again before the first restart selected anything: keep the oldest.
            (false, _, old) => old,
            _ => None,
        };
        self.completed = false;
        self.config.local_ufrag = local_ufrag.to_owned();
        self.config.local_password = local_password.to_owned();
        self.local_key = IntegrityKey::short_term(local_password);
        self.remote_end = false;
        self.selected.clear();
        self.nominating.clear();
        self.first_valid = None;
        self.consent.clear();
        self.checks.clear();
        self.checklist = Checklist::new(self.config.checklist.clone(), self.controlling);
        // Peer-reflexive candidates belong to the old session.
        self.locals
            .retain(|c| c.kind != CandidateKind::PeerReflexive);
        for c in self.locals.clone() {
            let base = match (c.kind, c.related) {
                (CandidateKind::ServerReflexive, Some(base)) => Some(base),
                _ => c.socket_addr(),
            };
            if let Some(base) = base {
                self.checklist.add_local(c, base);
            }
        }
        if self.previous.is_empty() {
            self.state = ConnectionState::New;
            self.events
                .push_back(AgentEvent::StateChanged(ConnectionState::New));
        } else if self.state == ConnectionState::Completed {
            // Checks run again: no longer completed until the restart selects a pair.
            self.set_state(ConnectionState::Connected);
        }
        self.next_pace = Some(now);
    }

    /// Tells the agent the peer is ICE-lite (`a=ice-lite`): a full agent is then controlling
    /// (RFC 8445 6.1.1).
    pub fn set_remote_lite(&mut self, lite: bool) {
        if lite && !self.config.lite && !self.controlling {
            self.switch_role(true);
        }
    }

    /// The peer signalled end-of-candidates (RFC 8838): once every pair has failed, the agent
    /// reports `Failed` instead of waiting for more candidates.
    pub fn end_of_remote_candidates(&mut self) {
        self.remote_end = true;
        self.check_failed_all();
        self.check_completed();
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

    /// Moves to `Completed` once a pair is selected, the peer has signalled end-of-candidates,
    /// and no pair or (non-consent) check is pending (RFC 8445 8.1.2, 6.1.2.1).
    fn check_completed(&mut self) {
        if self.completed
            || self.state != ConnectionState::Connected
            || !self.all_selected()
            || !self.remote_end
            || self.checks.iter().any(|c| !c.consent && !c.cancelled)
            || !self.checklist.checks_done()
        {
            return;
        }
        self.completed = true;
        self.set_state(ConnectionState::Completed);
    }

    /// The state for a selected pair with fresh consent.
    fn connected_state(&self) -> ConnectionState {
        if self.completed {
            ConnectionState::Completed
        } else {
            ConnectionState::Connected
        }
    }

    /// Sets the peer's username fragment and password (from its SDP).
    pub fn set_remote_credentials(&mut self, ufrag: &str, password: &str) {
        self.remote = Some((ufrag.to_owned(), IntegrityKey::short_term(password)));
    }

    /// Adds a remote candidate (from SDP or trickled).
    pub fn add_remote_candidate(
        &mut self,
        candidate: Candidate,
    ) -> Result<(), RemoteCandidateError> {
        if candidate.component == 0 || candidate.component > self.config.components.max(1) {
            return Ok(());
        }
        self.checklist.add_remote(candidate)?;
        self.resume_pacing();
        Ok(())
    }

    /// New pairs after checks ran dry: pacing starts again at the next `handle_timeout`.
    fn resume_pacing(&mut self) {
        if self.next_pace.is_none() {
            self.next_pace = self.last_now;
        }
    }

    fn set_state(&mut self, state: ConnectionState) {
        if self.state != state {
            self.state = state;
            self.events.push_small(AgentEvent::StateChanged(state));
        }
    }

    fn local_priority_prflx(&self, base: SocketAddr) -> u32 {
        let idx = self
            .locals
            .iter()
            .position(|c| c.socket_addr() == Some(base))
            .unwrap_or(0);
        let component = self.locals.get(idx).map_or(COMPONENT, |c| c.component);
        priority(
            CandidateKind::PeerReflexive.type_preference(),
            65535 - idx as u16,
            component,
        )
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

    fn respond(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        message_type: MessageType,
        id: TransactionId,
        build: impl FnOnce(&mut MessageBuilder<'_>) -> Result<(), crate::stun::StunError>,
        with_integrity: bool,
    ) {
        let mut buf = [0u8; MAX_MESSAGE];
        let Ok(mut b) = MessageBuilder::new(&mut buf, message_type, id) else {
            return;
        };
        let ok = build(&mut b).is_ok()
            && (!with_integrity || b.add_message_integrity(&self.local_key).is_ok())
            && b.add_fingerprint().is_ok();
        if ok {
            let n = b.finish();
            self.transmits.push_small(AgentTransmit {
                source: destination,
                destination: source,
                contents: buf[..n].to_vec(),
            });
        }
    }

    /// During an ICE restart, answers the peer's consent checks on a pair of the old session
    /// with the old credentials (and changes nothing else). Returns whether it answered.
    fn answer_old_session(
        &mut self,
        source: SocketAddr,
        destination: SocketAddr,
        m: &StunMessage<'_>,
    ) -> bool {
        let Some(old) = &self.old else {
            return false;
        };
        let on_old_pair = self.previous.values().any(|p| *p == (destination, source));
        let username_ok = m.username().is_some_and(|u| {
            u.strip_prefix(old.local_ufrag.as_str())
                .is_some_and(|r| r.starts_with(':'))
        });
        if !on_old_pair
            || !username_ok
            || old.local_ufrag == self.config.local_ufrag
            || m.verify_message_integrity(&old.local_key).is_err()
        {
            return false;
        }
        let key = old.local_key.clone();
        self.mark_validated(destination, source);
        let mut buf = [0u8; MAX_MESSAGE];
        let Ok(mut b) =
            MessageBuilder::new(&mut buf, MessageType::BINDING_SUCCESS, m.transaction_id())
        else {
            return true;
        };
        let ok = b.add(&Attribute::XorMappedAddress(source)).is_ok()
            && b.add_message_integrity(&key).is_ok()
            && b.add_fingerprint().is_ok();
        if ok {
            let n = b.finish();
            self.stats.checks_answered += 1;
            self.transmits.push_small(AgentTransmit {
                source: destination,
                destination: source,
                contents: buf[..n].to_vec(),
            });
        }
        true
    }

    fn handle_request(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        m: &StunMessage<'_>,
    ) {
        let id = m.transaction_id();
        let error_type = MessageType::new(m.method(), MessageClass::ErrorResponse);
        if m.message_type() != MessageType::BINDING_REQUEST {
            if !self.config.answer_unauthenticated {
                self.stats.auth_failures += 1;
                return;
            }
            self.respond(
                source,
                destination,
                error_type,
                id,
                |b| {
                    b.add(&Attribute::ErrorCode {
                        code: 400,
                        reason: "Bad Request",
                    })
                    .map(|_| ())
                },
                false,
            );
            return;
        }
        if self.answer_old_session(source, destination, m) {
            return;
        }
        // Authentication first: a request failing it changes nothing (RFC 8445 7.3).
        let username_ok = m.username().is_some_and(|u| {
            u.strip_prefix(self.config.local_ufrag.as_str())
                .is_some_and(|r| r.starts_with(':'))
        });
        if !username_ok || m.verify_message_integrity(&self.local_key).is_err() {
            self.stats.auth_failures += 1;
            if !self.config.answer_unauthenticated {
                return;
            }
            let code = if m.username().is_none() || !m.has_message_integrity() {
                400
            } else {
                401
            };
            self.respond(
                source,
                destination,
                error_type,
                id,
                |b| {
                    b.add(&Attribute::ErrorCode {
                        code,
                        reason: if code == 400 {
                            "Bad Request"
                        } else {
                            "Unauthorized"
                        },
                    })
                    .map(|_| ())
                },
                false,
            );
            return;
        }
        self.mark_validated(destination, source);
        let unknown = m.unknown_comprehension_required();
        if !unknown.is_empty() {
            let list: Vec<u16> = unknown.to_vec();
            self.respond(
                source,
                destination,
                error_type,
                id,
                |b| {
                    b.add(&Attribute::ErrorCode {
                        code: 420,
                        reason: "Unknown Attribute",
                    })?;
                    b.add(&Attribute::UnknownAttributes(attr::U16List::Values(&list)))
                        .map(|_| ())
                },
                true,
            );
            return;
        }
        let Some(Ok(Attribute::Priority(peer_priority))) = m.get(attr::PRIORITY) else {
            self.respond(
                source,
                destination,
                error_type,
                id,
                |b| {
                    b.add(&Attribute::ErrorCode {
                        code: 400,
                        reason: "Bad Request",
                    })
                    .map(|_| ())
                },
                true,
            );
            return;
        };
        // Role conflict (RFC 8445 7.3.1.1).
        let their_controlling = match (m.get(attr::ICE_CONTROLLING), m.get(attr::ICE_CONTROLLED)) {
            (Some(Ok(Attribute::IceControlling(t))), _) => Some((true, t)),
            (_, Some(Ok(Attribute::IceControlled(t)))) => Some((false, t)),
            _ => None,
        };
        if let Some((_, tb)) = their_controlling.filter(|(theirs, _)| *theirs == self.controlling) {
            self.stats.role_conflicts += 1;
            let we_win = self.tie_breaker >= tb;
            // Both controlling: the larger tie-breaker stays controlling. Both controlled: the
            // larger tie-breaker becomes controlling.
            // A lite agent stays controlled: the full peer must take the controlling role.
            let keep_and_reject =
                self.config.lite || if self.controlling { we_win } else { !we_win };
            if keep_and_reject {
                self.respond(
                    source,
                    destination,
                    error_type,
                    id,
                    |b| {
                        b.add(&Attribute::ErrorCode {
                            code: 487,
                            reason: "Role Conflict",
                        })
                        .map(|_| ())
                    },
                    true,
                );
                return;
            }
            self.switch_role(!self.controlling);
        }
        // Success response.
        self.stats.checks_answered += 1;
        self.respond(
            source,
            destination,
            MessageType::BINDING_SUCCESS,
            id,
            |b| b.add(&Attribute::XorMappedAddress(source)).map(|_| ()),
            true,
        );

        // Learn a peer-reflexive remote candidate, then trigger a check on the pair.
        if self.checklist.find(destination, source).is_none()
            && !self
                .checklist
                .remote_candidates()
                .iter()
                .any(|r| r.socket_addr() == Some(source))
        {
            self.prflx_count += 1;
            let component = self
                .locals
                .iter()
                .find(|c| c.socket_addr() == Some(destination))
                .map_or(COMPONENT, |c| c.component);
            let c = Candidate::new(
                format!("prflx{}", self.prflx_count),
                component,
                peer_priority,
                source,
                CandidateKind::PeerReflexive,
            );
            let _ = self.checklist.add_remote(c);
        }
        let use_candidate = m.get_raw(attr::USE_CANDIDATE).is_some();
        if let Some(pair) = self
            .checklist
            .find(destination, source)
            .map(|p| (p.id, p.state))
        {
            let (pid, state) = pair;
            if self.config.lite {
                // A lite agent does no checks: the nominated pair is valid and selected.
                if use_candidate {
                    self.checklist.on_success(pid);
                    self.checklist.nominate(pid);
                    self.select(now, pid);
                }
                return;
            }
            if use_candidate && !self.controlling {
                self.checklist.nominate(pid);
                if state == PairState::Succeeded {
                    self.select(now, pid);
                }
            }
            if state == PairState::InProgress {
                // Cancel our ordinary check on the pair and check it again at once instead of
                // waiting for the retransmission (RFC 8445 7.3.1.4). Nominations keep running.
                let mut cancelled = false;
                for c in &mut self.checks {
                    if c.pair == pid && !c.consent && !c.use_candidate && !c.old && !c.cancelled {
                        c.cancelled = true;
                        cancelled = true;
                    }
                }
                if cancelled {
                    self.checklist.retry(pid);
                }
            } else if state != PairState::Succeeded {
                self.checklist.trigger(pid);
            }
            self.schedule(now);
        }
    }

    fn switch_role(&mut self, controlling: bool) {
        self.controlling = controlling;
        self.checklist.set_controlling(controlling);
    }

    fn select(&mut self, now: Instant, pid: PairId) {
        let Some(p) = self.checklist.pair(pid) else {
            return;
        };
        let (local, remote, component) = (p.local, p.remote, p.component);
        if self.selected.get(&component) == Some(&pid) {
            return;
        }
        self.selected.insert(component, pid);
        self.previous.remove(&component);
        if let Some(old) = &mut self.old {
            old.consent.remove(&component);
            if old.consent.is_empty() || self.previous.is_empty() {
                self.old = None;
                self.checks.retain(|c| !c.old);
            }
        }
        if !self.config.lite {
            let next = now + self.consent_jitter();
            self.consent.insert(component, Consent { last: now, next });
        }
        self.events.push_small(AgentEvent::SelectedPair {
            component,
            local,
            remote,
        });
        self.completed = false;
        if self.all_selected() {
            self.set_state(ConnectionState::Connected);
        }
        // The pair is nominated: drop frozen and waiting pairs, and stop checks on pairs of
        // lower priority (RFC 8445 8.1.2).
        let prio = self.checklist.pair(pid).map_or(0, |p| p.priority);
        self.checklist.stop_after_nomination(component);
        let mut i = 0;
        while i < self.checks.len() {
            let c = &self.checks[i];
            let lower = self
                .checklist
                .pair(c.pair)
                .is_none_or(|p| p.component == component && p.priority < prio);
            if !c.consent && c.pair != pid && lower {
                let c = self.checks.swap_remove(i);
                if self
                    .checklist
                    .pair(c.pair)
                    .is_some_and(|p| p.state == PairState::InProgress)
                {
                    self.checklist.on_failure(c.pair);
                }
            } else {
                i += 1;
            }
        }
        self.check_completed();
    }

    fn handle_response(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        m: &StunMessage<'_>,
    ) {
        self.handle_response_inner(now, source, destination, m);
        self.check_completed();
    }

    fn handle_response_inner(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        m: &StunMessage<'_>,
    ) {
        if self.handle_gather_response(source, destination, m) {
            return;
        }
        let id = m.transaction_id();
        let Some(i) = self.checks.iter().position(|c| c.id == id) else {
            self.stats.ignored += 1;
            return;
        };
        let key = if self.checks[i].old {
            let Some(old) = &self.old else { return };
            &old.remote_key
        } else {
            let Some((_, key)) = &self.remote else { return };
            key
        };
        if m.verify_message_integrity(key).is_err() {
            // Not authentic: ignore it, the check keeps retransmitting (RFC 8445 7.2.5.1).
            self.stats.auth_failures += 1;
            return;
        }
        self.mark_validated(destination, source);
        let check = self.checks.swap_remove(i);
        if m.class() == MessageClass::SuccessResponse
            && !check.timer.retransmitted()
            && source == check.remote
            && destination == check.local
        {
            self.record_rtt(check.local, check.remote, now - check.first_sent);
        }
        if check.old {
            let symmetric = source == check.remote && destination == check.local;
            if m.class() == MessageClass::SuccessResponse && symmetric {
                if let Some(c) = self
                    .old
                    .as_mut()
                    .and_then(|o| o.consent.get_mut(&check.component))
                {
                    c.last = now;
                    self.stats.consent_refreshed += 1;
                    if self.state == ConnectionState::Disconnected {
                        self.set_state(ConnectionState::Connected);
                    }
                }
            }
            return;
        }
        if check.consent {
            let symmetric = source == check.remote && destination == check.local;
            if m.class() == MessageClass::SuccessResponse && symmetric {
                if let Some(c) = self.consent.get_mut(&check.component) {
                    c.last = now;
                    self.stats.consent_refreshed += 1;
                    let stale = self
                        .consent
                        .values()
                        .any(|c| now >= c.last + self.config.consent_disconnected);
                    if self.state == ConnectionState::Disconnected && !stale {
                        self.set_state(self.connected_state());
                    }
                }
            }
            return;
        }
        let symmetric = source == check.remote && destination == check.local;
        if check.cancelled && (m.class() == MessageClass::ErrorResponse || !symmetric) {
            // The pair's new check decides its fate.
            return;
        }
        if m.class() == MessageClass::ErrorResponse {
            if m.error_code().map(|e| e.0) == Some(487) {
                // Role conflict: switch and retry the pair (RFC 8445 7.2.5.1).
                self.stats.role_conflicts += 1;
                let new_role = !check_controlling(&check.request);
                self.switch_role(new_role);
                if self.nominating.get(&check.component) == Some(&check.pair) {
                    self.nominating.remove(&check.component);
                }
                self.checklist.retry(check.pair);
                self.schedule(now);
            } else {
                self.checklist.on_failure(check.pair);
                self.check_failed_all();
                self.schedule(now);
            }
            return;
        }
        // Symmetric addresses (RFC 8445 7.2.5.2.1).
        if !symmetric {
            self.checklist.on_failure(check.pair);
            self.check_failed_all();
            self.schedule(now);
            return;
        }
        self.checklist.on_success(check.pair);
        if let Some(mapped) = m.xor_mapped_address() {
            self.learn_mapped(check.pair, check.local, mapped);
        }
        let nominated_by_peer =
            self.checklist.pair(check.pair).is_some_and(|p| p.nominated) && !self.controlling;
        if check.use_candidate || nominated_by_peer {
            self.checklist.nominate(check.pair);
            self.select(now, check.pair);
        } else if self.controlling {
            // Regular nomination: once no higher-priority pair is still being checked (or
            // `nomination_delay` after the first valid pair), repeat the check on the best valid
            // pair with USE-CANDIDATE.
            self.first_valid.get_or_insert(now);
            if let Some(pid) = self.nomination_candidate(now) {
                self.nominating.insert(self.component_of(pid), pid);
                self.start_check(now, pid, true, false);
            }
        }
        self.schedule(now);
    }

    /// Keeps the latest round-trip time of a path (bounded like the check list).
    fn record_rtt(&mut self, local: SocketAddr, remote: SocketAddr, rtt: Duration) {
        if self.rtts.len() < self.config.checklist.max_pairs
            || self.rtts.contains_key(&(local, remote))
        {
            self.rtts.insert((local, remote), rtt);
        }
    }

    /// The round-trip time of the last connectivity or consent check on the path `(local,
    /// remote)` that was answered without retransmission (Karn's rule).
    pub fn round_trip_time(&self, local: SocketAddr, remote: SocketAddr) -> Option<Duration> {
        self.rtts.get(&(local, remote)).copied()
    }

    /// Records the valid pair of a successful check (RFC 8445 7.2.5.3.1): the mapped address is
    /// one of our candidates, or a new local peer-reflexive candidate with the priority we sent
    /// in the check and `base` as base. Such candidates are not signalled nor paired.
    fn learn_mapped(&mut self, pid: PairId, base: SocketAddr, mapped: SocketAddr) {
        let known = self
            .locals
            .iter()
            .find(|c| c.socket_addr() == Some(mapped))
            .map(|c| c.priority);
        let local_priority = match known {
            Some(p) => p,
            None => {
                let prio = self.local_priority_prflx(base);
                if self.locals.len() < self.config.max_local_candidates {
                    let c = Candidate::new(
                        self.foundations
                            .foundation(CandidateKind::PeerReflexive, base.ip(), None),
                        self.component_of(pid),
                        prio,
                        mapped,
                        CandidateKind::PeerReflexive,
                    )
                    .with_related(base);
                    self.locals.push_small(c);
                }
                prio
            }
        };
        self.checklist.add_valid(pid, mapped, local_priority);
    }

    /// Our candidates: host, server-reflexive, relayed, and peer-reflexive ones learned from
    /// checks (RFC 8445 7.2.5.3.1; these are not signalled).
    pub fn local_candidates(&self) -> &[Candidate] {
        &self.locals
    }

    fn check_failed_all(&mut self) {
        if !self.remote_end || self.checks.iter().any(|c| !c.consent) {
            return;
        }
        // A component without a selected pair whose pairs all failed fails the connection.
        let failed = (1..=self.config.components.max(1)).any(|c| {
            !self.selected.contains_key(&c) && {
                let mut pairs = self
                    .checklist
                    .pairs()
                    .iter()
                    .filter(|p| p.component == c)
                    .peekable();
                pairs.peek().is_some() && pairs.all(|p| p.state == PairState::Failed)
            }
        });
        if failed {
            self.set_state(ConnectionState::Failed);
        }
    }

    fn schedule(&mut self, now: Instant) {
        if self.next_pace.is_none() {
            self.next_pace = Some(now);
        }
    }

    fn start_check(&mut self, now: Instant, pid: PairId, use_candidate: bool, consent: bool) {
        let Some((ufrag, key)) = &self.remote else {
            return;
        };
        let Some(p) = self.checklist.pair(pid) else {
            return;
        };
        let (local, remote, component) = (p.local, p.remote, p.component);
        let username = format!("{ufrag}:{}", self.config.local_ufrag);
        let key = key.clone();
        self.send_check(
            now,
            (pid, component, local, remote),
            &username,
            &key,
            use_candidate,
            consent,
            false,
        );
    }

    /// Builds, sends and records a check request.
    #[allow(clippy::too_many_arguments)]
    fn send_check(
        &mut self,
        now: Instant,
        (pid, component, local, remote): (PairId, u16, SocketAddr, SocketAddr),
        username: &str,
        key: &IntegrityKey,
        use_candidate: bool,
        consent: bool,
        old: bool,
    ) {
        let mut id = TransactionId([0; 12]);
        self.rng.fill(&mut id.0);
        let prio = self.local_priority_prflx(local);
        let mut buf = [0u8; MAX_MESSAGE];
        let Ok(mut b) = MessageBuilder::new(&mut buf, MessageType::BINDING_REQUEST, id) else {
            return;
        };
        let role = if self.controlling {
            Attribute::IceControlling(self.tie_breaker)
        } else {
            Attribute::IceControlled(self.tie_breaker)
        };
        let built = b.add(&Attribute::Username(username)).is_ok()
            && b.add(&role).is_ok()
            && b.add(&Attribute::Priority(prio)).is_ok()
            && (!use_candidate || b.add(&Attribute::UseCandidate).is_ok())
            && b.add_message_integrity(key).is_ok()
            && b.add_fingerprint().is_ok();
        if !built {
            return;
        }
        let n = b.finish();
        let request = buf[..n].to_vec();
        self.stats.checks_sent += 1;
        self.transmits.push_small(AgentTransmit {
            source: local,
            destination: remote,
            contents: request.clone(),
        });
        self.checks.push_small(Check {
            id,
            pair: pid,
            local,
            remote,
            request,
            timer: self.check_backoff().start(now),
            use_candidate,
            consent,
            component,
            old,
            first_sent: now,
            cancelled: false,
        });
        if self.state == ConnectionState::New {
            self.set_state(ConnectionState::Checking);
        }
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
        // Gathering retransmissions and timeouts.
        let mut i = 0;
        while i < self.gathers.len() {
            let g = &mut self.gathers[i];
            match g.timer.on_timeout(now) {
                Step::Wait => {}
                Step::Send => self.transmits.push_small(AgentTransmit {
                    source: g.base,
                    destination: g.server,
                    contents: g.request.clone(),
                }),
                Step::Expired => {
                    self.gathers.swap_remove(i);
                    continue;
                }
            }
            i += 1;
        }
        self.gathering_done();
        // Retransmissions.
        let mut i = 0;
        while i < self.checks.len() {
            let c = &mut self.checks[i];
            let step = c.timer.on_timeout(now);
            if c.cancelled {
                // Silent: the transaction's time runs out without retransmissions.
                if step == Step::Expired {
                    self.checks.swap_remove(i);
                } else {
                    i += 1;
                }
                continue;
            }
            if step == Step::Wait {
                i += 1;
                continue;
            }
            if step == Step::Expired {
                let c = self.checks.swap_remove(i);
                if c.consent {
                    // Unanswered consent checks only count through the consent timers; a
                    // cancelled check's pair is being checked again.
                    continue;
                }
                if self.nominating.get(&c.component) == Some(&c.pair) && c.use_candidate {
                    // The pair was valid; only the nomination got no answer: nominate again
                    // at the next pacing slot.
                    self.nominating.remove(&c.component);
                    self.schedule(now);
                    continue;
                }
                self.checklist.on_failure(c.pair);
                self.check_failed_all();
                self.schedule(now);
                continue;
            }
            self.stats.checks_sent += 1;
            self.transmits.push_small(AgentTransmit {
                source: c.local,
                destination: c.remote,
                contents: c.request.clone(),
            });
            i += 1;
        }
        self.consent_timers(now);
        // Paced new checks (one per Ta).
        if self.remote.is_none() || self.state == ConnectionState::Failed || self.config.lite {
            return;
        }
        let due = self.next_pace.is_none_or(|t| now >= t);
        if due {
            if let Some(pid) = self.nomination_candidate(now) {
                self.nominating.insert(self.component_of(pid), pid);
                self.start_check(now, pid, true, false);
                self.next_pace = Some(now + self.config.ta);
            } else if let Some(pid) = self.checklist.next_check() {
                self.start_check(now, pid, false, false);
                self.next_pace = Some(now + self.config.ta);
            } else {
                self.next_pace = None;
            }
        }
    }

    fn consent_jitter(&mut self) -> Duration {
        // 0.8 to 1.2 times the interval (RFC 7675 5.1).
        let permille = 800 + self.rng.next_u64() % 401;
        self.config.consent_interval * permille as u32 / 1000
    }

    fn consent_timers(&mut self, now: Instant) {
        self.old_consent_timers(now);
        let consents: Vec<(u16, Consent)> = self.consent.iter().map(|(k, c)| (*k, *c)).collect();
        for (component, c) in consents {
            let Some(&pid) = self.selected.get(&component) else {
                continue;
            };
            if now >= c.last + self.config.consent_timeout {
                // Consent lost on a component: stop everything (RFC 7675 5.1), and the
                // selected paths carry nothing more until ICE validates them again.
                for pid in self.selected.values() {
                    if let Some(p) = self.checklist.pair(*pid) {
                        let path = (p.local, p.remote);
                        self.validated.retain(|v| *v != path);
                    }
                }
                self.consent.clear();
                self.checks.retain(|c| !c.consent);
                self.set_state(ConnectionState::Failed);
                return;
            }
            if now >= c.last + self.config.consent_disconnected {
                self.set_state(ConnectionState::Disconnected);
            }
            if now >= c.next {
                let next = now + self.consent_jitter();
                if let Some(c) = self.consent.get_mut(&component) {
                    c.next = next;
                }
                self.start_check(now, pid, false, true);
            }
        }
    }

    /// Consent on the pairs selected before an ICE restart, with the old credentials.
    fn old_consent_timers(&mut self, now: Instant) {
        let Some(old) = &self.old else {
            return;
        };
        let consents: Vec<(u16, Consent)> = old.consent.iter().map(|(k, c)| (*k, *c)).collect();
        for (component, c) in consents {
            let Some(&(local, remote)) = self.previous.get(&component) else {
                continue;
            };
            if now >= c.last + self.config.consent_timeout {
                // Consent lost on the old pairs: stop using them; the restart's checks go on.
                for path in self.previous.values() {
                    self.validated.retain(|v| v != path);
                }
                self.old = None;
                self.previous.clear();
                self.checks.retain(|c| !c.old);
                if self.selected.is_empty() {
                    self.set_state(ConnectionState::Checking);
                }
                return;
            }
            if now >= c.last + self.config.consent_disconnected {
                self.set_state(ConnectionState::Disconnected);
            }
            if now >= c.next {
                let next = now + self.consent_jitter();
                let Some(old) = &mut self.old else { return };
                if let Some(c) = old.consent.get_mut(&component) {
                    c.next = next;
                }
                let username = format!("{}:{}", old.remote_ufrag, old.local_ufrag);
                let key = old.remote_key.clone();
                self.send_check(
                    now,
                    (OLD_PAIR, component, local, remote),
                    &username,
                    &key,
                    false,
                    true,
                    true,
                );
            }
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<AgentTransmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<AgentEvent> {
        self.events.pop_front()
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
        let old_consent = self.old.iter().flat_map(|o| o.consent.values());
        let consent = self.consent.values().chain(old_consent).map(|c| {
            let lost = c.last + self.config.consent_timeout;
            let disconnected = c.last + self.config.consent_disconnected;
            let mut t = c.next.min(lost);
            if matches!(
                self.state,
                ConnectionState::Connected | ConnectionState::Completed
            ) {
                t = t.min(disconnected);
            }
            t
        });
        self.checks
            .iter()
            .map(|c| c.timer.deadline())
            .chain(self.gathers.iter().map(|g| g.timer.deadline()))
            .chain(self.nomination_deadline().filter(|_| checking))
            .chain(pace)
            .chain(consent)
            .min()
    }

    fn has_work(&self) -> bool {
        self.nomination_pending()
            || self
                .checklist
                .pairs()
                .iter()
                .any(|p| matches!(p.state, PairState::Waiting | PairState::Frozen))
    }

    /// The highest-priority valid pair, with its priority.
    fn best_valid(&self, component: u16) -> Option<(PairId, u64)> {
        self.checklist
            .pairs()
            .iter()
            .find(|p| p.component == component && p.state == PairState::Succeeded)
            .map(|p| (p.id, p.priority))
    }

    /// The components whose nomination is due or waited for: controlling, a valid pair,
    /// nothing selected or being nominated.
    fn nomination_pending_components(&self) -> impl Iterator<Item = u16> + '_ {
        (1..=self.config.components.max(1)).filter(|c| {
            self.controlling
                && !self.selected.contains_key(c)
                && !self.nominating.contains_key(c)
                && self.best_valid(*c).is_some()
        })
    }

    fn nomination_pending(&self) -> bool {
        self.nomination_pending_components().next().is_some()
    }

    /// When the nomination stops waiting for higher-priority pairs.
    fn nomination_deadline(&self) -> Option<Instant> {
        if !self.nomination_pending() {
            return None;
        }
        self.first_valid.map(|t| t + self.config.nomination_delay)
    }

    /// The valid pair to nominate now, if any.
    fn nomination_candidate(&self, now: Instant) -> Option<PairId> {
        let waited = self.nomination_deadline().is_some_and(|d| now >= d);
        self.nomination_pending_components().find_map(|c| {
            let (id, prio) = self.best_valid(c)?;
            let higher_pending = self.checklist.pairs().iter().any(|p| {
                p.component == c
                    && p.priority > prio
                    && matches!(
                        p.state,
                        PairState::Frozen | PairState::Waiting | PairState::InProgress
                    )
            });
            (!higher_pending || waited).then_some(id)
        })
    }

    /// The retransmission timer of checks and gathering requests.
    fn check_backoff(&self) -> Backoff {
        Backoff::ice(self.config.check_rto, self.config.check_max_requests)
    }

    /// Starts checking now (call once remote credentials and candidates are set).
    pub fn start(&mut self, now: Instant) {
        self.last_now = Some(now);
        self.next_pace = Some(now);
    }
}

/// Whether a check request we sent carried ICE-CONTROLLING.
fn check_controlling(request: &[u8]) -> bool {
    StunMessage::parse(request).is_ok_and(|m| m.get_raw(attr::ICE_CONTROLLING).is_some())
}
