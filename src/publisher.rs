//! [`Publisher`]: a single producer's state held by the caller's loop.

use crate::error::{ClaimError, TryClaimError};
use crate::producer::SingleProducer;
use crate::sequencer::{ClaimWait, SingleState};

/// A [`SingleProducer`] lent to a publishing loop: the same claims and
/// publishes, with the producer's state (next sequence, cached claim
/// limit, next stamp) held in this value, which the caller's loop owns,
/// and written back to the producer when it is dropped.
///
/// Why it exists: a producer lives somewhere its owner can drop it from,
/// and a loop that can return early (a `?` on a publish) keeps the
/// producer, state and all, in memory, reloading and storing its state on
/// every event. A `Publisher` is a local the optimiser can keep in
/// registers. For a tight loop of single-event publishes; everything else
/// is on [`SingleProducer`].
///
/// # Examples
///
/// ```
/// use ringmaster::{handler_fn, GraphBuilder, RingConfig};
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// let sum = Arc::new(AtomicU64::new(0));
/// let seen = sum.clone();
/// let mut builder = GraphBuilder::<u64>::new(RingConfig::new(64));
/// builder.handler("sum", handler_fn(move |e: &u64, _, _| {
///     seen.fetch_add(*e, Ordering::Relaxed);
/// })).add();
/// let (mut producer, graph) = builder.build_single_producer()?;
/// {
///     let mut publisher = producer.publisher();
///     for i in 0..1000 {
///         publisher.publish_with(|slot| *slot = i)?;
///     }
/// } // the state goes back to the producer here
/// producer.publish(1000)?;
/// graph.shutdown()?;
/// assert_eq!(sum.load(Ordering::Relaxed), 500_500);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "a publisher publishes nothing until used"]
pub struct Publisher<'a, E: bytemuck::Pod + Send> {
    producer: &'a mut SingleProducer<E>,
    state: SingleState,
}

impl<'a, E: bytemuck::Pod + Send> Publisher<'a, E> {
    pub(crate) fn new(producer: &'a mut SingleProducer<E>) -> Self {
        let state = producer.sequencer_mut().lend();
        Self { producer, state }
    }

    /// As [`SingleProducer::publish_with`]: claim one slot, let `write`
    /// fill it in place, publish it.
    ///
    /// # Errors
    ///
    /// [`ClaimError::Halted`] when the graph halts while the ring is full.
    #[inline(always)]
    pub fn publish_with<F: FnOnce(&mut E)>(&mut self, write: F) -> Result<(), ClaimError> {
        self.claim_write_publish(ClaimWait::Forever, write)
            .map_err(TryClaimError::blocking)
    }

    /// As [`SingleProducer::publish`]: copy one event into its slot.
    ///
    /// # Errors
    ///
    /// [`ClaimError::Halted`] when the graph halts while the ring is full.
    #[inline(always)]
    pub fn publish(&mut self, event: E) -> Result<(), ClaimError> {
        self.publish_with(|slot| *slot = event)
    }

    /// As [`SingleProducer::try_publish_with`]: never waits.
    ///
    /// # Errors
    ///
    /// [`TryClaimError::Full`] when the ring is full,
    /// [`TryClaimError::Halted`] when halted; `write` is not called then.
    #[inline(always)]
    pub fn try_publish_with<F: FnOnce(&mut E)>(&mut self, write: F) -> Result<(), TryClaimError> {
        self.claim_write_publish(ClaimWait::Never, write)
    }

    /// Claim one slot (waiting as `wait` allows), write it, publish it.
    #[inline(always)]
    fn claim_write_publish<F: FnOnce(&mut E)>(
        &mut self,
        wait: ClaimWait,
        write: F,
    ) -> Result<(), TryClaimError> {
        let ring = self.producer.ring();
        let mut claimed = self.state.claim(ring, 1, wait)?;
        ring.write_claimed(&mut claimed, write);
        self.state.publish(ring, claimed);
        Ok(())
    }
}

impl<E: bytemuck::Pod + Send> Drop for Publisher<'_, E> {
    #[inline(always)]
    fn drop(&mut self) {
        self.producer.sequencer_mut().take_back(self.state);
    }
}
