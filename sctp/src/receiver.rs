//! The receiving half of an association: TSN bookkeeping for SACKs (cumulative point, gap blocks,
//! duplicates), reassembly of fragmented messages, per-stream ordering, FORWARD-TSN skipping and
//! incoming stream resets, all within a memory bound.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::chunk::{DataChunk, IDataChunk, data_flags};

/// Bytes charged per buffered fragment on top of its payload, so that tiny chunks cannot
/// exhaust memory through bookkeeping.
const FRAGMENT_OVERHEAD: usize = 64;
/// Maximum distance of an accepted TSN ahead of the cumulative point (gap offsets are 16-bit).
const MAX_TSN_AHEAD: u64 = 65_000;
/// Maximum duplicate TSNs remembered for the next SACK.
const MAX_DUPS: usize = 32;

/// A complete user message, ready for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// Stream identifier.
    pub stream_id: u16,
    /// Payload protocol identifier.
    pub ppid: u32,
    /// Whether it was sent unordered.
    pub unordered: bool,
    /// The message bytes.
    pub data: Vec<u8>,
}

#[derive(Debug)]
struct Fragment {
    flags: u8,
    stream_id: u16,
    ssn: u16,
    ppid: u32,
    data: Vec<u8>,
}

#[derive(Debug, Default)]
struct InStream {
    next_ssn: u16,
    pending: HashMap<u16, ReceivedMessage>,
    /// I-DATA: next ordered message identifier and complete messages waiting for their turn.
    next_mid: u32,
    pending_mid: HashMap<u32, ReceivedMessage>,
}

/// An I-DATA message being reassembled (RFC 8260): fragments by FSN.
#[derive(Debug, Default)]
struct IMessage {
    ppid: Option<u32>,
    last_fsn: Option<u32>,
    frags: BTreeMap<u32, Vec<u8>>,
    bytes: usize,
}

/// What happened to one received DATA chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accept {
    /// New data, accepted.
    New,
    /// Already received: a duplicate.
    Duplicate,
    /// Dropped for lack of memory or being too far ahead; not acknowledged.
    Dropped,
    /// On a stream id at or above the negotiated inbound stream count: the TSN is
    /// acknowledged, the data dropped (RFC 9260 6.5).
    InvalidStream(u16),
}

/// Receive-side state.
#[derive(Debug)]
pub(crate) struct Receiver {
    /// Unwrapped cumulative TSN (last TSN received in sequence).
    cum: u64,
    above: BTreeSet<u64>,
    dups: Vec<u32>,
    fragments: BTreeMap<u64, Fragment>,
    imessages: HashMap<(u16, bool, u32), IMessage>,
    streams: HashMap<u16, InStream>,
    /// Bytes held: fragments, ordered messages waiting for their turn, and undelivered messages.
    buffered: usize,
    ready: std::collections::VecDeque<ReceivedMessage>,
    max_message_size: usize,
    hard_limit: usize,
    /// Negotiated inbound stream count: data on higher ids creates no state.
    stream_count: u16,
    /// Counters.
    pub(crate) dropped_chunks: u64,
    pub(crate) dropped_messages: u64,
}

impl Receiver {
    pub(crate) fn new(
        peer_initial_tsn: u32,
        max_message_size: usize,
        hard_limit: usize,
        stream_count: u16,
    ) -> Self {
        Receiver {
            cum: (1u64 << 32) + peer_initial_tsn as u64 - 1,
            above: BTreeSet::new(),
            dups: Vec::new(),
            fragments: BTreeMap::new(),
            imessages: HashMap::new(),
            streams: HashMap::new(),
            buffered: 0,
            ready: Default::default(),
            max_message_size,
            hard_limit,
            stream_count,
            dropped_chunks: 0,
            dropped_messages: 0,
        }
    }

    /// The wire value of the cumulative TSN.
    pub(crate) fn cum_tsn(&self) -> u32 {
        self.cum as u32
    }

    pub(crate) fn unwrap(&self, tsn: u32) -> u64 {
        let diff = tsn.wrapping_sub(self.cum as u32) as i32 as i64;
        (self.cum as i64 + diff) as u64
    }

    /// Bytes currently held (for the advertised window).
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    /// Whether any TSN above the cumulative point is held (a gap exists).
    pub(crate) fn has_gaps(&self) -> bool {
        !self.above.is_empty()
    }

    /// Takes the next complete message, if any.
    pub(crate) fn pop_message(&mut self) -> Option<ReceivedMessage> {
        let m = self.ready.pop_front()?;
        self.buffered -= m.data.len();
        Some(m)
    }

    /// TSN bookkeeping shared by DATA and I-DATA: duplicates, window and memory checks.
    fn accept_tsn(&mut self, tsn: u32, len: usize, external: usize) -> Result<u64, Accept> {
        let t = self.unwrap(tsn);
        if t <= self.cum || self.above.contains(&t) {
            if self.dups.len() < MAX_DUPS {
                self.dups.push(tsn);
            }
            return Err(Accept::Duplicate);
        }
        let cost = len + FRAGMENT_OVERHEAD;
        let limit = if t == self.cum + 1 {
            self.hard_limit + 65_536
        } else {
            self.hard_limit
        };
        if t - self.cum > MAX_TSN_AHEAD || self.buffered + external + cost > limit {
            self.dropped_chunks += 1;
            return Err(Accept::Dropped);
        }
        self.above.insert(t);
        while self.above.first() == Some(&(self.cum + 1)) {
            self.above.pop_first();
            self.cum += 1;
        }
        Ok(t)
    }

    /// Handles one I-DATA chunk (RFC 8260).
    pub(crate) fn on_idata(&mut self, d: &IDataChunk<'_>, external: usize) -> Accept {
        if let Err(a) = self.accept_tsn(d.tsn, d.payload.len(), external) {
            return a;
        }
        if d.stream_id >= self.stream_count {
            return Accept::InvalidStream(d.stream_id);
        }
        let unordered = d.flags & data_flags::UNORDERED != 0;
        let begin = d.flags & data_flags::BEGIN != 0;
        let end = d.flags & data_flags::END != 0;
        if begin && end {
            if d.payload.len() <= self.max_message_size {
                self.buffered += d.payload.len();
                self.complete_mid(
                    ReceivedMessage {
                        stream_id: d.stream_id,
                        ppid: d.ppid_or_fsn,
                        unordered,
                        data: d.payload.to_vec(),
                    },
                    d.mid,
                );
            } else {
                self.dropped_messages += 1;
            }
            return Accept::New;
        }
        let key = (d.stream_id, unordered, d.mid);
        let m = self.imessages.entry(key).or_default();
        let fsn = if begin {
            m.ppid = Some(d.ppid_or_fsn);
            0
        } else {
            d.ppid_or_fsn
        };
        if end {
            m.last_fsn = Some(fsn);
        }
        if m.frags.contains_key(&fsn) || m.bytes + d.payload.len() > self.max_message_size {
            // A repeated FSN, or more than a message may hold: drop the whole message.
            let m = self.imessages.remove(&key).expect("entry exists");
            self.buffered -= m.bytes + m.frags.len() * FRAGMENT_OVERHEAD;
            self.dropped_messages += 1;
            return Accept::New;
        }
        m.frags.insert(fsn, d.payload.to_vec());
        m.bytes += d.payload.len();
        self.buffered += d.payload.len() + FRAGMENT_OVERHEAD;
        let complete = m.ppid.is_some()
            && m.last_fsn
                .is_some_and(|l| m.frags.len() as u64 == l as u64 + 1);
        if complete {
            let m = self.imessages.remove(&key).expect("entry exists");
            self.buffered -= m.frags.len() * FRAGMENT_OVERHEAD;
            let mut data = Vec::with_capacity(m.bytes);
            for f in m.frags.values() {
                data.extend_from_slice(f);
            }
            self.complete_mid(
                ReceivedMessage {
                    stream_id: d.stream_id,
                    ppid: m.ppid.expect("checked"),
                    unordered,
                    data,
                },
                d.mid,
            );
        }
        Accept::New
    }

    fn complete_mid(&mut self, msg: ReceivedMessage, mid: u32) {
        if msg.unordered {
            self.ready.push_back(msg);
            return;
        }
        let s = self.streams.entry(msg.stream_id).or_default();
        if mid == s.next_mid {
            s.next_mid = s.next_mid.wrapping_add(1);
            self.ready.push_back(msg);
            while let Some(m) = s.pending_mid.remove(&s.next_mid) {
                s.next_mid = s.next_mid.wrapping_add(1);
                self.ready.push_back(m);
            }
        } else if (mid.wrapping_sub(s.next_mid) as i32) > 0 && !s.pending_mid.contains_key(&mid) {
            s.pending_mid.insert(mid, msg);
        } else {
            self.buffered -= msg.data.len();
            self.dropped_messages += 1;
        }
    }

    /// Handles an I-FORWARD-TSN: moves the cumulative point and skips the listed messages.
    pub(crate) fn on_i_forward_tsn(
        &mut self,
        new_cum: u32,
        entries: impl Iterator<Item = (u16, bool, u32)>,
    ) {
        if !self.advance_cum(new_cum) {
            return;
        }
        for (sid, unordered, mid) in entries {
            if sid >= self.stream_count {
                continue;
            }
            let keys: Vec<_> = self
                .imessages
                .keys()
                .copied()
                .filter(|(s, u, m)| {
                    *s == sid
                        && *u == unordered
                        && if unordered {
                            *m == mid
                        } else {
                            (mid.wrapping_sub(*m) as i32) >= 0
                        }
                })
                .collect();
            for k in keys {
                let m = self.imessages.remove(&k).expect("key was listed");
                self.buffered -= m.bytes + m.frags.len() * FRAGMENT_OVERHEAD;
            }
            if unordered {
                continue;
            }
            let s = self.streams.entry(sid).or_default();
            if (mid.wrapping_sub(s.next_mid) as i32) < 0 {
                continue;
            }
            let mut skipped: Vec<u32> = s
                .pending_mid
                .keys()
                .copied()
                .filter(|k| (mid.wrapping_sub(*k) as i32) >= 0)
                .collect();
            skipped.sort_by_key(|k| k.wrapping_sub(s.next_mid));
            for k in skipped {
                let m = s.pending_mid.remove(&k).expect("key was just listed");
                self.ready.push_back(m);
            }
            s.next_mid = mid.wrapping_add(1);
            while let Some(m) = s.pending_mid.remove(&s.next_mid) {
                s.next_mid = s.next_mid.wrapping_add(1);
                self.ready.push_back(m);
            }
        }
    }

    /// Moves the cumulative TSN to `new_cum` (FORWARD-TSN); false if it is old or implausible.
    fn advance_cum(&mut self, new_cum: u32) -> bool {
        let n = self.unwrap(new_cum);
        if n <= self.cum || n - self.cum > MAX_TSN_AHEAD {
            return false;
        }
        self.cum = n;
        while self.above.first().is_some_and(|t| *t <= self.cum) {
            self.above.pop_first();
        }
        while self.above.first() == Some(&(self.cum + 1)) {
            self.above.pop_first();
            self.cum += 1;
        }
        true
    }

    /// Handles one DATA chunk.
    pub(crate) fn on_data(&mut self, d: &DataChunk<'_>, external: usize) -> Accept {
        let t = match self.accept_tsn(d.tsn, d.payload.len(), external) {
            Ok(t) => t,
            Err(a) => return a,
        };
        if d.stream_id >= self.stream_count {
            return Accept::InvalidStream(d.stream_id);
        }
        let single =
            d.flags & (data_flags::BEGIN | data_flags::END) == data_flags::BEGIN | data_flags::END;
        if single {
            if d.payload.len() > self.max_message_size {
                self.dropped_messages += 1;
                return Accept::New;
            }
            let msg = ReceivedMessage {
                stream_id: d.stream_id,
                ppid: d.ppid,
                unordered: d.flags & data_flags::UNORDERED != 0,
                data: d.payload.to_vec(),
            };
            self.buffered += msg.data.len();
            self.complete(msg, d.ssn);
            return Accept::New;
        }
        self.buffered += d.payload.len() + FRAGMENT_OVERHEAD;
        self.fragments.insert(
            t,
            Fragment {
                flags: d.flags,
                stream_id: d.stream_id,
                ssn: d.ssn,
                ppid: d.ppid,
                data: d.payload.to_vec(),
            },
        );
        if d.flags & data_flags::END != 0 || self.fragments.contains_key(&(t + 1)) {
            self.try_assemble(t);
        }
        Accept::New
    }

    fn try_assemble(&mut self, t: u64) {
        let Some(f) = self.fragments.get(&t) else {
            return;
        };
        let (stream_id, ssn, uflag) = (f.stream_id, f.ssn, f.flags & data_flags::UNORDERED);
        let same = |f: &Fragment| {
            f.stream_id == stream_id && f.ssn == ssn && f.flags & data_flags::UNORDERED == uflag
        };
        let mut start = t;
        loop {
            let Some(f) = self.fragments.get(&start) else {
                return;
            };
            if !same(f) || (start != t && f.flags & data_flags::END != 0) {
                return;
            }
            if f.flags & data_flags::BEGIN != 0 {
                break;
            }
            start -= 1;
        }
        let mut end = t;
        let mut size = 0usize;
        loop {
            let Some(f) = self.fragments.get(&end) else {
                return;
            };
            if !same(f) || (end != start && f.flags & data_flags::BEGIN != 0) {
                return;
            }
            if f.flags & data_flags::END != 0 {
                break;
            }
            end += 1;
        }
        for k in start..=end {
            size += self.fragments.get(&k).map_or(0, |f| f.data.len());
        }
        let mut data = Vec::with_capacity(size.min(self.max_message_size));
        let mut ppid = 0;
        let mut ok = size <= self.max_message_size;
        for k in start..=end {
            let f = self
                .fragments
                .remove(&k)
                .expect("fragment run was checked to be contiguous");
            self.buffered -= f.data.len() + FRAGMENT_OVERHEAD;
            if k == start {
                ppid = f.ppid;
            }
            if ok {
                data.extend_from_slice(&f.data);
            }
        }
        if !ok || data.len() > self.max_message_size {
            ok = false;
        }
        if !ok {
            self.dropped_messages += 1;
            return;
        }
        self.buffered += data.len();
        self.complete(
            ReceivedMessage {
                stream_id,
                ppid,
                unordered: uflag != 0,
                data,
            },
            ssn,
        );
    }

    fn complete(&mut self, msg: ReceivedMessage, ssn: u16) {
        if msg.unordered {
            self.ready.push_back(msg);
            return;
        }
        let s = self.streams.entry(msg.stream_id).or_default();
        if ssn == s.next_ssn {
            s.next_ssn = s.next_ssn.wrapping_add(1);
            self.ready.push_back(msg);
            while let Some(m) = s.pending.remove(&s.next_ssn) {
                s.next_ssn = s.next_ssn.wrapping_add(1);
                self.ready.push_back(m);
            }
        } else if (ssn.wrapping_sub(s.next_ssn) as i16) > 0 && !s.pending.contains_key(&ssn) {
            s.pending.insert(ssn, msg);
        } else {
            // An old or repeated SSN: a protocol error by the peer; drop it.
            self.buffered -= msg.data.len();
            self.dropped_messages += 1;
        }
    }

    /// Handles a FORWARD-TSN: moves the cumulative point, forgets fragments it covers, and skips
    /// the listed ordered messages.
    pub(crate) fn on_forward_tsn(
        &mut self,
        new_cum: u32,
        streams: impl Iterator<Item = (u16, u16)>,
    ) {
        if !self.advance_cum(new_cum) {
            return;
        }
        let keep = self.fragments.split_off(&(self.cum + 1));
        for f in std::mem::replace(&mut self.fragments, keep).into_values() {
            self.buffered -= f.data.len() + FRAGMENT_OVERHEAD;
        }
        for (sid, ssn) in streams {
            if sid >= self.stream_count {
                continue;
            }
            let Some(s) = self.streams.get_mut(&sid) else {
                let s = self.streams.entry(sid).or_default();
                s.next_ssn = ssn.wrapping_add(1);
                continue;
            };
            if (ssn.wrapping_sub(s.next_ssn) as i16) < 0 {
                continue;
            }
            let mut skipped: Vec<u16> = s
                .pending
                .keys()
                .copied()
                .filter(|k| (ssn.wrapping_sub(*k) as i16) >= 0)
                .collect();
            skipped.sort_by_key(|k| k.wrapping_sub(s.next_ssn));
            for k in skipped {
                let m = s.pending.remove(&k).expect("key was just listed");
                self.ready.push_back(m);
            }
            s.next_ssn = ssn.wrapping_add(1);
            while let Some(m) = s.pending.remove(&s.next_ssn) {
                s.next_ssn = s.next_ssn.wrapping_add(1);
                self.ready.push_back(m);
            }
        }
    }

    /// Resets the sequence numbers of incoming streams (all of them if `streams` is empty).
    pub(crate) fn reset_streams(&mut self, streams: &[u16]) {
        if streams.is_empty() {
            for s in self.streams.values_mut() {
                s.next_ssn = 0;
                s.next_mid = 0;
            }
        } else {
            for sid in streams {
                if let Some(s) = self.streams.get_mut(sid) {
                    s.next_ssn = 0;
                    s.next_mid = 0;
                    for (_, m) in s.pending_mid.drain() {
                        self.buffered -= m.data.len();
                    }
                    for (_, m) in s.pending.drain() {
                        self.buffered -= m.data.len();
                    }
                }
            }
        }
    }

    /// Whether the cumulative point has reached `tsn`.
    pub(crate) fn reached(&self, tsn: u32) -> bool {
        self.unwrap(tsn) <= self.cum
    }

    /// Gap-ack blocks (offsets from the cumulative TSN), at most `max`.
    pub(crate) fn gap_blocks(&self, max: usize) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        let mut cur: Option<(u64, u64)> = None;
        for &t in &self.above {
            match cur {
                Some((s, e)) if t == e + 1 => cur = Some((s, t)),
                _ => {
                    if let Some((s, e)) = cur {
                        if out.len() == max {
                            return out;
                        }
                        out.push(((s - self.cum) as u16, (e - self.cum) as u16));
                    }
                    cur = Some((t, t));
                }
            }
        }
        if let Some((s, e)) = cur
            && out.len() < max
        {
            out.push(((s - self.cum) as u16, (e - self.cum) as u16));
        }
        out
    }

    /// Takes the duplicate TSNs to report.
    pub(crate) fn take_dups(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.dups)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(tsn: u32, sid: u16, ssn: u16, flags: u8, payload: &[u8]) -> DataChunk<'_> {
        DataChunk {
            flags,
            tsn,
            stream_id: sid,
            ssn,
            ppid: 53,
            payload,
        }
    }

    const BE: u8 = data_flags::BEGIN | data_flags::END;

    #[test]
    fn reorders_and_reassembles() {
        let mut r = Receiver::new(u32::MAX - 1, 1 << 20, 1 << 20, 1024);
        // TSNs wrap: MAX-1, MAX, 0, 1.
        assert_eq!(
            r.on_data(&data(0, 1, 1, data_flags::BEGIN, b"ab"), 0),
            Accept::New
        );
        assert_eq!(r.gap_blocks(10), vec![(3, 3)]);
        assert_eq!(
            r.on_data(&data(1, 1, 1, data_flags::END, b"cd"), 0),
            Accept::New
        );
        assert!(r.pop_message().is_none());
        assert_eq!(r.on_data(&data(u32::MAX, 1, 0, BE, b"x"), 0), Accept::New);
        assert_eq!(r.pop_message().unwrap().data, b"x");
        assert_eq!(r.pop_message().unwrap().data, b"abcd");
        assert!(r.pop_message().is_none());
        assert_eq!(
            r.on_data(&data(u32::MAX - 1, 2, 0, BE, b"y"), 0),
            Accept::New
        );
        assert_eq!(r.cum_tsn(), 1);
        assert_eq!(r.pop_message().unwrap().data, b"y");
        assert_eq!(r.buffered(), 0);
        assert_eq!(r.on_data(&data(0, 1, 1, BE, b"z"), 0), Accept::Duplicate);
        assert_eq!(r.take_dups(), vec![0]);
    }

    #[test]
    fn forward_tsn_skips() {
        let mut r = Receiver::new(10, 1 << 20, 1 << 20, 1024);
        r.on_data(&data(12, 1, 2, BE, b"c"), 0);
        r.on_data(&data(11, 1, 1, data_flags::END, b"b"), 0);
        assert!(r.pop_message().is_none());
        r.on_forward_tsn(11, [(1u16, 1u16)].into_iter());
        assert_eq!(r.cum_tsn(), 12);
        assert_eq!(r.pop_message().unwrap().data, b"c");
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn memory_bound_drops() {
        let mut r = Receiver::new(1, 1 << 20, 1000, 1024);
        let big = vec![0u8; 900];
        assert_eq!(
            r.on_data(&data(3, 1, 0, data_flags::BEGIN, &big), 0),
            Accept::New
        );
        assert_eq!(r.on_data(&data(4, 1, 0, 0, &big), 0), Accept::Dropped);
        // The next expected TSN is still accepted.
        assert_eq!(r.on_data(&data(1, 2, 0, BE, &big), 0), Accept::New);
        assert_eq!(
            r.on_data(&data(100_000, 1, 0, BE, b"x"), 0),
            Accept::Dropped
        );
    }
}
