//! The DTLS 1.3 ACK message (RFC 9147 7): the record numbers (epoch, sequence number) of
//! records carrying handshake data that were received, so that the peer retransmits only what
//! is missing of its flight (7.1, 7.2). [`AckTracker`] collects what we received and must
//! acknowledge; [`SentRecords`] remembers which parts of our flight went in which record, so an
//! ACK tells which parts need not be sent again.

use std::collections::{BTreeMap, BTreeSet};

use crate::codec::Reader;
use crate::error::DtlsError;

/// A record number (RFC 9147 4): the full epoch and sequence number. Ordered by epoch, then
/// sequence number, the order in which an ACK lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordNumber {
    /// The epoch.
    pub epoch: u64,
    /// The sequence number within the epoch.
    pub sequence: u64,
}

/// Bytes one record number takes in an ACK.
pub const RECORD_NUMBER_LEN: usize = 16;

/// Appends the body of an ACK message (the `record_numbers` vector) listing `numbers`.
///
/// # Panics
/// If more than 4095 numbers are given (the vector's 16-bit length); [`AckTracker::take_ack`]
/// never asks for more.
pub fn write_ack(numbers: &[RecordNumber], out: &mut Vec<u8>) {
    let len = numbers.len() * RECORD_NUMBER_LEN;
    let len = u16::try_from(len).expect("at most 4095 record numbers");
    out.extend_from_slice(&len.to_be_bytes());
    for n in numbers {
        out.extend_from_slice(&n.epoch.to_be_bytes());
        out.extend_from_slice(&n.sequence.to_be_bytes());
    }
}

/// Parses the body of an ACK message. The vector's length must be a multiple of 16 and fill the
/// body exactly.
pub fn parse_ack(body: &[u8]) -> Result<Vec<RecordNumber>, DtlsError> {
    let mut r = Reader::new(body);
    let list = r.vec16()?;
    r.finish()?;
    if list.len() % RECORD_NUMBER_LEN != 0 {
        return Err(DtlsError::Invalid("ACK length"));
    }
    Ok(list
        .chunks_exact(RECORD_NUMBER_LEN)
        .map(|c| RecordNumber {
            epoch: u64::from_be_bytes(c[..8].try_into().expect("8 bytes")),
            sequence: u64::from_be_bytes(c[8..].try_into().expect("8 bytes")),
        })
        .collect())
}

/// The record numbers of received handshake records not yet acknowledged, bounded (the oldest
/// are forgotten past the bound: an ACK is an optimisation, the peer's timer covers the rest).
#[derive(Debug, Clone)]
pub struct AckTracker {
    pending: BTreeSet<RecordNumber>,
    max: usize,
}

impl AckTracker {
    /// A tracker keeping at most `max` record numbers (at least 1).
    pub fn new(max: usize) -> Self {
        Self {
            pending: BTreeSet::new(),
            max: max.max(1),
        }
    }
    /// Notes a received record to acknowledge (duplicates are kept once).
    pub fn received(&mut self, number: RecordNumber) {
        self.pending.insert(number);
        while self.pending.len() > self.max {
            self.pending.pop_first();
        }
    }
    /// Whether nothing waits to be acknowledged.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
    /// Frees the set's storage when nothing waits to be acknowledged (an emptied B-tree keeps
    /// its root node: an idle connection should not).
    pub fn release(&mut self) {
        if self.pending.is_empty() {
            self.pending = BTreeSet::new();
        }
    }
    /// The ACK body for up to `max_numbers` of the newest pending record numbers (an ACK that
    /// fits the space left in a datagram), in ascending order; they are no longer pending.
    /// `None` if nothing is pending.
    pub fn take_ack(&mut self, max_numbers: usize) -> Option<Vec<u8>> {
        let n = max_numbers.min(4095).min(self.pending.len());
        if n == 0 {
            return None;
        }
        let mut newest: Vec<RecordNumber> =
            (0..n).filter_map(|_| self.pending.pop_last()).collect();
        newest.reverse();
        let mut out = Vec::with_capacity(2 + n * RECORD_NUMBER_LEN);
        write_ack(&newest, &mut out);
        Some(out)
    }
}

/// Which parts of our flight (caller's ids, e.g. a message fragment's index) each sent record
/// carried, so that an ACK marks parts delivered and only the others are retransmitted
/// (RFC 9147 7.1).
#[derive(Debug, Clone, Default)]
pub struct SentRecords {
    records: BTreeMap<RecordNumber, Vec<usize>>,
    acked: BTreeSet<usize>,
}

impl SentRecords {
    /// Nothing sent.
    pub fn new() -> Self {
        Self::default()
    }
    /// A record went out carrying these parts.
    pub fn sent(&mut self, number: RecordNumber, parts: &[usize]) {
        self.records.insert(number, parts.to_vec());
    }
    /// Applies a received ACK; returns how many parts it newly marked delivered. Record numbers
    /// we never sent are ignored.
    pub fn on_ack(&mut self, numbers: &[RecordNumber]) -> usize {
        let before = self.acked.len();
        for n in numbers {
            if let Some(parts) = self.records.remove(n) {
                self.acked.extend(parts);
            }
        }
        self.acked.len() - before
    }
    /// Whether this part has been acknowledged (and so need not be retransmitted).
    pub fn is_acked(&self, part: usize) -> bool {
        self.acked.contains(&part)
    }
    /// Forgets everything (a new flight starts).
    pub fn clear(&mut self) {
        self.records.clear();
        self.acked.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rn(epoch: u64, sequence: u64) -> RecordNumber {
        RecordNumber { epoch, sequence }
    }

    #[test]
    fn ack_round_trip_and_wire_form() {
        let nums = [rn(0, 1), rn(2, 0x0102030405)];
        let mut out = Vec::new();
        write_ack(&nums, &mut out);
        assert_eq!(out.len(), 2 + 32);
        assert_eq!(&out[..2], &[0, 32]);
        assert_eq!(
            &out[2..18],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        );
        assert_eq!(parse_ack(&out).expect("parses"), nums);
        let mut empty = Vec::new();
        write_ack(&[], &mut empty);
        assert_eq!(parse_ack(&empty).expect("empty"), []);
    }

    #[test]
    fn malformed_acks_are_refused() {
        assert!(parse_ack(&[]).is_err());
        assert!(parse_ack(&[0, 15]).is_err());
        let mut bad = vec![0, 15];
        bad.extend_from_slice(&[0; 15]);
        assert!(parse_ack(&bad).is_err());
        let mut trailing = Vec::new();
        write_ack(&[rn(1, 1)], &mut trailing);
        trailing.push(0);
        assert!(parse_ack(&trailing).is_err());
    }

    #[test]
    fn tracker_bounds_orders_and_splits() {
        let mut t = AckTracker::new(3);
        assert_eq!(t.take_ack(10), None);
        for s in [5, 1, 3, 3, 9] {
            t.received(rn(2, s));
        }
        // 1 was forgotten (oldest past the bound of 3); the newest two go first.
        let ack = t.take_ack(2).expect("pending");
        assert_eq!(parse_ack(&ack).expect("ack"), [rn(2, 5), rn(2, 9)]);
        let ack = t.take_ack(2).expect("pending");
        assert_eq!(parse_ack(&ack).expect("ack"), [rn(2, 3)]);
        assert!(t.is_empty());
    }

    #[test]
    fn acks_mark_flight_parts_delivered() {
        let mut s = SentRecords::new();
        s.sent(rn(2, 0), &[0, 1]);
        s.sent(rn(2, 1), &[2]);
        s.sent(rn(2, 2), &[3]);
        assert_eq!(s.on_ack(&[rn(2, 1), rn(3, 7)]), 1);
        assert!(s.is_acked(2) && !s.is_acked(0) && !s.is_acked(3));
        // A retransmission of parts 0 and 1 in a new record; the ACK of the old one still counts.
        s.sent(rn(2, 3), &[0, 1]);
        assert_eq!(s.on_ack(&[rn(2, 0)]), 2);
        assert_eq!(s.on_ack(&[rn(2, 0), rn(2, 3)]), 0);
        s.clear();
        assert!(!s.is_acked(0));
    }
}
