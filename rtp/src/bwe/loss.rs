//! Loss-based control (draft-ietf-rmcat-gcc-02 section 6): over windows of reported packets,
//! more than 10 % loss cuts the cap by half the loss fraction, 2-10 % holds it, under 2 % lets it
//! grow until it no longer constrains the delay-based estimate.

use std::time::{Duration, Instant};

/// Packets a loss window must cover before it is judged (so a few random losses in a small
/// sample do not read as 10 %).
const WINDOW_PACKETS: u32 = 100;
/// A window also closes after this long if it has at least `MIN_PACKETS`.
const WINDOW_TIME: Duration = Duration::from_secs(2);
const MIN_PACKETS: u32 = 20;

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

    /// Counts one feedback's results; judges the window when it is full. `current` is the
    /// target in force, `delay_rate` the delay-based estimate. Returns true on a decrease.
    pub(crate) fn on_feedback(
        &mut self,
        now: Instant,
        received: u32,
        lost: u32,
        current: f64,
        delay_rate: f64,
        rtt: Duration,
    ) -> bool {
        let start = *self.window_start.get_or_insert(now);
        self.received = self.received.saturating_add(received);
        self.lost = self.lost.saturating_add(lost);
        let total = self.received.saturating_add(self.lost);
        let elapsed = now.saturating_duration_since(start);
        if total < WINDOW_PACKETS && (elapsed < WINDOW_TIME || total < MIN_PACKETS) {
            return false;
        }
        let fraction = f64::from(self.lost) / f64::from(total.max(1));
        self.last_fraction = fraction;
        self.received = 0;
        self.lost = 0;
        self.window_start = Some(now);
        if fraction > 0.10 {
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
        } else if fraction < 0.02 {
            if let Some(cap) = self.cap {
                let dt = self
                    .last_increase
                    .or(self.last_decrease)
                    .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64())
                    .min(1.0);
                let grown = cap * 1.08f64.powf(dt) + 1000.0 * dt;
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

    #[test]
    fn heavy_loss_cuts_light_loss_holds_no_loss_releases() {
        let t0 = Instant::now();
        let rtt = Duration::from_millis(50);
        let mut l = LossControl::default();
        // 20 % loss over 100 packets: cut by 10 %
        assert!(l.on_feedback(t0, 80, 20, 1_000_000.0, 1_000_000.0, rtt));
        assert_eq!(l.cap(), Some(900_000.0));
        // 5 %: hold
        let t1 = t0 + Duration::from_secs(1);
        assert!(!l.on_feedback(t1, 95, 5, 900_000.0, 1_000_000.0, rtt));
        assert_eq!(l.cap(), Some(900_000.0));
        // no loss: grows, then stops constraining once above the delay-based estimate
        let mut t = t1;
        for _ in 0..3 {
            t += Duration::from_secs(1);
            l.on_feedback(t, 100, 0, 900_000.0, 1_000_000.0, rtt);
        }
        assert_eq!(l.cap(), None);
    }

    #[test]
    fn small_samples_wait() {
        let t0 = Instant::now();
        let mut l = LossControl::default();
        let rtt = Duration::from_millis(50);
        // 3 of 10 lost, but only 10 packets in 100 ms: not judged yet
        assert!(!l.on_feedback(t0, 7, 3, 1e6, 1e6, rtt));
        assert!(!l.on_feedback(t0 + Duration::from_millis(100), 0, 0, 1e6, 1e6, rtt));
        assert_eq!(l.cap(), None);
    }
}
