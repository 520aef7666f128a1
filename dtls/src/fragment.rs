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

/// Bounded reassembly of the one message a stateless server waits for: its first ClientHello,
/// which current browsers send in several fragments. At most one message of at most `max` bytes
/// is held, in at most [`SingleReassembler::MAX_RANGES`] disjoint pieces; a fragment of another
/// message (sequence number, type or length) replaces it.
#[derive(Debug)]
pub struct SingleReassembler {
    max: usize,
    partial: Option<Partial>,
}

impl SingleReassembler {
    /// Disjoint received ranges held at most (a peer sending scattered one-byte fragments cannot
    /// make each insertion expensive).
    pub const MAX_RANGES: usize = 32;

    /// A reassembler for messages up to `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { max, partial: None }
    }

    /// Offers one fragment. Returns the whole body once this fragment completed the message
    /// (which is then forgotten), `Ok(None)` while incomplete, `Err(())` when the fragment was
    /// dropped (message over the bound, or too scattered).
    #[allow(clippy::result_unit_err)]
    pub fn insert(&mut self, h: &HandshakeHeader, data: &[u8]) -> Result<Option<Vec<u8>>, ()> {
        if h.length as usize > self.max {
            return Err(());
        }
        let same = self.partial.as_ref().is_some_and(|p| {
            p.message_seq == h.message_seq
                && p.msg_type == h.msg_type
                && p.body.len() == h.length as usize
        });
        if !same {
            self.partial = Some(Partial {
                message_seq: h.message_seq,
                msg_type: h.msg_type,
                body: vec![0; h.length as usize],
                ranges: Vec::new(),
            });
        }
        let p = self.partial.as_mut().expect("set above");
        let (start, end) = (h.fragment_offset, h.fragment_offset + h.fragment_length);
        let joins = p.ranges.iter().any(|&(s, e)| start <= e && end >= s);
        if !joins && p.ranges.len() >= Self::MAX_RANGES {
            return Err(());
        }
        p.add(h.fragment_offset, data);
        if !p.complete() {
            return Ok(None);
        }
        Ok(self.partial.take().map(|p| p.body))
    }

    /// Forgets the message held if it is `message_seq` with body `length`.
    pub fn discard(&mut self, message_seq: u16, length: u32) {
        if self
            .partial
            .as_ref()
            .is_some_and(|p| p.message_seq == message_seq && p.body.len() == length as usize)
        {
            self.partial = None;
        }
    }

    /// Forgets whatever is held.
    pub fn clear(&mut self) {
        self.partial = None;
    }

    /// Bytes held for the message being reassembled (0 when none).
    pub fn held(&self) -> usize {
        self.partial.as_ref().map_or(0, |p| p.body.len())
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

    fn offer(r: &mut SingleReassembler, frag: &[u8]) -> Result<Option<Vec<u8>>, ()> {
        let mut rd = Reader::new(frag);
        let (h, d) = HandshakeHeader::parse(&mut rd).unwrap();
        r.insert(&h, d)
    }

    #[test]
    fn single_reassembler_holds_one_bounded_message() {
        let body: Vec<u8> = (0..700u32).map(|i| (i * 7) as u8).collect();
        let frags = fragments(&whole_message(1, 0, &body), 112);
        assert_eq!(frags.len(), 7);
        let mut r = SingleReassembler::new(1000);
        // Out of order, with a duplicate and an overlapping re-fragmentation of the same bytes.
        for i in [6, 2, 2, 0, 5, 1, 4] {
            assert_eq!(offer(&mut r, &frags[i]), Ok(None), "fragment {i}");
        }
        assert_eq!(r.held(), 700);
        let overlapping = fragments(&whole_message(1, 0, &body), 150);
        assert_eq!(offer(&mut r, &overlapping[1]), Ok(None));
        assert_eq!(offer(&mut r, &frags[3]), Ok(Some(body.clone())));
        assert_eq!(r.held(), 0, "forgotten once delivered");

        // A fragment of another message replaces the partial one: never two at once.
        assert_eq!(offer(&mut r, &frags[0]), Ok(None));
        let other = fragments(&whole_message(1, 1, &body[..600]), 112);
        assert_eq!(offer(&mut r, &other[0]), Ok(None));
        assert_eq!(r.held(), 600);
        r.discard(0, 700);
        assert_eq!(r.held(), 600, "discard names another message");
        r.discard(1, 600);
        assert_eq!(r.held(), 0);

        // Over the bound: dropped, nothing allocated.
        let mut small = SingleReassembler::new(699);
        assert_eq!(offer(&mut small, &frags[0]), Err(()));
        assert_eq!(small.held(), 0);

        // Scattered one-byte fragments stop at MAX_RANGES.
        let mut r = SingleReassembler::new(1000);
        let one_byte = fragments(&whole_message(1, 0, &body), HEADER_LEN + 1);
        for f in one_byte
            .iter()
            .step_by(2)
            .take(SingleReassembler::MAX_RANGES)
        {
            assert_eq!(offer(&mut r, f), Ok(None));
        }
        assert_eq!(offer(&mut r, &one_byte[201]), Err(()));
        // A fragment that touches a held range still goes in (it adds no range).
        assert_eq!(offer(&mut r, &one_byte[1]), Ok(None));
    }
}
