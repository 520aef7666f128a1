//! Unwrapping of wrapping counters: 16-bit RTP sequence numbers and 32-bit timestamps to 64-bit
//! values that keep increasing, tolerant of reordering around the wrap.

/// Extends a wrapping 16-bit sequence number to a 64-bit one.
///
/// Each value is placed at the extended position closest to the highest seen so far, so packets
/// reordered across a wrap land before it, not 65536 later.
///
/// ```
/// use sansrtc_rtp::seq::SequenceUnwrapper;
/// let mut u = SequenceUnwrapper::new();
/// assert_eq!(u.unwrap(65534), 65534);
/// assert_eq!(u.unwrap(1), 65537);     // wrapped
/// assert_eq!(u.unwrap(65535), 65535); // late packet from before the wrap
/// assert_eq!(u.unwrap(2), 65538);
/// ```
#[derive(Debug, Clone, Default)]
pub struct SequenceUnwrapper {
    highest: Option<u64>,
}

impl SequenceUnwrapper {
    /// An unwrapper that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `seq`; updates the highest value seen.
    pub fn unwrap(&mut self, seq: u16) -> u64 {
        let extended = self.peek(seq);
        if self.highest.is_none_or(|h| extended > h) {
            self.highest = Some(extended);
        }
        extended
    }

    /// The extended value `seq` would get, without updating state.
    pub fn peek(&self, seq: u16) -> u64 {
        match self.highest {
            None => seq as u64,
            Some(h) => closest(h, seq as u64, 16),
        }
    }

    /// The highest extended value seen.
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }
}

/// Extends a wrapping 32-bit RTP timestamp to a 64-bit one, like [`SequenceUnwrapper`].
#[derive(Debug, Clone, Default)]
pub struct TimestampUnwrapper {
    highest: Option<u64>,
}

impl TimestampUnwrapper {
    /// An unwrapper that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `timestamp`; updates the highest value seen.
    pub fn unwrap(&mut self, timestamp: u32) -> u64 {
        let extended = match self.highest {
            None => timestamp as u64 + (1 << 32), // room to go back before the first value
            Some(h) => closest(h, timestamp as u64, 32),
        };
        if self.highest.is_none_or(|h| extended > h) {
            self.highest = Some(extended);
        }
        extended
    }
}

/// The value congruent to `value` modulo 2^bits closest to `reference` (never below zero).
fn closest(reference: u64, value: u64, bits: u32) -> u64 {
    let modulus = 1u64 << bits;
    let half = modulus / 2;
    let base = reference & !(modulus - 1);
    let candidate = base | value;
    if candidate > reference && candidate - reference > half && candidate >= modulus {
        candidate - modulus
    } else if candidate < reference && reference - candidate > half {
        candidate + modulus
    } else {
        candidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reordering_around_wrap() {
        let mut u = SequenceUnwrapper::new();
        let seqs = [65530u16, 65532, 65531, 2, 65535, 0, 1, 3];
        let got: Vec<u64> = seqs.iter().map(|&s| u.unwrap(s)).collect();
        assert_eq!(
            got,
            vec![65530, 65532, 65531, 65538, 65535, 65536, 65537, 65539]
        );
        assert_eq!(u.highest(), Some(65539));
    }

    #[test]
    fn early_packets_do_not_go_negative() {
        let mut u = SequenceUnwrapper::new();
        assert_eq!(u.unwrap(3), 3);
        assert_eq!(u.unwrap(65535), 65535); // cannot be -1: placed ahead instead
    }

    #[test]
    fn timestamps() {
        let mut u = TimestampUnwrapper::new();
        let a = u.unwrap(u32::MAX - 10);
        let b = u.unwrap(5);
        assert_eq!(b - a, 16);
        let c = u.unwrap(u32::MAX - 20);
        assert_eq!(a - c, 10);
    }

    proptest! {
        #[test]
        fn monotone_stream_with_jitter_unwraps_exactly(start in 0u64..50_000, steps in prop::collection::vec(-100i64..300, 1..200)) {
            let mut u = SequenceUnwrapper::new();
            let mut truth = start + 2_000;
            let mut max = truth;
            u.unwrap(truth as u16);
            for step in steps {
                truth = (truth as i64 + step).max(max as i64 - 1000) as u64;
                max = max.max(truth);
                prop_assert_eq!(u.unwrap(truth as u16), truth);
            }
        }
    }
}
