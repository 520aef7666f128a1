//! AIMD rate control driven by the overuse detector: a fast startup phase until the first
//! congestion signal, then multiplicative increase far from the last congestion point, additive
//! increase near it, and a decrease to a fraction of the acknowledged rate on overuse.

use std::time::{Duration, Instant};

use super::delay::BandwidthUsage;

/// Growth per second back towards the learned capacity after a deep decrease.
const RECOVERY_GAIN: f64 = 1.3;
/// Growth per second with no learned capacity (after startup, or once the rate passed the
/// learned capacity without congestion: the link grew). GCC suggests 1.08; faster finds a
/// grown link sooner, and the queue-delay trigger stops the overshoot early.
const FAR_GAIN: f64 = 1.15;
/// Recovery ends at this fraction of the learned capacity; additive increase (which evens out
/// flows sharing a bottleneck) covers the rest.
const RECOVERY_UNTIL: f64 = 0.9;
/// Queueing delay tolerated without draining.
const QUEUE_ALLOWANCE: Duration = Duration::from_millis(10);
/// A standing queue found at a decrease is drained within this time.
const DRAIN_TIME: Duration = Duration::from_millis(500);
/// A decrease never goes below this fraction of the acknowledged rate.
const MIN_DECREASE: f64 = 0.35;

/// What the rate controller did last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AimdAction {
    /// Nothing yet.
    Initial,
    /// Fast growth before the first congestion signal.
    Startup,
    /// Multiplicative increase (far from the last congestion point).
    Increase,
    /// Additive increase (near the last congestion point).
    NearCapacity,
    /// Fast return towards the capacity learned at the last congestion point.
    Recovery,
    /// Raised to a probe's measured rate.
    Probe,
    /// Holding while the queue drains.
    Hold,
    /// Decreased on overuse.
    Decrease,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Hold,
    Increase,
    Decrease,
}

/// Running estimate of the link capacity seen at congestion points (kbit/s).
#[derive(Debug, Clone, Copy)]
struct LinkCapacity {
    mean: f64,
    var: f64,
}

impl LinkCapacity {
    fn deviation(&self) -> f64 {
        (self.var * self.mean).max(0.0).sqrt()
    }
    fn upper(&self) -> f64 {
        self.mean + 3.0 * self.deviation()
    }
    fn lower(&self) -> f64 {
        self.mean - 3.0 * self.deviation()
    }
}

/// The AIMD controller (rates in bits per second).
#[derive(Debug, Clone)]
pub(crate) struct Aimd {
    rate: f64,
    min: f64,
    max: f64,
    state: State,
    startup: bool,
    startup_gain: f64,
    beta: f64,
    last_update: Option<Instant>,
    last_decrease: Option<Instant>,
    capacity: Option<LinkCapacity>,
    action: AimdAction,
}

impl Aimd {
    pub(crate) fn new(start: f64, min: f64, max: f64, startup_gain: f64, beta: f64) -> Self {
        Aimd {
            rate: start.clamp(min, max),
            min,
            max,
            state: State::Hold,
            startup: true,
            startup_gain,
            beta,
            last_update: None,
            last_decrease: None,
            capacity: None,
            action: AimdAction::Initial,
        }
    }

    pub(crate) fn rate(&self) -> f64 {
        self.rate
    }

    pub(crate) fn action(&self) -> AimdAction {
        self.action
    }

    /// Raises the rate to a probe's measurement (never lowers it).
    pub(crate) fn on_probe(&mut self, rate: f64) {
        if rate > self.rate {
            self.rate = rate.clamp(self.min, self.max);
            self.action = AimdAction::Probe;
        }
    }

    /// Ends the startup phase (e.g. on a loss-based decrease).
    pub(crate) fn end_startup(&mut self) {
        self.startup = false;
    }

    /// Whether the controller may decrease again now (once per round trip, at most every
    /// 200 ms, sooner if the acknowledged rate collapsed).
    fn may_decrease(&self, now: Instant, rtt: Duration, acked: Option<f64>) -> bool {
        let interval = rtt.clamp(Duration::from_millis(10), Duration::from_millis(200));
        match self.last_decrease {
            None => true,
            Some(t) => {
                now.saturating_duration_since(t) >= interval
                    || acked.is_some_and(|a| a < 0.5 * self.rate)
            }
        }
    }

    /// Applies one detector verdict at `now`.
    pub(crate) fn update(
        &mut self,
        now: Instant,
        usage: BandwidthUsage,
        acked: Option<f64>,
        rtt: Duration,
        queue_delay: Duration,
    ) {
        let dt = self
            .last_update
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t))
            .min(Duration::from_secs(1))
            .as_secs_f64();
        self.last_update = Some(now);
        match usage {
            BandwidthUsage::Overuse => {
                if self.may_decrease(now, rtt, acked) {
                    self.state = State::Decrease;
                } else {
                    return;
                }
            }
            BandwidthUsage::Underuse => self.state = State::Hold,
            BandwidthUsage::Normal => {
                if self.state != State::Increase {
                    self.state = State::Increase;
                    // start measuring the increase from now
                    return;
                }
            }
        }
        match self.state {
            State::Hold => self.action = AimdAction::Hold,
            State::Increase => self.increase(dt, acked, rtt),
            State::Decrease => self.decrease(now, acked, queue_delay),
        }
        self.rate = self.rate.clamp(self.min, self.max);
    }

    fn increase(&mut self, dt: f64, acked: Option<f64>, rtt: Duration) {
        let kbps = self.rate / 1000.0;
        if self.capacity.is_some_and(|c| kbps > c.upper()) {
            // the link grew beyond what we learned: forget it
            self.capacity = None;
        }
        let mut next = if self.startup {
            self.action = AimdAction::Startup;
            self.rate * self.startup_gain.powf(dt)
        } else if self
            .capacity
            .is_some_and(|c| kbps < RECOVERY_UNTIL * c.mean.min(c.lower()))
        {
            // well below what the link carried at the last congestion point: come back fast
            self.action = AimdAction::Recovery;
            self.rate * RECOVERY_GAIN.powf(dt)
        } else if self.capacity.is_some() {
            self.action = AimdAction::NearCapacity;
            // about one packet per response time
            let response = (rtt + Duration::from_millis(100)).as_secs_f64();
            let per_second = (1200.0 * 8.0 / response).max(4000.0);
            self.rate + per_second * dt
        } else {
            self.action = AimdAction::Increase;
            (self.rate * FAR_GAIN.powf(dt)).max(self.rate + 1000.0 * dt)
        };
        if let Some(a) = acked {
            // never run far ahead of what actually gets through
            let cap = 1.5 * a + 10_000.0;
            if next > cap {
                next = cap.max(self.rate);
            }
        }
        self.rate = next;
    }

    fn decrease(&mut self, now: Instant, acked: Option<f64>, queue_delay: Duration) {
        let base = acked.unwrap_or(self.rate);
        // beyond a small allowance, also drain the standing queue within DRAIN_TIME
        let standing = queue_delay.saturating_sub(QUEUE_ALLOWANCE).as_secs_f64();
        let drain = base * standing / DRAIN_TIME.as_secs_f64();
        let mut next = (self.beta * base - drain).max(MIN_DECREASE * base);
        if next > self.rate {
            if let Some(c) = self.capacity {
                next = self.beta * c.mean * 1000.0;
            }
            next = next.min(self.rate);
        }
        if let Some(a) = acked {
            self.learn_capacity(a / 1000.0);
        }
        self.rate = next;
        self.startup = false;
        self.last_decrease = Some(now);
        self.state = State::Hold;
        self.action = AimdAction::Decrease;
    }

    fn learn_capacity(&mut self, sample_kbps: f64) {
        const ALPHA: f64 = 0.05;
        let c = match self.capacity {
            Some(c) if sample_kbps >= c.lower() && sample_kbps <= c.upper() => c,
            // far off (or first): start over from this sample
            _ => LinkCapacity {
                mean: sample_kbps,
                var: 0.4,
            },
        };
        let mean = (1.0 - ALPHA) * c.mean + ALPHA * sample_kbps;
        let norm = mean.max(1.0);
        let err = mean - sample_kbps;
        let var = ((1.0 - ALPHA) * c.var + ALPHA * err * err / norm).clamp(0.4, 2.5);
        self.capacity = Some(LinkCapacity { mean, var });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT: Duration = Duration::from_millis(50);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn startup_grows_fast_then_decrease_uses_acked() {
        let t0 = Instant::now();
        let mut a = Aimd::new(300_000.0, 30_000.0, 10_000_000.0, 3.0, 0.85);
        for i in 0..=20 {
            a.update(
                t0 + ms(i * 50),
                BandwidthUsage::Normal,
                None,
                RTT,
                Duration::ZERO,
            );
        }
        // about one second of startup at 3x per second (the first update only arms it)
        assert!(
            a.rate() > 800_000.0 && a.rate() < 1_000_000.0,
            "{}",
            a.rate()
        );
        assert_eq!(a.action(), AimdAction::Startup);
        a.update(
            t0 + ms(1100),
            BandwidthUsage::Overuse,
            Some(700_000.0),
            RTT,
            Duration::ZERO,
        );
        assert_eq!(a.rate(), 0.85 * 700_000.0);
        assert_eq!(a.action(), AimdAction::Decrease);
        // a second overuse right away is ignored (once per round trip)
        a.update(
            t0 + ms(1110),
            BandwidthUsage::Overuse,
            Some(500_000.0),
            RTT,
            Duration::ZERO,
        );
        assert_eq!(a.rate(), 0.85 * 700_000.0);
    }

    #[test]
    fn additive_near_capacity_multiplicative_far() {
        let t0 = Instant::now();
        let mut a = Aimd::new(1_000_000.0, 30_000.0, 10_000_000.0, 3.0, 0.85);
        a.update(
            t0,
            BandwidthUsage::Overuse,
            Some(1_000_000.0),
            RTT,
            Duration::ZERO,
        );
        let after = a.rate();
        let mut t = t0;
        for _ in 0..21 {
            t += ms(50);
            a.update(t, BandwidthUsage::Normal, Some(after), RTT, Duration::ZERO);
        }
        assert_eq!(a.action(), AimdAction::NearCapacity);
        // about 64 kbit/s per second near capacity
        let near = a.rate() - after;
        assert!(near > 40_000.0 && near < 90_000.0, "{near}");
    }

    #[test]
    fn increase_is_capped_by_acked_rate() {
        let t0 = Instant::now();
        let mut a = Aimd::new(1_000_000.0, 30_000.0, 10_000_000.0, 3.0, 0.85);
        for i in 0..40 {
            a.update(
                t0 + ms(i * 50),
                BandwidthUsage::Normal,
                Some(200_000.0),
                RTT,
                Duration::ZERO,
            );
        }
        // already above 1.5 x acked: held where it was, never raised
        assert_eq!(a.rate(), 1_000_000.0);
    }

    #[test]
    fn bounds_hold() {
        let t0 = Instant::now();
        let mut a = Aimd::new(300_000.0, 100_000.0, 400_000.0, 3.0, 0.85);
        for i in 0..100 {
            a.update(
                t0 + ms(i * 100),
                BandwidthUsage::Normal,
                None,
                RTT,
                Duration::ZERO,
            );
        }
        assert_eq!(a.rate(), 400_000.0);
        for i in 0..100 {
            a.update(
                t0 + ms(20_000 + i * 300),
                BandwidthUsage::Overuse,
                Some(1.0),
                RTT,
                Duration::ZERO,
            );
        }
        assert_eq!(a.rate(), 100_000.0);
    }
}
