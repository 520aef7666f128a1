//! The data path: ChannelData framing, Send indications to peers, data relayed back (ChannelData
//! and Data indications).

use std::net::SocketAddr;
use std::time::Instant;

use super::*;
use crate::Transmit;
use crate::rng::Rng;
use crate::stun::attribute::{self as attr, Attribute};
use crate::stun::{MessageBuilder, MessageClass, MessageType, Method, StunMessage, TransactionId};

/// Lowest TURN channel number.
pub const CHANNEL_MIN: u16 = 0x4000;

/// Highest TURN channel number (RFC 8656 12).
pub const CHANNEL_MAX: u16 = 0x4FFF;

/// Highest channel number of RFC 5766 (0x4000..=0x7FFF), which RFC 8656 narrowed; clients
/// written to RFC 5766 (coturn's `turnutils_uclient`) still use it, so a server accepts it.
pub const CHANNEL_MAX_RFC5766: u16 = 0x7FFF;

/// A ChannelData message (RFC 8656 12.4) borrowing its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelData<'a> {
    /// Channel number (0x4000..=0x4FFF).
    pub channel: u16,
    /// Application data.
    pub data: &'a [u8],
}

impl<'a> ChannelData<'a> {
    /// Parses a ChannelData message; trailing padding (over TCP) is allowed.
    pub fn parse(buf: &'a [u8]) -> Option<Self> {
        Self::parse_up_to(buf, CHANNEL_MAX)
    }

    /// Parses a ChannelData message whose channel is in `0x4000..=max_channel` (a server passes
    /// [`CHANNEL_MAX_RFC5766`]); trailing padding (over TCP) is allowed.
    pub fn parse_up_to(buf: &'a [u8], max_channel: u16) -> Option<Self> {
        if buf.len() < 4 {
            return None;
        }
        let channel = u16::from_be_bytes([buf[0], buf[1]]);
        if !(CHANNEL_MIN..=max_channel).contains(&channel) {
            return None;
        }
        let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
        let data = buf.get(4..4 + len)?;
        Some(ChannelData { channel, data })
    }

    /// Appends the message (unpadded, as over UDP) to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.channel.to_be_bytes());
        out.extend_from_slice(&(self.data.len() as u16).to_be_bytes());
        out.extend_from_slice(self.data);
    }
}

impl<R: Rng> TurnClient<R> {
    /// Sends data to a peer through the relay: ChannelData when a channel is bound, a Send
    /// indication otherwise (a permission for the peer's IP is needed).
    pub fn send_to(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        data: &[u8],
    ) -> Result<(), TurnError> {
        self.require_allocated()?;
        if let Some((channel, _, _)) = self
            .channels
            .iter()
            .find(|(_, p, e)| *p == peer && *e > now)
        {
            let mut out = Vec::with_capacity(4 + data.len() + 3);
            ChannelData {
                channel: *channel,
                data,
            }
            .write(&mut out);
            if self.config.transport == TurnTransport::Tcp {
                // Over a stream ChannelData is padded to a multiple of four (RFC 8656 12.5).
                out.resize((out.len() + 3) & !3, 0);
            }
            self.transmits.push_back(Transmit {
                destination: self.config.server,
                contents: out,
            });
            return Ok(());
        }
        if !self
            .permissions
            .iter()
            .any(|(ip, e)| *ip == peer.ip() && *e > now)
        {
            return Err(TurnError::NoPermission(peer.ip()));
        }
        let mut id = TransactionId([0; 12]);
        // Indications need a transaction id too; draw it like requests do.
        let mut buf = vec![0u8; data.len() + 64];
        let len = {
            let mut b = MessageBuilder::new(
                &mut buf,
                MessageType::new(Method::SEND, MessageClass::Indication),
                {
                    self.stun_rng_fill(&mut id.0);
                    id
                },
            )
            .map_err(|e| TurnError::Stun(e.into()))?;
            b.add(&Attribute::XorPeerAddress(peer))
                .map_err(|e| TurnError::Stun(e.into()))?;
            b.add(&Attribute::Data(data))
                .map_err(|e| TurnError::Stun(e.into()))?;
            b.finish()
        };
        buf.truncate(len);
        self.transmits.push_back(Transmit {
            destination: self.config.server,
            contents: buf,
        });
        Ok(())
    }

    /// Data relayed on a channel.
    pub(super) fn handle_channel_data(&mut self, cd: ChannelData<'_>) {
        match self.channels.iter().find(|(c, _, _)| *c == cd.channel) {
            Some((_, peer, _)) => self.events.push_back(TurnEvent::Data {
                peer: *peer,
                data: cd.data.to_vec(),
            }),
            None => self.stats.ignored += 1,
        }
    }

    /// An indication from the server: Data relayed from a peer (others are ignored).
    pub(super) fn handle_indication(&mut self, m: &StunMessage<'_>) {
        if m.method() == Method::DATA {
            match (m.get(attr::XOR_PEER_ADDRESS), m.get(attr::DATA)) {
                (Some(Ok(Attribute::XorPeerAddress(peer))), Some(Ok(Attribute::Data(d)))) => {
                    self.events.push_back(TurnEvent::Data {
                        peer,
                        data: d.to_vec(),
                    })
                }
                _ => self.stats.ignored += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_data_framing() {
        let mut out = Vec::new();
        ChannelData {
            channel: 0x4001,
            data: b"abc",
        }
        .write(&mut out);
        assert_eq!(out, [0x40, 0x01, 0, 3, b'a', b'b', b'c']);
        assert_eq!(
            ChannelData::parse(&out),
            Some(ChannelData {
                channel: 0x4001,
                data: b"abc"
            })
        );
        out.push(0); // TCP padding is tolerated
        assert!(ChannelData::parse(&out).is_some());
        assert_eq!(ChannelData::parse(&[0x40, 0x01, 0, 4, 1]), None);
        assert_eq!(ChannelData::parse(&[0x50, 0x00, 0, 0]), None);
        assert_eq!(ChannelData::parse(&[0x3F, 0xFF, 0, 0]), None);
    }
}
