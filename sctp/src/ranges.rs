//! A set of integers kept as disjoint ranges: the received TSNs above the cumulative point
//! (one entry per gap-ack block) and the TSN runs of buffered fragments. Every operation is
//! logarithmic in the number of ranges, plus linear in the ranges it removes.

use std::collections::BTreeMap;

/// Disjoint, non-adjacent inclusive ranges, keyed by their first value.
#[derive(Debug, Clone, Default)]
pub(crate) struct RangeSet {
    ranges: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// Number of ranges.
    pub(crate) fn len(&self) -> usize {
        self.ranges.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The range holding `v`, if any.
    pub(crate) fn range_of(&self, v: u64) -> Option<(u64, u64)> {
        self.ranges
            .range(..=v)
            .next_back()
            .filter(|(_, e)| **e >= v)
            .map(|(s, e)| (*s, *e))
    }

    pub(crate) fn contains(&self, v: u64) -> bool {
        self.range_of(v).is_some()
    }

    /// Whether inserting `v` (absent) would add a range rather than extend or join ones.
    pub(crate) fn is_isolated(&self, v: u64) -> bool {
        let below = self
            .ranges
            .range(..v)
            .next_back()
            .is_some_and(|(_, e)| e + 1 == v);
        !below && !self.ranges.contains_key(&(v + 1))
    }

    /// Inserts `v` (which must be absent) and returns the range now holding it.
    pub(crate) fn insert(&mut self, v: u64) -> (u64, u64) {
        debug_assert!(!self.contains(v));
        let end = match self.ranges.remove(&(v + 1)) {
            Some(e) => e,
            None => v,
        };
        let start = match self.ranges.range_mut(..v).next_back() {
            Some((s, e)) if *e + 1 == v => {
                *e = end;
                return (*s, end);
            }
            _ => v,
        };
        self.ranges.insert(start, end);
        (start, end)
    }

    pub(crate) fn first(&self) -> Option<(u64, u64)> {
        self.ranges.first_key_value().map(|(s, e)| (*s, *e))
    }

    pub(crate) fn pop_first(&mut self) -> Option<(u64, u64)> {
        self.ranges.pop_first()
    }

    /// Removes every value up to and including `v`.
    pub(crate) fn remove_through(&mut self, v: u64) {
        let keep = self.ranges.split_off(&(v + 1));
        let cut = std::mem::replace(&mut self.ranges, keep);
        if let Some((_, e)) = cut.last_key_value()
            && *e > v
        {
            self.ranges.insert(v + 1, *e);
        }
    }

    /// Removes `lo..=hi`, which must lie inside one range.
    pub(crate) fn remove_span(&mut self, lo: u64, hi: u64) {
        let Some((s, e)) = self.range_of(lo) else {
            debug_assert!(false, "span not present");
            return;
        };
        debug_assert!(hi <= e);
        self.ranges.remove(&s);
        if s < lo {
            self.ranges.insert(s, lo - 1);
        }
        if hi < e {
            self.ranges.insert(hi + 1, e);
        }
    }

    /// The ranges, lowest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.ranges.iter().map(|(s, e)| (*s, *e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn ranges_of(set: &BTreeSet<u64>) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for &v in set {
            match out.last_mut() {
                Some((_, e)) if *e + 1 == v => *e = v,
                _ => out.push((v, v)),
            }
        }
        out
    }

    proptest! {
        /// Against a plain set: inserts, prefix removals and span removals.
        #[test]
        fn matches_a_plain_set(ops in proptest::collection::vec((0u8..4, 0u64..64, 0u64..4), 0..200)) {
            let mut r = RangeSet::default();
            let mut set = BTreeSet::new();
            for (op, v, w) in ops {
                match op {
                    0 | 1 => {
                        if !set.contains(&v) {
                            let isolated = r.is_isolated(v);
                            let got = r.insert(v);
                            set.insert(v);
                            let want = ranges_of(&set).into_iter().find(|(s, e)| *s <= v && v <= *e);
                            prop_assert_eq!(Some(got), want);
                            prop_assert_eq!(isolated, got == (v, v));
                        }
                    }
                    2 => {
                        r.remove_through(v);
                        set.retain(|x| *x > v);
                    }
                    _ => {
                        if let Some((s, e)) = r.range_of(v) {
                            let hi = (v + w).min(e);
                            r.remove_span(v, hi);
                            for x in v..=hi {
                                set.remove(&x);
                            }
                            let _ = s;
                        }
                    }
                }
                prop_assert_eq!(r.iter().collect::<Vec<_>>(), ranges_of(&set));
                prop_assert_eq!(r.len(), ranges_of(&set).len());
                for x in 0..70 {
                    prop_assert_eq!(r.contains(x), set.contains(&x));
                }
            }
        }
    }
}
