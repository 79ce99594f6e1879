//! [`Posting`]: the ids of the products whose names have one word.
//!
//! Two containers (the idea of Roaring bitmaps' dense and array
//! containers, specialised to one window): the ids inside a window of
//! words live in a bitmap, the others in an ordered list. A word found in
//! many products of a dense id range (a shop's ids usually are, from
//! whatever base) keeps almost all of them in the bitmap: adding or
//! deleting one is a bit flip, intersecting two frequent words is one AND
//! per 64 ids, and a membership test is one bit. The bitmap never takes
//! more than two words per id in the posting (128 bits, against 64 in a
//! list), so outlying ids or a sparse word cannot make it large: such ids
//! stay in the list, a B-tree, so ids far apart still insert and delete in
//! O(log n).
//!
//! The window is chosen, when the list has grown by an eighth of the
//! posting since the last choice, as the span of at most `2 * len` words
//! holding the most ids; ids just above it extend it in place, so ids that
//! arrive in ascending order never touch the list.

use std::collections::BTreeSet;
use std::ops::Range;

/// Smallest posting that gets a bitmap.
const MIN_BITMAP_LEN: usize = 32;
/// Bitmap words allowed per id.
const WORDS_PER_ID: usize = 2;
/// Words a bitmap may reach (exclusive): ids in the last word of `u64`
/// stay in the list, so window ends never overflow.
const MAX_WORD: u64 = u64::MAX / 64;

/// The word holding `id`.
#[inline]
fn word_of(id: u64) -> u64 {
    id / 64
}

/// One word's products.
#[derive(Debug, Default, Clone)]
pub(crate) struct Posting {
    /// Bit `i` of `bits[k]` set iff `(base + k) * 64 + i` is in the posting.
    bits: Vec<u64>,
    /// The first word the bitmap covers.
    base: u64,
    /// The ids outside the bitmap's window.
    list: BTreeSet<u64>,
    /// Ids in total (bitmap and list).
    len: usize,
    /// List length at which the window is chosen again.
    rechoose_at: usize,
}

impl Posting {
    /// Ids in the posting.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the posting is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The words the bitmap covers (absolute word numbers; empty without a
    /// bitmap).
    pub(crate) fn word_range(&self) -> Range<u64> {
        self.base..self.base + self.bits.len() as u64
    }

    /// Bitmap word `w` (absolute); 0 outside the window.
    #[inline]
    pub(crate) fn word(&self, w: u64) -> u64 {
        w.checked_sub(self.base)
            .and_then(|k| self.bits.get(k as usize))
            .copied()
            .unwrap_or(0)
    }

    /// Index in `bits` of the word holding `id`, if the window covers it:
    /// one check for both "in the bitmap?" and "where?".
    #[inline]
    fn slot(&self, id: u64) -> Option<usize> {
        let k = usize::try_from(word_of(id).checked_sub(self.base)?).ok()?;
        (k < self.bits.len()).then_some(k)
    }

    /// All ids, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.iter_from(0)
    }

    /// Ids at or above `from`, ascending.
    pub(crate) fn iter_from(&self, from: u64) -> impl Iterator<Item = u64> + '_ {
        let Range { start, end } = self.word_range();
        let (lo, hi) = (start * 64, end * 64);
        let below = self.list.range(from.min(lo)..lo);
        let first = word_of(from).max(start);
        let bitmap = (first..end).flat_map(move |w| {
            let word = self.word(w);
            let mut m = if w == word_of(from) {
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
                Some(w * 64 + u64::from(bit))
            })
        });
        let above = self.list.range(from.max(hi)..);
        below.copied().chain(bitmap).chain(above.copied())
    }

    /// Whether `id` is in the posting.
    #[inline]
    pub(crate) fn contains(&self, id: u64) -> bool {
        match self.slot(id) {
            Some(k) => self.bits[k] & (1 << (id % 64)) != 0,
            None => self.list.contains(&id),
        }
    }

    /// Add `id` (no effect if present).
    pub(crate) fn insert(&mut self, id: u64) {
        let w = word_of(id);
        if let Some(k) = self.slot(id) {
            let word = &mut self.bits[k];
            if *word & (1 << (id % 64)) == 0 {
                *word |= 1 << (id % 64);
                self.len += 1;
            }
            return;
        }
        // Checked: `w` may lie below the window (and span is then unused).
        let span = w.checked_sub(self.base).map_or(u64::MAX, |d| d + 1);
        let extends =
            !self.bits.is_empty() && w < MAX_WORD && span <= (WORDS_PER_ID * (self.len + 1)) as u64;
        if extends {
            // Just above the window: grow it in place (ascending ids), and
            // move the listed ids the window now covers into it.
            let old_end = self.word_range().end * 64;
            self.bits.resize(span as usize, 0);
            let new_end = self.word_range().end * 64;
            let covered: Vec<u64> = self.list.range(old_end..new_end).copied().collect();
            for listed in covered {
                self.list.remove(&listed);
                self.bits[(word_of(listed) - self.base) as usize] |= 1 << (listed % 64);
            }
            if self.contains(id) {
                return;
            }
            self.bits[(w - self.base) as usize] |= 1 << (id % 64);
            self.len += 1;
            return;
        }
        if !self.list.insert(id) {
            return;
        }
        self.len += 1;
        if self.list.len() >= self.rechoose_at.max(MIN_BITMAP_LEN) {
            self.choose_window();
        }
    }

    /// Remove `id` (no effect if absent).
    pub(crate) fn remove(&mut self, id: u64) {
        if let Some(k) = self.slot(id) {
            let word = &mut self.bits[k];
            if *word & (1 << (id % 64)) != 0 {
                *word &= !(1 << (id % 64));
                self.len -= 1;
            }
        } else if self.list.remove(&id) {
            self.len -= 1;
        }
        if self.bits.len() > 2 * WORDS_PER_ID * self.len.max(MIN_BITMAP_LEN) {
            // Mostly deleted: the window is too wide for what is left.
            self.choose_window();
        }
    }

    /// Put the bitmap's window where it holds the most ids within the
    /// budget of words, and everything else in the list. O(len); called
    /// after the list grew by an eighth of the posting, so amortised O(1).
    fn choose_window(&mut self) {
        let all: Vec<u64> = self.iter().collect();
        let budget = (WORDS_PER_ID * all.len()) as u64;
        let (mut best, mut j) = (0..0, 0);
        for i in 0..all.len() {
            j = j.max(i);
            while j < all.len()
                && word_of(all[j]) < MAX_WORD
                && word_of(all[j]) - word_of(all[i]) < budget
            {
                j += 1;
            }
            if j - i > best.len() {
                best = i..j;
            }
        }
        self.bits = Vec::new();
        self.base = 0;
        if best.len() >= MIN_BITMAP_LEN {
            self.base = word_of(all[best.start]);
            let words = word_of(all[best.end - 1]) - self.base + 1;
            self.bits = vec![0; words as usize];
            for &id in &all[best.clone()] {
                self.bits[(word_of(id) - self.base) as usize] |= 1 << (id % 64);
            }
        } else {
            best = 0..0;
        }
        self.list = all[..best.start]
            .iter()
            .chain(&all[best.end..])
            .copied()
            .collect();
        self.rechoose_at = self.list.len() + (self.len / 8).max(MIN_BITMAP_LEN);
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
            ops in proptest::collection::vec((any::<bool>(), prop_oneof![0u64..3000, any::<u64>(), (u64::MAX - 3000)..=u64::MAX, 1_000_000_000u64..1_000_003_000]), 0..2000),
            probes in proptest::collection::vec(prop_oneof![0u64..3500, (u64::MAX - 3500)..=u64::MAX, 999_999_000u64..1_000_004_000], 1..200),
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
            for w in p.word_range() {
                for b in 0..64 {
                    let id = w * 64 + b;
                    prop_assert_eq!(p.word(w) & (1 << b) != 0, model.contains(&id));
                }
            }
            let mut probes = probes;
            probes.sort_unstable();
            for id in probes {
                prop_assert_eq!(p.contains(id), model.contains(&id));
            }
            prop_assert!(p.bits.len() <= WORDS_PER_ID * p.len().max(MIN_BITMAP_LEN) * 2);
            prop_assert!(p.list.iter().all(|&id| p.slot(id).is_none()));
        }
    }

    #[test]
    fn dense_words_get_a_bitmap_and_outliers_do_not_inflate_it() {
        let mut p = Posting::default();
        for id in (0..10_000).step_by(3) {
            p.insert(id);
        }
        assert!(p.bits.len() * 64 >= 9_999, "covers the dense range");
        assert!(p.list.is_empty(), "all in the bitmap");
        p.insert(u64::MAX - 1);
        assert!(p.bits.len() <= WORDS_PER_ID * p.len());
        assert!(p.contains(9_999));
        assert!(p.contains(u64::MAX - 1));
    }

    #[test]
    fn a_dense_range_far_from_zero_and_in_random_order_gets_a_bitmap() {
        let mut p = Posting::default();
        let base = 1_000_000_000_000u64;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut model = BTreeSet::new();
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = base + x % 100_000;
            p.insert(id);
            model.insert(id);
        }
        assert!(
            p.list.len() * 4 < model.len(),
            "mostly in the bitmap: {} listed",
            p.list.len()
        );
        assert!(p.bits.len() <= WORDS_PER_ID * p.len());
        assert!(p.iter().eq(model.iter().copied()));
        for id in [base - 1, base, base + 99_999, u64::MAX] {
            assert_eq!(p.contains(id), model.contains(&id));
        }
    }
}
