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
    let config = Config {
        max_retransmits: None,
        max_message_size: 1 << 20,
        ..Config::default()
    };
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
    let mut s = Sim::new(
        9,
        0.3,
        Config {
            max_retransmits: None,
            ..Config::default()
        },
    );
    let t0 = s.now;
    s.a[0].connect(t0);
    s.a[1].connect(t0);
    assert!(s.run_until(Duration::from_secs(60), |s| {
        s.a.iter().all(|a| a.state() == State::Established)
    }));
    let opts = SendOptions {
        unordered: false,
        reliability: Reliability::MaxRetransmits(0),
    };
    for n in 0..200 {
        s.a[0]
            .send(s.now, 1, 53, payload(1, n, 100 + n), opts)
            .unwrap();
    }
    // A reliable marker after them must still arrive, and everything must settle.
    s.a[0]
        .send(s.now, 2, 53, &b"end"[..], SendOptions::default())
        .unwrap();
    assert!(s.run_until(Duration::from_secs(600), |s| {
        s.messages(1).iter().any(|m| m.1 == b"end")
    }));
    let got: Vec<_> = s.messages(1).into_iter().filter(|m| m.0 == 1).collect();
    assert!(
        got.len() < 200,
        "with 30% loss and no retransmissions some must be lost: {} {:?}",
        got.len(),
        s.a[0].stats()
    );
    assert!(got.len() > 60);
    // In order, no duplicates: each message's length identifies it.
    let lens: Vec<usize> = got.iter().map(|m| m.1.len()).collect();
    assert!(lens.windows(2).all(|w| w[0] < w[1]));
    assert!(s.a[0].stats().messages_abandoned > 0);
}
