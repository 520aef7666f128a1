//! Lists inside RTCP packets (report blocks, NACK pairs, SDES chunks, ...), read lazily from the
//! wire or written from a caller's slice, so parsing allocates nothing.

use core::fmt;

/// An element of a list inside an RTCP packet.
pub trait WireItem<'a>: Sized + Clone {
    /// Decodes one item from the front of `buf`, advancing it; `None` if malformed or truncated.
    fn decode(buf: &mut &'a [u8]) -> Option<Self>;
    /// Bytes the encoded item takes.
    fn encoded_len(&self) -> usize;
    /// Encodes into the front of `out` (at least `encoded_len` bytes), returning the length.
    fn encode(&self, out: &mut [u8]) -> usize;
}

/// A list of `T`: either validated wire bytes (after parsing) or a slice of items (for writing).
pub struct List<'a, T> {
    repr: Repr<'a, T>,
}

enum Repr<'a, T> {
    Wire { bytes: &'a [u8], len: usize },
    Items(&'a [T]),
}

impl<T> Clone for Repr<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Repr<'_, T> {}

impl<T> Clone for List<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for List<'_, T> {}

impl<'a, T: WireItem<'a>> List<'a, T> {
    /// A list to write, borrowing the caller's items.
    pub const fn from_items(items: &'a [T]) -> Self {
        List {
            repr: Repr::Items(items),
        }
    }

    /// An empty list.
    pub const fn empty() -> Self {
        List {
            repr: Repr::Items(&[]),
        }
    }

    /// Validates exactly `count` items at the front of `buf` and returns the list and the rest.
    pub(crate) fn parse_counted(buf: &'a [u8], count: usize) -> Option<(Self, &'a [u8])> {
        let mut rest = buf;
        for _ in 0..count {
            T::decode(&mut rest)?;
        }
        let used = buf.len() - rest.len();
        Some((
            List {
                repr: Repr::Wire {
                    bytes: &buf[..used],
                    len: count,
                },
            },
            rest,
        ))
    }

    /// Validates that `buf` is a whole number of items and returns the list.
    pub(crate) fn parse_all(buf: &'a [u8]) -> Option<Self> {
        let mut rest = buf;
        let mut len = 0;
        while !rest.is_empty() {
            T::decode(&mut rest)?;
            len += 1;
        }
        Some(List {
            repr: Repr::Wire { bytes: buf, len },
        })
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        match self.repr {
            Repr::Wire { len, .. } => len,
            Repr::Items(items) => items.len(),
        }
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The items, in order.
    pub fn iter(&self) -> ListIter<'a, T> {
        ListIter { repr: self.repr }
    }

    /// Bytes the encoded list takes.
    pub fn encoded_len(&self) -> usize {
        match self.repr {
            Repr::Wire { bytes, .. } => bytes.len(),
            Repr::Items(items) => items.iter().map(T::encoded_len).sum(),
        }
    }

    /// Encodes the list into the front of `out`, returning the length.
    pub(crate) fn encode(&self, out: &mut [u8]) -> usize {
        match self.repr {
            Repr::Wire { bytes, .. } => {
                out[..bytes.len()].copy_from_slice(bytes);
                bytes.len()
            }
            Repr::Items(items) => items
                .iter()
                .fold(0, |at, item| at + item.encode(&mut out[at..])),
        }
    }
}

impl<'a, T: WireItem<'a>> Default for List<'a, T> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<'a, T: WireItem<'a> + PartialEq> PartialEq for List<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl<'a, T: WireItem<'a> + Eq> Eq for List<'a, T> {}

impl<'a, T: WireItem<'a> + fmt::Debug> fmt::Debug for List<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a, T: WireItem<'a>> IntoIterator for &List<'a, T> {
    type Item = T;
    type IntoIter = ListIter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over a [`List`].
pub struct ListIter<'a, T> {
    repr: Repr<'a, T>,
}

impl<T> Clone for ListIter<'_, T> {
    fn clone(&self) -> Self {
        ListIter { repr: self.repr }
    }
}

impl<'a, T: WireItem<'a>> Iterator for ListIter<'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        match &mut self.repr {
            Repr::Wire { bytes, len } => {
                if *len == 0 {
                    return None;
                }
                *len -= 1;
                // Validated when the list was parsed, so this decodes.
                T::decode(bytes)
            }
            Repr::Items(items) => {
                let (first, rest) = items.split_first()?;
                *items = rest;
                Some(first.clone())
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.repr {
            Repr::Wire { len, .. } => *len,
            Repr::Items(items) => items.len(),
        };
        (n, Some(n))
    }
}

impl<'a, T: WireItem<'a>> ExactSizeIterator for ListIter<'a, T> {}

/// Reads a big-endian u16 from the front of `buf`, advancing it.
pub(crate) fn take_u16(buf: &mut &[u8]) -> Option<u16> {
    let (head, rest) = buf.split_first_chunk::<2>()?;
    *buf = rest;
    Some(u16::from_be_bytes(*head))
}

/// Reads a big-endian u32 from the front of `buf`, advancing it.
pub(crate) fn take_u32(buf: &mut &[u8]) -> Option<u32> {
    let (head, rest) = buf.split_first_chunk::<4>()?;
    *buf = rest;
    Some(u32::from_be_bytes(*head))
}

impl WireItem<'_> for u32 {
    fn decode(buf: &mut &[u8]) -> Option<Self> {
        take_u32(buf)
    }
    fn encoded_len(&self) -> usize {
        4
    }
    fn encode(&self, out: &mut [u8]) -> usize {
        out[..4].copy_from_slice(&self.to_be_bytes());
        4
    }
}
