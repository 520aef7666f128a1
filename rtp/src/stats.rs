//! Per-source receive statistics (RFC 3550 appendix A.1, A.3, A.8): sequence validation with
//! probation, extended highest sequence, cumulative and fractional loss, interarrival jitter, and
//! the report block they produce.

use crate::rtcp::ReportBlock;

const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const MIN_SEQUENTIAL: u32 = 2;
const SEQ_MOD: u32 = 1 << 16;

/// What [`ReceiveStats::update`] decided about a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// In sequence (or acceptably reordered): counted.
    Valid,
    /// Still in probation: the source has not sent enough sequential packets yet.
    Probation,
    /// A large jump: ignored unless the next packet confirms the new sequence.
    BadJump,
    /// A duplicate or very late packet: counted as received, does not advance the sequence.
    Late,
}

/// Receive statistics for one SSRC.
///
/// ```
/// use sansrtc_rtp::stats::ReceiveStats;
/// let mut s = ReceiveStats::new(100);
/// for seq in [100u16, 101, 103, 104] {
///     s.update(seq, 0, 0);
/// }
/// let block = s.report_block(7, 0, 0);
/// assert_eq!(block.extended_highest_sequence, 104);
/// assert_eq!(block.cumulative_lost, 1);
/// // 100 only starts probation (RFC 3550 A.1): counting starts at 101, so 1 of 4 is lost
/// assert_eq!(block.fraction_lost, 64);
/// ```
#[derive(Debug, Clone)]
pub struct ReceiveStats {
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    last_transit: Option<u32>,
    jitter_x16: u32,
}

impl ReceiveStats {
    /// Statistics for a source whose first packet has sequence number `seq`. The source is in
    /// probation until `MIN_SEQUENTIAL` (2) sequential packets arrive, as in RFC 3550 A.1.
    pub fn new(seq: u16) -> Self {
        let mut s = ReceiveStats {
            max_seq: seq.wrapping_sub(1),
            cycles: 0,
            base_seq: 0,
            bad_seq: SEQ_MOD + 1,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            last_transit: None,
            jitter_x16: 0,
        };
        s.init_seq(seq);
        s.max_seq = seq.wrapping_sub(1);
        s.probation = MIN_SEQUENTIAL;
        s
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = seq as u32;
        self.max_seq = seq;
        self.bad_seq = SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// Records a packet: its sequence number, its RTP timestamp, and its arrival time expressed
    /// in the same RTP clock (any origin). Returns what the sequence check decided.
    pub fn update(&mut self, seq: u16, rtp_timestamp: u32, arrival: u32) -> SequenceCheck {
        let check = self.update_seq(seq);
        if check == SequenceCheck::Valid {
            // A.8: jitter from the difference in relative transit times
            let transit = arrival.wrapping_sub(rtp_timestamp);
            if let Some(last) = self.last_transit {
                let d = (transit.wrapping_sub(last) as i32).unsigned_abs();
                let d = d.min(1 << 26); // a wild clock must not overflow the estimate
                self.jitter_x16 = (self.jitter_x16 + d).saturating_sub((self.jitter_x16 + 8) >> 4);
            }
            self.last_transit = Some(transit);
        }
        check
    }

    fn update_seq(&mut self, seq: u16) -> SequenceCheck {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return SequenceCheck::Valid;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SequenceCheck::Probation;
        }
        if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles = self.cycles.wrapping_add(SEQ_MOD);
            }
            self.max_seq = seq;
        } else if udelta as u32 <= SEQ_MOD - MAX_MISORDER as u32 {
            if seq as u32 == self.bad_seq {
                // two sequential packets after a jump: the source restarted
                self.init_seq(seq);
            } else {
                self.bad_seq = (seq as u32 + 1) & (SEQ_MOD - 1);
                return SequenceCheck::BadJump;
            }
        } else {
            self.received += 1;
            return SequenceCheck::Late;
        }
        self.received += 1;
        SequenceCheck::Valid
    }

    /// The extended highest sequence number received.
    pub fn extended_highest_sequence(&self) -> u32 {
        self.cycles.wrapping_add(self.max_seq as u32)
    }

    /// Packets expected so far (A.3).
    pub fn expected(&self) -> u32 {
        self.extended_highest_sequence()
            .wrapping_sub(self.base_seq)
            .wrapping_add(1)
    }

    /// Packets received so far (duplicates included, as RFC 3550 counts them).
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Cumulative packets lost: expected minus received, clamped to 24 bits signed.
    pub fn cumulative_lost(&self) -> i32 {
        let lost = self.expected() as i64 - self.received as i64;
        lost.clamp(-(1 << 23), (1 << 23) - 1) as i32
    }

    /// Interarrival jitter in RTP timestamp units.
    pub fn jitter(&self) -> u32 {
        self.jitter_x16 >> 4
    }

    /// The report block for this source, and starts a new reporting interval for the fraction
    /// lost. `lsr` / `dlsr` come from the last SR received from it (0 if none).
    pub fn report_block(&mut self, ssrc: u32, lsr: u32, dlsr: u32) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.expected_prior = expected;
        self.received_prior = self.received;
        let lost_interval = expected_interval as i64 - received_interval as i64;
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval as i64).min(255) as u8
        };
        ReportBlock {
            ssrc,
            fraction_lost,
            cumulative_lost: self.cumulative_lost(),
            extended_highest_sequence: self.extended_highest_sequence(),
            jitter: self.jitter(),
            last_sender_report: lsr,
            delay_since_last_sender_report: dlsr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probation_then_counting_across_wrap() {
        let mut s = ReceiveStats::new(65533);
        assert_eq!(s.update(65533, 0, 0), SequenceCheck::Probation);
        assert_eq!(s.update(65534, 0, 0), SequenceCheck::Valid);
        for seq in [65535u16, 0, 2, 3] {
            assert_eq!(s.update(seq, 0, 0), SequenceCheck::Valid);
        }
        assert_eq!(s.extended_highest_sequence(), 65536 + 3);
        assert_eq!(s.cumulative_lost(), 1);
        assert_eq!(s.update(1, 0, 0), SequenceCheck::Late);
        assert_eq!(s.cumulative_lost(), 0);
    }

    #[test]
    fn jump_is_ignored_unless_confirmed() {
        let mut s = ReceiveStats::new(10);
        s.update(10, 0, 0);
        s.update(11, 0, 0);
        assert_eq!(s.update(30000, 0, 0), SequenceCheck::BadJump);
        assert_eq!(s.update(12, 0, 0), SequenceCheck::Valid);
        assert_eq!(s.update(40000, 0, 0), SequenceCheck::BadJump);
        assert_eq!(s.update(40001, 0, 0), SequenceCheck::Valid);
        assert_eq!(s.extended_highest_sequence(), 40001);
    }

    #[test]
    fn jitter_converges_to_constant_deviation() {
        let mut s = ReceiveStats::new(0);
        // packets every 160 ticks, arrivals alternately 0 and 32 ticks late: |D| = 32
        for i in 0..2000u32 {
            let ts = i * 160;
            let arrival = ts + if i % 2 == 0 { 0 } else { 32 };
            s.update(i as u16, ts, arrival);
        }
        assert!((30..=32).contains(&s.jitter()), "jitter {}", s.jitter());
    }

    #[test]
    fn fraction_lost_per_interval() {
        let mut s = ReceiveStats::new(0);
        for seq in 0..10u16 {
            s.update(seq, 0, 0);
        }
        assert_eq!(s.report_block(1, 0, 0).fraction_lost, 0);
        for seq in (10..20u16).filter(|s| s % 2 == 0) {
            s.update(seq, 0, 0);
        }
        let b = s.report_block(1, 0, 0);
        // expected 9 (10..=18), received 5
        assert_eq!(b.fraction_lost, (4 * 256 / 9) as u8);
        assert_eq!(b.cumulative_lost, 4);
    }
}
