//! Slot access: the only code that reads or writes slot memory. Every
//! method that touches a slot takes the proof that it may, a [`Claimed`]
//! range to write or a [`Published`] range to read (see `range.rs`), and is
//! safe to call; the unsafe blocks below rely on those proofs and on the
//! region's invariant that the slots are valid, aligned `E`s.

use super::range::{Claimed, Published};
use super::RingBuffer;
use crate::sync::UnsafeCell;

impl<E: bytemuck::Pod + Send> RingBuffer<E> {
    /// The slot cell of `seq`, indexed without a bounds check: the mask
    /// already keeps the index below the capacity.
    #[inline(always)]
    fn cell(&self, seq: u64) -> &UnsafeCell<E> {
        let slots = self.region.slots();
        debug_assert_eq!(slots.len() as u64, self.capacity);
        // SAFETY: `seq & mask < capacity == slots.len()` (mask is
        // capacity - 1, capacity a power of two), so the index is in bounds.
        unsafe { slots.get_unchecked((seq & self.mask) as usize) }
    }

    /// Start fetching, for writing, the slot `ceil(64 / event size)` slots
    /// after `seq` (the next slot, for events of a line or more). The
    /// producer calls it with its next sequence after each publish: that
    /// slot starts at least a line past `seq`'s start, so it lies in the
    /// next line the producer fills (or the slot after, for larger events)
    /// and never in the line of `seq`'s start, which a smaller event may
    /// share with the slot just published that a consumer is reading. It
    /// is exclusive in the producer's cache when the write comes, so the
    /// write does not wait for the line's last reader.
    #[inline(always)]
    pub(crate) fn prefetch_for_write_after(&self, seq: u64) {
        let ahead = crate::memory_hint::CACHE_LINE.div_ceil(std::mem::size_of::<E>().max(1));
        // Not under loom: a model would count taking the pointer as an
        // access to the cell.
        #[cfg(not(loom))]
        self.cell(seq + ahead as u64)
            .with(|p| crate::memory_hint::prefetch_write(p.cast()));
        #[cfg(loom)]
        let _ = (seq, ahead);
    }

    /// Write the first slot of a claim in place (a claim of one event).
    ///
    /// # Panics
    ///
    /// When the claim is empty (a bug in the caller).
    #[inline(always)]
    pub(crate) fn write_claimed<R>(&self, claimed: &mut Claimed, f: impl FnOnce(&mut E) -> R) -> R {
        assert!(claimed.len() > 0, "writing an empty claim");
        self.cell(claimed.sequences().start).with_mut(|p| {
            // SAFETY: the claim holds this sequence (`Claimed`'s proof: no
            // consumer reads it until it is published) and is borrowed
            // mutably, so no other reference to the slot exists; the
            // pointer is valid and aligned (region invariant) and E is
            // Pod, so any previous bytes are a valid E.
            f(unsafe { &mut *p })
        })
    }

    /// Call `f(seq, slot)` for every sequence of a claim, to write it in
    /// place.
    #[inline(always)]
    pub(crate) fn fill_claimed(&self, claimed: &mut Claimed, mut f: impl FnMut(u64, &mut E)) {
        let slots = self.region.slots();
        debug_assert_eq!(slots.len() as u64, self.capacity);
        let base = slots.as_ptr();
        let mask = self.mask;
        for seq in claimed.sequences() {
            // SAFETY: in bounds: `seq & mask < capacity == slots.len()`.
            let cell = unsafe { &*base.add((seq & mask) as usize) };
            cell.with_mut(|p| {
                // SAFETY: claimed and unpublished (`Claimed`), the claim
                // mutably borrowed and each sequence visited once; pointer
                // valid and aligned; E: Pod.
                f(seq, unsafe { &mut *p })
            });
        }
    }

    /// The `i`-th slot of a claim, for as long as the claim is borrowed.
    ///
    /// # Panics
    ///
    /// When `i` is not below the claim's length.
    #[cfg(not(loom))]
    #[inline(always)]
    pub(crate) fn claimed_slot<'a>(&'a self, claimed: &'a mut Claimed, i: u64) -> &'a mut E {
        assert!(
            i < claimed.len(),
            "slot {i} outside a claim of {}",
            claimed.len()
        );
        self.cell(claimed.sequences().start + i).with_mut(|p| {
            // SAFETY: inside the claim (checked above), exclusive while the
            // claim is mutably borrowed for 'a; valid, aligned, E: Pod.
            unsafe { &mut *p }
        })
    }

    /// Every slot of a claim with its sequence, for as long as the claim
    /// is borrowed.
    #[cfg(not(loom))]
    #[inline(always)]
    pub(crate) fn claimed_slots<'a>(
        &'a self,
        claimed: &'a mut Claimed,
    ) -> impl Iterator<Item = (u64, &'a mut E)> + 'a {
        claimed.sequences().map(move |seq| {
            let slot = self.cell(seq).with_mut(|p| {
                // SAFETY: inside the claim and yielded once, so the `&mut`
                // are disjoint, and exclusive while the claim is mutably
                // borrowed for 'a; valid, aligned, E: Pod.
                unsafe { &mut *p }
            });
            (seq, slot)
        })
    }

    /// The event of `seq`, published, for a stage looking ahead in its
    /// batch.
    ///
    /// # Panics
    ///
    /// When `seq` is outside the published range (a bug in the caller).
    #[inline(always)]
    pub(crate) fn peek(&self, published: &Published, seq: u64) -> &E {
        assert!(published.contains(seq), "{seq} is not in the batch");
        self.cell(seq).with(|p| {
            // SAFETY: published and not reclaimable while the consumer
            // holds the range (`Published`'s proof); pointer valid and
            // aligned (region invariant).
            unsafe { &*p }
        })
    }

    /// Whether claims of producers that died were unblocked in this region
    /// (shared multi-producer rings only): their slots hold no event, and
    /// reads must pass them over, as a [`RingBuffer::batch`] does. One load
    /// per batch until the first such claim.
    #[inline(always)]
    pub(crate) fn has_unblocked_claims(&self) -> bool {
        self.region.layout().multi_producer
            // Relaxed: the flags of a range are Acquire-read after the
            // count was raised (see `unblock_dead_producers`).
            && self
                .region
                .control()
                .state
                .unblocked
                .load(crate::sync::Ordering::Relaxed)
                != 0
    }
}
