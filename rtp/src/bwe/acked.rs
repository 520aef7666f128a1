//! The acknowledged bitrate: bytes the receiver reported over a sliding window of its arrival
//! times.

use std::collections::VecDeque;

/// Width of the window (microseconds of remote arrival time).
const WINDOW_US: i64 = 500_000;
/// Width of the recent-rate window.
const RECENT_US: i64 = 150_000;
/// The rate is reported once the window spans at least this much.
const MIN_SPAN_US: i64 = 100_000;
/// An arrival this far behind the newest means the remote clock jumped: start over.
const JUMP_US: i64 = 3_000_000;
/// Entries kept at most (bounded memory whatever the arrival times).
const MAX_ENTRIES: usize = 4096;

/// Sliding-window acknowledged bitrate.
#[derive(Debug, Clone, Default)]
pub(crate) struct AckedBitrate {
    pub(super) window: VecDeque<(i64, usize)>,
    bytes: usize,
    newest: Option<i64>,
}

impl AckedBitrate {
    /// Counts a received packet of `size` bytes that arrived at `arrival` (remote clock).
    pub(crate) fn on_packet(&mut self, arrival: i64, size: usize) {
        match self.newest {
            Some(n)
                if arrival < n.saturating_sub(JUMP_US) || arrival > n.saturating_add(JUMP_US) =>
            {
                self.window.clear();
                self.bytes = 0;
                self.newest = Some(arrival);
            }
            Some(n) if arrival < n.saturating_sub(WINDOW_US) => return,
            Some(n) => self.newest = Some(n.max(arrival)),
            None => self.newest = Some(arrival),
        }
        self.window.push_back((arrival, size));
        self.bytes += size;
        let newest = self.newest.unwrap_or(arrival);
        while let Some(&(a, s)) = self.window.front() {
            if a < newest.saturating_sub(WINDOW_US) || self.window.len() > MAX_ENTRIES {
                self.window.pop_front();
                self.bytes -= s;
            } else {
                break;
            }
        }
    }

    /// The rate over the last 150 ms of arrivals (at least three packets over 20 ms).
    pub(crate) fn recent_rate(&self) -> Option<f64> {
        let newest = self.newest?;
        let from = newest.saturating_sub(RECENT_US);
        let (mut bytes, mut count, mut oldest, mut first_size) = (0usize, 0usize, newest, 0usize);
        for &(a, s) in self.window.iter().rev() {
            if a < from {
                break;
            }
            bytes += s;
            count += 1;
            if a <= oldest {
                oldest = a;
                first_size = s;
            }
        }
        let span = newest.saturating_sub(oldest);
        if count < 3 || span < 20_000 {
            return None;
        }
        Some((bytes - first_size) as f64 * 8e6 / span as f64)
    }

    /// The rate in bits per second, once the window spans enough time.
    pub(crate) fn rate(&self) -> Option<f64> {
        let newest = self.newest?;
        let oldest = self.window.iter().map(|e| e.0).min()?;
        let span = newest.saturating_sub(oldest);
        if span < MIN_SPAN_US {
            return None;
        }
        // the first packet's bytes arrived before the span began
        let first = self.window.front().map_or(0, |e| e.1);
        let bits = (self.bytes - first) as f64 * 8.0;
        Some(bits * 1e6 / span as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_steady_rate() {
        let mut a = AckedBitrate::default();
        // 1000 bytes every 8 ms = 1 Mbit/s
        for i in 0..10 {
            a.on_packet(i * 8_000, 1000);
        }
        assert_eq!(a.rate(), None); // 72 ms span
        for i in 10..200 {
            a.on_packet(i * 8_000, 1000);
        }
        let r = a.rate().unwrap();
        assert!((r - 1e6).abs() < 1e4, "{r}");
    }

    #[test]
    fn clock_jumps_reset() {
        let mut a = AckedBitrate::default();
        for i in 0..100 {
            a.on_packet(i * 8_000, 1000);
        }
        a.on_packet(i64::MIN, 1000);
        a.on_packet(i64::MAX, 1000);
        assert_eq!(a.rate(), None);
        assert!(a.window.len() <= MAX_ENTRIES);
    }
}
