//! [`SequenceBarrier`]: how far a consumer may read.
//!
//! A first-stage consumer may read what producers published; a later
//! stage may read what all of its upstream stages processed (which is never
//! more than was published, so it needs no availability check).

use crate::error::WaitError;
use crate::ring::{Published, RingBuffer};
use crate::sync::{Arc, AtomicBool, Ordering};
use crate::wait::Interrupted;
use std::time::Instant;

#[derive(Debug)]
pub(crate) struct SequenceBarrier<E> {
    ring: Arc<RingBuffer<E>>,
    /// Consumer slots of the upstream stages; empty = the producers.
    upstream: Box<[usize]>,
    /// For a stage that joined a running graph: set when it is asked to
    /// leave, which ends its waits (see [`SequenceBarrier::leaving`]).
    leave: Option<Arc<AtomicBool>>,
}

impl<E> SequenceBarrier<E> {
    pub(crate) fn ring(&self) -> &Arc<RingBuffer<E>> {
        &self.ring
    }
}

impl<E: bytemuck::Pod + Send> SequenceBarrier<E> {
    pub(crate) fn new(ring: Arc<RingBuffer<E>>, upstream: Box<[usize]>) -> Self {
        Self {
            ring,
            upstream,
            leave: None,
        }
    }

    /// A barrier whose waits also end, with nothing readable, once `leave`
    /// is set (a stage that may be detached from a running graph).
    pub(crate) fn leavable(
        ring: Arc<RingBuffer<E>>,
        upstream: Box<[usize]>,
        leave: Arc<AtomicBool>,
    ) -> Self {
        Self {
            ring,
            upstream,
            leave: Some(leave),
        }
    }

    /// Whether the stage was asked to leave.
    #[inline]
    pub(crate) fn leaving(&self) -> bool {
        // Acquire: pairs with the Release store of the detaching thread;
        // nothing else is published through the flag, it only ends waits.
        self.leave
            .as_ref()
            .is_some_and(|leave| leave.load(Ordering::Acquire))
    }

    /// Count of events readable now, for a consumer whose next sequence is
    /// `next`, and the wait channel of the sequence that bounds it (the
    /// cursor, or the slowest upstream stage).
    #[inline(always)]
    fn progress(&self, next: u64) -> (u64, usize) {
        self.progress_within(next, u64::MAX)
    }

    /// As `progress`, reading no availability flag at or past `limit`.
    #[inline(always)]
    fn progress_within(&self, next: u64, limit: u64) -> (u64, usize) {
        match &*self.upstream {
            [] => (self.ring.published_within(next, limit), crate::wait::CURSOR),
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

    /// What a consumer whose next sequence is `next` may read now: the
    /// published range from `next` on (possibly empty).
    #[inline(always)]
    pub(crate) fn available(&self, next: u64) -> Published {
        // The proof: `progress` read the cursor, the availability flags or
        // the upstream sequences with Acquire, and this consumer's sequence
        // stays at `next` until it is done with the range.
        Published::by_barrier(next, self.progress(next).0)
    }

    /// What a consumer whose next sequence is `next` may read now, looked
    /// for no further than `limit`: with several producers, only the
    /// flags of `next..limit` are read (a work-pool worker wants its run,
    /// not everything published). The range may end past `limit`.
    #[inline(always)]
    pub(crate) fn available_within(&self, next: u64, limit: u64) -> Published {
        // The proof, as in `available`.
        Published::by_barrier(next, self.progress_within(next, limit).0)
    }

    /// `Ok(readable count)` when `next` is readable, else `Err(channel)`
    /// of the sequence that holds it back. A stage asked to leave gets
    /// `Ok(next)`: nothing readable, and no more waiting. (Checked inside
    /// the wait, so a `Blocking` waiter woken by the detach sees it.)
    /// With several producers, no flag at or past `limit` is read.
    #[inline(always)]
    fn readiness(&self, next: u64, limit: u64) -> Result<u64, usize> {
        let (available, channel) = self.progress_within(next, limit);
        if available > next {
            Ok(available)
        } else if self.leaving() {
            Ok(next)
        } else {
            Err(channel)
        }
    }

    /// Wait until at least `next + 1` events are readable; returns the
    /// published range from `next` on (empty only for a stage asked to
    /// leave).
    ///
    /// A first stage of a shared multi-producer ring waits in
    /// liveness-timeout chunks; when a claimed slot stays unpublished that
    /// long, it checks whether a producer process died mid-claim and
    /// unblocks its claims (see `RingBuffer::unblock_dead_producers`).
    #[inline]
    pub(crate) fn wait_for(
        &self,
        next: u64,
        deadline: Option<Instant>,
    ) -> Result<Published, WaitError> {
        self.wait_for_within(next, u64::MAX, deadline)
    }

    /// As [`wait_for`](Self::wait_for), looking for no further than
    /// `limit` (as [`available_within`](Self::available_within)): a stage
    /// that takes at most a capped batch reads the availability flags of
    /// that batch only, not of everything published behind it, which it
    /// would read again at each of its later batches.
    #[inline]
    pub(crate) fn wait_for_within(
        &self,
        next: u64,
        limit: u64,
        deadline: Option<Instant>,
    ) -> Result<Published, WaitError> {
        // The proof, as in `available`.
        self.wait_for_end(next, limit, deadline)
            .map(|end| Published::by_barrier(next, end))
    }

    /// `wait_for_within`'s wait: the count readable.
    #[inline]
    fn wait_for_end(
        &self,
        next: u64,
        limit: u64,
        deadline: Option<Instant>,
    ) -> Result<u64, WaitError> {
        if let Ok(available) = self.readiness(next, limit) {
            return Ok(available);
        }
        let ready = || self.readiness(next, limit);
        let waiter = self.ring.waiter();
        match self.ring.liveness() {
            Some(liveness) if self.may_meet_abandoned_claims() => {
                // Claims made before this point are a timeout old at the
                // first check.
                let mut claimed_before = self.ring.cursor();
                let check = || {
                    if claimed_before > next {
                        self.ring.unblock_dead_producers(next, claimed_before);
                    }
                    claimed_before = self.ring.cursor();
                    Ok::<(), std::convert::Infallible>(())
                };
                waiter
                    .wait_checking(
                        ready,
                        self.ring.alerted(),
                        deadline,
                        liveness.timeout,
                        check,
                    )
                    .map_err(|e| match e {
                        Interrupted::Wait(e) => e,
                        Interrupted::Check(never) => match never {},
                    })
            }
            _ => waiter.wait_until(ready, self.ring.alerted(), deadline),
        }
    }
}
