//! [`BatchProcessor`]: the loop each handler stage runs on its thread.
//!
//! ```text
//! loop:
//!     available = barrier.wait_for(next)        // one wait per batch
//!     handler.on_batch_start(available - next)
//!     for seq in next..available:               // no atomics in here
//!         (handler.look_ahead(slot[seq + d]) first, if it asked for d > 0)
//!         handler.on_event(slot[seq], seq, seq == available - 1)
//!     sequence.set(available)                    // one Release per batch
//!     waiter.signal(our channel)                 // free unless Blocking
//! ```

use super::barrier::SequenceBarrier;
use super::handler::EventHandler;
use crate::config::SMALL_BATCH;
use crate::metrics::StageRecorder;
use crate::sync::{Arc, Mutex, Ordering};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::PoisonError;

/// What a stage does when its handler panics.
///
/// # Examples
///
/// ```
/// use ringmaster::{GraphBuilder, PanicPolicy, RingConfig};
/// let builder = GraphBuilder::<u64>::new(RingConfig::new(64))
///     .panic_policy(PanicPolicy::LogAndSkip);
/// # drop(builder);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PanicPolicy {
    /// Halt the whole graph: every stage stops, blocked producers get
    /// `Halted`, and shutdown reports the panic.
    #[default]
    Halt,
    /// Log the panic with the stage and sequence, skip the event, go on.
    /// The handler's state is whatever the panic left.
    LogAndSkip,
}

/// The first handler panic in a graph.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) stage: String,
    pub(crate) sequence: u64,
    pub(crate) message: String,
}

/// Small batches found without waiting, in a row, that mark a stage as
/// saturated (and so worth a gather pause).
const SATURATED_STREAK: u32 = 4;

pub(crate) type FailureSlot = Arc<Mutex<Option<Failure>>>;

pub(crate) fn record_failure(slot: &FailureSlot, failure: Failure) {
    let mut guard = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if guard.is_none() {
        *guard = Some(failure);
    }
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

pub(crate) struct BatchProcessor<E, H> {
    pub(crate) name: String,
    pub(crate) barrier: SequenceBarrier<E>,
    /// This stage's consumer slot in the region.
    pub(crate) slot: usize,
    pub(crate) handler: H,
    pub(crate) policy: PanicPolicy,
    pub(crate) failure: FailureSlot,
    pub(crate) recorder: StageRecorder,
}

impl<E: bytemuck::Pod + Send, H: EventHandler<E>> BatchProcessor<E, H> {
    pub(crate) fn run(mut self) {
        let ring = Arc::clone(self.barrier.ring());
        let handler = &mut self.handler;
        let started = catch_unwind(AssertUnwindSafe(|| {
            handler.on_start();
            handler.look_ahead_distance()
        }));
        // How far ahead the handler sees events; 0 = not at all.
        let mut distance = match started {
            Ok(distance) => distance,
            Err(payload) => {
                self.fail(u64::MAX, &*payload);
                return;
            }
        };
        let sequence = ring.consumer(self.slot);
        let mut next = sequence.get_relaxed();
        // Consecutive small batches found without waiting.
        let mut streak = 0u32;
        loop {
            // Relaxed: a hint checked once per batch so `halt` is prompt
            // under constant load; the wait loop re-checks with Acquire.
            if ring.alerted().load(Ordering::Relaxed) {
                break;
            }
            // Saturated: events were already there, no wait was needed.
            let ready = self.barrier.available(next);
            let (available, saturated) = if ready > next {
                (ready, true)
            } else {
                self.recorder.idle();
                match self.barrier.wait_for(next, None) {
                    Ok(available) => (available, false),
                    Err(_) => break,
                }
            };
            let mut current = next;
            let batch_start = next;
            // The next event to look ahead at; set while `look_ahead` runs.
            let mut ahead = next;
            let mut looking = false;
            let handler = &mut self.handler;
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                handler.on_batch_start(available - current);
                // SAFETY: every seq in next..available was seen published
                // by the barrier (Acquire); our slot's sequence is <= seq
                // until the `set` after this batch, and it or a stage
                // downstream of it gates producers, so no slot is reclaimed
                // while the events are in use (`peek` reads ahead only
                // within the range too).
                let events = unsafe { ring.batch(next, available) };
                if distance == 0 {
                    // The hot loop, with no look-ahead check per event. The
                    // handler is called directly from it (not through a
                    // closure), so its code can be inlined here.
                    for (seq, event, end_of_batch) in events {
                        current = seq;
                        handler.on_event(event, seq, end_of_batch);
                    }
                } else {
                    for (seq, event, end_of_batch) in events {
                        current = seq;
                        let upto = available.min(seq.saturating_add(distance) + 1);
                        looking = true;
                        while ahead < upto {
                            // SAFETY: `ahead < available`: inside the batch,
                            // under the contract above.
                            handler.look_ahead(unsafe { ring.peek(ahead) }, ahead);
                            ahead += 1;
                        }
                        looking = false;
                        handler.on_event(event, seq, end_of_batch);
                    }
                }
                current = available;
            }));
            match outcome {
                Ok(()) => next = available,
                // A panic in `look_ahead` came before `current` was handled,
                // and is reported at the event it looked at.
                Err(payload) => match self.policy {
                    PanicPolicy::Halt => {
                        sequence.set(current);
                        if looking {
                            self.fail_looking_ahead(ahead, &*payload);
                        } else {
                            self.fail(current, &*payload);
                        }
                        break;
                    }
                    PanicPolicy::LogAndSkip => {
                        let (at, what) = if looking {
                            (ahead, "look_ahead panicked; the stage stops looking ahead")
                        } else {
                            (current, "handler panicked; event skipped")
                        };
                        tracing::error!(
                            stage = %self.name,
                            sequence = at,
                            panic = %panic_message(&*payload),
                            "{what}",
                        );
                        if looking {
                            distance = 0;
                            next = current;
                        } else {
                            next = current + 1;
                        }
                    }
                },
            }
            // Before the sequence moves past the batch: its stamps are
            // still this lap's.
            self.recorder.batch(&ring, batch_start, next);
            // Release (in `set`): we are done reading these slots; pairs
            // with Acquire reads by producers and downstream stages.
            sequence.set(next);
            ring.waiter()
                .signal(crate::wait::consumer_channel(self.slot));
            if saturated && available - batch_start < SMALL_BATCH {
                streak += 1;
            } else {
                streak = 0;
            }
            if streak >= SATURATED_STREAK {
                // Under sustained load, let a batch gather before touching
                // the producer's cursor line again (see
                // `RingConfig::gather_pauses`). A paced stream waits before
                // its next event, so it does not build a streak.
                for _ in 0..ring.gather_pauses() {
                    crate::sync::spin_loop();
                }
            }
        }
        self.recorder.finish();
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.handler.on_shutdown())) {
            self.fail(sequence.get_relaxed(), &*payload);
        }
    }

    #[cold]
    fn fail_looking_ahead(&self, sequence: u64, payload: &(dyn std::any::Any + Send)) {
        let message = format!("in look_ahead: {}", panic_message(payload));
        self.fail(sequence, &message);
    }

    #[cold]
    fn fail(&self, sequence: u64, payload: &(dyn std::any::Any + Send)) {
        let message = panic_message(payload);
        tracing::error!(stage = %self.name, sequence, panic = %message, "handler panicked; halting the graph");
        record_failure(
            &self.failure,
            Failure {
                stage: self.name.clone(),
                sequence,
                message,
            },
        );
        self.barrier.ring().alert();
    }
}
