//! TURN over a stream (TCP, TLS; RFC 8656 framing): splitting what the caller reads into STUN
//! messages and ChannelData.

use std::time::Instant;

use super::*;
use crate::rng::Rng;

/// Most bytes of a partial frame kept from a TCP stream (a STUN message or ChannelData is at
/// most 65535 + 20 bytes).
pub(super) const MAX_STREAM_BUFFER: usize = 65_535 + 20 + 4;

impl<R: Rng> TurnClient<R> {
    /// Handles bytes read from the TCP stream to the server: complete frames (STUN messages and
    /// ChannelData) are processed, a partial one is kept for the next call. Returns `false` (and
    /// discards the stream state) if the stream cannot be TURN framing.
    pub fn handle_stream(&mut self, now: Instant, bytes: &[u8]) -> bool {
        self.stream.extend_from_slice(bytes);
        loop {
            if self.stream.len() < 4 {
                return true;
            }
            let len = u16::from_be_bytes([self.stream[2], self.stream[3]]) as usize;
            let frame_len = match self.stream[0] >> 6 {
                0 => 20 + len,
                1 => 4 + ((len + 3) & !3),
                _ => {
                    self.stream.clear();
                    self.stats.ignored += 1;
                    return false;
                }
            };
            if self.stream.len() < frame_len {
                if self.stream.len() > MAX_STREAM_BUFFER {
                    self.stream.clear();
                    return false;
                }
                return true;
            }
            let frame: Vec<u8> = self.stream.drain(..frame_len).collect();
            let server = self.config.server;
            self.handle_receive(now, server, &frame);
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
