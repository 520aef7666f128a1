//! Packet buffers that go back to their connection when dropped, so the media and data paths
//! allocate nothing in steady state while every datagram, packet and message the application
//! receives is still an owned value.
//!
//! A [`PacketBuf`] derefs to `[u8]`. The connection hands them out in [`crate::Transmit`],
//! [`crate::RtpReceived`] and data channel messages; when the application drops one (after
//! sending it, say), its storage returns to the connection's pool and carries the next packet.
//! A buffer that outlives its connection, or that the pool has no room for, is simply freed.
//!
//! A [`SharedPacket`] is a received packet shared by reference count, to forward one packet
//! to many connections: each keeps a reference in its retransmission history instead of a
//! copy. Its reference-counted box goes back to the pool too when the last reference drops.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, Mutex, Weak};

/// Buffers a pool keeps at most.
const MAX_POOLED: usize = 2048;
/// Bytes (capacity) a pool keeps at most: twice the default SCTP receive window (1 MiB), so a
/// bulk transfer's datagrams in flight (up to a window of them when the application sends
/// them in batches) and the messages handed over come back for reuse instead of being freed
/// and allocated again. A pool only ever holds buffers the application held at the same time
/// anyway, and it is freed after the connection idles.
const MAX_POOLED_BYTES: usize = 2 * 1024 * 1024;
/// Larger buffers are freed rather than kept (the pool refuses them).
const MAX_POOLED_CAPACITY: usize = 64 * 1024;
/// Capacity of a fresh buffer: a whole datagram.
const DEFAULT_CAPACITY: usize = 1500;

/// Buffers at most this large serve any datagram and are taken without searching.
const SMALL: usize = 2048;

/// What a pool keeps: datagram-sized buffers (taken from the top), larger ones (searched for
/// the best fit), and the capacity of both.
#[derive(Default)]
struct Kept {
    small: Vec<Vec<u8>>,
    large: Vec<Vec<u8>>,
    bytes: usize,
    /// Boxes of shared packets, empty (their bytes went back to `small` or `large`).
    shared: Vec<Arc<PacketBuf>>,
}

impl Kept {
    fn len(&self) -> usize {
        self.small.len() + self.large.len()
    }

    fn take(&mut self, capacity: usize) -> Option<Vec<u8>> {
        let b = if capacity <= SMALL && !self.small.is_empty() {
            self.small.pop()
        } else {
            let fit = self
                .large
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= capacity)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(i, _)| i);
            match fit {
                Some(i) => Some(self.large.swap_remove(i)),
                // Growing a datagram-sized buffer would allocate anyway and leave the next
                // datagram without one: a large request that nothing fits gets a new buffer.
                None if capacity > SMALL => None,
                None => self.small.pop(),
            }
        }?;
        self.bytes -= b.capacity();
        Some(b)
    }

    fn give(&mut self, b: Vec<u8>) {
        if b.capacity() > MAX_POOLED_CAPACITY
            || self.len() >= MAX_POOLED
            || self.bytes + b.capacity() > MAX_POOLED_BYTES
        {
            return;
        }
        self.bytes += b.capacity();
        if b.capacity() <= SMALL {
            self.small.push(b);
        } else {
            self.large.push(b);
        }
    }
}

type Shared = Mutex<Kept>;

/// The buffers of one connection.
#[derive(Clone, Default)]
pub(crate) struct BufferPool {
    shared: Arc<Shared>,
}

impl fmt::Debug for BufferPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool").finish_non_exhaustive()
    }
}

impl BufferPool {
    /// An empty buffer with room for `capacity` bytes at least.
    pub(crate) fn take(&self, capacity: usize) -> PacketBuf {
        let pooled = self.shared.lock().ok().and_then(|mut p| p.take(capacity));
        let mut data = pooled.unwrap_or_default();
        data.clear();
        data.reserve(capacity.max(DEFAULT_CAPACITY));
        PacketBuf {
            data,
            pool: Some(Arc::downgrade(&self.shared)),
        }
    }

    /// `packet` behind a reference count, in a box from the pool when it has one.
    fn share(pool: &Arc<Shared>, packet: PacketBuf) -> Arc<PacketBuf> {
        // Pooled boxes are unique, and empty of a pool (dropping the old content does
        // nothing).
        if let Some(mut arc) = pool.lock().ok().and_then(|mut p| p.shared.pop())
            && let Some(slot) = Arc::get_mut(&mut arc)
        {
            *slot = packet;
            return arc;
        }
        Arc::new(packet)
    }

    /// A buffer holding a copy of `bytes`.
    pub(crate) fn copy_of(&self, bytes: &[u8]) -> PacketBuf {
        let mut b = self.take(bytes.len());
        b.data.extend_from_slice(bytes);
        b
    }

    /// Frees the buffers (and shared-packet boxes) kept (an idle connection holds no packet
    /// memory).
    pub(crate) fn release(&self) {
        if let Ok(mut p) = self.shared.lock() {
            *p = Kept::default();
        }
    }

    /// Buffers kept now.
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        self.shared.lock().map_or(0, |p| p.len())
    }
}

/// Bytes owned by the application that return to their connection's pool when dropped.
pub struct PacketBuf {
    data: Vec<u8>,
    pool: Option<Weak<Shared>>,
}

impl PacketBuf {
    /// The bytes as a `Vec` of their own (taken out of the pool's cycle).
    pub fn into_vec(mut self) -> Vec<u8> {
        self.pool = None;
        std::mem::take(&mut self.data)
    }

    /// The storage, to write into (crate-internal).
    pub(crate) fn vec_mut(&mut self) -> &mut Vec<u8> {
        &mut self.data
    }

    /// The bytes behind a reference count, `range` of them being the payload.
    pub(crate) fn into_shared(self, payload: Range<usize>) -> SharedPacket {
        let pool = self.pool.as_ref().and_then(Weak::upgrade);
        let packet = match &pool {
            Some(pool) => BufferPool::share(pool, self),
            None => Arc::new(self),
        };
        SharedPacket {
            packet: Some(packet),
            payload,
        }
    }
}

/// A received RTP packet shared by reference count ([`crate::RtpReceived::share`]), to
/// write its payload on many tracks ([`crate::RtpWrite::shared`]) without each connection
/// copying it into its retransmission history: a history keeps a reference (a clone), not
/// the bytes. Cloning it is cheap; when the last clone drops, the storage returns to the
/// connection that received it, as a [`PacketBuf`] does.
pub struct SharedPacket {
    packet: Option<Arc<PacketBuf>>,
    payload: Range<usize>,
}

impl SharedPacket {
    /// The whole packet, header included.
    pub fn packet(&self) -> &[u8] {
        self.packet.as_deref().map_or(&[], |p| &p[..])
    }

    /// The payload (padding removed).
    pub fn payload(&self) -> &[u8] {
        self.packet().get(self.payload.clone()).unwrap_or(&[])
    }
}

impl Clone for SharedPacket {
    fn clone(&self) -> Self {
        SharedPacket {
            packet: self.packet.clone(),
            payload: self.payload.clone(),
        }
    }
}

impl Drop for SharedPacket {
    fn drop(&mut self) {
        let Some(mut arc) = self.packet.take() else {
            return;
        };
        // The last reference: the bytes and the box go back to the pool, separately.
        let Some(inner) = Arc::get_mut(&mut arc) else {
            return;
        };
        let Some(pool) = inner.pool.take().and_then(|w| w.upgrade()) else {
            return;
        };
        let data = std::mem::take(&mut inner.data);
        let spare = match pool.lock() {
            Ok(mut p) => {
                p.give(data);
                if p.shared.len() < MAX_POOLED {
                    p.shared.push(arc);
                    None
                } else {
                    Some(arc)
                }
            }
            Err(_) => Some(arc),
        };
        // Dropped outside the lock (it is empty and of no pool: nothing to give back).
        drop(spare);
    }
}

impl fmt::Debug for SharedPacket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedPacket")
            .field("len", &self.packet().len())
            .field("payload", &self.payload)
            .finish()
    }
}

impl PartialEq for SharedPacket {
    fn eq(&self, other: &Self) -> bool {
        self.payload() == other.payload() && self.packet() == other.packet()
    }
}

impl Eq for SharedPacket {}

impl From<Vec<u8>> for PacketBuf {
    /// A buffer of no pool (freed when dropped).
    fn from(data: Vec<u8>) -> Self {
        PacketBuf { data, pool: None }
    }
}

impl Drop for PacketBuf {
    fn drop(&mut self) {
        let Some(shared) = self.pool.take().and_then(|w| w.upgrade()) else {
            return;
        };
        if let Ok(mut p) = shared.lock() {
            p.give(std::mem::take(&mut self.data));
        }
    }
}

impl std::ops::Deref for PacketBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.data
    }
}

impl std::ops::DerefMut for PacketBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.data
    }
}

impl AsRef<[u8]> for PacketBuf {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Clone for PacketBuf {
    /// A copy of the bytes, in a buffer of its own.
    fn clone(&self) -> Self {
        PacketBuf::from(self.data.clone())
    }
}

impl fmt::Debug for PacketBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.data, f)
    }
}

impl PartialEq for PacketBuf {
    fn eq(&self, other: &Self) -> bool {
        self.data == other.data
    }
}

impl Eq for PacketBuf {}

impl PartialEq<[u8]> for PacketBuf {
    fn eq(&self, other: &[u8]) -> bool {
        self.data == other
    }
}

impl PartialEq<Vec<u8>> for PacketBuf {
    fn eq(&self, other: &Vec<u8>) -> bool {
        &self.data == other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for PacketBuf {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.data == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_buffers_return_and_are_reused_without_allocating() {
        let pool = BufferPool::default();
        let a = pool.copy_of(&[1, 2, 3]);
        let ptr = a.as_ptr();
        assert_eq!(a, [1, 2, 3]);
        drop(a);
        assert_eq!(pool.kept(), 1);
        let b = pool.take(10);
        assert_eq!(b.as_ptr(), ptr, "the same storage");
        assert!(b.is_empty());
    }

    #[test]
    fn the_pool_is_bounded_and_outlived_buffers_are_freed() {
        let pool = BufferPool::default();
        let many: Vec<PacketBuf> = (0..MAX_POOLED + 100).map(|_| pool.take(100)).collect();
        drop(many);
        assert_eq!(
            pool.kept(),
            MAX_POOLED.min(MAX_POOLED_BYTES / DEFAULT_CAPACITY)
        );
        let big = pool.take(MAX_POOLED_CAPACITY + 1);
        pool.release();
        drop(big);
        assert_eq!(pool.kept(), 0, "too large to keep");
        let orphan = pool.take(1);
        drop(pool);
        drop(orphan);
    }

    #[test]
    fn shared_packets_return_their_bytes_and_box_to_the_pool() {
        let pool = BufferPool::default();
        let shared = pool.copy_of(&[1, 2, 3, 4]).into_shared(1..3);
        assert_eq!(shared.payload(), [2, 3]);
        assert_eq!(shared.packet(), [1, 2, 3, 4]);
        let box_at = Arc::as_ptr(shared.packet.as_ref().unwrap());
        let copies: Vec<SharedPacket> = (0..3).map(|_| shared.clone()).collect();
        drop(shared);
        assert_eq!(pool.kept(), 0, "still referenced");
        drop(copies);
        assert_eq!(pool.kept(), 1, "the bytes are back");
        assert_eq!(pool.shared.lock().unwrap().shared.len(), 1, "and the box");
        // The next shared packet reuses both.
        let again = pool.copy_of(&[9; 10]).into_shared(0..10);
        assert_eq!(Arc::as_ptr(again.packet.as_ref().unwrap()), box_at);
        assert_eq!(again.payload(), [9; 10]);
        assert_eq!(pool.kept(), 0);
        // Outliving the pool: freed.
        drop(pool);
        drop(again);
        let orphan = SharedPacket::clone(&PacketBuf::from(vec![1]).into_shared(0..1));
        assert_eq!(orphan.payload(), [1]);
    }

    #[test]
    fn into_vec_leaves_the_pool() {
        let pool = BufferPool::default();
        let v = pool.copy_of(b"abc").into_vec();
        assert_eq!(v, b"abc");
        assert_eq!(pool.kept(), 0);
    }
}
