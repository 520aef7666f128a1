//! Loss-based control (draft-ietf-rmcat-gcc-02 section 6): over windows of reported packets,
//! more than 10 % loss cuts the cap by half the loss fraction, 2-10 % holds it, under 2 % lets it
//! grow until it no longer constrains the delay-based estimate.

use std::time::{Duration, Instant};

/// Packets a loss window must cover before it is judged (so a few random losses in a small
/// sample do not read as 10 %)...
const WINDOW_PACKETS: u32 = 100;
/// ...and the time it must span (so one loss burst is not the whole sample).
const WINDOW_MIN_TIME: Duration = Duration::from_millis(500);
/// A window also closes after this long if it has at least `MIN_PACKETS`.
const WINDOW_TIME: Duration = Duration::from_secs(2);
const MIN_PACKETS: u32 = 20;
/// Growth per second of the cap while loss is between 2 and 10 %: GCC holds it there, which
/// under random or bursty loss ratchets the cap down one unlucky window at a time; slow growth
/// lets it come back, and real congestion loss above 10 % cuts it again.
const HOLD_GAIN: f64 = 1.02;
/// Below this queueing delay the path shows no queue: losses are more likely random (radio,
/// bursts) than congestion, and only loss above `NO_QUEUE_LOSS` cuts the cap (a policer that
/// drops without queueing still shows as heavy loss when overrun).
const NO_QUEUE: Duration = Duration::from_millis(10);
const NO_QUEUE_LOSS: f64 = 0.2;

/// The loss-based cap (bits per second).
#[derive(Debug, Clone, Default)]
pub(crate) struct LossControl {
    /// `None` while loss does not constrain the rate.
    cap: Option<f64>,
    received: u32,
    lost: u32,
    window_start: Option<Instant>,
    last_decrease: Option<Instant>,
    last_increase: Option<Instant>,
    last_fraction: f64,
}

impl LossControl {
    /// The cap, if loss constrains the rate.
    pub(crate) fn cap(&self) -> Option<f64> {
        self.cap
    }

    /// The loss fraction of the last judged window.
    pub(crate) fn last_fraction(&self) -> f64 {
        self.last_fraction
    }

    /// Counts one feedback's results (received, lost); judges the window when it is full. `current` is the
    /// target in force, `delay_rate` the delay-based estimate. Returns true on a decrease.
    pub(crate) fn on_feedback(
        &mut self,
        now: Instant,
        (received, lost): (u32, u32),
        current: f64,
        delay_rate: f64,
        rtt: Duration,
        queue_delay: Duration,
    ) -> bool {
        let start = *self.window_start.get_or_insert(now);
        self.received = self.received.saturating_add(received);
        self.lost = self.lost.saturating_add(lost);
        let total = self.received.saturating_add(self.lost);
        let elapsed = now.saturating_duration_since(start);
        let full = total >= WINDOW_PACKETS && elapsed >= WINDOW_MIN_TIME;
        let timed = total >= MIN_PACKETS && elapsed >= WINDOW_TIME;
        if !full && !timed {
            return false;
        }
        let fraction = f64::from(self.lost) / f64::from(total.max(1));
        self.last_fraction = fraction;
        self.received = 0;
        self.lost = 0;
        self.window_start = Some(now);
        let high = if queue_delay < NO_QUEUE {
            NO_QUEUE_LOSS
        } else {
            0.10
        };
        if fraction > high {
            let gap = Duration::from_millis(300) + rtt;
            if self
                .last_decrease
                .is_none_or(|t| now.saturating_duration_since(t) >= gap)
            {
                let base = self.cap.map_or(current, |c| c.min(current));
                self.cap = Some(base * (1.0 - 0.5 * fraction));
                self.last_decrease = Some(now);
                return true;
            }
        } else if fraction <= 0.10 || queue_delay < NO_QUEUE {
            // without a queue, loss under NO_QUEUE_LOSS is not taken for congestion
            let gain = if fraction < 0.02 || queue_delay < NO_QUEUE {
                1.08
            } else {
                HOLD_GAIN
            };
            if let Some(cap) = self.cap {
                let dt = self
                    .last_increase
                    .or(self.last_decrease)
                    .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64())
                    .min(2.0);
                let grown = cap * gain.powf(dt) + 1000.0 * dt;
                self.cap = (grown < delay_rate).then_some(grown);
            }
            self.last_increase = Some(now);
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A visible queue: the 10 % threshold applies.
    const Q: Duration = Duration::from_millis(30);

    #[test]
    fn without_a_queue_only_very_heavy_loss_cuts() {
        let t0 = Instant::now();
        let rtt = Duration::from_millis(50);
        let mut l = LossControl::default();
        l.on_feedback(t0, (0, 0), 1e6, 1e6, rtt, Duration::ZERO);
        let t = t0 + Duration::from_millis(600);
        assert!(!l.on_feedback(t, (85, 15), 1e6, 1e6, rtt, Duration::ZERO));
        let t = t + Duration::from_millis(600);
        assert!(l.on_feedback(t, (70, 30), 1e6, 1e6, rtt, Duration::ZERO));
        assert_eq!(l.cap(), Some(850_000.0));
    }

    #[test]
    fn heavy_loss_cuts_light_loss_holds_no_loss_releases() {
        let t0 = Instant::now();
        let rtt = Duration::from_millis(50);
        let mut l = LossControl::default();
        // 20 % loss over 100 packets and 600 ms: cut by 10 %
        assert!(!l.on_feedback(t0, (0, 0), 1_000_000.0, 1_000_000.0, rtt, Q));
        let t = t0 + Duration::from_millis(600);
        assert!(l.on_feedback(t, (80, 20), 1_000_000.0, 1_000_000.0, rtt, Q));
        assert_eq!(l.cap(), Some(900_000.0));
        // 5 %: (almost) hold: 2 % per second
        let t1 = t + Duration::from_secs(1);
        assert!(!l.on_feedback(t1, (95, 5), 900_000.0, 1_000_000.0, rtt, Q));
        assert_eq!(l.cap(), Some(900_000.0 * 1.02 + 1000.0));
        // no loss: grows, then stops constraining once above the delay-based estimate
        let mut t = t1;
        for _ in 0..3 {
            t += Duration::from_secs(1);
            l.on_feedback(t, (100, 0), 900_000.0, 1_000_000.0, rtt, Q);
        }
        assert_eq!(l.cap(), None);
    }

    #[test]
    fn small_samples_wait() {
        let t0 = Instant::now();
        let mut l = LossControl::default();
        let rtt = Duration::from_millis(50);
        // 3 of 10 lost, but only 10 packets in 100 ms: not judged yet
        assert!(!l.on_feedback(t0, (7, 3), 1e6, 1e6, rtt, Q));
        assert!(!l.on_feedback(t0 + Duration::from_millis(100), (0, 0), 1e6, 1e6, rtt, Q));
        assert_eq!(l.cap(), None);
    }
}
