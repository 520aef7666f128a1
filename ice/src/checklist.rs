//! The ICE check list (RFC 8445 section 6.1.2): pairing local and remote candidates, pair
//! priorities, pruning, limits, pair states and the order in which checks are sent.
//!
//! The list is bounded: at most `max_remote_candidates` remote candidates and `max_pairs` pairs
//! are kept, however many a peer trickles; the excess is dropped and counted.

use std::collections::VecDeque;
use std::net::SocketAddr;

use thiserror::Error;

use crate::candidate::{
    Candidate, CandidateAddress, CandidateKind, CandidateTransport, TcpType, pair_priority,
};
use crate::small::PushSmall;

/// Limits of a check list.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ChecklistConfig {
    /// Most remote candidates kept.
    pub max_remote_candidates: usize,
    /// Most candidate pairs kept (RFC 8445 recommends 100).
    pub max_pairs: usize,
}

impl Default for ChecklistConfig {
    fn default() -> Self {
        ChecklistConfig {
            max_remote_candidates: 64,
            max_pairs: 100,
        }
    }
}

/// Why a remote candidate was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum RemoteCandidateError {
    /// `max_remote_candidates` are already known.
    #[error("remote candidate limit reached")]
    TooMany,
    /// The candidate is an mDNS name: resolve it and add the candidate with its IP address.
    #[error("mDNS candidate must be resolved first")]
    Unresolved,
    /// The same transport address is already known for this component.
    #[error("duplicate remote candidate")]
    Duplicate,
    /// Not a UDP candidate: the agent checks UDP candidates only.
    #[error("unsupported remote candidate transport")]
    UnsupportedTransport,
}

/// A local candidate with the base it is sent from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalCandidate {
    /// The candidate as signalled.
    pub candidate: Candidate,
    /// Its base: the local socket address checks from it leave from (equal to the candidate's
    /// address for host and relayed candidates).
    pub base: SocketAddr,
}

/// State of a candidate pair (RFC 8445 6.1.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PairState {
    /// Not checked until a pair of the same foundation succeeds or nothing else is waiting.
    Frozen,
    /// Ready to be checked.
    Waiting,
    /// A check is outstanding.
    InProgress,
    /// A check succeeded.
    Succeeded,
    /// The check failed.
    Failed,
}

/// Stable identifier of a pair within its check list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PairId(pub u32);

/// A candidate pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidatePair {
    /// Identifier.
    pub id: PairId,
    /// Component id.
    pub component: u16,
    /// Local base address (where checks are sent from).
    pub local: SocketAddr,
    /// Remote candidate address (where checks are sent to).
    pub remote: SocketAddr,
    /// The transport: UDP, or TCP over the stream the peer opened from `remote` to our
    /// passive candidate `local`.
    pub transport: CandidateTransport,
    /// Local candidate priority (used in the PRIORITY of checks is the prflx one instead).
    pub local_priority: u32,
    /// Remote candidate priority.
    pub remote_priority: u32,
    /// Pair foundation: local and remote foundations joined.
    pub foundation: (String, String),
    /// Pair priority for the current role.
    pub priority: u64,
    /// State.
    pub state: PairState,
    /// Whether the pair has been nominated.
    pub nominated: bool,
}

/// An entry of the valid list (RFC 8445 7.2.5.3.2): a pair whose check succeeded, with the local
/// candidate the peer saw in that check (the mapped address: a host, server-reflexive, relayed or
/// a peer-reflexive candidate learned from the check, RFC 8445 7.2.5.3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPair {
    /// The checked pair that produced this entry (checks and nomination go through it).
    pub generated_by: PairId,
    /// Component id.
    pub component: u16,
    /// The local candidate's address (the mapped address of the successful check).
    pub local: SocketAddr,
    /// The local candidate's base (where data is sent from).
    pub base: SocketAddr,
    /// Remote candidate address.
    pub remote: SocketAddr,
    /// Priority of the local candidate (for a learned peer-reflexive candidate: the PRIORITY
    /// sent in the check).
    pub local_priority: u32,
    /// Pair priority for the current role, from the local candidate above.
    pub priority: u64,
}

/// Counters of a check list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChecklistStats {
    /// Remote candidates refused because of the limit.
    pub remote_dropped: u64,
    /// Pairs not formed or removed because of the limit.
    pub pairs_dropped: u64,
    /// Pairs pruned as redundant (same local base and remote address).
    pub pairs_pruned: u64,
}

/// A check list for one data stream (all its components).
#[derive(Debug, Clone)]
pub struct Checklist {
    config: ChecklistConfig,
    controlling: bool,
    locals: Vec<LocalCandidate>,
    remotes: Vec<Candidate>,
    pairs: Vec<CandidatePair>,
    triggered: VecDeque<PairId>,
    next_id: u32,
    stats: ChecklistStats,
    valid: Vec<ValidPair>,
}

impl Checklist {
    /// An empty check list for an agent in the given role.
    pub fn new(config: ChecklistConfig, controlling: bool) -> Self {
        Checklist {
            config,
            controlling,
            locals: Vec::new(),
            remotes: Vec::new(),
            pairs: Vec::new(),
            triggered: VecDeque::new(),
            next_id: 0,
            stats: ChecklistStats::default(),
            valid: Vec::new(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> ChecklistStats {
        self.stats
    }

    /// The pairs, highest priority first.
    pub fn pairs(&self) -> &[CandidatePair] {
        &self.pairs
    }

    /// The pair with this id.
    pub fn pair(&self, id: PairId) -> Option<&CandidatePair> {
        self.pairs.iter().find(|p| p.id == id)
    }

    /// The UDP pair sending from `local` to `remote`, if any.
    pub fn find(&self, local: SocketAddr, remote: SocketAddr) -> Option<&CandidatePair> {
        self.find_on(CandidateTransport::Udp, local, remote)
    }

    /// The pair over `transport` sending from `local` to `remote`, if any.
    pub fn find_on(
        &self,
        transport: CandidateTransport,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> Option<&CandidatePair> {
        self.pairs
            .iter()
            .find(|p| p.transport == transport && p.local == local && p.remote == remote)
    }

    /// Remote candidates known.
    pub fn remote_candidates(&self) -> &[Candidate] {
        &self.remotes
    }

    /// Whether this agent is controlling.
    pub fn is_controlling(&self) -> bool {
        self.controlling
    }

    /// Changes the role (after a 487 role conflict) and recomputes pair priorities and order.
    pub fn set_controlling(&mut self, controlling: bool) {
        self.controlling = controlling;
        for p in &mut self.pairs {
            p.priority = Self::priority_for(controlling, p.local_priority, p.remote_priority);
        }
        self.sort();
        for v in &mut self.valid {
            let remote_priority = self
                .pairs
                .iter()
                .find(|p| p.id == v.generated_by)
                .map_or(0, |p| p.remote_priority);
            v.priority = Self::priority_for(controlling, v.local_priority, remote_priority);
        }
        self.valid.sort_by_key(|v| std::cmp::Reverse(v.priority));
    }

    fn priority_for(controlling: bool, local: u32, remote: u32) -> u64 {
        if controlling {
            pair_priority(local, remote)
        } else {
            pair_priority(remote, local)
        }
    }

    fn sort(&mut self) {
        // Stable: equal priorities keep insertion order, so the list is deterministic.
        self.pairs.sort_by_key(|p| std::cmp::Reverse(p.priority));
    }

    /// Adds a local candidate and pairs it with the known remote candidates.
    pub fn add_local(&mut self, candidate: Candidate, base: SocketAddr) {
        let local = LocalCandidate { candidate, base };
        if self.locals.contains(&local) {
            return;
        }
        for ri in 0..self.remotes.len() {
            let remote = self.remotes[ri].clone();
            self.try_pair(&local, &remote);
        }
        self.locals.push_small(local);
    }

    /// Adds a remote candidate (from SDP or trickled) and pairs it with the local candidates.
    ///
    /// TCP (RFC 6544): we only ever have passive candidates and never open a connection, so a
    /// signalled TCP candidate pairs with nothing: an `active` one (port 9) is accepted and
    /// ignored (its real address arrives with its first check, as a peer-reflexive TCP
    /// candidate, which pairs with our passive candidate); `passive` and `so` ones, which only
    /// an active agent could use, are refused with
    /// [`RemoteCandidateError::UnsupportedTransport`]. A TCP candidate pairs only with local
    /// TCP candidates, a UDP one only with UDP ones.
    pub fn add_remote(&mut self, candidate: Candidate) -> Result<(), RemoteCandidateError> {
        if candidate.transport == CandidateTransport::Tcp
            && candidate.kind != CandidateKind::PeerReflexive
        {
            return match candidate.tcp_type() {
                Some(TcpType::Active) => Ok(()),
                _ => Err(RemoteCandidateError::UnsupportedTransport),
            };
        }
        let CandidateAddress::Ip(addr) = candidate.address else {
            return Err(RemoteCandidateError::Unresolved);
        };
        if self.remotes.iter().any(|r| {
            r.component == candidate.component
                && r.transport == candidate.transport
                && r.socket_addr() == Some(addr)
        }) {
            return Err(RemoteCandidateError::Duplicate);
        }
        if self.remotes.len() >= self.config.max_remote_candidates {
            self.stats.remote_dropped += 1;
            return Err(RemoteCandidateError::TooMany);
        }
        for li in 0..self.locals.len() {
            let local = self.locals[li].clone();
            self.try_pair(&local, &candidate);
        }
        self.remotes.push_small(candidate);
        Ok(())
    }

    fn try_pair(&mut self, local: &LocalCandidate, remote: &Candidate) {
        let Some(remote_addr) = remote.socket_addr() else {
            return;
        };
        if local.candidate.component != remote.component
            || local.candidate.transport != remote.transport
            || local.base.is_ipv4() != remote_addr.is_ipv4()
        {
            return;
        }
        // A server-reflexive local candidate is replaced by its base (RFC 8445 6.1.2.4): checks
        // leave from the base; relayed ones leave from the relay (their own address).
        let local_addr = match local.candidate.kind {
            CandidateKind::Relayed => local.candidate.socket_addr().unwrap_or(local.base),
            _ => local.base,
        };
        let priority =
            Self::priority_for(self.controlling, local.candidate.priority, remote.priority);
        if let Some(existing) = self.pairs.iter_mut().find(|p| {
            p.transport == remote.transport && p.local == local_addr && p.remote == remote_addr
        }) {
            // Pruning: keep only the higher-priority of redundant pairs.
            self.stats.pairs_pruned += 1;
            if existing.priority < priority && existing.state == PairState::Frozen {
                existing.priority = priority;
                existing.local_priority = local.candidate.priority;
                existing.remote_priority = remote.priority;
                existing.foundation = (
                    local.candidate.foundation.clone(),
                    remote.foundation.clone(),
                );
                self.sort();
            }
            return;
        }
        if self.pairs.len() >= self.config.max_pairs {
            // Drop the lowest-priority pair not yet checked, if the new one beats it.
            let victim = self
                .pairs
                .iter()
                .rposition(|p| matches!(p.state, PairState::Frozen | PairState::Waiting));
            match victim {
                Some(v) if self.pairs[v].priority < priority => {
                    let id = self.pairs.remove(v).id;
                    self.triggered.retain(|t| *t != id);
                }
                _ => {
                    self.stats.pairs_dropped += 1;
                    return;
                }
            }
            self.stats.pairs_dropped += 1;
        }
        let foundation = (
            local.candidate.foundation.clone(),
            remote.foundation.clone(),
        );
        // Initial state (RFC 8445 6.1.2.6, trickle RFC 8838 11): the first pair of a foundation
        // waits, later ones stay frozen until a pair of their foundation succeeds.
        let state = if self.pairs.iter().any(|p| {
            p.foundation == foundation
                && matches!(p.state, PairState::Waiting | PairState::InProgress)
        }) {
            PairState::Frozen
        } else {
            PairState::Waiting
        };
        let id = PairId(self.next_id);
        self.next_id += 1;
        self.pairs.push_small(CandidatePair {
            id,
            component: remote.component,
            local: local_addr,
            remote: remote_addr,
            transport: remote.transport,
            local_priority: local.candidate.priority,
            remote_priority: remote.priority,
            foundation,
            priority,
            state,
            nominated: false,
        });
        self.sort();
    }

    /// Queues a triggered check on a pair (RFC 8445 7.3.1.4), ahead of ordinary checks.
    pub fn trigger(&mut self, id: PairId) {
        let Some(p) = self.pairs.iter_mut().find(|p| p.id == id) else {
            return;
        };
        if matches!(p.state, PairState::Succeeded | PairState::InProgress) {
            return;
        }
        p.state = PairState::Waiting;
        if !self.triggered.contains(&id) {
            self.triggered.push_back(id);
        }
    }

    /// Puts a pair back to waiting and queues a triggered check on it, whatever its state (after
    /// a 487 role conflict the same pair is checked again).
    pub fn retry(&mut self, id: PairId) {
        let Some(p) = self.pairs.iter_mut().find(|p| p.id == id) else {
            return;
        };
        p.state = PairState::Waiting;
        if !self.triggered.contains(&id) {
            self.triggered.push_back(id);
        }
    }

    /// Picks the pair to check next (triggered first, then the highest-priority waiting pair,
    /// then unfreezing by foundation, RFC 8445 6.1.4.2) and marks it in progress.
    pub fn next_check(&mut self) -> Option<PairId> {
        while let Some(id) = self.triggered.pop_front() {
            if let Some(p) = self
                .pairs
                .iter_mut()
                .find(|p| p.id == id && p.state == PairState::Waiting)
            {
                p.state = PairState::InProgress;
                return Some(id);
            }
        }
        if let Some(p) = self
            .pairs
            .iter_mut()
            .find(|p| p.state == PairState::Waiting)
        {
            p.state = PairState::InProgress;
            return Some(p.id);
        }
        let busy = |pairs: &[CandidatePair], f: &(String, String)| {
            pairs.iter().any(|p| {
                &p.foundation == f && matches!(p.state, PairState::Waiting | PairState::InProgress)
            })
        };
        let i = (0..self.pairs.len()).find(|&i| {
            self.pairs[i].state == PairState::Frozen
                && !busy(&self.pairs, &self.pairs[i].foundation)
        })?;
        self.pairs[i].state = PairState::InProgress;
        Some(self.pairs[i].id)
    }

    /// Records a successful check: the pair succeeds and frozen pairs of its foundation wait
    /// (RFC 8445 7.2.5.3.3).
    pub fn on_success(&mut self, id: PairId) {
        let Some(p) = self.pairs.iter_mut().find(|p| p.id == id) else {
            return;
        };
        p.state = PairState::Succeeded;
        let foundation = p.foundation.clone();
        for q in &mut self.pairs {
            if q.foundation == foundation && q.state == PairState::Frozen {
                q.state = PairState::Waiting;
            }
        }
    }

    /// Records a failed check.
    pub fn on_failure(&mut self, id: PairId) {
        if let Some(p) = self.pairs.iter_mut().find(|p| p.id == id) {
            p.state = PairState::Failed;
        }
    }

    /// Marks a pair nominated.
    pub fn nominate(&mut self, id: PairId) {
        if let Some(p) = self.pairs.iter_mut().find(|p| p.id == id) {
            p.nominated = true;
        }
    }

    /// Once a pair of `component` is nominated (RFC 8445 8.1.2): its frozen and waiting pairs
    /// are dropped (marked failed) and leave the triggered-check queue. A later check from the
    /// peer on one of them can still trigger it again.
    pub fn stop_after_nomination(&mut self, component: u16) {
        for p in &mut self.pairs {
            if p.component == component && matches!(p.state, PairState::Frozen | PairState::Waiting)
            {
                p.state = PairState::Failed;
            }
        }
        let pairs = &self.pairs;
        self.triggered.retain(|id| {
            pairs
                .iter()
                .any(|p| p.id == *id && p.state == PairState::Waiting)
        });
    }

    /// Whether no pair is frozen, waiting or in progress: every check has run.
    pub fn checks_done(&self) -> bool {
        !self.pairs.iter().any(|p| {
            matches!(
                p.state,
                PairState::Frozen | PairState::Waiting | PairState::InProgress
            )
        })
    }

    /// Adds (or updates) the valid-list entry of a pair whose check succeeded, with the local
    /// candidate the peer saw (`local`, of priority `local_priority`). At most one entry per
    /// checked pair, so the valid list is bounded like the check list.
    pub fn add_valid(&mut self, generated_by: PairId, local: SocketAddr, local_priority: u32) {
        let Some(p) = self.pairs.iter().find(|p| p.id == generated_by) else {
            return;
        };
        let entry = ValidPair {
            generated_by,
            component: p.component,
            local,
            base: p.local,
            remote: p.remote,
            local_priority,
            priority: Self::priority_for(self.controlling, local_priority, p.remote_priority),
        };
        self.valid.retain(|v| v.generated_by != generated_by);
        self.valid.push_small(entry);
        self.valid.sort_by_key(|v| std::cmp::Reverse(v.priority));
    }

    /// The valid list, highest priority first.
    pub fn valid_list(&self) -> &[ValidPair] {
        &self.valid
    }

    /// Whether every pair has failed (the list has nothing left to try).
    pub fn all_failed(&self) -> bool {
        !self.pairs.is_empty() && self.pairs.iter().all(|p| p.state == PairState::Failed)
    }

    /// The highest-priority nominated, succeeded pair of `component`.
    pub fn selected(&self, component: u16) -> Option<&CandidatePair> {
        self.pairs
            .iter()
            .find(|p| p.component == component && p.nominated && p.state == PairState::Succeeded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::candidate::priority;

    fn cand(
        foundation: &str,
        component: u16,
        kind: CandidateKind,
        addr: &str,
        local_pref: u16,
    ) -> Candidate {
        Candidate::new(
            foundation,
            component,
            priority(kind.type_preference(), local_pref, component),
            addr.parse().unwrap(),
            kind,
        )
    }

    fn host(f: &str, addr: &str) -> Candidate {
        cand(f, 1, CandidateKind::Host, addr, 65535)
    }

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn pairs_same_component_and_family_only() {
        let mut cl = Checklist::new(ChecklistConfig::default(), true);
        cl.add_local(host("1", "10.0.0.1:1000"), sa("10.0.0.1:1000"));
        cl.add_local(host("2", "[fd00::1]:1000"), sa("[fd00::1]:1000"));
        cl.add_remote(host("a", "10.0.0.2:2000")).unwrap();
        cl.add_remote(host("b", "[fd00::2]:2000")).unwrap();
        cl.add_remote(cand("c", 2, CandidateKind::Host, "10.0.0.2:2001", 65535))
            .unwrap();
        let pairs: Vec<_> = cl.pairs().iter().map(|p| (p.local, p.remote)).collect();
        assert_eq!(pairs.len(), 2);
        assert!(pairs.contains(&(sa("10.0.0.1:1000"), sa("10.0.0.2:2000"))));
        assert!(pairs.contains(&(sa("[fd00::1]:1000"), sa("[fd00::2]:2000"))));
    }

    #[test]
    fn srflx_is_replaced_by_base_and_pruned() {
        let mut cl = Checklist::new(ChecklistConfig::default(), true);
        cl.add_remote(host("a", "10.0.0.2:2000")).unwrap();
        cl.add_local(host("1", "10.0.0.1:1000"), sa("10.0.0.1:1000"));
        cl.add_local(
            cand(
                "2",
                1,
                CandidateKind::ServerReflexive,
                "203.0.113.1:40000",
                65535,
            ),
            sa("10.0.0.1:1000"),
        );
        assert_eq!(cl.pairs().len(), 1);
        assert_eq!(cl.pairs()[0].local, sa("10.0.0.1:1000"));
        assert_eq!(
            cl.pairs()[0].foundation.0,
            "1",
            "the higher-priority host pair is kept"
        );
        assert_eq!(cl.stats().pairs_pruned, 1);
    }

    #[test]
    fn order_and_role_switch() {
        let mut cl = Checklist::new(ChecklistConfig::default(), true);
        cl.add_local(host("1", "10.0.0.1:1000"), sa("10.0.0.1:1000"));
        cl.add_local(
            cand("3", 1, CandidateKind::Relayed, "198.51.100.9:5000", 65535),
            sa("10.0.0.1:1001"),
        );
        cl.add_remote(host("a", "10.0.0.2:2000")).unwrap();
        cl.add_remote(cand(
            "b",
            1,
            CandidateKind::ServerReflexive,
            "203.0.113.2:3000",
            65535,
        ))
        .unwrap();
        let prios: Vec<u64> = cl.pairs().iter().map(|p| p.priority).collect();
        assert!(prios.windows(2).all(|w| w[0] >= w[1]));
        assert_eq!(cl.pairs()[0].local, sa("10.0.0.1:1000"));
        assert_eq!(cl.pairs()[0].remote, sa("10.0.0.2:2000"));
        // The relayed pair leaves from the relay address.
        assert!(
            cl.pairs()
                .iter()
                .any(|p| p.local == sa("198.51.100.9:5000"))
        );
        let p = &cl.pairs()[0];
        assert_eq!(
            p.priority,
            pair_priority(p.local_priority, p.remote_priority)
        );
        cl.set_controlling(false);
        let p = &cl.pairs()[0];
        assert_eq!(
            p.priority,
            pair_priority(p.remote_priority, p.local_priority)
        );
    }

    #[test]
    fn frozen_by_foundation_and_unfrozen_on_success() {
        let mut cl = Checklist::new(ChecklistConfig::default(), true);
        // Two local host candidates with the same foundation, one remote: two pairs, one
        // foundation pair ("1","a") -> the first waits, the second is frozen.
        cl.add_local(host("1", "10.0.0.1:1000"), sa("10.0.0.1:1000"));
        cl.add_local(
            cand("1", 1, CandidateKind::Host, "10.0.0.1:1001", 100),
            sa("10.0.0.1:1001"),
        );
        cl.add_remote(host("a", "10.0.0.2:2000")).unwrap();
        let states: Vec<_> = cl.pairs().iter().map(|p| p.state).collect();
        assert_eq!(states, [PairState::Waiting, PairState::Frozen]);
        let first = cl.next_check().unwrap();
        assert_eq!(cl.pair(first).unwrap().local, sa("10.0.0.1:1000"));
        // The only other pair is frozen and its foundation is in progress: nothing to do.
        assert_eq!(cl.next_check(), None);
        cl.on_success(first);
        assert_eq!(cl.pairs()[1].state, PairState::Waiting);
        let second = cl.next_check().unwrap();
        assert_ne!(first, second);
        cl.on_failure(second);
        assert_eq!(cl.next_check(), None);
        assert!(!cl.all_failed());
    }

    #[test]
    fn frozen_pairs_unfreeze_when_their_foundation_is_idle() {
        let mut cl = Checklist::new(ChecklistConfig::default(), true);
        cl.add_local(host("1", "10.0.0.1:1000"), sa("10.0.0.1:1000"));
        cl.add_local(
            cand("1", 1, CandidateKind::Host, "10.0.0.1:1001", 100),
            sa("10.0.0.1:1001"),
        );
        cl.add_remote(host("a", "10.0.0.2:2000")).unwrap();
        let first = cl.next_check().unwrap();
        cl.on_failure(first);
        // The foundation is idle again: the frozen pair is unfrozen and checked.
        let second = cl.next_check().unwrap();
        assert_ne!(first, second);
        cl.on_failure(second);
        assert!(cl.all_failed());
    }

    #[test]
    fn triggered_checks_go_first() {
        let mut cl = Checklist::new(ChecklistConfig::default(), false);
        cl.add_local(host("1", "10.0.0.1:1000"), sa("10.0.0.1:1000"));
        cl.add_remote(host("a", "10.0.0.2:2000")).unwrap();
        cl.add_remote(cand("b", 1, CandidateKind::Host, "10.0.0.3:2000", 1))
            .unwrap();
        let low = cl.pairs()[1].id;
        cl.trigger(low);
        assert_eq!(cl.next_check(), Some(low));
        cl.on_success(low);
        cl.nominate(low);
        assert_eq!(cl.selected(1).map(|p| p.id), Some(low));
    }

    #[test]
    fn limits_bound_memory() {
        let config = ChecklistConfig {
            max_remote_candidates: 10,
            max_pairs: 8,
        };
        let mut cl = Checklist::new(config, true);
        cl.add_local(host("1", "10.0.0.1:1000"), sa("10.0.0.1:1000"));
        for i in 0..1000u32 {
            let c = cand(
                &format!("r{i}"),
                1,
                CandidateKind::Host,
                &format!("10.1.{}.{}:9", i / 256, i % 256),
                (i % 65536) as u16,
            );
            let _ = cl.add_remote(c);
        }
        assert_eq!(cl.remote_candidates().len(), 10);
        assert_eq!(cl.stats().remote_dropped, 990);
        assert!(cl.pairs().len() <= 8);
        // The highest-priority pairs were kept.
        let min_kept = cl.pairs().iter().map(|p| p.remote_priority).min().unwrap();
        assert!(
            cl.remote_candidates()
                .iter()
                .filter(|r| r.priority > min_kept)
                .count()
                <= 8
        );
    }

    #[test]
    fn mdns_and_duplicates() {
        let mut cl = Checklist::new(ChecklistConfig::default(), true);
        let mut m = host("a", "10.0.0.2:2000");
        m.address = CandidateAddress::Mdns("x.local".into(), 2000);
        assert_eq!(cl.add_remote(m), Err(RemoteCandidateError::Unresolved));
        cl.add_remote(host("a", "10.0.0.2:2000")).unwrap();
        assert_eq!(
            cl.add_remote(host("b", "10.0.0.2:2000")),
            Err(RemoteCandidateError::Duplicate)
        );
        let mut tcp = host("t", "10.0.0.3:9");
        tcp.transport = CandidateTransport::Tcp;
        assert_eq!(
            cl.add_remote(tcp),
            Err(RemoteCandidateError::UnsupportedTransport)
        );
        assert_eq!(cl.remote_candidates().len(), 1);
    }

    #[test]
    fn tcp_pairs_only_with_tcp() {
        let mut cl = Checklist::new(ChecklistConfig::default(), false);
        let mut passive = host("t1", "10.0.0.1:1000");
        passive.transport = CandidateTransport::Tcp;
        cl.add_local(passive, sa("10.0.0.1:1000"));
        cl.add_local(host("1", "10.0.0.1:1000"), sa("10.0.0.1:1000"));
        let tcp = |tcptype: &str| {
            let mut c = host("r", "10.0.0.2:9");
            c.transport = CandidateTransport::Tcp;
            c.extensions.push(("tcptype".into(), tcptype.into()));
            c
        };
        // Signalled active: accepted, stored nowhere, paired with nothing.
        assert_eq!(cl.add_remote(tcp("active")), Ok(()));
        for refused in ["passive", "so"] {
            assert_eq!(
                cl.add_remote(tcp(refused)),
                Err(RemoteCandidateError::UnsupportedTransport)
            );
        }
        assert!(cl.pairs().is_empty() && cl.remote_candidates().is_empty());
        // The UDP candidate and the TCP connection's address may be equal: neither is a
        // duplicate of the other, and each pairs with the local candidate of its transport.
        cl.add_remote(host("u", "10.0.0.2:5000")).unwrap();
        let mut prflx = cand("p", 1, CandidateKind::PeerReflexive, "10.0.0.2:5000", 1);
        prflx.transport = CandidateTransport::Tcp;
        cl.add_remote(prflx).unwrap();
        assert_eq!(cl.pairs().len(), 2);
        let (l, r) = (sa("10.0.0.1:1000"), sa("10.0.0.2:5000"));
        let udp = cl.find(l, r).unwrap();
        let over_tcp = cl.find_on(CandidateTransport::Tcp, l, r).unwrap();
        assert_ne!(udp.id, over_tcp.id);
        assert_eq!(udp.transport, CandidateTransport::Udp);
        assert_eq!(over_tcp.transport, CandidateTransport::Tcp);
    }
}
