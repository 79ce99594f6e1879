//! The single-producer sequencer.

use super::{sealed, wait_for_room, ClaimWait, Sequencer};
use crate::error::TryClaimError;
use crate::ring::RingBuffer;
use std::ops::Range;

/// Sequencer for exactly one producer thread.
///
/// Producer-local state only: the next sequence to claim and the last seen
/// gating sequence. Both live in the producer's own cache lines.
#[derive(Debug)]
pub struct SingleSequencer {
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
}

impl sealed::Sealed for SingleSequencer {}

impl Sequencer for SingleSequencer {
    fn for_ring<E: bytemuck::Pod + Send>(ring: &RingBuffer<E>) -> Self {
        let cursor = ring.cursor_seq().get();
        Self {
            next: cursor,
            claim_limit: ring.min_gating().min(cursor) + ring.capacity(),
            next_stamp: ring.next_stamped(cursor),
        }
    }

    #[inline(always)]
    fn claim<E: bytemuck::Pod + Send>(
        &mut self,
        ring: &RingBuffer<E>,
        n: u64,
        wait: ClaimWait,
    ) -> Result<Range<u64>, TryClaimError> {
        let start = self.next;
        let end = start + n;
        // Slot reuse is safe once every gating consumer has processed
        // `end - capacity` events, i.e. while `end <= gating + capacity`.
        if end > self.claim_limit {
            let wrap = end - ring.capacity();
            self.claim_limit = self.refresh(ring, wrap, wait)? + ring.capacity();
        }
        self.next = end;
        Ok(start..end)
    }

    #[inline(always)]
    fn publish<E: bytemuck::Pod + Send>(&mut self, ring: &RingBuffer<E>, range: Range<u64>) {
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
    }
}

impl SingleSequencer {
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
