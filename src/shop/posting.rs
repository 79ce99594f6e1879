//! [`Posting`]: the ids of the products whose names have one word, as a
//! sorted list plus, for frequent words, a bitmap.
//!
//! The sorted list is always complete and gives id order. A word found in
//! at least one product in 128 of a dense id range also keeps a bitmap
//! over ids `0..64 * bits.len()` (the idea of Roaring bitmaps' dense
//! containers, without their generality): intersecting two frequent words
//! then costs one AND per 64 ids instead of a search per candidate, and a
//! membership test is one bit. The bitmap never takes more than two words
//! per listed id (128 bits, against the list's 64 per id), so an outlying
//! huge id or a sparse word cannot make it large; ids above its cover
//! live only in the list.

/// Smallest list that gets a bitmap.
const MIN_BITMAP_LEN: usize = 32;
/// Bitmap words allowed per listed id.
const WORDS_PER_ID: usize = 2;

/// One word's products.
#[derive(Debug, Default, Clone)]
pub(crate) struct Posting {
    /// Sorted, no duplicates.
    ids: Vec<u64>,
    /// Bit `i` set iff `i` is in `ids`, for `i < 64 * bits.len()`.
    bits: Vec<u64>,
}

impl Posting {
    pub(crate) fn ids(&self) -> &[u64] {
        &self.ids
    }

    pub(crate) fn len(&self) -> usize {
        self.ids.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Bitmap words (ids below `64 * words()` are in the bitmap).
    pub(crate) fn words(&self) -> usize {
        self.bits.len()
    }

    /// Bitmap word `w` (0 past the bitmap).
    #[inline]
    pub(crate) fn word(&self, w: usize) -> u64 {
        self.bits.get(w).copied().unwrap_or(0)
    }

    fn cover(&self) -> u64 {
        self.bits.len() as u64 * 64
    }

    /// Whether `id` is listed; `cursor` (start at 0, ids asked in
    /// ascending order) makes list searches resume where the last ended.
    #[inline]
    pub(crate) fn contains_from(&self, cursor: &mut usize, id: u64) -> bool {
        if id < self.cover() {
            return self.bits[(id / 64) as usize] & (1 << (id % 64)) != 0;
        }
        *cursor += gallop(&self.ids[(*cursor).min(self.ids.len())..], id);
        self.ids.get(*cursor) == Some(&id)
    }

    pub(crate) fn insert(&mut self, id: u64) {
        // Ids mostly arrive in ascending order: append is the fast path.
        match self.ids.last() {
            Some(&last) if last >= id => match self.ids.binary_search(&id) {
                Ok(_) => return,
                Err(pos) => self.ids.insert(pos, id),
            },
            _ => self.ids.push(id),
        }
        if id < self.cover() {
            self.bits[(id / 64) as usize] |= 1 << (id % 64);
        } else if self.ids.len() >= MIN_BITMAP_LEN {
            self.grow();
        }
    }

    pub(crate) fn remove(&mut self, id: u64) {
        let Ok(pos) = self.ids.binary_search(&id) else {
            return;
        };
        self.ids.remove(pos);
        if id < self.cover() {
            self.bits[(id / 64) as usize] &= !(1 << (id % 64));
        }
        if self.bits.len() > 2 * WORDS_PER_ID * self.ids.len().max(MIN_BITMAP_LEN) {
            // Mostly deleted: the bitmap is no longer worth its memory.
            self.bits = Vec::new();
        }
    }

    /// Extend the bitmap as far as the budget allows, towards the largest
    /// id, and set the bits of the ids it newly covers.
    fn grow(&mut self) {
        let Some(&max) = self.ids.last() else { return };
        let budget = WORDS_PER_ID * self.ids.len();
        let target = ((max / 64 + 1) as usize).min(budget);
        if target <= self.bits.len() {
            return;
        }
        let old_cover = self.cover();
        self.bits.resize(target, 0);
        let new_cover = self.cover();
        let from = self.ids.partition_point(|&x| x < old_cover);
        for &id in self.ids[from..].iter().take_while(|&&x| x < new_cover) {
            self.bits[(id / 64) as usize] |= 1 << (id % 64);
        }
    }

    /// The first position of the list at or after `id`.
    pub(crate) fn position(&self, id: u64) -> usize {
        self.ids.partition_point(|&x| x < id)
    }
}

/// The first index of `sorted` whose id is `>= id`: exponential then binary
/// search, cheap when the answer is near the start.
pub(crate) fn gallop(sorted: &[u64], id: u64) -> usize {
    let mut bound = 1;
    while bound < sorted.len() && sorted[bound] < id {
        bound *= 2;
    }
    let lo = bound / 2;
    let hi = (bound + 1).min(sorted.len());
    lo + sorted[lo..hi].partition_point(|&x| x < id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn list_and_bitmap_agree_with_a_set(
            ops in proptest::collection::vec((any::<bool>(), prop_oneof![0u64..3000, any::<u64>()]), 0..2000),
            probes in proptest::collection::vec(0u64..3500, 1..200),
        ) {
            let mut model = BTreeSet::new();
            let mut p = Posting::default();
            for (insert, id) in ops {
                if insert { p.insert(id); model.insert(id); } else { p.remove(id); model.remove(&id); }
            }
            prop_assert_eq!(p.ids(), &model.iter().copied().collect::<Vec<_>>()[..]);
            for w in 0..p.words() {
                for b in 0..64 {
                    let id = w as u64 * 64 + b;
                    prop_assert_eq!(p.word(w) & (1 << b) != 0, model.contains(&id));
                }
            }
            let mut probes = probes;
            probes.sort_unstable();
            let mut cursor = 0;
            for id in probes {
                prop_assert_eq!(p.contains_from(&mut cursor, id), model.contains(&id));
            }
            prop_assert!(p.words() <= WORDS_PER_ID * p.len().max(MIN_BITMAP_LEN) * 2);
        }
    }

    #[test]
    fn dense_words_get_a_bitmap_and_outliers_do_not_inflate_it() {
        let mut p = Posting::default();
        for id in (0..10_000).step_by(3) {
            p.insert(id);
        }
        assert!(p.words() * 64 >= 9_999, "covers the dense range");
        p.insert(u64::MAX - 1);
        assert!(p.words() <= WORDS_PER_ID * p.len());
        let mut c = 0;
        assert!(p.contains_from(&mut c, 9_999));
        assert!(p.contains_from(&mut c, u64::MAX - 1));
    }

    #[test]
    fn gallop_finds_lower_bounds() {
        let v: Vec<u64> = (0..100).map(|x| x * 2).collect();
        for id in 0..210 {
            assert_eq!(gallop(&v, id), v.partition_point(|&x| x < id), "{id}");
        }
        assert_eq!(gallop(&[], 5), 0);
    }
}
