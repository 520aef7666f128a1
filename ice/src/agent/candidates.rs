//! Candidates: our host and relayed candidates, server-reflexive gathering from STUN servers,
//! local peer-reflexive candidates learned from checks, and the peer's candidates.

use std::net::SocketAddr;
use std::time::Instant;

use super::*;
use crate::candidate::{Candidate, CandidateKind, CandidateTransport, TcpType, priority};
use crate::checklist::{PairId, RemoteCandidateError};
use crate::rng::Rng;
use crate::small::PushSmall;
use crate::stun::retransmit::{Retransmission, Step};
use crate::stun::{MessageBuilder, MessageClass, MessageType, StunMessage, TransactionId};

/// RFC 6544 4.2 direction preference of a passive host candidate (active 6, passive 4, so 2
/// for hosts without NAT).
const TCP_PASSIVE_DIRECTION_PREF: u16 = 4;

#[derive(Debug, Clone)]
pub(super) struct Gather {
    pub(super) id: TransactionId,
    pub(super) base: SocketAddr,
    pub(super) server: SocketAddr,
    pub(super) request: Vec<u8>,
    pub(super) timer: Retransmission,
}

impl<R: Rng> Agent<R> {
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
            || self
                .locals
                .iter()
                .any(|c| c.transport == CandidateTransport::Udp && c.socket_addr() == Some(addr))
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

    /// Adds a passive TCP host candidate (RFC 6544, `tcptype passive`) on a listening TCP socket
    /// address of component 1 and returns it for signalling; `None` when `max_local_candidates`
    /// is reached or a TCP candidate on the address is already known.
    ///
    /// The caller accepts the peer's connections and feeds each RFC 4571 frame read from them
    /// to [`Agent::handle_receive_on`] with [`CandidateTransport::Tcp`]. The agent never opens a
    /// connection: the peer's active candidates pair with this one when their first check
    /// arrives. Its priority follows RFC 6544 4.2 (local preference from direction preference 4
    /// for passive host candidates and an other-preference), below every UDP host candidate so
    /// that UDP wins when both work.
    pub fn add_passive_tcp_candidate(&mut self, addr: SocketAddr) -> Option<Candidate> {
        if self.locals.len() >= self.config.max_local_candidates
            || self
                .locals
                .iter()
                .any(|c| c.transport == CandidateTransport::Tcp && c.socket_addr() == Some(addr))
        {
            return None;
        }
        let other_pref = 8191 - (self.locals.len() as u16).min(8191);
        let local_pref = (TCP_PASSIVE_DIRECTION_PREF << 13) | other_pref;
        let mut c = Candidate::new(
            format!(
                "t{}",
                self.foundations
                    .foundation(CandidateKind::Host, addr.ip(), None)
            ),
            COMPONENT,
            priority(CandidateKind::Host.type_preference(), local_pref, COMPONENT),
            addr,
            CandidateKind::Host,
        );
        c.transport = CandidateTransport::Tcp;
        c.extensions
            .push(("tcptype".to_owned(), TcpType::Passive.as_str().to_owned()));
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
            .filter(|c| c.kind == CandidateKind::Host && c.transport == CandidateTransport::Udp)
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
                    transport: CandidateTransport::Udp,
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

    pub(super) fn gathering_done(&mut self) {
        if self.gathering && self.gathers.is_empty() {
            self.gathering = false;
            self.events.push_small(AgentEvent::GatheringComplete);
        }
    }

    pub(super) fn handle_gather_response(
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

    /// The peer signalled end-of-candidates (RFC 8838): once every pair has failed, the agent
    /// reports `Failed` instead of waiting for more candidates.
    pub fn end_of_remote_candidates(&mut self) {
        self.remote_end = true;
        self.check_failed_all();
        self.check_completed();
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

    pub(super) fn local_priority_prflx(
        &self,
        base: SocketAddr,
        transport: CandidateTransport,
    ) -> u32 {
        let local = self
            .locals
            .iter()
            .find(|c| c.transport == transport && c.socket_addr() == Some(base));
        let component = local.map_or(COMPONENT, |c| c.component);
        // The local preference of the candidate the check leaves from (RFC 8445 7.1.1).
        let local_pref = local.map_or(65535, |c| (c.priority >> 8) as u16);
        priority(
            CandidateKind::PeerReflexive.type_preference(),
            local_pref,
            component,
        )
    }

    /// Records the valid pair of a successful check (RFC 8445 7.2.5.3.1): the mapped address is
    /// one of our candidates, or a new local peer-reflexive candidate with the priority we sent
    /// in the check and `base` as base. Such candidates are not signalled nor paired.
    pub(super) fn learn_mapped(&mut self, pid: PairId, base: SocketAddr, mapped: SocketAddr) {
        let known = self
            .locals
            .iter()
            .find(|c| c.transport == self.rx_transport && c.socket_addr() == Some(mapped))
            .map(|c| c.priority);
        let local_priority = match known {
            Some(p) => p,
            None => {
                let prio = self.local_priority_prflx(base, self.rx_transport);
                if self.locals.len() < self.config.max_local_candidates {
                    let mut c = Candidate::new(
                        self.foundations
                            .foundation(CandidateKind::PeerReflexive, base.ip(), None),
                        self.component_of(pid),
                        prio,
                        mapped,
                        CandidateKind::PeerReflexive,
                    )
                    .with_related(base);
                    c.transport = self.rx_transport;
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

    /// Gathering retransmissions and timeouts.
    pub(super) fn retransmit_gathers(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.gathers.len() {
            let g = &mut self.gathers[i];
            match g.timer.on_timeout(now) {
                Step::Wait => {}
                Step::Send => self.transmits.push_small(AgentTransmit {
                    transport: CandidateTransport::Udp,
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
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::agent::test_support::*;

    #[test]
    fn host_candidates_are_bounded_and_unique() {
        let mut c = config(true);
        c.max_local_candidates = 2;
        let mut a = agent(c);
        let first = &a.local_candidates()[0];
        assert_eq!(first.priority, priority(126, 65535, 1));
        assert_eq!(first.kind, CandidateKind::Host);
        assert!(a.add_host_candidate(sa(LOCAL)).is_none(), "duplicate");
        assert!(a.add_host_candidate_for(2, sa("10.0.0.1:5002")).is_none());
        let second = a.add_host_candidate(sa("10.0.0.3:5000")).unwrap();
        assert_eq!(second.priority, priority(126, 65534, 1));
        assert!(a.add_host_candidate(sa("10.0.0.4:5000")).is_none(), "limit");
    }

    #[test]
    fn gathering_learns_a_server_reflexive_candidate() {
        let stun = sa("192.0.2.1:3478");
        let mut c = config(true);
        c.stun_servers = vec![stun, sa("[2001:db8::1]:3478")];
        let mut a = agent(c);
        let now = Instant::now();
        a.gather(now);
        // Only the server of the host candidate's family is asked.
        let sent = drain(&mut a);
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].0, sent[0].1), (sa(LOCAL), stun));
        let mapped = sa("203.0.113.5:40000");
        let id = StunMessage::parse(&sent[0].2).unwrap().transaction_id();
        let mut buf = [0u8; 64];
        let mut b = MessageBuilder::new(&mut buf, MessageType::BINDING_SUCCESS, id).unwrap();
        b.add(&crate::stun::Attribute::XorMappedAddress(mapped))
            .unwrap();
        let n = b.finish();
        // From elsewhere: ignored, the transaction goes on.
        assert!(a.handle_receive(now, sa("192.0.2.9:3478"), sa(LOCAL), &buf[..n]));
        assert_eq!(a.poll_event(), None);
        assert!(a.handle_receive(now, stun, sa(LOCAL), &buf[..n]));
        match a.poll_event() {
            Some(AgentEvent::LocalCandidate(c)) => {
                assert_eq!(c.kind, CandidateKind::ServerReflexive);
                assert_eq!(
                    (c.socket_addr(), c.related),
                    (Some(mapped), Some(sa(LOCAL)))
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(a.poll_event(), Some(AgentEvent::GatheringComplete));
    }

    #[test]
    fn unanswered_gathering_retransmits_then_completes() {
        let mut c = config(true);
        c.stun_servers = vec![sa("192.0.2.1:3478")];
        let mut a = agent(c);
        let t0 = Instant::now();
        a.gather(t0);
        assert_eq!(drain(&mut a).len(), 1);
        let mut sends = vec![];
        while let Some(t) = a.poll_timeout() {
            a.handle_timeout(t);
            for _ in drain(&mut a) {
                sends.push((t - t0).as_millis());
            }
            if a.poll_event() == Some(AgentEvent::GatheringComplete) {
                assert_eq!(t - t0, Duration::from_millis(15_750 + 16_000));
                break;
            }
        }
        assert_eq!(sends, [250, 750, 1750, 3750, 7750, 15750]);
    }

    #[test]
    fn remote_candidates_of_unknown_components_are_ignored() {
        let mut a = agent(config(true));
        let mut c = remote(REMOTE);
        c.component = 2;
        assert_eq!(a.add_remote_candidate(c), Ok(()));
        assert!(a.checklist().remote_candidates().is_empty());
        let mut tcp = remote(REMOTE);
        tcp.transport = crate::candidate::CandidateTransport::Tcp;
        assert_eq!(
            a.add_remote_candidate(tcp),
            Err(RemoteCandidateError::UnsupportedTransport)
        );
    }
}
