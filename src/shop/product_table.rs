//! [`ProductTable`]: the catalog's products by id, stored inline in one
//! open-addressed array.
//!
//! Why not a `HashMap<u64, Product>`: a hash map finds an entry through its
//! control bytes first and only then loads the entry, two dependent cache
//! misses per lookup on a catalog larger than the cache. Here the slot
//! index comes from the id's hash alone: the ids live in a dense array
//! (eight to a cache line, so a probe run rarely leaves its line) and each
//! product at the same index in a parallel array, so the two loads of a
//! lookup can be in flight together, and a stage that sees its next
//! commands ahead of time can [`prefetch`](ProductTable::prefetch) both
//! while it handles earlier ones.
//!
//! Linear probing with backward-shift deletion (no tombstones); id `0`,
//! which no product has, marks an empty slot; the table doubles before it
//! is more than 5/8 full. The hash is seeded per table, so ids chosen by a
//! client cannot be made to collide. Both arrays ask for transparent huge
//! pages (a lookup anywhere in a table of hundreds of MiB then needs no
//! page-table walk).

use super::product::Product;
use std::collections::TryReserveError;
use std::hash::BuildHasher;

/// Smallest slot count once anything is stored.
const MIN_SLOTS: usize = 16;

/// An empty slot.
const EMPTY: Product = Product {
    id: 0,
    name: super::name::Name::EMPTY,
    price_cents: 0,
    stock: 0,
    version: 0,
};

/// Products by id (never 0): one probe sequence finds, inserts or removes.
#[derive(Clone)]
pub(crate) struct ProductTable {
    /// Slot ids; the length is zero or a power of two; `0` is empty.
    ids: Box<[u64]>,
    /// `slots[i]` is the product whose id is `ids[i]` (same length).
    slots: Box<[Product]>,
    len: usize,
    hasher: foldhash::fast::RandomState,
}

impl Default for ProductTable {
    fn default() -> Self {
        Self {
            ids: Box::new([]),
            slots: Box::new([]),
            len: 0,
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl std::fmt::Debug for ProductTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProductTable")
            .field("len", &self.len)
            .field("slots", &self.slots.len())
            .finish()
    }
}

impl ProductTable {
    /// Number of products.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Where the probe for `id` starts. Only called with slots present.
    #[inline(always)]
    fn home(&self, id: u64) -> usize {
        self.hasher.hash_one(id) as usize & (self.ids.len() - 1)
    }

    #[inline(always)]
    fn next(&self, i: usize) -> usize {
        (i + 1) & (self.ids.len() - 1)
    }

    /// The slot holding `id`, if any.
    #[inline]
    fn find(&self, id: u64) -> Option<usize> {
        if id == 0 || self.ids.is_empty() {
            return None;
        }
        let mut i = self.home(id);
        loop {
            // Terminates: the load limit keeps at least one slot empty.
            match self.ids[i] {
                found if found == id => return Some(i),
                0 => return None,
                _ => i = self.next(i),
            }
        }
    }

    /// The product with `id`.
    #[inline]
    pub(crate) fn get(&self, id: u64) -> Option<&Product> {
        self.find(id).map(|i| &self.slots[i])
    }

    /// The product with `id`, to change in place. Its id must stay `id`.
    #[inline]
    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut Product> {
        self.find(id).map(|i| &mut self.slots[i])
    }

    /// Start loading the slot where a probe for `id` begins, its id and
    /// its product (a hint; see the module docs). Cheap: one hash, no
    /// waiting on memory.
    #[inline(always)]
    pub(crate) fn prefetch(&self, id: u64) {
        if !self.ids.is_empty() {
            let i = self.home(id);
            crate::memory_hint::prefetch_read(&self.ids[i]);
            crate::memory_hint::prefetch_read(&self.slots[i]);
        }
    }

    /// Insert `product` unless its id is taken (or is 0): `true` when it
    /// was inserted, `false` when nothing changed.
    pub(crate) fn insert_new(&mut self, product: Product) -> bool {
        if product.id == 0 {
            return false;
        }
        self.reserve(1);
        let mut i = self.home(product.id);
        loop {
            match self.ids[i] {
                0 => break,
                found if found == product.id => return false,
                _ => i = self.next(i),
            }
        }
        self.ids[i] = product.id;
        self.slots[i] = product;
        self.len += 1;
        true
    }

    /// Remove and return the product with `id`.
    pub(crate) fn remove(&mut self, id: u64) -> Option<Product> {
        let mut hole = self.find(id)?;
        let removed = self.slots[hole];
        // Backward shift: pull later members of the probe run into the
        // hole when their home does not lie cyclically in (hole, j], so
        // every remaining id stays reachable from its home without gaps.
        let mask = self.ids.len() - 1;
        let mut j = self.next(hole);
        while self.ids[j] != 0 {
            let home = self.home(self.ids[j]);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.ids[hole] = self.ids[j];
                self.slots[hole] = self.slots[j];
                hole = j;
            }
            j = self.next(j);
        }
        self.ids[hole] = 0;
        self.slots[hole] = EMPTY;
        self.len -= 1;
        Some(removed)
    }

    /// Make room for `more` products without growing again.
    ///
    /// # Panics
    ///
    /// When the memory for a larger table cannot be had (as a `Vec` that
    /// cannot grow); sizes from configuration go through
    /// [`try_reserve`](Self::try_reserve).
    #[inline]
    pub(crate) fn reserve(&mut self, more: usize) {
        if let Err(e) = self.try_reserve(more) {
            cannot_grow(&e);
        }
    }

    /// As [`reserve`](Self::reserve), but the allocation error instead of
    /// a panic when the memory cannot be had.
    #[inline]
    pub(crate) fn try_reserve(&mut self, more: usize) -> Result<(), TryReserveError> {
        let wanted = self.len.saturating_add(more);
        // The check every insert makes: room already.
        if wanted.saturating_mul(8) <= self.ids.len() * 5 {
            return Ok(());
        }
        // A count beyond any table asks for `usize::MAX` slots, which
        // `filled` refuses with the standard capacity-overflow error.
        let slots = slots_for(wanted).unwrap_or(usize::MAX);
        let ids = filled(slots, 0)?;
        let products = filled(slots, EMPTY)?;
        self.rehash(ids, products);
        Ok(())
    }

    /// Move every product into the given empty arrays (same length, a
    /// power of two, with room for them all).
    fn rehash(&mut self, ids: Box<[u64]>, products: Box<[Product]>) {
        self.ids = ids;
        let old = std::mem::replace(&mut self.slots, products);
        for product in old.iter().filter(|p| p.id != 0) {
            let mut i = self.home(product.id);
            while self.ids[i] != 0 {
                i = self.next(i);
            }
            self.ids[i] = product.id;
            self.slots[i] = *product;
        }
    }

    /// Every product, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Product> + '_ {
        self.slots.iter().filter(|p| p.id != 0)
    }
}

/// The slot count that holds `products` at most 5/8 full: a power of two,
/// at least [`MIN_SLOTS`] (0 for none); `None` beyond `usize`.
fn slots_for(products: usize) -> Option<usize> {
    if products == 0 {
        return Some(0);
    }
    let needed = products.checked_mul(8)?.div_ceil(5);
    needed.max(MIN_SLOTS).checked_next_power_of_two()
}

/// `len` copies of `value`, on huge pages where the kernel allows (lookups
/// land anywhere in the table, and with 4 KiB pages each would also miss
/// the TLB); the allocation error if the memory cannot be had.
fn filled<T: Copy>(len: usize, value: T) -> Result<Box<[T]>, TryReserveError> {
    let mut v = Vec::new();
    v.try_reserve_exact(len)?;
    crate::memory_hint::advise_huge_pages(&mut v);
    v.resize(len, value);
    Ok(v.into_boxed_slice())
}

#[cold]
#[inline(never)]
fn cannot_grow(error: &TryReserveError) -> ! {
    panic!("the product table cannot grow: {error}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shop::Name;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn slot_counts_keep_tables_at_most_five_eighths_full() {
        assert_eq!(slots_for(0), Some(0));
        assert_eq!(slots_for(1), Some(MIN_SLOTS));
        assert_eq!(slots_for(10), Some(16));
        assert_eq!(slots_for(11), Some(32));
        assert_eq!(slots_for(400_000), Some(1 << 20));
        assert_eq!(slots_for(usize::MAX), None);
    }

    #[test]
    fn reserving_keeps_every_product_and_spares_later_growth() {
        let mut table = ProductTable::default();
        for id in 1..=100 {
            assert!(table.insert_new(product(id, id)));
        }
        table.try_reserve(10_000).unwrap();
        let slots = table.ids.len();
        assert!(slots * 5 >= 10_100 * 8);
        for id in 101..=10_100 {
            assert!(table.insert_new(product(id, id)));
        }
        assert_eq!(table.ids.len(), slots, "no growth within the reservation");
        assert!((1..=10_100).all(|id| table.get(id).map(|p| p.price_cents) == Some(id)));
        assert!(table.try_reserve(usize::MAX).is_err());
        assert_eq!(table.len(), 10_100, "a refused reservation changes nothing");
    }

    fn product(id: u64, price_cents: u64) -> Product {
        Product {
            id,
            name: Name::new("Oak Stool").unwrap(),
            price_cents,
            stock: 1,
            version: 1,
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u64),
        Remove(u64),
        Update(u64, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Ids from a small range (with 0) so probe runs collide and wrap.
        let id = 0u64..300;
        prop_oneof![
            (id.clone(), any::<u64>()).prop_map(|(i, p)| Op::Insert(i, p)),
            id.clone().prop_map(Op::Remove),
            (id, any::<u64>()).prop_map(|(i, p)| Op::Update(i, p)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn matches_a_hash_map(ops in proptest::collection::vec(op(), 0..2000)) {
            let mut model: HashMap<u64, Product> = HashMap::new();
            let mut table = ProductTable::default();
            for op in ops {
                match op {
                    Op::Insert(id, price) => {
                        let fresh = id != 0 && !model.contains_key(&id);
                        prop_assert_eq!(table.insert_new(product(id, price)), fresh);
                        if fresh {
                            model.insert(id, product(id, price));
                        }
                    }
                    Op::Remove(id) => prop_assert_eq!(table.remove(id), model.remove(&id)),
                    Op::Update(id, price) => {
                        if let Some(p) = table.get_mut(id) {
                            p.price_cents = price;
                        }
                        if let Some(p) = model.get_mut(&id) {
                            p.price_cents = price;
                        }
                    }
                }
                prop_assert_eq!(table.len(), model.len());
            }
            for id in 0..300 {
                prop_assert_eq!(table.get(id), model.get(&id));
            }
            let mut ids: Vec<u64> = table.iter().map(|p| p.id).collect();
            ids.sort_unstable();
            let mut want: Vec<u64> = model.keys().copied().collect();
            want.sort_unstable();
            prop_assert_eq!(ids, want);
        }
    }

    #[test]
    fn grows_and_keeps_everything() {
        let mut table = ProductTable::default();
        for id in 1..=10_000 {
            assert!(table.insert_new(product(id, id)));
        }
        assert!(table.ids.len() * 5 >= table.len() * 8);
        assert_eq!(table.ids.len(), table.slots.len());
        for id in (1..=10_000).step_by(2) {
            assert_eq!(table.remove(id).map(|p| p.price_cents), Some(id));
        }
        assert_eq!(table.len(), 5_000);
        for id in 1..=10_000 {
            assert_eq!(table.get(id).is_some(), id % 2 == 0, "id {id}");
        }
    }

    #[test]
    fn id_zero_is_never_stored() {
        let mut table = ProductTable::default();
        assert!(!table.insert_new(product(0, 1)));
        assert!(table.get(0).is_none());
        assert!(table.insert_new(product(7, 1)));
        assert!(table.get(0).is_none(), "an empty slot is not product 0");
        assert!(table.remove(0).is_none());
        table.prefetch(0);
        assert_eq!(table.len(), 1);
    }
}
