//! Two associations over a simulated lossy link with a fake clock.
#![allow(clippy::needless_range_loop)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::Link;
use sansrtc_sctp::{Association, Config, Event, Reliability, SeededRng, SendOptions, State};

struct Sim {
    now: Instant,
    a: [Association; 2],
    link: Link,
    events: [Vec<Event>; 2],
}

impl Sim {
    fn new(seed: u64, loss: f64, config: Config) -> Sim {
        let now = Instant::now();
        let mut r = SeededRng::new(seed);
        let a0 = Association::new(config.clone(), now, &mut r);
        let a1 = Association::new(config, now, &mut r);
        Sim {
            now,
            a: [a0, a1],
            link: Link {
                rng: SeededRng::new(seed ^ 0xABCD),
                loss,
                dup: loss / 3.0,
                delay: Duration::from_millis(20),
                jitter: Duration::from_millis(15),
                queue: BTreeMap::new(),
                seq: 0,
            },
            events: [Vec::new(), Vec::new()],
        }
    }

    fn flush(&mut self) {
        for i in 0..2 {
            while let Some(p) = self.a[i].poll_transmit(self.now) {
                self.link.send(self.now, 1 - i, p);
            }
            while let Some(e) = self.a[i].poll_event() {
                self.events[i].push(e);
            }
        }
    }

    /// Advances to the next event; false when nothing is left to do.
    fn step(&mut self) -> bool {
        self.flush();
        let next_packet = self.link.queue.keys().next().map(|k| k.0);
        let next_timer = self.a.iter().filter_map(|a| a.poll_timeout()).min();
        let next = match (next_packet, next_timer) {
            (Some(p), Some(t)) => p.min(t),
            (Some(p), None) => p,
            (None, Some(t)) => t,
            (None, None) => return false,
        };
        self.now = self.now.max(next);
        while let Some(entry) = self.link.queue.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let (to, bytes) = entry.remove();
            self.a[to].handle_receive(self.now, &bytes);
            self.flush();
        }
        for a in &mut self.a {
            if a.poll_timeout().is_some_and(|t| t <= self.now) {
                a.handle_timeout(self.now);
            }
        }
        self.flush();
        true
    }

    fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Sim) -> bool) -> bool {
        let end = self.now + limit;
        while self.now < end {
            if done(self) {
                return true;
            }
            if !self.step() {
                return done(self);
            }
        }
        done(self)
    }

    fn messages(&self, i: usize) -> Vec<(u16, Vec<u8>)> {
        self.events[i]
            .iter()
            .filter_map(|e| match e {
                Event::Message(m) => Some((m.stream_id, m.data.clone())),
                _ => None,
            })
            .collect()
    }
}

fn payload(stream: u16, n: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32 * 31 + n as u32 * 7 + stream as u32) as u8)
        .collect()
}

fn reliable_run(seed: u64, loss: f64, count: usize, len: impl Fn(usize) -> usize) {
    let mut config = Config::default();
    config.max_retransmits = None;
    config.max_message_size = 1 << 20;
    let mut s = Sim::new(seed, loss, config);
    let t0 = s.now;
    s.a[0].connect(t0);
    s.a[1].connect(t0);
    assert!(
        s.run_until(Duration::from_secs(120), |s| s
            .a
            .iter()
            .all(|a| a.state() == State::Established)),
        "seed {seed}: no connection: {:?}",
        s.a
    );
    let mut expected: [Vec<(u16, Vec<u8>)>; 2] = [Vec::new(), Vec::new()];
    for n in 0..count {
        for side in 0..2 {
            let stream = (n % 3) as u16;
            let data = payload(stream, n + side * 1000, len(n));
            s.a[side]
                .send(s.now, stream, 53, data.clone(), SendOptions::default())
                .unwrap();
            expected[1 - side].push((stream, data));
        }
    }
    let ok = s.run_until(Duration::from_secs(3600), |s| {
        s.messages(0).len() >= expected[0].len() && s.messages(1).len() >= expected[1].len()
    });
    for side in 0..2 {
        let got = s.messages(side);
        assert!(
            ok,
            "seed {seed}: side {side} got {} of {}: {:?}",
            got.len(),
            expected[side].len(),
            s.a[side]
        );
        // Per stream, exact order and content.
        for stream in 0..3u16 {
            let want: Vec<_> = expected[side].iter().filter(|m| m.0 == stream).collect();
            let have: Vec<_> = got.iter().filter(|m| m.0 == stream).collect();
            assert_eq!(want.len(), have.len(), "seed {seed} stream {stream}");
            for (w, h) in want.iter().zip(&have) {
                assert!(w.1 == h.1, "seed {seed}: stream {stream} message differs");
            }
        }
    }
}

#[test]
fn handshake_and_transfer_without_loss() {
    reliable_run(1, 0.0, 50, |n| 1 + n * 97 % 5000);
}

#[test]
fn reliable_ordered_under_loss_many_seeds() {
    for seed in 0..60 {
        let loss = (seed % 7) as f64 * 0.05; // 0 .. 30 %
        reliable_run(seed, loss, 20, |n| 1 + (n * 7919 + seed as usize) % 6000);
    }
}

#[test]
fn one_mebibyte_messages() {
    for seed in 0..3 {
        reliable_run(100 + seed, 0.1, 2, |_| 1 << 20);
    }
}

#[test]
fn passive_side_and_shutdown() {
    let mut s = Sim::new(5, 0.0, Config::default());
    let t0 = s.now;
    s.a[0].connect(t0);
    assert!(s.run_until(Duration::from_secs(10), |s| {
        s.a.iter().all(|a| a.state() == State::Established)
    }));
    s.a[0]
        .send(s.now, 0, 51, &b"bye"[..], SendOptions::default())
        .unwrap();
    s.a[0].shutdown(s.now);
    assert!(s.run_until(Duration::from_secs(30), |s| {
        s.a.iter().all(|a| a.state() == State::Closed)
    }));
    assert_eq!(s.messages(1), vec![(0, b"bye".to_vec())]);
    assert!(s.events[0].iter().any(|e| matches!(e, Event::Closed(_))));
}

#[test]
fn partial_reliability_gives_up() {
    let mut s = Sim::new(9, 0.3, {
        let mut cfg = Config::default();
        cfg.max_retransmits = None;
        cfg
    });
    let t0 = s.now;
    s.a[0].connect(t0);
    s.a[1].connect(t0);
    assert!(s.run_until(Duration::from_secs(60), |s| {
        s.a.iter().all(|a| a.state() == State::Established)
    }));
    let mut opts = SendOptions::default();
    opts.unordered = false;
    opts.reliability = Reliability::MaxRetransmits(0);
    opts.uncounted = false;
    for n in 0..200 {
        s.a[0]
            .send(s.now, 1, 53, payload(1, n, 100 + n), opts)
            .unwrap();
    }
    // A reliable marker after them must still arrive, and everything must settle.
    s.a[0]
        .send(s.now, 2, 53, &b"end"[..], SendOptions::default())
        .unwrap();
    assert!(s.run_until(Duration::from_secs(36_000), |s| {
        s.messages(1).iter().any(|m| m.1 == b"end") && s.a[0].outstanding_chunks() == 0
    }));
    let got: Vec<_> = s.messages(1).into_iter().filter(|m| m.0 == 1).collect();
    assert!(
        got.len() < 200,
        "with 30% loss and no retransmissions some must be lost: {} {:?}",
        got.len(),
        s.a[0].stats()
    );
    assert!(got.len() > 60, "{} {:?}", got.len(), s.a[0].stats());
    // In order, no duplicates: each message's length identifies it.
    let lens: Vec<usize> = got.iter().map(|m| m.1.len()).collect();
    assert!(lens.windows(2).all(|w| w[0] < w[1]));
    assert!(s.a[0].stats().messages_abandoned > 0);
    assert_eq!(
        s.a[0].send_buffered(),
        0,
        "abandoned messages release their charge"
    );
}

/// Runs the handshake by hand; returns (a, b, a header for packets a -> b).
fn handshake_pair() -> (Association, Association, Vec<u8>, Instant) {
    handshake_pair_with(Config::default(), Config::default())
}

/// [`handshake_pair`] with chosen settings for the initiator `a` and the listener `b`.
fn handshake_pair_with(ca: Config, cb: Config) -> (Association, Association, Vec<u8>, Instant) {
    let now = Instant::now();
    let mut rng = SeededRng::new(77);
    let mut a = Association::new(ca, now, &mut rng);
    let mut b = Association::new(cb, now, &mut rng);
    a.connect(now);
    let init = a.poll_transmit(now).unwrap();
    b.handle_receive(now, &init);
    // The listener answers without leaving the closed state: it keeps no state before the
    // cookie comes back.
    assert_eq!(b.state(), State::Closed);
    let init_ack = b.poll_transmit(now).unwrap();
    assert!(b.poll_transmit(now).is_none());
    a.handle_receive(now, &init_ack);
    let cookie_echo = a.poll_transmit(now).unwrap();
    // A tampered cookie is refused.
    let mut forged = cookie_echo.clone();
    // Inside the cookie (after the common and chunk headers), not in the chunk's padding.
    forged[12 + 4 + 10] ^= 1;
    sansrtc_sctp::packet::finish_packet(&mut forged, false);
    b.handle_receive(now, &forged);
    assert_eq!(b.state(), State::Closed);
    b.handle_receive(now, &cookie_echo);
    assert_eq!(b.state(), State::Established);
    let cookie_ack = b.poll_transmit(now).unwrap();
    a.handle_receive(now, &cookie_ack);
    assert_eq!(a.state(), State::Established);
    assert_eq!(a.poll_event(), Some(Event::Connected));
    assert_eq!(b.poll_event(), Some(Event::Connected));
    let header = cookie_echo[..12].to_vec();
    (a, b, header, now)
}

#[test]
fn stateless_listener_and_cookie_authentication() {
    let (_, _, _, _) = handshake_pair();
}

#[test]
fn stale_cookie_is_refused() {
    let now = Instant::now();
    let mut rng = SeededRng::new(78);
    let mut a = Association::new(Config::default(), now, &mut rng);
    let mut b = Association::new(Config::default(), now, &mut rng);
    a.connect(now);
    b.handle_receive(now, &a.poll_transmit(now).unwrap());
    a.handle_receive(now, &b.poll_transmit(now).unwrap());
    let echo = a.poll_transmit(now).unwrap();
    let later = now + Duration::from_secs(61);
    b.handle_receive(later, &echo);
    assert_eq!(b.state(), State::Closed);
    // The listener reports "stale cookie" and the initiator starts over with INIT.
    let error = b
        .poll_transmit(later)
        .expect("ERROR with a stale cookie cause");
    assert_eq!(a.state(), State::CookieEchoed);
    a.handle_receive(later, &error);
    assert_eq!(a.state(), State::CookieWait);
    let init = a.poll_transmit(later).unwrap();
    b.handle_receive(later, &init);
    a.handle_receive(later, &b.poll_transmit(later).unwrap());
    b.handle_receive(later, &a.poll_transmit(later).unwrap());
    assert_eq!(b.state(), State::Established);
}

fn packet_with(header: &[u8], chunk: &[u8]) -> Vec<u8> {
    let mut p = header.to_vec();
    p.extend_from_slice(chunk);
    sansrtc_sctp::packet::finish_packet(&mut p, false);
    p
}

#[test]
fn unknown_chunks_follow_their_high_bits() {
    use sansrtc_sctp::chunk::{Chunk, chunk_type};
    use sansrtc_sctp::packet::SctpPacket;
    let (mut a, mut b, header, now) = handshake_pair();
    let _ = &mut a;
    // 0x7F: "stop and report": an ERROR with "unrecognized chunk type" comes back, and the DATA
    // after it in the same packet is not processed.
    let mut chunks = vec![0x7F, 0, 0, 8, 1, 2, 3, 4];
    sansrtc_sctp::chunk::write_data(&mut chunks, 3, 0, 0, 0, 51, b"x");
    b.handle_receive(now, &packet_with(&header, &chunks));
    let reply = b.poll_transmit(now).expect("an ERROR chunk");
    let p = SctpPacket::parse(&reply).unwrap();
    let error = p.chunks().find(|c| c.chunk_type() == chunk_type::ERROR);
    match error {
        Some(Chunk::Error(causes)) => {
            let cause = causes.iter().next().unwrap();
            assert_eq!(cause.kind, 6);
            assert_eq!(cause.value[0], 0x7F);
        }
        other => panic!("expected ERROR, got {other:?}"),
    }
    assert!(b.poll_event().is_none());
    // 0xBF: "skip silently": the DATA after it is processed.
    let mut chunks = vec![0xBF, 0, 0, 4];
    let tsn_probe = b.stats();
    sansrtc_sctp::chunk::write_data(&mut chunks, 3, 0, 0, 0, 51, b"y");
    let _ = tsn_probe;
    b.handle_receive(now, &packet_with(&header, &chunks));
    // The DATA carried a made-up TSN of 0, most likely outside the window: either way, no panic
    // and no ERROR for a skip-silently chunk.
    while let Some(p) = b.poll_transmit(now) {
        let p = SctpPacket::parse(&p).unwrap();
        assert!(p.chunks().all(|c| c.chunk_type() != chunk_type::ERROR));
    }
}

#[test]
fn wrong_verification_tag_and_bad_checksum_are_dropped() {
    let (_a, mut b, header, now) = handshake_pair();
    let dropped = b.stats().packets_dropped;
    let mut wrong = header.clone();
    wrong[4] ^= 0xFF;
    b.handle_receive(now, &packet_with(&wrong, &[chunk_type_abort(), 0, 0, 4]));
    assert_eq!(b.state(), State::Established);
    let mut bad = packet_with(&header, &[chunk_type_abort(), 0, 0, 4]);
    bad[8] ^= 1;
    b.handle_receive(now, &bad);
    assert_eq!(b.state(), State::Established);
    assert_eq!(b.stats().packets_dropped - dropped, 2);
    // A genuine ABORT closes.
    b.handle_receive(now, &packet_with(&header, &[chunk_type_abort(), 0, 0, 4]));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        b.poll_event(),
        Some(Event::Closed(sansrtc_sctp::CloseReason::PeerAbort))
    );
}

fn chunk_type_abort() -> u8 {
    sansrtc_sctp::chunk::chunk_type::ABORT
}

#[test]
fn heartbeat_is_answered_with_its_info() {
    use sansrtc_sctp::chunk::{Chunk, chunk_type};
    use sansrtc_sctp::packet::SctpPacket;
    let (_a, mut b, header, now) = handshake_pair();
    let hb = [chunk_type::HEARTBEAT, 0, 0, 12, 0, 1, 0, 8, 9, 8, 7, 6];
    b.handle_receive(now, &packet_with(&header, &hb));
    let reply = b.poll_transmit(now).unwrap();
    let p = SctpPacket::parse(&reply).unwrap();
    match p.chunks().next() {
        Some(Chunk::HeartbeatAck(info)) => {
            let t = info.iter().next().unwrap();
            assert_eq!((t.kind, t.value), (1, &[9u8, 8, 7, 6][..]));
        }
        other => panic!("expected HEARTBEAT-ACK, got {other:?}"),
    }
}

#[test]
fn zero_checksum_when_both_offer_it() {
    let mut config = Config::default();
    config.zero_checksum = true;
    let mut s = Sim::new(11, 0.1, config);
    let t0 = s.now;
    s.a[0].connect(t0);
    s.a[1].connect(t0);
    assert!(s.run_until(Duration::from_secs(60), |s| {
        s.a.iter().all(|a| a.state() == State::Established)
    }));
    s.a[0]
        .send(s.now, 0, 53, vec![1u8; 3000], SendOptions::default())
        .unwrap();
    let p = s.a[0].poll_transmit(s.now).unwrap();
    assert_eq!(
        &p[8..12],
        &[0, 0, 0, 0],
        "DATA packets carry a zero checksum"
    );
    s.link.send(s.now, 1, p);
    assert!(s.run_until(Duration::from_secs(600), |s| s.messages(1).len() == 1));
    assert_eq!(s.messages(1)[0].1, vec![1u8; 3000]);
}

/// `packet_with`, but with an all-zero checksum field (RFC 9653).
fn zero_checksum_packet(header: &[u8], chunk: &[u8]) -> Vec<u8> {
    let mut p = header.to_vec();
    p.extend_from_slice(chunk);
    sansrtc_sctp::packet::finish_packet(&mut p, true);
    assert_eq!(&p[8..12], &[0, 0, 0, 0]);
    p
}

/// RFC 9653 5.4: an association that did not announce zero checksum drops (and counts) packets
/// whose checksum field is zero; one that announced it accepts them, but never on an INIT.
#[test]
fn zero_checksum_is_accepted_only_when_announced() {
    use sansrtc_sctp::chunk::chunk_type;
    let hb = [chunk_type::HEARTBEAT, 0, 0, 12, 0, 1, 0, 8, 9, 8, 7, 6];
    let mut offers = Config::default();
    offers.zero_checksum = true;
    // The listener `b` did not offer it (the initiator did): not negotiated.
    let (_a, mut b, header, now) = handshake_pair_with(offers.clone(), Config::default());
    assert!(!b.zero_checksum());
    let before = b.stats();
    for _ in 0..3 {
        b.handle_receive(now, &zero_checksum_packet(&header, &hb));
    }
    assert!(b.poll_transmit(now).is_none(), "no HEARTBEAT-ACK");
    let after = b.stats();
    assert_eq!(
        after.zero_checksum_refused - before.zero_checksum_refused,
        3
    );
    assert_eq!(after.packets_dropped - before.packets_dropped, 3);
    // The same HEARTBEAT with its CRC32c is answered.
    b.handle_receive(now, &packet_with(&header, &hb));
    assert!(b.poll_transmit(now).is_some(), "HEARTBEAT-ACK");

    // Both offered it: a zero checksum is accepted, a wrong non-zero one still is not.
    let (_a, mut b, header, now) = handshake_pair_with(offers.clone(), offers.clone());
    assert!(b.zero_checksum());
    let dropped = b.stats().packets_dropped;
    b.handle_receive(now, &zero_checksum_packet(&header, &hb));
    assert!(b.poll_transmit(now).is_some(), "HEARTBEAT-ACK");
    let mut bad = packet_with(&header, &hb);
    bad[8] ^= 1;
    b.handle_receive(now, &bad);
    assert!(b.poll_transmit(now).is_none());
    assert_eq!(b.stats().zero_checksum_refused, 0);
    assert_eq!(b.stats().packets_dropped - dropped, 1);

    // An INIT must carry its CRC32c even to a listener that offers zero checksum.
    let mut rng = SeededRng::new(79);
    let mut a = Association::new(offers.clone(), now, &mut rng);
    let mut listener = Association::new(offers, now, &mut rng);
    a.connect(now);
    let init = a.poll_transmit(now).unwrap();
    let mut zeroed = init.clone();
    zeroed[8..12].fill(0);
    listener.handle_receive(now, &zeroed);
    assert!(listener.poll_transmit(now).is_none(), "no INIT-ACK");
    assert_eq!(listener.stats().zero_checksum_refused, 1);
    listener.handle_receive(now, &init);
    assert!(listener.poll_transmit(now).is_some(), "INIT-ACK");
}

#[test]
fn a_peer_cannot_make_us_buffer_beyond_the_limit() {
    use sansrtc_sctp::chunk::{Chunk, data_flags, write_data};
    use sansrtc_sctp::packet::SctpPacket;
    let (mut a, mut b, header, now) = handshake_pair();
    // Learn the peer's next TSN from a genuine DATA chunk.
    a.send(now, 0, 53, vec![1u8; 10], SendOptions::default())
        .unwrap();
    let first = a.poll_transmit(now).unwrap();
    let tsn = SctpPacket::parse(&first)
        .unwrap()
        .chunks()
        .find_map(|c| match c {
            Chunk::Data(d) => Some(d.tsn),
            _ => None,
        })
        .unwrap();
    // Never deliver `tsn`; flood with first fragments of messages that never complete, each in
    // its own stream, 1100 bytes at a time: 20 MB in all.
    let window = b.config().receive_window as usize;
    let mut last_rwnd = u32::MAX;
    for i in 1..20_000u32 {
        let mut chunk = Vec::new();
        write_data(
            &mut chunk,
            data_flags::BEGIN,
            tsn.wrapping_add(i),
            (i % 1000) as u16,
            0,
            53,
            &[7u8; 1100],
        );
        b.handle_receive(now, &packet_with(&header, &chunk));
        while let Some(p) = b.poll_transmit(now) {
            for c in SctpPacket::parse(&p).unwrap().chunks() {
                if let Chunk::Sack(s) = c {
                    last_rwnd = s.a_rwnd;
                }
            }
        }
        assert!(
            b.receive_buffered() <= window + window / 4 + 65_536,
            "buffered {} with a window of {window}",
            b.receive_buffered()
        );
    }
    assert_eq!(last_rwnd, 0, "the advertised window closed");
    assert!(b.stats().data_dropped > 0);
    // The association is still healthy: the real first packet gets through and is delivered.
    b.handle_receive(now, &first);
    assert!(matches!(b.poll_event(), Some(Event::Message(m)) if m.data == vec![1u8; 10]));
}

#[test]
fn heartbeats_measure_rtt_and_detect_a_dead_peer() {
    let (mut a, mut b, _, now) = handshake_pair();
    let _ = (a.poll_event(), b.poll_event());
    // Idle for the heartbeat interval: a HEARTBEAT goes out and its ACK is taken.
    let t = now + Duration::from_secs(30);
    assert!(a.poll_timeout().is_some_and(|d| d <= t));
    a.handle_timeout(t);
    let hb = a.poll_transmit(t).expect("HEARTBEAT");
    b.handle_receive(t + Duration::from_millis(50), &hb);
    let ack = b
        .poll_transmit(t + Duration::from_millis(50))
        .expect("HEARTBEAT-ACK");
    a.handle_receive(t + Duration::from_millis(100), &ack);
    assert!(
        a.rto() < Duration::from_millis(1000),
        "RTT measured: {:?}",
        a.rto()
    );
    // The peer goes silent: unanswered heartbeats close the association.
    let mut t = t + Duration::from_millis(100);
    for _ in 0..100 {
        let Some(d) = a.poll_timeout() else { break };
        t = t.max(d);
        a.handle_timeout(t);
        while a.poll_transmit(t).is_some() {}
        if a.state() == State::Closed {
            break;
        }
    }
    assert_eq!(a.state(), State::Closed);
    let mut closed = false;
    while let Some(e) = a.poll_event() {
        closed |= e == Event::Closed(sansrtc_sctp::CloseReason::Timeout);
    }
    assert!(closed);
}

#[test]
fn unknown_init_parameters_are_reported_in_init_ack() {
    use sansrtc_sctp::chunk::{Chunk, InitChunk};
    use sansrtc_sctp::packet::{SctpPacket, begin_packet, finish_packet};
    use sansrtc_sctp::param::{Tlvs, write_tlv};
    let now = Instant::now();
    let mut b = Association::new(Config::default(), now, &mut SeededRng::new(3));
    let mut params = Vec::new();
    write_tlv(&mut params, 0xC000, &[]); // forward-TSN supported
    write_tlv(&mut params, 0xC123, &[1, 2, 3]); // unknown, "skip and report"
    write_tlv(&mut params, 0x8123, &[4]); // unknown, "skip silently"
    let mut out = Vec::new();
    begin_packet(&mut out, 5000, 5000, 0);
    Chunk::Init(InitChunk {
        initiate_tag: 0x1234_5678,
        a_rwnd: 100_000,
        outbound_streams: 10,
        inbound_streams: 10,
        initial_tsn: 1,
        params: Tlvs::parse(&params).unwrap(),
    })
    .write(&mut out);
    finish_packet(&mut out, false);
    b.handle_receive(now, &out);
    let reply = b.poll_transmit(now).expect("INIT-ACK");
    let p = SctpPacket::parse(&reply).unwrap();
    assert_eq!(p.verification_tag(), 0x1234_5678);
    let Some(Chunk::InitAck(ack)) = p.chunks().next() else {
        panic!("expected INIT-ACK")
    };
    let reported: Vec<_> = ack.params.iter().filter(|t| t.kind == 8).collect();
    assert_eq!(reported.len(), 1, "only the 'report' parameter is reported");
    assert_eq!(&reported[0].value[..2], &[0xC1, 0x23]);
    assert!(ack.params.find(7).is_some(), "a state cookie");
    // Still stateless: nothing kept until the cookie comes back.
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn path_mtu_change_mid_transfer() {
    let mut s = Sim::new(21, 0.1, {
        let mut cfg = Config::default();
        cfg.max_retransmits = None;
        cfg
    });
    let t0 = s.now;
    s.a[0].connect(t0);
    s.a[1].connect(t0);
    assert!(s.run_until(Duration::from_secs(60), |s| {
        s.a.iter().all(|a| a.state() == State::Established)
    }));
    let msgs: Vec<Vec<u8>> = (0..20).map(|n| payload(0, n, 20_000)).collect();
    for m in &msgs {
        s.a[0]
            .send(s.now, 0, 53, m.clone(), SendOptions::default())
            .unwrap();
    }
    for _ in 0..5 {
        s.step();
    }
    // The path shrinks: later packets must fit, and everything still arrives.
    s.a[0].set_max_packet_size(600);
    assert!(s.run_until(Duration::from_secs(3600), |s| s.messages(1).len() == 20));
    let got: Vec<Vec<u8>> = s.messages(1).into_iter().map(|m| m.1).collect();
    assert!(got == msgs);
    s.a[0]
        .send(s.now, 0, 53, vec![9u8; 5000], SendOptions::default())
        .unwrap();
    let p = s.a[0].poll_transmit(s.now).unwrap();
    assert!(
        p.len() <= 600,
        "packet of {} bytes after the MTU change",
        p.len()
    );
}

#[test]
fn data_without_user_data_aborts() {
    use sansrtc_sctp::chunk::{Chunk, write_data};
    use sansrtc_sctp::packet::SctpPacket;
    let (_a, mut b, header, now) = handshake_pair();
    let mut chunk = Vec::new();
    write_data(&mut chunk, 3, 1234, 0, 0, 51, &[]);
    b.handle_receive(now, &packet_with(&header, &chunk));
    assert_eq!(b.state(), State::Closed);
    let abort = b.poll_transmit(now).expect("ABORT");
    let p = SctpPacket::parse(&abort).unwrap();
    match p.chunks().next() {
        Some(Chunk::Abort { causes, .. }) => {
            let c = causes.iter().next().unwrap();
            assert_eq!((c.kind, c.value), (9, &1234u32.to_be_bytes()[..]));
        }
        other => panic!("expected ABORT, got {other:?}"),
    }
}

/// The first TSN of the next DATA packet `a` sends (a genuine one, to learn its TSN).
fn first_tsn(p: &[u8]) -> u32 {
    use sansrtc_sctp::chunk::Chunk;
    sansrtc_sctp::packet::SctpPacket::parse(p)
        .unwrap()
        .chunks()
        .find_map(|c| match c {
            Chunk::Data(d) => Some(d.tsn),
            _ => None,
        })
        .unwrap()
}

/// Stream ids at or above the negotiated count (the smaller of our inbound and the peer's
/// outbound streams) create no state: DATA on them is acknowledged, dropped, counted and
/// answered with an "Invalid Stream Identifier" error (RFC 9260 6.5); we do not send on them.
#[test]
fn streams_beyond_the_negotiated_count_are_refused() {
    use sansrtc_sctp::chunk::{Chunk, data_flags, write_data};
    use sansrtc_sctp::packet::SctpPacket;
    let mut few = Config::default();
    few.streams = 16;
    let (mut a, mut b, header, now) = handshake_pair_with(Config::default(), few);
    assert_eq!((a.outbound_streams(), a.inbound_streams()), (16, 16));
    assert_eq!((b.outbound_streams(), b.inbound_streams()), (16, 16));
    // We do not send on a stream the peer did not grant.
    assert_eq!(
        a.send(now, 16, 53, vec![1u8], SendOptions::default()),
        Err(sansrtc_sctp::SendError::NotOpen(16))
    );
    a.send(now, 15, 53, vec![1u8], SendOptions::default())
        .unwrap();
    let first = a.poll_transmit(now).unwrap();
    let tsn = first_tsn(&first);
    b.handle_receive(now, &first);
    // A hostile peer sends on streams 16 and 1000 anyway: a whole message and a fragment.
    let mut chunks = Vec::new();
    let be = data_flags::BEGIN | data_flags::END;
    write_data(
        &mut chunks,
        be,
        tsn.wrapping_add(1),
        16,
        0,
        50,
        &[3, 0, 0, 0],
    );
    write_data(
        &mut chunks,
        data_flags::BEGIN,
        tsn.wrapping_add(2),
        1000,
        0,
        53,
        &[9; 40],
    );
    write_data(&mut chunks, be, tsn.wrapping_add(3), 15, 1, 53, b"ok");
    b.handle_receive(now, &packet_with(&header, &chunks));
    let mut got = Vec::new();
    while let Some(e) = b.poll_event() {
        if let Event::Message(m) = e {
            got.push((m.stream_id, m.data));
        }
    }
    assert_eq!(got, vec![(15, vec![1u8]), (15, b"ok".to_vec())]);
    assert_eq!(b.stats().invalid_stream_data, 2);
    assert_eq!(
        b.receive_buffered(),
        0,
        "nothing kept for the invalid streams"
    );
    // The TSNs are acknowledged (the peer must not retransmit them) and each invalid stream
    // is reported.
    let mut errors = Vec::new();
    let mut cum = None;
    while let Some(p) = b.poll_transmit(now) {
        for c in SctpPacket::parse(&p).unwrap().chunks() {
            match c {
                Chunk::Sack(s) => cum = Some(s.cum_tsn_ack),
                Chunk::Error(causes) => {
                    for cause in causes.iter() {
                        errors.push((cause.kind, cause.value.to_vec()));
                    }
                }
                _ => {}
            }
        }
    }
    assert_eq!(cum, Some(tsn.wrapping_add(3)));
    assert_eq!(
        errors,
        vec![(1, vec![0, 16, 0, 0]), (1, vec![0x03, 0xE8, 0, 0])]
    );
}

/// Replies the peer asks for (HEARTBEAT-ACKs, ERROR reports, RE-CONFIG responses, INIT-ACKs)
/// cannot pile up: what waits for sending stays within a packet's worth (plus a few whole
/// control packets), every packet fits `max_packet_size`, and the excess is counted.
#[test]
fn replies_to_the_peer_are_bounded() {
    use sansrtc_sctp::chunk::{Chunk, InitChunk, chunk_type, write_tlv_chunk};
    use sansrtc_sctp::packet::SctpPacket;
    use sansrtc_sctp::param::{Tlvs, write_outgoing_reset};
    let (_a, mut b, header, now) = handshake_pair();
    let mtu = b.config().max_packet_size;
    let drain = |b: &mut Association| -> Vec<Vec<u8>> {
        std::iter::from_fn(|| b.poll_transmit(now)).collect()
    };
    let count = |packets: &[Vec<u8>], ty: u8| -> usize {
        packets
            .iter()
            .map(|p| {
                SctpPacket::parse(p)
                    .unwrap()
                    .chunks()
                    .filter(|c| c.chunk_type() == ty)
                    .count()
            })
            .sum()
    };
    // Heartbeats, 50 to a packet, 10 packets before we get to send.
    let hb = [chunk_type::HEARTBEAT, 0, 0, 12, 0, 1, 0, 8, 9, 8, 7, 6];
    for _ in 0..10 {
        b.handle_receive(now, &packet_with(&header, &hb.repeat(50)));
    }
    let out = drain(&mut b);
    assert!(out.iter().all(|p| p.len() <= mtu));
    let acks = count(&out, chunk_type::HEARTBEAT_ACK);
    assert!(acks > 10 && acks < 100, "{acks} HEARTBEAT-ACKs");
    assert_eq!(b.stats().replies_dropped, 500 - acks as u64);
    // RE-CONFIG requests with wrong sequence numbers, each answered with an error response.
    let mut body = Vec::new();
    for seq in 0..300u32 {
        write_outgoing_reset(&mut body, seq.wrapping_mul(7919), 0, 0, &[1]);
    }
    let mut chunk = Vec::new();
    write_tlv_chunk(&mut chunk, chunk_type::RE_CONFIG, 0, |o| {
        o.extend_from_slice(&body)
    });
    b.handle_receive(now, &packet_with(&header, &chunk));
    let out = drain(&mut b);
    assert_eq!(count(&out, chunk_type::RE_CONFIG), 1);
    assert!(
        out.iter().all(|p| p.len() <= mtu),
        "{:?}",
        out.iter().map(|p| p.len()).collect::<Vec<_>>()
    );
    assert!(b.stats().replies_dropped >= 500 - acks as u64 + 300 - 16);
    // INITs (verification tag 0) answered statelessly with INIT-ACKs, 1000 before we send.
    let mut init = Vec::new();
    sansrtc_sctp::packet::begin_packet(&mut init, 5000, 5000, 0);
    let params = Vec::new();
    Chunk::Init(InitChunk {
        initiate_tag: 99,
        a_rwnd: 1 << 20,
        outbound_streams: 16,
        inbound_streams: 16,
        initial_tsn: 1,
        params: Tlvs::parse(&params).unwrap(),
    })
    .write(&mut init);
    sansrtc_sctp::packet::finish_packet(&mut init, false);
    for _ in 0..1000 {
        b.handle_receive(now, &init);
    }
    let out = drain(&mut b);
    let init_acks = count(&out, chunk_type::INIT_ACK);
    assert!(
        (1..=16).contains(&init_acks),
        "{init_acks} INIT-ACKs queued"
    );
    assert_eq!(b.state(), State::Established);
}
