//! The receiving half of an association: TSN bookkeeping for SACKs (cumulative point, gap blocks,
//! duplicates), reassembly of fragmented messages, per-stream ordering, FORWARD-TSN skipping and
//! incoming stream resets, all within a memory bound and in logarithmic time per chunk (plus
//! linear in what a chunk completes or skips).
//!
//! - this module: the TSN bookkeeping both kinds of data share, and what SACKs report;
//! - `data`: DATA (RFC 9260): reassembly by TSN, ordering by SSN, FORWARD-TSN;
//! - `idata`: I-DATA (RFC 8260): reassembly by message and fragment numbers, I-FORWARD-TSN.
//!
//! Messages are built in buffers of the association's pool, so a receiver whose application
//! hands delivered messages back allocates nothing per message; fragments arriving in order are
//! appended to their message as they come (no per-fragment storage).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;

use sansrtc_core::VecMap;

use crate::chunk::{data_flags, write_sack_from};
use crate::pool::BufferPool;
use crate::ranges::RangeSet;

mod data;
mod idata;
#[cfg(test)]
mod tests;

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
    /// The message bytes, in a buffer of the association's pool: hand it back with
    /// [`Association::recycle`](crate::Association::recycle) once done with it, and the next
    /// message reuses it instead of allocating.
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

/// A DATA message whose fragments have all arrived in order so far (each the next TSN, nothing
/// received above it), appended to one buffer as they come.
#[derive(Debug, Clone)]
struct Assembly {
    stream_id: u16,
    ssn: u16,
    ppid: u32,
    unordered: bool,
    /// TSNs of its first fragment and of the last one so far.
    first: u64,
    last: u64,
    data: Vec<u8>,
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
    /// The DATA message being assembled in order, outside the map above until the order
    /// breaks; its fragments' lengths (a buffer kept for reuse).
    assembly: Option<Assembly>,
    assembly_lens: Vec<usize>,
    /// Length of the last message assembled in order: the capacity the next one starts with.
    assembly_hint: usize,
    imessages: BTreeMap<(u16, bool, u32), IMessage>,
    streams: VecMap<u16, InStream>,
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
    /// Sends every fragment through the map, to compare with in-order assembly.
    #[cfg(test)]
    no_assembly: bool,
}

impl Receiver {
    /// Frees the storage of queues that are empty (an idle association keeps none).
    pub(crate) fn release_buffers(&mut self) {
        if self.ready.is_empty() {
            self.ready.shrink_to_fit();
        }
        if self.assembly.is_none() {
            self.assembly_lens = Vec::new();
        }
        self.dups.shrink_to_fit();
    }

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
            assembly: None,
            assembly_lens: Vec::new(),
            assembly_hint: 0,
            imessages: BTreeMap::new(),
            streams: VecMap::new(),
            buffered: 0,
            ready: Default::default(),
            max_message_size,
            hard_limit,
            stream_count,
            dropped_chunks: 0,
            dropped_messages: 0,
            #[cfg(test)]
            work: 0,
            #[cfg(test)]
            no_assembly: false,
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
    fn gap_block_iter(&self) -> impl Iterator<Item = (u16, u16)> + '_ {
        self.above
            .iter()
            .map(|(s, e)| ((s - self.cum) as u16, (e - self.cum) as u16))
    }

    /// Appends a SACK of what was received, advertising `a_rwnd`, with as many gap blocks and
    /// duplicate TSNs as fit in `room` bytes beyond its fixed part (duplicates first), and
    /// forgets the duplicates. Allocates nothing.
    pub(crate) fn write_sack(&mut self, out: &mut Vec<u8>, a_rwnd: u32, room: usize) {
        let dups = self.dups.len().min(room / 8);
        let gaps = self.above.len().min((room - dups * 4) / 4);
        write_sack_from(
            out,
            self.cum_tsn(),
            a_rwnd,
            gaps,
            self.gap_block_iter(),
            &self.dups[..dups],
        );
        self.dups.clear();
    }

    /// Gap-ack blocks (offsets from the cumulative TSN), at most `max`.
    #[cfg(test)]
    pub(crate) fn gap_blocks(&self, max: usize) -> Vec<(u16, u16)> {
        self.gap_block_iter().take(max).collect()
    }

    /// Takes the duplicate TSNs to report.
    #[cfg(test)]
    pub(crate) fn take_dups(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.dups)
    }
}
