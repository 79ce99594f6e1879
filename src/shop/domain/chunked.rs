//! [`Chunked`]: a dense sequence of values stored in chunks that are never
//! reallocated, so growing it never moves what it holds, and that a
//! [`FrozenChunks`] view can share until the sequence next writes them.
//!
//! A `Vec` doubles by allocating twice its size and copying: for the
//! catalog's half a million products that is 50 MiB copied in one push,
//! tens of milliseconds on the stage thread while every command behind it
//! waits. (glibc remaps rather than copies only blocks above its mmap
//! threshold, which rises as large blocks are freed, up to 32 MiB: a
//! table that has freed its smaller indexes grows in the heap.) Here a
//! push past the end allocates one more chunk (its pages zero until
//! written) and copies nothing. The first chunks double in size (the
//! first two hold [`FIRST`] values, then each as many as all before it)
//! up to [`LAST`] values; every later chunk holds [`LAST`]. A small table
//! stays small, and finding a position is a compare, a shift or a bit
//! scan, and a load from the list of chunks (2 KiB of it for a million
//! values, so it stays in cache).
//!
//! Why the chunks stop growing at [`LAST`] values (about 400 KiB of
//! products): [`freeze`](Chunked::freeze) shares every chunk with a
//! read-only view (a snapshot being written on another thread) by
//! reference count, and the first write to a shared chunk copies that
//! chunk first. A chunk that doubled forever would hold half the table,
//! and one write after a snapshot would copy it; a small chunk bounds that
//! copy (well under a millisecond) however large the table grows.
//! The price: chunks this size get no transparent huge pages (they hold
//! no aligned 2 MiB range), so a random lookup in a large table may walk
//! the page tables (docs/benchmarks.md has both sides measured).

use std::collections::TryReserveError;
use std::sync::Arc;

/// Values in each of the first two chunks: a power of two.
const FIRST_SHIFT: u32 = 10;
const FIRST: usize = 1 << FIRST_SHIFT;

/// Values in every chunk from [`FIXED_FROM`] on: a power of two.
const LAST_SHIFT: u32 = 12;
const LAST: usize = 1 << LAST_SHIFT;

/// The first chunk of [`LAST`] values past the doubling ones: chunks
/// `1..FIXED_FROM` double from [`FIRST`], and chunk `FIXED_FROM - 1`
/// already holds [`LAST`].
const FIXED_FROM: usize = (LAST_SHIFT - FIRST_SHIFT) as usize + 2;

/// Values the chunks before [`FIXED_FROM`] hold together.
const DOUBLING_CAPACITY: usize = FIRST << (FIXED_FROM - 1);

/// Capacity of chunk `k`.
#[inline(always)]
fn chunk_capacity(k: usize) -> usize {
    match k {
        0 => FIRST,
        k if k < FIXED_FROM => FIRST << (k - 1),
        _ => LAST,
    }
}

/// Total capacity of the first `n` chunks.
#[inline(always)]
fn capacity_of(n: usize) -> usize {
    match n {
        0 => 0,
        n if n <= FIXED_FROM => FIRST << (n - 1),
        n => DOUBLING_CAPACITY + (n - FIXED_FROM) * LAST,
    }
}

/// The chunk holding position `at`, and the position inside it.
#[inline(always)]
fn locate(at: usize) -> (usize, usize) {
    if at >= DOUBLING_CAPACITY {
        let past = at - DOUBLING_CAPACITY;
        return (FIXED_FROM + (past >> LAST_SHIFT), past & (LAST - 1));
    }
    let high = at >> FIRST_SHIFT;
    if high == 0 {
        (0, at)
    } else {
        // Chunk k in 1..FIXED_FROM holds [FIRST << (k - 1), FIRST << k).
        let k = (usize::BITS - high.leading_zeros()) as usize;
        (k, at - (FIRST << (k - 1)))
    }
}

/// Chunks that hold the first `len` values.
#[inline(always)]
fn chunks_for(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        locate(len - 1).0 + 1
    }
}

/// A dense sequence: push at the end, remove by moving the last value into
/// the hole, index by position.
#[derive(Debug)]
pub(crate) struct Chunked<T> {
    /// Chunk `k` has capacity `chunk_capacity(k)`, so it never
    /// reallocates; every chunk before the last value's is full. Chunks
    /// past the last value are spares. A chunk is shared only with
    /// [`FrozenChunks`] views, which never write it: a write here copies
    /// a shared chunk first.
    chunks: Vec<Arc<Vec<T>>>,
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
    /// share them, and the first writes to each copy would copy them).
    fn clone(&self) -> Self {
        let chunks = self
            .chunks
            .iter()
            .enumerate()
            .map(|(k, chunk)| Arc::new(copy_chunk(k, chunk)))
            .collect();
        Self {
            chunks,
            len: self.len,
        }
    }
}

/// A new chunk `k` holding `values`, with the chunk's full capacity.
fn copy_chunk<T: Clone>(k: usize, values: &[T]) -> Vec<T> {
    let mut copy = Vec::with_capacity(chunk_capacity(k));
    crate::memory_hint::advise_huge_pages(&mut copy);
    copy.extend_from_slice(values);
    copy
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

    /// Make room for `more` values (whole chunks, none moved); the
    /// allocation error if the memory cannot be had (the chunks allocated
    /// before it stay, as spare room).
    pub(crate) fn try_reserve(&mut self, more: usize) -> Result<(), TryReserveError> {
        let wanted = self.len.saturating_add(more);
        let missing = wanted.saturating_sub(self.capacity());
        if missing > LAST {
            // Ask for the whole room as one allocation first (freed at once,
            // its pages never touched): a reservation beyond the address
            // space or beyond what the kernel will commit is refused here,
            // as it would be for one block, not after allocating chunk
            // after chunk until the process runs out of memory.
            let mut whole: Vec<T> = Vec::new();
            whole.try_reserve_exact(missing)?;
            self.chunks
                .try_reserve(chunks_for(wanted).saturating_sub(self.chunks.len()))?;
        }
        while self.capacity() < wanted {
            let mut chunk = Vec::new();
            chunk.try_reserve_exact(chunk_capacity(self.chunks.len()))?;
            crate::memory_hint::advise_huge_pages(&mut chunk);
            self.chunks.try_reserve(1)?;
            self.chunks.push(Arc::new(chunk));
        }
        Ok(())
    }

    /// Every value, in position order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }

    /// A read-only view of the values as they are now, in position order,
    /// that stays as it is whatever this sequence does next: it shares the
    /// chunks (a reference count each, nothing copied), and a write here
    /// to a chunk the view still holds copies that chunk first. The view
    /// can go to another thread; each chunk it drops stops costing a copy.
    pub(crate) fn freeze(&self) -> FrozenChunks<T> {
        FrozenChunks {
            chunks: self.chunks[..chunks_for(self.len)].to_vec(),
            len: self.len,
        }
    }
}

impl<T: Clone> Chunked<T> {
    /// Chunk `k` (which exists), to write: copied first if a frozen view
    /// shares it.
    #[inline(always)]
    fn chunk_mut(&mut self, k: usize) -> &mut Vec<T> {
        let chunk = &mut self.chunks[k];
        // Only this sequence clones a chunk's reference (in `freeze`, which
        // needs `&self`), so a count of 1 stays 1 until we clone again;
        // a stale count above 1 costs a needless copy, never a shared
        // write.
        if Arc::strong_count(chunk) > 1 {
            *chunk = Arc::new(copy_chunk(k, chunk));
        }
        Arc::get_mut(chunk).expect("a chunk no view shares has one owner")
    }

    /// The value at `at`, to change in place.
    #[inline(always)]
    pub(crate) fn get_mut(&mut self, at: usize) -> Option<&mut T> {
        if at >= self.len {
            return None;
        }
        let (k, i) = locate(at);
        self.chunk_mut(k).get_mut(i)
    }

    /// Fault in the pages of the room not yet used (see
    /// [`prefault`](crate::memory_hint::prefault)), so that filling it
    /// later does not trap per page.
    pub(crate) fn prefault_spare(&mut self) {
        // Chunks before the last value's are full.
        for k in chunks_for(self.len).saturating_sub(1)..self.chunks.len() {
            crate::memory_hint::prefault(self.chunk_mut(k).spare_capacity_mut());
        }
    }

    /// Append `value`; within the capacity reserved, no allocation (but
    /// for the copy of a chunk a frozen view shares).
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
        self.chunk_mut(k).push(value);
        self.len += 1;
    }

    /// Remove the value at `at`, moving the last value into its place (as
    /// `Vec::swap_remove`); `None` when `at` is past the end.
    pub(crate) fn swap_remove(&mut self, at: usize) -> Option<T> {
        if at >= self.len {
            return None;
        }
        let (k, _) = locate(self.len - 1);
        let last = self.chunk_mut(k).pop()?;
        self.len -= 1;
        // Keep one empty chunk past the end as a spare (a table that
        // hovers at a chunk boundary does not allocate and free one per
        // command), and free any other.
        if self.chunks.len() > chunks_for(self.len) + 1 {
            self.chunks.pop();
        }
        if at == self.len {
            return Some(last);
        }
        self.get_mut(at).map(|hole| std::mem::replace(hole, last))
    }
}

/// A [`Chunked`]'s values as they were when [`Chunked::freeze`] took them.
#[derive(Debug, Clone)]
pub(crate) struct FrozenChunks<T> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T> FrozenChunks<T> {
    /// Number of values.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The values chunk by chunk, in position order, each chunk given up
    /// as soon as the next is asked for (so the sequence it came from
    /// stops copying it on write).
    pub(crate) fn into_chunks(self) -> impl Iterator<Item = Arc<Vec<T>>> {
        self.chunks.into_iter()
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
        assert_eq!(
            chunk_capacity(FIXED_FROM - 1),
            LAST,
            "doubling ends at LAST"
        );
        assert_eq!(locate(DOUBLING_CAPACITY), (FIXED_FROM, 0));
        assert_eq!(
            locate(DOUBLING_CAPACITY + 3 * LAST + 7),
            (FIXED_FROM + 3, 7)
        );
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
        assert_eq!(
            values.capacity(),
            64 * FIRST + LAST,
            "a chunk of LAST past the doubling ones"
        );
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

    #[test]
    fn a_reservation_beyond_memory_is_refused_at_once() {
        let mut values: Chunked<u64> = Chunked::default();
        values.push(1);
        // Petabytes: within `isize`, beyond any address space. Chunk by
        // chunk, each small allocation would succeed until the process
        // ran out of memory.
        assert!(values.try_reserve(1 << 50).is_err());
        assert!(values.try_reserve(usize::MAX).is_err());
        assert_eq!(values.capacity(), FIRST, "nothing allocated");
        values.try_reserve(DOUBLING_CAPACITY + 3 * LAST).unwrap();
        assert!(values.capacity() > DOUBLING_CAPACITY + 3 * LAST);
    }

    #[test]
    fn a_frozen_view_keeps_its_values_and_shares_until_written() {
        let mut values = Chunked::default();
        let n = DOUBLING_CAPACITY + 2 * LAST + 10;
        for i in 0..n as u64 {
            values.push(i);
        }
        let view = values.freeze();
        let first: *const u64 = values.get(0).unwrap();
        let far: *const u64 = values.get(DOUBLING_CAPACITY + LAST).unwrap();
        // A write to the first chunk copies it; the far one stays shared.
        *values.get_mut(0).unwrap() = 1000;
        assert!(!std::ptr::eq(first, values.get(0).unwrap()), "copied");
        assert!(std::ptr::eq(
            far,
            values.get(DOUBLING_CAPACITY + LAST).unwrap()
        ));
        values.push(7);
        values.swap_remove(5);
        assert_eq!(view.len(), n);
        let seen: Vec<u64> = view.into_chunks().flat_map(|c| c.to_vec()).collect();
        assert!(
            seen.iter().copied().eq(0..n as u64),
            "the view is as frozen"
        );
        // The view gone, a write to its chunks copies nothing.
        let far: *const u64 = values.get(DOUBLING_CAPACITY + LAST).unwrap();
        *values.get_mut(DOUBLING_CAPACITY + LAST).unwrap() = 1;
        assert!(std::ptr::eq(
            far,
            values.get(DOUBLING_CAPACITY + LAST).unwrap()
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(16))]
        /// Views frozen between writes each keep the values of their
        /// moment, across doubling and fixed-size chunks, while the
        /// sequence goes on matching a `Vec`.
        #[test]
        fn frozen_views_match_the_model_at_their_moment(
            ops in proptest::collection::vec(any::<(u8, u32)>(), 0..400)
        ) {
            let mut model: Vec<u32> = (0..DOUBLING_CAPACITY as u32 + LAST as u32).collect();
            let mut values = Chunked::default();
            for &v in &model {
                values.push(v);
            }
            let mut views = Vec::new();
            for (op, x) in ops {
                match op % 8 {
                    0 => views.push((values.freeze(), model.clone())),
                    1 | 2 if !model.is_empty() => {
                        let at = x as usize % model.len();
                        prop_assert_eq!(values.swap_remove(at), Some(model.swap_remove(at)));
                    }
                    3 | 4 if !model.is_empty() => {
                        let at = x as usize % model.len();
                        model[at] = x;
                        *values.get_mut(at).unwrap() = x;
                    }
                    _ => {
                        model.push(x);
                        values.push(x);
                    }
                }
                if views.len() > 3 {
                    let (view, then): (FrozenChunks<u32>, Vec<u32>) = views.remove(0);
                    prop_assert_eq!(view.len(), then.len());
                    prop_assert!(view.into_chunks().flat_map(|c| c.to_vec()).eq(then));
                }
            }
            for (view, then) in views {
                prop_assert!(view.into_chunks().flat_map(|c| c.to_vec()).eq(then));
            }
            prop_assert!(values.iter().eq(model.iter()));
        }
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
