//! DTLS 1.3 KeyUpdate through the `Endpoint` (RFC 9147 8, RFC 8446 4.6.3): updates forced every
//! few records with data both ways on a clean link and over a lossy, duplicating, reordering one
//! (many seeds), a lost ACK of a KeyUpdate (retransmitted, no switch before the ACK), the answer
//! to `update_requested` (once), `Endpoint::update_keys` refused where it does not apply, and
//! unauthenticated KeyUpdates or garbage that never end the connection.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

mod common;

use common::link::{Link, PERFECT};
use sansrtc_dtls::v13::message::{self as m, hs};
use sansrtc_dtls::v13::record as rec;
use sansrtc_dtls::{
    Certificate, Config, DtlsError, Endpoint, Event, HashAlgorithm, Rng, TestRng,
    endpoint::Versions,
};

fn certs() -> &'static (Arc<Certificate>, Arc<Certificate>) {
    static C: OnceLock<(Arc<Certificate>, Arc<Certificate>)> = OnceLock::new();
    C.get_or_init(|| {
        (
            Arc::new(Certificate::generate().unwrap()),
            Arc::new(Certificate::generate().unwrap()),
        )
    })
}

/// 1.3 configurations updating keys every `every` records (`None`: the default).
fn configs(versions: Versions, every: Option<u64>) -> (Config, Config) {
    let (cc, sc) = certs();
    let mut c = Config::new(cc.clone());
    c.remote_fingerprints = vec![sc.fingerprint(HashAlgorithm::Sha256)];
    c.versions = versions;
    c.key_update_after = every;
    let mut s = Config::new(sc.clone());
    s.remote_fingerprints = vec![cc.fingerprint(HashAlgorithm::Sha256)];
    s.versions = versions;
    s.key_update_after = every;
    (c, s)
}

/// (delivery time, tie-breaker, to the client?, datagram).
type InFlight = (Instant, u64, bool, Vec<u8>);

/// Application messages of one direction: what was sent, what arrived.
struct Stream {
    total: usize,
    /// Messages handed to the endpoint so far (the next new one).
    next: usize,
    /// Per message: delivered, and when it was last sent.
    delivered: Vec<bool>,
    last_sent: Vec<Option<Instant>>,
    /// Every record's unique tag received (exactly-once per record).
    tags: HashSet<u64>,
    tag: u64,
    arrivals: usize,
}

impl Stream {
    fn new(total: usize) -> Self {
        Self {
            total,
            next: 0,
            delivered: vec![false; total],
            last_sent: vec![None; total],
            tags: HashSet::new(),
            tag: 0,
            arrivals: 0,
        }
    }

    fn done(&self) -> bool {
        self.delivered.iter().all(|&d| d)
    }

    /// Sends up to `burst` new messages and (with `resend`) those not delivered `resend` after
    /// their last sending (the application's own reliability on a lossy link).
    fn send(&mut self, now: Instant, ep: &mut Endpoint, burst: usize, resend: Option<Duration>) {
        let mut todo = Vec::new();
        if let Some(after) = resend {
            for i in 0..self.next {
                if !self.delivered[i] && self.last_sent[i].is_some_and(|t| now >= t + after) {
                    todo.push(i);
                }
            }
        }
        let new = (self.total - self.next).min(burst);
        todo.extend(self.next..self.next + new);
        self.next += new;
        for i in todo {
            self.tag += 1;
            let mut msg = Vec::with_capacity(60);
            msg.extend_from_slice(&(i as u32).to_be_bytes());
            msg.extend_from_slice(&self.tag.to_be_bytes());
            msg.resize(12 + (i % 48), i as u8);
            ep.send_application_data(&msg).expect("send");
            self.last_sent[i] = Some(now);
        }
    }

    /// One record's content arrived.
    fn arrived(&mut self, data: &[u8]) {
        let i = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
        let tag = u64::from_be_bytes(data[4..12].try_into().unwrap());
        assert_eq!(data.len(), 12 + (i % 48));
        assert!(data[12..].iter().all(|&b| b == i as u8));
        assert!(
            self.tags.insert(tag),
            "record {tag} (message {i}) delivered twice"
        );
        self.delivered[i] = true;
        self.arrivals += 1;
    }
}

/// Two endpoints through a simulated link and a fake clock, with application data both ways.
struct Sim {
    client: Endpoint,
    server: Endpoint,
    now: Instant,
    start: Instant,
    queue: BinaryHeap<Reverse<InFlight>>,
    counter: u64,
    rng: TestRng,
    link: Link,
    /// Client to server, server to client.
    up: Stream,
    down: Stream,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
}

impl Sim {
    fn new(seed: u64, link: Link, (c, s): (Config, Config), messages: usize) -> Self {
        let now = Instant::now();
        let mut client = Endpoint::client(c, Box::new(TestRng::new(seed)));
        let server = Endpoint::server(s, Box::new(TestRng::new(seed.wrapping_add(1))));
        client.connect(now);
        Self {
            client,
            server,
            now,
            start: now,
            queue: BinaryHeap::new(),
            counter: 0,
            rng: TestRng::new(seed ^ 0x5eed),
            link,
            up: Stream::new(messages),
            down: Stream::new(messages),
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    fn chance(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Moves what the endpoints want to send onto the link.
    fn pump(&mut self) {
        for from_client in [true, false] {
            loop {
                let ep = if from_client {
                    &mut self.client
                } else {
                    &mut self.server
                };
                let Some(d) = ep.poll_transmit() else { break };
                let copies = if self.chance() < self.link.duplicate {
                    2
                } else {
                    1
                };
                for _ in 0..copies {
                    if self.chance() < self.link.loss {
                        continue;
                    }
                    let delay = Duration::from_millis(
                        1 + (self.chance() * self.link.max_delay_ms as f64) as u64,
                    );
                    self.counter += 1;
                    self.queue.push(Reverse((
                        self.now + delay,
                        self.counter,
                        !from_client,
                        d.clone(),
                    )));
                }
            }
        }
    }

    /// Takes the endpoints' events, application data into the streams.
    fn events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            match e {
                Event::ApplicationData(d) => self.down.arrived(&d),
                e => self.client_events.push(e),
            }
        }
        while let Some(e) = self.server.poll_event() {
            match e {
                Event::ApplicationData(d) => self.up.arrived(&d),
                e => self.server_events.push(e),
            }
        }
    }

    fn connected(&self) -> bool {
        self.client.is_connected() && self.server.is_connected()
    }

    /// Runs until every message arrived both ways and the link and timers are quiet; sends
    /// `burst` new messages per direction every `tick`.
    fn run(&mut self, burst: usize, tick: Duration, resend: Option<Duration>) {
        let mut next_tick = self.now;
        for _ in 0..2_000_000 {
            if self.connected() && self.now >= next_tick {
                self.up.send(self.now, &mut self.client, burst, resend);
                self.down.send(self.now, &mut self.server, burst, resend);
                next_tick = self.now + tick;
            }
            self.pump();
            self.events();
            if self.client.is_closed() || self.server.is_closed() {
                break;
            }
            let all_sent = self.up.done() && self.down.done();
            if all_sent
                && self.queue.is_empty()
                && self.client.poll_timeout().is_none()
                && self.server.poll_timeout().is_none()
            {
                break;
            }
            let next_packet = self.queue.peek().map(|Reverse((t, ..))| *t);
            let ticking = self.connected() && !all_sent;
            let next = [
                next_packet,
                self.client.poll_timeout(),
                self.server.poll_timeout(),
                ticking.then_some(next_tick),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next else { break };
            self.now = self.now.max(next);
            if next_packet == Some(next) {
                let Reverse((_, _, to_client, d)) = self.queue.pop().unwrap();
                if to_client {
                    self.client.handle_receive(self.now, &d);
                } else {
                    self.server.handle_receive(self.now, &d);
                }
            } else {
                if self.client.poll_timeout().is_some_and(|t| t <= self.now) {
                    self.client.handle_timeout(self.now);
                }
                if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
                    self.server.handle_timeout(self.now);
                }
            }
        }
    }

    /// Every message arrived, the endpoints are connected, nothing is outstanding and each
    /// side sends in the epoch the other receives in, one more than 3 per KeyUpdate.
    fn assert_consistent(&self, seed: u64) {
        assert!(
            self.connected(),
            "seed {seed}: {:?} / {:?}",
            self.client_events,
            self.server_events
        );
        assert!(self.up.done(), "seed {seed}: client to server incomplete");
        assert!(self.down.done(), "seed {seed}: server to client incomplete");
        let (cs, cr, cpending) = self.client.dtls13_epochs().unwrap();
        let (ss, sr, spending) = self.server.dtls13_epochs().unwrap();
        assert!(!cpending && !spending, "seed {seed}: KeyUpdate outstanding");
        assert_eq!((cs, cr), (sr, ss), "seed {seed}: epochs differ");
        let (c, s) = (self.client.stats(), self.server.stats());
        assert_eq!(cs, 3 + c.key_updates_sent, "seed {seed}");
        assert_eq!(ss, 3 + s.key_updates_sent, "seed {seed}");
        assert_eq!(c.key_updates_sent, s.key_updates_received, "seed {seed}");
        assert_eq!(s.key_updates_sent, c.key_updates_received, "seed {seed}");
    }
}

#[test]
fn forced_key_updates_on_a_clean_link_deliver_everything_once() {
    let mut sim = Sim::new(1, PERFECT, configs(Versions::Dtls13Or12, Some(50)), 3000);
    sim.run(20, Duration::from_millis(5), None);
    sim.assert_consistent(1);
    // Sent once each, so every message arrived exactly once.
    assert_eq!((sim.up.arrivals, sim.down.arrivals), (3000, 3000));
    let (cs, cr, _) = sim.client.dtls13_epochs().unwrap();
    println!(
        "clean link: client epochs {cs}/{cr}, {:?} simulated",
        sim.now - sim.start
    );
    // About one update per 50 records of ours each way (data and ACKs).
    assert!(cs >= 3 + 40 && cr >= 3 + 40, "{cs} {cr}");
    for ep in [&sim.client, &sim.server] {
        let st = ep.stats();
        assert_eq!((st.bad_mac, st.dropped, st.replayed), (0, 0, 0), "{st:?}");
    }
}

#[test]
fn key_updates_over_a_lossy_reordering_link() {
    let (mut fewest, mut most, mut slowest) = (u64::MAX, 0, Duration::ZERO);
    let mut total = 0;
    for seed in 0..120 {
        let link = Link {
            loss: 0.2,
            duplicate: 0.1,
            max_delay_ms: 80,
        };
        // A retransmission timer closer to this link's round trip (at most 162 ms) than the
        // default second, so that a lost KeyUpdate or ACK does not stall updates for long.
        let (mut c, mut s) = configs(Versions::Dtls13Or12, Some(10));
        c.initial_retransmit = Duration::from_millis(250);
        s.initial_retransmit = Duration::from_millis(250);
        let mut sim = Sim::new(seed, link, (c, s), 400);
        sim.run(
            1,
            Duration::from_millis(10),
            Some(Duration::from_millis(300)),
        );
        sim.assert_consistent(seed);
        let (cs, cr, _) = sim.client.dtls13_epochs().unwrap();
        // Updates both ways. Their number varies a lot: a lost KeyUpdate or ACK costs a
        // back-off timer (250 ms, doubled at each loss) during which the keys stay; four lost
        // round trips in a row (about 1.7% at 36% each) hold one update for 16 s.
        assert!(
            cs > 3 && cr > 3,
            "seed {seed}: {cs} {cr} {:?} {:?} {:?}",
            sim.now - sim.start,
            sim.client.stats(),
            sim.server.stats()
        );
        fewest = fewest.min(cs.min(cr));
        total += cs + cr - 6;
        most = most.max(cs.max(cr));
        slowest = slowest.max(sim.now - sim.start);
    }
    println!(
        "120 seeds at 20% loss: final epochs {fewest} to {most}, {total} updates, slowest \
         {slowest:?} simulated"
    );
    assert!(total >= 120 * 2 * 8, "{total} updates");
}

/// A connected pair on a perfect link (datagrams moved by hand from here on).
fn connected_pair(seed: u64) -> (Endpoint, Endpoint, Instant) {
    let mut sim = Sim::new(seed, PERFECT, configs(Versions::Dtls13Or12, None), 0);
    sim.run(0, Duration::from_millis(5), None);
    assert!(sim.connected());
    assert_eq!(sim.client.dtls13_epochs(), Some((3, 3, false)));
    assert_eq!(sim.server.dtls13_epochs(), Some((3, 3, false)));
    (sim.client, sim.server, sim.now)
}

fn drain(ep: &mut Endpoint) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| ep.poll_transmit()).collect()
}

fn deliver(to: &mut Endpoint, now: Instant, datagrams: &[Vec<u8>]) {
    for d in datagrams {
        to.handle_receive(now, d);
    }
}

fn data(ep: &mut Endpoint) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| ep.poll_event())
        .filter_map(|e| match e {
            Event::ApplicationData(d) => Some(d),
            _ => None,
        })
        .collect()
}

#[test]
fn a_lost_ack_of_a_key_update_is_recovered_and_keys_switch_only_after_the_ack() {
    let (mut client, mut server, mut now) = connected_pair(11);
    client.update_keys(now).unwrap();
    assert_eq!(client.stats().key_updates_sent, 1);
    assert_eq!(client.dtls13_epochs(), Some((3, 3, true)));
    let ku = drain(&mut client);
    assert_eq!(ku.len(), 1);
    deliver(&mut server, now, &ku);
    // The server installed epoch 4 and answers with an ACK and its own KeyUpdate (the client's
    // asked for it): all lost.
    assert_eq!(server.dtls13_epochs(), Some((3, 4, true)));
    assert_eq!(server.stats().key_updates_sent, 1);
    assert!(!drain(&mut server).is_empty());
    // Without the ACK the client keeps epoch 3; its data still opens at the server.
    client.send_application_data(b"old keys").unwrap();
    deliver(&mut server, now, &drain(&mut client));
    assert_eq!(data(&mut server), [b"old keys".to_vec()]);
    // Asking again while one is outstanding sends nothing more.
    client.update_keys(now).unwrap();
    assert!(drain(&mut client).is_empty());
    assert_eq!(client.stats().key_updates_sent, 1);
    // The timer retransmits the KeyUpdate (still epoch 3).
    let deadline = client.poll_timeout().expect("retransmission timer");
    now = deadline;
    client.handle_timeout(now);
    assert_eq!(client.stats().retransmissions, 1);
    assert_eq!(client.dtls13_epochs(), Some((3, 3, true)));
    let again = drain(&mut client);
    assert_eq!(again.len(), 1);
    assert_ne!(again, ku, "a new record number");
    // The server acknowledges the retransmission (its message is old: no second update).
    deliver(&mut server, now, &again);
    assert_eq!(server.stats().key_updates_received, 1);
    assert_eq!(server.dtls13_epochs(), Some((3, 4, true)));
    let acks = drain(&mut server);
    assert_eq!(acks.len(), 1, "only the ACK");
    deliver(&mut client, now, &acks);
    // Switched now; the server's KeyUpdate (lost) is still to come.
    assert_eq!(client.dtls13_epochs(), Some((4, 3, false)));
    assert_eq!(client.poll_timeout(), None);
    client.send_application_data(b"new keys").unwrap();
    deliver(&mut server, now, &drain(&mut client));
    assert_eq!(data(&mut server), [b"new keys".to_vec()]);
    // The server retransmits its own KeyUpdate; the client answers only with an ACK.
    now = server.poll_timeout().expect("server timer");
    server.handle_timeout(now);
    deliver(&mut client, now, &drain(&mut server));
    assert_eq!(client.dtls13_epochs(), Some((4, 4, false)));
    assert_eq!(client.stats().key_updates_sent, 1);
    deliver(&mut server, now, &drain(&mut client));
    assert_eq!(server.dtls13_epochs(), Some((4, 4, false)));
    for to_server in [true, false] {
        let (from, to) = if to_server {
            (&mut client, &mut server)
        } else {
            (&mut server, &mut client)
        };
        from.send_application_data(b"epoch 4").unwrap();
        let d = drain(from);
        deliver(to, now, &d);
        assert_eq!(data(to), [b"epoch 4".to_vec()]);
        // A replay of the new epoch's record is refused.
        deliver(to, now, &d);
        assert!(data(to).is_empty());
    }
}

#[test]
fn update_requested_is_answered_once() {
    let (mut client, mut server, now) = connected_pair(12);
    // Data sealed before the update, delivered after it (reordered): still opens.
    client.send_application_data(b"before").unwrap();
    let early = drain(&mut client);
    client.update_keys(now).unwrap();
    let ku = drain(&mut client);
    // The KeyUpdate three times (duplicated by the network).
    for _ in 0..3 {
        deliver(&mut server, now, &ku);
    }
    assert_eq!(server.stats().key_updates_received, 1);
    assert_eq!(server.stats().key_updates_sent, 1, "answered once");
    let answer = drain(&mut server);
    deliver(&mut client, now, &answer);
    // The client: switched (ACK), installed the server's epoch 4, and does not answer an
    // update_not_requested.
    assert_eq!(client.dtls13_epochs(), Some((4, 4, false)));
    assert_eq!(client.stats().key_updates_sent, 1);
    assert_eq!(client.stats().key_updates_received, 1);
    deliver(&mut server, now, &drain(&mut client));
    assert_eq!(server.dtls13_epochs(), Some((4, 4, false)));
    assert_eq!(server.poll_timeout(), None);
    assert_eq!(client.poll_timeout(), None);
    deliver(&mut server, now, &early);
    assert_eq!(data(&mut server), [b"before".to_vec()]);
    // After the grace period the old epoch is gone: a straggler of epoch 3 is dropped.
    client.send_application_data(b"new").unwrap();
    deliver(&mut server, now, &drain(&mut client));
    assert_eq!(data(&mut server), [b"new".to_vec()]);
    let mut old = ku.clone();
    old.extend(early);
    let later = now + Duration::from_secs(10);
    let dropped = server.stats().replayed + server.stats().dropped + server.stats().bad_mac;
    deliver(&mut server, later, &old);
    assert!(data(&mut server).is_empty());
    let after = server.stats().replayed + server.stats().dropped + server.stats().bad_mac;
    assert!(after > dropped);
    assert!(server.is_connected());
}

#[test]
fn update_keys_where_it_does_not_apply() {
    let (c, s) = configs(Versions::Dtls13Or12, None);
    let now = Instant::now();
    let mut client = Endpoint::client(c, Box::new(TestRng::new(1)));
    let mut server = Endpoint::server(s, Box::new(TestRng::new(2)));
    assert_eq!(client.update_keys(now), Err(DtlsError::NotConnected));
    assert_eq!(server.update_keys(now), Err(DtlsError::NotConnected));
    assert_eq!(client.dtls13_epochs(), None);
    client.connect(now);
    assert_eq!(client.update_keys(now), Err(DtlsError::NotConnected));
    // ClientHello, HelloRetryRequest, ClientHello, the server's flight: the client is
    // connected, the server (its 1.3 connection made) waits for the client's Finished.
    for _ in 0..2 {
        deliver(&mut server, now, &drain(&mut client));
        deliver(&mut client, now, &drain(&mut server));
    }
    assert!(client.is_connected());
    assert!(server.dtls13_epochs().is_some() && !server.is_connected());
    assert_eq!(server.update_keys(now), Err(DtlsError::NotConnected));
    // The client's update waits for the acknowledgement of its last flight.
    let finished = drain(&mut client);
    client.update_keys(now).unwrap();
    assert!(drain(&mut client).is_empty());
    assert_eq!(client.stats().key_updates_sent, 0);
    deliver(&mut server, now, &finished);
    assert!(server.is_connected());
    deliver(&mut client, now, &drain(&mut server));
    assert_eq!(client.stats().key_updates_sent, 1);
    assert_eq!(client.dtls13_epochs(), Some((3, 3, true)));
    deliver(&mut server, now, &drain(&mut client));
    deliver(&mut client, now, &drain(&mut server));
    deliver(&mut server, now, &drain(&mut client));
    assert_eq!(client.dtls13_epochs(), Some((4, 4, false)));
    assert_eq!(server.dtls13_epochs(), Some((4, 4, false)));
    // A DTLS 1.2 connection.
    let (c, s) = configs(Versions::Dtls12, None);
    let o = common::link::run(3, &PERFECT, c, s, &mut |d| d);
    let (mut client, mut server) = (o.client, o.server);
    assert!(client.is_connected() && server.is_connected());
    assert_eq!(
        client.protocol_version(),
        sansrtc_dtls::ProtocolVersion::Dtls12
    );
    let later = Instant::now() + Duration::from_secs(100);
    assert_eq!(client.update_keys(later), Err(DtlsError::NotDtls13));
    assert_eq!(server.update_keys(later), Err(DtlsError::NotDtls13));
    assert_eq!(client.dtls13_epochs(), None);
    // Closed 1.3 connection.
    let (mut client, _, now) = connected_pair(13);
    client.close();
    assert_eq!(client.update_keys(now), Err(DtlsError::Closed));
    server.close();
    assert_eq!(server.update_keys(later), Err(DtlsError::Closed));
}

#[test]
fn unauthenticated_key_updates_and_garbage_do_not_end_the_connection() {
    let (mut client, mut server, now) = connected_pair(14);
    let mut rng = TestRng::new(99);
    let mut hostile = Vec::new();
    // Plaintext KeyUpdates for the next message_seq values and some garbage unified headers.
    for seq in 0..8u16 {
        for requested in [0u8, 1, 7] {
            let mut content = Vec::new();
            m::write_handshake(hs::KEY_UPDATE, seq, &[requested], &mut content);
            let mut d = Vec::new();
            rec::write_plaintext(rec::CT_HANDSHAKE, 100 + u64::from(seq), &content, &mut d);
            hostile.push(d);
        }
    }
    for epoch_bits in 0..4u8 {
        let mut d = vec![0b0010_1100 | epoch_bits, 0, 0, 0, 40];
        d.extend((0..40).map(|_| rng.next_u64() as u8));
        hostile.push(d);
    }
    for ep in [&mut client, &mut server] {
        deliver(ep, now, &hostile);
        assert!(ep.is_connected());
        assert_eq!(ep.stats().key_updates_received, 0);
        assert_eq!(ep.dtls13_epochs(), Some((3, 3, false)));
        assert!(drain(ep).is_empty(), "nothing answered");
    }
    // And the connection still updates and carries data.
    client.update_keys(now).unwrap();
    deliver(&mut server, now, &drain(&mut client));
    deliver(&mut client, now, &drain(&mut server));
    deliver(&mut server, now, &drain(&mut client));
    assert_eq!(client.dtls13_epochs(), Some((4, 4, false)));
    assert_eq!(server.dtls13_epochs(), Some((4, 4, false)));
    server.send_application_data(b"still here").unwrap();
    deliver(&mut client, now, &drain(&mut server));
    assert_eq!(data(&mut client), [b"still here".to_vec()]);
}

#[test]
fn automatic_updates_with_the_default_limit_do_not_happen_early() {
    // With the default limit nothing updates during an ordinary exchange.
    let mut sim = Sim::new(5, PERFECT, configs(Versions::Dtls13, None), 300);
    sim.run(10, Duration::from_millis(5), None);
    sim.assert_consistent(5);
    assert_eq!(sim.client.dtls13_epochs(), Some((3, 3, false)));
    assert_eq!(sim.client.stats().key_updates_sent, 0);
    assert_eq!(sim.server.stats().key_updates_sent, 0);
}
