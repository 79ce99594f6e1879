//! [`IdTable`]: values keyed by a `u64` id (never 0), stored densely, with
//! an open-addressed index from id to position. The catalog keeps its
//! products in one, the search index its documents.
//!
//! Two arrays:
//!
//! - `values`, dense and unordered: a value is appended on insert, and on
//!   removal the last value moves into its place. They live in chunks of
//!   a fixed size ([`Chunked`]), so growing allocates one more chunk and
//!   moves nothing.
//! - `slots`, the index: 16 bytes per slot (an id and a position), linear
//!   probing with backward-shift deletion (no tombstones), id `0` for an
//!   empty slot, at most 5/8 full. When an insert would pass that, a new
//!   index of twice the slots starts (zeroed by the kernel, page by page
//!   as it is written) and the old one is drained into it 16 slots per
//!   later insert or removal; until it is empty, an id is in one of the
//!   two, and a drained entry leaves a marker in the old index so probes
//!   through it still reach the entries behind. No write pays for moving
//!   the whole table: doubling a million-product catalog at once held the
//!   stage thread for 30 to 50 ms (the values copied, the index rebuilt),
//!   and every command queued behind it.
//!
//! The new index is also written in order, so that no write pays for
//! zeroing it either. The drain goes through the old slots in order, and
//! an entry at old slot `i` lands near `i` or `i + old len` in the new
//! index (its home there is one of the two). A new id whose old home the
//! drain has not reached goes into the old index, to move with the rest;
//! any other lands next to where the drain already wrote. So the new
//! index's pages are first written as the drain sweeps over them (16
//! slots a write at each of its two fronts: a new 4 KiB page every 8
//! writes), and on 4 KiB pages while it grows: a new index's
//! first writes used to land at random, and the kernel zeroed all of it
//! (two 16 MiB indexes at 327 k products, in 2 MiB huge pages) within a
//! few commands, a 40 to 86 ms stall on one batch. Once drained, the index
//! asks for huge pages again (see below).
//!
//! Why not values inline in the slots (as this table first did): at 5/8
//! load and power-of-two sizes a slot array holds 1.6 to 3.2 slots per
//! value, so inline values of a hundred bytes cost 300 to 550 bytes each,
//! and doubling a table of a million of them zeroed and refilled hundreds
//! of MiB on the stage thread at once (a fifth of the stage's time under a
//! stream of new ids). Dense, a value costs its size plus 26 to 51 bytes
//! of index. The price is a dependent second load per lookup (slot, then
//! value); a stage that sees its next commands ahead hides both with
//! [`prefetch`](IdTable::prefetch) (the slot) and, a few events later,
//! [`prefetch_value`](IdTable::prefetch_value) (the value, whose position
//! the slot, now cached, gives).
//!
//! Why not a `HashMap<u64, T>`: its entries are as large as the values,
//! inline in a power-of-two table, so it shares the growth cost above, and
//! a lookup goes through the control bytes first.
//!
//! The hash is seeded per table, so ids chosen by a client cannot be made
//! to collide. The index asks for transparent huge pages (a probe
//! anywhere in it then needs no page-table walk) once it is written
//! through: when it is set up at once, or when its drain ends. So do the
//! values' first chunks, but not the later ones, which stay small so that
//! a snapshot's copy-on-write copies little ([`Chunked`]).

use super::chunked::{Chunked, FrozenChunks};
use std::collections::TryReserveError;
use std::hash::BuildHasher;

/// Smallest slot count once anything is stored.
const MIN_SLOTS: usize = 16;

/// A value an [`IdTable`] can hold: it knows its own id (never 0 for a
/// stored value).
pub(crate) trait Keyed: Copy {
    fn id(&self) -> u64;
}

impl Keyed for super::product::Product {
    #[inline(always)]
    fn id(&self) -> u64 {
        self.id
    }
}

impl Keyed for super::product::SearchHit {
    #[inline(always)]
    fn id(&self) -> u64 {
        self.id
    }
}

/// One index slot: an id (0: empty) and where its value is.
#[derive(Debug, Clone, Copy, Default, bytemuck::Zeroable)]
#[repr(C, align(16))]
struct Slot {
    id: u64,
    at: u64,
}

/// A slot of the table being drained whose entry has left (moved to the
/// new table, or removed): not empty, so probes pass over it, and no id.
/// Only the draining table holds these.
const LEFT: Slot = Slot {
    id: 0,
    at: u64::MAX,
};

impl Slot {
    /// Whether a probe ends here: empty, and never held an entry that left.
    #[inline(always)]
    fn ends_probe(&self) -> bool {
        self.id == 0 && self.at != LEFT.at
    }
}

/// Index slots moved from the draining table per insert or removal. The
/// new table has at least twice the slots of the old one, so it cannot
/// reach its own limit (5/8) before the old one is drained (at least
/// `5/8 * old slots` inserts away; this drains it in a sixteenth of its
/// slots' count of writes). At most one insert per write goes into the
/// old table while it drains, a sixteenth of its slots in all, so it
/// stays at most 11/16 full and its probes still end at an empty slot.
/// Moving 16 ids holds a write up by well under a microsecond: they land
/// next to each other.
const DRAIN_PER_OP: usize = 16;

/// Values by id: one probe sequence finds, inserts or removes.
#[derive(Clone)]
pub(crate) struct IdTable<T> {
    /// The index; its length is zero or a power of two.
    slots: Box<[Slot]>,
    /// While the index grows: the previous index, drained into `slots` a
    /// few slots per write (`drained` of them so far); empty otherwise.
    /// An id is in exactly one of the two.
    old: Box<[Slot]>,
    drained: usize,
    /// While the index grows: which of its pages have been written.
    written: Written,
    /// The values, dense; `values[slot.at].id() == slot.id`.
    values: Chunked<T>,
    hasher: foldhash::fast::RandomState,
}

impl<T> Default for IdTable<T> {
    fn default() -> Self {
        Self {
            slots: Box::new([]),
            old: Box::new([]),
            drained: 0,
            written: Written::default(),
            values: Chunked::default(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl<T> std::fmt::Debug for IdTable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTable")
            .field("len", &self.values.len())
            .field("slots", &self.slots.len())
            .field("draining", &self.old.len())
            .finish()
    }
}

/// Where the probe for `id` starts in an index of `len` slots (a power of
/// two, not zero).
#[inline(always)]
fn home_in(hasher: &foldhash::fast::RandomState, len: usize, id: u64) -> usize {
    hasher.hash_one(id) as usize & (len - 1)
}

/// The unit of [`Written`]: a base page (4 KiB on x86_64 and aarch64;
/// where pages are larger, a unit is part of one, which still holds).
const PAGE_BYTES: usize = 4096;

/// Slots in a [`PAGE_BYTES`] unit.
const PAGE_SLOTS: usize = PAGE_BYTES / std::mem::size_of::<Slot>();

/// Which 4 KiB pages of a growing index have been written: a slot in a
/// page never written is empty, so a probe that reaches one ends there
/// without reading it. Reading first would map the kernel's shared zero
/// page there, and the write that follows would then have to replace it
/// and flush every core's TLB (an interrupt on each): thousands of them
/// per growth, where writing first costs one plain page fault.
#[derive(Clone, Default)]
struct Written {
    bits: Box<[u64]>,
    /// Slots before the first slot's page starts (the allocation need not
    /// be page-aligned), so that a page here is one of the kernel's.
    skew: usize,
}

impl Written {
    /// Nothing written yet in `slots`.
    fn none(slots: &[Slot]) -> Self {
        let skew = slots.as_ptr() as usize % PAGE_BYTES / std::mem::size_of::<Slot>();
        let pages = (slots.len() + skew).div_ceil(PAGE_SLOTS);
        Self {
            bits: vec![0; pages.div_ceil(64)].into_boxed_slice(),
            skew,
        }
    }

    #[inline(always)]
    fn page(&self, i: usize) -> (usize, u64) {
        let page = (i + self.skew) / PAGE_SLOTS;
        (page / 64, 1 << (page % 64))
    }

    /// Whether slot `i`'s page has been written.
    #[inline(always)]
    fn has(&self, i: usize) -> bool {
        let (word, bit) = self.page(i);
        self.bits[word] & bit != 0
    }

    #[inline(always)]
    fn mark(&mut self, i: usize) {
        let (word, bit) = self.page(i);
        self.bits[word] |= bit;
    }
}

/// The slot holding `id` in `slots` (which may hold [`LEFT`] slots);
/// `readable(i)` false says slot `i` is empty without reading it.
#[inline(always)]
fn find_in(
    hasher: &foldhash::fast::RandomState,
    slots: &[Slot],
    id: u64,
    readable: impl Fn(usize) -> bool,
) -> Option<usize> {
    if slots.is_empty() {
        return None;
    }
    let mask = slots.len() - 1;
    let mut i = home_in(hasher, slots.len(), id);
    loop {
        // Terminates: the load limit keeps at least one slot empty, and
        // an entry that leaves a draining table never empties its slot.
        if !readable(i) {
            return None;
        }
        let slot = &slots[i];
        if slot.id == id {
            return Some(i);
        }
        if slot.ends_probe() {
            return None;
        }
        i = (i + 1) & mask;
    }
}

/// Every slot is readable: an index that is not growing.
#[inline(always)]
fn every_slot(_: usize) -> bool {
    true
}

/// Put `slot` (an id not in `slots`) in the first empty slot of its probe
/// (`readable`: as for [`find_in`]); the position.
#[inline(always)]
fn place(
    hasher: &foldhash::fast::RandomState,
    slots: &mut [Slot],
    slot: Slot,
    readable: impl Fn(usize) -> bool,
) -> usize {
    let mask = slots.len() - 1;
    let mut i = home_in(hasher, slots.len(), slot.id);
    // Terminates: the load limit keeps at least one slot empty.
    while readable(i) && slots[i].id != 0 {
        i = (i + 1) & mask;
    }
    slots[i] = slot;
    i
}

impl<T: Keyed> IdTable<T> {
    /// Number of values.
    pub(crate) fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Bytes allocated for the index and the values.
    #[cfg(feature = "cli")]
    pub(crate) fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
            + std::mem::size_of_val(&*self.old)
            + self.values.capacity() * std::mem::size_of::<T>()
    }

    /// Where the probe for `id` starts. Only called with slots present.
    #[inline(always)]
    fn home(&self, id: u64) -> usize {
        home_in(&self.hasher, self.slots.len(), id)
    }

    #[inline(always)]
    fn next(&self, i: usize) -> usize {
        (i + 1) & (self.slots.len() - 1)
    }

    /// The slot holding `id` in the index (not the one being drained).
    #[inline(always)]
    fn find(&self, id: u64) -> Option<usize> {
        if self.old.is_empty() {
            find_in(&self.hasher, &self.slots, id, every_slot)
        } else {
            find_in(&self.hasher, &self.slots, id, |i| self.written.has(i))
        }
    }

    /// Whether slot `i` of the index may be read (see [`Written`]).
    #[inline(always)]
    fn readable(&self, i: usize) -> bool {
        self.old.is_empty() || self.written.has(i)
    }

    /// Put `slot` (an id in neither index) in the index.
    fn place(&mut self, slot: Slot) {
        if self.old.is_empty() {
            place(&self.hasher, &mut self.slots, slot, every_slot);
        } else {
            let written = &self.written;
            let i = place(&self.hasher, &mut self.slots, slot, |i| written.has(i));
            self.written.mark(i);
        }
    }

    /// The slot holding `id`, in the index or the one being drained.
    #[inline]
    fn locate(&mut self, id: u64) -> Option<&mut Slot> {
        if id == 0 {
            return None;
        }
        if let Some(i) = self.find(id) {
            return Some(&mut self.slots[i]);
        }
        find_in(&self.hasher, &self.old, id, every_slot).map(|i| &mut self.old[i])
    }

    /// Where the value with `id` is.
    #[inline]
    fn position(&self, id: u64) -> Option<usize> {
        if id == 0 {
            return None;
        }
        self.find(id)
            .map(|i| self.slots[i].at)
            .or_else(|| find_in(&self.hasher, &self.old, id, every_slot).map(|i| self.old[i].at))
            .map(|at| at as usize)
    }

    /// The value with `id`.
    #[inline]
    pub(crate) fn get(&self, id: u64) -> Option<&T> {
        self.position(id).and_then(|at| self.values.get(at))
    }

    /// The value with `id`, to change in place. Its id must stay `id`.
    #[inline]
    pub(crate) fn get_mut(&mut self, id: u64) -> Option<&mut T> {
        self.position(id).and_then(|at| self.values.get_mut(at))
    }

    /// Start loading the slot where a probe for `id` begins (a hint; see
    /// the module docs). Cheap: one hash, no waiting on memory.
    #[inline(always)]
    pub(crate) fn prefetch(&self, id: u64) {
        if !self.slots.is_empty() {
            crate::memory_hint::prefetch_read(&self.slots[self.home(id)]);
        }
        if !self.old.is_empty() {
            let home = home_in(&self.hasher, self.old.len(), id);
            crate::memory_hint::prefetch_read(&self.old[home]);
        }
    }

    /// Start loading the value with `id`, if its slot is the probe's first
    /// (the usual case): best called some events after
    /// [`prefetch`](Self::prefetch), when the slot is in cache, since it
    /// reads the slot. A hint: a miss or a longer probe loads nothing.
    #[inline(always)]
    pub(crate) fn prefetch_value(&self, id: u64) {
        let mut slot = Slot::default();
        if !self.slots.is_empty() {
            let home = self.home(id);
            if self.readable(home) {
                slot = self.slots[home];
            }
        }
        if slot.id != id && !self.old.is_empty() {
            slot = self.old[home_in(&self.hasher, self.old.len(), id)];
        }
        if slot.id == id {
            if let Some(value) = self.values.get(slot.at as usize) {
                crate::memory_hint::prefetch_read(value);
            }
        }
    }

    /// Insert `value` unless its id is taken (or is 0): `true` when it was
    /// inserted, `false` when nothing changed.
    pub(crate) fn insert_new(&mut self, value: T) -> bool {
        let id = value.id();
        if id == 0 {
            return false;
        }
        self.reserve(1);
        let slot = Slot {
            id,
            at: self.values.len() as u64,
        };
        if self.old.is_empty() {
            let mut i = self.home(id);
            loop {
                match self.slots[i].id {
                    0 => break,
                    found if found == id => return false,
                    _ => i = self.next(i),
                }
            }
            self.slots[i] = slot;
        } else if !self.insert_while_draining(slot) {
            return false;
        }
        // Within capacity (reserved above): no allocation here.
        self.values.push(value);
        self.drain(DRAIN_PER_OP);
        true
    }

    /// Remove and return the value with `id`.
    pub(crate) fn remove(&mut self, id: u64) -> Option<T> {
        if id == 0 {
            return None;
        }
        let at = match self.find(id) {
            Some(hole) => {
                let at = self.slots[hole].at as usize;
                self.unlink(hole);
                at
            }
            None => {
                // Still in the table being drained: its slot stays taken
                // (other probes pass through it) but holds no id.
                let i = find_in(&self.hasher, &self.old, id, every_slot)?;
                let at = self.old[i].at as usize;
                self.old[i] = LEFT;
                at
            }
        };
        // The last value takes the removed one's place; its slot follows.
        let removed = self.values.swap_remove(at);
        debug_assert!(removed.is_some(), "every slot points at a value");
        if let Some(moved) = self.values.get(at) {
            let moved = moved.id();
            let slot = self.locate(moved);
            debug_assert!(slot.is_some(), "every stored value has a slot");
            if let Some(slot) = slot {
                slot.at = at as u64;
            }
        }
        self.drain(DRAIN_PER_OP);
        removed
    }

    /// Insert `slot` (a new id's) while the old index drains: `false`
    /// when the id is already in either. It goes into the old index when
    /// its probe there ends where the drain has not been yet, so the drain
    /// moves it in order with the rest; otherwise into the new index,
    /// where its home is next to slots the drain has already written (see
    /// the module docs).
    #[cold]
    #[inline(never)]
    fn insert_while_draining(&mut self, slot: Slot) -> bool {
        if find_in(&self.hasher, &self.old, slot.id, every_slot).is_some()
            || self.find(slot.id).is_some()
        {
            return false;
        }
        let mask = self.old.len() - 1;
        let home = home_in(&self.hasher, self.old.len(), slot.id);
        if home >= self.drained {
            let mut i = home;
            // Terminates: the old index keeps empty slots (see
            // `DRAIN_PER_OP`). A slot an entry left is free to take.
            while self.old[i].id != 0 {
                i = (i + 1) & mask;
            }
            // Past the end and back into the drained part: the drain
            // would never reach it there.
            if i >= self.drained {
                self.old[i] = slot;
                return true;
            }
        }
        self.place(slot);
        true
    }

    /// Empty slot `hole` of the index by backward shift: pull later
    /// members of the probe run into the hole when their home does not
    /// lie cyclically in (hole, j], so every remaining id stays reachable
    /// from its home without gaps.
    fn unlink(&mut self, mut hole: usize) {
        let mask = self.slots.len() - 1;
        // Decided once: the written-page check only while growing.
        let growing = !self.old.is_empty();
        let mut j = self.next(hole);
        while (!growing || self.written.has(j)) && self.slots[j].id != 0 {
            let home = self.home(self.slots[j].id);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
            j = self.next(j);
        }
        self.slots[hole] = Slot::default();
    }

    /// Move up to `count` slots of the table being drained into the
    /// index; drop the drained table once empty.
    #[inline]
    fn drain(&mut self, count: usize) {
        if self.old.is_empty() {
            return;
        }
        self.drain_some(count);
    }

    #[cold]
    #[inline(never)]
    fn drain_some(&mut self, count: usize) {
        let end = self.old.len().min(self.drained.saturating_add(count));
        for i in self.drained..end {
            let slot = self.old[i];
            // An empty slot stays empty: probes ended there before.
            if slot.id != 0 {
                self.place(slot);
                self.old[i] = LEFT;
            }
        }
        self.drained = end;
        if end == self.old.len() {
            self.old = Box::new([]);
            self.drained = 0;
            self.written = Written::default();
            // Written through: lookups land anywhere in it from now on.
            crate::memory_hint::advise_huge_pages_slice(&mut self.slots);
        }
    }

    /// Make room for `more` values without growing again.
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
    /// a panic when the memory cannot be had; the table is then unchanged
    /// (but for spare capacity it may have gained).
    #[inline]
    pub(crate) fn try_reserve(&mut self, more: usize) -> Result<(), TryReserveError> {
        let wanted = self.values.len().saturating_add(more);
        // The check every insert makes: room already.
        if wanted.saturating_mul(8) <= self.slots.len() * 5 && wanted <= self.values.capacity() {
            return Ok(());
        }
        self.grow(wanted, more == 1)
    }

    /// Grow to hold `wanted` values. One more (an insert outgrowing the
    /// index) starts a new index of at least twice the slots and leaves
    /// the old one to be drained a few slots per write: no insert pays for
    /// moving the whole index, and the new slots are zero pages until
    /// written. A larger reservation, made when a table is set up,
    /// rebuilds the index at once and faults in the pages of the room it
    /// made, so the writes that fill it later do not pay for them.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, wanted: usize, one_more: bool) -> Result<(), TryReserveError> {
        if wanted > self.values.capacity() {
            // Whole chunks: nothing stored moves.
            self.values.try_reserve(wanted - self.values.len())?;
            if !one_more {
                self.values.prefault_spare();
            }
        }
        if wanted.saturating_mul(8) > self.slots.len() * 5 {
            // A count beyond any table asks for `usize::MAX` slots, which
            // the allocation refuses with the standard capacity-overflow
            // error.
            let count = slots_for(wanted).unwrap_or(usize::MAX);
            if one_more && self.old.is_empty() && !self.slots.is_empty() {
                let mut slots = empty_slots(count)?;
                // Written in order while it drains (module docs).
                crate::memory_hint::advise_small_pages_slice(&mut slots);
                self.written = Written::none(&slots);
                self.old = std::mem::replace(&mut self.slots, slots);
                self.drained = 0;
            } else {
                let mut slots = empty_slots(count)?;
                // Lookups land anywhere in it: on huge pages, no page
                // walk (the kernel allows them in `madvise` mode).
                crate::memory_hint::advise_huge_pages_slice(&mut slots);
                crate::memory_hint::prefault(&mut slots);
                self.rehash(slots);
            }
        }
        Ok(())
    }

    /// Move every entry, from the index and from one being drained, into
    /// `slots` (empty, a power of two, with room for them all): each entry
    /// is placed once, and no drain is left.
    fn rehash(&mut self, slots: Box<[Slot]>) {
        let index = std::mem::replace(&mut self.slots, slots);
        let draining = std::mem::take(&mut self.old);
        self.drained = 0;
        self.written = Written::default();
        for slot in index.iter().chain(draining.iter()).filter(|s| s.id != 0) {
            place(&self.hasher, &mut self.slots, *slot, every_slot);
        }
    }

    /// Every value, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.values.iter()
    }

    /// The values as they are now, in no particular order, shared with
    /// the table until it next writes them ([`Chunked::freeze`]).
    pub(crate) fn freeze(&self) -> FrozenChunks<T> {
        self.values.freeze()
    }
}

/// The slot count that holds `values` at most 5/8 full: a power of two,
/// at least [`MIN_SLOTS`] (0 for none); `None` beyond `usize`.
fn slots_for(values: usize) -> Option<usize> {
    if values == 0 {
        return Some(0);
    }
    let needed = values.checked_mul(8)?.div_ceil(5);
    needed.max(MIN_SLOTS).checked_next_power_of_two()
}

/// `len` empty slots; the allocation error if the memory cannot be had.
/// Zeroed by the allocator (fresh pages from the kernel for a large
/// index, zero until written), so a new index is not written through
/// before it is used. The caller says which pages it wants: huge ones
/// for an index that lookups land anywhere in (with 4 KiB pages each
/// would also miss the TLB), small ones for one written in order.
fn empty_slots(len: usize) -> Result<Box<[Slot]>, TryReserveError> {
    match bytemuck::allocation::try_zeroed_slice_box::<Slot>(len) {
        Ok(slots) => Ok(slots),
        // The allocator's answer does not say why: ask again the way
        // `Vec` does, for its error.
        Err(()) => {
            let mut v: Vec<Slot> = Vec::new();
            v.try_reserve_exact(len)?;
            v.resize(len, Slot::default());
            Ok(v.into_boxed_slice())
        }
    }
}

#[cold]
#[inline(never)]
fn cannot_grow(error: &TryReserveError) -> ! {
    panic!("the id table cannot grow: {error}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shop::domain::{Name, Product};
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

    /// Every slot points at its value, and every value has its slot (in
    /// the index or the one being drained).
    fn check(table: &IdTable<Product>) {
        let used: Vec<&Slot> = table
            .slots
            .iter()
            .chain(table.old.iter())
            .filter(|s| s.id != 0)
            .collect();
        assert_eq!(used.len(), table.values.len());
        for slot in used {
            assert_eq!(
                table.values.get(slot.at as usize).map(|v| v.id),
                Some(slot.id)
            );
        }
        assert!(table.slots.len() * 5 >= table.len() * 8);
        if !table.old.is_empty() {
            // A page the growing index never wrote is read as empty.
            assert!(table
                .slots
                .iter()
                .enumerate()
                .all(|(i, s)| table.written.has(i) || (s.id, s.at) == (0, 0)));
        }
    }

    #[test]
    fn reserving_keeps_every_product_and_spares_later_growth() {
        let mut table = IdTable::default();
        for id in 1..=100 {
            assert!(table.insert_new(product(id, id)));
        }
        table.try_reserve(10_000).unwrap();
        let slots = table.slots.len();
        assert!(slots * 5 >= 10_100 * 8);
        for id in 101..=10_100 {
            assert!(table.insert_new(product(id, id)));
        }
        assert_eq!(table.slots.len(), slots, "no growth within the reservation");
        assert!((1..=10_100).all(|id| table.get(id).map(|p| p.price_cents) == Some(id)));
        let capacity = table.values.capacity();
        for id in 10_101..=capacity as u64 + 1 {
            assert!(table.insert_new(product(id, id)));
        }
        assert!(table.values.capacity() > capacity, "the values grew too");
        check(&table);
        assert!(table.try_reserve(usize::MAX).is_err());
        assert_eq!(
            table.len(),
            capacity + 1,
            "a refused reservation changes nothing"
        );
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
            let mut table = IdTable::default();
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
                check(&table);
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
        let mut table = IdTable::default();
        for id in 1..=10_000 {
            assert!(table.insert_new(product(id, id)));
        }
        check(&table);
        for id in (1..=10_000).step_by(2) {
            assert_eq!(table.remove(id).map(|p| p.price_cents), Some(id));
        }
        assert_eq!(table.len(), 5_000);
        check(&table);
        for id in 1..=10_000 {
            assert_eq!(table.get(id).is_some(), id % 2 == 0, "id {id}");
        }
    }

    #[test]
    fn writes_while_the_index_is_drained_find_every_product() {
        let mut table = IdTable::default();
        let mut model: HashMap<u64, Product> = HashMap::new();
        let mut drains = 0;
        let mut id = 0u64;
        // Ids in a spread-out order, so probe runs in both tables mix.
        let mut next_id = || {
            id += 1;
            id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40 | 1
        };
        for round in 0..20_000u64 {
            let fresh = next_id();
            assert_eq!(
                table.insert_new(product(fresh, round)),
                !model.contains_key(&fresh)
            );
            model.entry(fresh).or_insert(product(fresh, round));
            if !table.old.is_empty() {
                drains += 1;
                // A removal of an id still in the old table, and one
                // already moved, both while draining.
                let victim = table.old.iter().find(|s| s.id != 0).map(|s| s.id);
                for gone in victim.into_iter().chain(Some(fresh)) {
                    assert_eq!(table.remove(gone), model.remove(&gone));
                }
                if let Some(p) = model.values().next().copied() {
                    assert_eq!(table.get(p.id), Some(&p));
                }
            }
        }
        assert!(
            drains > 100,
            "the index grew incrementally ({drains} writes while draining)"
        );
        check(&table);
        assert_eq!(table.len(), model.len());
        assert!(model.iter().all(|(id, p)| table.get(*id) == Some(p)));
    }

    /// While the index grows, its new index is written only next to where
    /// the drain has been (or in the last page of each half, where probe
    /// runs wrap): its pages are first written in order, as the drain
    /// sweeps, not all within the first few writes.
    #[test]
    fn a_growing_index_is_written_in_the_drain_order() {
        let mut table = IdTable::default();
        let mut model: HashMap<u64, Product> = HashMap::new();
        let mut id = 0u64;
        let mut next_id = || {
            id += 1;
            id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 16 | 1
        };
        while table.slots.len() < 1 << 14 || !table.old.is_empty() {
            let p = product(next_id(), 1);
            assert!(table.insert_new(p));
            model.insert(p.id, p);
        }
        let mut writes = 0usize;
        while writes == 0 || !table.old.is_empty() {
            let p = product(next_id(), 2);
            assert!(table.insert_new(p));
            model.insert(p.id, p);
            if table.old.is_empty() {
                continue;
            }
            writes += 1;
            if writes.is_multiple_of(5) {
                // A removal from the part not yet drained: the slot it
                // leaves may take a later insert.
                let gone = table.old[table.drained..].iter().find(|s| s.id != 0);
                if let Some(gone) = gone.map(|s| s.id) {
                    assert_eq!(table.remove(gone), model.remove(&gone));
                    writes += 1;
                }
            }
            check(&table);
            let half = table.old.len();
            let reach = table.drained + PAGE_SLOTS;
            for (i, slot) in table.slots.iter().enumerate() {
                let at = i % half;
                assert!(
                    slot.id == 0 || at < reach || at >= half - PAGE_SLOTS,
                    "slot {i} of {} written with the drain at {}",
                    table.slots.len(),
                    table.drained
                );
            }
        }
        // Checked after every write of the drain but the one that ended it.
        assert_eq!(writes + 1, (1 << 14) / DRAIN_PER_OP);
        check(&table);
        assert_eq!(table.len(), model.len());
        assert!(model.iter().all(|(id, p)| table.get(*id) == Some(p)));
    }

    #[test]
    fn a_reservation_while_draining_keeps_every_product_and_ends_the_drain() {
        let mut table = IdTable::default();
        let mut id = 0;
        while table.old.is_empty() {
            id += 1;
            assert!(table.insert_new(product(id, id)));
        }
        table.reserve(10 * id as usize);
        assert!(table.old.is_empty(), "the drain ended");
        check(&table);
        assert!((1..=id).all(|i| table.get(i).map(|p| p.price_cents) == Some(i)));
    }

    #[test]
    fn id_zero_is_never_stored() {
        let mut table = IdTable::default();
        assert!(!table.insert_new(product(0, 1)));
        assert!(table.get(0).is_none());
        assert!(table.insert_new(product(7, 1)));
        assert!(table.get(0).is_none(), "an empty slot is not product 0");
        assert!(table.remove(0).is_none());
        table.prefetch(0);
        table.prefetch_value(0);
        table.prefetch_value(7);
        table.prefetch_value(8);
        assert_eq!(table.len(), 1);
    }
}
