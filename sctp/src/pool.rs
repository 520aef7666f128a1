//! Recycled message buffers, so that an association in steady state allocates nothing per
//! message: buffers of acknowledged messages and of delivered messages the application handed
//! back come out again for the next message copied in (sent with `send_from_slice`, or
//! received).

/// Bytes each pooled buffer is charged beyond its capacity, so that many tiny buffers cannot
/// pass the bound through their bookkeeping.
pub(crate) const POOLED_BUFFER_OVERHEAD: usize = 64;

/// Idle byte buffers kept for reuse, within a bound on their total capacity.
#[derive(Debug, Clone, Default)]
pub(crate) struct BufferPool {
    free: Vec<Vec<u8>>,
    /// Capacity of the buffers held, each plus `POOLED_BUFFER_OVERHEAD`.
    charged: usize,
    limit: usize,
}

impl BufferPool {
    /// A pool holding at most `limit` bytes (each buffer charged its capacity plus
    /// [`POOLED_BUFFER_OVERHEAD`]).
    pub(crate) fn new(limit: usize) -> Self {
        BufferPool {
            free: Vec::new(),
            charged: 0,
            limit,
        }
    }

    /// Frees the buffers held.
    pub(crate) fn release(&mut self) {
        self.free = Vec::new();
        self.charged = 0;
    }

    /// An empty buffer with room for at least `capacity` bytes: a pooled one if any (grown if
    /// needed), else a new one.
    #[inline]
    pub(crate) fn take(&mut self, capacity: usize) -> Vec<u8> {
        match self.free.pop() {
            Some(mut b) => {
                self.charged -= b.capacity() + POOLED_BUFFER_OVERHEAD;
                b.reserve(capacity);
                b
            }
            None => Vec::with_capacity(capacity),
        }
    }

    /// A buffer holding a copy of `data`.
    #[inline]
    pub(crate) fn copy_of(&mut self, data: &[u8]) -> Vec<u8> {
        if self.free.is_empty() {
            return data.to_vec();
        }
        let mut b = self.take(data.len());
        b.extend_from_slice(data);
        b
    }

    /// Keeps `buffer` (emptied) for reuse if the bound allows, else frees it.
    #[inline]
    pub(crate) fn put(&mut self, mut buffer: Vec<u8>) {
        let cost = buffer.capacity() + POOLED_BUFFER_OVERHEAD;
        if buffer.capacity() == 0 || self.charged + cost > self.limit {
            return;
        }
        buffer.clear();
        self.charged += cost;
        self.free.push(buffer);
    }

    /// Bytes held, as charged against the bound.
    pub(crate) fn charged(&self) -> usize {
        self.charged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_within_the_bound() {
        let mut pool = BufferPool::new(3 * (100 + POOLED_BUFFER_OVERHEAD));
        let bufs: Vec<Vec<u8>> = (0..4).map(|_| Vec::with_capacity(100)).collect();
        let ptrs: Vec<*const u8> = bufs.iter().map(|b| b.as_ptr()).collect();
        for b in bufs {
            pool.put(b);
        }
        // The fourth did not fit.
        assert_eq!(pool.charged(), 3 * (100 + POOLED_BUFFER_OVERHEAD));
        let b = pool.copy_of(b"hello");
        assert_eq!(b, b"hello");
        assert!(
            ptrs[..3].contains(&b.as_ptr()),
            "a pooled buffer was reused"
        );
        assert_eq!(pool.charged(), 2 * (100 + POOLED_BUFFER_OVERHEAD));
        // Empty buffers are not kept.
        pool.put(Vec::new());
        assert_eq!(pool.charged(), 2 * (100 + POOLED_BUFFER_OVERHEAD));
        // A large request grows a pooled buffer.
        assert!(pool.take(1000).capacity() >= 1000);
    }
}
