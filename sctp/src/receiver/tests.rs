//! Unit tests of the receiver.

use super::*;
use crate::chunk::{DataChunk, IDataChunk};

impl Receiver {
    /// `on_data` with a pool of its own.
    fn on_data_t(&mut self, d: &DataChunk<'_>, external: usize) -> Accept {
        self.on_data(d, external, &mut BufferPool::new(1 << 20))
    }

    /// `on_idata` with a pool of its own.
    fn on_idata_t(&mut self, d: &IDataChunk<'_>, external: usize) -> Accept {
        self.on_idata(d, external, &mut BufferPool::new(1 << 20))
    }
}

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
        r.on_data_t(&data(0, 1, 1, data_flags::BEGIN, b"ab"), 0),
        Accept::New
    );
    assert_eq!(r.gap_blocks(10), vec![(3, 3)]);
    assert_eq!(
        r.on_data_t(&data(1, 1, 1, data_flags::END, b"cd"), 0),
        Accept::New
    );
    assert!(r.pop_message().is_none());
    assert_eq!(r.on_data_t(&data(u32::MAX, 1, 0, BE, b"x"), 0), Accept::New);
    assert_eq!(r.pop_message().unwrap().data, b"x");
    assert_eq!(r.pop_message().unwrap().data, b"abcd");
    assert!(r.pop_message().is_none());
    assert_eq!(
        r.on_data_t(&data(u32::MAX - 1, 2, 0, BE, b"y"), 0),
        Accept::New
    );
    assert_eq!(r.cum_tsn(), 1);
    assert_eq!(r.pop_message().unwrap().data, b"y");
    assert_eq!(r.buffered(), 0);
    assert_eq!(r.on_data_t(&data(0, 1, 1, BE, b"z"), 0), Accept::Duplicate);
    assert_eq!(r.take_dups(), vec![0]);
}

#[test]
fn forward_tsn_skips() {
    let mut r = Receiver::new(10, 1 << 20, 1 << 20, 1024);
    r.on_data_t(&data(12, 1, 2, BE, b"c"), 0);
    r.on_data_t(&data(11, 1, 1, data_flags::END, b"b"), 0);
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
        r.on_data_t(&data(3, 1, 0, data_flags::BEGIN, &big), 0),
        Accept::New
    );
    assert_eq!(r.on_data_t(&data(4, 1, 0, 0, &big), 0), Accept::Dropped);
    // The next expected TSN is still accepted.
    assert_eq!(r.on_data_t(&data(1, 2, 0, BE, &big), 0), Accept::New);
    assert_eq!(
        r.on_data_t(&data(100_000, 1, 0, BE, b"x"), 0),
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
            r.on_data_t(&data(1 + i, 1, 0, flags, &payload), 0),
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
    r.on_data_t(&data(1, 1, 0, data_flags::BEGIN, b"a"), 0);
    r.on_data_t(&data(2, 2, 0, 0, b"b"), 0);
    r.on_data_t(&data(3, 1, 0, data_flags::END, b"c"), 0);
    assert!(r.pop_message().is_none());
    assert_eq!(r.dropped_messages, 1);
    assert_eq!(r.buffered(), 0);
    assert!(r.fragments.is_empty() && r.begins.is_empty() && r.ends.is_empty());
    assert!(r.fragment_runs.is_empty());
    // The stream goes on with the next message.
    r.on_data_t(&data(4, 1, 0, BE, b"d"), 0);
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
        if r.on_data_t(&data(3 + 2 * i, 1, 0, BE | data_flags::UNORDERED, b"x"), 0)
            == Accept::Dropped
        {
            dropped += 1;
        }
    }
    assert_eq!(dropped, MAX_GAP_RANGES);
    assert_eq!(r.gap_blocks(usize::MAX).len(), MAX_GAP_RANGES);
    // Filling a hole between two runs joins them.
    assert_eq!(
        r.on_data_t(&data(4, 1, 0, BE | data_flags::UNORDERED, b"x"), 0),
        Accept::New
    );
    assert_eq!(r.gap_blocks(usize::MAX).len(), MAX_GAP_RANGES - 1);
    assert_eq!(r.gap_blocks(2), vec![(3, 5), (7, 7)]);
    // The missing TSN takes the cumulative point over the first run.
    r.on_data_t(&data(1, 1, 0, BE | data_flags::UNORDERED, b"x"), 0);
    r.on_data_t(&data(2, 1, 0, BE | data_flags::UNORDERED, b"x"), 0);
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
        if r.on_data_t(&data(1 + i, 1, 1 + i as u16, BE, b"x"), 0) == Accept::New {
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
            r.on_data_t(&data(2 + i, 1, 10_000 + i as u16, BE, b"x"), 0),
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
    r.on_data_t(&data(2 + waiting, 1, 9_999, BE, b"y"), 0);
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
    r.on_idata_t(&idata(1, 0, data_flags::BEGIN, 53, b"a"), 0);
    r.on_idata_t(&idata(2, 0, 0, 5, b"f"), 0);
    r.on_idata_t(&idata(3, 0, data_flags::END, 2, b"c"), 0);
    assert!(r.pop_message().is_none(), "no message with a hole");
    assert_eq!(r.dropped_messages, 1);
    assert_eq!(r.buffered(), 0);
    // A well-formed message on the next MID is delivered once the stream moves on.
    r.on_idata_t(&idata(4, 1, data_flags::BEGIN, 53, b"o"), 0);
    r.on_idata_t(&idata(5, 1, data_flags::END, 1, b"k"), 0);
    assert!(r.pop_message().is_none(), "MID 1 waits for MID 0");
    // The peer gives MID 0 up (its TSN 6 is abandoned).
    r.on_i_forward_tsn(6, [(1u16, false, 0u32)].into_iter());
    assert_eq!(r.pop_message().unwrap().data, b"ok");
}

/// Fragments arriving in order are appended to their message as they come: nothing goes into
/// the fragment map, and the message is built in a pooled buffer.
#[test]
fn in_order_fragments_are_assembled_without_the_map() {
    let mut pool = BufferPool::new(1 << 20);
    let pooled = Vec::with_capacity(64);
    let ptr = pooled.as_ptr();
    pool.put(pooled);
    let mut r = Receiver::new(1, 1 << 20, 1 << 20, 1024);
    for (tsn, flags, part) in [
        (1, data_flags::BEGIN, b"ab"),
        (2, 0, b"cd"),
        (3, data_flags::END, b"ef"),
    ] {
        assert_eq!(
            r.on_data(&data(tsn, 1, 0, flags, part), 0, &mut pool),
            Accept::New
        );
        assert!(r.fragments.is_empty());
    }
    assert!(r.assembly.is_none());
    let m = r.pop_message().unwrap();
    assert_eq!(m.data, b"abcdef");
    assert_eq!(m.data.as_ptr(), ptr, "the pooled buffer was used");
    assert_eq!(r.buffered(), 0);
}

/// When the order breaks mid-message (a gap), what was assembled goes to the map, and the
/// message completes once the gap is filled.
#[test]
fn a_gap_mid_message_hands_the_assembly_to_the_map() {
    let mut r = Receiver::new(1, 1 << 20, 1 << 20, 1024);
    r.on_data_t(&data(1, 1, 0, data_flags::BEGIN, b"ab"), 0);
    r.on_data_t(&data(2, 1, 0, 0, b"cd"), 0);
    assert!(r.assembly.is_some());
    // TSN 3 is late.
    r.on_data_t(&data(4, 1, 0, data_flags::END, b"gh"), 0);
    assert!(r.assembly.is_none());
    assert_eq!(r.fragments.len(), 3);
    assert!(r.pop_message().is_none());
    r.on_data_t(&data(3, 1, 0, 0, b"ef"), 0);
    assert_eq!(r.pop_message().unwrap().data, b"abcdefgh");
    assert_eq!(r.buffered(), 0);
    assert!(r.fragments.is_empty() && r.begins.is_empty() && r.ends.is_empty());
    assert!(r.fragment_runs.is_empty());
}

/// A FORWARD-TSN skips the message being assembled in order, and its charge.
#[test]
fn forward_tsn_drops_the_assembly() {
    let mut r = Receiver::new(1, 1 << 20, 1 << 20, 1024);
    r.on_data_t(&data(1, 1, 0, data_flags::BEGIN, b"ab"), 0);
    assert!(r.buffered() > 0);
    r.on_forward_tsn(2, [(1u16, 0u16)].into_iter());
    assert!(r.assembly.is_none());
    assert_eq!(r.buffered(), 0);
    r.on_data_t(&data(3, 1, 1, BE, b"x"), 0);
    assert_eq!(r.pop_message().unwrap().data, b"x");
}

/// In-order assembly changes nothing observable: random fragment streams (reordered, lost and
/// retransmitted, duplicated, with a peer's malformed fragments and FORWARD-TSNs) give the same
/// messages, charges and acknowledgements as reassembly through the map alone.
#[test]
fn in_order_assembly_matches_the_map() {
    use crate::rng::{Rng, SeededRng};
    for seed in 0..300u64 {
        let mut rng = SeededRng::new(seed);
        // The sender's chunks: messages of 1 to 6 fragments on 3 streams, consecutive TSNs.
        let mut chunks: Vec<(u32, u16, u16, u8, Vec<u8>)> = Vec::new();
        let mut ssn = [0u16; 3];
        let mut tsn = 1u32;
        for m in 0..60u32 {
            let sid = (rng.next_u32() % 3) as u16;
            let unordered = rng.next_u32().is_multiple_of(4);
            let n = 1 + rng.next_u32() % 6;
            for f in 0..n {
                let mut flags = if unordered { data_flags::UNORDERED } else { 0 };
                if f == 0 {
                    flags |= data_flags::BEGIN;
                }
                if f == n - 1 {
                    flags |= data_flags::END;
                }
                // Now and then a peer's malformed flags.
                if rng.next_u32().is_multiple_of(50) {
                    flags ^= 1 << (rng.next_u32() % 3);
                }
                let len = 1 + (rng.next_u32() % 5) as usize;
                chunks.push((
                    tsn,
                    sid,
                    ssn[sid as usize],
                    flags,
                    vec![m as u8 + f as u8; len],
                ));
                tsn += 1;
            }
            if !unordered {
                ssn[sid as usize] += 1;
            }
        }
        // Delivery: mostly in order; some chunks late, lost (sent again at the end) or twice.
        let mut order: Vec<usize> = (0..chunks.len()).collect();
        let mut lost = Vec::new();
        for i in 0..order.len() {
            match rng.next_u32() % 20 {
                0 if i + 3 < order.len() => order.swap(i, i + 1 + (rng.next_u32() % 3) as usize),
                1 => lost.push(i),
                _ => {}
            }
        }
        let mut inputs: Vec<Option<usize>> = Vec::new();
        for (k, &i) in order.iter().enumerate() {
            if lost.contains(&k) {
                continue;
            }
            inputs.push(Some(i));
            if rng.next_u32().is_multiple_of(30) {
                inputs.push(Some(i));
            }
            if rng.next_u32().is_multiple_of(80) {
                inputs.push(None);
            }
        }
        inputs.extend(lost.iter().map(|&k| Some(order[k])));
        let mut a = Receiver::new(1, 12, 1 << 20, 1024);
        let mut b = Receiver::new(1, 12, 1 << 20, 1024);
        b.no_assembly = true;
        let mut pool = BufferPool::new(1 << 20);
        for input in inputs {
            match input {
                Some(i) => {
                    let (tsn, sid, ssn, flags, payload) = &chunks[i];
                    let d = DataChunk {
                        flags: *flags,
                        tsn: *tsn,
                        stream_id: *sid,
                        ssn: *ssn,
                        ppid: 51,
                        payload,
                    };
                    let x = a.on_data(&d, 0, &mut pool);
                    assert_eq!(x, b.on_data(&d, 0, &mut pool), "seed {seed}");
                }
                None => {
                    // The peer skips ahead to just past its cumulative point.
                    // Its ordered messages up to there are skipped: the last SSN per stream.
                    let to = a.cum_tsn().wrapping_add(1 + rng.next_u32() % 4);
                    let mut skipped: Vec<(u16, u16)> = Vec::new();
                    for (tsn, sid, ssn, flags, _) in &chunks {
                        if *tsn <= to && flags & data_flags::UNORDERED == 0 {
                            skipped.retain(|(s, _)| s != sid);
                            skipped.push((*sid, *ssn));
                        }
                    }
                    a.on_forward_tsn(to, skipped.iter().copied());
                    b.on_forward_tsn(to, skipped.iter().copied());
                }
            }
            assert_eq!(a.buffered(), b.buffered(), "seed {seed}");
            assert_eq!(a.cum_tsn(), b.cum_tsn(), "seed {seed}");
            assert_eq!(a.gap_blocks(100), b.gap_blocks(100), "seed {seed}");
            assert_eq!(a.dropped_messages, b.dropped_messages, "seed {seed}");
            loop {
                let (x, y) = (a.pop_message(), b.pop_message());
                assert_eq!(x, y, "seed {seed}");
                let Some(m) = x else { break };
                pool.put(m.data);
            }
        }
    }
}
