//! Transport-wide congestion control feedback, the receiver's side
//! (draft-holmer-rmcat-transport-wide-cc-extensions-01): every packet carrying a transport-wide
//! sequence number has its arrival time recorded, and every [`FEEDBACK_INTERVAL`] the arrivals
//! (and the gaps between them) go back to the sender, whose bandwidth estimator (Google
//! congestion control in Chromium and Firefox) decides how fast it may send.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sansrtc_rtp::rtcp::{PacketChunk, TransportCcBuilder};
use sansrtc_rtp::seq::SequenceUnwrapper;

/// How often feedback goes out while packets arrive.
pub(crate) const FEEDBACK_INTERVAL: Duration = Duration::from_millis(100);
/// Arrivals kept until the next feedback (more are dropped; the sender sees them as lost).
const MAX_ARRIVALS: usize = 4096;
/// A gap wider than this before the first unreported arrival is not reported packet by packet.
const MAX_GAP: u64 = 1000;
/// Reference time unit (64 ms) and receive delta unit (250 us).
const REFERENCE_UNIT_US: u128 = 64_000;
const DELTA_UNIT_US: i128 = 250;

/// One feedback message, ready to be written with our and the media SSRC.
#[derive(Debug, Clone)]
pub(crate) struct Feedback {
    pub(crate) builder: TransportCcBuilder,
    pub(crate) base_sequence: u16,
    pub(crate) reference_time: u32,
    pub(crate) feedback_count: u8,
}

impl Feedback {
    /// The RTCP packet (RTPFB 15) into `out`.
    pub(crate) fn write(
        &self,
        sender_ssrc: u32,
        media_ssrc: u32,
        chunks: &mut Vec<PacketChunk>,
        out: &mut Vec<u8>,
    ) -> Result<(), sansrtc_rtp::RtcpError> {
        let message = self.builder.build(
            chunks,
            sender_ssrc,
            media_ssrc,
            self.base_sequence,
            self.reference_time,
            self.feedback_count,
        )?;
        sansrtc_rtp::rtcp::RtcpPacket::TransportCc(message).write_vec(out)?;
        Ok(())
    }
}

/// Arrival times of the transport-wide sequence numbers not yet reported.
#[derive(Debug, Clone)]
pub(crate) struct TwccReceiver {
    epoch: Instant,
    unwrapper: SequenceUnwrapper,
    /// By extended sequence number, ascending (packets arrive mostly in order: appended; a
    /// late one is inserted). A ring reused once grown: no allocation per packet.
    arrivals: VecDeque<(u64, Instant)>,
    /// Everything before this was reported.
    next_base: Option<u64>,
    feedback_count: u8,
    next_feedback: Option<Instant>,
    /// The SSRC of the last media packet (the feedback's media source field).
    media_ssrc: u32,
    /// Builders of feedback already sent, reused (no allocation per message once warm).
    spare: Vec<TransportCcBuilder>,
    /// Chunk storage for writing feedback, reused.
    pub(crate) chunks: Vec<PacketChunk>,
}

impl TwccReceiver {
    /// A receiver whose reference times count from `epoch`.
    pub(crate) fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            unwrapper: SequenceUnwrapper::new(),
            arrivals: VecDeque::new(),
            next_base: None,
            feedback_count: 0,
            next_feedback: None,
            media_ssrc: 0,
            spare: Vec::new(),
            chunks: Vec::new(),
        }
    }

    /// A feedback message was written: its storage serves the next one.
    pub(crate) fn recycle(&mut self, f: Feedback) {
        if self.spare.len() < 8 {
            let mut b = f.builder;
            b.clear();
            self.spare.push(b);
        }
    }

    /// A packet with transport-wide sequence number `sequence` arrived on `media_ssrc`.
    pub(crate) fn on_packet(&mut self, now: Instant, sequence: u16, media_ssrc: u32) {
        let extended = self.unwrapper.unwrap(sequence);
        self.media_ssrc = media_ssrc;
        if self.next_base.is_some_and(|b| extended < b) || self.arrivals.len() >= MAX_ARRIVALS {
            return; // reported as lost already, or too many waiting
        }
        match self.arrivals.back() {
            Some(&(last, _)) if extended <= last => {
                let at = self.arrivals.partition_point(|&(s, _)| s < extended);
                if self.arrivals.get(at).is_none_or(|&(s, _)| s != extended) {
                    self.arrivals.insert(at, (extended, now));
                }
            }
            _ => self.arrivals.push_back((extended, now)),
        }
        if self.next_feedback.is_none() {
            self.next_feedback = Some(now + FEEDBACK_INTERVAL);
        }
    }

    /// When the next feedback is due.
    pub(crate) fn next_feedback(&self) -> Option<Instant> {
        self.next_feedback
    }

    /// The media SSRC to name in the feedback.
    pub(crate) fn media_ssrc(&self) -> u32 {
        self.media_ssrc
    }

    /// The feedback due at `now`: one message per run of arrivals whose deltas fit.
    pub(crate) fn poll(&mut self, now: Instant) -> Vec<Feedback> {
        let mut out = Vec::new();
        if self.next_feedback.is_none_or(|t| now < t) {
            return out;
        }
        self.next_feedback = None;
        while let Some(&(first, first_arrival)) = self.arrivals.front() {
            let mut base = self.next_base.unwrap_or(first).min(first);
            if first - base > MAX_GAP {
                base = first;
            }
            let since = first_arrival
                .saturating_duration_since(self.epoch)
                .as_micros();
            let reference = since / REFERENCE_UNIT_US;
            let mut previous =
                self.epoch + Duration::from_micros((reference * REFERENCE_UNIT_US) as u64);
            let mut builder = self.spare.pop().unwrap_or_default();
            let mut last = base;
            let mut sequence = base;
            let mut reported = 0usize;
            let start = self.arrivals.partition_point(|&(s, _)| s < base);
            for &(next, arrival) in self.arrivals.range(start..) {
                // A feedback describes at most 0xFFFF packets, each delta in 16 bits.
                if next - base >= 0xFFFF {
                    break;
                }
                let delta = signed_micros(arrival, previous) / DELTA_UNIT_US;
                let Some(delta) = i32::try_from(delta)
                    .ok()
                    .filter(|d| (i32::from(i16::MIN)..=i32::from(i16::MAX)).contains(d))
                else {
                    break;
                };
                for _ in sequence..next {
                    builder.lost();
                }
                if builder.received(delta).is_err() {
                    break;
                }
                previous = advance(previous, delta);
                last = next;
                sequence = next + 1;
                reported += 1;
            }
            if reported == 0 {
                // The first arrival cannot be described (cannot happen: its delta is under
                // 64 ms); drop it rather than loop.
                self.arrivals.pop_front();
                continue;
            }
            out.push(Feedback {
                builder,
                base_sequence: base as u16,
                reference_time: (reference & 0xFF_FFFF) as u32,
                feedback_count: self.feedback_count,
            });
            self.feedback_count = self.feedback_count.wrapping_add(1);
            self.next_base = Some(last + 1);
            let reported_end = self.arrivals.partition_point(|&(s, _)| s <= last);
            self.arrivals.drain(..reported_end);
            if out.len() >= 8 {
                break;
            }
        }
        if !self.arrivals.is_empty() {
            self.next_feedback = Some(now + FEEDBACK_INTERVAL);
        }
        out
    }
}

/// `a - b` in microseconds, signed.
fn signed_micros(a: Instant, b: Instant) -> i128 {
    if a >= b {
        (a - b).as_micros() as i128
    } else {
        -((b - a).as_micros() as i128)
    }
}

/// `t` moved by `delta` receive-delta units (the time the sender reconstructs, so rounding
/// errors do not accumulate).
fn advance(t: Instant, delta: i32) -> Instant {
    let us = i64::from(delta) * DELTA_UNIT_US as i64;
    if us >= 0 {
        t + Duration::from_micros(us as u64)
    } else {
        t.checked_sub(Duration::from_micros(us.unsigned_abs()))
            .unwrap_or(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sansrtc_rtp::rtcp::{CompoundIter, PacketStatus, RtcpPacket};

    fn statuses(f: &Feedback) -> Vec<(u16, PacketStatus, i32)> {
        let mut out = Vec::new();
        f.write(1, 2, &mut Vec::new(), &mut out).unwrap();
        let packet = CompoundIter::new(&out).next().unwrap().unwrap();
        let RtcpPacket::TransportCc(t) = packet else {
            panic!("not transport-cc")
        };
        t.packets()
            .map(|p| (p.sequence, p.status, p.delta.unwrap_or(0)))
            .collect()
    }

    #[test]
    fn arrivals_and_gaps_are_reported_with_their_deltas() {
        let t0 = Instant::now();
        let mut r = TwccReceiver::new(t0);
        // 10, 11, (12 lost), 13 at 1 ms, 3 ms, 3.5 ms after the epoch.
        r.on_packet(t0 + Duration::from_millis(1), 10, 7);
        r.on_packet(t0 + Duration::from_millis(3), 11, 7);
        r.on_packet(t0 + Duration::from_micros(3500), 13, 7);
        assert!(r.poll(t0 + Duration::from_millis(50)).is_empty());
        let due = r.next_feedback().unwrap();
        let f = r.poll(due);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].base_sequence, f[0].reference_time), (10, 0));
        assert_eq!(
            statuses(&f[0]),
            vec![
                (10, PacketStatus::SmallDelta, 4),
                (11, PacketStatus::SmallDelta, 8),
                (12, PacketStatus::NotReceived, 0),
                (13, PacketStatus::SmallDelta, 2),
            ]
        );
        // Next time: from 14 on, a late 12 is not reported again.
        r.on_packet(t0 + Duration::from_millis(200), 12, 7);
        r.on_packet(t0 + Duration::from_millis(201), 15, 7);
        let f = r.poll(t0 + Duration::from_millis(400));
        assert_eq!(f[0].base_sequence, 14);
        assert_eq!(f[0].feedback_count, 1);
        let s = statuses(&f[0]);
        assert_eq!(s[0].1, PacketStatus::NotReceived);
        assert_eq!(s[1].0, 15);
        // 201 ms is reference 3 (192 ms) + 9 ms = 36 units.
        assert_eq!((f[0].reference_time, s[1].2), (3, 36));
    }

    #[test]
    fn reordered_arrivals_get_negative_deltas() {
        let t0 = Instant::now();
        let mut r = TwccReceiver::new(t0);
        r.on_packet(t0 + Duration::from_millis(10), 2, 7);
        r.on_packet(t0 + Duration::from_millis(12), 1, 7);
        let f = r.poll(t0 + Duration::from_secs(1));
        let s = statuses(&f[0]);
        assert_eq!(s[0], (1, PacketStatus::SmallDelta, 48));
        assert_eq!(s[1], (2, PacketStatus::LargeDelta, -8));
    }

    #[test]
    fn a_long_silence_splits_the_feedback() {
        let t0 = Instant::now();
        let mut r = TwccReceiver::new(t0);
        r.on_packet(t0, 0, 7);
        // 10 s later: beyond a 16-bit delta of 250 us units (8.2 s).
        r.on_packet(t0 + Duration::from_secs(10), 1, 7);
        let f = r.poll(t0 + Duration::from_secs(11));
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].base_sequence, f[1].base_sequence), (0, 1));
    }
}
