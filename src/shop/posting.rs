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
//! stay in the list, which stays short.

/// Smallest posting that gets a bitmap.
const MIN_BITMAP_LEN: usize = 32;
/// Bitmap words allowed per id.
const WORDS_PER_ID: usize = 2;

/// One word's products.
#[derive(Debug, Default, Clone)]
pub(crate) struct Posting {
    /// Bit `i` set iff `i` is in the posting, for `i < 64 * bits.len()`.
    bits: Vec<u64>,
    /// The ids at or above the bitmap's cover: sorted, no duplicates.
    list: Vec<u64>,
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
        let start = self.list.partition_point(|&x| x < from);
        bitmap.chain(self.list[start..].iter().copied())
    }

    /// Whether `id` is in the posting; `cursor` (start at 0, ids asked in
    /// ascending order) makes list searches resume where the last ended.
    #[inline]
    pub(crate) fn contains_from(&self, cursor: &mut usize, id: u64) -> bool {
        if id < self.cover() {
            return self.bits[(id / 64) as usize] & (1 << (id % 64)) != 0;
        }
        *cursor += gallop(&self.list[(*cursor).min(self.list.len())..], id);
        self.list.get(*cursor) == Some(&id)
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
        // Ids mostly arrive in ascending order: append is the fast path.
        match self.list.last() {
            Some(&last) if last >= id => match self.list.binary_search(&id) {
                Ok(_) => return,
                Err(pos) => self.list.insert(pos, id),
            },
            _ => self.list.push(id),
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
        } else if let Ok(pos) = self.list.binary_search(&id) {
            self.list.remove(pos);
            self.len -= 1;
        }
        if self.bits.len() > 2 * WORDS_PER_ID * self.len.max(MIN_BITMAP_LEN) {
            // Mostly deleted: move the rest back to the list.
            let mut all: Vec<u64> = self.iter().collect();
            all.shrink_to_fit();
            self.list = all;
            self.bits = Vec::new();
        }
    }

    /// Extend the bitmap as far as the budget allows, towards the largest
    /// id, moving the list's ids it newly covers into it.
    fn grow(&mut self) {
        let Some(&max) = self.list.last() else { return };
        let budget = WORDS_PER_ID * self.len;
        let target = ((max / 64 + 1) as usize).min(budget);
        if target <= self.bits.len() {
            return;
        }
        self.bits.resize(target, 0);
        let cover = self.cover();
        let moved = self.list.partition_point(|&x| x < cover);
        for &id in &self.list[..moved] {
            self.bits[(id / 64) as usize] |= 1 << (id % 64);
        }
        self.list.drain(..moved);
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
            let mut cursor = 0;
            for id in probes {
                prop_assert_eq!(p.contains_from(&mut cursor, id), model.contains(&id));
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
