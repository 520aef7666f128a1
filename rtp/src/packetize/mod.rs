//! Payload formats: cutting encoded frames into RTP payloads that fit the path MTU, and
//! joining received payloads back into frames. Opus (RFC 7587: one packet, one payload), VP8
//! (RFC 7741), VP9 (RFC 9628, flexible and non-flexible mode), H.264 (RFC 6184, packetization
//! mode 1: single NAL unit, STAP-A and FU-A), H.265 (RFC 7798: single NAL unit, AP and FU) and
//! AV1 (the AOM RTP payload format: aggregation header, OBU elements and fragments). Each format
//! has a keyframe test on a single payload (`is_keyframe`) for forwarding servers, and every
//! depacketizer implements [`Depacketizer`], which [`frame_assembler::FrameAssembler`] builds on
//! to reorder packets and tell when a key frame is needed.
//!
//! Packetizers write a frame's payloads into [`Payloads`], whose buffers are reused from frame
//! to frame (nothing is allocated once they have grown). Depacketizers take payloads in sequence order and
//! give back whole frames; a sequence-number gap, a frame starting mid-way or a frame over the
//! size limit drops that frame (the next complete one comes through), so a lossy or hostile
//! stream costs at most the limit in memory.
//!
//! ```
//! use sansrtc_rtp::packetize::Payloads;
//! use sansrtc_rtp::packetize::vp8::{Vp8Depacketizer, Vp8Packetizer};
//!
//! let frame: Vec<u8> = (0..3000).map(|i| i as u8).collect();
//! let mut packetizer = Vp8Packetizer::new(1200);
//! let mut payloads = Payloads::default();
//! packetizer.packetize(&frame, &mut payloads);
//! assert_eq!(payloads.len(), 3);
//!
//! let mut depacketizer = Vp8Depacketizer::default();
//! let mut got = None;
//! for (i, payload) in payloads.iter().enumerate() {
//!     assert!(payload.len() <= 1200);
//!     // The frame's last packet has the RTP marker bit.
//!     let marker = i + 1 == payloads.len();
//!     got = depacketizer.push(i as u16, marker, payload).unwrap();
//! }
//! assert_eq!(got.unwrap().data, frame);
//! ```

pub mod av1;
pub mod frame_assembler;
pub mod h264;
pub mod h265;
pub mod opus;
pub mod vp8;
pub mod vp9;

use thiserror::Error;

/// Largest frame a depacketizer assembles unless told otherwise.
pub const DEFAULT_MAX_FRAME: usize = 4 << 20;

/// Why a payload could not be taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DepacketizeError {
    /// The payload ends inside its descriptor or aggregation header.
    #[error("payload truncated: {0}")]
    Truncated(&'static str),
    /// A payload structure this depacketizer does not take (e.g. H.264 FU-B, MTAP).
    #[error("unsupported payload: {0}")]
    Unsupported(&'static str),
    /// The frame grew over the limit; it is dropped.
    #[error("frame over the limit of {0} bytes")]
    TooLarge(usize),
}

/// A depacketizer: payloads in sequence order in, whole frames out. Every payload format's
/// depacketizer implements it, so receive-side code (such as a frame assembler) can be generic
/// over the format.
pub trait Depacketizer {
    /// Takes the payload of the packet with `sequence` number and `marker` bit; returns the
    /// frame this payload completes. Payloads must come in sequence order; a gap drops the
    /// frame it falls in.
    fn push(
        &mut self,
        sequence: u16,
        marker: bool,
        payload: &[u8],
    ) -> Result<Option<Frame>, DepacketizeError>;
}

/// Implements [`Depacketizer`] for a type by its inherent `push` of the same signature.
macro_rules! depacketizer_by_inherent_push {
    ($t:ty) => {
        impl $crate::packetize::Depacketizer for $t {
            fn push(
                &mut self,
                sequence: u16,
                marker: bool,
                payload: &[u8],
            ) -> Result<Option<Frame>, DepacketizeError> {
                <$t>::push(self, sequence, marker, payload)
            }
        }
    };
}
use depacketizer_by_inherent_push;

/// Why a payload structure (a descriptor, a header extension) could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum WriteError {
    /// A value does not fit its field, or the fields contradict each other.
    #[error("value does not fit its field: {0}")]
    FieldOverflow(&'static str),
}

/// The payloads of one frame, in sending order (the last one gets the RTP marker bit). The
/// buffers stay allocated for the next frame.
#[derive(Debug, Default, Clone)]
pub struct Payloads {
    buffers: Vec<Vec<u8>>,
    len: usize,
}

impl Payloads {
    /// How many payloads the frame took.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No payloads (an empty frame).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The payloads, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.buffers[..self.len].iter().map(Vec::as_slice)
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    /// The next payload's buffer, empty.
    fn next(&mut self) -> &mut Vec<u8> {
        if self.len == self.buffers.len() {
            self.buffers.push(Vec::new());
        }
        let b = &mut self.buffers[self.len];
        b.clear();
        self.len += 1;
        b
    }
}

/// A frame joined from its payloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The encoded frame (H.264: an Annex B access unit, start codes before each NAL unit).
    pub data: Vec<u8>,
    /// It can be decoded alone (VP8 key frame; H.264 IDR).
    pub keyframe: bool,
}

/// Collects the bytes of one frame across payloads in sequence order.
#[derive(Debug)]
struct Assembler {
    data: Vec<u8>,
    next_sequence: Option<u16>,
    /// A frame is being collected and no payload of it was lost.
    collecting: bool,
    keyframe: bool,
    max: usize,
    /// The size of the last frame handed out: the next one is likely about as large, so its
    /// buffer starts with that capacity (one allocation instead of one per doubling).
    last_len: usize,
}

impl Assembler {
    fn new(max: usize) -> Self {
        Self {
            data: Vec::new(),
            next_sequence: None,
            collecting: false,
            keyframe: false,
            max,
            last_len: 0,
        }
    }

    /// Notes the payload's sequence number; false when one was lost since the last (the
    /// frame being collected is dropped).
    fn in_sequence(&mut self, sequence: u16) -> bool {
        let expected = self.next_sequence.replace(sequence.wrapping_add(1));
        let ok = expected.is_none_or(|e| e == sequence);
        if !ok {
            self.drop_frame();
        }
        ok
    }

    fn start(&mut self, keyframe: bool) {
        self.data.clear();
        self.data.reserve(self.last_len.min(self.max));
        self.collecting = true;
        self.keyframe = keyframe;
    }

    fn drop_frame(&mut self) {
        self.collecting = false;
        self.data.clear();
    }

    /// Room for `more` bytes within the limit; the frame is dropped when there is none.
    fn reserve(&mut self, more: usize) -> Result<(), DepacketizeError> {
        if self.data.len() + more > self.max {
            self.drop_frame();
            return Err(DepacketizeError::TooLarge(self.max));
        }
        Ok(())
    }

    /// Appends `data` to the frame being collected; the frame when `marker` ends it.
    fn append(&mut self, data: &[u8], marker: bool) -> Result<Option<Frame>, DepacketizeError> {
        self.reserve(data.len())?;
        self.data.extend_from_slice(data);
        Ok(if marker { self.finish() } else { None })
    }

    fn finish(&mut self) -> Option<Frame> {
        if !self.collecting {
            return None;
        }
        self.collecting = false;
        self.last_len = self.data.len();
        Some(Frame {
            data: std::mem::take(&mut self.data),
            keyframe: self.keyframe,
        })
    }
}

/// The 4-byte Annex B start code put before each NAL unit of a depacketized access unit.
const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// What the H.264 and H.265 depacketizers share: access units joined in sequence order from
/// NAL units, aggregates and fragments, written out as Annex B. Each format reads its own
/// payload headers and hands the NAL units here.
#[derive(Debug)]
struct AnnexBUnits {
    assembler: Assembler,
    /// The previous payload ended an access unit (marker bit), so the next one starts one.
    at_boundary: bool,
    /// A fragmented NAL unit is open.
    in_fragment: bool,
}

impl AnnexBUnits {
    fn new(max_frame: usize) -> Self {
        Self {
            assembler: Assembler::new(max_frame),
            at_boundary: true,
            in_fragment: false,
        }
    }

    /// Takes one payload (its NAL units added by `add`); returns the access unit a marker
    /// completes. A gap drops the access unit it falls in.
    fn push(
        &mut self,
        sequence: u16,
        marker: bool,
        payload: &[u8],
        add: impl FnOnce(&mut Self, &[u8]) -> Result<(), DepacketizeError>,
    ) -> Result<Option<Frame>, DepacketizeError> {
        let in_sequence = self.assembler.in_sequence(sequence);
        // An access unit starts after a marker; after a gap, only after the next marker (the
        // lost packets may have been the start of the one that follows).
        let can_start = self.at_boundary && in_sequence;
        self.at_boundary = marker;
        if !in_sequence {
            self.in_fragment = false;
        }
        if !self.assembler.collecting {
            if !can_start {
                return Ok(None);
            }
            self.assembler.start(false);
            self.in_fragment = false;
        }
        if let Err(e) = add(self, payload) {
            self.assembler.drop_frame();
            self.in_fragment = false;
            return Err(e);
        }
        Ok(if marker {
            self.in_fragment = false;
            self.assembler.finish()
        } else {
            None
        })
    }

    /// A whole NAL unit; `keyframe` if its type makes the access unit decodable alone.
    fn nal(&mut self, nal: &[u8], keyframe: bool) -> Result<(), DepacketizeError> {
        self.assembler.reserve(START_CODE.len() + nal.len())?;
        self.assembler.keyframe |= keyframe;
        self.assembler.data.extend_from_slice(&START_CODE);
        self.assembler.data.extend_from_slice(nal);
        Ok(())
    }

    /// A fragment of a NAL unit: the first (`start`) brings its rebuilt NAL unit `header`;
    /// `missing_start` is the error for a fragment whose start was never seen.
    fn fragment(
        &mut self,
        (start, end): (bool, bool),
        header: &[u8],
        body: &[u8],
        keyframe: bool,
        missing_start: &'static str,
    ) -> Result<(), DepacketizeError> {
        if start {
            self.assembler
                .reserve(START_CODE.len() + header.len() + body.len())?;
            self.assembler.keyframe |= keyframe;
            self.assembler.data.extend_from_slice(&START_CODE);
            self.assembler.data.extend_from_slice(header);
            self.in_fragment = true;
        } else if !self.in_fragment {
            return Err(DepacketizeError::Truncated(missing_start));
        } else {
            self.assembler.reserve(body.len())?;
        }
        self.assembler.data.extend_from_slice(body);
        if end {
            self.in_fragment = false;
        }
        Ok(())
    }
}

/// How many payloads of at most `capacity` bytes `len` bytes need, and the size of each but
/// the last, so that the payloads come out about equal.
fn even_split(len: usize, capacity: usize) -> (usize, usize) {
    let capacity = capacity.max(1);
    let count = len.div_ceil(capacity).max(1);
    (count, len.div_ceil(count).max(1))
}
