//! A small ordered map kept in one sorted vector: for per-connection tables that usually hold
//! one entry or a few (data channels, streams), where a `BTreeMap`'s first node alone reserves
//! room for eleven entries (kilobytes per connection for large values).
//!
//! Lookups are binary searches; inserts and removes shift the entries after them, so it suits
//! tables of up to a few thousand entries that change rarely. The first entries are allocated
//! one at a time, so a map of one entry holds exactly one.
//!
//! ```
//! use sansrtc_core::VecMap;
//!
//! let mut streams = VecMap::new();
//! streams.insert(3u16, "video");
//! streams.insert(1, "audio");
//! assert_eq!(streams.get(&1), Some(&"audio"));
//! assert_eq!(streams.keys().collect::<Vec<_>>(), [&1, &3]);
//! ```

/// Entries grown one at a time below this count (most tables stop there).
const EXACT_UP_TO: usize = 4;

/// An ordered map in a sorted vector (see the [module](self) documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        Self {
            entries: Vec::new(),
        }
    }
}

impl<K: Ord, V> VecMap<K, V> {
    /// An empty map (allocates nothing).
    pub fn new() -> Self {
        Self::default()
    }

    fn position(&self, key: &K) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.cmp(key))
    }

    /// Entries in the map.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `key` has an entry.
    pub fn contains_key(&self, key: &K) -> bool {
        self.position(key).is_ok()
    }

    /// The value of `key`.
    pub fn get(&self, key: &K) -> Option<&V> {
        let at = self.position(key).ok()?;
        Some(&self.entries[at].1)
    }

    /// The value of `key`, to change.
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let at = self.position(key).ok()?;
        Some(&mut self.entries[at].1)
    }

    /// Sets `key` to `value`; the value it had, if any.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.position(&key) {
            Ok(at) => Some(std::mem::replace(&mut self.entries[at].1, value)),
            Err(at) => {
                self.insert_new(at, key, value);
                None
            }
        }
    }

    /// Inserts an entry for a key not in the map at its sorted place `at` (the first entries
    /// one at a time).
    fn insert_new(&mut self, at: usize, key: K, value: V) {
        if self.entries.len() < EXACT_UP_TO {
            self.entries.reserve_exact(1);
        }
        self.entries.insert(at, (key, value));
    }

    /// The value of `key`, to change, inserted as `V::default()` first if it had none (as
    /// `HashMap::entry(key).or_default()`).
    pub fn get_or_insert_default(&mut self, key: K) -> &mut V
    where
        V: Default,
    {
        let at = match self.position(&key) {
            Ok(at) => at,
            Err(at) => {
                self.insert_new(at, key, V::default());
                at
            }
        };
        &mut self.entries[at].1
    }

    /// Removes `key`; its value, if it had one.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let at = self.position(key).ok()?;
        Some(self.entries.remove(at).1)
    }

    /// Keeps the entries `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &mut V) -> bool) {
        self.entries.retain_mut(|(k, v)| keep(k, v));
    }

    /// Moves the entries with keys at or above `key` into a new map.
    pub fn split_off(&mut self, key: &K) -> Self {
        let at = self.position(key).unwrap_or_else(|at| at);
        Self {
            entries: self.entries.split_off(at),
        }
    }

    /// The entries in key order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> + ExactSizeIterator {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// The entries in key order, values changeable.
    pub fn iter_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = (&K, &mut V)> + ExactSizeIterator {
        self.entries.iter_mut().map(|(k, v)| (&*k, v))
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &K> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The values in key order, changeable.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut V> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// The keys in order, consuming the map.
    pub fn into_keys(self) -> impl DoubleEndedIterator<Item = K> + ExactSizeIterator {
        self.entries.into_iter().map(|(k, _)| k)
    }

    /// The first entry (smallest key) that `pred` accepts, removed.
    pub fn remove_first(&mut self, mut pred: impl FnMut(&K, &V) -> bool) -> Option<(K, V)> {
        let at = self.entries.iter().position(|(k, v)| pred(k, v))?;
        Some(self.entries.remove(at))
    }

    /// Removes every entry (keeping the capacity).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Frees unused capacity.
    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
    }
}

impl<K: Ord, V> FromIterator<(K, V)> for VecMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = Self::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn the_first_entries_take_exactly_their_room() {
        let mut m = VecMap::new();
        assert_eq!(m.entries.capacity(), 0);
        m.insert(1u16, [0u8; 200]);
        assert_eq!(m.entries.capacity(), 1);
        m.insert(2, [0; 200]);
        assert_eq!(m.entries.capacity(), 2);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u32),
        Remove(u8),
        SplitOff(u8),
        Retain(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (any::<u8>(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            2 => any::<u8>().prop_map(Op::Remove),
            1 => any::<u8>().prop_map(Op::SplitOff),
            1 => any::<u8>().prop_map(Op::Retain),
        ]
    }

    proptest! {
        /// Every operation agrees with a `BTreeMap`'s.
        #[test]
        fn behaves_like_a_btree_map(ops in proptest::collection::vec(op(), 0..200)) {
            let mut ours = VecMap::new();
            let mut theirs = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(ours.insert(k, v), theirs.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(ours.remove(&k), theirs.remove(&k)),
                    Op::SplitOff(k) => {
                        let a: Vec<_> = ours.split_off(&k).into_keys().collect();
                        let b: Vec<_> = theirs.split_off(&k).into_keys().collect();
                        prop_assert_eq!(a, b);
                    }
                    Op::Retain(k) => {
                        ours.retain(|key, _| *key % 3 != k % 3);
                        theirs.retain(|key, _| *key % 3 != k % 3);
                    }
                }
                prop_assert_eq!(ours.len(), theirs.len());
                let a: Vec<_> = ours.iter().map(|(k, v)| (*k, *v)).collect();
                let b: Vec<_> = theirs.iter().map(|(k, v)| (*k, *v)).collect();
                prop_assert_eq!(a, b);
                for k in [0u8, 7, 100, 255] {
                    prop_assert_eq!(ours.get(&k), theirs.get(&k));
                    prop_assert_eq!(ours.contains_key(&k), theirs.contains_key(&k));
                }
            }
        }
    }
}
