//! Delay-based overuse detection: packets grouped by send time, inter-group delay variation,
//! a trendline (least-squares slope of the smoothed accumulated delay) and an adaptive
//! threshold, after the design of draft-ietf-rmcat-gcc-02 section 5 and its trendline variant.

use std::collections::VecDeque;

/// What the detector concludes about the bottleneck queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandwidthUsage {
    /// The queue is neither growing nor draining noticeably.
    Normal,
    /// The queue is draining (delay falling).
    Underuse,
    /// The queue is growing: sending faster than the bottleneck.
    Overuse,
}

/// Packets sent within this span of the first one of a group form one group.
const GROUP_SPAN_US: i64 = 5_000;
/// Deltas this large (either sign) mean a clock jump or a long pause: start over.
const RESET_GAP_US: i64 = 3_000_000;

#[derive(Debug, Clone, Copy)]
struct Group {
    first_send: i64,
    last_send: i64,
    last_arrival: i64,
    first_arrival: i64,
}

/// One inter-group measurement (microseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GroupDelta {
    pub(crate) send_delta: i64,
    pub(crate) arrival_delta: i64,
    /// Arrival time of the completing group.
    pub(crate) arrival: i64,
}

/// Groups packets by send time and yields deltas between consecutive complete groups.
#[derive(Debug, Clone, Default)]
pub(crate) struct InterArrival {
    current: Option<Group>,
    previous: Option<Group>,
}

impl InterArrival {
    /// Feeds one received packet (send time local, arrival time remote, both microseconds),
    /// in arrival order. Returns a delta when a group completes.
    pub(crate) fn on_packet(&mut self, send: i64, arrival: i64) -> Option<GroupDelta> {
        let Some(cur) = self.current.as_mut() else {
            self.current = Some(Group {
                first_send: send,
                last_send: send,
                first_arrival: arrival,
                last_arrival: arrival,
            });
            return None;
        };
        if send < cur.first_send {
            // reordered from an earlier group: ignore
            return None;
        }
        let in_group = send.saturating_sub(cur.first_send) < GROUP_SPAN_US;
        // a burst: arrives right behind the group (delay did not grow) even if sent later
        let burst = {
            let arr_delta = arrival.saturating_sub(cur.last_arrival);
            let send_delta = send.saturating_sub(cur.last_send);
            let prop = arr_delta.saturating_sub(send_delta);
            arrival.saturating_sub(cur.first_arrival) < 100_000 && arr_delta <= 5_000 && prop < 0
        };
        if in_group || burst {
            cur.last_send = cur.last_send.max(send);
            cur.last_arrival = cur.last_arrival.max(arrival);
            return None;
        }
        let done = *cur;
        let mut out = None;
        if let Some(prev) = self.previous {
            let send_delta = done.last_send.saturating_sub(prev.last_send);
            let arrival_delta = done.last_arrival.saturating_sub(prev.last_arrival);
            if arrival_delta.abs() > RESET_GAP_US || send_delta.abs() > RESET_GAP_US {
                self.previous = None;
            } else if arrival_delta >= 0 {
                out = Some(GroupDelta {
                    send_delta,
                    arrival_delta,
                    arrival: done.last_arrival,
                });
            }
        }
        self.previous = Some(done);
        self.current = Some(Group {
            first_send: send,
            last_send: send,
            first_arrival: arrival,
            last_arrival: arrival,
        });
        out
    }
}

/// Trendline estimator with an adaptive-threshold overuse detector.
#[derive(Debug, Clone)]
pub(crate) struct Trendline {
    window: VecDeque<(f64, f64)>,
    window_size: usize,
    first_arrival: Option<i64>,
    accumulated_ms: f64,
    smoothed_ms: f64,
    num_deltas: u32,
    prev_trend: f64,
    threshold: f64,
    last_threshold_update: Option<i64>,
    time_over_using_ms: f64,
    overuse_count: u32,
    state: BandwidthUsage,
}

const SMOOTHING: f64 = 0.9;
const TREND_GAIN: f64 = 4.0;
const K_UP: f64 = 0.0087;
const K_DOWN: f64 = 0.039;
const OVERUSE_TIME_MS: f64 = 10.0;

impl Default for Trendline {
    fn default() -> Self {
        Trendline {
            window: VecDeque::with_capacity(20),
            window_size: 20,
            first_arrival: None,
            accumulated_ms: 0.0,
            smoothed_ms: 0.0,
            num_deltas: 0,
            prev_trend: 0.0,
            threshold: 12.5,
            last_threshold_update: None,
            time_over_using_ms: -1.0,
            overuse_count: 0,
            state: BandwidthUsage::Normal,
        }
    }
}

impl Trendline {
    /// The current verdict.
    pub(crate) fn state(&self) -> BandwidthUsage {
        self.state
    }

    /// Feeds one inter-group delta; returns the updated verdict.
    pub(crate) fn update(&mut self, delta: GroupDelta) -> BandwidthUsage {
        let send_ms = delta.send_delta as f64 / 1000.0;
        let delay_ms = (delta.arrival_delta - delta.send_delta) as f64 / 1000.0;
        self.num_deltas = (self.num_deltas + 1).min(1000);
        let first = *self.first_arrival.get_or_insert(delta.arrival);
        self.accumulated_ms += delay_ms;
        self.smoothed_ms = SMOOTHING * self.smoothed_ms + (1.0 - SMOOTHING) * self.accumulated_ms;
        let x = delta.arrival.saturating_sub(first) as f64 / 1000.0;
        if self.window.len() == self.window_size {
            self.window.pop_front();
        }
        self.window.push_back((x, self.smoothed_ms));
        let mut trend = self.prev_trend;
        if self.window.len() == self.window_size {
            if let Some(slope) = slope(&self.window) {
                trend = slope;
            }
        }
        self.detect(trend, send_ms, delta.arrival);
        self.state
    }

    fn detect(&mut self, trend: f64, send_delta_ms: f64, arrival: i64) {
        if self.num_deltas < 2 {
            self.state = BandwidthUsage::Normal;
            return;
        }
        let modified = f64::from(self.num_deltas.min(60)) * trend * TREND_GAIN;
        if modified > self.threshold {
            if self.time_over_using_ms < 0.0 {
                self.time_over_using_ms = send_delta_ms / 2.0;
            } else {
                self.time_over_using_ms += send_delta_ms;
            }
            self.overuse_count += 1;
            if self.time_over_using_ms > OVERUSE_TIME_MS
                && self.overuse_count > 1
                && trend >= self.prev_trend
            {
                self.time_over_using_ms = 0.0;
                self.overuse_count = 0;
                self.state = BandwidthUsage::Overuse;
            }
        } else if modified < -self.threshold {
            self.time_over_using_ms = -1.0;
            self.overuse_count = 0;
            self.state = BandwidthUsage::Underuse;
        } else {
            self.time_over_using_ms = -1.0;
            self.overuse_count = 0;
            self.state = BandwidthUsage::Normal;
        }
        self.prev_trend = trend;
        self.adapt_threshold(modified, arrival);
    }

    fn adapt_threshold(&mut self, modified: f64, arrival: i64) {
        let last = *self.last_threshold_update.get_or_insert(arrival);
        let excess = modified.abs() - self.threshold;
        // a sudden spike (e.g. a route change) should not drag the threshold along
        if excess > 15.0 {
            self.last_threshold_update = Some(arrival);
            return;
        }
        let k = if modified.abs() < self.threshold {
            K_DOWN
        } else {
            K_UP
        };
        let dt_ms = (arrival.saturating_sub(last) as f64 / 1000.0).clamp(0.0, 100.0);
        self.threshold = (self.threshold + k * excess * dt_ms).clamp(6.0, 600.0);
        self.last_threshold_update = Some(arrival);
    }
}

/// Least-squares slope of `y` over `x`; `None` when the x values do not vary.
fn slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let (num, den) = points.iter().fold((0.0, 0.0), |(num, den), (x, y)| {
        (num + (x - mx) * (y - my), den + (x - mx) * (x - mx))
    });
    (den > 0.0).then(|| num / den).filter(|s| s.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds packets every `gap_us` of send time whose one-way delay grows by `growth_us` per
    /// packet; returns the verdicts.
    fn run(gap_us: i64, growth_us: i64, count: i64) -> Vec<BandwidthUsage> {
        let mut ia = InterArrival::default();
        let mut tl = Trendline::default();
        let mut out = Vec::new();
        for i in 0..count {
            let send = i * gap_us;
            let arrival = 50_000 + send + i * growth_us;
            if let Some(d) = ia.on_packet(send, arrival) {
                out.push(tl.update(d));
            }
        }
        out
    }

    #[test]
    fn groups_by_send_time() {
        let mut ia = InterArrival::default();
        // groups at 0, 10, 20 ms with packets 1 ms apart within each
        let mut deltas = Vec::new();
        for g in 0..4 {
            for p in 0..3 {
                let send = g * 10_000 + p * 1_000;
                if let Some(d) = ia.on_packet(send, send + 20_000 + g * 500) {
                    deltas.push(d);
                }
            }
        }
        assert_eq!(deltas.len(), 2);
        assert_eq!(deltas[0].send_delta, 10_000);
        assert_eq!(deltas[0].arrival_delta, 10_500);
    }

    #[test]
    fn steady_delay_is_normal() {
        let v = run(10_000, 0, 300);
        assert!(v.iter().all(|s| *s == BandwidthUsage::Normal));
    }

    #[test]
    fn growing_delay_is_overuse() {
        // one-way delay grows 1 ms every 10 ms: a queue filling at 10 %
        let v = run(10_000, 1_000, 100);
        assert!(v.contains(&BandwidthUsage::Overuse), "{v:?}");
        assert!(!v[..10].contains(&BandwidthUsage::Overuse));
    }

    #[test]
    fn shrinking_delay_is_underuse() {
        let mut ia = InterArrival::default();
        let mut tl = Trendline::default();
        let mut seen = Vec::new();
        for i in 0..60i64 {
            let send = i * 10_000;
            // delay starts at 300 ms and drains 2 ms per packet, floors at 50 ms
            let delay = (300_000 - i * 2_000).max(50_000);
            if let Some(d) = ia.on_packet(send, send + delay) {
                seen.push(tl.update(d));
            }
        }
        assert!(seen.contains(&BandwidthUsage::Underuse), "{seen:?}");
    }

    #[test]
    fn huge_gaps_reset_instead_of_overflowing() {
        let mut ia = InterArrival::default();
        let mut tl = Trendline::default();
        for (send, arrival) in [
            (0, 0),
            (10_000, i64::MAX),
            (20_000, i64::MIN),
            (i64::MAX, 5),
            (i64::MIN, 7),
            (30_000, 40_000),
            (40_000, 50_000),
        ] {
            if let Some(d) = ia.on_packet(send, arrival) {
                let _ = tl.update(d);
            }
        }
    }
}
