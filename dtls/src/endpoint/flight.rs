//! Our current flight (RFC 6347 4.2.4): its messages, the message_seq of the next one, packing
//! into datagrams up to the MTU, and retransmission: exponential back-off from the configured
//! initial timeout up to its ceiling, giving up after `max_retransmissions`, and re-sending when
//! the peer repeats its own flight (rate-limited so duplicated datagrams cannot make us amplify).

use std::time::{Duration, Instant};

use super::buffers::Outbox;
use super::records::RecordLayer;
use crate::fragment;
use crate::record::{self, ContentType};

/// One item of a flight.
#[derive(Debug, Clone)]
pub(super) enum FlightItem {
    /// A handshake message (unfragmented form) and the epoch it goes out in.
    Handshake { epoch: u16, whole: Vec<u8> },
    /// A ChangeCipherSpec record.
    ChangeCipherSpec,
}

/// What a retransmission deadline asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timeout {
    /// Nothing is due.
    NotDue,
    /// The flight was retransmitted as often as allowed: the handshake fails.
    GiveUp,
    /// Send the flight again (the next deadline is already set).
    Retransmit,
}

/// Our last flight and its retransmission timer.
#[derive(Debug, Clone)]
pub(super) struct Flight {
    items: Vec<FlightItem>,
    next_seq: u16,
    retransmit_at: Option<Instant>,
    interval: Duration,
    count: u32,
    last_peer_resend: Option<Instant>,
}

impl Flight {
    pub(super) fn new(initial: Duration) -> Self {
        Self {
            items: Vec::new(),
            next_seq: 0,
            retransmit_at: None,
            interval: initial,
            count: 0,
            last_peer_resend: None,
        }
    }

    /// Forgets the messages (a new flight starts).
    pub(super) fn clear(&mut self) {
        self.items.clear();
    }

    /// Forgets the messages and frees their storage (DTLS 1.3 took over: nothing of this
    /// flight is sent again).
    pub(super) fn release(&mut self) {
        self.items = Vec::new();
        self.retransmit_at = None;
    }

    /// The items (tests).
    #[cfg(test)]
    pub(super) fn items(&self) -> &[FlightItem] {
        &self.items
    }

    /// Appends a ChangeCipherSpec.
    pub(super) fn push_change_cipher_spec(&mut self) {
        self.items.push(FlightItem::ChangeCipherSpec);
    }

    /// Appends a message with the next message_seq; returns its unfragmented form (what enters
    /// the transcript).
    pub(super) fn add(&mut self, epoch: u16, ty: u8, body: &[u8]) -> &[u8] {
        let whole = fragment::whole_message(ty, self.next_seq, body);
        self.next_seq = self.next_seq.wrapping_add(1);
        self.items.push(FlightItem::Handshake { epoch, whole });
        match self.items.last() {
            Some(FlightItem::Handshake { whole, .. }) => whole,
            _ => unreachable!("a handshake message was just pushed"),
        }
    }

    /// Our next message gets `seq` (the server answers the ClientHello's number).
    pub(super) fn set_next_seq(&mut self, seq: u16) {
        self.next_seq = seq;
    }

    /// The flight is complete: reset the back-off and arm the timer if an answer is expected.
    pub(super) fn start(&mut self, now: Instant, expects_reply: bool, initial: Duration) {
        self.interval = initial;
        self.count = 0;
        self.retransmit_at = expects_reply.then(|| now + self.interval);
    }

    /// No more retransmissions (connected, closed or failed).
    pub(super) fn stop(&mut self) {
        self.retransmit_at = None;
    }

    /// When the flight is retransmitted next.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.retransmit_at
    }

    /// The deadline may have passed: on a retransmission, the back-off doubles (up to `ceiling`)
    /// and the next deadline is set.
    pub(super) fn on_timeout(
        &mut self,
        now: Instant,
        max_count: u32,
        ceiling: Duration,
    ) -> Timeout {
        let Some(at) = self.retransmit_at else {
            return Timeout::NotDue;
        };
        if now < at {
            return Timeout::NotDue;
        }
        if self.count >= max_count {
            return Timeout::GiveUp;
        }
        self.count += 1;
        self.interval = (self.interval * 2).min(ceiling);
        self.retransmit_at = Some(now + self.interval);
        Timeout::Retransmit
    }

    /// The peer repeated its last flight (so ours was lost): whether to re-send ours now. At
    /// most once per `quiet`, so duplicated datagrams cannot make us amplify.
    pub(super) fn peer_resent(&mut self, now: Instant, quiet: Duration) -> bool {
        if self.items.is_empty() || self.last_peer_resend.is_some_and(|t| now < t + quiet) {
            return false;
        }
        self.last_peer_resend = Some(now);
        true
    }

    /// Frees the spare capacity (the flight is kept for re-sending once connected).
    pub(super) fn shrink(&mut self) {
        self.items.shrink_to_fit();
    }

    /// Seals the flight into datagrams of at most `mtu` bytes (messages fragmented to fit) and
    /// queues them.
    pub(super) fn transmit(&self, records: &mut RecordLayer, mtu: usize, out: &mut Outbox) {
        let mtu = mtu.max(record::HEADER_LEN + fragment::HEADER_LEN + 64);
        let mut datagram = out.buffer();
        for item in &self.items {
            let (epoch, ct, payloads) = match item {
                FlightItem::ChangeCipherSpec => (0, ContentType::ChangeCipherSpec, vec![vec![1u8]]),
                FlightItem::Handshake { epoch, whole } => {
                    let room = mtu - record::HEADER_LEN - records.overhead(*epoch);
                    (
                        *epoch,
                        ContentType::Handshake,
                        fragment::fragments(whole, room),
                    )
                }
            };
            for p in payloads {
                let len = record::HEADER_LEN + p.len() + records.overhead(epoch);
                if !datagram.is_empty() && datagram.len() + len > mtu {
                    let next = out.buffer();
                    out.push(std::mem::replace(&mut datagram, next));
                }
                records.seal(epoch, ct, &p, &mut datagram);
            }
        }
        if datagram.is_empty() {
            out.recycle(datagram);
        } else {
            out.push(datagram);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::parse_datagram;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn back_off_doubles_to_the_ceiling_then_gives_up() {
        let mut f = Flight::new(SECOND);
        let start = Instant::now();
        f.start(start, true, SECOND);
        assert_eq!(f.on_timeout(start, 5, 4 * SECOND), Timeout::NotDue);
        let mut waits = Vec::new();
        let mut now = start;
        loop {
            let at = f.deadline().unwrap();
            waits.push((at - now).as_secs());
            now = at;
            match f.on_timeout(now, 5, 4 * SECOND) {
                Timeout::Retransmit => {}
                Timeout::GiveUp => break,
                Timeout::NotDue => unreachable!(),
            }
        }
        assert_eq!(waits, [1, 2, 4, 4, 4, 4]);
        // A new flight starts over.
        f.start(now, true, SECOND);
        assert_eq!(f.deadline(), Some(now + SECOND));
        f.start(now, false, SECOND);
        assert_eq!(f.deadline(), None, "a final flight expects no answer");
    }

    #[test]
    fn re_sending_for_the_peer_is_rate_limited() {
        let mut f = Flight::new(SECOND);
        let now = Instant::now();
        assert!(!f.peer_resent(now, SECOND / 4), "nothing to re-send");
        f.add(0, 1, b"hello");
        assert!(f.peer_resent(now, SECOND / 4));
        assert!(!f.peer_resent(now + SECOND / 8, SECOND / 4));
        assert!(f.peer_resent(now + SECOND / 4, SECOND / 4));
    }

    #[test]
    fn flights_are_packed_and_fragmented_to_the_mtu() {
        let mut f = Flight::new(SECOND);
        f.set_next_seq(3);
        let whole = f.add(0, 11, &[7; 500]).to_vec();
        assert_eq!(&whole[4..6], &3u16.to_be_bytes(), "message_seq");
        f.add(0, 14, &[]);
        f.push_change_cipher_spec();
        let mut records = RecordLayer::new();
        let mut out = Outbox::default();
        f.transmit(&mut records, 200, &mut out);
        let datagrams: Vec<_> = std::iter::from_fn(|| out.pop()).collect();
        assert!(datagrams.iter().all(|d| d.len() <= 200));
        let records: Vec<_> = datagrams
            .iter()
            .flat_map(|d| parse_datagram(d).map(Result::unwrap).collect::<Vec<_>>())
            .collect();
        let handshake_bytes: usize = records
            .iter()
            .filter(|r| r.header.content_type == ContentType::Handshake)
            .map(|r| r.fragment.len() - fragment::HEADER_LEN)
            .sum();
        assert_eq!(handshake_bytes, 500, "every body byte once");
        let last = records.last().unwrap();
        assert_eq!(last.header.content_type, ContentType::ChangeCipherSpec);
        let seqs: Vec<u64> = records.iter().map(|r| r.header.sequence).collect();
        assert_eq!(seqs, (0..records.len() as u64).collect::<Vec<_>>());
        // Small messages share a datagram.
        assert!(datagrams.len() < records.len());
    }
}
