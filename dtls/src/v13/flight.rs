//! An outgoing DTLS 1.3 flight with ACK-driven partial retransmission (RFC 9147 5.8, 7.1): the
//! flight's messages are cut into fragments ("parts") once; each transmission packs the parts
//! not yet acknowledged into records and datagrams up to the MTU, remembering which record
//! carried which part, so that an ACK of some records spares their parts from the next
//! retransmission. Sealing is the caller's (plaintext in epoch 0, [`SendEpoch`](super::record::SendEpoch)
//! in the protected epochs), so this holds no keys.

use super::ack::{RecordNumber, SentRecords};
use super::message::HEADER_LEN;
use crate::fragment::HandshakeHeader;

/// One handshake message of a flight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutMessage {
    /// The message type.
    pub msg_type: u8,
    /// The message sequence number.
    pub message_seq: u16,
    /// The epoch its records go in (0: plaintext).
    pub epoch: u64,
    /// The body.
    pub body: Vec<u8>,
}

/// Appends the record carrying `content` in `epoch` to the buffer and returns its number.
pub type Sealer<'a> = dyn FnMut(u64, &[u8], &mut Vec<u8>) -> RecordNumber + 'a;

#[derive(Debug, Clone, Copy)]
struct Part {
    message: usize,
    offset: usize,
    len: usize,
}

/// A flight being delivered.
#[derive(Debug, Clone)]
pub struct Flight {
    messages: Vec<OutMessage>,
    parts: Vec<Part>,
    sent: SentRecords,
    transmissions: u32,
}

impl Flight {
    /// The flight of `messages`, each cut into fragments of at most `max_fragment` body bytes
    /// (at least 1).
    pub fn new(messages: Vec<OutMessage>, max_fragment: usize) -> Self {
        let max_fragment = max_fragment.max(1);
        let mut parts = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let mut offset = 0;
            loop {
                let len = (m.body.len() - offset).min(max_fragment);
                parts.push(Part {
                    message: i,
                    offset,
                    len,
                });
                offset += len;
                if offset >= m.body.len() {
                    break;
                }
            }
        }
        Self {
            messages,
            parts,
            sent: SentRecords::new(),
            transmissions: 0,
        }
    }

    /// The messages.
    pub fn messages(&self) -> &[OutMessage] {
        &self.messages
    }

    /// Fragments in the flight.
    pub fn part_count(&self) -> usize {
        self.parts.len()
    }

    /// Fragments not yet acknowledged.
    pub fn pending(&self) -> usize {
        (0..self.parts.len())
            .filter(|&i| !self.sent.is_acked(i))
            .count()
    }

    /// Whether the peer acknowledged every fragment.
    pub fn all_acked(&self) -> bool {
        self.pending() == 0
    }

    /// How many times [`transmit`](Self::transmit) sent something.
    pub fn transmissions(&self) -> u32 {
        self.transmissions
    }

    /// Applies a received ACK; returns how many fragments it newly acknowledged.
    pub fn on_ack(&mut self, numbers: &[RecordNumber]) -> usize {
        self.sent.on_ack(numbers)
    }

    /// Packs every fragment not yet acknowledged into datagrams of at most `mtu` bytes, one
    /// record per fragment: `seal(epoch, content, out)` appends the record carrying `content`
    /// (a handshake header and fragment) in `epoch` to `out` and returns its record number.
    /// A record larger than `mtu` goes alone in its datagram.
    pub fn transmit(&mut self, mtu: usize, seal: &mut Sealer<'_>) -> Vec<Vec<u8>> {
        let mut datagrams = Vec::new();
        let mut current = Vec::new();
        let mut record = Vec::new();
        let mut content = Vec::new();
        for i in 0..self.parts.len() {
            if self.sent.is_acked(i) {
                continue;
            }
            let p = self.parts[i];
            let m = &self.messages[p.message];
            content.clear();
            HandshakeHeader {
                msg_type: m.msg_type,
                length: m.body.len() as u32,
                message_seq: m.message_seq,
                fragment_offset: p.offset as u32,
                fragment_length: p.len as u32,
            }
            .write(&mut content);
            content.extend_from_slice(&m.body[p.offset..p.offset + p.len]);
            debug_assert_eq!(content.len(), HEADER_LEN + p.len);
            record.clear();
            let number = seal(m.epoch, &content, &mut record);
            self.sent.sent(number, &[i]);
            if !current.is_empty() && current.len() + record.len() > mtu {
                datagrams.push(std::mem::take(&mut current));
            }
            current.extend_from_slice(&record);
        }
        if !current.is_empty() {
            datagrams.push(current);
        }
        if !datagrams.is_empty() {
            self.transmissions += 1;
        }
        datagrams
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flight() -> Flight {
        Flight::new(
            vec![
                OutMessage {
                    msg_type: 8,
                    message_seq: 1,
                    epoch: 2,
                    body: vec![1; 10],
                },
                OutMessage {
                    msg_type: 11,
                    message_seq: 2,
                    epoch: 2,
                    body: vec![2; 250],
                },
                OutMessage {
                    msg_type: 20,
                    message_seq: 3,
                    epoch: 2,
                    body: vec![],
                },
            ],
            100,
        )
    }

    #[test]
    fn cuts_packs_and_retransmits_only_the_unacknowledged() {
        let mut f = flight();
        assert_eq!(f.part_count(), 1 + 3 + 1);
        let mut seq = 0;
        let mut seal = |epoch: u64, content: &[u8], out: &mut Vec<u8>| {
            out.extend_from_slice(content);
            seq += 1;
            RecordNumber {
                epoch,
                sequence: seq - 1,
            }
        };
        let d = f.transmit(250, &mut seal);
        let sizes: Vec<usize> = d.iter().map(Vec::len).collect();
        // 22 + 112 + 112 | 62 + 12: packed up to 250 bytes.
        assert_eq!(sizes, [246, 74]);
        assert_eq!(f.transmissions(), 1);
        // ACK of records 0, 2 and 4.
        let acked = [0, 2, 4].map(|s| RecordNumber {
            epoch: 2,
            sequence: s,
        });
        assert_eq!(f.on_ack(&acked), 3);
        assert_eq!(f.pending(), 2);
        let d = f.transmit(1000, &mut seal);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].len(), 112 + 62);
        // The offsets of the resent fragments: 0 and 200 of the Certificate.
        assert_eq!(&d[0][6..9], &[0, 0, 0]);
        assert_eq!(&d[0][112 + 6..112 + 9], &[0, 0, 200]);
        let acked = [5, 6].map(|s| RecordNumber {
            epoch: 2,
            sequence: s,
        });
        assert_eq!(f.on_ack(&acked), 2);
        assert!(f.all_acked());
        assert!(f.transmit(1000, &mut seal).is_empty());
        assert_eq!(f.transmissions(), 2);
    }
}
