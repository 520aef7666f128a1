//! Opus payloads (RFC 7587): one Opus packet (one or more frames behind its TOC byte) is one RTP
//! payload, never fragmented and never aggregated; every packet decodes alone.

use super::{DEFAULT_MAX_FRAME, DepacketizeError, Frame, Payloads};

/// A bound above the largest Opus packet RFC 6716 allows (code 3: at most 48 frames of at
/// most 1275 bytes each, plus the frame-count and length bytes; real encoders stay far below).
pub const MAX_OPUS_PACKET: usize = 61_440;

/// Every Opus payload can be decoded alone: true for any non-empty payload (RFC 7587 has no
/// inter-packet prediction a decoder must have seen).
pub fn is_keyframe(payload: &[u8]) -> bool {
    !payload.is_empty()
}

/// Puts Opus packets into payloads (one each).
#[derive(Debug, Clone, Default)]
pub struct OpusPacketizer;

impl OpusPacketizer {
    /// A packetizer (Opus needs no state and no MTU: the encoder sizes its packets).
    pub fn new() -> Self {
        Self
    }

    /// Puts the Opus packet `frame` into `payloads` as its only payload.
    pub fn packetize(&self, frame: &[u8], payloads: &mut Payloads) {
        payloads.clear();
        payloads.next().extend_from_slice(frame);
    }
}

/// Takes Opus payloads back out: each is a whole frame.
#[derive(Debug, Clone)]
pub struct OpusDepacketizer {
    max_frame: usize,
}

impl Default for OpusDepacketizer {
    fn default() -> Self {
        Self::with_max_frame(DEFAULT_MAX_FRAME.min(MAX_OPUS_PACKET))
    }
}

impl OpusDepacketizer {
    /// A depacketizer that refuses payloads over `max_frame` bytes.
    pub fn with_max_frame(max_frame: usize) -> Self {
        Self { max_frame }
    }

    /// Takes one payload; returns it as a frame (sequence gaps lose nothing but the lost
    /// packet, so `sequence` and `marker` are not needed).
    pub fn push(
        &mut self,
        _sequence: u16,
        _marker: bool,
        payload: &[u8],
    ) -> Result<Option<Frame>, DepacketizeError> {
        if payload.is_empty() {
            return Err(DepacketizeError::Truncated("empty Opus payload"));
        }
        if payload.len() > self.max_frame {
            return Err(DepacketizeError::TooLarge(self.max_frame));
        }
        Ok(Some(Frame {
            data: payload.to_vec(),
            keyframe: true,
        }))
    }
}

super::depacketizer_by_inherent_push!(OpusDepacketizer);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_packet_one_payload() {
        // TOC 0xFC: config 31 (CELT FB 20 ms), stereo, code 0 (one frame).
        let packet = [0xFC, 0xFF, 0xFE];
        let mut payloads = Payloads::default();
        OpusPacketizer::new().packetize(&packet, &mut payloads);
        assert_eq!(payloads.iter().collect::<Vec<_>>(), [&packet[..]]);
        let mut d = OpusDepacketizer::default();
        let f = d.push(7, false, &packet).unwrap().unwrap();
        assert_eq!((f.data.as_slice(), f.keyframe), (&packet[..], true));
        assert!(is_keyframe(&packet));
    }

    #[test]
    fn empty_and_oversized_payloads_are_errors() {
        let mut d = OpusDepacketizer::with_max_frame(4);
        assert_eq!(
            d.push(0, true, &[]),
            Err(DepacketizeError::Truncated("empty Opus payload"))
        );
        assert_eq!(
            d.push(1, true, &[1, 2, 3, 4, 5]),
            Err(DepacketizeError::TooLarge(4))
        );
        assert!(!is_keyframe(&[]));
    }
}
