//! VP8 payloads (RFC 7741): a payload descriptor (with a 15-bit picture ID) before each piece
//! of the frame; the first piece has the start bit, the frame's last packet the RTP marker.

use super::{Assembler, DEFAULT_MAX_FRAME, DepacketizeError, Frame, Payloads, even_split};

/// Length of the descriptor we write: the required byte, the extension byte and a 15-bit
/// picture ID.
const DESCRIPTOR_LEN: usize = 4;

/// Cuts VP8 frames into payloads of at most `max_payload` bytes.
#[derive(Debug, Clone)]
pub struct Vp8Packetizer {
    max_payload: usize,
    picture_id: u16,
}

impl Vp8Packetizer {
    /// A packetizer for payloads of at most `max_payload` bytes (the path MTU minus the RTP
    /// header, its extensions and the SRTP tag); at least 5.
    pub fn new(max_payload: usize) -> Self {
        Self {
            max_payload: max_payload.max(DESCRIPTOR_LEN + 1),
            picture_id: 0,
        }
    }

    /// The picture ID the next frame gets (15 bits, then it wraps).
    pub fn set_picture_id(&mut self, picture_id: u16) {
        self.picture_id = picture_id & 0x7FFF;
    }

    /// Cuts `frame` into `payloads` (about equal pieces, each behind its descriptor); the next
    /// frame gets the next picture ID.
    pub fn packetize(&mut self, frame: &[u8], payloads: &mut Payloads) {
        payloads.clear();
        let (count, piece) = even_split(frame.len(), self.max_payload - DESCRIPTOR_LEN);
        for index in 0..count {
            let start = (index * piece).min(frame.len());
            let end = (start + piece).min(frame.len());
            let first = if index == 0 { 0x10 } else { 0 };
            let out = payloads.next();
            // X=1, S on the first piece, partition 0; I=1; M=1 and the 15-bit picture ID.
            out.extend_from_slice(&[
                0x80 | first,
                0x80,
                0x80 | (self.picture_id >> 8) as u8,
                self.picture_id as u8,
            ]);
            out.extend_from_slice(&frame[start..end]);
        }
        self.picture_id = (self.picture_id + 1) & 0x7FFF;
    }
}

/// What a VP8 payload descriptor says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vp8Descriptor {
    /// The start of a partition.
    pub start: bool,
    /// The partition index.
    pub partition: u8,
    /// The picture ID, when present (7 or 15 bits).
    pub picture_id: Option<u16>,
    /// Where the VP8 data starts in the payload.
    pub header_len: usize,
}

impl Vp8Descriptor {
    /// Reads the descriptor at the start of `payload`.
    pub fn parse(payload: &[u8]) -> Result<Self, DepacketizeError> {
        let truncated = || DepacketizeError::Truncated("VP8 payload descriptor");
        let &first = payload.first().ok_or_else(truncated)?;
        let mut at = 1;
        let mut picture_id = None;
        if first & 0x80 != 0 {
            let &ext = payload.get(at).ok_or_else(truncated)?;
            at += 1;
            if ext & 0x80 != 0 {
                let &b = payload.get(at).ok_or_else(truncated)?;
                if b & 0x80 != 0 {
                    let &lo = payload.get(at + 1).ok_or_else(truncated)?;
                    picture_id = Some((u16::from(b & 0x7F) << 8) | u16::from(lo));
                    at += 2;
                } else {
                    picture_id = Some(u16::from(b));
                    at += 1;
                }
            }
            if ext & 0x40 != 0 {
                at += 1; // TL0PICIDX
            }
            if ext & 0x30 != 0 {
                at += 1; // TID / Y / KEYIDX
            }
        }
        if at >= payload.len() {
            return Err(truncated());
        }
        Ok(Self {
            start: first & 0x10 != 0,
            partition: first & 0x07,
            picture_id,
            header_len: at,
        })
    }
}

/// This payload starts a VP8 key frame: the start of partition 0 with the frame tag's P bit
/// clear (RFC 7741 4.3). False for anything that does not parse.
pub fn is_keyframe(payload: &[u8]) -> bool {
    Vp8Descriptor::parse(payload)
        .is_ok_and(|d| d.start && d.partition == 0 && payload[d.header_len] & 0x01 == 0)
}

/// Joins VP8 payloads into frames.
#[derive(Debug)]
pub struct Vp8Depacketizer {
    assembler: Assembler,
}

impl Default for Vp8Depacketizer {
    fn default() -> Self {
        Self::with_max_frame(DEFAULT_MAX_FRAME)
    }
}

impl Vp8Depacketizer {
    /// A depacketizer that drops frames over `max_frame` bytes.
    pub fn with_max_frame(max_frame: usize) -> Self {
        Self {
            assembler: Assembler::new(max_frame),
        }
    }

    /// Takes the payload of the packet with `sequence` number and `marker` bit; returns the
    /// frame this payload completes. Payloads must come in sequence order (after a jitter
    /// buffer); a gap drops the frame it falls in.
    pub fn push(
        &mut self,
        sequence: u16,
        marker: bool,
        payload: &[u8],
    ) -> Result<Option<Frame>, DepacketizeError> {
        let in_sequence = self.assembler.in_sequence(sequence);
        let d = match Vp8Descriptor::parse(payload) {
            Ok(d) => d,
            Err(e) => {
                self.assembler.drop_frame();
                return Err(e);
            }
        };
        let data = &payload[d.header_len..];
        if d.start && d.partition == 0 {
            // The frame tag's P bit is 0 for key frames (RFC 6386 9.1).
            self.assembler.start(data[0] & 0x01 == 0);
        } else if !in_sequence || !self.assembler.collecting {
            return Ok(None);
        }
        self.assembler.append(data, marker)
    }
}

super::depacketizer_by_inherent_push!(Vp8Depacketizer);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_of_rfc7741_shapes() {
        // Only the required byte: S=1, partition 0.
        let d = Vp8Descriptor::parse(&[0x10, 0xAA]).unwrap();
        assert_eq!(
            (d.start, d.partition, d.picture_id, d.header_len),
            (true, 0, None, 1)
        );
        // X, I with a 7-bit picture ID, L and T/K.
        let d = Vp8Descriptor::parse(&[0x90, 0xF0, 0x11, 0x05, 0x20, 0xAA]).unwrap();
        assert_eq!((d.picture_id, d.header_len), (Some(0x11), 5));
        // 15-bit picture ID.
        let d = Vp8Descriptor::parse(&[0x80, 0x80, 0x81, 0x02, 0xAA]).unwrap();
        assert_eq!(
            (d.start, d.picture_id, d.header_len),
            (false, Some(0x102), 4)
        );
        assert!(is_keyframe(&[0x10, 0x00]) && !is_keyframe(&[0x10, 0x01]));
        assert!(!is_keyframe(&[0x00, 0x00]) && !is_keyframe(&[0x10]));
        for short in [&[][..], &[0x80], &[0x80, 0x80, 0x81], &[0x90, 0x80, 0x01]] {
            assert!(Vp8Descriptor::parse(short).is_err(), "{short:?}");
        }
    }

    #[test]
    fn a_gap_drops_the_frame_and_the_next_one_comes() {
        let mut p = Vp8Packetizer::new(100);
        let mut d = Vp8Depacketizer::default();
        let frame = vec![0u8; 250]; // key frame (P bit 0)
        let mut payloads = Payloads::default();
        p.packetize(&frame, &mut payloads);
        let n = payloads.len();
        assert_eq!(n, 3);
        let mut seq = 0u16;
        for (i, payload) in payloads.iter().enumerate() {
            if i != 1 {
                assert_eq!(d.push(seq, i + 1 == n, payload).unwrap(), None);
            }
            seq += 1;
        }
        let next = vec![1u8; 50]; // delta frame
        p.packetize(&next, &mut payloads);
        let payload = payloads.iter().next().unwrap();
        let f = d.push(seq, true, payload).unwrap().unwrap();
        assert_eq!((f.data, f.keyframe), (next, false));
    }

    #[test]
    fn frames_over_the_limit_are_dropped() {
        let mut p = Vp8Packetizer::new(100);
        let mut d = Vp8Depacketizer::with_max_frame(150);
        let frame = vec![0u8; 200];
        let mut payloads = Payloads::default();
        p.packetize(&frame, &mut payloads);
        let n = payloads.len();
        let mut errors = 0;
        for (i, payload) in payloads.iter().enumerate() {
            match d.push(i as u16, i + 1 == n, payload) {
                Err(DepacketizeError::TooLarge(150)) => errors += 1,
                Ok(None) => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(errors, 1);
    }
}
