//! Choosing which simulcast layers to send from the bandwidth estimate.
//!
//! [`LayerChooser`] holds a track's layers, lowest first, each with the bitrate it needs. Fed
//! the current target ([`crate::PeerConnection::bandwidth_estimate`]), it says how many layers
//! fit, lowest first; the application pauses the others
//! ([`crate::PeerConnection::set_layer_paused`]). Hysteresis keeps it from flapping: a layer is
//! added only when the estimate exceeds everything active plus the new layer by
//! [`LayerChooser::up_margin`] and has for [`LayerChooser::up_hold`]; a layer is dropped as
//! soon as the estimate falls below what the active layers need.

use std::time::{Duration, Instant};

/// One layer a [`LayerChooser`] chooses among.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendLayer {
    /// Its RID (as in the transceiver's `send_encodings`).
    pub rid: String,
    /// The bitrate its encoder produces (bits per second).
    pub bitrate: u64,
}

impl SendLayer {
    /// Layer `rid` needing `bitrate` bits per second.
    pub fn new(rid: impl Into<String>, bitrate: u64) -> Self {
        Self {
            rid: rid.into(),
            bitrate,
        }
    }
}

/// Chooses how many simulcast layers (lowest first) fit a bandwidth estimate, with hysteresis.
/// The lowest layer is always chosen (a receiver should get something).
#[derive(Debug, Clone)]
pub struct LayerChooser {
    layers: Vec<SendLayer>,
    active: usize,
    /// The estimate must exceed the next layer set's need by this fraction to add a layer
    /// (default 0.2).
    pub up_margin: f64,
    /// ...and must have for this long (default 1 s).
    pub up_hold: Duration,
    above_since: Option<Instant>,
}

impl LayerChooser {
    /// A chooser over `layers`, lowest first; it starts with only the lowest active.
    pub fn new(layers: Vec<SendLayer>) -> Self {
        Self {
            active: usize::from(!layers.is_empty()),
            layers,
            up_margin: 0.2,
            up_hold: Duration::from_secs(1),
            above_since: None,
        }
    }

    /// A chooser over negotiated layers ([`crate::PeerConnection::send_encodings`], lowest
    /// first), each needing its `max_bitrate` (what the encoder is held to); `None` when a
    /// layer has no `max_bitrate`.
    pub fn from_encodings(encodings: &[sansrtc_sdp::jsep::SendEncoding]) -> Option<Self> {
        let layers = encodings
            .iter()
            .map(|e| Some(SendLayer::new(e.rid.clone(), e.max_bitrate?)))
            .collect::<Option<Vec<_>>>()?;
        Some(Self::new(layers))
    }

    /// The layers, lowest first.
    pub fn layers(&self) -> &[SendLayer] {
        &self.layers
    }

    /// How many layers (lowest first) are chosen.
    pub fn active_count(&self) -> usize {
        self.active
    }

    /// Whether layer `rid` is chosen.
    pub fn is_active(&self, rid: &str) -> bool {
        self.layers[..self.active].iter().any(|l| l.rid == rid)
    }

    /// The bitrate the first `n` layers need together.
    fn need(&self, n: usize) -> u64 {
        self.layers[..n.min(self.layers.len())]
            .iter()
            .map(|l| l.bitrate)
            .sum()
    }

    /// Updates the choice with the target bitrate `estimate` (bits per second) at `now`;
    /// returns whether it changed.
    pub fn update(&mut self, now: Instant, estimate: u64) -> bool {
        let before = self.active;
        while self.active > 1 && estimate < self.need(self.active) {
            self.active -= 1;
            self.above_since = None;
        }
        if self.active < self.layers.len() {
            let next = self.need(self.active + 1) as f64 * (1.0 + self.up_margin);
            if estimate as f64 >= next {
                let since = *self.above_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= self.up_hold {
                    self.active += 1;
                    self.above_since = None;
                }
            } else {
                self.above_since = None;
            }
        }
        self.active != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chooser() -> LayerChooser {
        LayerChooser::new(vec![
            SendLayer::new("q", 150_000),
            SendLayer::new("h", 500_000),
            SendLayer::new("f", 1_500_000),
        ])
    }

    #[test]
    fn adds_layers_after_the_hold_and_drops_them_at_once() {
        let t0 = Instant::now();
        let mut c = chooser();
        assert_eq!(c.active_count(), 1);
        // Enough for q+h with margin (780 kbit/s), not yet for long enough.
        assert!(!c.update(t0, 800_000));
        assert!(!c.update(t0 + Duration::from_millis(900), 800_000));
        assert!(c.update(t0 + Duration::from_millis(1000), 800_000));
        assert_eq!(c.active_count(), 2);
        assert!(c.is_active("h") && !c.is_active("f"));
        // Between the need (650k) and need+margin: stays (hysteresis).
        assert!(!c.update(t0 + Duration::from_secs(3), 700_000));
        assert_eq!(c.active_count(), 2);
        // Below the need: dropped at once.
        assert!(c.update(t0 + Duration::from_secs(4), 600_000));
        assert_eq!(c.active_count(), 1);
        // A dip resets the hold.
        c.update(t0 + Duration::from_secs(5), 3_000_000);
        c.update(t0 + Duration::from_millis(5500), 100_000);
        assert!(!c.update(t0 + Duration::from_millis(6200), 3_000_000));
        assert_eq!(c.active_count(), 1);
        // The lowest layer stays whatever the estimate.
        c.update(t0 + Duration::from_secs(7), 0);
        assert_eq!(c.active_count(), 1);
    }

    #[test]
    fn negotiated_layers_with_a_bitrate_each_make_a_chooser() {
        use sansrtc_sdp::jsep::SendEncoding;
        let encodings = [
            SendEncoding::new("q").max_bitrate(150_000),
            SendEncoding::new("h").max_bitrate(500_000),
        ];
        let c = LayerChooser::from_encodings(&encodings).unwrap();
        assert_eq!(
            c.layers(),
            [SendLayer::new("q", 150_000), SendLayer::new("h", 500_000)]
        );
        let without = [encodings[0].clone(), SendEncoding::new("f")];
        assert!(LayerChooser::from_encodings(&without).is_none());
    }

    #[test]
    fn climbs_to_every_layer_one_at_a_time() {
        let t0 = Instant::now();
        let mut c = chooser();
        // Each layer waits its own hold: h at 1 s, f one hold after h (3 s).
        let counts: Vec<usize> = (0..4)
            .map(|s| {
                c.update(t0 + Duration::from_secs(s), 10_000_000);
                c.active_count()
            })
            .collect();
        assert_eq!(counts, [1, 2, 2, 3]);
        assert!(LayerChooser::new(Vec::new()).active_count() == 0);
    }
}
