//! Sliding replay window over packet indices (RFC 3711 section 3.3.2).

use crate::error::Error;

/// Largest replay window, in packets (as libsrtp): bounds the memory a context's configuration
/// can ask for per SSRC.
pub(crate) const MAX_WINDOW: usize = 32768;

/// A replay window of `size` indices below the highest index accepted so far.
///
/// The bitmap is a ring indexed by `index % size`; `size` is a multiple of 64.
#[derive(Debug, Clone)]
pub(crate) struct ReplayWindow {
    highest: Option<u64>,
    bits: Box<[u64]>,
}

impl ReplayWindow {
    /// A window of `size` packets, rounded up to a multiple of 64 and kept within
    /// [64, [`MAX_WINDOW`]].
    pub(crate) fn new(size: usize) -> Self {
        let words = size.min(MAX_WINDOW).div_ceil(64).max(1);
        Self {
            highest: None,
            bits: vec![0; words].into_boxed_slice(),
        }
    }

    fn size(&self) -> u64 {
        self.bits.len() as u64 * 64
    }

    /// The highest index accepted so far.
    #[inline]
    pub(crate) fn highest(&self) -> Option<u64> {
        self.highest
    }

    #[inline]
    fn bit(&self, index: u64) -> (usize, u64) {
        let pos = index % self.size();
        ((pos / 64) as usize, 1 << (pos % 64))
    }

    /// Whether `index` may be accepted; changes nothing.
    #[inline]
    pub(crate) fn check(&self, index: u64) -> Result<(), Error> {
        let Some(highest) = self.highest else {
            return Ok(());
        };
        if index > highest {
            return Ok(());
        }
        if highest - index >= self.size() {
            return Err(Error::TooOld { index, highest });
        }
        let (word, mask) = self.bit(index);
        if self.bits[word] & mask != 0 {
            Err(Error::Replayed { index })
        } else {
            Ok(())
        }
    }

    /// Marks `index` as received; call only after [`check`](Self::check) and authentication passed.
    #[inline]
    pub(crate) fn accept(&mut self, index: u64) {
        match self.highest {
            Some(highest) if index <= highest => {}
            Some(highest) if index - highest < self.size() => {
                for skipped in highest + 1..index {
                    let (word, mask) = self.bit(skipped);
                    self.bits[word] &= !mask;
                }
                self.highest = Some(index);
            }
            _ => {
                self.bits.fill(0);
                self.highest = Some(index);
            }
        }
        let (word, mask) = self.bit(index);
        self.bits[word] |= mask;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window() {
        let mut w = ReplayWindow::new(100);
        assert_eq!(w.size(), 128);
        assert_eq!(ReplayWindow::new(0).size(), 64);
        assert_eq!(ReplayWindow::new(usize::MAX).size(), MAX_WINDOW as u64);
        for i in [100, 102, 101, 200] {
            w.check(i).unwrap();
            w.accept(i);
        }
        assert_eq!(w.check(102), Err(Error::Replayed { index: 102 }));
        w.check(103).unwrap();
        assert_eq!(w.check(200), Err(Error::Replayed { index: 200 }));
        assert_eq!(
            w.check(72),
            Err(Error::TooOld {
                index: 72,
                highest: 200
            })
        );
        w.check(73).unwrap();
        w.check(199).unwrap();
        w.accept(199);
        assert!(w.check(199).is_err());
        // A big jump clears everything.
        w.accept(10_000);
        w.check(9_999).unwrap();
        assert!(w.check(10_000).is_err());
        // Bits of the skipped range are clear after a small jump that reuses ring positions.
        w.accept(10_100);
        w.check(10_000 + 128 - 1).unwrap();
    }
}
