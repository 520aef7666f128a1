//! A simulated link for tests: loss, duplication, delay and jitter (which reorders).
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sansrtc_sctp::{Rng, SeededRng};

pub mod endpoints;

pub struct Link {
    pub rng: SeededRng,
    pub loss: f64,
    pub dup: f64,
    pub delay: Duration,
    pub jitter: Duration,
    /// (arrival time, sequence, destination index, bytes)
    pub queue: BTreeMap<(Instant, u64), (usize, Vec<u8>)>,
    pub seq: u64,
}

impl Link {
    pub fn chance(&mut self, p: f64) -> bool {
        (self.rng.next_u64() as f64 / u64::MAX as f64) < p
    }
    pub fn send(&mut self, now: Instant, to: usize, bytes: Vec<u8>) {
        if self.chance(self.loss) {
            return;
        }
        let copies = if self.chance(self.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let j = if self.jitter.is_zero() {
                Duration::ZERO
            } else {
                Duration::from_micros(self.rng.next_u64() % self.jitter.as_micros() as u64)
            };
            self.seq += 1;
            self.queue
                .insert((now + self.delay + j, self.seq), (to, bytes.clone()));
        }
    }
}

impl Link {
    /// A link with the given loss rate, a third of that duplication, 20 ms delay and 15 ms jitter.
    pub fn new(seed: u64, loss: f64) -> Link {
        Link {
            rng: SeededRng::new(seed ^ 0xABCD),
            loss,
            dup: loss / 3.0,
            delay: Duration::from_millis(20),
            jitter: Duration::from_millis(15),
            queue: BTreeMap::new(),
            seq: 0,
        }
    }
}
