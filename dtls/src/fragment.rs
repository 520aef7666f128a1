//! The DTLS handshake header (RFC 6347 4.2.2), fragmentation for the path MTU, and bounded
//! reassembly of out-of-order, duplicated and overlapping fragments (4.2.3).

use crate::codec::{Reader, put_u24};
use crate::error::DtlsError;

/// Bytes in a DTLS handshake header.
pub const HEADER_LEN: usize = 12;

/// A handshake fragment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandshakeHeader {
    /// Message type.
    pub msg_type: u8,
    /// Total message body length.
    pub length: u32,
    /// Message sequence number.
    pub message_seq: u16,
    /// Offset of this fragment in the body.
    pub fragment_offset: u32,
    /// Bytes in this fragment.
    pub fragment_length: u32,
}

impl HandshakeHeader {
    /// Parses a header and its fragment from the front of `r`.
    pub fn parse<'a>(r: &mut Reader<'a>) -> Result<(Self, &'a [u8]), DtlsError> {
        let msg_type = r.u8()?;
        let length = r.u24()?;
        let message_seq = r.u16()?;
        let fragment_offset = r.u24()?;
        let fragment_length = r.u24()?;
        if u64::from(fragment_offset) + u64::from(fragment_length) > u64::from(length) {
            return Err(DtlsError::Invalid("fragment beyond message length"));
        }
        let body = r.take(fragment_length as usize)?;
        Ok((
            Self {
                msg_type,
                length,
                message_seq,
                fragment_offset,
                fragment_length,
            },
            body,
        ))
    }
    /// Appends the header.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.push(self.msg_type);
        put_u24(out, self.length);
        out.extend_from_slice(&self.message_seq.to_be_bytes());
        put_u24(out, self.fragment_offset);
        put_u24(out, self.fragment_length);
    }
}

/// The unfragmented form of a message (header with offset 0 and full length, then the body), as
/// it enters the transcript hash.
pub fn whole_message(msg_type: u8, message_seq: u16, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    HandshakeHeader {
        msg_type,
        length: body.len() as u32,
        message_seq,
        fragment_offset: 0,
        fragment_length: body.len() as u32,
    }
    .write(&mut out);
    out.extend_from_slice(body);
    out
}

/// Splits a whole message (as from [`whole_message`]) into fragments whose size including the
/// handshake header is at most `max_len` (at least one body byte per fragment).
pub fn fragments(whole: &[u8], max_len: usize) -> Vec<Vec<u8>> {
    let mut r = Reader::new(whole);
    let Ok((h, body)) = HandshakeHeader::parse(&mut r) else {
        return vec![whole.to_vec()];
    };
    let chunk = max_len.saturating_sub(HEADER_LEN).max(1);
    if body.len() <= chunk {
        return vec![whole.to_vec()];
    }
    body.chunks(chunk)
        .enumerate()
        .map(|(i, piece)| {
            let mut out = Vec::with_capacity(HEADER_LEN + piece.len());
            HandshakeHeader {
                fragment_offset: (i * chunk) as u32,
                fragment_length: piece.len() as u32,
                ..h
            }
            .write(&mut out);
            out.extend_from_slice(piece);
            out
        })
        .collect()
}

#[derive(Debug)]
struct Partial {
    message_seq: u16,
    msg_type: u8,
    body: Vec<u8>,
    /// Sorted, disjoint, non-adjacent received byte ranges.
    ranges: Vec<(u32, u32)>,
}

impl Partial {
    fn complete(&self) -> bool {
        self.body.is_empty() || self.ranges == [(0, self.body.len() as u32)]
    }
    fn add(&mut self, start: u32, data: &[u8]) {
        let end = start + data.len() as u32;
        self.body[start as usize..end as usize].copy_from_slice(data);
        self.ranges.push((start, end));
        self.ranges.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(self.ranges.len());
        for &(s, e) in &self.ranges {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.ranges = merged;
    }
}

/// What [`Reassembler::insert`] did with a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Part of a message we already delivered: the peer is retransmitting.
    Old,
    /// Buffered (or already held).
    Buffered,
    /// Dropped: too far ahead, too large, or over the memory bound.
    Dropped,
}

/// Reassembles handshake messages and releases them in message_seq order.
#[derive(Debug)]
pub struct Reassembler {
    next_seq: u16,
    partials: Vec<Partial>,
    max_message: usize,
    max_total: usize,
    max_ahead: u16,
}

impl Reassembler {
    /// A reassembler expecting `next_seq` first, holding messages up to `max_message` bytes and
    /// `max_total` bytes in all.
    pub fn new(next_seq: u16, max_message: usize, max_total: usize) -> Self {
        Self {
            next_seq,
            partials: Vec::new(),
            max_message,
            max_total,
            max_ahead: 8,
        }
    }

    /// The next message_seq to be delivered.
    pub fn next_seq(&self) -> u16 {
        self.next_seq
    }

    /// Skips to `seq` (used after a stateless cookie exchange), dropping anything buffered.
    pub fn reset(&mut self, seq: u16) {
        self.next_seq = seq;
        self.partials.clear();
    }

    /// Drops every partial message and frees their buffers (the next expected `message_seq`
    /// stays, so repeated old messages are still recognised).
    pub fn release(&mut self) {
        self.partials = Vec::new();
    }

    /// Offers one fragment.
    pub fn insert(&mut self, h: &HandshakeHeader, data: &[u8]) -> Inserted {
        if h.message_seq < self.next_seq {
            return Inserted::Old;
        }
        if h.message_seq - self.next_seq >= self.max_ahead || h.length as usize > self.max_message {
            return Inserted::Dropped;
        }
        if let Some(p) = self
            .partials
            .iter_mut()
            .find(|p| p.message_seq == h.message_seq)
        {
            if p.msg_type != h.msg_type || p.body.len() != h.length as usize {
                return Inserted::Dropped;
            }
            p.add(h.fragment_offset, data);
            return Inserted::Buffered;
        }
        let held: usize = self.partials.iter().map(|p| p.body.len()).sum();
        if held + h.length as usize > self.max_total {
            return Inserted::Dropped;
        }
        let mut p = Partial {
            message_seq: h.message_seq,
            msg_type: h.msg_type,
            body: vec![0; h.length as usize],
            ranges: Vec::new(),
        };
        p.add(h.fragment_offset, data);
        self.partials.push(p);
        Inserted::Buffered
    }

    /// The next complete message in order: (msg_type, message_seq, body).
    pub fn pop(&mut self) -> Option<(u8, u16, Vec<u8>)> {
        let i = self
            .partials
            .iter()
            .position(|p| p.message_seq == self.next_seq && p.complete())?;
        let p = self.partials.swap_remove(i);
        self.next_seq = self.next_seq.wrapping_add(1);
        Some((p.msg_type, p.message_seq, p.body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(r: &mut Reassembler, frag: &[u8]) -> Inserted {
        let mut rd = Reader::new(frag);
        let (h, d) = HandshakeHeader::parse(&mut rd).unwrap();
        r.insert(&h, d)
    }

    #[test]
    fn fragments_reassemble_in_any_order_with_duplicates() {
        let body: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let whole = whole_message(11, 2, &body);
        let mut frags = fragments(&whole, 100);
        assert!(frags.len() > 10);
        assert!(frags.iter().all(|f| f.len() <= 100));
        frags.reverse();
        let dup = frags[3].clone();
        frags.push(dup);
        let mut r = Reassembler::new(2, 4096, 8192);
        for f in &frags[..frags.len() - 2] {
            assert_eq!(feed(&mut r, f), Inserted::Buffered);
            assert!(r.pop().is_none());
        }
        feed(&mut r, &frags[frags.len() - 2]);
        let (ty, seq, got) = r.pop().unwrap();
        assert_eq!((ty, seq), (11, 2));
        assert_eq!(got, body);
        assert_eq!(feed(&mut r, &frags[0]), Inserted::Old);
    }

    #[test]
    fn bounds() {
        let mut r = Reassembler::new(0, 100, 150);
        let big = whole_message(1, 0, &[0; 101]);
        assert_eq!(feed(&mut r, &big), Inserted::Dropped);
        assert_eq!(
            feed(&mut r, &whole_message(1, 20, &[0; 10])),
            Inserted::Dropped
        );
        assert_eq!(
            feed(&mut r, &fragments(&whole_message(1, 1, &[0; 100]), 50)[0]),
            Inserted::Buffered
        );
        assert_eq!(
            feed(&mut r, &fragments(&whole_message(1, 2, &[0; 100]), 50)[0]),
            Inserted::Dropped
        );
    }

    #[test]
    fn fragment_beyond_length_is_an_error() {
        let mut b = Vec::new();
        HandshakeHeader {
            msg_type: 1,
            length: 4,
            message_seq: 0,
            fragment_offset: 3,
            fragment_length: 2,
        }
        .write(&mut b);
        b.extend_from_slice(&[0, 0]);
        assert!(HandshakeHeader::parse(&mut Reader::new(&b)).is_err());
    }
}
