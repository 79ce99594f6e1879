//! [`Posting`]: the ids of the products whose names have one word.
//!
//! Two containers, split at a boundary (the idea of Roaring bitmaps'
//! dense and array containers, specialised to one split): ids below
//! `64 * bits.len()` live in a bitmap, ids at or above it in a sorted
//! list. A word found in many products of a dense id range (a shop's ids
//! usually are) keeps almost all of them in the bitmap: adding or
//! deleting one is a bit flip, intersecting two frequent words is one AND
//! per 64 ids, and a membership test is one bit. The bitmap never takes
//! more than two words per id it holds (128 bits, against 64 in a list),
//! so an outlying huge id or a sparse word cannot make it large: such ids
//! stay in the list. The list is a B-tree, so ids far apart (a shop whose
//! ids are random 64-bit numbers puts every id there) still insert and
//! delete in O(log n), not with a memmove of the whole list.

/// Smallest posting that gets a bitmap.
use std::collections::BTreeSet;

const MIN_BITMAP_LEN: usize = 32;
/// Bitmap words allowed per id.
const WORDS_PER_ID: usize = 2;

/// One word's products.
#[derive(Debug, Default, Clone)]
pub(crate) struct Posting {
    /// Bit `i` set iff `i` is in the posting, for `i < 64 * bits.len()`.
    bits: Vec<u64>,
    /// The ids at or above the bitmap's cover.
    list: BTreeSet<u64>,
    /// Ids in total (bitmap and list).
    len: usize,
}

impl Posting {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
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

    /// Every id, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.iter_from(0)
    }

    /// The ids `>= from`, in order.
    pub(crate) fn iter_from(&self, from: u64) -> impl Iterator<Item = u64> + '_ {
        let first_word = (from / 64) as usize;
        let bitmap = self
            .bits
            .iter()
            .enumerate()
            .skip(first_word)
            .flat_map(move |(w, &word)| {
                let mut m = if w == first_word {
                    word & (!0u64 << (from % 64))
                } else {
                    word
                };
                std::iter::from_fn(move || {
                    if m == 0 {
                        return None;
                    }
                    let bit = m.trailing_zeros();
                    m &= m - 1;
                    Some(w as u64 * 64 + u64::from(bit))
                })
            });
        bitmap.chain(self.list.range(from..).copied())
    }

    /// Whether `id` is in the posting; `cursor` (start at 0, ids asked in
    /// ascending order) makes list searches resume where the last ended.
    #[inline]
    pub(crate) fn contains(&self, id: u64) -> bool {
        if id < self.cover() {
            return self.bits[(id / 64) as usize] & (1 << (id % 64)) != 0;
        }
        self.list.contains(&id)
    }

    pub(crate) fn insert(&mut self, id: u64) {
        if id < self.cover() {
            let word = &mut self.bits[(id / 64) as usize];
            if *word & (1 << (id % 64)) == 0 {
                *word |= 1 << (id % 64);
                self.len += 1;
            }
            return;
        }
        if !self.list.insert(id) {
            return;
        }
        self.len += 1;
        if self.len >= MIN_BITMAP_LEN {
            self.grow();
        }
    }

    pub(crate) fn remove(&mut self, id: u64) {
        if id < self.cover() {
            let word = &mut self.bits[(id / 64) as usize];
            if *word & (1 << (id % 64)) != 0 {
                *word &= !(1 << (id % 64));
                self.len -= 1;
            }
        } else if self.list.remove(&id) {
            self.len -= 1;
        }
        if self.bits.len() > 2 * WORDS_PER_ID * self.len.max(MIN_BITMAP_LEN) {
            // Mostly deleted: move the rest back to the list.
            self.list = self.iter().collect();
            self.bits = Vec::new();
        }
    }

    /// Extend the bitmap as far as the budget allows, towards the largest
    /// id, moving the list's ids it newly covers into it.
    fn grow(&mut self) {
        let Some(&max) = self.list.last() else {
            return;
        };
        let budget = WORDS_PER_ID * self.len;
        let target = ((max / 64 + 1) as usize).min(budget);
        if target <= self.bits.len() {
            return;
        }
        self.bits.resize(target, 0);
        let cover = self.cover();
        let above = self.list.split_off(&cover);
        for id in std::mem::replace(&mut self.list, above) {
            self.bits[(id / 64) as usize] |= 1 << (id % 64);
        }
    }
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
            prop_assert_eq!(p.iter().collect::<Vec<_>>(), model.iter().copied().collect::<Vec<_>>());
            prop_assert_eq!(p.len(), model.len());
            let from = probes[0];
            prop_assert_eq!(
                p.iter_from(from).collect::<Vec<_>>(),
                model.range(from..).copied().collect::<Vec<_>>()
            );
            for w in 0..p.words() {
                for b in 0..64 {
                    let id = w as u64 * 64 + b;
                    prop_assert_eq!(p.word(w) & (1 << b) != 0, model.contains(&id));
                }
            }
            let mut probes = probes;
            probes.sort_unstable();
            for id in probes {
                prop_assert_eq!(p.contains(id), model.contains(&id));
            }
            prop_assert!(p.words() <= WORDS_PER_ID * p.len().max(MIN_BITMAP_LEN) * 2);
            prop_assert!(p.list.iter().all(|&id| id >= p.cover()));
        }
    }

    #[test]
    fn dense_words_get_a_bitmap_and_outliers_do_not_inflate_it() {
        let mut p = Posting::default();
        for id in (0..10_000).step_by(3) {
            p.insert(id);
        }
        assert!(p.words() * 64 >= 9_999, "covers the dense range");
        assert!(p.list.is_empty(), "all in the bitmap");
        p.insert(u64::MAX - 1);
        assert!(p.words() <= WORDS_PER_ID * p.len());
        assert!(p.contains(9_999));
        assert!(p.contains(u64::MAX - 1));
    }
}
