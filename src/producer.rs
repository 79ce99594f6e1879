//! Producers: claim slots, write events in place, publish.

use crate::error::{ClaimError, TryClaimError, TryPublishError};
use crate::publisher::Publisher;
use crate::ring::{Claimed, RingBuffer};
use crate::sequencer::{ClaimWait, MultiSequencer, Sequencer, SingleSequencer};
use crate::sync::Arc;
use std::ops::Range;
use std::time::{Duration, Instant};

/// Publishes events into a ring.
///
/// Events are written in place in the ring's slots: [`claim`] hands out
/// slots, [`Claim::publish`] makes them visible to consumers. Convenience
/// forms ([`publish`], [`publish_with`], [`publish_batch`]) do both.
///
/// A [`SingleProducer`] is `Send` but neither `Sync` nor `Clone`: one
/// producer thread at a time. A [`MultiProducer`] is `Send + Clone`: give
/// each producing thread its own clone.
///
/// [`claim`]: Producer::claim
/// [`publish`]: Producer::publish
/// [`publish_with`]: Producer::publish_with
/// [`publish_batch`]: Producer::publish_batch
///
/// # Examples
///
/// ```
/// use ringmaster::{handler_fn, GraphBuilder, RingConfig};
/// use std::sync::{atomic::{AtomicU64, Ordering}, Arc};
///
/// let sum = Arc::new(AtomicU64::new(0));
/// let seen = sum.clone();
/// let mut builder = GraphBuilder::<u64>::new(RingConfig::new(64));
/// builder.handler("sum", handler_fn(move |e: &u64, _seq, _eob| {
///     seen.fetch_add(*e, Ordering::Relaxed);
/// })).add();
/// let (mut producer, graph) = builder.build_single_producer()?;
///
/// producer.publish(1)?;                              // copy one event in
/// producer.publish_with(|slot| *slot = 2)?;          // write it in place
/// producer.publish_batch_with(3, |i, slot| *slot = 3 + i)?; // 3, 4, 5
/// let mut claim = producer.claim(2)?;                // claim, fill, publish
/// *claim.get_mut(0) = 6;
/// *claim.get_mut(1) = 7;
/// claim.publish();
///
/// graph.shutdown()?;
/// assert_eq!(sum.load(Ordering::Relaxed), 28);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Producer<E, S> {
    ring: Arc<RingBuffer<E>>,
    sequencer: S,
    /// The producer slot held in a shared region (shared by clones).
    lease: Option<Arc<ProducerLease<E>>>,
}

/// A producer slot in a shared region's header, given back on drop.
#[derive(Debug)]
pub(crate) struct ProducerLease<E> {
    ring: Arc<RingBuffer<E>>,
    slot: usize,
}

impl<E> Drop for ProducerLease<E> {
    fn drop(&mut self) {
        self.ring.unregister_producer(self.slot);
    }
}

/// A producer for a ring with exactly one producer thread.
pub type SingleProducer<E> = Producer<E, SingleSequencer>;
/// A producer for a ring shared by several producer threads; clone it.
pub type MultiProducer<E> = Producer<E, MultiSequencer>;

impl<E: bytemuck::Pod + Send> Producer<E, SingleSequencer> {
    /// Lend this producer to a publishing loop: a [`Publisher`] keeps the
    /// producer's state where the loop's optimiser can hold it in
    /// registers, and gives it back when dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ringmaster::{GraphBuilder, NoopHandler, RingConfig};
    /// # let mut builder = GraphBuilder::<u64>::new(RingConfig::new(1024));
    /// # builder.handler("sink", NoopHandler).add();
    /// # let (mut producer, graph) = builder.build_single_producer()?;
    /// let mut publisher = producer.publisher();
    /// for i in 0..10_000u64 {
    ///     publisher.publish(i)?;
    /// }
    /// drop(publisher);
    /// assert_eq!(producer.ring().cursor(), 10_000);
    /// # graph.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn publisher(&mut self) -> Publisher<'_, E> {
        Publisher::new(self)
    }

    #[inline(always)]
    pub(crate) fn sequencer_mut(&mut self) -> &mut SingleSequencer {
        &mut self.sequencer
    }
}

impl<E: bytemuck::Pod + Send> Clone for Producer<E, MultiSequencer> {
    fn clone(&self) -> Self {
        Self {
            ring: Arc::clone(&self.ring),
            sequencer: MultiSequencer::for_ring(&self.ring),
            lease: self.lease.clone(),
        }
    }
}

impl<E: bytemuck::Pod + Send, S: Sequencer> Producer<E, S> {
    pub(crate) fn new(ring: Arc<RingBuffer<E>>) -> Self {
        let sequencer = S::for_ring(&ring);
        Self {
            ring,
            sequencer,
            lease: None,
        }
    }

    /// A producer holding producer slot `slot` of a shared region.
    #[cfg(not(loom))] // shm, its only user, is not built under loom
    pub(crate) fn with_lease(ring: Arc<RingBuffer<E>>, slot: usize) -> Self {
        let lease = Arc::new(ProducerLease {
            ring: Arc::clone(&ring),
            slot,
        });
        Self {
            lease: Some(lease),
            ..Self::new(ring)
        }
    }

    /// The ring this producer publishes into.
    pub fn ring(&self) -> &RingBuffer<E> {
        &self.ring
    }

    #[inline(always)]
    fn check_size(&self, n: u64) -> Result<(), ClaimError> {
        if n == 0 || n > self.ring.capacity() {
            return Err(ClaimError::TooLarge {
                requested: n,
                capacity: self.ring.capacity(),
            });
        }
        Ok(())
    }

    #[inline(always)]
    fn claim_range(&mut self, n: u64, wait: ClaimWait) -> Result<Claimed, TryClaimError> {
        self.check_size(n)?;
        self.sequencer.claim(&self.ring, n, wait)
    }

    /// Claim `n` consecutive slots, waiting for room with the ring's wait
    /// strategy.
    ///
    /// # Errors
    ///
    /// [`ClaimError::TooLarge`] when `n` is zero or exceeds the capacity;
    /// [`ClaimError::Halted`] when the graph halts while waiting.
    #[inline]
    pub fn claim(&mut self, n: u64) -> Result<Claim<'_, E, S>, ClaimError> {
        let claimed = self
            .claim_range(n, ClaimWait::Forever)
            .map_err(TryClaimError::blocking)?;
        Ok(Claim::new(self, claimed))
    }

    /// Claim `n` slots if there is room now; never waits.
    ///
    /// # Errors
    ///
    /// [`TryClaimError::Full`] when there is no room for all `n`, and as
    /// [`Producer::claim`].
    #[inline]
    pub fn try_claim(&mut self, n: u64) -> Result<Claim<'_, E, S>, TryClaimError> {
        let claimed = self.claim_range(n, ClaimWait::Never)?;
        Ok(Claim::new(self, claimed))
    }

    /// Claim `n` slots, waiting at most `timeout` for room.
    ///
    /// # Errors
    ///
    /// [`TryClaimError::Full`] when the timeout ran out, and as
    /// [`Producer::claim`].
    pub fn claim_timeout(
        &mut self,
        n: u64,
        timeout: Duration,
    ) -> Result<Claim<'_, E, S>, TryClaimError> {
        let claimed = self.claim_range(n, ClaimWait::Until(Instant::now() + timeout))?;
        Ok(Claim::new(self, claimed))
    }

    /// Publish one event, copying it into its slot.
    ///
    /// # Errors
    ///
    /// [`ClaimError::Halted`] when the graph halts while the ring is full.
    #[inline]
    pub fn publish(&mut self, event: E) -> Result<(), ClaimError> {
        self.publish_with(|slot| *slot = event)
    }

    /// Publish one event if there is room now, or hand it back.
    ///
    /// # Errors
    ///
    /// [`TryPublishError::Full`] or [`TryPublishError::Halted`], carrying
    /// the event.
    #[inline]
    pub fn try_publish(&mut self, event: E) -> Result<(), TryPublishError<E>> {
        match self.claim_range(1, ClaimWait::Never) {
            Ok(claimed) => {
                self.write_one_and_publish(claimed, |slot| *slot = event);
                Ok(())
            }
            Err(TryClaimError::Halted) => Err(TryPublishError::Halted(event)),
            Err(_) => Err(TryPublishError::Full(event)),
        }
    }

    /// Claim one slot, let `write` fill it in place, publish it.
    ///
    /// The slot holds whatever event last used it; `write` must set every
    /// field it cares about.
    ///
    /// # Errors
    ///
    /// [`ClaimError::Halted`] when the graph halts while the ring is full.
    #[inline]
    pub fn publish_with<F: FnOnce(&mut E)>(&mut self, write: F) -> Result<(), ClaimError> {
        let claimed = self
            .sequencer
            .claim(&self.ring, 1, ClaimWait::Forever)
            .map_err(TryClaimError::blocking)?;
        self.write_one_and_publish(claimed, write);
        Ok(())
    }

    /// As [`Producer::publish_with`], but never waits.
    ///
    /// # Errors
    ///
    /// [`TryClaimError::Full`] when the ring is full, [`TryClaimError::Halted`]
    /// when halted; `write` is not called then.
    #[inline]
    pub fn try_publish_with<F: FnOnce(&mut E)>(&mut self, write: F) -> Result<(), TryClaimError> {
        let claimed = self.claim_range(1, ClaimWait::Never)?;
        self.write_one_and_publish(claimed, write);
        Ok(())
    }

    /// Claim `n` slots, call `write(i, slot)` for `i` in `0..n`, publish
    /// them together (one cursor store for a single producer).
    ///
    /// # Errors
    ///
    /// As [`Producer::claim`].
    #[inline]
    pub fn publish_batch_with<F: FnMut(u64, &mut E)>(
        &mut self,
        n: u64,
        write: F,
    ) -> Result<(), ClaimError> {
        let mut claim = self.claim(n)?;
        claim.fill_with(write);
        claim.publish();
        Ok(())
    }

    /// Copy `events` into the ring as one batch (in chunks of at most the
    /// capacity).
    ///
    /// # Errors
    ///
    /// [`ClaimError::Halted`] when the graph halts while the ring is full;
    /// the chunks before it were published.
    pub fn publish_batch(&mut self, events: &[E]) -> Result<(), ClaimError> {
        let chunk = usize::try_from(self.ring.capacity()).unwrap_or(usize::MAX);
        for part in events.chunks(chunk) {
            self.publish_batch_with(part.len() as u64, |i, slot| *slot = part[i as usize])?;
        }
        Ok(())
    }

    #[inline(always)]
    fn write_one_and_publish(&mut self, mut claimed: Claimed, write: impl FnOnce(&mut E)) {
        debug_assert_eq!(claimed.len(), 1);
        self.ring.write_claimed(&mut claimed, write);
        self.sequencer.publish(&self.ring, claimed);
    }
}

/// Slots claimed by a producer, to be written in place and published.
///
/// Holding a `Claim` borrows the producer, so one claim is outstanding per
/// producer at a time. Dropping a claim without calling
/// [`Claim::publish`] publishes it anyway (consumers would otherwise wait
/// forever for those sequences), with whatever the slots hold.
///
/// # Examples
///
/// ```
/// # use ringmaster::{GraphBuilder, NoopHandler, RingConfig};
/// # let mut builder = GraphBuilder::<u32>::new(RingConfig::new(16));
/// # builder.handler("sink", NoopHandler).add();
/// # let (mut producer, graph) = builder.build_single_producer()?;
/// let mut claim = producer.claim(4)?;
/// assert_eq!(claim.sequences(), 0..4);
/// for (seq, slot) in claim.iter_mut() {
///     *slot = seq as u32 * 10;
/// }
/// claim.publish();
/// # graph.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a claim is published when dropped; fill it first"]
#[derive(Debug)]
pub struct Claim<'a, E: bytemuck::Pod + Send, S: Sequencer> {
    producer: &'a mut Producer<E, S>,
    /// Claimed, unpublished sequences, owned by this claim alone; taken
    /// when it is published.
    claimed: Option<Claimed>,
}

impl<'a, E: bytemuck::Pod + Send, S: Sequencer> Claim<'a, E, S> {
    fn new(producer: &'a mut Producer<E, S>, claimed: Claimed) -> Self {
        Self {
            producer,
            claimed: Some(claimed),
        }
    }

    /// The claimed sequence numbers.
    pub fn sequences(&self) -> Range<u64> {
        self.claimed.as_ref().map_or(0..0, Claimed::sequences)
    }

    /// Number of claimed slots.
    pub fn len(&self) -> usize {
        self.claimed.as_ref().map_or(0, Claimed::len) as usize
    }

    /// Whether the claim is empty (never, for a successful claim).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `i`-th claimed slot.
    ///
    /// # Panics
    ///
    /// When `i >= self.len()` (a programmer error).
    #[cfg(not(loom))]
    pub fn get_mut(&mut self, i: usize) -> &mut E {
        let claimed = self.claimed.as_mut().expect("unpublished while held");
        self.producer.ring.claimed_slot(claimed, i as u64)
    }

    /// Every claimed slot with its sequence.
    #[cfg(not(loom))]
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u64, &mut E)> + '_ {
        let claimed = self.claimed.as_mut().expect("unpublished while held");
        self.producer.ring.claimed_slots(claimed)
    }

    /// Call `write(i, slot)` for every claimed slot, `i` counting from 0.
    pub fn fill_with(&mut self, mut write: impl FnMut(u64, &mut E)) {
        if let Some(claimed) = self.claimed.as_mut() {
            let start = claimed.sequences().start;
            self.producer
                .ring
                .fill_claimed(claimed, |seq, slot| write(seq - start, slot));
        }
    }

    /// Make the claimed events visible to consumers.
    #[inline]
    pub fn publish(mut self) {
        self.do_publish();
    }

    #[inline(always)]
    fn do_publish(&mut self) {
        if let Some(claimed) = self.claimed.take() {
            let producer = &mut *self.producer;
            producer.sequencer.publish(&producer.ring, claimed);
        }
    }
}

impl<E: bytemuck::Pod + Send, S: Sequencer> Drop for Claim<'_, E, S> {
    fn drop(&mut self) {
        self.do_publish();
    }
}
