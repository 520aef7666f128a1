//! Packet index estimation from a 16-bit sequence number (RFC 3711 section 3.3.1, Appendix A).

/// Highest SRTP packet index: 2^48 - 1.
pub(crate) const MAX_INDEX: u64 = (1 << 48) - 1;

/// Estimates the 48-bit packet index of sequence number `seq` given the highest index seen so
/// far, `highest` (ROC << 16 | s_l). Returns `None` when the estimate needs a rollover counter
/// beyond 2^32 - 1.
///
/// As in libsrtp, a guess of ROC - 1 while ROC is 0 is taken as ROC 0: there is no index below
/// the stream's start.
#[inline]
pub(crate) fn estimate(highest: u64, seq: u16) -> Option<u64> {
    let roc = highest >> 16;
    let s_l = (highest & 0xffff) as i32;
    let seq_i = i32::from(seq);
    let v = if s_l < 0x8000 {
        if seq_i - s_l > 0x8000 {
            roc.saturating_sub(1)
        } else {
            roc
        }
    } else if s_l - 0x8000 > seq_i {
        roc + 1
    } else {
        roc
    };
    let index = (v << 16) | u64::from(seq);
    (index <= MAX_INDEX).then_some(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_and_wrap() {
        assert_eq!(estimate(5, 6), Some(6));
        assert_eq!(estimate(0xffff, 0), Some(0x1_0000));
        assert_eq!(estimate(0xfffe, 3), Some(0x1_0003));
        // Reordered across the wrap: a late packet from before it.
        assert_eq!(estimate(0x1_0002, 0xfffd), Some(0xfffd));
        assert_eq!(estimate(0x5_9000, 0x0001), Some(0x6_0001));
        assert_eq!(estimate(0x5_8000, 0x0001), Some(0x5_0001));
        assert_eq!(estimate(0x5_8000, 0x7fff), Some(0x5_7fff));
    }

    #[test]
    fn no_roc_below_zero_and_exhaustion() {
        assert_eq!(estimate(100, 65000), Some(65000));
        assert_eq!(estimate(MAX_INDEX, 0), None);
        assert_eq!(estimate(MAX_INDEX, 0xfff0), Some(MAX_INDEX - 0xf));
    }
}
