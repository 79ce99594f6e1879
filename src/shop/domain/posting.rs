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
//! posting since the last choice, as the span of words worth the most: the
//! most ids for the fewest words, never fewer than one id per two words
//! (ids spread too thin, such as random 64-bit ids, stay in the list, and
//! a choice that finds nothing better waits twice as long for the next).
//! Ids just above the window extend it in place, so ids that arrive in
//! ascending order never touch the list.

use std::collections::BTreeSet;
use std::ops::Range;

/// Smallest posting that gets a bitmap.
const MIN_BITMAP_LEN: usize = 32;
/// Bitmap words allowed per id.
const WORDS_PER_ID: usize = 2;
/// Words a bitmap may reach (exclusive): ids in the last word of `u64`
/// stay in the list, so window ends never overflow.
const MAX_WORD: u64 = u64::MAX / 64;
/// Most doublings of the wait between choices that keep the window.
const MAX_BACKOFF: u32 = 16;

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
    /// Choices in a row that kept the window: the wait for the next one
    /// doubles with each.
    backoff: u32,
    /// Passes over the ids made to choose a window.
    #[cfg(test)]
    scans: u32,
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
            self.rechoose(false);
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
            self.rechoose(true);
        }
    }

    /// Put the bitmap's window where it is worth the most
    /// ([`Posting::best_window`]), and everything else in the list; `force`
    /// moves it there even when that gains little (a window too wide for
    /// what is left after deletes must shrink).
    ///
    /// Choosing is one pass over the ids, with no allocation; moving costs
    /// only what changes sides: the bitmap's words that stay covered are
    /// copied as words, and only ids that leave or join the window touch
    /// the list. A choice that would gain little keeps the window and
    /// waits twice as long for the next, so a posting whose ids are too
    /// sparse for a bitmap (ids spread over the whole `u64` range) is
    /// scanned O(log n) times in all, not every eighth of its growth.
    fn rechoose(&mut self, force: bool) {
        let best = self.best_window();
        let current = self.word_range();
        let target = match best {
            Some((range, count)) if count >= MIN_BITMAP_LEN => Some((range, count)),
            _ => None,
        };
        let in_window = self.len - self.list.len();
        let worth_moving = match &target {
            Some((range, count)) => {
                *range != current && (force || *count > in_window + in_window / 8)
            }
            None => force && !current.is_empty(),
        };
        if worth_moving {
            let range = target.map_or(0..0, |(range, _)| range);
            self.move_window(range);
            self.backoff = 0;
        } else {
            self.backoff = (self.backoff + 1).min(MAX_BACKOFF);
        }
        let step = (self.len / 8)
            .max(MIN_BITMAP_LEN)
            .saturating_mul(1 << self.backoff);
        self.rechoose_at = self.list.len().saturating_add(step);
    }

    /// The window worth the most: the range of words from one id's word to
    /// a later id's that maximises [`WORDS_PER_ID`] times the ids it holds
    /// minus the words it spans (a listed id costs about what two bitmap
    /// words do), as a word range and its count; `None` when no range
    /// gains (every stretch of ids is sparser than one per two words). One
    /// pass over the ids in order: the best start for each end is the
    /// running best of `word - WORDS_PER_ID * index` (the maximum-subarray
    /// idea).
    fn best_window(&mut self) -> Option<(Range<u64>, usize)> {
        #[cfg(test)]
        {
            self.scans += 1;
        }
        let k = WORDS_PER_ID as i128;
        // (value of `word - K * index`, its word, its index) at the best
        // start so far, and the best (gain, first word, last word, count).
        let mut start: Option<(i128, u64, usize)> = None;
        let mut best: Option<(i128, u64, u64, usize)> = None;
        for (j, id) in self.iter().enumerate() {
            let w = word_of(id);
            if w >= MAX_WORD {
                break; // ids in the last word stay listed (ascending: all after too)
            }
            let here = i128::from(w) - k * j as i128;
            if start.is_none_or(|(v, _, _)| here > v) {
                start = Some((here, w, j));
            }
            let (v, first, i) = start.expect("set above");
            // K * (j - i + 1) - (w - first + 1), with K = WORDS_PER_ID.
            let gain = k * j as i128 - i128::from(w) + v + k - 1;
            if gain > 0 && best.is_none_or(|(g, ..)| gain > g) {
                best = Some((gain, first, w, j - i + 1));
            }
        }
        best.map(|(_, lo, hi, n)| (lo..hi + 1, n))
    }

    /// Make `range` the bitmap's window (empty: no bitmap): words it still
    /// covers are copied, ids leaving it go to the list, listed ids it now
    /// covers come out of the list.
    fn move_window(&mut self, range: Range<u64>) {
        let mut bits = vec![0u64; (range.end - range.start) as usize];
        let old = self.word_range();
        for (w, &word) in old.clone().zip(&self.bits) {
            if range.contains(&w) {
                bits[(w - range.start) as usize] = word;
            } else {
                let mut m = word;
                while m != 0 {
                    self.list.insert(w * 64 + u64::from(m.trailing_zeros()));
                    m &= m - 1;
                }
            }
        }
        let joining: Vec<u64> = self
            .list
            .range(range.start * 64..range.end * 64)
            .copied()
            .collect();
        for id in joining {
            self.list.remove(&id);
            bits[(word_of(id) - range.start) as usize] |= 1 << (id % 64);
        }
        self.bits = bits;
        self.base = range.start;
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

    /// Ids spread over a billion (a word in 1 of 8 products with random
    /// ids): no stretch holds one id per two words, so no bitmap, and the
    /// list is scanned a few times in all, not at every eighth of growth.
    #[test]
    fn sparse_ids_stay_listed_and_are_rarely_rescanned() {
        let mut p = Posting::default();
        let mut model = BTreeSet::new();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = 1 + x % 1_000_000_000;
            p.insert(id);
            model.insert(id);
        }
        assert!(p.bits.is_empty(), "{} bitmap words", p.bits.len());
        assert!(p.scans <= 16, "{} scans", p.scans);
        assert!(p.iter().eq(model.iter().copied()));
    }

    /// A dense cluster among scattered ids gets a window that fits the
    /// cluster, not one stretched by the scattered ids around it. (The
    /// cluster arrives in descending order: ids just above a window extend
    /// it, which is the window choice's concern only when ids ascend.)
    #[test]
    fn a_cluster_among_scattered_ids_gets_a_tight_window() {
        let mut p = Posting::default();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let cluster = 5_000_000_000u64..5_000_064_000;
        for _ in 0..64_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            p.insert(x % 10_000_000_000);
        }
        assert!(p.bits.is_empty(), "scattered ids alone get no bitmap");
        for id in cluster.clone().rev().step_by(2) {
            p.insert(id);
        }
        let words = cluster.end / 64 - cluster.start / 64 + 1;
        assert!(
            (p.bits.len() as u64) <= words + 2,
            "{} words for a cluster of {words}",
            p.bits.len()
        );
        assert!(p.word_range().contains(&(cluster.start / 64 + words / 2)));
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
