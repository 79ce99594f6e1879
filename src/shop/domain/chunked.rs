//! [`Chunked`]: a dense sequence of values stored in chunks that are never
//! reallocated, so growing it never moves what it holds.
//!
//! A `Vec` doubles by allocating twice its size and copying: for the
//! catalog's half a million products that is 50 MiB copied in one push,
//! tens of milliseconds on the stage thread while every command behind it
//! waits. (glibc remaps rather than copies only blocks above its mmap
//! threshold, which rises as large blocks are freed, up to 32 MiB: a
//! table that has freed its smaller indexes grows in the heap.) Here a push past the end allocates one more chunk (its pages
//! zero until written) and copies nothing. Chunks double in size (the
//! first two hold [`FIRST`] values, then each as many as all before it),
//! so a small table stays small, a large one lies mostly in large chunks
//! backed by huge pages, and finding a position is a bit scan, a shift
//! and a load from a short list of chunks that stays in cache.

use std::collections::TryReserveError;

/// Values in each of the first two chunks: a power of two.
const FIRST_SHIFT: u32 = 10;
const FIRST: usize = 1 << FIRST_SHIFT;

/// Capacity of chunk `k`.
#[inline(always)]
fn chunk_capacity(k: usize) -> usize {
    if k == 0 {
        FIRST
    } else {
        FIRST << (k - 1)
    }
}

/// Total capacity of the first `n` chunks.
#[inline(always)]
fn capacity_of(n: usize) -> usize {
    if n == 0 {
        0
    } else {
        FIRST << (n - 1)
    }
}

/// The chunk holding position `at`, and the position inside it.
#[inline(always)]
fn locate(at: usize) -> (usize, usize) {
    let high = at >> FIRST_SHIFT;
    if high == 0 {
        (0, at)
    } else {
        // Chunk k >= 1 holds [FIRST << (k - 1), FIRST << k).
        let k = (usize::BITS - high.leading_zeros()) as usize;
        (k, at - (FIRST << (k - 1)))
    }
}

/// A dense sequence: push at the end, remove by moving the last value into
/// the hole, index by position.
#[derive(Debug)]
pub(crate) struct Chunked<T> {
    /// Chunk `k` has capacity `chunk_capacity(k)`, so it never
    /// reallocates; every chunk before the last value's is full. Chunks
    /// past the last value are spares.
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Self {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T: Clone> Clone for Chunked<T> {
    /// Chunk by chunk, each with its full capacity (a derived clone would
    /// size each to its length, and the next push would reallocate it).
    fn clone(&self) -> Self {
        let chunks = self
            .chunks
            .iter()
            .enumerate()
            .map(|(k, chunk)| {
                let mut copy = Vec::with_capacity(chunk_capacity(k));
                copy.extend_from_slice(chunk);
                copy
            })
            .collect();
        Self {
            chunks,
            len: self.len,
        }
    }
}

impl<T> Chunked<T> {
    /// Number of values.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Values it holds without allocating.
    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        capacity_of(self.chunks.len())
    }

    /// The value at `at`.
    #[inline(always)]
    pub(crate) fn get(&self, at: usize) -> Option<&T> {
        let (k, i) = locate(at);
        self.chunks.get(k)?.get(i)
    }

    /// The value at `at`, to change in place.
    #[inline(always)]
    pub(crate) fn get_mut(&mut self, at: usize) -> Option<&mut T> {
        let (k, i) = locate(at);
        self.chunks.get_mut(k)?.get_mut(i)
    }

    /// Make room for `more` values (whole chunks, none moved); the
    /// allocation error if the memory cannot be had (the chunks allocated
    /// before it stay, as spare room).
    pub(crate) fn try_reserve(&mut self, more: usize) -> Result<(), TryReserveError> {
        let wanted = self.len.saturating_add(more);
        while self.capacity() < wanted {
            let mut chunk = Vec::new();
            chunk.try_reserve_exact(chunk_capacity(self.chunks.len()))?;
            crate::memory_hint::advise_huge_pages(&mut chunk);
            self.chunks.try_reserve(1)?;
            self.chunks.push(chunk);
        }
        Ok(())
    }

    /// Fault in the pages of the room not yet used (see
    /// [`prefault`](crate::memory_hint::prefault)), so that filling it
    /// later does not trap per page.
    pub(crate) fn prefault_spare(&mut self) {
        for chunk in &mut self.chunks {
            crate::memory_hint::prefault(chunk.spare_capacity_mut());
        }
    }

    /// Append `value`; within the capacity reserved, no allocation.
    ///
    /// # Panics
    ///
    /// When a new chunk cannot be allocated (as `Vec::push`).
    #[inline]
    pub(crate) fn push(&mut self, value: T) {
        if self.len == self.capacity() {
            if let Err(e) = self.try_reserve(1) {
                panic!("cannot grow: {e}");
            }
        }
        let (k, _) = locate(self.len);
        self.chunks[k].push(value);
        self.len += 1;
    }

    /// Remove the value at `at`, moving the last value into its place (as
    /// `Vec::swap_remove`); `None` when `at` is past the end.
    pub(crate) fn swap_remove(&mut self, at: usize) -> Option<T> {
        if at >= self.len {
            return None;
        }
        let (k, _) = locate(self.len - 1);
        let last = self.chunks[k].pop()?;
        self.len -= 1;
        // Keep one empty chunk past the end as a spare (a table that
        // hovers at a chunk boundary does not allocate and free one per
        // command), and free any other.
        let used = if self.len == 0 {
            0
        } else {
            locate(self.len - 1).0 + 1
        };
        if self.chunks.len() > used + 1 {
            self.chunks.pop();
        }
        if at == self.len {
            return Some(last);
        }
        self.get_mut(at).map(|hole| std::mem::replace(hole, last))
    }

    /// Every value, in position order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn positions_map_to_doubling_chunks() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(FIRST - 1), (0, FIRST - 1));
        assert_eq!(locate(FIRST), (1, 0));
        assert_eq!(locate(2 * FIRST - 1), (1, FIRST - 1));
        assert_eq!(locate(2 * FIRST), (2, 0));
        assert_eq!(locate(4 * FIRST + 3), (3, 3));
        for n in 0..20 {
            let total: usize = (0..n).map(chunk_capacity).sum();
            assert_eq!(capacity_of(n), total);
            if n > 0 {
                assert_eq!(locate(total - 1), (n - 1, chunk_capacity(n - 1) - 1));
            }
        }
    }

    #[test]
    fn growing_moves_nothing() {
        let mut values = Chunked::default();
        for i in 0..FIRST as u64 {
            values.push(i);
        }
        let first: *const u64 = values.get(0).unwrap();
        for i in FIRST as u64..64 * FIRST as u64 + 5 {
            values.push(i);
        }
        assert!(
            std::ptr::eq(first, values.get(0).unwrap()),
            "the first chunk stayed"
        );
        assert_eq!(values.len(), 64 * FIRST + 5);
        assert_eq!(values.capacity(), 128 * FIRST);
        assert!((0..values.len()).all(|i| values.get(i) == Some(&(i as u64))));
        assert_eq!(values.get(values.len()), None);
    }

    #[test]
    fn a_spare_chunk_is_kept_and_no_more() {
        let mut values = Chunked::default();
        for i in 0..4 * FIRST + 1 {
            values.push(i);
        }
        assert_eq!(values.capacity(), 8 * FIRST);
        assert_eq!(values.swap_remove(4 * FIRST), Some(4 * FIRST));
        assert_eq!(values.capacity(), 8 * FIRST, "one spare");
        assert_eq!(values.swap_remove(0), Some(0));
        assert_eq!(values.get(0), Some(&(4 * FIRST - 1)), "the last moved in");
        while values.len() > 2 * FIRST {
            values.swap_remove(values.len() - 1);
        }
        assert_eq!(values.capacity(), 4 * FIRST, "the second spare freed");
        assert_eq!(values.swap_remove(values.len()), None);
        let copy = values.clone();
        assert!(copy.iter().eq(values.iter()));
        assert_eq!(copy.capacity(), values.capacity());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_a_vec(ops in proptest::collection::vec(any::<(bool, u32)>(), 0..3000)) {
            let mut model = Vec::new();
            let mut values = Chunked::default();
            // Across chunk boundaries, so removals cross them.
            for i in 0..2 * FIRST as u32 + 3 {
                model.push(i);
                values.push(i);
            }
            for (push, x) in ops {
                if push || model.is_empty() {
                    model.push(x);
                    values.push(x);
                } else {
                    let at = x as usize % model.len();
                    prop_assert_eq!(values.swap_remove(at), Some(model.swap_remove(at)));
                }
                prop_assert_eq!(values.len(), model.len());
            }
            prop_assert!(values.iter().eq(model.iter()));
        }
    }
}
