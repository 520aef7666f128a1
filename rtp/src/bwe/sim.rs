//! A deterministic network link simulator for testing congestion control without sockets or
//! clocks: a bottleneck of a given (steppable) capacity behind a drop-tail queue, then
//! propagation delay, jitter, random loss and burst (Gilbert-Elliott) loss, all driven by a
//! seeded generator so every run repeats exactly.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sansrtc_rtp::bwe::sim::{Link, LinkConfig};
//!
//! let start = Instant::now();
//! let mut link = Link::new(LinkConfig {
//!     capacity_bps: 1_000_000,
//!     propagation: Duration::from_millis(20),
//!     ..LinkConfig::default()
//! }, 7);
//! link.send(start, 1250, 1); // 10 ms of serialization at 1 Mbit/s
//! let at = link.poll_timeout().unwrap();
//! assert_eq!(at, start + Duration::from_millis(30));
//! let d = link.poll_delivered(at).unwrap();
//! assert_eq!((d.id, d.size), (1, 1250));
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sansrtc_core::{Rng, SeededRng};

/// Burst loss as a two-state (Gilbert-Elliott) Markov chain, stepped once per packet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BurstLoss {
    /// Probability of moving from the good to the bad state, per packet.
    pub good_to_bad: f64,
    /// Probability of moving from the bad to the good state, per packet.
    pub bad_to_good: f64,
    /// Loss probability while in the bad state.
    pub loss_in_bad: f64,
}

/// The parameters of a [`Link`].
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// Bottleneck capacity in bits per second (at least 1).
    pub capacity_bps: u64,
    /// Drop-tail queue size in bytes: a packet that would make the waiting bytes exceed it is
    /// dropped.
    pub queue_bytes: usize,
    /// One-way propagation delay added after the bottleneck.
    pub propagation: Duration,
    /// Extra delay drawn uniformly from `0..=jitter` per packet (order is kept: a packet never
    /// overtakes an earlier one).
    pub jitter: Duration,
    /// Independent random loss probability per packet (before the queue).
    pub loss: f64,
    /// Optional burst loss on top of `loss`.
    pub burst: Option<BurstLoss>,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            capacity_bps: 2_500_000,
            queue_bytes: 100_000,
            propagation: Duration::from_millis(25),
            jitter: Duration::ZERO,
            loss: 0.0,
            burst: None,
        }
    }
}

/// A packet that came out of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// The caller's id given to [`Link::send`].
    pub id: u64,
    /// Its size in bytes.
    pub size: usize,
    /// When it was sent.
    pub sent: Instant,
    /// When it arrives at the far end.
    pub arrival: Instant,
    /// How long it waited in the bottleneck queue (before its own serialization).
    pub queue_delay: Duration,
}

/// Why [`Link::send`] did not accept a packet for delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendOutcome {
    /// Queued; it will be delivered.
    Queued,
    /// Lost by the random or burst loss model.
    Lost,
    /// Dropped because the queue was full.
    QueueFull,
}

/// Counters of a [`Link`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Packets given to [`Link::send`].
    pub sent: u64,
    /// Packets lost by the loss models.
    pub lost: u64,
    /// Packets dropped by the full queue.
    pub queue_drops: u64,
    /// Packets delivered so far.
    pub delivered: u64,
    /// Bytes delivered so far.
    pub delivered_bytes: u64,
}

/// Uniform in `[0, 1)` from the shared seeded generator.
fn next_f64(rng: &mut SeededRng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Debug, Clone)]
struct Waiting {
    id: u64,
    size: usize,
    sent: Instant,
}

/// A simulated one-way path: bottleneck queue, then propagation.
#[derive(Debug, Clone)]
pub struct Link {
    config: LinkConfig,
    rng: SeededRng,
    bad_state: bool,
    /// Packets waiting for the bottleneck, not yet in service.
    queue: VecDeque<Waiting>,
    queued_bytes: usize,
    /// When the packet in service (if any) finishes serialization.
    busy_until: Option<Instant>,
    /// Packets past the bottleneck, in delivery order.
    in_flight: VecDeque<Delivered>,
    last_arrival: Option<Instant>,
    stats: LinkStats,
}

impl Link {
    /// A link with `config`, its random draws seeded by `seed`.
    pub fn new(config: LinkConfig, seed: u64) -> Self {
        Link {
            config,
            rng: SeededRng::new(seed),
            bad_state: false,
            queue: VecDeque::new(),
            queued_bytes: 0,
            busy_until: None,
            in_flight: VecDeque::new(),
            last_arrival: None,
            stats: LinkStats::default(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// The counters so far.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }

    /// Changes the capacity from `now` on (packets already in service keep their timing).
    pub fn set_capacity(&mut self, now: Instant, capacity_bps: u64) {
        self.advance(now);
        self.config.capacity_bps = capacity_bps;
    }

    /// Changes the random loss probability from `now` on.
    pub fn set_loss(&mut self, loss: f64) {
        self.config.loss = loss;
    }

    fn serialization(&self, size: usize) -> Duration {
        let bits = size as u128 * 8;
        let nanos = bits * 1_000_000_000 / self.config.capacity_bps.max(1) as u128;
        Duration::from_nanos(nanos.min(u64::MAX as u128) as u64)
    }

    /// Moves packets whose service starts by `now` through the bottleneck.
    fn advance(&mut self, now: Instant) {
        loop {
            let free_at = self.busy_until.unwrap_or(now);
            let Some(head) = self.queue.front() else {
                break;
            };
            let start = free_at.max(head.sent);
            if start > now {
                break;
            }
            let Some(head) = self.queue.pop_front() else {
                break;
            };
            self.queued_bytes -= head.size;
            let done = start + self.serialization(head.size);
            self.busy_until = Some(done);
            let jitter = if self.config.jitter.is_zero() {
                Duration::ZERO
            } else {
                self.config.jitter.mul_f64(next_f64(&mut self.rng))
            };
            let mut arrival = done + self.config.propagation + jitter;
            if let Some(last) = self.last_arrival {
                arrival = arrival.max(last);
            }
            self.last_arrival = Some(arrival);
            self.in_flight.push_back(Delivered {
                id: head.id,
                size: head.size,
                sent: head.sent,
                arrival,
                queue_delay: start - head.sent,
            });
        }
        if self.busy_until.is_some_and(|b| b <= now) && self.queue.is_empty() {
            self.busy_until = None;
        }
    }

    fn draw_loss(&mut self) -> bool {
        let mut lost = self.config.loss > 0.0 && next_f64(&mut self.rng) < self.config.loss;
        if let Some(burst) = self.config.burst {
            let flip = next_f64(&mut self.rng);
            self.bad_state = if self.bad_state {
                flip >= burst.bad_to_good
            } else {
                flip < burst.good_to_bad
            };
            if self.bad_state && next_f64(&mut self.rng) < burst.loss_in_bad {
                lost = true;
            }
        }
        lost
    }

    /// Offers a packet of `size` bytes at `now` (calls must come in time order).
    pub fn send(&mut self, now: Instant, size: usize, id: u64) -> SendOutcome {
        self.advance(now);
        self.stats.sent += 1;
        if self.draw_loss() {
            self.stats.lost += 1;
            return SendOutcome::Lost;
        }
        if self.queued_bytes + size > self.config.queue_bytes {
            self.stats.queue_drops += 1;
            return SendOutcome::QueueFull;
        }
        self.queued_bytes += size;
        self.queue.push_back(Waiting {
            id,
            size,
            sent: now,
        });
        self.advance(now);
        SendOutcome::Queued
    }

    /// The next packet that has arrived by `now`, if any.
    pub fn poll_delivered(&mut self, now: Instant) -> Option<Delivered> {
        self.advance(now);
        if self.in_flight.front()?.arrival <= now {
            let d = self.in_flight.pop_front()?;
            self.stats.delivered += 1;
            self.stats.delivered_bytes += d.size as u64;
            return Some(d);
        }
        None
    }

    /// When [`Link::poll_delivered`] should be called next (`None` when nothing is under way).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let flight = self.in_flight.front().map(|d| d.arrival);
        let service = self.queue.front().map(|w| match self.busy_until {
            Some(b) => b.max(w.sent),
            None => w.sent,
        });
        match (flight, service) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Bytes waiting in the bottleneck queue (not counting the packet in service).
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    /// How long a packet sent at `now` would wait before its serialization starts.
    pub fn queue_delay(&mut self, now: Instant) -> Duration {
        self.advance(now);
        let busy = self
            .busy_until
            .map_or(Duration::ZERO, |b| b.saturating_duration_since(now));
        busy + self.serialization(self.queued_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn drain(link: &mut Link, until: Instant) -> Vec<Delivered> {
        let mut out = Vec::new();
        while let Some(at) = link.poll_timeout() {
            if at > until {
                break;
            }
            while let Some(d) = link.poll_delivered(at) {
                out.push(d);
            }
        }
        out
    }

    #[test]
    fn serializes_at_capacity_and_queues() {
        let t0 = Instant::now();
        let mut link = Link::new(
            LinkConfig {
                capacity_bps: 1_000_000,
                propagation: ms(10),
                ..LinkConfig::default()
            },
            1,
        );
        for i in 0..3 {
            assert_eq!(link.send(t0, 1250, i), SendOutcome::Queued);
        }
        // two packets wait behind the first: 20 ms of queue
        assert_eq!(link.queue_delay(t0), ms(30));
        let got = drain(&mut link, t0 + ms(100));
        let arrivals: Vec<_> = got.iter().map(|d| d.arrival - t0).collect();
        assert_eq!(arrivals, vec![ms(20), ms(30), ms(40)]);
        assert_eq!(got[2].queue_delay, ms(20));
        assert_eq!(link.queue_delay(t0 + ms(100)), Duration::ZERO);
    }

    #[test]
    fn drop_tail() {
        let t0 = Instant::now();
        let mut link = Link::new(
            LinkConfig {
                capacity_bps: 1_000_000,
                queue_bytes: 3000,
                ..LinkConfig::default()
            },
            1,
        );
        // the first goes straight into service; two more fit the queue; the fourth does not
        let outcomes: Vec<_> = (0..4).map(|i| link.send(t0, 1200, i)).collect();
        assert_eq!(outcomes[..3], [SendOutcome::Queued; 3]);
        assert_eq!(outcomes[3], SendOutcome::QueueFull);
        assert_eq!(link.stats().queue_drops, 1);
    }

    #[test]
    fn capacity_step_applies_to_later_service() {
        let t0 = Instant::now();
        let mut link = Link::new(
            LinkConfig {
                capacity_bps: 1_000_000,
                propagation: Duration::ZERO,
                ..LinkConfig::default()
            },
            1,
        );
        link.send(t0, 1250, 0);
        link.send(t0, 1250, 1);
        link.set_capacity(t0 + ms(5), 500_000);
        let got = drain(&mut link, t0 + ms(100));
        assert_eq!(got[0].arrival - t0, ms(10));
        assert_eq!(got[1].arrival - t0, ms(30));
    }

    #[test]
    fn random_loss_rate_and_determinism() {
        let t0 = Instant::now();
        let run = |seed| {
            let mut link = Link::new(
                LinkConfig {
                    capacity_bps: 1_000_000_000,
                    loss: 0.1,
                    ..LinkConfig::default()
                },
                seed,
            );
            (0..10_000u64)
                .map(|i| link.send(t0 + Duration::from_micros(i * 100), 100, i))
                .filter(|o| *o == SendOutcome::Lost)
                .count()
        };
        let lost = run(3);
        assert!((900..1100).contains(&lost), "{lost}");
        assert_eq!(run(3), lost);
        assert_ne!(run(4), lost);
    }

    #[test]
    fn burst_loss_clusters() {
        let t0 = Instant::now();
        let mut link = Link::new(
            LinkConfig {
                capacity_bps: 1_000_000_000,
                burst: Some(BurstLoss {
                    good_to_bad: 0.01,
                    bad_to_good: 0.2,
                    loss_in_bad: 1.0,
                }),
                ..LinkConfig::default()
            },
            9,
        );
        let lost: Vec<bool> = (0..20_000u64)
            .map(|i| link.send(t0 + Duration::from_micros(i * 100), 100, i) == SendOutcome::Lost)
            .collect();
        let losses = lost.iter().filter(|l| **l).count();
        let runs = lost.windows(2).filter(|w| w[1] && !w[0]).count();
        // stationary bad probability 0.01 / 0.21 (about 4.8 %), mean burst 5 packets
        assert!((600..1400).contains(&losses), "{losses}");
        assert!(losses as f64 / runs as f64 > 3.0, "{losses} in {runs} runs");
    }

    #[test]
    fn jitter_keeps_order() {
        let t0 = Instant::now();
        let mut link = Link::new(
            LinkConfig {
                capacity_bps: 100_000_000,
                jitter: ms(20),
                ..LinkConfig::default()
            },
            5,
        );
        for i in 0..200 {
            link.send(t0 + ms(i), 1000, i);
        }
        let got = drain(&mut link, t0 + ms(1000));
        assert_eq!(got.len(), 200);
        assert!(
            got.windows(2)
                .all(|w| w[0].id < w[1].id && w[0].arrival <= w[1].arrival)
        );
        assert!(got.iter().any(|d| d.arrival - d.sent > ms(35)));
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_traffic_is_delivered_in_order_or_accounted(
            sends in prop::collection::vec((0u64..20_000, 1usize..3000), 1..300),
            capacity in 1u64..100_000_000,
            queue in 0usize..200_000,
            loss in 0.0f64..1.0,
            seed in any::<u64>(),
        ) {
            let t0 = Instant::now();
            let mut link = Link::new(LinkConfig {
                capacity_bps: capacity,
                queue_bytes: queue,
                jitter: ms(5),
                loss,
                ..LinkConfig::default()
            }, seed);
            let mut now = t0;
            let mut got = Vec::new();
            for (i, (wait, size)) in sends.into_iter().enumerate() {
                now += Duration::from_micros(wait);
                link.send(now, size, i as u64);
                prop_assert!(link.queued_bytes() <= queue);
                while let Some(d) = link.poll_delivered(now) {
                    prop_assert!(d.arrival <= now && d.arrival >= d.sent);
                    got.push(d.id);
                }
            }
            prop_assert!(got.windows(2).all(|w| w[0] < w[1]));
            let s = link.stats();
            prop_assert!(s.delivered + s.lost + s.queue_drops <= s.sent);
        }
    }
}
