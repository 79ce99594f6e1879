//! [`SequenceBarrier`]: how far a consumer may read.
//!
//! A first-stage consumer may read what producers published; a later
//! stage may read what all of its upstream stages processed (which is never
//! more than was published, so it needs no availability check).

use crate::error::WaitError;
use crate::ring::RingBuffer;
use crate::sync::Arc;
use std::time::Instant;

#[derive(Debug)]
pub(crate) struct SequenceBarrier<E> {
    ring: Arc<RingBuffer<E>>,
    /// Consumer slots of the upstream stages; empty = the producers.
    upstream: Box<[usize]>,
}

impl<E: bytemuck::Pod + Send> SequenceBarrier<E> {
    pub(crate) fn new(ring: Arc<RingBuffer<E>>, upstream: Box<[usize]>) -> Self {
        Self { ring, upstream }
    }

    pub(crate) fn ring(&self) -> &Arc<RingBuffer<E>> {
        &self.ring
    }

    /// Count of events readable now, for a consumer whose next sequence is
    /// `next`, and the wait channel of the sequence that bounds it (the
    /// cursor, or the slowest upstream stage).
    #[inline(always)]
    fn progress(&self, next: u64) -> (u64, usize) {
        match &*self.upstream {
            [] => (self.ring.published(next), crate::wait::CURSOR),
            // Acquire (in `get`): pairs with the upstream stage's Release
            // after its batch, so its effects on shared state are visible.
            [one] => (
                self.ring.consumer(*one).get(),
                crate::wait::consumer_channel(*one),
            ),
            many => many
                .iter()
                .map(|&slot| {
                    (
                        self.ring.consumer(slot).get(),
                        crate::wait::consumer_channel(slot),
                    )
                })
                .min()
                .unwrap_or((0, crate::wait::CURSOR)),
        }
    }

    /// Count of events readable now, for a consumer whose next sequence is
    /// `next`.
    #[inline(always)]
    pub(crate) fn available(&self, next: u64) -> u64 {
        self.progress(next).0
    }

    /// Wait until at least `next + 1` events are readable; returns the
    /// count readable.
    #[inline]
    pub(crate) fn wait_for(&self, next: u64, deadline: Option<Instant>) -> Result<u64, WaitError> {
        let ready = || {
            let (available, channel) = self.progress(next);
            if available > next {
                Ok(available)
            } else {
                Err(channel)
            }
        };
        if let Ok(available) = ready() {
            return Ok(available);
        }
        self.ring
            .waiter()
            .wait_until(ready, self.ring.alerted(), deadline)
    }
}
