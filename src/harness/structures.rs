//! The shop's hand-written data structures behind a public face, so that
//! `benches/structures.rs` can set each beside the well-kept crate it
//! stands in for: the catalog's id table against `hashbrown` and
//! `indexmap`, a word's posting against `roaring`, the ordered index
//! against `BTreeSet`. Each type forwards to the shop's own code; the one
//! thing written here is a whole-intersection count (the search never
//! computes one), to set beside `roaring`'s.

use crate::shop::{intersect, IdTable, OrderIndex, Posting, Product};

/// The catalog's table of products by id (`IdTable`).
#[derive(Debug, Default)]
pub struct ProductTable(IdTable<Product>);

impl ProductTable {
    /// Add `product`; false if its id is present.
    #[inline]
    pub fn insert(&mut self, product: Product) -> bool {
        self.0.insert_new(product)
    }

    /// The product with `id`.
    #[inline]
    pub fn get(&self, id: u64) -> Option<&Product> {
        self.0.get(id)
    }

    /// The product with `id`, to change in place.
    #[inline]
    pub fn get_mut(&mut self, id: u64) -> Option<&mut Product> {
        self.0.get_mut(id)
    }

    /// Remove and return the product with `id`.
    #[inline]
    pub fn remove(&mut self, id: u64) -> Option<Product> {
        self.0.remove(id)
    }

    /// Start loading the index slot for `id` (see the catalog's
    /// look-ahead).
    #[inline]
    pub fn prefetch(&self, id: u64) {
        self.0.prefetch(id);
    }

    /// Start loading the product with `id`, once its slot is cached.
    #[inline]
    pub fn prefetch_value(&self, id: u64) {
        self.0.prefetch_value(id);
    }

    /// Bytes allocated for the index and the products.
    pub fn heap_bytes(&self) -> usize {
        self.0.heap_bytes()
    }
}

/// The search index's set of ids for one word (`Posting`).
#[derive(Debug, Default, Clone)]
pub struct WordPosting(Posting);

impl WordPosting {
    /// Add `id`.
    #[inline]
    pub fn insert(&mut self, id: u64) {
        self.0.insert(id);
    }

    /// Remove `id`.
    #[inline]
    pub fn remove(&mut self, id: u64) {
        self.0.remove(id);
    }

    /// Whether `id` is present.
    #[inline]
    pub fn contains(&self, id: u64) -> bool {
        self.0.contains(id)
    }

    /// How many ids both hold, as the search index intersects two words:
    /// the bitmaps one word at a time over the windows they share, the
    /// ids outside either window looked up one by one.
    pub fn intersection_len(&self, other: &Self) -> u64 {
        let (a, b) = (&self.0, &other.0);
        let (ra, rb) = (a.word_range(), b.word_range());
        let (lo, hi) = (ra.start.max(rb.start), ra.end.min(rb.end));
        let mut n: u64 = (lo..hi)
            .map(|w| u64::from((a.word(w) & b.word(w)).count_ones()))
            .sum();
        let (shared_lo, shared_hi) = (lo * 64, hi.max(lo) * 64);
        let outside = a
            .iter()
            .take_while(|&id| id < shared_lo)
            .chain(a.iter_from(shared_hi));
        n += outside.filter(|&id| b.contains(id)).count() as u64;
        n
    }

    /// The first `n` ids both hold, ascending, into `out` (which comes in
    /// empty): the search index's own intersection, as a query of two
    /// words with a limit runs it.
    pub fn intersection_first(&self, other: &Self, n: usize, out: &mut Vec<u64>) {
        intersect(&[&self.0, &other.0], &[], n, out);
    }
}

/// The catalog's ids in order, for paged listing (`OrderIndex`).
#[derive(Debug, Default, Clone)]
pub struct OrderedIds(OrderIndex);

impl OrderedIds {
    /// Add `id`; false if present.
    #[inline]
    pub fn insert(&mut self, id: u64) -> bool {
        self.0.insert(id)
    }

    /// Remove `id`; false if absent.
    #[inline]
    pub fn remove(&mut self, id: u64) -> bool {
        self.0.remove(id)
    }

    /// Ids held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.0.len() == 0
    }

    /// `limit` ids from position `offset` on, ascending.
    pub fn page(&self, offset: usize, limit: usize) -> impl Iterator<Item = u64> + '_ {
        self.0.page(offset, limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn intersection_counts_ids_in_and_out_of_the_windows() {
        let (mut a, mut b) = (WordPosting::default(), WordPosting::default());
        let (mut sa, mut sb) = (BTreeSet::new(), BTreeSet::new());
        // Dense runs (bitmaps) that overlap in part, and outliers (lists).
        for id in (1_000..5_000).step_by(3).chain([7, 1 << 40, 90_000]) {
            a.insert(id);
            sa.insert(id);
        }
        for id in (3_000..9_000).step_by(2).chain([7, 1 << 40, 4_001]) {
            b.insert(id);
            sb.insert(id);
        }
        let expected = sa.intersection(&sb).count() as u64;
        assert_eq!(a.intersection_len(&b), expected);
        assert_eq!(b.intersection_len(&a), expected);
        for n in [0, 1, 10, 700, 5_000] {
            let want: Vec<u64> = sa.intersection(&sb).copied().take(n).collect();
            let mut got = Vec::new();
            a.intersection_first(&b, n, &mut got);
            assert_eq!(got, want, "first {n}");
        }
    }
}
