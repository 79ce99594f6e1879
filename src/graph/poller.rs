//! [`EventPoller`]: a consumer that the application drives from its own
//! thread instead of a handler thread.

use super::barrier::SequenceBarrier;
use crate::error::WaitError;
use crate::metrics::StageRecorder;
use crate::ring::Published;
use std::time::{Duration, Instant};

/// What a call to [`EventPoller::poll`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollState {
    /// Events were handed to the callback.
    Processing,
    /// Producers have published more, but an upstream stage has not yet
    /// processed it.
    Gating,
    /// Nothing new was published.
    Idle,
}

/// A pull-style consumer: call [`poll`](EventPoller::poll) whenever
/// convenient. It gates producers like any stage, so a poller that is
/// never polled eventually stops them (the ring fills).
///
/// `Send` but not `Sync`: one polling thread at a time.
///
/// # Examples
///
/// ```
/// use ringmaster::{GraphBuilder, PollState, RingConfig};
///
/// let mut builder = GraphBuilder::<u64>::new(RingConfig::new(16));
/// let id = builder.poller("reader").add();
/// let (mut producer, mut graph) = builder.build_single_producer()?;
/// let mut poller = graph.take_poller(id).expect("registered above");
///
/// producer.publish(5)?;
/// producer.publish(6)?;
/// let mut seen = Vec::new();
/// let state = poller.poll(|e, _seq, _eob| { seen.push(*e); true });
/// assert_eq!(state, PollState::Processing);
/// assert_eq!(seen, [5, 6]);
/// assert_eq!(poller.poll(|_, _, _| true), PollState::Idle);
/// graph.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct EventPoller<E> {
    barrier: SequenceBarrier<E>,
    slot: usize,
    /// Shared multi-producer rings: where polls found a claimed but
    /// unpublished slot, since when, and the cursor then (see `stalled`).
    stall: Option<(u64, Instant, u64)>,
    recorder: StageRecorder,
    /// Cleared when the graph takes the slot back
    /// ([`Graph::detach_poller`](crate::Graph::detach_poller)), which
    /// releases it itself.
    release_on_drop: bool,
}

impl<E> Drop for EventPoller<E> {
    /// On a shared ring, give the consumer slot back so producers stop
    /// waiting for this poller.
    fn drop(&mut self) {
        let ring = self.barrier.ring();
        if self.release_on_drop && ring.liveness().is_some() {
            ring.release_consumer(self.slot);
        }
    }
}

impl<E> EventPoller<E> {
    /// Its consumer slot.
    pub(crate) fn slot(&self) -> usize {
        self.slot
    }

    /// Whether it reads `ring`.
    pub(crate) fn reads(&self, ring: &crate::sync::Arc<crate::ring::RingBuffer<E>>) -> bool {
        crate::sync::Arc::ptr_eq(self.barrier.ring(), ring)
    }

    /// Drop it without releasing its slot: the caller does.
    pub(crate) fn forget_slot(mut self) {
        self.release_on_drop = false;
    }
}

impl<E: bytemuck::Pod + Send> EventPoller<E> {
    pub(crate) fn new(barrier: SequenceBarrier<E>, slot: usize, recorder: StageRecorder) -> Self {
        Self {
            barrier,
            slot,
            stall: None,
            recorder,
            release_on_drop: true,
        }
    }

    /// Hand every readable event to `f(event, sequence, end_of_batch)`
    /// until it returns `false` or none remain; never waits.
    pub fn poll<F: FnMut(&E, u64, bool) -> bool>(&mut self, f: F) -> PollState {
        let next = self.barrier.ring().consumer(self.slot).get_relaxed();
        let published = self.barrier.available(next);
        if !published.is_empty() {
            self.consume(published, f);
            PollState::Processing
        } else if self.barrier.ring().cursor_seq().get() > next {
            if self.barrier.may_meet_abandoned_claims() {
                self.stalled(next);
            }
            PollState::Gating
        } else {
            self.recorder.idle();
            PollState::Idle
        }
    }

    /// Wait (with the ring's strategy) up to `timeout` for events, then
    /// poll them; returns how many were handed to `f`.
    ///
    /// # Errors
    ///
    /// [`WaitError::Timeout`] when none arrived in time,
    /// [`WaitError::Alerted`] when the graph halted.
    pub fn poll_timeout<F: FnMut(&E, u64, bool) -> bool>(
        &mut self,
        timeout: Duration,
        f: F,
    ) -> Result<u64, WaitError> {
        let next = self.barrier.ring().consumer(self.slot).get_relaxed();
        let published = self
            .barrier
            .wait_for(next, Some(Instant::now() + timeout))?;
        Ok(self.consume(published, f) - next)
    }

    /// A poll found `next` claimed but not published. A poller never
    /// waits, so the liveness check a waiting stage makes happens here:
    /// once polls have found the same hole for the liveness timeout, claims
    /// of a dead producer that were outstanding then are unblocked.
    #[cold]
    fn stalled(&mut self, next: u64) {
        let ring = self.barrier.ring();
        let Some(timeout) = ring.liveness().map(|l| l.timeout) else {
            return;
        };
        let now = Instant::now();
        match self.stall {
            Some((at, since, claimed_before)) if at == next => {
                if now.duration_since(since) >= timeout {
                    ring.unblock_dead_producers(next, claimed_before);
                    self.stall = Some((next, now, ring.cursor()));
                }
            }
            _ => self.stall = Some((next, now, ring.cursor())),
        }
    }

    fn consume<F: FnMut(&E, u64, bool) -> bool>(&mut self, published: Published, mut f: F) -> u64 {
        let ring = self.barrier.ring();
        let next = published.start();
        let mut seq = published.end();
        // Our sequence stays at `next` until the `set` below, after the
        // last use of the events.
        for (at, event, end_of_batch) in ring.batch(&published) {
            if !f(event, at, end_of_batch) {
                seq = at + 1;
                break;
            }
        }
        self.recorder.batch(ring, next, seq);
        // Release (in `set`): done reading these slots; pairs with Acquire
        // reads by producers and downstream stages.
        ring.consumer(self.slot).set(seq);
        ring.waiter()
            .signal(crate::wait::consumer_channel(self.slot));
        seq
    }
}
