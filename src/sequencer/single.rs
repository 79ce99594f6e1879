//! The single-producer sequencer.

use super::{sealed, wait_for_room, ClaimWait, Sequencer};
use crate::error::TryClaimError;
use crate::ring::{Claimed, RingBuffer};

/// Sequencer for exactly one producer thread.
///
/// Producer-local state only: the next sequence to claim and the last seen
/// gating sequence. Both live in the producer's own cache lines.
#[derive(Debug)]
pub struct SingleSequencer {
    state: SingleState,
}

/// A single producer's whole state: plain values, so that a
/// [`Publisher`](crate::Publisher) can hold a copy in registers for a
/// caller's loop and write it back when done.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SingleState {
    /// Next sequence to claim; `>= ring.cursor()`, equal once published.
    next: u64,
    /// Last seen minimum of the gating consumers plus the capacity: claims
    /// ending at or below it need no look at the consumers (one compare
    /// per claim). `<= their true minimum + capacity`.
    claim_limit: u64,
    /// The next sequence that carries a publish stamp (`u64::MAX` when the
    /// ring keeps none): one compare per publish instead of the ring's
    /// arithmetic.
    next_stamp: u64,
    /// This copy was lent out (see [`SingleSequencer::lend`]) and may be
    /// behind the ring: rebuild it from the ring before the next claim.
    stale: bool,
}

impl sealed::Sealed for SingleSequencer {}

impl SingleSequencer {
    /// Hand the state to a publishing loop (see [`SingleState`]), which
    /// claims and publishes with its copy and gives it back with
    /// [`take_back`](Self::take_back). Until then the copy kept here is
    /// marked stale, with no room claimed: if the loop's copy is never
    /// given back (a leaked [`Publisher`](crate::Publisher)), the next
    /// claim goes the slow way and rebuilds the state from the ring's
    /// cursor (the loop published every claim), rather than claim
    /// sequences already published.
    #[inline(always)]
    pub(crate) fn lend(&mut self) -> SingleState {
        let lent = self.state;
        self.state.stale = true;
        self.state.claim_limit = 0;
        lent
    }

    /// Take back a state handed out by [`lend`](Self::lend), advanced.
    #[inline(always)]
    pub(crate) fn take_back(&mut self, state: SingleState) {
        self.state = state;
    }
}

impl Sequencer for SingleSequencer {
    fn for_ring<E: bytemuck::Pod + Send>(ring: &RingBuffer<E>) -> Self {
        let cursor = ring.cursor_seq().get();
        Self {
            state: SingleState {
                next: cursor,
                claim_limit: ring.min_gating().min(cursor) + ring.capacity(),
                next_stamp: ring.next_stamped(cursor),
                stale: false,
            },
        }
    }

    #[inline(always)]
    fn claim<E: bytemuck::Pod + Send>(
        &mut self,
        ring: &RingBuffer<E>,
        n: u64,
        wait: ClaimWait,
    ) -> Result<Claimed, TryClaimError> {
        self.state.claim(ring, n, wait)
    }

    #[inline(always)]
    fn publish<E: bytemuck::Pod + Send>(&mut self, ring: &RingBuffer<E>, claimed: Claimed) {
        self.state.publish(ring, claimed);
    }
}

impl SingleState {
    #[inline(always)]
    pub(crate) fn claim<E: bytemuck::Pod + Send>(
        &mut self,
        ring: &RingBuffer<E>,
        n: u64,
        wait: ClaimWait,
    ) -> Result<Claimed, TryClaimError> {
        // Slot reuse is safe once every gating consumer has processed
        // `end - capacity` events, i.e. while `end <= gating + capacity`.
        if self.next + n > self.claim_limit {
            // By value, not `&mut self`: a state whose address reached an
            // out-of-line call could no longer live in registers.
            *self = self.make_room(ring, n, wait)?;
        }
        let start = self.next;
        let end = start + n;
        self.next = end;
        // The proof: every gating consumer is at or past `end - capacity`
        // (`claim_limit`), and this state is the ring's one producer.
        Ok(Claimed::by_sequencer(start..end))
    }

    #[inline(always)]
    pub(crate) fn publish<E: bytemuck::Pod + Send>(
        &mut self,
        ring: &RingBuffer<E>,
        claimed: Claimed,
    ) {
        let range = claimed.sequences();
        debug_assert_eq!(range.end, self.next, "one claim outstanding at a time");
        if range.end > self.next_stamp {
            ring.stamp(range.start, range.end);
            self.next_stamp = ring.next_stamped(range.end);
        }
        // Release (in `set`): publishes the slot writes (and stamps);
        // pairs with the Acquire in `RingBuffer::published` on the
        // consumer side.
        ring.cursor_seq().set(range.end);
        ring.waiter().signal(crate::wait::CURSOR);
        // The next claim starts at `range.end`: have its line on the way,
        // so the next publish does not wait for it.
        ring.prefetch_for_write_after(range.end);
    }

    /// The slow way of a claim of `n`: rebuild a stale state from the
    /// ring, then look at the consumers again (waiting, as `wait` allows)
    /// until the claim fits under `claim_limit`.
    #[cold]
    #[inline(never)]
    fn make_room<E: bytemuck::Pod + Send>(
        mut self,
        ring: &RingBuffer<E>,
        n: u64,
        wait: ClaimWait,
    ) -> Result<Self, TryClaimError> {
        if self.stale {
            // Acquire (in `get`): our own last publish, whoever made it.
            let cursor = ring.cursor_seq().get();
            self.next = cursor;
            self.next_stamp = ring.next_stamped(cursor);
            self.stale = false;
        }
        let end = self.next + n;
        if end > self.claim_limit {
            let wrap = end - ring.capacity();
            self.claim_limit = self.refresh(ring, wrap, wait)? + ring.capacity();
        }
        Ok(self)
    }

    /// Wait for room up to `wrap` (see [`wait_for_room`]), as `wait` allows.
    #[cold]
    fn refresh<E: bytemuck::Pod + Send>(
        &self,
        ring: &RingBuffer<E>,
        wrap: u64,
        wait: ClaimWait,
    ) -> Result<u64, TryClaimError> {
        let gating = ring.min_gating();
        if gating >= wrap {
            return Ok(gating);
        }
        match wait {
            ClaimWait::Never => Err(TryClaimError::Full),
            ClaimWait::Forever => wait_for_room(ring, wrap, None),
            ClaimWait::Until(deadline) => wait_for_room(ring, wrap, Some(deadline)),
        }
    }
}
