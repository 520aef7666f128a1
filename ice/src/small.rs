//! Collection growth for per-connection state: std grows a `Vec` or `VecDeque` to four elements
//! on the first push, but an agent usually holds one or two candidates, pairs, checks and queued
//! datagrams, and a server holds thousands of agents. These pushes grow one element at a time
//! up to four, then double as usual.

use std::collections::VecDeque;

/// `push` / `push_back` that grows one element at a time while the collection is small.
pub(crate) trait PushSmall<T> {
    /// Appends `value`.
    fn push_small(&mut self, value: T);
}

impl<T> PushSmall<T> for Vec<T> {
    fn push_small(&mut self, value: T) {
        if self.len() == self.capacity() && self.len() < 4 {
            self.reserve_exact(1);
        }
        self.push(value);
    }
}

impl<T> PushSmall<T> for VecDeque<T> {
    fn push_small(&mut self, value: T) {
        if self.len() == self.capacity() && self.len() < 4 {
            self.reserve_exact(1);
        }
        self.push_back(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_one_at_a_time_then_doubles() {
        let mut v = Vec::new();
        let mut caps = Vec::new();
        for i in 0..6u64 {
            v.push_small(i);
            caps.push(v.capacity());
        }
        assert_eq!(caps, [1, 2, 3, 4, 8, 8]);
        assert_eq!(v, [0, 1, 2, 3, 4, 5]);
        let mut d = VecDeque::new();
        d.push_small([0u8; 88]);
        assert_eq!(d.capacity(), 1);
        d.pop_front();
        d.push_small([1u8; 88]);
        assert_eq!((d.len(), d.capacity()), (1, 1));
    }
}
