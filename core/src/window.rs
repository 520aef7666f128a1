//! A sliding window over increasing indices: which of the last `size` indices below the highest
//! one accepted have been seen. One definition for SRTP replay protection (RFC 3711 3.3.2), the
//! DTLS record replay window (RFC 6347 4.1.2.6) and the received-packet window of media streams.

/// What [`ReplayWindow::check`] says of an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowCheck {
    /// Not seen, and within or above the window: may be accepted.
    New,
    /// Already accepted.
    Seen,
    /// Below the window: too old to tell.
    TooOld,
}

/// Which of the last `size` indices (a multiple of 64) below the highest accepted one have been
/// accepted. The bitmap is a ring indexed by `index % size`; moving forward clears only the
/// slots it moves over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayWindow {
    highest: Option<u64>,
    bits: Box<[u64]>,
}

impl ReplayWindow {
    /// Largest window, in indices: bounds the memory a configuration can ask for.
    pub const MAX_SIZE: usize = 32768;

    /// A window of `size` indices, rounded up to a multiple of 64 within [64, `MAX_SIZE`].
    pub fn new(size: usize) -> Self {
        let words = size.min(Self::MAX_SIZE).div_ceil(64).max(1);
        Self {
            highest: None,
            bits: vec![0; words].into_boxed_slice(),
        }
    }

    /// The window's size in indices.
    pub fn size(&self) -> u64 {
        self.bits.len() as u64 * 64
    }

    /// The highest index accepted so far.
    #[inline]
    pub fn highest(&self) -> Option<u64> {
        self.highest
    }

    #[inline]
    fn bit(&self, index: u64) -> (usize, u64) {
        let pos = index % self.size();
        ((pos / 64) as usize, 1 << (pos % 64))
    }

    /// What the window knows of `index`; changes nothing.
    #[inline]
    pub fn check(&self, index: u64) -> WindowCheck {
        let Some(highest) = self.highest else {
            return WindowCheck::New;
        };
        if index > highest {
            return WindowCheck::New;
        }
        if highest - index >= self.size() {
            return WindowCheck::TooOld;
        }
        let (word, mask) = self.bit(index);
        if self.bits[word] & mask != 0 {
            WindowCheck::Seen
        } else {
            WindowCheck::New
        }
    }

    /// Marks `index` as accepted (call once it authenticated, where that applies). Moving
    /// forward clears the slots in between; an index below the window changes nothing.
    #[inline]
    pub fn accept(&mut self, index: u64) {
        match self.highest {
            Some(highest) if index <= highest => {
                if highest - index >= self.size() {
                    return;
                }
            }
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

    /// [`check`](Self::check) then, if new, [`accept`](Self::accept): whether it was new.
    #[inline]
    pub fn insert(&mut self, index: u64) -> bool {
        if self.check(index) == WindowCheck::New {
            self.accept(index);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_new_refuses_seen_and_too_old() {
        let mut w = ReplayWindow::new(64);
        assert_eq!(w.size(), 64);
        assert!(w.insert(100));
        assert!(!w.insert(100));
        assert!(w.insert(99));
        assert_eq!(w.check(100 - 64), WindowCheck::TooOld);
        assert_eq!(w.check(37), WindowCheck::New);
        assert!(w.insert(200));
        assert_eq!(w.check(100), WindowCheck::TooOld);
        assert_eq!(w.check(199), WindowCheck::New);
        assert_eq!(w.highest(), Some(200));
    }

    #[test]
    fn moving_forward_clears_only_what_it_passes() {
        let mut w = ReplayWindow::new(128);
        for i in 0..128 {
            w.accept(i);
        }
        w.accept(130);
        // 128 and 129 were skipped: new; 2..=127 still seen.
        assert_eq!(w.check(128), WindowCheck::New);
        assert_eq!(w.check(129), WindowCheck::New);
        assert_eq!(w.check(127), WindowCheck::Seen);
        assert_eq!(w.check(3), WindowCheck::Seen);
        assert_eq!(w.check(2), WindowCheck::TooOld);
    }

    #[test]
    fn a_jump_past_the_window_forgets_everything() {
        let mut w = ReplayWindow::new(64);
        w.accept(5);
        w.accept(1000);
        assert_eq!(w.check(999), WindowCheck::New);
        assert_eq!(w.check(5), WindowCheck::TooOld);
    }

    #[test]
    fn sizes_are_bounded() {
        assert_eq!(ReplayWindow::new(0).size(), 64);
        assert_eq!(ReplayWindow::new(65).size(), 128);
        assert_eq!(
            ReplayWindow::new(usize::MAX).size(),
            ReplayWindow::MAX_SIZE as u64
        );
    }
}
