//! ICE agents over IPv6 in simulation (::1 addresses, fake clock, delay and loss): IPv6-only
//! agents connect and learn IPv6 peer-reflexive candidates; dual-stack agents pair candidates
//! only within an address family, prefer the family whose candidates they rank first, and fall
//! back to the other when it is unreachable.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sansrtc_ice::agent::{Agent, AgentConfig, AgentEvent, AgentTransmit, ConnectionState};
use sansrtc_ice::candidate::{Candidate, CandidateKind};
use sansrtc_ice::stun::{MessageClass, StunMessage};
use sansrtc_ice::{Rng, SeededRng};

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Sim {
    agents: [Agent<SeededRng>; 2],
    /// Host addresses of each agent (datagrams are routed by exact address).
    hosts: [Vec<SocketAddr>; 2],
    events: [Vec<AgentEvent>; 2],
    /// Application datagrams received by each agent.
    app: [Vec<Vec<u8>>; 2],
    rng: SeededRng,
    loss_percent: u64,
    black_holes: Vec<SocketAddr>,
    in_flight: BTreeMap<(Instant, u64), AgentTransmit>,
    seq: u64,
    now: Instant,
    /// Every datagram put on the wire (source, destination).
    wire: Vec<(SocketAddr, SocketAddr)>,
    /// XOR-MAPPED-ADDRESS values of the success responses delivered.
    mapped: Vec<SocketAddr>,
}

/// Two agents (A controlling) with the given host addresses. `signal_a`: whether B learns A's
/// candidates through signalling (otherwise only from A's checks).
fn sim(seed: u64, a_hosts: &[&str], b_hosts: &[&str], signal_a: bool) -> Sim {
    let mut a = Agent::new(
        AgentConfig::new(true, "aaaa", "password-of-agent-a-xx"),
        SeededRng::new(seed * 2 + 1),
    );
    let mut b = Agent::new(
        AgentConfig::new(false, "bbbb", "password-of-agent-b-yy"),
        SeededRng::new(seed * 2 + 2),
    );
    let hosts = [
        a_hosts.iter().map(|h| addr(h)).collect::<Vec<_>>(),
        b_hosts.iter().map(|h| addr(h)).collect::<Vec<_>>(),
    ];
    let ca: Vec<Candidate> = hosts[0]
        .iter()
        .map(|h| a.add_host_candidate(*h).unwrap())
        .collect();
    let cb: Vec<Candidate> = hosts[1]
        .iter()
        .map(|h| b.add_host_candidate(*h).unwrap())
        .collect();
    a.set_remote_credentials("bbbb", "password-of-agent-b-yy");
    b.set_remote_credentials("aaaa", "password-of-agent-a-xx");
    for c in cb {
        a.add_remote_candidate(c).unwrap();
    }
    if signal_a {
        for c in ca {
            b.add_remote_candidate(c).unwrap();
        }
    }
    a.end_of_remote_candidates();
    b.end_of_remote_candidates();
    let now = Instant::now();
    a.start(now);
    b.start(now);
    Sim {
        agents: [a, b],
        hosts,
        events: [vec![], vec![]],
        app: [vec![], vec![]],
        rng: SeededRng::new(seed),
        loss_percent: 0,
        black_holes: vec![],
        in_flight: BTreeMap::new(),
        seq: 0,
        now,
        wire: vec![],
        mapped: vec![],
    }
}

impl Sim {
    fn send(&mut self, t: AgentTransmit) {
        // No datagram ever crosses address families.
        assert_eq!(
            t.source.is_ipv6(),
            t.destination.is_ipv6(),
            "{} -> {}",
            t.source,
            t.destination
        );
        self.wire.push((t.source, t.destination));
        if self.black_holes.contains(&t.destination)
            || self.rng.next_u64() % 100 < self.loss_percent
        {
            return;
        }
        let delay = 1 + self.rng.next_u64() % 40;
        self.seq += 1;
        self.in_flight
            .insert((self.now + Duration::from_millis(delay), self.seq), t);
    }

    fn run(&mut self, limit: Duration) {
        let end = self.now + limit;
        // Timer wake-ups in a row at the same instant (a deadline that does not clear).
        let mut spins = 0;
        loop {
            for i in 0..2 {
                while let Some(t) = self.agents[i].poll_transmit() {
                    self.send(t);
                }
                while let Some(e) = self.agents[i].poll_event() {
                    self.events[i].push(e);
                }
            }
            let next_packet = self.in_flight.keys().next().map(|k| k.0);
            let next = [
                next_packet,
                self.agents[0].poll_timeout(),
                self.agents[1].poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { break };
            if next > end {
                break;
            }
            if next_packet != Some(next) && next <= self.now {
                spins += 1;
                assert!(spins < 1000, "a deadline in the past does not clear");
            } else {
                spins = 0;
            }
            self.now = self.now.max(next);
            if next_packet == Some(next) {
                let key = *self.in_flight.keys().next().unwrap();
                let t = self.in_flight.remove(&key).unwrap();
                let Some(i) = (0..2).find(|i| self.hosts[*i].contains(&t.destination)) else {
                    continue;
                };
                if let Ok(m) = StunMessage::parse(&t.contents) {
                    if m.class() == MessageClass::SuccessResponse {
                        self.mapped.extend(m.xor_mapped_address());
                    }
                }
                if !self.agents[i].handle_receive(self.now, t.source, t.destination, &t.contents) {
                    self.app[i].push(t.contents);
                }
            } else {
                for a in &mut self.agents {
                    a.handle_timeout(self.now);
                }
            }
        }
    }

    fn assert_completed(&self, what: &str) {
        for i in 0..2 {
            assert_eq!(
                self.agents[i].state(),
                ConnectionState::Completed,
                "{what}: agent {i} {:?}",
                self.events[i]
            );
        }
    }

    /// Both agents send over their selected pair; each must receive the other's datagram.
    fn exchange_data(&mut self) {
        self.loss_percent = 0;
        for i in 0..2 {
            let (local, remote) = self.agents[i].selected_pair().unwrap();
            self.send(AgentTransmit {
                transport: sansrtc_ice::candidate::CandidateTransport::Udp,
                source: local,
                destination: remote,
                contents: format!("data from {i}").into_bytes(),
            });
        }
        self.run(Duration::from_secs(1));
        assert_eq!(self.app[1], [b"data from 0".to_vec()]);
        assert_eq!(self.app[0], [b"data from 1".to_vec()]);
    }
}

const A6: &str = "[::1]:5000";
const B6: &str = "[::1]:6000";
const A4: &str = "127.0.0.1:5000";
const B4: &str = "127.0.0.1:6000";

#[test]
fn ipv6_only_agents_connect_over_many_seeds_with_loss() {
    for seed in 0..100 {
        let mut s = sim(seed, &[A6], &[B6], true);
        s.loss_percent = seed % 21;
        s.run(Duration::from_secs(120));
        s.assert_completed(&format!("seed {seed}"));
        assert_eq!(s.agents[0].selected_pair(), Some((addr(A6), addr(B6))));
        assert_eq!(s.agents[1].selected_pair(), Some((addr(B6), addr(A6))));
        assert!(s.events[0].contains(&AgentEvent::SelectedPair {
            transport: sansrtc_ice::candidate::CandidateTransport::Udp,
            component: 1,
            local: addr(A6),
            remote: addr(B6)
        }));
        // Every XOR-MAPPED-ADDRESS seen is an IPv6 address the peer really sent from.
        assert!(!s.mapped.is_empty());
        assert!(s.mapped.iter().all(|m| *m == addr(A6) || *m == addr(B6)));
        s.exchange_data();
    }
}

#[test]
fn ipv6_peer_reflexive_candidate_is_learned() {
    // B is not told A's candidate: it learns [::1]:5000 from A's check and pairs it.
    let mut s = sim(7, &[A6], &[B6], false);
    s.run(Duration::from_secs(10));
    s.assert_completed("prflx");
    let prflx: Vec<_> = s.agents[1]
        .checklist()
        .remote_candidates()
        .iter()
        .filter(|c| c.kind == CandidateKind::PeerReflexive)
        .collect();
    assert_eq!(prflx.len(), 1);
    assert_eq!(prflx[0].socket_addr(), Some(addr(A6)));
    assert_eq!(s.agents[1].selected_pair(), Some((addr(B6), addr(A6))));
    s.exchange_data();
}

#[test]
fn dual_stack_agents_pair_within_a_family_and_prefer_the_first_ranked() {
    for seed in 0..20 {
        // IPv6 candidates added first rank higher: the IPv6 pair is selected.
        let mut s = sim(seed, &[A6, A4], &[B6, B4], true);
        s.run(Duration::from_secs(30));
        s.assert_completed(&format!("seed {seed}"));
        for i in 0..2 {
            assert!(
                s.agents[i]
                    .checklist()
                    .pairs()
                    .iter()
                    .all(|p| p.local.is_ipv6() == p.remote.is_ipv6())
            );
        }
        // Both families were paired (the IPv4 pairs may be dropped unchecked once the IPv6
        // pair is nominated, RFC 8445 8.1.2).
        let pairs = s.agents[0].checklist().pairs();
        assert!(
            pairs
                .iter()
                .any(|p| p.local == addr(A4) && p.remote == addr(B4))
        );
        assert!(
            pairs
                .iter()
                .any(|p| p.local == addr(A6) && p.remote == addr(B6))
        );
        assert!(s.wire.iter().any(|(src, _)| src.is_ipv6()));
        assert_eq!(s.agents[0].selected_pair(), Some((addr(A6), addr(B6))));
        assert_eq!(s.agents[1].selected_pair(), Some((addr(B6), addr(A6))));
        s.exchange_data();

        // The same with IPv4 ranked first.
        let mut s = sim(seed, &[A4, A6], &[B4, B6], true);
        s.run(Duration::from_secs(30));
        s.assert_completed(&format!("seed {seed} v4 first"));
        assert_eq!(s.agents[0].selected_pair(), Some((addr(A4), addr(B4))));
        s.exchange_data();
    }
}

#[test]
fn dual_stack_falls_back_to_ipv4_when_ipv6_is_unreachable() {
    for seed in 0..20 {
        let mut s = sim(seed, &[A6, A4], &[B6, B4], true);
        s.black_holes.extend([addr(A6), addr(B6)]);
        s.loss_percent = 10;
        s.run(Duration::from_secs(120));
        s.assert_completed(&format!("seed {seed}"));
        assert_eq!(s.agents[0].selected_pair(), Some((addr(A4), addr(B4))));
        assert_eq!(s.agents[1].selected_pair(), Some((addr(B4), addr(A4))));
        s.exchange_data();
    }
}

#[test]
fn ipv6_consent_loss_fails_the_connection() {
    let mut s = sim(3, &[A6], &[B6], true);
    s.run(Duration::from_secs(5));
    s.assert_completed("before the cut");
    s.black_holes.extend([addr(A6), addr(B6)]);
    s.events[0].clear();
    s.run(Duration::from_secs(40));
    assert_eq!(
        s.events[0],
        [
            AgentEvent::StateChanged(ConnectionState::Disconnected),
            AgentEvent::StateChanged(ConnectionState::Failed)
        ]
    );
}
