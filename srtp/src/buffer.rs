//! The growable buffers protect and unprotect work on in place.

/// A growable byte buffer a packet is protected or unprotected in, in place.
///
/// Protecting resizes the buffer by the profile's overhead: with that much spare capacity
/// (`Vec::with_capacity`, `BytesMut::reserve`) nothing is allocated.
pub trait PacketBuffer {
    /// The bytes of the packet.
    fn bytes_mut(&mut self) -> &mut [u8];
    /// Grows (zero-filling) or shrinks the buffer to `len` bytes.
    fn set_len(&mut self, len: usize);
}

impl PacketBuffer for Vec<u8> {
    #[inline]
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.as_mut_slice()
    }
    #[inline]
    fn set_len(&mut self, len: usize) {
        self.resize(len, 0);
    }
}

impl PacketBuffer for bytes::BytesMut {
    #[inline]
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.as_mut()
    }
    #[inline]
    fn set_len(&mut self, len: usize) {
        self.resize(len, 0);
    }
}
