//! Reassembly of a fragmented ClientHello before it reaches the DTLS server.
//!
//! Recent browsers offer large key shares, so their ClientHello no longer fits one 1200-byte
//! datagram and arrives in several handshake fragments. The dtls crate's stateless server answers
//! only an unfragmented first ClientHello, so the peer connection joins the fragments here and hands
//! DTLS one record holding the whole message (offset 0, fragment length = length), which is also
//! the form the handshake transcript uses (RFC 6347 4.2.6). Epoch-0 records carry no MAC, so
//! nothing else changes. Bounded: one message of at most [`MAX_HELLO`] bytes.

/// Largest ClientHello we reassemble.
pub(crate) const MAX_HELLO: usize = 16 * 1024;

const RECORD_HEADER: usize = 13;
const HANDSHAKE_HEADER: usize = 12;

fn u24(b: &[u8]) -> usize {
    (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
}

/// Collects the fragments of one ClientHello.
#[derive(Debug, Default)]
pub(crate) struct HelloAssembler {
    message_seq: Option<u16>,
    length: usize,
    body: Vec<u8>,
    filled: Vec<bool>,
}

impl HelloAssembler {
    /// Returns the datagram to hand to DTLS: unchanged (`None`), or with fragmented ClientHello
    /// records removed and, once complete, the whole ClientHello appended as one record.
    pub(crate) fn process(&mut self, datagram: &[u8]) -> Option<Vec<u8>> {
        let mut at = 0;
        let mut out: Option<Vec<u8>> = None;
        let mut complete_seq = None;
        while let Some(h) = datagram.get(at..at + RECORD_HEADER) {
            let len = usize::from(u16::from_be_bytes([h[11], h[12]]));
            let end = at + RECORD_HEADER + len;
            let Some(record) = datagram.get(at..end) else {
                break;
            };
            let body = &record[RECORD_HEADER..];
            let fragmented_hello = h[0] == 22
                && h[3..5] == [0, 0]
                && body.len() >= HANDSHAKE_HEADER
                && body[0] == 1
                && u24(&body[9..12]) != u24(&body[1..4]);
            if fragmented_hello {
                // Keep the records before this one; later ones are copied as they come.
                out.get_or_insert_with(|| datagram[..at].to_vec());
                if self.insert(body) {
                    complete_seq = Some(h[5..11].to_vec());
                }
            } else if let Some(out) = &mut out {
                out.extend_from_slice(record);
            }
            at = end;
        }
        if let Some(seq) = complete_seq {
            let out = out.get_or_insert_with(Vec::new);
            let total = HANDSHAKE_HEADER + self.length;
            out.extend_from_slice(&[22, 0xFE, 0xFD, 0, 0]);
            out.extend_from_slice(&seq);
            out.extend_from_slice(&(total as u16).to_be_bytes());
            out.push(1);
            out.extend_from_slice(&(self.length as u32).to_be_bytes()[1..]);
            out.extend_from_slice(&self.message_seq.unwrap_or(0).to_be_bytes());
            out.extend_from_slice(&[0, 0, 0]);
            out.extend_from_slice(&(self.length as u32).to_be_bytes()[1..]);
            out.extend_from_slice(&self.body);
        }
        out
    }

    /// Adds one fragment; true when the message just became complete.
    fn insert(&mut self, hs: &[u8]) -> bool {
        let length = u24(&hs[1..4]);
        let seq = u16::from_be_bytes([hs[4], hs[5]]);
        let offset = u24(&hs[6..9]);
        let frag_len = u24(&hs[9..12]);
        let data = &hs[HANDSHAKE_HEADER..];
        if length > MAX_HELLO || frag_len != data.len() || offset + frag_len > length {
            return false;
        }
        if self.message_seq != Some(seq) || self.length != length {
            *self = HelloAssembler {
                message_seq: Some(seq),
                length,
                body: vec![0; length],
                filled: vec![false; length],
            };
        }
        self.body[offset..offset + frag_len].copy_from_slice(data);
        self.filled[offset..offset + frag_len].fill(true);
        if self.filled.iter().all(|f| *f) {
            // Every retransmission of the whole message is handed on again (DTLS deduplicates).
            self.filled.fill(false);
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u8, hs: &[u8]) -> Vec<u8> {
        let mut r = vec![22, 0xFE, 0xFD, 0, 0, 0, 0, 0, 0, 0, seq];
        r.extend((hs.len() as u16).to_be_bytes());
        r.extend(hs);
        r
    }

    fn fragment(msg: &[u8], seq: u16, offset: usize, len: usize) -> Vec<u8> {
        let mut h = vec![1];
        h.extend(&(msg.len() as u32).to_be_bytes()[1..]);
        h.extend(seq.to_be_bytes());
        h.extend(&(offset as u32).to_be_bytes()[1..]);
        h.extend(&(len as u32).to_be_bytes()[1..]);
        h.extend(&msg[offset..offset + len]);
        h
    }

    #[test]
    fn fragments_become_one_record() {
        let msg: Vec<u8> = (0..2000u32).map(|i| i as u8).collect();
        let mut a = HelloAssembler::default();
        let first = record(0, &fragment(&msg, 0, 0, 1100));
        assert_eq!(a.process(&first), Some(Vec::new()));
        let second = record(1, &fragment(&msg, 0, 1100, 900));
        let out = a.process(&second).unwrap();
        assert_eq!(out.len(), 13 + 12 + 2000);
        assert_eq!(&out[13..25], &fragment(&msg, 0, 0, 2000)[..12]);
        assert_eq!(&out[25..], &msg[..]);
        // An unfragmented record passes untouched; garbage never panics.
        let whole = record(2, &fragment(&msg[..10], 0, 0, 10));
        assert_eq!(a.process(&whole), None);
        for n in 0..40 {
            let _ = a.process(&first[..n.min(first.len())]);
        }
        let mut bad = fragment(&msg, 0, 1990, 10);
        bad[9..12].copy_from_slice(&[0, 0, 50]);
        assert_eq!(a.process(&record(3, &bad)), Some(Vec::new()));
    }
}
