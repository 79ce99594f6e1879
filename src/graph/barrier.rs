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
    /// `next`.
    #[inline(always)]
    pub(crate) fn available(&self, next: u64) -> u64 {
        match &*self.upstream {
            [] => self.ring.published(next),
            // Acquire (in `get`): pairs with the upstream stage's Release
            // after its batch, so its effects on shared state are visible.
            [one] => self.ring.consumer(*one).get(),
            many => many
                .iter()
                .map(|&slot| self.ring.consumer(slot).get())
                .min()
                .unwrap_or(0),
        }
    }

    /// Wait until at least `next + 1` events are readable; returns the
    /// count readable.
    /// What is available beyond `next`, or the wait channel of the
    /// sequence that holds us back (the cursor, or the lagging upstream).
    #[inline]
    fn available_or_blocker(&self, next: u64) -> Result<u64, usize> {
        let (available, channel) = match &*self.upstream {
            [] => (self.ring.published(next), crate::wait::CURSOR),
            // Acquire (in `get`): as in `available`.
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
        };
        if available > next {
            Ok(available)
        } else {
            Err(channel)
        }
    }

    #[inline]
    pub(crate) fn wait_for(&self, next: u64, deadline: Option<Instant>) -> Result<u64, WaitError> {
        let available = self.available(next);
        if available > next {
            return Ok(available);
        }
        self.ring.waiter().wait_until(
            || self.available_or_blocker(next),
            self.ring.alerted(),
            deadline,
        )
    }
}
