//! The payloads of messages held for sending: queued, or with chunks sent and not yet
//! acknowledged or skipped. A message's chunks refer to its payload by index and range, so
//! fragmenting copies nothing and allocates nothing; a payload copied in from a slice comes from
//! the association's [`BufferPool`] and goes back to it when its last reference is released.

use bytes::Bytes;

use crate::pool::BufferPool;

/// Slots kept for reuse when none is in use; a burst of more messages than this gives its
/// slots back once it is over.
const KEEP_SLOTS: usize = 1024;

#[derive(Debug, Clone)]
enum Payload {
    /// Copied into a pooled buffer (`send_from_slice`).
    Copied(Vec<u8>),
    /// Handed over by the caller (`send`): shared, not copied.
    Shared(Bytes),
    /// An unused slot.
    Free,
}

#[derive(Debug, Clone)]
struct Slot {
    payload: Payload,
    /// References: the stream queue's while the message is not fully fragmented, plus one per
    /// chunk in `outstanding` (the last fragment's is the queue's, handed over).
    refs: u32,
}

/// Payloads by index, with a free list.
#[derive(Debug, Clone, Default)]
pub(super) struct Payloads {
    slots: Vec<Slot>,
    free: Vec<usize>,
    live: usize,
}

impl Payloads {
    /// Frees the slot storage when no payload is held.
    pub(super) fn release_if_empty(&mut self) {
        if self.live == 0 {
            self.slots = Vec::new();
            self.free = Vec::new();
        }
    }

    #[inline]
    fn insert(&mut self, payload: Payload) -> usize {
        self.live += 1;
        let slot = Slot { payload, refs: 1 };
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = slot;
                i
            }
            None => {
                self.slots.push(slot);
                self.slots.len() - 1
            }
        }
    }

    /// Holds a copy of `data` in a pooled buffer, with one reference (the queue's).
    #[inline]
    pub(super) fn insert_copy(&mut self, data: &[u8], pool: &mut BufferPool) -> usize {
        self.insert(Payload::Copied(pool.copy_of(data)))
    }

    /// Holds `data` as given, with one reference (the queue's).
    #[inline]
    pub(super) fn insert_shared(&mut self, data: Bytes) -> usize {
        self.insert(Payload::Shared(data))
    }

    /// The bytes of payload `i`.
    #[inline]
    pub(super) fn get(&self, i: usize) -> &[u8] {
        match &self.slots[i].payload {
            Payload::Copied(v) => v,
            Payload::Shared(b) => b,
            Payload::Free => &[],
        }
    }

    /// Adds a reference to payload `i` (a chunk cut from it).
    #[inline]
    pub(super) fn retain(&mut self, i: usize) {
        self.slots[i].refs += 1;
    }

    /// Drops a reference to payload `i`; the last one frees it, its buffer back to `pool`.
    #[inline]
    pub(super) fn release(&mut self, i: usize, pool: &mut BufferPool) {
        let slot = &mut self.slots[i];
        slot.refs -= 1;
        if slot.refs > 0 {
            return;
        }
        if let Payload::Copied(v) = std::mem::replace(&mut slot.payload, Payload::Free) {
            pool.put(v);
        }
        self.free.push(i);
        self.live -= 1;
        if self.live == 0 && self.slots.len() > KEEP_SLOTS {
            *self = Payloads::default();
        }
    }

    /// Frees every payload (the association closed).
    pub(super) fn clear(&mut self, pool: &mut BufferPool) {
        for slot in self.slots.drain(..) {
            if let Payload::Copied(v) = slot.payload {
                pool.put(v);
            }
        }
        self.free.clear();
        self.live = 0;
        if self.slots.capacity() > KEEP_SLOTS {
            *self = Payloads::default();
        }
    }

    /// Payloads held.
    #[cfg(test)]
    pub(super) fn live(&self) -> usize {
        self.live
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_reference_frees_and_recycles() {
        let mut pool = BufferPool::new(1 << 20);
        let mut p = Payloads::default();
        let a = p.insert_copy(b"abc", &mut pool);
        let b = p.insert_shared(Bytes::from_static(b"xyz"));
        assert_eq!((p.get(a), p.get(b)), (&b"abc"[..], &b"xyz"[..]));
        p.retain(a);
        p.release(a, &mut pool);
        assert_eq!(p.live(), 2);
        assert_eq!(pool.charged(), 0);
        p.release(a, &mut pool);
        assert_eq!(p.live(), 1);
        assert!(
            pool.charged() > 0,
            "the copy's buffer went back to the pool"
        );
        // The freed slot is reused.
        assert_eq!(p.insert_copy(b"d", &mut pool), a);
        p.clear(&mut pool);
        assert_eq!(p.live(), 0);
    }
}
