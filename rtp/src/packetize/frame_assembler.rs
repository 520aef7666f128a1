//! A receive-side frame assembler over any payload format: RTP packets in arrival order go in,
//! are put back in sequence order within a bounded window, and their payloads go through the
//! format's [`Depacketizer`]; whole frames come out, and the assembler says when the stream
//! needs a key frame (at the start, after a loss it cannot repair, a malformed payload, or a
//! window overflow) so the application can send a PLI.
//!
//! Memory is bounded by the configuration: at most `window` packets of at most `max_payload`
//! bytes are held, at most `max_queued_frames` frames wait to be taken, and the depacketizer
//! bounds the frame being joined.
//!
//! ```
//! use sansrtc_rtp::packetize::Payloads;
//! use sansrtc_rtp::packetize::frame_assembler::{FrameAssembler, FrameAssemblerConfig};
//! use sansrtc_rtp::packetize::vp8::{Vp8Depacketizer, Vp8Packetizer};
//!
//! let frame = vec![0u8; 3000]; // a VP8 key frame (P bit 0)
//! let mut payloads = Payloads::default();
//! Vp8Packetizer::new(1200).packetize(&frame, &mut payloads);
//! let list: Vec<&[u8]> = payloads.iter().collect();
//!
//! let mut assembler =
//!     FrameAssembler::new(Vp8Depacketizer::default(), FrameAssemblerConfig::default());
//! assert!(assembler.keyframe_needed());
//! // The packets arrive out of order: 0, 2, 1 (the last has the marker bit).
//! for i in [0, 2, 1] {
//!     assembler.push(100 + i as u16, 9000, i == 2, list[i]);
//! }
//! let got = assembler.poll_frame().unwrap();
//! assert_eq!((got.timestamp, got.frame.data.len()), (9000, 3000));
//! assert!(!assembler.keyframe_needed());
//! ```

use std::collections::VecDeque;

use super::{Depacketizer, Frame};

/// Limits and behaviour of a [`FrameAssembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FrameAssemblerConfig {
    /// Packets held for reordering (1..=32768); a packet further ahead than this forces the
    /// oldest missing ones to be given up as lost.
    pub window: usize,
    /// Largest payload taken; larger ones are dropped (and counted).
    pub max_payload: usize,
    /// Frames waiting for [`FrameAssembler::poll_frame`]; beyond this the oldest is dropped.
    pub max_queued_frames: usize,
    /// After a loss, hold back frames that are not key frames until a key frame comes (they
    /// would reference what was lost).
    pub wait_for_keyframe: bool,
}

impl Default for FrameAssemblerConfig {
    fn default() -> Self {
        Self {
            window: 128,
            max_payload: 1500,
            max_queued_frames: 32,
            wait_for_keyframe: true,
        }
    }
}

/// A frame the assembler handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledFrame {
    /// The RTP timestamp of the frame's packets (the last one's).
    pub timestamp: u32,
    /// The sequence number of the packet that completed it.
    pub last_sequence: u16,
    /// The frame.
    pub frame: Frame,
}

/// What the assembler counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameAssemblerStats {
    /// Packets taken into the window.
    pub packets: u64,
    /// Packets dropped as duplicates of one held or already passed on.
    pub duplicates: u64,
    /// Packets dropped for arriving after their place was given up.
    pub late: u64,
    /// Packets dropped for exceeding `max_payload`.
    pub oversized: u64,
    /// Sequence numbers given up as lost.
    pub lost: u64,
    /// Payloads the depacketizer refused.
    pub malformed: u64,
    /// Frames handed out.
    pub frames: u64,
    /// Frames dropped (held back while waiting for a key frame, or queue overflow).
    pub dropped_frames: u64,
}

#[derive(Debug, Default)]
struct Slot {
    filled: bool,
    sequence: u16,
    timestamp: u32,
    marker: bool,
    payload: Vec<u8>,
}

/// Reorders RTP packets and joins their payloads into frames with the depacketizer `D`.
#[derive(Debug)]
pub struct FrameAssembler<D> {
    depacketizer: D,
    config: FrameAssemblerConfig,
    slots: Vec<Slot>,
    /// The ring index of `next`.
    head: usize,
    /// The sequence number passed on next; `None` before the first packet.
    next: Option<u16>,
    /// Packets held in the window.
    held: usize,
    frames: VecDeque<AssembledFrame>,
    keyframe_needed: bool,
    keyframe_request: bool,
    stats: FrameAssemblerStats,
}

impl<D: Depacketizer> FrameAssembler<D> {
    /// An assembler feeding `depacketizer`; it starts out needing a key frame.
    pub fn new(depacketizer: D, config: FrameAssemblerConfig) -> Self {
        let window = config.window.clamp(1, 32768);
        Self {
            depacketizer,
            config: FrameAssemblerConfig { window, ..config },
            slots: (0..window).map(|_| Slot::default()).collect(),
            head: 0,
            next: None,
            held: 0,
            frames: VecDeque::new(),
            keyframe_needed: true,
            keyframe_request: true,
            stats: FrameAssemblerStats::default(),
        }
    }

    /// Takes one RTP packet (its sequence number, timestamp, marker bit and payload), in any
    /// order within the window. The first packet taken starts the window (a packet sent
    /// before it counts as late). Frames it completes wait for [`poll_frame`](Self::poll_frame).
    pub fn push(&mut self, sequence: u16, timestamp: u32, marker: bool, payload: &[u8]) {
        if payload.len() > self.config.max_payload {
            self.stats.oversized += 1;
            return;
        }
        let next = *self.next.get_or_insert(sequence);
        let window = self.slots.len();
        let mut ahead = usize::from(sequence.wrapping_sub(next));
        if ahead >= 0x8000 {
            // Behind what was already passed on (or given up).
            if usize::from(next.wrapping_sub(sequence)) <= window {
                self.stats.duplicates += 1;
            } else {
                self.stats.late += 1;
            }
            return;
        }
        if ahead >= window {
            // Beyond the window: give up the oldest places until it fits.
            let shift = ahead - window + 1;
            if shift >= window {
                // A jump (a restarted stream, or a long loss): pass on everything held, give
                // up the rest, and restart the window at this packet.
                for _ in 0..window {
                    self.advance();
                }
                self.stats.lost += (ahead - window) as u64;
                self.note_loss();
                self.next = Some(sequence);
                ahead = 0;
            } else {
                for _ in 0..shift {
                    self.advance();
                }
                ahead = window - 1;
            }
        }
        let index = (self.head + ahead) % window;
        let slot = &mut self.slots[index];
        if slot.filled {
            self.stats.duplicates += 1;
            return;
        }
        slot.filled = true;
        slot.sequence = sequence;
        slot.timestamp = timestamp;
        slot.marker = marker;
        slot.payload.clear();
        slot.payload.extend_from_slice(payload);
        self.held += 1;
        self.stats.packets += 1;
        self.drain();
    }

    /// Gives up the missing packets before the oldest one held (when retransmission failed or
    /// took too long): they count as lost, a key frame is needed, and what follows is passed
    /// on. Does nothing when nothing is held.
    pub fn skip_missing(&mut self) {
        if self.held == 0 {
            return;
        }
        while !self.slots[self.head].filled {
            self.advance();
        }
        self.drain();
    }

    /// The next whole frame, oldest first.
    pub fn poll_frame(&mut self) -> Option<AssembledFrame> {
        self.frames.pop_front()
    }

    /// The stream needs a key frame: nothing decodable has come yet, or something was lost
    /// since the last key frame.
    pub fn keyframe_needed(&self) -> bool {
        self.keyframe_needed
    }

    /// True once each time the stream starts needing a key frame (the moment to send a PLI);
    /// false until the next loss after that.
    pub fn take_keyframe_request(&mut self) -> bool {
        std::mem::take(&mut self.keyframe_request)
    }

    /// What was counted so far.
    pub fn stats(&self) -> FrameAssemblerStats {
        self.stats
    }

    /// The depacketizer (for format state such as the VP9 scalability structure).
    pub fn depacketizer(&self) -> &D {
        &self.depacketizer
    }

    /// Packets held for reordering.
    pub fn held(&self) -> usize {
        self.held
    }

    fn note_loss(&mut self) {
        if !self.keyframe_needed {
            self.keyframe_request = true;
        }
        self.keyframe_needed = true;
    }

    /// Passes the packets in sequence order on from the head while they are there.
    fn drain(&mut self) {
        while self.slots[self.head].filled {
            self.advance();
        }
    }

    /// Passes the head slot's packet on (or gives its sequence number up as lost) and moves
    /// the head one on.
    fn advance(&mut self) {
        let window = self.slots.len();
        let head = self.head;
        self.head = (head + 1) % window;
        let next = self.next.expect("advance only after the first packet");
        self.next = Some(next.wrapping_add(1));
        let slot = &mut self.slots[head];
        if !slot.filled {
            self.stats.lost += 1;
            self.note_loss();
            return;
        }
        slot.filled = false;
        self.held -= 1;
        let (sequence, timestamp, marker) = (slot.sequence, slot.timestamp, slot.marker);
        let result = self.depacketizer.push(sequence, marker, &slot.payload);
        match result {
            Ok(Some(frame)) => self.frame(sequence, timestamp, frame),
            Ok(None) => {}
            Err(_) => {
                self.stats.malformed += 1;
                self.note_loss();
            }
        }
    }

    fn frame(&mut self, sequence: u16, timestamp: u32, frame: Frame) {
        if frame.keyframe {
            self.keyframe_needed = false;
            self.keyframe_request = false;
        } else if self.keyframe_needed && self.config.wait_for_keyframe {
            self.stats.dropped_frames += 1;
            return;
        }
        if self.frames.len() >= self.config.max_queued_frames.max(1) {
            self.frames.pop_front();
            self.stats.dropped_frames += 1;
            self.note_loss();
        }
        self.stats.frames += 1;
        self.frames.push_back(AssembledFrame {
            timestamp,
            last_sequence: sequence,
            frame,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packetize::Payloads;
    use crate::packetize::opus::OpusDepacketizer;
    use crate::packetize::vp8::{Vp8Depacketizer, Vp8Packetizer};

    fn vp8_payloads(frame: &[u8], max: usize) -> Vec<Vec<u8>> {
        let mut payloads = Payloads::default();
        Vp8Packetizer::new(max).packetize(frame, &mut payloads);
        payloads.iter().map(<[u8]>::to_vec).collect()
    }

    #[test]
    fn reordered_and_duplicated_packets_make_one_frame() {
        let key = vec![0u8; 500];
        let list = vp8_payloads(&key, 110);
        assert_eq!(list.len(), 5);
        let mut a = FrameAssembler::new(Vp8Depacketizer::default(), Default::default());
        assert!(a.take_keyframe_request() && !a.take_keyframe_request());
        for i in [0usize, 2, 1, 2, 4, 3] {
            a.push(65534u16.wrapping_add(i as u16), 1, i == 4, &list[i]);
        }
        let f = a.poll_frame().unwrap();
        assert_eq!(
            (f.frame.data, f.frame.keyframe, f.last_sequence),
            (key, true, 2)
        );
        assert!(a.poll_frame().is_none() && !a.keyframe_needed());
        assert_eq!(a.stats().duplicates, 1);
        // A packet from before is a duplicate too.
        a.push(65535, 1, false, &list[1]);
        assert_eq!(a.stats().duplicates, 2);
        assert_eq!(a.held(), 0);
    }

    #[test]
    fn a_loss_needs_a_keyframe_and_holds_delta_frames() {
        let key = vec![0u8; 300];
        let delta = vec![1u8; 300];
        let mut a = FrameAssembler::new(
            Vp8Depacketizer::default(),
            FrameAssemblerConfig {
                window: 4,
                ..Default::default()
            },
        );
        let mut seq = 0u16;
        let mut send =
            |a: &mut FrameAssembler<Vp8Depacketizer>, frame: &[u8], lose: Option<usize>| {
                let list = vp8_payloads(frame, 110);
                for (i, p) in list.iter().enumerate() {
                    if Some(i) != lose {
                        a.push(seq, u32::from(seq), i + 1 == list.len(), p);
                    }
                    seq += 1;
                }
            };
        send(&mut a, &key, None);
        assert!(a.poll_frame().unwrap().frame.keyframe);
        assert!(!a.take_keyframe_request());
        // The second packet of a delta frame is lost; the window (4) is overrun by the next
        // frame, so it is given up.
        send(&mut a, &delta, Some(1));
        assert!(a.poll_frame().is_none());
        send(&mut a, &delta, None);
        send(&mut a, &delta, None);
        assert!(a.keyframe_needed() && a.take_keyframe_request());
        assert!(!a.take_keyframe_request());
        assert!(
            a.poll_frame().is_none(),
            "delta frames wait for a key frame"
        );
        assert!(a.stats().lost >= 1 && a.stats().dropped_frames >= 1);
        send(&mut a, &key, None);
        a.skip_missing();
        let mut last = None;
        while let Some(f) = a.poll_frame() {
            last = Some(f);
        }
        assert!(last.unwrap().frame.keyframe);
        assert!(!a.keyframe_needed());
    }

    #[test]
    fn skip_missing_gives_up_a_hole() {
        let mut a = FrameAssembler::new(OpusDepacketizer::default(), Default::default());
        a.push(10, 0, true, &[1]);
        a.push(12, 960, true, &[3]);
        assert_eq!(a.poll_frame().unwrap().frame.data, [1]);
        assert!(a.poll_frame().is_none());
        assert_eq!(a.held(), 1);
        a.skip_missing();
        let f = a.poll_frame().unwrap();
        assert_eq!((f.frame.data, f.timestamp), (vec![3], 960));
        assert_eq!(a.stats().lost, 1);
        // Opus frames are all key frames: the need ends with the next one.
        assert!(!a.keyframe_needed());
    }

    #[test]
    fn a_far_jump_restarts_the_window_and_oversized_payloads_are_dropped() {
        let mut a = FrameAssembler::new(
            OpusDepacketizer::default(),
            FrameAssemblerConfig {
                window: 8,
                max_payload: 4,
                ..Default::default()
            },
        );
        a.push(0, 0, true, &[1]);
        a.push(2, 0, true, &[2]);
        a.push(1000, 0, true, &[3]);
        let got: Vec<Vec<u8>> = std::iter::from_fn(|| a.poll_frame())
            .map(|f| f.frame.data)
            .collect();
        assert_eq!(got, [vec![1], vec![2], vec![3]]);
        assert_eq!(a.stats().lost, 998);
        a.push(1001, 0, true, &[0; 5]);
        assert_eq!(a.stats().oversized, 1);
        a.push(3, 0, true, &[4]);
        assert_eq!(a.stats().late, 1);
    }
}
