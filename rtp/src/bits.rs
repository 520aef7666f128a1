//! Reading bit fields most significant bit first, as AV1 and VP9 headers are laid out.

/// Reads bits most significant first.
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `data`.
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data, at: 0 }
    }

    /// The next `n` bits (at most 32) as a number; `None` past the end.
    pub(crate) fn bits(&mut self, n: usize) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.at / 8)?;
            v = (v << 1) | u32::from((byte >> (7 - self.at % 8)) & 1);
            self.at += 1;
        }
        Some(v)
    }

    /// A non-symmetric unsigned value below `n` (AV1 4.10.7).
    pub(crate) fn ns(&mut self, n: u32) -> Option<u32> {
        let w = u32::BITS - n.leading_zeros();
        let m = (1u32 << w) - n;
        let v = self.bits(w as usize - 1)?;
        if v < m {
            return Some(v);
        }
        Some((v << 1) - m + self.bits(1)?)
    }
}
