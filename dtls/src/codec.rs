//! Bounds-checked big-endian reading and length-prefixed writing.

use crate::error::DtlsError;

/// A cursor over untrusted bytes; every read checks the remaining length.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }
    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DtlsError> {
        if self.buf.len() < n {
            return Err(DtlsError::Truncated {
                needed: n,
                available: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    /// The remaining bytes, without taking them.
    pub fn rest_peek(&self) -> &'a [u8] {
        self.buf
    }
    /// Takes all remaining bytes.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
    /// One byte.
    pub fn u8(&mut self) -> Result<u8, DtlsError> {
        Ok(self.take(1)?[0])
    }
    /// A big-endian u16.
    pub fn u16(&mut self) -> Result<u16, DtlsError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    /// A big-endian u24.
    pub fn u24(&mut self) -> Result<u32, DtlsError> {
        let b = self.take(3)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }
    /// A big-endian u48.
    pub fn u48(&mut self) -> Result<u64, DtlsError> {
        let b = self.take(6)?;
        Ok(u64::from_be_bytes([
            0, 0, b[0], b[1], b[2], b[3], b[4], b[5],
        ]))
    }
    /// A vector with a one-byte length prefix.
    pub fn vec8(&mut self) -> Result<&'a [u8], DtlsError> {
        let n = self.u8()? as usize;
        self.take(n)
    }
    /// A vector with a two-byte length prefix.
    pub fn vec16(&mut self) -> Result<&'a [u8], DtlsError> {
        let n = self.u16()? as usize;
        self.take(n)
    }
    /// A vector with a three-byte length prefix.
    pub fn vec24(&mut self) -> Result<&'a [u8], DtlsError> {
        let n = self.u24()? as usize;
        self.take(n)
    }
    /// Fails if bytes remain.
    pub fn finish(&self) -> Result<(), DtlsError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DtlsError::TrailingBytes(self.buf.len()))
        }
    }
}

/// Appends a big-endian u24.
pub fn put_u24(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes()[1..]);
}

/// Appends a big-endian u48.
pub fn put_u48(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes()[2..]);
}

/// Appends `body` with a one-byte length prefix.
pub fn put_vec8(out: &mut Vec<u8>, body: &[u8]) {
    out.push(body.len() as u8);
    out.extend_from_slice(body);
}

/// Appends `body` with a two-byte length prefix.
pub fn put_vec16(out: &mut Vec<u8>, body: &[u8]) {
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

/// Appends `body` with a three-byte length prefix.
pub fn put_vec24(out: &mut Vec<u8>, body: &[u8]) {
    put_u24(out, body.len() as u32);
    out.extend_from_slice(body);
}

/// Appends a list of u16 with a two-byte length prefix.
pub fn put_u16_list(out: &mut Vec<u8>, list: &[u16]) {
    out.extend_from_slice(&((list.len() * 2) as u16).to_be_bytes());
    for v in list {
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// Reads a list of u16 (the bytes of a vector whose length was already read).
pub fn u16_list(bytes: &[u8]) -> Result<Vec<u16>, DtlsError> {
    if bytes.len() % 2 != 0 {
        return Err(DtlsError::Invalid("odd-length u16 list"));
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect())
}

/// Compares two secrets without an early exit on the first differing byte.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What `parse_one` reads from `bytes`, item after item, until the bytes end or an item fails to
/// parse (the error is the last item: the rest is discarded, as DTLS does with the rest of a
/// datagram after a malformed record).
pub(crate) fn parse_until_error<'a, T>(
    bytes: &'a [u8],
    parse_one: fn(&mut Reader<'a>) -> Result<T, DtlsError>,
) -> impl Iterator<Item = Result<T, DtlsError>> + 'a
where
    T: 'a,
{
    let mut reader = Reader::new(bytes);
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed || reader.remaining() == 0 {
            return None;
        }
        let item = parse_one(&mut reader);
        failed = item.is_err();
        Some(item)
    })
}
