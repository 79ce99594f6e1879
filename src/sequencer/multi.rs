//! The multi-producer sequencer.

use super::{sealed, wait_for_room, ClaimWait, Sequencer};
use crate::error::TryClaimError;
use crate::ring::{Claimed, RingBuffer};

/// Sequencer for any number of producers (each [`MultiProducer`] clone has
/// its own).
///
/// [`MultiProducer`]: crate::MultiProducer
#[derive(Debug, Clone)]
pub struct MultiSequencer {
    /// Last seen minimum of the gating consumers, local to this producer.
    cached_gating: u64,
}

impl sealed::Sealed for MultiSequencer {}

impl Sequencer for MultiSequencer {
    fn for_ring<E: bytemuck::Pod + Send>(ring: &RingBuffer<E>) -> Self {
        Self {
            cached_gating: ring.min_gating().min(ring.cursor_seq().get()),
        }
    }

    #[inline]
    fn claim<E: bytemuck::Pod + Send>(
        &mut self,
        ring: &RingBuffer<E>,
        n: u64,
        wait: ClaimWait,
    ) -> Result<Claimed, TryClaimError> {
        let cursor = ring.cursor_seq();
        if wait == ClaimWait::Forever {
            // One RMW commits the claim; then wait for room if needed.
            let start = cursor.fetch_add(n);
            let end = start + n;
            let wrap = end.saturating_sub(ring.capacity());
            if wrap > self.cached_gating {
                let gating = ring.min_gating();
                self.cached_gating = if gating >= wrap {
                    gating
                } else {
                    wait_for_room(ring, wrap, None)?
                };
            }
            // The proof: the fetch_add gave these sequences to this claim
            // alone, and every gating consumer is at or past `wrap`.
            return Ok(Claimed::by_sequencer(start..end));
        }
        // A claim that may give up must not commit before it knows there is
        // room: compare-exchange.
        let mut current = cursor.get();
        loop {
            let end = current + n;
            let wrap = end.saturating_sub(ring.capacity());
            if wrap > self.cached_gating {
                let gating = ring.min_gating();
                self.cached_gating = if gating >= wrap {
                    gating
                } else {
                    match wait {
                        ClaimWait::Until(deadline) => wait_for_room(ring, wrap, Some(deadline))?,
                        _ => return Err(TryClaimError::Full),
                    }
                };
            }
            match cursor.compare_exchange(current, end) {
                // The proof: the exchange gave these sequences to this
                // claim alone, and every gating consumer is at or past `wrap`.
                Ok(_) => return Ok(Claimed::by_sequencer(current..end)),
                Err(found) => current = found,
            }
        }
    }

    #[inline]
    fn publish<E: bytemuck::Pod + Send>(&mut self, ring: &RingBuffer<E>, claimed: Claimed) {
        let range = claimed.sequences();
        // Published with the slots by the flags' Release.
        ring.stamp(range.start, range.end);
        for seq in range {
            ring.mark_available(seq);
        }
        ring.waiter().signal(crate::wait::CURSOR);
    }
}
