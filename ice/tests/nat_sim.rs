//! Two ICE agents behind simulated NATs (RFC 4787 mapping and filtering behaviours), each
//! gathering a server-reflexive candidate from a STUN server (our responder) and trickling
//! candidates to the other, with a fake clock and delay, over several seeds.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use sansrtc_ice::agent::{Agent, AgentConfig, AgentEvent, AgentTransmit, ConnectionState};
use sansrtc_ice::{ResponderConfig, Rng, SeededRng, StunResponder};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    EndpointIndependent,
    AddressDependent,
    AddressAndPortDependent,
}
use Behaviour::*;

struct Nat {
    public_ip: IpAddr,
    mapping: Behaviour,
    filtering: Behaviour,
    next_port: u16,
    /// (internal address, mapping key, external port)
    maps: Vec<(SocketAddr, Option<SocketAddr>, u16)>,
    /// (external port, remote address it sent to)
    sent_to: Vec<(u16, SocketAddr)>,
}

impl Nat {
    fn new(public_ip: &str, mapping: Behaviour, filtering: Behaviour) -> Self {
        Nat {
            public_ip: public_ip.parse().unwrap(),
            mapping,
            filtering,
            next_port: 40000,
            maps: vec![],
            sent_to: vec![],
        }
    }

    fn outbound(&mut self, src: SocketAddr, dst: SocketAddr) -> SocketAddr {
        let key = match self.mapping {
            EndpointIndependent => None,
            AddressDependent => Some(SocketAddr::new(dst.ip(), 0)),
            AddressAndPortDependent => Some(dst),
        };
        let port = match self.maps.iter().find(|m| m.0 == src && m.1 == key) {
            Some(m) => m.2,
            None => {
                self.next_port += 1;
                self.maps.push((src, key, self.next_port));
                self.next_port
            }
        };
        if !self.sent_to.contains(&(port, dst)) {
            self.sent_to.push((port, dst));
        }
        SocketAddr::new(self.public_ip, port)
    }

    fn inbound(&self, src: SocketAddr, dst: SocketAddr) -> Option<SocketAddr> {
        let m = self.maps.iter().find(|m| m.2 == dst.port())?;
        let allowed = match self.filtering {
            EndpointIndependent => true,
            AddressDependent => self
                .sent_to
                .iter()
                .any(|(p, r)| *p == m.2 && r.ip() == src.ip()),
            AddressAndPortDependent => self.sent_to.contains(&(m.2, src)),
        };
        allowed.then_some(m.0)
    }
}

const STUN: &str = "198.51.100.1:3478";

struct Side {
    agent: Agent<SeededRng>,
    nat: Option<Nat>,
    host: SocketAddr,
    events: Vec<AgentEvent>,
}

struct World {
    sides: [Side; 2],
    stun: StunResponder,
    rng: SeededRng,
    in_flight: BTreeMap<(Instant, u64), (SocketAddr, SocketAddr, Vec<u8>)>,
    seq: u64,
    now: Instant,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

impl World {
    fn new(
        seed: u64,
        a_nat: Option<(Behaviour, Behaviour)>,
        b_nat: Option<(Behaviour, Behaviour)>,
    ) -> Self {
        let make = |i: u64,
                    host: &str,
                    public: &str,
                    nat: Option<(Behaviour, Behaviour)>,
                    controlling: bool| {
            let (ufrag, pwd) = if i == 0 {
                ("aaaa", "password-of-agent-a-xx")
            } else {
                ("bbbb", "password-of-agent-b-yy")
            };
            let mut config = AgentConfig::new(controlling, ufrag, pwd);
            config.stun_servers = vec![addr(STUN)];
            let mut agent = Agent::new(config, SeededRng::new(seed * 3 + i));
            let host = addr(host);
            agent.add_host_candidate(host).unwrap();
            Side {
                agent,
                nat: nat.map(|(m, f)| Nat::new(public, m, f)),
                host,
                events: vec![],
            }
        };
        let a = make(0, "10.0.0.1:5000", "203.0.113.1", a_nat, true);
        let b = make(1, "10.1.0.1:6000", "203.0.113.2", b_nat, false);
        let mut w = World {
            sides: [a, b],
            stun: StunResponder::new(ResponderConfig::default()),
            rng: SeededRng::new(seed),
            in_flight: BTreeMap::new(),
            seq: 0,
            now: Instant::now(),
        };
        // Signal credentials and host candidates, then gather and start.
        let creds = [
            ("aaaa", "password-of-agent-a-xx"),
            ("bbbb", "password-of-agent-b-yy"),
        ];
        for i in 0..2 {
            let other = 1 - i;
            w.sides[i]
                .agent
                .set_remote_credentials(creds[other].0, creds[other].1);
        }
        for i in 0..2 {
            let host = w.sides[1 - i].host;
            let c = sansrtc_ice::candidate::Candidate {
                foundation: "h".into(),
                component: 1,
                priority: sansrtc_ice::candidate::priority(126, 65535, 1),
                address: sansrtc_ice::candidate::CandidateAddress::Ip(host),
                kind: sansrtc_ice::candidate::CandidateKind::Host,
                related: None,
            };
            w.sides[i].agent.add_remote_candidate(c).unwrap();
        }
        let now = w.now;
        for s in &mut w.sides {
            s.agent.gather(now);
            s.agent.start(now);
        }
        w
    }

    fn send(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        let delay = 5 + self.rng.next_u64() % 40;
        self.seq += 1;
        self.in_flight.insert(
            (self.now + Duration::from_millis(delay), self.seq),
            (from, to, bytes),
        );
    }

    fn transmit(&mut self, i: usize, t: AgentTransmit) {
        let from = match &mut self.sides[i].nat {
            Some(nat) => nat.outbound(t.source, t.destination),
            None => t.source,
        };
        self.send(from, t.destination, t.contents);
    }

    fn deliver(&mut self, from: SocketAddr, to: SocketAddr, bytes: Vec<u8>) {
        if to == addr(STUN) {
            self.stun.handle_receive(self.now, from, &bytes);
            while let Some(t) = self.stun.poll_transmit() {
                self.send(addr(STUN), t.destination, t.contents);
            }
            return;
        }
        for i in 0..2 {
            let side = &mut self.sides[i];
            let local = match &side.nat {
                Some(nat) if nat.public_ip == to.ip() => nat.inbound(from, to),
                Some(_) => None,
                None => (side.host == to).then_some(to),
            };
            if let Some(local) = local {
                assert!(side.agent.handle_receive(self.now, from, local, &bytes));
            }
        }
    }

    fn run(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            for i in 0..2 {
                while let Some(t) = self.sides[i].agent.poll_transmit() {
                    self.transmit(i, t);
                }
                while let Some(e) = self.sides[i].agent.poll_event() {
                    // Trickle: new local candidates and end-of-candidates go to the peer.
                    match &e {
                        AgentEvent::LocalCandidate(c) => {
                            let _ = self.sides[1 - i].agent.add_remote_candidate(c.clone());
                        }
                        AgentEvent::GatheringComplete => {
                            self.sides[1 - i].agent.end_of_remote_candidates()
                        }
                        _ => {}
                    }
                    self.sides[i].events.push(e);
                }
            }
            let next_packet = self.in_flight.keys().next().map(|k| k.0);
            let next = [
                next_packet,
                self.sides[0].agent.poll_timeout(),
                self.sides[1].agent.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { break };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            if next_packet == Some(next) {
                let key = *self.in_flight.keys().next().unwrap();
                let (from, to, bytes) = self.in_flight.remove(&key).unwrap();
                self.deliver(from, to, bytes);
            } else {
                for s in &mut self.sides {
                    s.agent.handle_timeout(self.now);
                }
            }
        }
    }

    fn state(&self, i: usize) -> ConnectionState {
        self.sides[i].agent.state()
    }
}

fn connects(a: Option<(Behaviour, Behaviour)>, b: Option<(Behaviour, Behaviour)>) {
    for seed in 0..20 {
        let mut w = World::new(seed, a, b);
        w.run(Duration::from_secs(60));
        assert_eq!(
            w.state(0),
            ConnectionState::Completed,
            "seed {seed} A {:?}",
            w.sides[0].events
        );
        assert_eq!(
            w.state(1),
            ConnectionState::Completed,
            "seed {seed} B {:?}",
            w.sides[1].events
        );
        let (a_local, a_remote) = w.sides[0].agent.selected_pair().unwrap();
        let (b_local, b_remote) = w.sides[1].agent.selected_pair().unwrap();
        assert_eq!(a_local, w.sides[0].host);
        assert_eq!(b_local, w.sides[1].host);
        // Each side sends to the other's public (NAT-mapped) address.
        if let Some(nat) = &w.sides[1].nat {
            assert_eq!(a_remote.ip(), nat.public_ip);
        }
        if let Some(nat) = &w.sides[0].nat {
            assert_eq!(b_remote.ip(), nat.public_ip);
        }
        // Both learned a server-reflexive candidate when behind a NAT.
        for s in &w.sides {
            let srflx = s
                .events
                .iter()
                .any(|e| matches!(e, AgentEvent::LocalCandidate(_)));
            assert_eq!(srflx, s.nat.is_some());
            assert!(s.events.contains(&AgentEvent::GatheringComplete));
        }
    }
}

#[test]
fn full_cone_both_sides() {
    connects(
        Some((EndpointIndependent, EndpointIndependent)),
        Some((EndpointIndependent, EndpointIndependent)),
    );
}

#[test]
fn address_dependent_filtering_both_sides() {
    connects(
        Some((EndpointIndependent, AddressDependent)),
        Some((EndpointIndependent, AddressDependent)),
    );
}

#[test]
fn port_restricted_both_sides() {
    connects(
        Some((EndpointIndependent, AddressAndPortDependent)),
        Some((EndpointIndependent, AddressAndPortDependent)),
    );
}

#[test]
fn symmetric_nat_against_full_cone() {
    connects(
        Some((EndpointIndependent, EndpointIndependent)),
        Some((AddressAndPortDependent, AddressAndPortDependent)),
    );
}

#[test]
fn symmetric_nat_against_public_host() {
    connects(
        None,
        Some((AddressAndPortDependent, AddressAndPortDependent)),
    );
}

#[test]
fn symmetric_nat_against_port_restricted_needs_turn() {
    // Without a relay these cannot connect: both sides must end Failed, not hang.
    for seed in 0..5 {
        let mut w = World::new(
            seed,
            Some((EndpointIndependent, AddressAndPortDependent)),
            Some((AddressAndPortDependent, AddressAndPortDependent)),
        );
        w.run(Duration::from_secs(120));
        assert_eq!(
            w.state(0),
            ConnectionState::Failed,
            "seed {seed} A {:?}",
            w.sides[0].events
        );
        assert_eq!(
            w.state(1),
            ConnectionState::Failed,
            "seed {seed} B {:?}",
            w.sides[1].events
        );
    }
}

#[test]
fn symmetric_nat_side_learns_a_local_peer_reflexive_candidate() {
    // Behind a symmetric NAT the mapping towards the peer differs from the server-reflexive
    // one: the mapped address of the successful check is a new local peer-reflexive candidate
    // (RFC 8445 7.2.5.3.1), with the priority sent in the check and the host as base, and the
    // valid pair is built from it.
    use sansrtc_ice::candidate::CandidateKind;
    for seed in 0..10 {
        let mut w = World::new(
            seed,
            None,
            Some((AddressAndPortDependent, AddressAndPortDependent)),
        );
        w.run(Duration::from_secs(60));
        assert_eq!(w.state(1), ConnectionState::Completed, "seed {seed}");
        let side = &w.sides[1];
        let prflx: Vec<_> = side
            .agent
            .local_candidates()
            .iter()
            .filter(|c| c.kind == CandidateKind::PeerReflexive)
            .collect();
        assert!(!prflx.is_empty(), "seed {seed}");
        for c in &prflx {
            assert_eq!(c.related, Some(side.host));
            // Not signalled: no LocalCandidate event carries it.
            assert!(
                !side
                    .events
                    .contains(&AgentEvent::LocalCandidate((*c).clone()))
            );
        }
        let (local, remote) = side.agent.selected_pair().unwrap();
        let valid = side
            .agent
            .checklist()
            .valid_list()
            .iter()
            .find(|v| v.base == local && v.remote == remote)
            .expect("the selected pair is valid");
        let learned = prflx
            .iter()
            .find(|c| c.socket_addr() == Some(valid.local))
            .expect("the valid pair's local candidate is the learned peer-reflexive one");
        assert_eq!(valid.local_priority, learned.priority);
        // The public host side sees no NAT: its valid pair's local candidate is its host one.
        let host_valid = &w.sides[0].agent.checklist().valid_list()[0];
        assert_eq!(host_valid.local, w.sides[0].host);
        assert!(
            w.sides[0]
                .agent
                .local_candidates()
                .iter()
                .all(|c| c.kind != CandidateKind::PeerReflexive)
        );
    }
}
