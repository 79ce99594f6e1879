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

impl<E> SequenceBarrier<E> {
    pub(crate) fn ring(&self) -> &Arc<RingBuffer<E>> {
        &self.ring
    }
}

impl<E: bytemuck::Pod + Send> SequenceBarrier<E> {
    pub(crate) fn new(ring: Arc<RingBuffer<E>>, upstream: Box<[usize]>) -> Self {
        Self { ring, upstream }
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

    /// Whether this consumer reads the producers' claims directly on a
    /// shared multi-producer ring, where a dead producer can leave a claim
    /// unpublished (see `RingBuffer::unblock_dead_producers`).
    pub(crate) fn may_meet_abandoned_claims(&self) -> bool {
        self.upstream.is_empty() && self.ring.is_multi_producer() && self.ring.liveness().is_some()
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
        match self.ring.liveness() {
            Some(liveness) if self.upstream.is_empty() && self.ring.is_multi_producer() => {
                self.wait_checking_producers(next, liveness.timeout, deadline)
            }
            _ => self
                .ring
                .waiter()
                .wait_until(ready, self.ring.alerted(), deadline),
        }
    }

    /// A first stage of a shared multi-producer ring waits in
    /// liveness-timeout chunks; when a claimed slot stays unpublished that
    /// long, it checks whether a producer process died mid-claim and
    /// unblocks its claims (see `RingBuffer::unblock_dead_producers`).
    #[cold]
    fn wait_checking_producers(
        &self,
        next: u64,
        timeout: std::time::Duration,
        deadline: Option<Instant>,
    ) -> Result<u64, WaitError> {
        // Claims made before this point will be a timeout old at the check.
        let mut claimed_before = self.ring.cursor();
        loop {
            let ready = || {
                let (available, channel) = self.progress(next);
                if available > next {
                    Ok(available)
                } else {
                    Err(channel)
                }
            };
            let check_at = Instant::now() + timeout;
            let until = deadline.map_or(check_at, |d| d.min(check_at));
            match self
                .ring
                .waiter()
                .wait_until(ready, self.ring.alerted(), Some(until))
            {
                Err(WaitError::Timeout) if deadline.is_none_or(|d| Instant::now() < d) => {
                    if claimed_before > next {
                        self.ring.unblock_dead_producers(next, claimed_before);
                    }
                    claimed_before = self.ring.cursor();
                }
                other => return other,
            }
        }
    }
}
