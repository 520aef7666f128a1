//! TURN over a stream (TCP, TLS; RFC 8656 framing): splitting what the caller reads into STUN
//! messages and ChannelData.

use std::time::Instant;

use super::*;
use crate::rng::Rng;

/// Most bytes of a partial frame kept from a TCP stream (a STUN message or ChannelData is at
/// most 65535 + 20 bytes).
pub const MAX_STREAM_BUFFER: usize = 65_535 + 20 + 4;

/// Splits the bytes of a TURN stream (TCP or TLS, RFC 8656 section 12.5) into frames: STUN
/// messages and ChannelData (padded to four bytes). Shared by the TURN client and the TURN server
/// (one per connection). It keeps at most one partial frame ([`MAX_STREAM_BUFFER`] bytes).
#[derive(Debug, Clone, Default)]
pub struct StreamFramer {
    buf: Vec<u8>,
}

/// Why a stream cannot be TURN framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotTurnFraming;

impl StreamFramer {
    /// An empty framer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered (a partial frame).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame (ChannelData keeps its padding), `Ok(None)` if more bytes are
    /// needed, or an error (the buffer is then discarded) if the bytes are neither STUN nor
    /// ChannelData.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, NotTurnFraming> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
        let frame_len = match self.buf[0] >> 6 {
            0 => 20 + len,
            1 => 4 + ((len + 3) & !3),
            _ => {
                self.buf.clear();
                return Err(NotTurnFraming);
            }
        };
        if self.buf.len() < frame_len {
            if self.buf.len() > MAX_STREAM_BUFFER {
                self.buf.clear();
                return Err(NotTurnFraming);
            }
            return Ok(None);
        }
        Ok(Some(self.buf.drain(..frame_len).collect()))
    }
}

impl<R: Rng> TurnClient<R> {
    /// Handles bytes read from the TCP stream to the server: complete frames (STUN messages and
    /// ChannelData) are processed, a partial one is kept for the next call. Returns `false` (and
    /// discards the stream state) if the stream cannot be TURN framing.
    pub fn handle_stream(&mut self, now: Instant, bytes: &[u8]) -> bool {
        self.stream.push(bytes);
        loop {
            match self.stream.next_frame() {
                Ok(None) => return true,
                Ok(Some(frame)) => {
                    let server = self.config.server;
                    self.handle_receive(now, server, &frame);
                }
                Err(NotTurnFraming) => {
                    self.stats.ignored += 1;
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SeededRng;
    use crate::turn::test_support::server;

    #[test]
    fn stream_framing() {
        let mut config = TurnConfig::new(server(), "u", "p");
        config.transport = TurnTransport::Tcp;
        let mut c = TurnClient::new(config, SeededRng::new(4));
        let now = Instant::now();
        // Not TURN framing (leading bits 11).
        assert!(!c.handle_stream(now, &[0xC0, 0, 0, 0]));
        // A ChannelData for an unknown channel, padded, split across calls, then a partial
        // STUN header: consumed without events, state kept.
        assert!(c.handle_stream(now, &[0x40, 0x00, 0x00, 0x05, 1, 2]));
        assert!(c.handle_stream(now, &[3, 4, 5, 0, 0, 0, 0x01, 0x01]));
        assert_eq!(c.stats().ignored, 2);
        assert_eq!(c.poll_event(), None);
        // Over TCP nothing is retransmitted: one request, then the overall timeout.
        c.allocate(now).unwrap();
        assert!(c.poll_transmit().is_some());
        c.handle_timeout(now + Duration::from_secs(39));
        assert!(c.poll_transmit().is_none());
        c.handle_timeout(now + Duration::from_millis(39_500));
        assert_eq!(c.poll_event(), Some(TurnEvent::AllocationFailed(0)));
    }
}
