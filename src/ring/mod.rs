//! [`RingBuffer`]: the slots and counters of one ring, and the only code
//! that touches slot memory.
//!
//! Slot `seq & mask` holds the event with sequence `seq`. Who may touch a
//! slot is decided by the sequencing protocol, not by this type:
//!
//! * a producer writes slot `s` only between claiming `s` (so every gating
//!   consumer has processed `s - capacity`) and publishing it;
//! * a consumer reads slot `s` only after seeing it published (`cursor > s`
//!   for one producer, the availability flag for several) and before
//!   advancing its own sequence past `s`.
//!
//! Those two rules make slot access data-race free; the loom models in
//! `tests/loom.rs` check them with loom's tracked `UnsafeCell`.

use crate::config::RingConfig;
use crate::error::ConfigError;
use crate::region::{Region, RegionHeader, MAX_CONSUMERS};
use crate::sequence::Sequence;
use crate::sync::{AtomicBool, Ordering};
use crate::wait::Waiter;
use crossbeam_utils::CachePadded;

/// A disruptor ring buffer of `E` events in a mapped region.
///
/// Created by [`GraphBuilder`](crate::GraphBuilder), shared by its producers
/// and consumers; applications see it through
/// [`Graph::ring`](crate::Graph::ring) to read counters.
///
/// `Send + Sync`: every field is either immutable or an atomic.
///
/// # Examples
///
/// ```
/// use ringmaster::{GraphBuilder, NoopHandler, RingConfig};
///
/// let mut builder = GraphBuilder::<u64>::new(RingConfig::new(8));
/// builder.handler("sink", NoopHandler).add();
/// let (mut producer, graph) = builder.build_single_producer()?;
/// producer.publish(42)?;
/// assert_eq!(graph.ring().capacity(), 8);
/// assert_eq!(graph.ring().cursor(), 1);
/// graph.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RingBuffer<E> {
    region: Region<E>,
    /// `capacity - 1`; capacity is a power of two.
    mask: u64,
    capacity: u64,
    /// `log2(capacity)`: `seq >> shift` is the lap ("round") of `seq`.
    shift: u32,
    waiter: Waiter,
    /// Pause hints a stage spins after a small batch (see RingConfig).
    gather_pauses: u32,
    /// Set once by `alert`; never cleared.
    alerted: CachePadded<AtomicBool>,
}

impl<E> RingBuffer<E> {
    /// Halt: every wait returns `Alerted` from now on.
    pub(crate) fn alert(&self) {
        // Release: pairs with the Acquire in `wait::interrupted` and
        // `is_halted`, so whatever was recorded before halting is visible.
        self.alerted.store(true, Ordering::Release);
        self.waiter.wake_all();
    }
}

impl<E: bytemuck::Pod + Send> RingBuffer<E> {
    pub(crate) fn new(config: &RingConfig, multi_producer: bool) -> Result<Self, ConfigError> {
        let layout = config.layout::<E>(multi_producer)?;
        let region = Region::anonymous(layout, config.type_fingerprint())?;
        let capacity = layout.capacity;
        Ok(Self {
            region,
            mask: capacity - 1,
            capacity,
            shift: capacity.trailing_zeros(),
            waiter: Waiter::new(config.strategy(), 1 + MAX_CONSUMERS),
            gather_pauses: config.gather(),
            alerted: CachePadded::new(AtomicBool::new(false)),
        })
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Whether several producers may publish (the multi-producer sequencer).
    pub fn is_multi_producer(&self) -> bool {
        self.region.layout().multi_producer
    }

    /// The producer cursor: events published (single producer) or claimed
    /// (multi-producer) so far.
    pub fn cursor(&self) -> u64 {
        self.cursor_seq().get_relaxed()
    }

    /// Events the slowest gating consumer has processed.
    pub fn min_consumer_sequence(&self) -> u64 {
        self.min_gating()
    }

    /// The region header, as another process would decode it.
    pub fn header(&self) -> RegionHeader {
        self.region.header()
    }

    /// Whether the ring was halted (by `halt`, shutdown, or a handler panic
    /// under [`PanicPolicy::Halt`](crate::PanicPolicy::Halt)).
    pub fn is_halted(&self) -> bool {
        // Acquire: pairs with the Release in `alert`.
        self.alerted.load(Ordering::Acquire)
    }

    #[inline(always)]
    pub(crate) fn cursor_seq(&self) -> &Sequence {
        &self.region.control().cursor
    }

    #[inline(always)]
    pub(crate) fn consumer(&self, slot: usize) -> &Sequence {
        debug_assert!(slot < MAX_CONSUMERS);
        &self.region.control().consumers[slot]
    }

    #[inline(always)]
    pub(crate) fn waiter(&self) -> &Waiter {
        &self.waiter
    }

    /// Pause hints a stage spins after a small batch.
    #[inline(always)]
    pub(crate) fn gather_pauses(&self) -> u32 {
        self.gather_pauses
    }

    #[inline(always)]
    pub(crate) fn alerted(&self) -> &AtomicBool {
        &self.alerted
    }

    /// Make consumer `slot` gate producers (set before any producer runs).
    pub(crate) fn add_gating(&self, slot: usize) {
        let bit = 1u64 << slot;
        let shared = &self.region.control().shared;
        // AcqRel: the mask is read by producers with Acquire in
        // `min_gating`; the consumer's sequence was initialised before.
        shared.allocated_mask.fetch_or(bit, Ordering::AcqRel);
        shared.gating_mask.fetch_or(bit, Ordering::AcqRel);
    }

    /// Events processed by the slowest gating consumer (the slow path of a
    /// claim, taken only when the cached value says "maybe full").
    #[inline]
    pub(crate) fn min_gating(&self) -> u64 {
        self.min_gating_slot().0
    }

    /// The slowest gating consumer's progress and slot (slot 0 when none
    /// gates).
    #[inline]
    pub(crate) fn min_gating_slot(&self) -> (u64, usize) {
        let control = self.region.control();
        // Acquire: pairs with the AcqRel in `add_gating`.
        let mut mask = control.shared.gating_mask.load(Ordering::Acquire);
        let (mut min, mut at) = (u64::MAX, 0);
        while mask != 0 {
            let slot = mask.trailing_zeros() as usize;
            // Acquire (in `get`): pairs with the consumer's Release `set`
            // after it finished reading the slots, so our later writes to
            // those slots cannot race its reads.
            let seen = control.consumers[slot].get();
            if seen < min {
                (min, at) = (seen, slot);
            }
            mask &= mask - 1;
        }
        (min, at)
    }

    /// The availability flag value that marks `seq` as published.
    #[inline(always)]
    fn round_flag(&self, seq: u64) -> u32 {
        // Truncation intended: flags compare laps modulo 2^32, and a slot
        // is never more than one lap behind.
        ((seq >> self.shift) as u32).wrapping_add(1)
    }

    /// Multi-producer: mark `seq` published.
    #[inline(always)]
    pub(crate) fn mark_available(&self, seq: u64) {
        debug_assert!(self.is_multi_producer());
        let flag = self.round_flag(seq);
        // Release: publishes the slot write; pairs with the Acquire in
        // `is_available`.
        self.region.availability()[(seq & self.mask) as usize].store(flag, Ordering::Release);
    }

    /// Multi-producer: whether `seq` has been published.
    #[inline(always)]
    pub(crate) fn is_available(&self, seq: u64) -> bool {
        // Acquire: pairs with the Release in `mark_available`.
        self.region.availability()[(seq & self.mask) as usize].load(Ordering::Acquire)
            == self.round_flag(seq)
    }

    /// Multi-producer: the count of the contiguous published prefix of
    /// `[from, claimed)`: the first unpublished sequence, or `claimed`.
    #[inline]
    pub(crate) fn highest_published(&self, from: u64, claimed: u64) -> u64 {
        let mut seq = from;
        while seq < claimed && self.is_available(seq) {
            seq += 1;
        }
        seq
    }

    /// Count of events a first-stage consumer may read: for one producer the
    /// cursor; for several, the published prefix after `next`.
    #[inline(always)]
    pub(crate) fn published(&self, next: u64) -> u64 {
        let cursor = self.cursor_seq().get();
        if self.region.layout().multi_producer && cursor > next {
            self.highest_published(next, cursor)
        } else {
            cursor
        }
    }

    /// Write the slot of `seq` in place.
    ///
    /// # Safety
    ///
    /// The caller owns `seq`: it claimed it, every gating consumer has
    /// processed `seq - capacity` (so no consumer reads this slot), and it
    /// has not published it yet (so no consumer will until it does).
    #[inline(always)]
    pub(crate) unsafe fn write_slot<R>(&self, seq: u64, f: impl FnOnce(&mut E) -> R) -> R {
        self.region.slots()[(seq & self.mask) as usize].with_mut(|p| {
            // SAFETY: exclusive by the caller's contract; the pointer is
            // valid and aligned (region invariant) and E is Pod, so any
            // previous bytes are a valid E.
            f(unsafe { &mut *p })
        })
    }

    /// Call `f(seq, event)` for every `seq` in `from..to`, in order, until
    /// it returns `false`, with the slot base and mask loaded once (the
    /// batch loop's hot path). Returns the count read up to (exclusive).
    ///
    /// # Safety
    ///
    /// Every `seq` in the range is published (observed with Acquire) and
    /// the caller's consumer sequence, or one downstream of it that gates
    /// producers, is still `<= seq`, so no producer can reclaim the slots
    /// during the reads.
    #[inline(always)]
    pub(crate) unsafe fn read_range(
        &self,
        from: u64,
        to: u64,
        mut f: impl FnMut(u64, &E) -> bool,
    ) -> u64 {
        let slots = self.region.slots();
        debug_assert_eq!(slots.len() as u64, self.capacity);
        let base = slots.as_ptr();
        let mask = self.mask;
        for seq in from..to {
            // SAFETY: `seq & mask < capacity == slots.len()` (mask is
            // capacity - 1, capacity a power of two), so the cell is in
            // bounds.
            let cell = unsafe { &*base.add((seq & mask) as usize) };
            let more = cell.with(|p| {
                // SAFETY: published and not reclaimable, by the caller's
                // contract; pointer valid and aligned (region invariant).
                f(seq, unsafe { &*p })
            });
            if !more {
                return seq + 1;
            }
        }
        to
    }

    /// Call `f(seq, slot)` for every `seq` in `from..to` to write it in place.
    ///
    /// # Safety
    ///
    /// As [`RingBuffer::write_slot`], for every sequence in the range.
    #[inline(always)]
    pub(crate) unsafe fn write_range(&self, from: u64, to: u64, mut f: impl FnMut(u64, &mut E)) {
        let slots = self.region.slots();
        debug_assert_eq!(slots.len() as u64, self.capacity);
        let base = slots.as_ptr();
        let mask = self.mask;
        for seq in from..to {
            // SAFETY: in bounds, as in `read_range`.
            let cell = unsafe { &*base.add((seq & mask) as usize) };
            cell.with_mut(|p| {
                // SAFETY: claimed and unpublished, by the caller's contract;
                // pointer valid and aligned; E: Pod.
                f(seq, unsafe { &mut *p })
            });
        }
    }

    /// Give `&mut E` for a slot whose ownership the caller holds for `'a`.
    ///
    /// # Safety
    ///
    /// As [`RingBuffer::write_slot`], for the whole of `'a`, and no other
    /// reference to this slot exists during `'a`.
    #[cfg(not(loom))]
    #[inline(always)]
    #[allow(clippy::mut_from_ref)] // exclusivity comes from the claim, per the contract
    pub(crate) unsafe fn slot_mut(&self, seq: u64) -> &mut E {
        self.region.slots()[(seq & self.mask) as usize].with_mut(|p| {
            // SAFETY: exclusive for 'a by the caller's contract; valid,
            // aligned, initialised (E: Pod).
            unsafe { &mut *p }
        })
    }
}
