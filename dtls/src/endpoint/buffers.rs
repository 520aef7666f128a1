//! Datagrams waiting to be sent, and spare buffers. Buffers circulate between the endpoint and
//! the caller: [`Endpoint::poll_transmit_into`](super::Endpoint::poll_transmit_into) and
//! [`Endpoint::poll_application_data`](super::Endpoint::poll_application_data) exchange the
//! caller's buffer for the one holding the output, and the caller's goes back to the spares, so
//! once every buffer has grown to a record's size, sending and receiving allocate nothing.

use std::collections::VecDeque;

/// Spare buffers kept at most.
const MAX_SPARE: usize = 8;
/// Larger spare buffers are dropped rather than kept. A record needs at most 2^14 + 2048 + 13
/// bytes, but a `Vec` that grew by doubling may hold twice what it needed, and dropping it
/// would make the next record allocate again.
const MAX_SPARE_CAPACITY: usize = 1 << 16;

/// The transmit queue and the spare buffers.
#[derive(Debug, Clone, Default)]
pub(super) struct Outbox {
    queue: VecDeque<Vec<u8>>,
    spare: Vec<Vec<u8>>,
}

impl Outbox {
    /// An empty buffer: a spare one if there is one.
    pub(super) fn buffer(&mut self) -> Vec<u8> {
        self.spare.pop().unwrap_or_default()
    }

    /// Keeps `buffer` as a spare (emptied), unless there are enough or it is too large.
    pub(super) fn recycle(&mut self, mut buffer: Vec<u8>) {
        let capacity = buffer.capacity();
        if capacity == 0 || capacity > MAX_SPARE_CAPACITY || self.spare.len() >= MAX_SPARE {
            return;
        }
        if self.spare.capacity() == 0 {
            self.spare.reserve_exact(MAX_SPARE);
        }
        buffer.clear();
        self.spare.push(buffer);
    }

    /// Queues a datagram.
    pub(super) fn push(&mut self, datagram: Vec<u8>) {
        self.queue.push_back(datagram);
    }

    /// The next datagram, handed over.
    pub(super) fn pop(&mut self) -> Option<Vec<u8>> {
        self.queue.pop_front()
    }

    /// The next datagram, exchanged with `out` (whose old buffer becomes a spare).
    pub(super) fn pop_into(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(datagram) = self.queue.pop_front() else {
            return false;
        };
        let old = std::mem::replace(out, datagram);
        self.recycle(old);
        true
    }

    /// Whether a datagram is queued.
    pub(super) fn has_datagram(&self) -> bool {
        !self.queue.is_empty()
    }

    /// Frees the spare buffers (and the queue's storage when it is empty).
    pub(super) fn release(&mut self) {
        self.spare = Vec::new();
        if self.queue.is_empty() {
            self.queue = VecDeque::new();
        }
    }

    /// Spare buffers held (tests).
    #[cfg(test)]
    pub(super) fn spares(&self) -> usize {
        self.spare.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_circulate_without_growing() {
        let mut o = Outbox::default();
        let mut mine = Vec::with_capacity(1500);
        for i in 0..100u8 {
            let mut b = o.buffer();
            b.extend_from_slice(&[i; 1200]);
            o.push(b);
            assert!(o.pop_into(&mut mine));
            assert_eq!(mine, [i; 1200]);
        }
        assert_eq!(o.spares(), 1, "one buffer goes back and forth");
        assert!(!o.pop_into(&mut mine));
        assert_eq!(mine.len(), 1200, "untouched when nothing is queued");
    }

    #[test]
    fn spares_are_bounded_in_number_and_size() {
        let mut o = Outbox::default();
        for _ in 0..20 {
            o.recycle(Vec::with_capacity(100));
        }
        assert_eq!(o.spares(), MAX_SPARE);
        let mut o = Outbox::default();
        o.recycle(Vec::with_capacity(MAX_SPARE_CAPACITY + 1));
        o.recycle(Vec::new());
        assert_eq!(o.spares(), 0);
    }
}
