//! Two ICE agents connecting over a simulated network (delay, loss) with a fake clock.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sansrtc_ice::agent::{Agent, AgentConfig, AgentEvent, AgentTransmit, ConnectionState};
use sansrtc_ice::{Rng, SeededRng};

struct Net {
    rng: SeededRng,
    loss_percent: u64,
    max_delay_ms: u64,
    in_flight: BTreeMap<(Instant, u64), AgentTransmit>,
    seq: u64,
    /// Destinations that silently drop everything (unreachable candidates).
    black_holes: Vec<SocketAddr>,
    /// Addresses whose packets (either way) take 150 ms longer.
    slow: Vec<SocketAddr>,
}

impl Net {
    fn send(&mut self, now: Instant, t: AgentTransmit) {
        let lost = self.black_holes.contains(&t.destination)
            || self.rng.next_u64() % 100 < self.loss_percent;
        if lost {
            return;
        }
        let mut delay = 1 + self.rng.next_u64() % self.max_delay_ms.max(1);
        if self.slow.contains(&t.source) || self.slow.contains(&t.destination) {
            delay += 150;
        }
        self.seq += 1;
        self.in_flight
            .insert((now + Duration::from_millis(delay), self.seq), t);
    }
}

const A: &str = "10.0.0.1:5000";
const B: &str = "10.0.0.2:6000";
/// A's second interface, used by the nomination tests.
const A2: &str = "10.0.0.3:5001";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct Sim {
    a: Agent<SeededRng>,
    b: Agent<SeededRng>,
    net: Net,
    now: Instant,
    a_events: Vec<AgentEvent>,
    b_events: Vec<AgentEvent>,
    a_candidate: sansrtc_ice::candidate::Candidate,
    b_candidate: sansrtc_ice::candidate::Candidate,
}

fn setup(seed: u64, a_controlling: bool, b_controlling: bool, signal_a_to_b: bool) -> Sim {
    setup_with(
        seed,
        AgentConfig::new(a_controlling, "aaaa", "password-of-agent-a-xx"),
        AgentConfig::new(b_controlling, "bbbb", "password-of-agent-b-yy"),
        signal_a_to_b,
    )
}

fn setup_with(seed: u64, a_config: AgentConfig, b_config: AgentConfig, signal_a_to_b: bool) -> Sim {
    let mut a = Agent::new(a_config, SeededRng::new(seed * 2 + 1));
    let mut b = Agent::new(b_config, SeededRng::new(seed * 2 + 2));
    let ca = a.add_host_candidate(addr(A)).unwrap();
    let cb = b.add_host_candidate(addr(B)).unwrap();
    a.set_remote_credentials("bbbb", "password-of-agent-b-yy");
    b.set_remote_credentials("aaaa", "password-of-agent-a-xx");
    a.add_remote_candidate(cb.clone()).unwrap();
    if signal_a_to_b {
        b.add_remote_candidate(ca.clone()).unwrap();
    }
    a.end_of_remote_candidates();
    b.end_of_remote_candidates();
    let now = Instant::now();
    a.start(now);
    b.start(now);
    Sim {
        a,
        b,
        net: Net {
            rng: SeededRng::new(seed),
            loss_percent: 0,
            max_delay_ms: 20,
            in_flight: BTreeMap::new(),
            seq: 0,
            black_holes: vec![],
            slow: vec![],
        },
        now,
        a_events: vec![],
        b_events: vec![],
        a_candidate: ca,
        b_candidate: cb,
    }
}

impl Sim {
    fn run(&mut self, limit: Duration) {
        let end = self.now + limit;
        loop {
            while let Some(t) = self.a.poll_transmit() {
                self.net.send(self.now, t);
            }
            while let Some(t) = self.b.poll_transmit() {
                self.net.send(self.now, t);
            }
            self.a_events
                .extend(std::iter::from_fn(|| self.a.poll_event()));
            self.b_events
                .extend(std::iter::from_fn(|| self.b.poll_event()));
            let next_packet = self.net.in_flight.keys().next().map(|k| k.0);
            let next = [next_packet, self.a.poll_timeout(), self.b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(next) = next else { break };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            if next_packet == Some(next) {
                let key = *self.net.in_flight.keys().next().unwrap();
                let t = self.net.in_flight.remove(&key).unwrap();
                // Only the two agents exist: anything else goes nowhere.
                let agent =
                    if t.destination.ip() == addr(A).ip() || t.destination.ip() == addr(A2).ip() {
                        &mut self.a
                    } else if t.destination.ip() == addr(B).ip() {
                        &mut self.b
                    } else {
                        continue;
                    };
                assert!(agent.handle_receive(self.now, t.source, t.destination, &t.contents));
            } else {
                self.a.handle_timeout(self.now);
                self.b.handle_timeout(self.now);
            }
        }
    }

    fn assert_connected(&self) {
        assert_eq!(
            self.a.state(),
            ConnectionState::Completed,
            "a events {:?}",
            self.a_events
        );
        assert_eq!(
            self.b.state(),
            ConnectionState::Completed,
            "b events {:?}",
            self.b_events
        );
        assert_eq!(self.a.selected_pair(), Some((addr(A), addr(B))));
        assert_eq!(self.b.selected_pair(), Some((addr(B), addr(A))));
        assert_ne!(self.a.is_controlling(), self.b.is_controlling());
    }
}

#[test]
fn connects_on_a_clean_network() {
    let mut sim = setup(1, true, false, true);
    sim.run(Duration::from_secs(5));
    sim.assert_connected();
    assert_eq!(
        sim.a_events[0],
        AgentEvent::StateChanged(ConnectionState::Checking)
    );
    assert!(sim.a_events.contains(&AgentEvent::SelectedPair {
        transport: sansrtc_ice::candidate::CandidateTransport::Udp,
        component: 1,
        local: addr(A),
        remote: addr(B)
    }));
    assert!(sim.b_events.contains(&AgentEvent::SelectedPair {
        transport: sansrtc_ice::candidate::CandidateTransport::Udp,
        component: 1,
        local: addr(B),
        remote: addr(A)
    }));
}

#[test]
fn connects_with_loss_and_delay_over_many_seeds() {
    for seed in 0..200 {
        let mut sim = setup(seed, true, false, true);
        sim.net.loss_percent = 20;
        sim.net.max_delay_ms = 150;
        // A check gives up after seven requests (about 32 s with the 250 ms RTO); a lost
        // nomination is retried, so give the worst seeds a few rounds.
        sim.run(Duration::from_secs(120));
        assert_eq!(
            sim.a.state(),
            ConnectionState::Completed,
            "seed {seed}: {:?}",
            sim.a_events
        );
        assert_eq!(
            sim.b.state(),
            ConnectionState::Completed,
            "seed {seed}: {:?}",
            sim.b_events
        );
    }
}

#[test]
fn learns_peer_reflexive_candidate() {
    // B never hears of A's candidate: it learns it from A's check.
    let mut sim = setup(3, true, false, false);
    sim.run(Duration::from_secs(5));
    sim.assert_connected();
    assert!(
        sim.b
            .checklist()
            .remote_candidates()
            .iter()
            .any(|c| c.kind == sansrtc_ice::candidate::CandidateKind::PeerReflexive)
    );
}

#[test]
fn resolves_role_conflicts() {
    for (seed, a_ctl, b_ctl) in [
        (4, true, true),
        (5, false, false),
        (6, true, true),
        (7, false, false),
    ] {
        let mut sim = setup(seed, a_ctl, b_ctl, true);
        sim.run(Duration::from_secs(5));
        sim.assert_connected();
        assert!(sim.a.stats().role_conflicts + sim.b.stats().role_conflicts > 0);
    }
}

#[test]
fn fails_when_the_peer_is_unreachable() {
    let mut sim = setup(8, true, false, true);
    sim.net.black_holes.push(addr(B));
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.a.state(), ConnectionState::Failed);
    assert!(sim.a.poll_timeout().is_none());
}

#[test]
fn a_failed_agent_never_reports_a_deadline_that_does_not_clear() {
    // B's answers never reach A: both fail. Then a late check from a new address of A's makes
    // B learn a peer-reflexive candidate and a waiting pair; a failed agent starts no checks,
    // so it must not report their pacing slot as a deadline (a caller would spin on it).
    let mut sim = setup(17, true, false, true);
    sim.net.black_holes.push(addr(A));
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.a.state(), ConnectionState::Failed);
    assert_eq!(sim.b.state(), ConnectionState::Failed);
    let check = check_to_b(4, "password-of-agent-b-yy", &[]);
    assert!(
        sim.b
            .handle_receive(sim.now, addr("10.0.0.9:5009"), addr(B), &check)
    );
    for _ in 0..3 {
        sim.b.handle_timeout(sim.now);
        while sim.b.poll_transmit().is_some() {}
        if let Some(t) = sim.b.poll_timeout() {
            assert!(t > sim.now, "deadline {:?} not after now", t - sim.now);
        }
    }
    assert_eq!(sim.b.state(), ConnectionState::Failed);
}

#[test]
fn unauthenticated_check_changes_nothing() {
    let mut sim = setup(9, true, false, true);
    // A forged check from an unknown address with a wrong password.
    let mut forger = Agent::new(
        AgentConfig::new(true, "aaaa", "not-the-password-at-all"),
        SeededRng::new(99),
    );
    forger.add_host_candidate(addr("10.9.9.9:9999")).unwrap();
    forger.set_remote_credentials("bbbb", "wrong-password");
    forger
        .add_remote_candidate(sim.b.add_host_candidate(addr("10.0.0.2:6001")).unwrap())
        .unwrap();
    let before = sim.b.checklist().pairs().to_vec();
    let remotes_before = sim.b.checklist().remote_candidates().len();
    forger.start(sim.now);
    forger.handle_timeout(sim.now);
    let t = forger.poll_transmit().unwrap();
    assert!(
        sim.b
            .handle_receive(sim.now, t.source, t.destination, &t.contents)
    );
    assert_eq!(sim.b.checklist().remote_candidates().len(), remotes_before);
    assert_eq!(sim.b.stats().auth_failures, 1);
    // Only the 401 answer is queued; no pair changed state and no check was triggered.
    let answer = sim.b.poll_transmit().unwrap();
    let m = sansrtc_ice::stun::StunMessage::parse(&answer.contents).unwrap();
    assert_eq!(m.error_code().map(|e| e.0), Some(401));
    assert!(sim.b.poll_transmit().is_none());
    let after: Vec<_> = sim
        .b
        .checklist()
        .pairs()
        .iter()
        .filter(|p| p.local == addr(B))
        .cloned()
        .collect();
    let before: Vec<_> = before.into_iter().filter(|p| p.local == addr(B)).collect();
    assert_eq!(after, before);
}

/// A connectivity check as a peer would send it to B (USERNAME "bbbb:aaaa", PRIORITY,
/// ICE-CONTROLLING, then `extra` raw attributes), signed with `password`.
fn check_to_b(id: u8, password: &str, extra: &[(u16, &[u8])]) -> Vec<u8> {
    use sansrtc_ice::stun::{Attribute, IntegrityKey, MessageBuilder, MessageType, TransactionId};
    let mut buf = [0u8; 512];
    let mut b = MessageBuilder::new(
        &mut buf,
        MessageType::BINDING_REQUEST,
        TransactionId([id; 12]),
    )
    .unwrap();
    b.add(&Attribute::Username("bbbb:aaaa")).unwrap();
    b.add(&Attribute::Priority(1_853_824_767)).unwrap();
    b.add(&Attribute::IceControlling(7)).unwrap();
    for (t, v) in extra {
        b.add_raw(*t, v).unwrap();
    }
    b.add_message_integrity(&IntegrityKey::short_term(password))
        .unwrap();
    b.add_fingerprint().unwrap();
    let n = b.finish();
    buf[..n].to_vec()
}

#[test]
fn unknown_comprehension_required_attribute_is_answered_420() {
    use sansrtc_ice::stun::attribute::UNKNOWN_ATTRIBUTES;
    use sansrtc_ice::stun::{Attribute, IntegrityKey, MessageClass, StunMessage, TransactionId};
    let mut sim = setup(12, true, false, true);
    let from = addr("10.0.0.7:7000");
    let remotes_before = sim.b.checklist().remote_candidates().len();
    let pairs_before = sim.b.checklist().pairs().len();
    let b_key = IntegrityKey::short_term("password-of-agent-b-yy");

    // An authenticated check carrying two unknown comprehension-required attributes (0x7F31,
    // 0x0041) and an unknown comprehension-optional one (0xC031).
    let check = check_to_b(
        1,
        "password-of-agent-b-yy",
        &[(0x7F31, b"abcd"), (0xC031, b"optional"), (0x0041, b"")],
    );
    assert!(sim.b.handle_receive(sim.now, from, addr(B), &check));
    let answer = sim.b.poll_transmit().expect("an answer");
    assert!(sim.b.poll_transmit().is_none(), "no triggered check");
    assert_eq!((answer.source, answer.destination), (addr(B), from));
    let m = StunMessage::parse(&answer.contents).unwrap();
    assert_eq!(m.class(), MessageClass::ErrorResponse);
    assert_eq!(m.transaction_id(), TransactionId([1; 12]));
    assert_eq!(m.error_code().map(|e| e.0), Some(420));
    let Some(Ok(Attribute::UnknownAttributes(list))) = m.get(UNKNOWN_ATTRIBUTES) else {
        panic!("no UNKNOWN-ATTRIBUTES in {m:?}");
    };
    let mut listed: Vec<u16> = list.iter().collect();
    listed.sort();
    assert_eq!(listed, [0x0041, 0x7F31]);
    // The 420 is signed with B's password and fingerprinted.
    m.verify_message_integrity(&b_key).unwrap();
    m.verify_fingerprint().unwrap();
    // Nothing was learned: no peer-reflexive candidate, no pair, no check counted as answered.
    assert_eq!(sim.b.checklist().remote_candidates().len(), remotes_before);
    assert_eq!(sim.b.checklist().pairs().len(), pairs_before);
    assert_eq!(sim.b.stats().checks_answered, 0);
    assert_eq!(sim.b.stats().role_conflicts, 0);

    // Integrity comes first: the same check with a wrong password is a 401, not a 420.
    let forged = check_to_b(2, "wrong-password", &[(0x7F31, b"abcd")]);
    assert!(sim.b.handle_receive(sim.now, from, addr(B), &forged));
    let m_bytes = sim.b.poll_transmit().unwrap().contents;
    let m = StunMessage::parse(&m_bytes).unwrap();
    assert_eq!(m.error_code().map(|e| e.0), Some(401));

    // Only comprehension-optional unknowns: skipped, the check succeeds and the sender becomes
    // a peer-reflexive candidate.
    let check = check_to_b(3, "password-of-agent-b-yy", &[(0xC031, b"optional")]);
    assert!(sim.b.handle_receive(sim.now, from, addr(B), &check));
    let answer = sim.b.poll_transmit().unwrap();
    let m = StunMessage::parse(&answer.contents).unwrap();
    assert_eq!(m.class(), MessageClass::SuccessResponse);
    assert_eq!(m.xor_mapped_address(), Some(from));
    m.verify_message_integrity(&b_key).unwrap();
    assert_eq!(sim.b.stats().checks_answered, 1);
    assert!(
        sim.b
            .checklist()
            .remote_candidates()
            .iter()
            .any(|c| c.socket_addr() == Some(from))
    );
}

#[test]
fn consent_freshness_keeps_the_pair() {
    let mut sim = setup(10, true, false, true);
    sim.run(Duration::from_secs(120));
    sim.assert_connected();
    // One consent check every 4-6 s on each side.
    assert!(sim.a.stats().consent_refreshed >= 18, "{:?}", sim.a.stats());
    assert!(sim.b.stats().consent_refreshed >= 18, "{:?}", sim.b.stats());
    assert!(
        !sim.a_events
            .contains(&AgentEvent::StateChanged(ConnectionState::Disconnected))
    );
}

#[test]
fn consent_loss_disconnects_then_fails_and_stops_sending() {
    let mut sim = setup(11, true, false, true);
    sim.run(Duration::from_secs(3));
    sim.assert_connected();
    let cut = sim.now;
    sim.net.black_holes.extend([addr(A), addr(B)]);
    sim.a_events.clear();
    sim.run(Duration::from_secs(40));
    assert_eq!(
        sim.a_events,
        [
            AgentEvent::StateChanged(ConnectionState::Disconnected),
            AgentEvent::StateChanged(ConnectionState::Failed)
        ]
    );
    assert_eq!(sim.a.state(), ConnectionState::Failed);
    assert_eq!(sim.a.selected_pair(), None);
    assert!(sim.now - cut <= Duration::from_secs(40));
    // Consent lost: nothing more is sent.
    let sent = sim.a.stats().checks_sent;
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.a.stats().checks_sent, sent);
    assert!(sim.a.poll_transmit().is_none());
}

fn lite_config() -> AgentConfig {
    let mut c = AgentConfig::new(false, "bbbb", "password-of-agent-b-yy");
    c.lite = true;
    c
}

#[test]
fn full_agent_against_lite_agent() {
    // A knows B is lite and takes the controlling role; B never sends a check.
    let mut sim = setup_with(
        12,
        AgentConfig::new(false, "aaaa", "password-of-agent-a-xx"),
        lite_config(),
        true,
    );
    sim.a.set_remote_lite(true);
    assert!(sim.a.is_controlling());
    sim.run(Duration::from_secs(60));
    sim.assert_connected();
    assert_eq!(sim.b.stats().checks_sent, 0);
    assert!(sim.a.stats().consent_refreshed >= 8, "{:?}", sim.a.stats());
}

#[test]
fn lite_agent_makes_a_confused_full_agent_control() {
    // A wrongly starts controlled: B (lite) answers 487 and A switches to controlling.
    let mut sim = setup_with(
        13,
        AgentConfig::new(false, "aaaa", "password-of-agent-a-xx"),
        lite_config(),
        true,
    );
    sim.run(Duration::from_secs(10));
    sim.assert_connected();
    assert!(sim.a.is_controlling());
    assert_eq!(sim.b.stats().checks_sent, 0);
    assert!(sim.b.stats().role_conflicts > 0);
}

#[test]
fn waits_for_more_candidates_until_end_of_candidates() {
    let mut a = Agent::new(
        AgentConfig::new(true, "aaaa", "password-of-agent-a-xx"),
        SeededRng::new(1),
    );
    let mut b = Agent::new(
        AgentConfig::new(false, "bbbb", "password-of-agent-b-yy"),
        SeededRng::new(2),
    );
    a.add_host_candidate(addr(A)).unwrap();
    let cb = b.add_host_candidate(addr(B)).unwrap();
    a.set_remote_credentials("bbbb", "password-of-agent-b-yy");
    a.add_remote_candidate(cb).unwrap();
    let t0 = Instant::now();
    a.start(t0);
    // Nothing answers: every check times out.
    let mut now = t0;
    while let Some(t) = a.poll_timeout() {
        now = t;
        a.handle_timeout(now);
        while a.poll_transmit().is_some() {}
    }
    assert!(now - t0 > Duration::from_secs(30));
    assert!(a.checklist().all_failed());
    assert_eq!(
        a.state(),
        ConnectionState::Checking,
        "more candidates may still trickle in"
    );
    a.end_of_remote_candidates();
    assert_eq!(a.state(), ConnectionState::Failed);
}

#[test]
fn ice_restart_reselects_with_new_credentials() {
    let mut sim = setup(14, true, false, true);
    sim.run(Duration::from_secs(5));
    sim.assert_connected();
    sim.a_events.clear();
    sim.b_events.clear();
    let now = sim.now;
    sim.a.restart(now, "aaa2", "new-password-of-agent-a");
    sim.b.restart(now, "bbb2", "new-password-of-agent-b");
    // Until the restart completes the old pair stays usable.
    assert_eq!(sim.a.selected_pair(), Some((addr(A), addr(B))));
    assert_eq!(sim.a.state(), ConnectionState::Connected);
    assert!(sim.a.checklist().pairs().is_empty());
    sim.a
        .set_remote_credentials("bbb2", "new-password-of-agent-b");
    sim.b
        .set_remote_credentials("aaa2", "new-password-of-agent-a");
    sim.a.add_remote_candidate(sim.b_candidate.clone()).unwrap();
    sim.b.add_remote_candidate(sim.a_candidate.clone()).unwrap();
    sim.a.end_of_remote_candidates();
    sim.b.end_of_remote_candidates();
    sim.run(Duration::from_secs(60));
    sim.assert_connected();
    let selected = AgentEvent::SelectedPair {
        transport: sansrtc_ice::candidate::CandidateTransport::Udp,
        component: 1,
        local: addr(A),
        remote: addr(B),
    };
    assert!(sim.a_events.contains(&selected), "{:?}", sim.a_events);
    // The restart takes the agent from Completed back to Connected while checks run, then to
    // Completed again; never through New, Checking or Disconnected.
    let states: Vec<_> = sim
        .a_events
        .iter()
        .filter(|e| matches!(e, AgentEvent::StateChanged(_)))
        .cloned()
        .collect();
    assert_eq!(
        states,
        [
            AgentEvent::StateChanged(ConnectionState::Connected),
            AgentEvent::StateChanged(ConnectionState::Completed)
        ],
        "{:?}",
        sim.a_events
    );
    // Consent runs again on the new pair with the new credentials.
    assert!(sim.a.stats().consent_refreshed > 5);
    assert_eq!(sim.a.stats().auth_failures + sim.b.stats().auth_failures, 0);
}

#[test]
fn thousands_of_trickled_candidates_stay_bounded() {
    let mut sim = setup(15, true, false, true);
    let mut refused = 0;
    for i in 0..5000u32 {
        let c = sansrtc_ice::candidate::Candidate::parse(&format!(
            "candidate:x{i} 1 udp {} 10.{}.{}.{} {} typ host",
            1000 + i,
            2 + i / 65536,
            (i / 256) % 256,
            i % 256,
            1024 + i % 60000
        ))
        .unwrap();
        if sim.a.add_remote_candidate(c).is_err() {
            refused += 1;
        }
    }
    let limits = sansrtc_ice::checklist::ChecklistConfig::default();
    assert!(sim.a.checklist().remote_candidates().len() <= limits.max_remote_candidates);
    assert!(sim.a.checklist().pairs().len() <= limits.max_pairs);
    assert!(refused >= 5000 - limits.max_remote_candidates);
    // The real peer is still reached.
    sim.run(Duration::from_secs(60));
    sim.assert_connected();
}

#[test]
fn nominates_the_best_pair_not_the_first_to_answer() {
    // A has two host candidates; the preferred one's path is 150 ms slower, so the other pair
    // becomes valid first. The controlling agent waits for the better pair and nominates it.
    let mut sim = setup(16, true, false, true);
    let a2 = addr("10.0.0.3:5001"); // a second interface: its own foundation
    let c2 = sim.a.add_host_candidate(a2).unwrap();
    sim.b.add_remote_candidate(c2).unwrap();
    sim.net.slow.push(addr(A));
    sim.run(Duration::from_secs(10));
    // Both pairs were valid; the higher-priority one (A's first candidate) was selected.
    let valid = sim
        .a
        .checklist()
        .pairs()
        .iter()
        .filter(|p| p.state == sansrtc_ice::checklist::PairState::Succeeded)
        .count();
    assert_eq!(valid, 2);
    sim.assert_connected();
}

#[test]
fn without_nomination_delay_the_first_valid_pair_wins() {
    // The same network as above with `nomination_delay` zero: the faster, lower-priority pair is
    // nominated. (Shows the test above depends on the waiting.)
    let mut a_config = AgentConfig::new(true, "aaaa", "password-of-agent-a-xx");
    a_config.nomination_delay = Duration::ZERO;
    let mut sim = setup_with(
        16,
        a_config,
        AgentConfig::new(false, "bbbb", "password-of-agent-b-yy"),
        true,
    );
    let a2 = addr("10.0.0.3:5001"); // a second interface: its own foundation
    let c2 = sim.a.add_host_candidate(a2).unwrap();
    sim.b.add_remote_candidate(c2).unwrap();
    sim.net.slow.push(addr(A));
    sim.run(Duration::from_secs(10));
    assert_eq!(sim.a.selected_pair(), Some((a2, addr(B))));
}

fn state_changes(events: &[AgentEvent]) -> Vec<ConnectionState> {
    events
        .iter()
        .filter_map(|e| match e {
            AgentEvent::StateChanged(s) => Some(*s),
            _ => None,
        })
        .collect()
}

#[test]
fn completed_once_checks_are_done_and_a_pair_is_nominated() {
    // Two pairs: the better one is slower. Connected comes with the selection, Completed once
    // the remaining checks are done (or dropped after the nomination).
    for seed in 0..20 {
        let mut sim = setup(seed, true, false, true);
        let c2 = sim.a.add_host_candidate(addr(A2)).unwrap();
        sim.b.add_remote_candidate(c2).unwrap();
        sim.net.slow.push(addr(A));
        sim.run(Duration::from_secs(10));
        use ConnectionState::*;
        assert_eq!(
            state_changes(&sim.a_events),
            [Checking, Connected, Completed],
            "seed {seed}: {:?}",
            sim.a_events
        );
        assert_eq!(
            state_changes(&sim.b_events).last(),
            Some(&Completed),
            "seed {seed}: {:?}",
            sim.b_events
        );
        for agent in [&sim.a, &sim.b] {
            assert!(agent.checklist().checks_done());
            let nominated: Vec<_> = agent
                .checklist()
                .pairs()
                .iter()
                .filter(|p| p.nominated)
                .collect();
            assert_eq!(nominated.len(), 1, "seed {seed}");
        }
    }
}

#[test]
fn not_completed_before_end_of_candidates() {
    let mut sim = setup(21, true, false, true);
    sim.run(Duration::from_secs(5));
    sim.assert_connected();
    let now = sim.now;
    sim.a.restart(now, "aaa2", "new-password-of-agent-a");
    sim.b.restart(now, "bbb2", "new-password-of-agent-b");
    sim.a
        .set_remote_credentials("bbb2", "new-password-of-agent-b");
    sim.b
        .set_remote_credentials("aaa2", "new-password-of-agent-a");
    sim.a.add_remote_candidate(sim.b_candidate.clone()).unwrap();
    sim.b.add_remote_candidate(sim.a_candidate.clone()).unwrap();
    sim.a_events.clear();
    sim.run(Duration::from_secs(10));
    // A new pair is selected and its checks are done, but more candidates may trickle in.
    assert!(sim.a_events.contains(&AgentEvent::SelectedPair {
        transport: sansrtc_ice::candidate::CandidateTransport::Udp,
        component: 1,
        local: addr(A),
        remote: addr(B)
    }));
    assert_eq!(sim.a.state(), ConnectionState::Connected);
    sim.a.end_of_remote_candidates();
    assert_eq!(sim.a.state(), ConnectionState::Completed);
}

#[test]
fn consent_interruption_returns_to_completed() {
    let mut sim = setup(22, true, false, true);
    sim.run(Duration::from_secs(3));
    sim.assert_connected();
    sim.net.black_holes.extend([addr(A), addr(B)]);
    sim.a_events.clear();
    sim.run(Duration::from_secs(15));
    assert_eq!(sim.a.state(), ConnectionState::Disconnected);
    sim.net.black_holes.clear();
    sim.run(Duration::from_secs(10));
    assert_eq!(
        state_changes(&sim.a_events),
        [ConnectionState::Disconnected, ConnectionState::Completed]
    );
    sim.assert_connected();
}

#[test]
fn close_stops_everything() {
    let mut sim = setup(23, true, false, true);
    sim.run(Duration::from_secs(3));
    sim.assert_connected();
    sim.a_events.clear();
    sim.a.close();
    assert_eq!(
        sim.a.poll_event(),
        Some(AgentEvent::StateChanged(ConnectionState::Closed))
    );
    assert_eq!(sim.a.state(), ConnectionState::Closed);
    assert_eq!(sim.a.selected_pair(), None);
    assert_eq!(sim.a.poll_timeout(), None);
    let (sent, answered) = (sim.a.stats().checks_sent, sim.a.stats().checks_answered);
    // B keeps sending consent checks; A answers none and sends nothing.
    sim.run(Duration::from_secs(60));
    assert_eq!(sim.a.stats().checks_sent, sent);
    assert_eq!(sim.a.stats().checks_answered, answered);
    assert!(sim.a.poll_transmit().is_none());
    assert_eq!(sim.b.state(), ConnectionState::Failed);
}

/// RTCP sockets (component 2) of A and B when rtcp-mux is not used.
const A_RTCP: &str = "10.0.0.1:5002";
const B_RTCP: &str = "10.0.0.2:6002";

fn two_component_sim(seed: u64) -> Sim {
    let mut a_config = AgentConfig::new(true, "aaaa", "password-of-agent-a-xx");
    a_config.components = 2;
    let mut b_config = AgentConfig::new(false, "bbbb", "password-of-agent-b-yy");
    b_config.components = 2;
    let mut sim = setup_with(seed, a_config, b_config, true);
    let a2 = sim.a.add_host_candidate_for(2, addr(A_RTCP)).unwrap();
    let b2 = sim.b.add_host_candidate_for(2, addr(B_RTCP)).unwrap();
    assert_eq!(a2.component, 2);
    // Same type and local preference, lower component: lower priority (RFC 8445 5.1.2.1).
    assert!(a2.priority < sim.a_candidate.priority);
    sim.a.add_remote_candidate(b2).unwrap();
    sim.b.add_remote_candidate(a2).unwrap();
    sim
}

#[test]
fn two_components_each_nominated_and_selected() {
    for seed in 0..50 {
        let mut sim = two_component_sim(seed);
        sim.net.loss_percent = 10;
        sim.net.max_delay_ms = 80;
        sim.run(Duration::from_secs(120));
        for (agent, events, local, remote, local2, remote2) in [
            (&sim.a, &sim.a_events, A, B, A_RTCP, B_RTCP),
            (&sim.b, &sim.b_events, B, A, B_RTCP, A_RTCP),
        ] {
            assert_eq!(
                agent.state(),
                ConnectionState::Completed,
                "seed {seed}: {events:?}"
            );
            assert_eq!(agent.selected_pair_of(1), Some((addr(local), addr(remote))));
            assert_eq!(
                agent.selected_pair_of(2),
                Some((addr(local2), addr(remote2)))
            );
            // One nominated pair per component.
            for component in [1, 2] {
                let nominated = agent
                    .checklist()
                    .pairs()
                    .iter()
                    .filter(|p| p.component == component && p.nominated)
                    .count();
                assert_eq!(nominated, 1, "seed {seed} component {component}");
            }
            // Connected only once both components have a selected pair.
            let connected = events
                .iter()
                .position(|e| *e == AgentEvent::StateChanged(ConnectionState::Connected))
                .unwrap();
            let selections: Vec<usize> = events
                .iter()
                .enumerate()
                .filter(|(_, e)| matches!(e, AgentEvent::SelectedPair { .. }))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(selections.len(), 2, "seed {seed}: {events:?}");
            assert!(selections.iter().all(|&i| i < connected), "{events:?}");
        }
    }
}

#[test]
fn consent_runs_on_every_component() {
    let mut sim = two_component_sim(31);
    sim.run(Duration::from_secs(60));
    // About one consent check every 5 s per component per side.
    assert!(sim.a.stats().consent_refreshed >= 18, "{:?}", sim.a.stats());
    // Losing only component 2's path disconnects, then fails, the whole connection.
    sim.net.black_holes.extend([addr(A_RTCP), addr(B_RTCP)]);
    sim.a_events.clear();
    sim.run(Duration::from_secs(40));
    assert_eq!(
        state_changes(&sim.a_events),
        [ConnectionState::Disconnected, ConnectionState::Failed]
    );
}

#[test]
fn a_component_that_cannot_connect_fails_the_connection() {
    let mut sim = two_component_sim(32);
    sim.net.black_holes.extend([addr(A_RTCP), addr(B_RTCP)]);
    sim.run(Duration::from_secs(60));
    // Component 1 was selected, but the connection never became connected.
    assert!(sim.a_events.contains(&AgentEvent::SelectedPair {
        transport: sansrtc_ice::candidate::CandidateTransport::Udp,
        component: 1,
        local: addr(A),
        remote: addr(B)
    }));
    assert_eq!(
        state_changes(&sim.a_events),
        [ConnectionState::Checking, ConnectionState::Failed]
    );
}

#[test]
fn a_single_component_agent_ignores_component_two() {
    let mut sim = setup(33, true, false, true);
    assert!(sim.a.add_host_candidate_for(2, addr(A_RTCP)).is_none());
    let mut b_config = AgentConfig::new(false, "bbbb", "password-of-agent-b-yy");
    b_config.components = 2;
    let mut b2 = Agent::new(b_config, SeededRng::new(5));
    let c2 = b2.add_host_candidate_for(2, addr(B_RTCP)).unwrap();
    sim.a.add_remote_candidate(c2).unwrap();
    assert!(sim.a.checklist().pairs().iter().all(|p| p.component == 1));
    sim.run(Duration::from_secs(5));
    sim.assert_connected();
}

/// Restarts both agents with new credentials, exchanged, but no candidates yet (slow
/// signalling).
fn restart_without_candidates(sim: &mut Sim) {
    let now = sim.now;
    sim.a.restart(now, "aaa2", "new-password-of-agent-a");
    sim.b.restart(now, "bbb2", "new-password-of-agent-b");
    sim.a
        .set_remote_credentials("bbb2", "new-password-of-agent-b");
    sim.b
        .set_remote_credentials("aaa2", "new-password-of-agent-a");
}

#[test]
fn consent_continues_on_the_old_pair_during_an_ice_restart() {
    let mut sim = setup(40, true, false, true);
    sim.run(Duration::from_secs(5));
    sim.assert_connected();
    restart_without_candidates(&mut sim);
    sim.a_events.clear();
    sim.b_events.clear();
    let (a_before, b_before) = (
        sim.a.stats().consent_refreshed,
        sim.b.stats().consent_refreshed,
    );
    // A minute of restart without new candidates: consent keeps the old pair, on both sides,
    // with the old credentials.
    sim.run(Duration::from_secs(60));
    assert!(sim.a.stats().consent_refreshed >= a_before + 9);
    assert!(sim.b.stats().consent_refreshed >= b_before + 9);
    assert_eq!(sim.a.stats().auth_failures + sim.b.stats().auth_failures, 0);
    assert_eq!(sim.a.state(), ConnectionState::Connected);
    assert_eq!(sim.a.selected_pair(), Some((addr(A), addr(B))));
    assert_eq!(sim.b.selected_pair(), Some((addr(B), addr(A))));
    // Only the restart's own Completed -> Connected (checks run again); never Disconnected.
    assert_eq!(
        state_changes(&sim.a_events),
        [ConnectionState::Connected],
        "{:?}",
        sim.a_events
    );
    // The restart completes; consent then runs on the new pair with the new credentials.
    sim.a.add_remote_candidate(sim.b_candidate.clone()).unwrap();
    sim.b.add_remote_candidate(sim.a_candidate.clone()).unwrap();
    sim.a.end_of_remote_candidates();
    sim.b.end_of_remote_candidates();
    sim.run(Duration::from_secs(30));
    sim.assert_connected();
    assert_eq!(sim.a.stats().auth_failures + sim.b.stats().auth_failures, 0);
}

#[test]
fn consent_lost_on_the_old_pair_during_a_restart_drops_it() {
    let mut sim = setup(41, true, false, true);
    sim.run(Duration::from_secs(5));
    sim.assert_connected();
    restart_without_candidates(&mut sim);
    sim.a_events.clear();
    sim.net.black_holes.extend([addr(A), addr(B)]);
    sim.run(Duration::from_secs(40));
    assert_eq!(
        state_changes(&sim.a_events),
        [
            ConnectionState::Connected,
            ConnectionState::Disconnected,
            ConnectionState::Checking
        ]
    );
    assert_eq!(sim.a.selected_pair(), None);
}

#[test]
fn a_candidate_trickled_after_checks_ran_dry_is_checked() {
    let mut a = Agent::new(
        AgentConfig::new(true, "aaaa", "password-of-agent-a-xx"),
        SeededRng::new(5),
    );
    a.add_host_candidate(addr(A)).unwrap();
    a.set_remote_credentials("bbbb", "password-of-agent-b-yy");
    let t0 = Instant::now();
    a.start(t0);
    a.handle_timeout(t0);
    // No pair yet: nothing to do, no deadline.
    assert!(a.poll_transmit().is_none());
    assert_eq!(a.poll_timeout(), None);
    // A candidate arrives later (trickled, or a relayed local one): checks start again without
    // the caller having to restart anything.
    let cb = sansrtc_ice::candidate::Candidate::parse(
        "candidate:1 1 udp 2130706431 10.0.0.2 6000 typ host",
    )
    .unwrap();
    a.add_remote_candidate(cb).unwrap();
    let due = a.poll_timeout().expect("a deadline for the new pair");
    a.handle_timeout(due);
    let check = a.poll_transmit().expect("a check for the new pair");
    assert_eq!((check.source, check.destination), (addr(A), addr(B)));
}

#[test]
fn a_check_from_the_peer_on_an_in_progress_pair_triggers_a_new_check_at_once() {
    let mut sim = setup(9, true, false, true);
    let t0 = sim.now;
    // A's first check to B is lost on the way.
    sim.a.handle_timeout(t0);
    let lost = sim.a.poll_transmit().expect("A checks B");
    assert_eq!(lost.destination, addr(B));
    // B's check reaches A while A's own check on that pair is still in progress.
    sim.b.handle_timeout(t0);
    let check = sim.b.poll_transmit().expect("B checks A");
    let t1 = t0 + Duration::from_millis(5);
    assert!(
        sim.a
            .handle_receive(t1, check.source, check.destination, &check.contents)
    );
    let response = sim.a.poll_transmit().expect("A answers");
    assert_eq!(response.destination, addr(B));
    // A checks the pair again at its next pacing slot instead of waiting for the lost check's
    // retransmission (RFC 8445 7.3.1.4).
    let rto = AgentConfig::new(true, "x", "y").check_rto;
    let due = sim.a.poll_timeout().expect("a deadline");
    assert!(due < t0 + rto, "next check at {:?}, RTO {rto:?}", due - t0);
    sim.a.handle_timeout(due);
    let again = sim.a.poll_transmit().expect("a triggered check");
    assert_eq!((again.source, again.destination), (addr(A), addr(B)));
    assert_ne!(
        again.contents[8..20],
        lost.contents[8..20],
        "a new transaction"
    );
    // And the connection completes from there.
    sim.net.send(due, again);
    sim.run(Duration::from_secs(5));
    sim.assert_connected();
}

#[test]
fn only_paths_with_an_authenticated_check_are_validated() {
    let mut sim = setup(31, true, false, true);
    let stranger = addr("10.0.0.66:6666");
    // Before any check nothing is validated.
    assert!(!sim.b.is_validated(addr(B), addr(A)));
    // A check with the wrong password validates nothing.
    let forged = check_to_b(1, "wrong-password", &[]);
    assert!(sim.b.handle_receive(sim.now, stranger, addr(B), &forged));
    assert!(!sim.b.is_validated(addr(B), stranger));
    // Connected: both agents validated the pair, by requests and by responses.
    sim.run(Duration::from_secs(3));
    sim.assert_connected();
    assert!(sim.a.is_validated(addr(A), addr(B)));
    assert!(sim.b.is_validated(addr(B), addr(A)));
    assert!(!sim.b.is_validated(addr(B), stranger));
    // A correctly signed check from a new address validates that address (a peer-reflexive
    // path, as RFC 8445 allows): integrity is what counts.
    let check = check_to_b(2, "password-of-agent-b-yy", &[]);
    assert!(sim.b.handle_receive(sim.now, stranger, addr(B), &check));
    assert!(sim.b.is_validated(addr(B), stranger));
}

#[test]
fn validated_paths_are_bounded() {
    let mut sim = setup(32, true, false, true);
    for i in 0..200u16 {
        let from = SocketAddr::new(addr("10.0.1.1:1").ip(), 1000 + i);
        let check = check_to_b((i % 250) as u8, "password-of-agent-b-yy", &[]);
        sim.b.handle_receive(sim.now, from, addr(B), &check);
        while sim.b.poll_transmit().is_some() {}
    }
    let validated = (0..200u16)
        .filter(|i| {
            sim.b
                .is_validated(addr(B), SocketAddr::new(addr("10.0.1.1:1").ip(), 1000 + i))
        })
        .count();
    assert_eq!(validated, sansrtc_ice::agent::MAX_VALIDATED);
    // The newest are kept.
    assert!(sim.b.is_validated(addr(B), addr("10.0.1.1:1199")));
}

#[test]
fn consent_loss_forgets_the_validated_path() {
    let mut sim = setup(33, true, false, true);
    sim.run(Duration::from_secs(3));
    sim.assert_connected();
    sim.net.black_holes.extend([addr(A), addr(B)]);
    sim.run(Duration::from_secs(40));
    assert_eq!(sim.a.state(), ConnectionState::Failed);
    assert!(!sim.a.is_validated(addr(A), addr(B)));
}

#[test]
fn unauthenticated_requests_can_be_dropped_silently() {
    let mut b_config = AgentConfig::new(false, "bbbb", "password-of-agent-b-yy");
    b_config.answer_unauthenticated = false;
    let mut sim = setup_with(
        34,
        AgentConfig::new(true, "aaaa", "password-of-agent-a-xx"),
        b_config,
        true,
    );
    let stranger = addr("10.0.0.66:6666");
    // Wrong password, no MESSAGE-INTEGRITY at all, and a non-Binding method: no answer.
    let forged = check_to_b(1, "wrong-password", &[]);
    assert!(sim.b.handle_receive(sim.now, stranger, addr(B), &forged));
    let mut no_integrity = [0u8; 64];
    let n = {
        use sansrtc_ice::stun::{Attribute, MessageBuilder, MessageType, TransactionId};
        let mut m = MessageBuilder::new(
            &mut no_integrity,
            MessageType::BINDING_REQUEST,
            TransactionId([2; 12]),
        )
        .unwrap();
        m.add(&Attribute::Username("bbbb:aaaa")).unwrap();
        m.finish()
    };
    assert!(
        sim.b
            .handle_receive(sim.now, stranger, addr(B), &no_integrity[..n])
    );
    let mut allocate = [0u8; 64];
    let n = {
        use sansrtc_ice::stun::{MessageBuilder, MessageType, TransactionId};
        // An Allocate request: not a method ICE answers.
        MessageBuilder::new(
            &mut allocate,
            MessageType::new(
                sansrtc_ice::stun::Method::ALLOCATE,
                sansrtc_ice::stun::MessageClass::Request,
            ),
            TransactionId([3; 12]),
        )
        .unwrap()
        .finish()
    };
    let allocate = &allocate[..n];
    assert!(sim.b.handle_receive(sim.now, stranger, addr(B), allocate));
    assert!(sim.b.poll_transmit().is_none(), "nothing reflected");
    assert_eq!(sim.b.stats().auth_failures, 3);
    // Authentic checks are still answered, and the agents connect.
    sim.run(Duration::from_secs(3));
    sim.assert_connected();
}
