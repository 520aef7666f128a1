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

/// Disjoint received byte ranges one partial message keeps at most. A fragment that would need
/// one more is dropped (the peer retransmits), so a peer sending scattered one-byte fragments
/// cannot make an insertion cost more than a scan of this many entries.
pub const MAX_RANGES: usize = 32;

/// Partial messages a [`Reassembler`] holds at most (a flight has at most five messages).
pub const MAX_PARTIALS: usize = 16;

/// The received byte ranges of one message: sorted, disjoint and non-adjacent, in a fixed array
/// merged in place (no allocation per fragment).
#[derive(Debug, Clone)]
struct Ranges {
    len: usize,
    r: [(u32, u32); MAX_RANGES],
}

impl Ranges {
    fn new() -> Self {
        Self {
            len: 0,
            r: [(0, 0); MAX_RANGES],
        }
    }

    /// Adds `start..end`; false (nothing changed) when that would need more than
    /// [`MAX_RANGES`] ranges.
    fn add(&mut self, start: u32, end: u32) -> bool {
        if start >= end {
            return true;
        }
        let n = self.len;
        // First range that ends at or after `start` (touching ranges merge).
        let mut i = 0;
        while i < n && self.r[i].1 < start {
            i += 1;
        }
        // First range that starts after `end`.
        let mut j = i;
        while j < n && self.r[j].0 <= end {
            j += 1;
        }
        if i == j {
            if n == MAX_RANGES {
                return false;
            }
            self.r.copy_within(i..n, i + 1);
            self.r[i] = (start, end);
            self.len += 1;
        } else {
            self.r[i] = (start.min(self.r[i].0), end.max(self.r[j - 1].1));
            self.r.copy_within(j..n, i + 1);
            self.len -= j - i - 1;
        }
        true
    }

    /// Whether `0..total` is received.
    fn covers(&self, total: u32) -> bool {
        total == 0 || (self.len == 1 && self.r[0] == (0, total))
    }
}

#[derive(Debug, Clone)]
struct Partial {
    message_seq: u16,
    msg_type: u8,
    epoch: u16,
    body: Vec<u8>,
    ranges: Ranges,
}

impl Partial {
    fn new(epoch: u16, h: &HandshakeHeader) -> Self {
        Self {
            message_seq: h.message_seq,
            msg_type: h.msg_type,
            epoch,
            body: vec![0; h.length as usize],
            ranges: Ranges::new(),
        }
    }
    /// Whether a fragment belongs to this message.
    fn matches(&self, epoch: u16, h: &HandshakeHeader) -> bool {
        self.message_seq == h.message_seq
            && self.msg_type == h.msg_type
            && self.epoch == epoch
            && self.body.len() == h.length as usize
    }
    fn complete(&self) -> bool {
        self.ranges.covers(self.body.len() as u32)
    }
    /// Copies a fragment in (its bounds were checked against the message length when its header
    /// was parsed); false when it was dropped for the range cap.
    fn add(&mut self, start: u32, data: &[u8]) -> bool {
        let end = start + data.len() as u32;
        if !self.ranges.add(start, end) {
            return false;
        }
        self.body[start as usize..end as usize].copy_from_slice(data);
        true
    }
}

/// What [`Reassembler::insert`] did with a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// Part of a message we already delivered: the peer is retransmitting.
    Old,
    /// Buffered (or already held).
    Buffered,
    /// Dropped: too far ahead, too large, too scattered, or over the memory bound.
    Dropped,
}

/// A reassembled handshake message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Message type.
    pub msg_type: u8,
    /// Message sequence number.
    pub message_seq: u16,
    /// The epoch of the records that carried it (0: plaintext, not authenticated).
    pub epoch: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// Reassembles handshake messages and releases them in message_seq order.
///
/// Fragments of one message_seq that disagree on type, length or epoch are kept as separate
/// candidates (an injected fragment cannot block the peer's real message), each in its own
/// bounded buffer. When a new candidate does not fit (`max_total` bytes, [`MAX_PARTIALS`]
/// messages), the oldest unauthenticated (epoch-0) candidates are evicted: one burst of forged
/// fragments can delay a handshake by a retransmission, never wedge it.
#[derive(Debug, Clone)]
pub struct Reassembler {
    next_seq: u16,
    /// Oldest first.
    partials: Vec<Partial>,
    max_message: usize,
    max_total: usize,
    max_ahead: u16,
    evicted: u64,
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
            evicted: 0,
        }
    }

    /// The next message_seq to be delivered.
    pub fn next_seq(&self) -> u16 {
        self.next_seq
    }

    /// Whether `message_seq` was already delivered (a fragment of it is a retransmission).
    pub fn is_old(&self, message_seq: u16) -> bool {
        message_seq < self.next_seq
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

    /// Bytes held in partial messages.
    pub fn held(&self) -> usize {
        self.partials.iter().map(|p| p.body.len()).sum()
    }

    /// Partial messages evicted to make room since the last call (and resets the count).
    pub fn take_evicted(&mut self) -> u64 {
        std::mem::take(&mut self.evicted)
    }

    /// Offers one fragment that arrived in `epoch`.
    pub fn insert(&mut self, epoch: u16, h: &HandshakeHeader, data: &[u8]) -> Inserted {
        if self.is_old(h.message_seq) {
            return Inserted::Old;
        }
        if h.message_seq - self.next_seq >= self.max_ahead || h.length as usize > self.max_message {
            return Inserted::Dropped;
        }
        if let Some(p) = self.partials.iter_mut().find(|p| p.matches(epoch, h)) {
            return if p.add(h.fragment_offset, data) {
                Inserted::Buffered
            } else {
                Inserted::Dropped
            };
        }
        if !self.make_room(h.length as usize) {
            return Inserted::Dropped;
        }
        let mut p = Partial::new(epoch, h);
        p.add(h.fragment_offset, data);
        self.partials.push(p);
        Inserted::Buffered
    }

    /// Evicts the oldest epoch-0 candidates until a new message of `len` bytes fits.
    fn make_room(&mut self, len: usize) -> bool {
        loop {
            if self.partials.len() < MAX_PARTIALS && self.held() + len <= self.max_total {
                return true;
            }
            let Some(i) = self.partials.iter().position(|p| p.epoch == 0) else {
                return false;
            };
            self.partials.remove(i);
            self.evicted += 1;
        }
    }

    /// Takes a complete candidate for the next message_seq out of the buffer without moving
    /// past that number: call [`Reassembler::advance`] once it is accepted; if it is refused,
    /// another candidate (the peer's real message) can still complete the number.
    pub fn next_complete(&mut self) -> Option<Message> {
        let i = self
            .partials
            .iter()
            .position(|p| p.message_seq == self.next_seq && p.complete())?;
        let p = self.partials.remove(i);
        Some(Message {
            msg_type: p.msg_type,
            message_seq: p.message_seq,
            epoch: p.epoch,
            body: p.body,
        })
    }

    /// Moves past the next message_seq (its message was accepted), dropping the other
    /// candidates for it.
    pub fn advance(&mut self) {
        let seq = self.next_seq;
        self.partials.retain(|p| p.message_seq != seq);
        self.next_seq = seq.wrapping_add(1);
    }
}

/// Bounded reassembly of the one message a stateless server waits for: its first ClientHello,
/// which current browsers send in several fragments. At most one message of at most `max` bytes
/// is held, in at most [`SingleReassembler::MAX_RANGES`] disjoint pieces; a fragment of another
/// message (sequence number, type or length) replaces it.
#[derive(Debug, Clone)]
pub struct SingleReassembler {
    max: usize,
    partial: Option<Partial>,
}

impl SingleReassembler {
    /// Disjoint received ranges held at most (a peer sending scattered one-byte fragments cannot
    /// make each insertion expensive).
    pub const MAX_RANGES: usize = MAX_RANGES;

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
        if !self.partial.as_ref().is_some_and(|p| p.matches(0, h)) {
            self.partial = Some(Partial::new(0, h));
        }
        let p = self.partial.as_mut().expect("set above");
        if !p.add(h.fragment_offset, data) {
            return Err(());
        }
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
        r.insert(0, &h, d)
    }

    /// The next complete message, accepted.
    fn pop(r: &mut Reassembler) -> Option<(u8, u16, Vec<u8>)> {
        let m = r.next_complete()?;
        r.advance();
        Some((m.msg_type, m.message_seq, m.body))
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
            assert!(pop(&mut r).is_none());
        }
        feed(&mut r, &frags[frags.len() - 2]);
        let (ty, seq, got) = pop(&mut r).unwrap();
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
        // Over max_total: the oldest unauthenticated partial makes room.
        assert_eq!(
            feed(&mut r, &fragments(&whole_message(1, 2, &[0; 100]), 50)[0]),
            Inserted::Buffered
        );
        assert_eq!((r.held(), r.take_evicted()), (100, 1));
        // An authenticated (epoch-1) partial is never evicted for another message.
        let mut r = Reassembler::new(0, 100, 150);
        let f = fragments(&whole_message(20, 1, &[0; 100]), 50);
        let (h, d) = HandshakeHeader::parse(&mut Reader::new(&f[0])).unwrap();
        assert_eq!(r.insert(1, &h, d), Inserted::Buffered);
        assert_eq!(
            feed(&mut r, &fragments(&whole_message(1, 2, &[0; 100]), 50)[0]),
            Inserted::Dropped
        );
        assert_eq!((r.held(), r.take_evicted()), (100, 0));
        // At most MAX_PARTIALS messages, whatever their size.
        let mut r = Reassembler::new(0, 100, 1 << 20);
        for i in 0..3 * MAX_PARTIALS {
            let seq = (i % 8) as u16;
            let f = fragments(&whole_message(i as u8, seq, &[0; 10]), HEADER_LEN + 5);
            assert_eq!(feed(&mut r, &f[0]), Inserted::Buffered);
            assert!(r.partials.len() <= MAX_PARTIALS);
        }
        assert_eq!(r.take_evicted(), 2 * MAX_PARTIALS as u64);
    }

    #[test]
    fn a_forged_candidate_neither_blocks_nor_uses_up_the_real_message() {
        let body: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let real = fragments(&whole_message(11, 1, &body), 112);
        let mut r = Reassembler::new(1, 4096, 8192);
        // A fragment of a different (never completed) message under the same number, then a
        // whole forged message of another type under it too.
        let bogus = fragments(&whole_message(11, 1, &[9; 3000]), 112);
        assert_eq!(feed(&mut r, &bogus[0]), Inserted::Buffered);
        assert_eq!(
            feed(&mut r, &whole_message(20, 1, &[0; 12])),
            Inserted::Buffered
        );
        for f in &real {
            assert_eq!(feed(&mut r, f), Inserted::Buffered);
        }
        // The forged whole message comes out first; refusing it (no advance) keeps number 1.
        let forged = r.next_complete().unwrap();
        assert_eq!((forged.msg_type, forged.message_seq), (20, 1));
        assert_eq!(r.next_seq(), 1);
        let m = r.next_complete().unwrap();
        assert_eq!((m.msg_type, m.epoch, &m.body), (11, 0, &body));
        r.advance();
        assert_eq!(r.next_seq(), 2);
        assert_eq!(r.held(), 0, "the other candidates for number 1 are gone");
        assert_eq!(feed(&mut r, &bogus[1]), Inserted::Old);
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

    #[test]
    fn scattered_fragments_stop_at_the_range_cap() {
        // Every other byte of a 1000-byte message as its own fragment: each would be a new
        // disjoint range. Past the cap they are dropped, so each insertion costs at most a scan
        // of a fixed, small array, whatever the peer sends, in every state.
        let body = vec![7u8; 1000];
        let one_byte = fragments(&whole_message(11, 0, &body), HEADER_LEN + 1);
        let mut r = Reassembler::new(0, 4096, 8192);
        let mut buffered = 0;
        let mut dropped = 0;
        for f in one_byte.iter().step_by(2) {
            match feed(&mut r, f) {
                Inserted::Buffered => buffered += 1,
                Inserted::Dropped => dropped += 1,
                Inserted::Old => unreachable!(),
            }
        }
        assert_eq!(buffered, MAX_RANGES);
        assert_eq!(dropped, 500 - MAX_RANGES);
        // Fragments touching held ranges still go in and merge them: the message completes.
        for f in &one_byte {
            feed(&mut r, f);
        }
        // (fragments that would open a new range were dropped above; now every gap is
        // adjacent to a held range, so the whole message is there)
        let m = r.next_complete().expect("complete");
        assert_eq!(m.body, body);
    }
}
