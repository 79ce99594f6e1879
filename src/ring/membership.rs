//! Who is attached to the ring: consumer slots (allocated, started,
//! released, evicted when their process died) and producer slots
//! (registered, unregistered, their abandoned claims unblocked). The
//! liveness answers come from the ring's [`Liveness`](super::Liveness); this
//! file only acts on them.

use super::{DeadConsumer, RingBuffer, UNBLOCKED};
use crate::region::token::pid_of;
use crate::region::MAX_CONSUMERS;
#[cfg(not(loom))]
use crate::region::MAX_PRODUCERS;
use crate::sync::{fence, Ordering};

impl<E> RingBuffer<E> {
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
}

impl<E: bytemuck::Pod + Send> RingBuffer<E> {
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

    /// Start consumer `slot` at sequence `from` (it reads `from` next),
    /// gating producers, if `from` is still in the ring: not yet
    /// overwritable, between the slowest gating consumer and the cursor.
    /// Otherwise the slot is left allocated but not started, and the
    /// range that was in the ring comes back as `Err((oldest, cursor))`.
    ///
    /// Why the slowest gating consumer bounds it: a producer that has not
    /// yet seen this slot gate claims at most up to a minimum it read
    /// before plus the capacity. The `SeqCst` loads here come after this
    /// slot's gate in the `SeqCst` order, and a producer's minimum that
    /// missed the gate was read before it (`min_gating_slot` checks the
    /// mask again after the sequences), so they see the same sequences at
    /// least as far along: `from` at or above their minimum is at or
    /// above the producer's. Claims after the producer sees the gate wait
    /// for this slot.
    pub(crate) fn start_consumer_at(&self, slot: usize, from: u64) -> Result<(), (u64, u64)> {
        let control = self.region.control();
        let bit = 1u64 << slot;
        control.consumers[slot].set(from);
        // SeqCst with the fence below: the Dekker pair of `start_consumer`
        // for the cursor, and the order `min_gating_slot` relies on.
        control.shared.gating_mask.fetch_or(bit, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let cursor = self.cursor_seq().get();
        // SeqCst: see above.
        let mut others = control.shared.gating_mask.load(Ordering::SeqCst) & !bit;
        let mut oldest = cursor;
        while others != 0 {
            let other = others.trailing_zeros() as usize;
            others &= others - 1;
            // SeqCst: see above.
            oldest = oldest.min(control.consumers[other].get_seqcst());
        }
        if from < oldest || from > cursor {
            // Release: as in `release_consumer`; we read no slot.
            control
                .shared
                .gating_mask
                .fetch_and(!bit, Ordering::Release);
            return Err((oldest, cursor));
        }
        // Release: pairs with the Acquire in `consumer_count`.
        control
            .shared
            .attached_mask
            .fetch_or(bit, Ordering::Release);
        Ok(())
    }

    /// Make consumer `slot` gate producers (a stage whose last dependent
    /// left). Its sequence is at or ahead of every stage after it, so the
    /// producers' minimum does not drop.
    pub(crate) fn gate_consumer(&self, slot: usize) {
        // SeqCst: ordered before the dependent's release that follows
        // (pairs with the Acquire mask read in `min_gating_slot`), so a
        // producer never sees neither gate.
        self.region
            .control()
            .shared
            .gating_mask
            .fetch_or(1 << slot, Ordering::SeqCst);
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
}
