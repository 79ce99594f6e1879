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

mod batch;
mod producer_waits;

use crate::clock;
use crate::config::RingConfig;
use crate::error::ConfigError;
use crate::region::token::pid_of;
#[cfg(not(loom))]
use crate::region::MAX_PRODUCERS;
use crate::region::{Region, RegionHeader, MAX_CONSUMERS};
use crate::sequence::Sequence;
use crate::sync::{fence, AtomicBool, Ordering, UnsafeCell};
use crate::wait::Waiter;
use crossbeam_utils::CachePadded;
use producer_waits::ProducerWaits;

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
    /// Liveness rules, for a region shared with other processes.
    liveness: Option<Liveness>,
    /// Publish stamps: `every - 1` (sequences `s` with `s & mask == 0`
    /// are stamped), the table index mask and `log2(every)`; `every == 0`
    /// (`stamps_on` false) without stamps.
    stamp_every_mask: u64,
    stamp_index_mask: u64,
    stamp_shift: u32,
    stamps_on: bool,
    /// How long producers waited for room (instrumented rings only).
    producer_waits: ProducerWaits,
}

/// How a ring shared with other processes tells live owners from dead
/// ones: this process's token, the wait after which to ask, whether to
/// free a dead consumer's slot, and the question itself. The policy
/// (`shm::liveness`) fills it in; the ring only acts on the answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Liveness {
    /// How long a producer waits for room, or a consumer for a claimed
    /// slot to be published, before it checks who is alive.
    pub(crate) timeout: std::time::Duration,
    /// A dead consumer's slot is freed (the producers move on) rather than
    /// only reported.
    pub(crate) evict_dead_consumers: bool,
    /// This process's token (`region::token`).
    pub(crate) me: u64,
    /// Whether the process behind a token is dead. Cold paths only.
    pub(crate) is_dead: fn(u64) -> bool,
}

/// Bit 31 of an availability flag: the claim was abandoned by a dead
/// producer and unblocked; consumers pass over the slot without reading it.
const UNBLOCKED: u32 = 1 << 31;

/// A consumer slot whose process died, found by [`RingBuffer::reap_dead_consumers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeadConsumer {
    pub(crate) slot: usize,
    pub(crate) pid: u32,
}

impl<E> RingBuffer<E> {
    /// Liveness rules, for a shared region.
    pub(crate) fn liveness(&self) -> Option<&Liveness> {
        self.liveness.as_ref()
    }

    /// Give `slot` back: producers stop waiting for it, and another stage
    /// (of any process) may take it.
    pub(crate) fn release_consumer(&self, slot: usize) {
        let control = self.region.control();
        let bit = 1u64 << slot;
        // Release on all three: the stage finished reading slots before
        // producers may pass it (pairs with Acquire in `min_gating_slot`
        // and `allocate_consumer`).
        control
            .shared
            .attached_mask
            .fetch_and(!bit, Ordering::Release);
        control
            .shared
            .gating_mask
            .fetch_and(!bit, Ordering::Release);
        control.consumer_owners[slot].store(0, Ordering::Release);
        control
            .shared
            .allocated_mask
            .fetch_and(!bit, Ordering::Release);
    }

    /// Give a producer slot back.
    pub(crate) fn unregister_producer(&self, slot: usize) {
        if let Some(live) = &self.liveness {
            let _ = self.region.control().producer_owners[slot].compare_exchange(
                live.me,
                0,
                Ordering::AcqRel,
                Ordering::Relaxed,
            );
        }
    }

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
        Ok(Self::over(region, config, None))
    }

    /// A ring over an existing region (a shared file's mapping).
    pub(crate) fn over(region: Region<E>, config: &RingConfig, liveness: Option<Liveness>) -> Self {
        let capacity = region.layout().capacity;
        let every = region.layout().stamp_every;
        let entries = region.layout().stamp_entries();
        Self {
            stamp_every_mask: every.saturating_sub(1),
            stamp_index_mask: entries.saturating_sub(1),
            stamp_shift: every.trailing_zeros() % 64,
            stamps_on: every != 0,
            producer_waits: ProducerWaits::default(),
            region,
            mask: capacity - 1,
            capacity,
            shift: capacity.trailing_zeros(),
            waiter: Waiter::new(config.strategy(), 1 + MAX_CONSUMERS),
            gather_pauses: config.gather(),
            alerted: CachePadded::new(AtomicBool::new(false)),
            liveness,
        }
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

    /// The metrics sampling interval: 1 event in this many carries a
    /// publish stamp (`0`: the ring is not instrumented). A shared ring's
    /// creator chose it for every process.
    pub fn sampling(&self) -> u64 {
        if self.stamps_on {
            self.stamp_every_mask + 1
        } else {
            0
        }
    }

    /// How long producers of this process waited for room.
    pub(crate) fn producer_waits(&self) -> &ProducerWaits {
        &self.producer_waits
    }

    /// Stamp the sampled sequences of `from..to` with the time now. Called
    /// by the sequencers just before they publish the range, whose Release
    /// (cursor store or availability flags) publishes the stamps with it.
    #[inline(always)]
    pub(crate) fn stamp(&self, from: u64, to: u64) {
        let first = self.next_stamped(from);
        if first < to {
            self.stamp_sampled(first, to);
        }
    }

    /// The first sequence `>= from` that carries a stamp (`u64::MAX`
    /// when the ring keeps none).
    #[inline(always)]
    pub(crate) fn next_stamped(&self, from: u64) -> u64 {
        if self.stamps_on {
            from.saturating_add(self.stamp_every_mask) & !self.stamp_every_mask
        } else {
            u64::MAX
        }
    }

    #[inline(never)]
    fn stamp_sampled(&self, first: u64, to: u64) {
        let now = clock::now_ns();
        let stamps = self.region.stamps();
        let mut seq = first;
        while seq < to {
            if let Some(entry) =
                stamps.get(((seq >> self.stamp_shift) & self.stamp_index_mask) as usize)
            {
                // Relaxed: published by the Release that publishes `seq`
                // (the caller's), read after the matching Acquire.
                entry.store(now, Ordering::Relaxed);
            }
            seq += self.stamp_every_mask + 1;
        }
    }

    /// Call `f(seq, stamp)` for every sampled sequence in `from..to`. The
    /// caller has seen the range published and has not yet advanced its
    /// sequence past it, so no producer can restamp these entries (the
    /// table spans at least a lap: see `region::stamp_entries`).
    #[inline]
    pub(crate) fn sampled(&self, from: u64, to: u64, mut f: impl FnMut(u64, u64)) {
        let stamps = self.region.stamps();
        let mut seq = self.next_stamped(from);
        while seq < to {
            if let Some(entry) =
                stamps.get(((seq >> self.stamp_shift) & self.stamp_index_mask) as usize)
            {
                // Relaxed: see `stamp_sampled`; happens-before via the
                // caller's Acquire of the range.
                f(seq, entry.load(Ordering::Relaxed));
            }
            seq += self.stamp_every_mask + 1;
        }
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

    #[cfg(not(loom))] // shm, its only user, is not built under loom
    pub(crate) fn region(&self) -> &Region<E> {
        &self.region
    }

    /// Consumer stages attached and started (their sequences set, and
    /// gating producers where nothing depends on them).
    pub fn consumer_count(&self) -> usize {
        // Acquire: pairs with the Release in `start_consumer`: a caller
        // that sees the stage also sees its gating bit.
        let mask = self
            .region
            .control()
            .shared
            .attached_mask
            .load(Ordering::Acquire);
        mask.count_ones() as usize
    }

    /// Take a free consumer slot for a new stage, or `None` when all are
    /// taken. In a shared region the slot records this process as owner.
    pub(crate) fn allocate_consumer(&self) -> Option<usize> {
        let control = self.region.control();
        let allocated = &control.shared.allocated_mask;
        // Acquire: pairs with the Release in `release_consumer`, so the
        // previous owner's clean-up is complete before we reuse the slot.
        let mut current = allocated.load(Ordering::Acquire);
        loop {
            let slot = (!current).trailing_zeros() as usize;
            if slot >= MAX_CONSUMERS {
                return None;
            }
            // AcqRel: one winner per bit among racing allocators.
            match allocated.compare_exchange(
                current,
                current | (1 << slot),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if let Some(live) = &self.liveness {
                        // Release: pairs with the Acquire in
                        // `reap_dead_consumers`.
                        control.consumer_owners[slot].store(live.me, Ordering::Release);
                    }
                    return Some(slot);
                }
                Err(found) => current = found,
            }
        }
    }

    /// Start consumer `slot` at the current cursor and, for a stage no
    /// other stage depends on, make it gate producers.
    ///
    /// A ring with producers already running is safe to join: the slot
    /// gates before its start is read, with a `SeqCst` fence between (the
    /// producers' gating refresh fences too, see `min_gating_slot`), so
    /// either a producer sees the new gate or we see its cursor.
    pub(crate) fn start_consumer(&self, slot: usize, gating: bool) {
        let control = self.region.control();
        let sequence = &control.consumers[slot];
        let start = self.cursor_seq().get_relaxed();
        if start > sequence.get_relaxed() {
            sequence.set(start);
        }
        if gating {
            // SeqCst with the fence below: a store-load (Dekker) pair with
            // the producer's cursor store and fenced gating read.
            control
                .shared
                .gating_mask
                .fetch_or(1 << slot, Ordering::SeqCst);
        }
        fence(Ordering::SeqCst);
        let cursor = self.cursor_seq().get();
        if cursor > sequence.get_relaxed() {
            sequence.set(cursor);
        }
        // Release: pairs with the Acquire in `consumer_count`.
        control
            .shared
            .attached_mask
            .fetch_or(1 << slot, Ordering::Release);
    }

    /// Consumer slots owned by processes that died. Under
    /// [`DeadConsumerPolicy::Evict`](crate::shm::DeadConsumerPolicy::Evict)
    /// (`evict`), they are released and counted; otherwise only reported.
    /// Cold path: reads `/proc`.
    pub(crate) fn reap_dead_consumers(&self, evict: bool) -> Vec<DeadConsumer> {
        let control = self.region.control();
        let mut dead = Vec::new();
        let Some(live) = &self.liveness else {
            return dead;
        };
        // Acquire: pairs with the Release of the owner store.
        let mut mask = control.shared.allocated_mask.load(Ordering::Acquire);
        while mask != 0 {
            let slot = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if slot >= MAX_CONSUMERS {
                break;
            }
            let owner = control.consumer_owners[slot].load(Ordering::Acquire);
            if owner == 0 || owner == live.me || !(live.is_dead)(owner) {
                continue;
            }
            if evict {
                // One evicter per slot among racing processes.
                if control.consumer_owners[slot]
                    .compare_exchange(owner, 0, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    continue;
                }
                self.release_consumer(slot);
                control.state.evicted.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(slot, pid = pid_of(owner), "evicted a dead consumer");
            }
            dead.push(DeadConsumer {
                slot,
                pid: pid_of(owner),
            });
        }
        dead
    }

    /// Register a producer of this process; returns its producer slot.
    /// A single-producer ring has one slot; a multi-producer ring gives
    /// each registration its own. Slots of dead processes are taken over.
    ///
    /// # Errors
    ///
    /// The pid of a live holder (possibly this process) when no slot is
    /// free, or `None` when there was none to name.
    #[cfg(not(loom))] // shm, its only user, is not built under loom
    pub(crate) fn register_producer(&self) -> Result<usize, Option<u32>> {
        let Some(live) = &self.liveness else {
            return Ok(0);
        };
        let owners = &self.region.control().producer_owners;
        let slots = if self.is_multi_producer() {
            MAX_PRODUCERS
        } else {
            1
        };
        let mut holder = None;
        for (slot, owner) in owners.iter().enumerate().take(slots) {
            // Acquire: pairs with the AcqRel claims below and the Release
            // in `unregister_producer`.
            let mut current = owner.load(Ordering::Acquire);
            loop {
                if current != 0 && (current == live.me || !(live.is_dead)(current)) {
                    holder = Some(pid_of(current));
                    break;
                }
                // AcqRel: take the free or dead slot against racers.
                match owner.compare_exchange(current, live.me, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => {
                        if current != 0 {
                            // The dead holder may have left claims behind:
                            // record the death so consumers may unblock them.
                            self.region
                                .control()
                                .state
                                .producer_deaths
                                .fetch_add(1, Ordering::AcqRel);
                        }
                        return Ok(slot);
                    }
                    Err(found) => current = found,
                }
            }
        }
        Err(holder)
    }

    /// Multi-producer, shared: consumers at `next` have waited the
    /// liveness timeout for a claimed slot to be published. If a producer
    /// process has died (now or earlier in the region's life), it may have
    /// died between claim and publish; mark every still-unpublished claim
    /// in `next..claimed_before` as unblocked so consumers pass over it
    /// (Agrona's `unblock`). Returns how many.
    ///
    /// `claimed_before` is the cursor seen one liveness timeout ago: only
    /// claims at least that old are touched, so a live producer's claim in
    /// flight now is never unblocked under it. Only slots whose previous
    /// lap every gating consumer has finished are touched, so no slower
    /// consumer loses the flag it waits for. The flag is set by
    /// compare-exchange, so a publish that lands first is kept.
    pub(crate) fn unblock_dead_producers(&self, next: u64, claimed_before: u64) -> u64 {
        let Some(live) = &self.liveness else {
            return 0;
        };
        if !self.is_multi_producer() {
            return 0;
        }
        let control = self.region.control();
        for owner in &control.producer_owners {
            let token = owner.load(Ordering::Acquire);
            if token != 0 && token != live.me && (live.is_dead)(token) {
                // Its slot is free again; its claims are unblocked below.
                if owner
                    .compare_exchange(token, 0, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    control.state.producer_deaths.fetch_add(1, Ordering::AcqRel);
                    tracing::warn!(pid = pid_of(token), "a producer process died");
                }
            }
        }
        // A death found now, earlier by another consumer, or by a producer
        // that took the dead one's slot: only then can an old claim be
        // abandoned rather than slow.
        if control.state.producer_deaths.load(Ordering::Acquire) == 0 {
            return 0;
        }
        let limit = claimed_before.min(self.min_gating().saturating_add(self.capacity));
        let mut unblocked = 0;
        let flags = self.region.availability();
        for seq in next..limit {
            let flag = &flags[(seq & self.mask) as usize];
            let current = flag.load(Ordering::Acquire);
            if current & !UNBLOCKED == self.round_flag(seq) {
                continue;
            }
            // Count first (Relaxed RMW), then the Release CAS: a consumer
            // that Acquire-reads the mark also sees the count non-zero.
            control.state.unblocked.fetch_add(1, Ordering::Relaxed);
            if flag
                .compare_exchange(
                    current,
                    self.round_flag(seq) | UNBLOCKED,
                    Ordering::Release,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                unblocked += 1;
            }
        }
        if unblocked > 0 {
            tracing::warn!(
                from = next,
                count = unblocked,
                "unblocked claims of a dead producer"
            );
            self.waiter.signal(crate::wait::CURSOR);
        }
        unblocked
    }

    /// Claims unblocked and consumers evicted in this region so far.
    #[cfg(not(loom))] // shm, its only user, is not built under loom
    pub(crate) fn recovery_counts(&self) -> (u64, u64) {
        let state = &self.region.control().state;
        (
            state.unblocked.load(Ordering::Relaxed),
            state.evicted.load(Ordering::Relaxed),
        )
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
        // SeqCst fence: orders our earlier cursor store before the mask
        // read, pairing with the fence in `start_consumer` (a stage joining
        // a running ring). Only on this slow path, not per claim.
        fence(Ordering::SeqCst);
        // Acquire: pairs with the SeqCst RMW in `start_consumer` and the
        // Release in `release_consumer`.
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
        // Truncation intended: flags compare laps modulo 2^31 (bit 31 is
        // the unblocked mark), and a slot is never more than one lap behind.
        ((seq >> self.shift) as u32).wrapping_add(1) & !UNBLOCKED
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
        self.region.availability()[(seq & self.mask) as usize].load(Ordering::Acquire) & !UNBLOCKED
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

    /// Write the slot of `seq` in place.
    ///
    /// # Safety
    ///
    /// The caller owns `seq`: it claimed it, every gating consumer has
    /// processed `seq - capacity` (so no consumer reads this slot), and it
    /// has not published it yet (so no consumer will until it does).
    #[inline(always)]
    pub(crate) unsafe fn write_slot<R>(&self, seq: u64, f: impl FnOnce(&mut E) -> R) -> R {
        self.cell(seq).with_mut(|p| {
            // SAFETY: exclusive by the caller's contract; the pointer is
            // valid and aligned (region invariant) and E is Pod, so any
            // previous bytes are a valid E.
            f(unsafe { &mut *p })
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
            && self.region.control().state.unblocked.load(Ordering::Relaxed) != 0
    }

    /// The event in slot `seq`, for a stage looking ahead in its batch.
    ///
    /// # Safety
    ///
    /// As [`RingBuffer::batch`]: `seq` is published (observed with
    /// Acquire) and cannot be reclaimed while the reference lives.
    #[inline(always)]
    pub(crate) unsafe fn peek(&self, seq: u64) -> &E {
        self.cell(seq).with(|p| {
            // SAFETY: published and not reclaimable, by the caller's
            // contract; pointer valid and aligned (region invariant).
            unsafe { &*p }
        })
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
            // SAFETY: in bounds: `seq & mask < capacity == slots.len()`.
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
        self.cell(seq).with_mut(|p| {
            // SAFETY: exclusive for 'a by the caller's contract; valid,
            // aligned, initialised (E: Pod).
            unsafe { &mut *p }
        })
    }
}
