//! The receiving half of an association: TSN bookkeeping for SACKs (cumulative point, gap blocks,
//! duplicates), reassembly of fragmented messages, per-stream ordering, FORWARD-TSN skipping and
//! incoming stream resets, all within a memory bound and in logarithmic time per chunk (plus
//! linear in what a chunk completes or skips).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::RangeInclusive;

use crate::chunk::{DataChunk, IDataChunk, data_flags};
use crate::ranges::RangeSet;

/// Bytes charged per buffered fragment or waiting message on top of its payload, so that tiny
/// chunks cannot exhaust memory through bookkeeping.
const FRAGMENT_OVERHEAD: usize = 64;
/// Maximum distance of an accepted TSN ahead of the cumulative point (gap offsets are 16-bit).
const MAX_TSN_AHEAD: u64 = 65_000;
/// Maximum duplicate TSNs remembered for the next SACK.
const MAX_DUPS: usize = 32;
/// Maximum disjoint runs of TSNs held above the cumulative point (gap-ack blocks). A TSN that
/// would start another run is dropped (not acknowledged; the peer retransmits it), so the
/// out-of-order map stays small whatever pattern the peer sends. A SACK reports at most a few
/// hundred blocks anyway.
pub(crate) const MAX_GAP_RANGES: usize = 1024;

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

#[derive(Debug, Clone)]
struct Fragment {
    flags: u8,
    stream_id: u16,
    ssn: u16,
    ppid: u32,
    data: Vec<u8>,
}

#[derive(Debug, Clone, Default)]
struct InStream {
    next_ssn: u16,
    /// Complete ordered messages waiting for their turn, by SSN.
    pending: BTreeMap<u16, ReceivedMessage>,
    /// I-DATA: next ordered message identifier and complete messages waiting for their turn.
    next_mid: u32,
    pending_mid: BTreeMap<u32, ReceivedMessage>,
}

/// An I-DATA message being reassembled (RFC 8260): fragments by FSN.
#[derive(Debug, Clone, Default)]
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

/// The keys of a map keyed by a wrapping counter that lie in the circular interval
/// `from..=to` (walking up from `from`, wrapping past the maximum), in that order.
fn circular<K: Ord + Copy>(
    from: K,
    to: K,
    min: K,
    max: K,
) -> (RangeInclusive<K>, Option<RangeInclusive<K>>) {
    if from <= to {
        (from..=to, None)
    } else {
        (from..=max, Some(min..=to))
    }
}

/// Removes and returns, in circular order, the values of `map` whose keys lie in `from..=to`.
fn take_circular<K: Ord + Copy, V>(
    map: &mut BTreeMap<K, V>,
    from: K,
    to: K,
    min: K,
    max: K,
) -> Vec<V> {
    let (a, b) = circular(from, to, min, max);
    let mut keys: Vec<K> = map.range(a).map(|(k, _)| *k).collect();
    if let Some(b) = b {
        keys.extend(map.range(b).map(|(k, _)| *k));
    }
    keys.into_iter()
        .map(|k| map.remove(&k).expect("key was just listed"))
        .collect()
}

/// Receive-side state.
#[derive(Debug, Clone)]
pub(crate) struct Receiver {
    /// Unwrapped cumulative TSN (last TSN received in sequence).
    cum: u64,
    /// TSNs received above `cum`, as runs (the gap-ack blocks).
    above: RangeSet,
    dups: Vec<u32>,
    /// DATA fragments by TSN, with the TSN runs they form and the TSNs of first and last
    /// fragments, so a fragment finds its message's ends in logarithmic time.
    fragments: BTreeMap<u64, Fragment>,
    fragment_runs: RangeSet,
    begins: BTreeSet<u64>,
    ends: BTreeSet<u64>,
    imessages: BTreeMap<(u16, bool, u32), IMessage>,
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
    /// Fragment insertions and removals made while reassembling, and entries and messages
    /// handled while skipping, to test that the work stays linear.
    #[cfg(test)]
    work: u64,
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
            above: RangeSet::default(),
            dups: Vec::new(),
            fragments: BTreeMap::new(),
            fragment_runs: RangeSet::default(),
            begins: BTreeSet::new(),
            ends: BTreeSet::new(),
            imessages: BTreeMap::new(),
            streams: HashMap::new(),
            buffered: 0,
            ready: Default::default(),
            max_message_size,
            hard_limit,
            stream_count,
            dropped_chunks: 0,
            dropped_messages: 0,
            #[cfg(test)]
            work: 0,
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
        if t <= self.cum || self.above.contains(t) {
            if self.dups.len() < MAX_DUPS {
                self.dups.push(tsn);
            }
            return Err(Accept::Duplicate);
        }
        let cost = len + FRAGMENT_OVERHEAD;
        let next = t == self.cum + 1;
        let limit = if next {
            self.hard_limit + 65_536
        } else {
            self.hard_limit
        };
        if t - self.cum > MAX_TSN_AHEAD
            || self.buffered + external + cost > limit
            || (!next && self.above.len() >= MAX_GAP_RANGES && self.above.is_isolated(t))
        {
            self.dropped_chunks += 1;
            return Err(Accept::Dropped);
        }
        if next {
            self.cum = t;
            self.absorb_first_run();
        } else {
            self.above.insert(t);
        }
        Ok(t)
    }

    /// Moves the cumulative point over a run that now starts right after it.
    fn absorb_first_run(&mut self) {
        if let Some((s, e)) = self.above.first()
            && s == self.cum + 1
        {
            self.above.pop_first();
            self.cum = e;
        }
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
        let conflicting_end = end && m.last_fsn.is_some_and(|l| l != fsn);
        if end {
            m.last_fsn = Some(fsn);
        }
        let past_end = m
            .last_fsn
            .is_some_and(|l| fsn > l || m.frags.last_key_value().is_some_and(|(k, _)| *k > l));
        if m.frags.contains_key(&fsn)
            || conflicting_end
            || past_end
            || m.bytes + d.payload.len() > self.max_message_size
        {
            // A repeated FSN, two ends, a fragment past the end, or more than a message may
            // hold: drop the whole message.
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

    /// Queues a complete I-DATA message, or keeps it until its turn (charged the overhead of a
    /// waiting message meanwhile).
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
                self.buffered -= FRAGMENT_OVERHEAD;
                self.ready.push_back(m);
            }
        } else if (mid.wrapping_sub(s.next_mid) as i32) > 0 && !s.pending_mid.contains_key(&mid) {
            self.buffered += FRAGMENT_OVERHEAD;
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
            // Partial messages skipped: the unordered one named, or every ordered one up to
            // `mid` (the MIDs within half the counter space below it).
            let dropped: Vec<IMessage> = if unordered {
                self.imessages
                    .remove(&(sid, true, mid))
                    .into_iter()
                    .collect()
            } else {
                let from = (sid, false, mid.wrapping_sub(i32::MAX as u32));
                take_circular(
                    &mut self.imessages,
                    from,
                    (sid, false, mid),
                    (sid, false, 0),
                    (sid, false, u32::MAX),
                )
            };
            for m in dropped {
                self.buffered -= m.bytes + m.frags.len() * FRAGMENT_OVERHEAD;
            }
            if unordered {
                continue;
            }
            let s = self.streams.entry(sid).or_default();
            if (mid.wrapping_sub(s.next_mid) as i32) < 0 {
                continue;
            }
            let skipped = take_circular(&mut s.pending_mid, s.next_mid, mid, 0, u32::MAX);
            self.buffered -= skipped.len() * FRAGMENT_OVERHEAD;
            self.ready.extend(skipped);
            s.next_mid = mid.wrapping_add(1);
            while let Some(m) = s.pending_mid.remove(&s.next_mid) {
                s.next_mid = s.next_mid.wrapping_add(1);
                self.buffered -= FRAGMENT_OVERHEAD;
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
        self.above.remove_through(n);
        self.absorb_first_run();
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
        #[cfg(test)]
        {
            self.work += 1;
        }
        let (run_start, run_end) = self.fragment_runs.insert(t);
        if d.flags & data_flags::BEGIN != 0 {
            self.begins.insert(t);
        }
        if d.flags & data_flags::END != 0 {
            self.ends.insert(t);
        }
        // The new fragment can only complete the message around it: the last first fragment
        // at or below it and the first last fragment at or above it, within its run. (Every
        // other complete span was assembled when its own last fragment arrived, so no first
        // or last fragment lies between those two.)
        let begin = self.begins.range(run_start..=t).next_back().copied();
        let end = self.ends.range(t..=run_end).next().copied();
        if let (Some(begin), Some(end)) = (begin, end) {
            self.assemble(begin, end);
        }
        Accept::New
    }

    /// Takes the fragments `begin..=end` (all present) out and delivers them as one message,
    /// or drops them if they do not belong to one message or it is too large.
    fn assemble(&mut self, begin: u64, end: u64) {
        self.fragment_runs.remove_span(begin, end);
        self.begins.remove(&begin);
        self.ends.remove(&end);
        let first = self
            .fragments
            .remove(&begin)
            .expect("fragment run was checked to be contiguous");
        self.buffered -= first.data.len() + FRAGMENT_OVERHEAD;
        let (stream_id, ssn, uflag, ppid) = (
            first.stream_id,
            first.ssn,
            first.flags & data_flags::UNORDERED,
            first.ppid,
        );
        let mut ok = true;
        // Fragments are usually all as large as the first.
        let capacity = usize::try_from(end - begin + 1)
            .unwrap_or(usize::MAX)
            .saturating_mul(first.data.len())
            .min(self.max_message_size);
        let mut data = Vec::with_capacity(capacity);
        data.extend_from_slice(&first.data);
        for k in begin + 1..=end {
            #[cfg(test)]
            {
                self.work += 1;
            }
            let f = self
                .fragments
                .remove(&k)
                .expect("fragment run was checked to be contiguous");
            self.buffered -= f.data.len() + FRAGMENT_OVERHEAD;
            let same = f.stream_id == stream_id
                && f.ssn == ssn
                && f.flags & data_flags::UNORDERED == uflag;
            ok &= same && data.len() + f.data.len() <= self.max_message_size;
            if ok {
                data.extend_from_slice(&f.data);
            }
        }
        if !ok || data.len() > self.max_message_size {
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

    /// Queues a complete DATA message, or keeps it until its turn (charged the overhead of a
    /// waiting message meanwhile).
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
                self.buffered -= FRAGMENT_OVERHEAD;
                self.ready.push_back(m);
            }
        } else if (ssn.wrapping_sub(s.next_ssn) as i16) > 0 && !s.pending.contains_key(&ssn) {
            self.buffered += FRAGMENT_OVERHEAD;
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
        self.fragment_runs.remove_through(self.cum);
        self.begins = self.begins.split_off(&(self.cum + 1));
        self.ends = self.ends.split_off(&(self.cum + 1));
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
            let skipped = take_circular(&mut s.pending, s.next_ssn, ssn, 0, u16::MAX);
            #[cfg(test)]
            {
                self.work += 1 + skipped.len() as u64;
            }
            self.buffered -= skipped.len() * FRAGMENT_OVERHEAD;
            self.ready.extend(skipped);
            s.next_ssn = ssn.wrapping_add(1);
            while let Some(m) = s.pending.remove(&s.next_ssn) {
                s.next_ssn = s.next_ssn.wrapping_add(1);
                self.buffered -= FRAGMENT_OVERHEAD;
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
                    for m in std::mem::take(&mut s.pending_mid).into_values() {
                        self.buffered -= m.data.len() + FRAGMENT_OVERHEAD;
                    }
                    for m in std::mem::take(&mut s.pending).into_values() {
                        self.buffered -= m.data.len() + FRAGMENT_OVERHEAD;
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
        self.above
            .iter()
            .take(max)
            .map(|(s, e)| ((s - self.cum) as u16, (e - self.cum) as u16))
            .collect()
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

    /// Fills a message of `n` fragments in the given TSN order; returns the reassembly work.
    fn reassemble(n: u32, order: &[u32]) -> u64 {
        let mut r = Receiver::new(1, 1 << 24, 1 << 24, 1024);
        let payload = [7u8; 8];
        for &i in order {
            let mut flags = 0;
            if i == 0 {
                flags |= data_flags::BEGIN;
            }
            if i == n - 1 {
                flags |= data_flags::END;
            }
            assert_eq!(
                r.on_data(&data(1 + i, 1, 0, flags, &payload), 0),
                Accept::New
            );
        }
        let m = r.pop_message().expect("the message completes");
        assert_eq!(m.data.len(), 8 * n as usize);
        assert!(r.pop_message().is_none());
        assert_eq!(r.buffered(), 0);
        r.work
    }

    /// Reassembly does work linear in the fragments, whatever their order: holes filled in
    /// order used to make every insertion walk the whole run (quadratic).
    #[test]
    fn reassembly_work_is_linear() {
        // The odd fragments leave n/2 holes: within MAX_GAP_RANGES.
        let n = 2000u32;
        assert!(n as usize / 2 <= MAX_GAP_RANGES);
        let in_order: Vec<u32> = (0..n).collect();
        let reverse: Vec<u32> = (0..n).rev().collect();
        // The first fragment, every odd one, then the even ones in order: each filled hole
        // joins the run that starts at the first fragment.
        let holes: Vec<u32> = std::iter::once(0)
            .chain((1..n).step_by(2))
            .chain((2..n).step_by(2))
            .collect();
        // End first, then the rest in order.
        let end_first: Vec<u32> = std::iter::once(n - 1).chain(0..n - 1).collect();
        for order in [&in_order, &reverse, &holes, &end_first] {
            let work = reassemble(n, order);
            assert!(work <= 8 * n as u64, "{work} steps for {n} fragments");
        }
    }

    /// A complete span whose fragments do not belong to one message (a peer's protocol
    /// violation) is dropped whole rather than kept forever.
    #[test]
    fn a_span_mixing_messages_is_dropped_whole() {
        let mut r = Receiver::new(1, 1 << 20, 1 << 20, 1024);
        r.on_data(&data(1, 1, 0, data_flags::BEGIN, b"a"), 0);
        r.on_data(&data(2, 2, 0, 0, b"b"), 0);
        r.on_data(&data(3, 1, 0, data_flags::END, b"c"), 0);
        assert!(r.pop_message().is_none());
        assert_eq!(r.dropped_messages, 1);
        assert_eq!(r.buffered(), 0);
        assert!(r.fragments.is_empty() && r.begins.is_empty() && r.ends.is_empty());
        assert!(r.fragment_runs.is_empty());
        // The stream goes on with the next message.
        r.on_data(&data(4, 1, 0, BE, b"d"), 0);
        assert_eq!(r.pop_message().unwrap().data, b"d");
    }
    /// At most MAX_GAP_RANGES runs are kept above the cumulative point: a TSN that would start
    /// another is dropped (and not acknowledged), one that extends a run is still accepted.
    #[test]
    fn gap_runs_are_capped() {
        let mut r = Receiver::new(1, 1 << 20, 1 << 24, 1024);
        let mut dropped = 0;
        // TSN 1 is missing; 3, 5, 7, ... each start a run.
        for i in 0..2 * MAX_GAP_RANGES as u32 {
            if r.on_data(&data(3 + 2 * i, 1, 0, BE | data_flags::UNORDERED, b"x"), 0)
                == Accept::Dropped
            {
                dropped += 1;
            }
        }
        assert_eq!(dropped, MAX_GAP_RANGES);
        assert_eq!(r.gap_blocks(usize::MAX).len(), MAX_GAP_RANGES);
        // Filling a hole between two runs joins them.
        assert_eq!(
            r.on_data(&data(4, 1, 0, BE | data_flags::UNORDERED, b"x"), 0),
            Accept::New
        );
        assert_eq!(r.gap_blocks(usize::MAX).len(), MAX_GAP_RANGES - 1);
        assert_eq!(r.gap_blocks(2), vec![(3, 5), (7, 7)]);
        // The missing TSN takes the cumulative point over the first run.
        r.on_data(&data(1, 1, 0, BE | data_flags::UNORDERED, b"x"), 0);
        r.on_data(&data(2, 1, 0, BE | data_flags::UNORDERED, b"x"), 0);
        assert_eq!(r.cum_tsn(), 5);
    }

    /// Ordered messages waiting for their turn are charged their bookkeeping, so a peer
    /// holding back one SSN cannot park an unbounded number of tiny messages.
    #[test]
    fn waiting_ordered_messages_are_charged_their_overhead() {
        let hard = 100_000;
        let mut r = Receiver::new(1, 1 << 20, hard, 1024);
        let mut accepted = 0usize;
        // SSN 0 never comes: every message waits.
        for i in 0..20_000u32 {
            if r.on_data(&data(1 + i, 1, 1 + i as u16, BE, b"x"), 0) == Accept::New {
                accepted += 1;
            }
        }
        assert!(r.pop_message().is_none());
        assert!(
            accepted * (1 + FRAGMENT_OVERHEAD) <= hard + 65_536 + FRAGMENT_OVERHEAD,
            "{accepted} tiny messages parked"
        );
        assert_eq!(r.buffered(), accepted * (1 + FRAGMENT_OVERHEAD));
        // A FORWARD-TSN over the missing SSN releases them all and their charge.
        r.on_forward_tsn(accepted as u32 + 1, [(1u16, 0u16)].into_iter());
        let mut n = 0;
        while r.pop_message().is_some() {
            n += 1;
        }
        assert_eq!(n, accepted);
        assert_eq!(r.buffered(), 0);
    }

    /// A FORWARD-TSN with many entries for a stream with many waiting messages does work
    /// linear in both (each entry used to scan every waiting message).
    #[test]
    fn forward_tsn_skipping_is_linear() {
        let mut r = Receiver::new(1, 1 << 20, 1 << 26, 1024);
        let waiting = 20_000u32;
        // TSN 1 is missing; SSNs 10000.. wait on stream 1.
        for i in 0..waiting {
            assert_eq!(
                r.on_data(&data(2 + i, 1, 10_000 + i as u16, BE, b"x"), 0),
                Accept::New
            );
        }
        let entries = 9_999u16;
        let before = r.work;
        r.on_forward_tsn(1, (0..entries).map(|ssn| (1u16, ssn)));
        assert_eq!(r.cum_tsn(), 1 + waiting);
        assert!(r.pop_message().is_none());
        assert!(
            r.work - before <= 4 * (entries as u64 + waiting as u64),
            "{} steps",
            r.work - before
        );
        // The last missing SSN releases them all, in order.
        r.on_data(&data(2 + waiting, 1, 9_999, BE, b"y"), 0);
        assert_eq!(r.pop_message().unwrap().data, b"y");
        let mut n = 0;
        while let Some(m) = r.pop_message() {
            assert_eq!(m.data, b"x");
            n += 1;
        }
        assert_eq!(n, waiting);
        assert_eq!(r.buffered(), 0);
    }

    fn idata(tsn: u32, mid: u32, flags: u8, ppid_or_fsn: u32, payload: &[u8]) -> IDataChunk<'_> {
        IDataChunk {
            flags,
            tsn,
            stream_id: 1,
            mid,
            ppid_or_fsn,
            payload,
        }
    }

    /// I-DATA: a fragment beyond the last one, or a second last one, drops the message
    /// instead of delivering it with a hole.
    #[test]
    fn idata_fragment_past_the_end_drops_the_message() {
        let mut r = Receiver::new(1, 1 << 20, 1 << 20, 1024);
        r.on_idata(&idata(1, 0, data_flags::BEGIN, 53, b"a"), 0);
        r.on_idata(&idata(2, 0, 0, 5, b"f"), 0);
        r.on_idata(&idata(3, 0, data_flags::END, 2, b"c"), 0);
        assert!(r.pop_message().is_none(), "no message with a hole");
        assert_eq!(r.dropped_messages, 1);
        assert_eq!(r.buffered(), 0);
        // A well-formed message on the next MID is delivered once the stream moves on.
        r.on_idata(&idata(4, 1, data_flags::BEGIN, 53, b"o"), 0);
        r.on_idata(&idata(5, 1, data_flags::END, 1, b"k"), 0);
        assert!(r.pop_message().is_none(), "MID 1 waits for MID 0");
        // The peer gives MID 0 up (its TSN 6 is abandoned).
        r.on_i_forward_tsn(6, [(1u16, false, 0u32)].into_iter());
        assert_eq!(r.pop_message().unwrap().data, b"ok");
    }
}
