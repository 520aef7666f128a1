//! RFC 4571 framing: ICE, DTLS and SRTP packets over a TCP stream (ICE-TCP, RFC 6544), each
//! packet preceded by its length as a 16-bit big-endian number.
//!
//! The caller owns the TCP streams (the library stays sans-IO): it runs one [`Deframer`] per
//! accepted stream on the bytes it reads, hands every complete frame to the connection as a
//! received packet, and writes each packet the connection sends on that stream preceded by
//! [`frame_header`] (or copied whole by [`encode_frame`]).
//!
//! A [`Deframer`] keeps at most one partial frame: at most `2 + max_frame_len` bytes (65,537 with
//! the default), whatever lengths the peer announces, and it allocates only while its buffer
//! grows to that size, never per frame.

/// Largest payload a 16-bit length prefix can announce.
pub const MAX_FRAME_LEN: usize = u16::MAX as usize;

/// Bytes of the length prefix.
pub const HEADER_LEN: usize = 2;

/// Why bytes cannot be framed or deframed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// A frame longer than allowed: announced by the peer (the stream must be dropped: its
    /// framing can no longer be trusted) or given to the encoder.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The frame's length.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
    /// The output buffer is too small for the frame.
    #[error("output buffer of {available} bytes, the frame needs {needed}")]
    BufferTooSmall {
        /// Bytes the frame needs (header included).
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

/// The 2-byte length prefix of a frame carrying `len` bytes: write it, then the payload.
pub fn frame_header(len: usize) -> Result<[u8; HEADER_LEN], FramingError> {
    u16::try_from(len)
        .map(u16::to_be_bytes)
        .map_err(|_| FramingError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        })
}

/// Writes `payload` as one frame (length prefix, then the payload) into `out` and returns the
/// number of bytes written (`payload.len() + 2`).
pub fn encode_frame(payload: &[u8], out: &mut [u8]) -> Result<usize, FramingError> {
    let header = frame_header(payload.len())?;
    let needed = HEADER_LEN + payload.len();
    let Some(out) = out.get_mut(..needed) else {
        return Err(FramingError::BufferTooSmall {
            needed,
            available: out.len(),
        });
    };
    out[..HEADER_LEN].copy_from_slice(&header);
    out[HEADER_LEN..].copy_from_slice(payload);
    Ok(needed)
}

/// Splits the bytes read from one TCP stream into frames. Total: any byte sequence gives frames
/// or a [`FramingError`], never a panic; memory stays within `2 + max_frame_len` bytes.
///
/// ```
/// # use sansrtc_ice::framing::{Deframer, encode_frame};
/// let mut wire = [0u8; 16];
/// let n = encode_frame(b"hello", &mut wire).unwrap();
/// let mut d = Deframer::new();
/// let mut input = &wire[..n];
/// let mut frames = Vec::new();
/// while !input.is_empty() {
///     let used = d.push(input);
///     input = &input[used..];
///     while let Some(frame) = d.next_frame().unwrap() {
///         frames.push(frame.to_vec());
///     }
/// }
/// assert_eq!(frames, [b"hello".to_vec()]);
/// ```
#[derive(Debug, Clone)]
pub struct Deframer {
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    start: usize,
    /// Length of the frame returned by the last `next_frame` (dropped at the next call).
    returned: usize,
    max_frame_len: usize,
}

impl Default for Deframer {
    fn default() -> Self {
        Self::new()
    }
}

impl Deframer {
    /// A deframer accepting frames up to [`MAX_FRAME_LEN`] bytes.
    pub fn new() -> Self {
        Self::with_max_frame_len(MAX_FRAME_LEN)
    }

    /// A deframer refusing frames longer than `max_frame_len` (at most [`MAX_FRAME_LEN`]):
    /// ICE, DTLS and SRTP packets are rarely larger than a path MTU, so a server may keep each
    /// stream's buffer small.
    pub fn with_max_frame_len(max_frame_len: usize) -> Self {
        Deframer {
            buf: Vec::new(),
            start: 0,
            returned: 0,
            max_frame_len: max_frame_len.min(MAX_FRAME_LEN),
        }
    }

    /// The largest frame accepted.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }

    /// Bytes held (a partial frame, or frames not yet taken).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start - self.returned
    }

    /// The most bytes this deframer ever holds.
    pub fn capacity_limit(&self) -> usize {
        HEADER_LEN + self.max_frame_len
    }

    /// Copies as many of `bytes` as fit (at most one frame beyond the frames already complete)
    /// and returns how many were taken: call [`Deframer::next_frame`] until it returns `None`,
    /// then push the rest.
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        self.drop_returned();
        if self.start > 0 && self.buf.len() + bytes.len() > self.capacity_limit() {
            // Compact: move the unread bytes to the front (no allocation).
            self.buf.copy_within(self.start.., 0);
            self.buf.truncate(self.buf.len() - self.start);
            self.start = 0;
        }
        let room = self.capacity_limit().saturating_sub(self.buf.len());
        let take = bytes.len().min(room);
        self.buf.extend_from_slice(&bytes[..take]);
        take
    }

    /// The next complete frame's payload, `Ok(None)` when more bytes are needed, or
    /// [`FramingError::TooLarge`] when the peer announces a frame longer than the limit (the
    /// buffer is then cleared; the caller should close the stream). Empty frames are skipped.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FramingError> {
        self.drop_returned();
        loop {
            let unread = &self.buf[self.start..];
            let Some(&[hi, lo]) = unread.get(..HEADER_LEN) else {
                return Ok(None);
            };
            let len = usize::from(u16::from_be_bytes([hi, lo]));
            if len > self.max_frame_len {
                self.buf.clear();
                self.start = 0;
                return Err(FramingError::TooLarge {
                    len,
                    max: self.max_frame_len,
                });
            }
            if unread.len() < HEADER_LEN + len {
                return Ok(None);
            }
            self.start += HEADER_LEN;
            if len == 0 {
                continue;
            }
            self.returned = len;
            return Ok(Some(&self.buf[self.start..self.start + len]));
        }
    }

    fn drop_returned(&mut self) {
        self.start += std::mem::take(&mut self.returned);
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `wire` in pieces of the given sizes (cycled) and collects the frames.
    fn deframe(
        d: &mut Deframer,
        wire: &[u8],
        pieces: &[usize],
    ) -> Result<Vec<Vec<u8>>, FramingError> {
        let mut frames = Vec::new();
        let mut input = wire;
        let mut sizes = pieces.iter().copied().cycle();
        while !input.is_empty() {
            let piece = sizes.next().unwrap_or(input.len()).clamp(1, input.len());
            let mut chunk = &input[..piece];
            input = &input[piece..];
            while !chunk.is_empty() {
                let used = d.push(chunk);
                chunk = &chunk[used..];
                while let Some(f) = d.next_frame()? {
                    frames.push(f.to_vec());
                }
                assert!(d.buf.len() <= d.capacity_limit());
            }
        }
        Ok(frames)
    }

    fn encode_all(frames: &[Vec<u8>]) -> Vec<u8> {
        let mut wire = Vec::new();
        for f in frames {
            wire.extend_from_slice(&frame_header(f.len()).unwrap());
            wire.extend_from_slice(f);
        }
        wire
    }

    #[test]
    fn frames_split_across_reads() {
        let frames = vec![b"abc".to_vec(), vec![7; 1200], b"z".to_vec()];
        let wire = encode_all(&frames);
        for piece in [1, 2, 3, 5, 1000, 5000] {
            let mut d = Deframer::new();
            assert_eq!(deframe(&mut d, &wire, &[piece]).unwrap(), frames);
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn empty_frames_are_skipped() {
        let mut d = Deframer::new();
        let wire = [0, 0, 0, 1, 9, 0, 0];
        assert_eq!(deframe(&mut d, &wire, &[7]).unwrap(), vec![vec![9]]);
    }

    #[test]
    fn lying_length_is_refused_and_bounded() {
        let mut d = Deframer::with_max_frame_len(1500);
        let mut wire = vec![0xff, 0xff];
        wire.extend_from_slice(&[1; 3000]);
        assert_eq!(
            deframe(&mut d, &wire, &[100]),
            Err(FramingError::TooLarge {
                len: 65535,
                max: 1500
            })
        );
        assert_eq!(d.buffered(), 0);
        // A frame that never completes holds at most the limit.
        let mut d = Deframer::with_max_frame_len(1500);
        let mut wire = vec![0x05, 0xdc];
        wire.extend_from_slice(&[1; 1400]);
        assert_eq!(
            deframe(&mut d, &wire, &[64]).unwrap(),
            Vec::<Vec<u8>>::new()
        );
        assert_eq!(d.buffered(), 1402);
        assert_eq!(d.push(&[0; 5000]), 100, "takes only up to the frame's end");
    }

    #[test]
    fn encoder_limits() {
        let mut out = [0u8; 4];
        assert_eq!(encode_frame(b"ab", &mut out), Ok(4));
        assert_eq!(out, [0, 2, b'a', b'b']);
        assert_eq!(
            encode_frame(b"abc", &mut out),
            Err(FramingError::BufferTooSmall {
                needed: 5,
                available: 4
            })
        );
        assert_eq!(
            frame_header(70_000),
            Err(FramingError::TooLarge {
                len: 70_000,
                max: MAX_FRAME_LEN
            })
        );
    }

    proptest! {
        #[test]
        fn round_trip(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..3000), 0..12),
                      pieces in proptest::collection::vec(1usize..4000, 1..8)) {
            let wire = encode_all(&frames);
            let mut d = Deframer::new();
            prop_assert_eq!(deframe(&mut d, &wire, &pieces).unwrap(), frames);
            prop_assert_eq!(d.buffered(), 0);
        }

        #[test]
        fn any_bytes_are_total_and_bounded(wire in proptest::collection::vec(any::<u8>(), 0..5000),
                                           max in 0usize..3000,
                                           pieces in proptest::collection::vec(1usize..700, 1..4)) {
            let mut d = Deframer::with_max_frame_len(max);
            if let Ok(frames) = deframe(&mut d, &wire, &pieces) {
                prop_assert!(frames.iter().all(|f| !f.is_empty() && f.len() <= max));
            }
            prop_assert!(d.buffered() <= HEADER_LEN + max);
        }
    }
}
