//! [`BatchProcessor`]: the loop each handler stage runs on its thread.
//!
//! ```text
//! loop:
//!     available = barrier.wait_for(next)        // one wait per batch
//!     handler.on_batch_start(available - next)
//!     for seq in next..available:               // no atomics in here
//!         (handler.look_ahead(slot[seq + d]) first, if it asked for d > 0)
//!         handler.on_event(slot[seq], seq, seq == available - 1)
//!     handler.on_batch_end()?                    // an error: halt, release none
//!     sequence.set(available)                    // one Release per batch
//!     waiter.signal(our channel)                 // free unless Blocking
//! ```

use super::barrier::SequenceBarrier;
use super::handler::EventHandler;
use crate::config::SMALL_BATCH;
use crate::error::StageError;
use crate::metrics::{StageCell, StageRecorder};
use crate::ring::RingBuffer;
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

/// The first handler panic or failed batch in a graph.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) stage: String,
    pub(crate) sequence: u64,
    pub(crate) message: String,
    /// The error of a failed batch; `None` for a panic.
    pub(crate) error: Option<StageError>,
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

/// What one turn of a stage did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// It handled a batch (or skipped a panicking event).
    Progressed,
    /// Nothing was readable (only when it was not allowed to wait).
    Idle,
    /// The graph was halted, or this stage halted it: stop turning.
    Stopped,
}

/// A handler stage as its thread drives it: [`BatchProcessor`] behind a
/// type that hides the handler's, so one thread can drive several (see
/// `thread_group`).
pub(crate) trait Stage: Send {
    /// Run the handler's `on_start`; `false` if it panicked (the graph is
    /// then halted and the stage must not be turned or finished).
    fn start(&mut self) -> bool;
    /// Handle the next batch: whatever is readable now, or, if `wait`, the
    /// next batch once something is.
    fn step(&mut self, wait: bool) -> Step;
    /// Nothing to do for a while: publish pending latency figures.
    fn idle(&mut self);
    /// Flush the figures and run the handler's `on_shutdown`.
    fn finish(&mut self);
    /// Start, turn until stopped and finish: the stage alone on its
    /// thread, with no dynamic call per batch.
    fn run_alone(self: Box<Self>);
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
    /// The next sequence to handle.
    next: u64,
    /// How far ahead the handler sees events; 0 = not at all.
    distance: u64,
    /// Consecutive small batches found without waiting.
    streak: u32,
    /// The most events one batch may hold.
    max_batch: u64,
}

/// What the graph gives a handler stage once its slot and barrier are
/// known.
pub(crate) struct StageContext<E> {
    pub(crate) name: String,
    pub(crate) barrier: SequenceBarrier<E>,
    pub(crate) slot: usize,
    pub(crate) policy: PanicPolicy,
    pub(crate) failure: FailureSlot,
    pub(crate) cell: std::sync::Arc<StageCell>,
}

impl<E: bytemuck::Pod + Send, H: EventHandler<E>> BatchProcessor<E, H> {
    pub(crate) fn new(ctx: StageContext<E>, handler: H, max_batch: u64) -> Self {
        Self {
            recorder: StageRecorder::new(ctx.barrier.ring(), ctx.cell),
            name: ctx.name,
            barrier: ctx.barrier,
            slot: ctx.slot,
            handler,
            policy: ctx.policy,
            failure: ctx.failure,
            next: 0,
            distance: 0,
            streak: 0,
            max_batch,
        }
    }

    /// The stage alone on its thread.
    pub(crate) fn run(self) {
        self.run_to_end();
    }

    /// The stage alone on its thread, handing its handler back when it
    /// stops (halted, shut down, or asked to leave): after `on_shutdown`,
    /// or as it is when `on_start` panicked.
    pub(crate) fn run_to_end(mut self) -> H {
        if self.start() {
            while self.step(true) != Step::Stopped {}
            self.finish();
        }
        self.handler
    }
}

impl<E: bytemuck::Pod + Send, H: EventHandler<E>> Stage for BatchProcessor<E, H> {
    fn start(&mut self) -> bool {
        let handler = &mut self.handler;
        let started = catch_unwind(AssertUnwindSafe(|| {
            handler.on_start();
            handler.look_ahead_distance()
        }));
        match started {
            Ok(distance) => {
                self.distance = distance;
                self.next = self.barrier.ring().consumer(self.slot).get_relaxed();
                true
            }
            Err(payload) => {
                self.fail(u64::MAX, &*payload);
                false
            }
        }
    }

    #[inline]
    fn step(&mut self, wait: bool) -> Step {
        let ring = self.barrier.ring();
        // Relaxed: a hint checked once per batch so `halt` is prompt
        // under constant load; the wait loop re-checks with Acquire.
        if ring.alerted().load(Ordering::Relaxed) || self.barrier.leaving() {
            return Step::Stopped;
        }
        let sequence = ring.consumer(self.slot);
        let next = self.next;
        // Saturated: events were already there, no wait was needed.
        // A capped batch reads the flags of its own events only (several
        // producers): scanning all that is published at every capped
        // batch would cost a stage far behind its producers a pass over
        // the backlog per batch.
        let limit = next.saturating_add(self.max_batch);
        let ready = self.barrier.available_within(next, limit);
        let (published, saturated) = if !ready.is_empty() {
            (ready, true)
        } else if !wait {
            return Step::Idle;
        } else {
            self.recorder.idle();
            match self.barrier.wait_for_within(next, limit, None) {
                // Empty only when the stage was asked to leave.
                Ok(published) if published.is_empty() => return Step::Stopped,
                Ok(published) => (published, false),
                Err(_) => return Step::Stopped,
            }
        };
        // A capped batch ends early; the rest is readable at the next step
        // (and counts as found without waiting).
        let found = published.end();
        let published = published.capped(self.max_batch);
        let available = published.end();
        let distance = self.distance;
        let mut current = next;
        // The next event to look ahead at; set while `look_ahead` runs.
        let mut ahead = next;
        let mut looking = false;
        // Set while `on_batch_end` runs: a panic there fails the batch.
        let mut ending = false;
        let handler = &mut self.handler;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            handler.on_batch_start(available - current);
            // Our slot's sequence stays at `next` until the `set` after
            // this batch, which is what keeps `published` readable.
            let events = ring.batch(&published);
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
                        handler.look_ahead(ring.peek(&published, ahead), ahead);
                        ahead += 1;
                    }
                    looking = false;
                    handler.on_event(event, seq, end_of_batch);
                }
            }
            current = available;
            ending = true;
            handler.on_batch_end()
        }));
        // A batch is the unit of release: the sequence moves past an event
        // only after the `on_batch_end` that follows it returned Ok. A
        // failed batch releases none of its events.
        let done = match outcome {
            Ok(Ok(())) => available,
            Ok(Err(error)) => {
                self.fail_batch(next, error);
                return Step::Stopped;
            }
            Err(payload) if ending => {
                self.fail_ending(next, &*payload);
                return Step::Stopped;
            }
            // A panic in `look_ahead` came before `current` was handled,
            // and is reported at the event it looked at.
            Err(payload) => match self.policy {
                PanicPolicy::Halt => {
                    if looking {
                        self.fail_looking_ahead(ahead, &*payload);
                    } else {
                        self.fail(current, &*payload);
                    }
                    return Step::Stopped;
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
                    let done = if looking {
                        self.distance = 0;
                        current
                    } else {
                        current + 1
                    };
                    // The events handled before the panic are released
                    // only after their batch has ended.
                    if done > next {
                        let handler = &mut self.handler;
                        match catch_unwind(AssertUnwindSafe(|| handler.on_batch_end())) {
                            Ok(Ok(())) => {}
                            Ok(Err(error)) => {
                                self.fail_batch(next, error);
                                return Step::Stopped;
                            }
                            Err(payload) => {
                                self.fail_ending(next, &*payload);
                                return Step::Stopped;
                            }
                        }
                    }
                    done
                }
            },
        };
        self.next = done;
        // Before the sequence moves past the batch: its stamps are
        // still this lap's.
        self.recorder.batch(ring, next, done);
        // Release (in `set`): we are done reading these slots; pairs
        // with Acquire reads by producers and downstream stages.
        sequence.set(done);
        ring.waiter()
            .signal(crate::wait::consumer_channel(self.slot));
        // By what was found, not what the cap let through: a capped
        // stage is not starved.
        if saturated && found - next < SMALL_BATCH {
            self.streak += 1;
        } else {
            self.streak = 0;
        }
        if self.streak >= SATURATED_STREAK {
            // Under sustained load, let a batch gather before touching
            // the producer's cursor line again (see
            // `RingConfig::gather_pauses`). A paced stream waits before
            // its next event, so it does not build a streak.
            for _ in 0..ring.gather_pauses() {
                crate::sync::spin_loop();
            }
        }
        Step::Progressed
    }

    fn idle(&mut self) {
        self.recorder.idle();
    }

    fn run_alone(self: Box<Self>) {
        (*self).run();
    }

    fn finish(&mut self) {
        self.recorder.finish();
        let handler = &mut self.handler;
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| handler.on_shutdown())) {
            let at = self.barrier.ring().consumer(self.slot).get_relaxed();
            self.fail(at, &*payload);
        }
    }
}

impl<E: bytemuck::Pod + Send, H: EventHandler<E>> BatchProcessor<E, H> {
    #[cold]
    fn fail_looking_ahead(&self, sequence: u64, payload: &(dyn std::any::Any + Send)) {
        let message = format!("in look_ahead: {}", panic_message(payload));
        self.fail(sequence, &message);
    }

    /// A panic in `on_batch_end`: the batch's commit did not happen, so
    /// the batch fails whatever the panic policy.
    #[cold]
    fn fail_ending(&self, first: u64, payload: &(dyn std::any::Any + Send)) {
        let message = format!("in on_batch_end: {}", panic_message(payload));
        self.fail(first, &message);
    }

    #[cold]
    fn fail(&self, sequence: u64, payload: &(dyn std::any::Any + Send)) {
        halt_on_panic(
            &self.name,
            &self.failure,
            self.barrier.ring(),
            sequence,
            panic_message(payload),
        );
    }

    /// `on_batch_end` failed the batch starting at `first`: halt, with the
    /// stage's sequence left at `first`.
    #[cold]
    fn fail_batch(&self, first: u64, error: StageError) {
        halt_on_batch_error(&self.name, &self.failure, self.barrier.ring(), first, error);
    }
}

/// A stage's handler panicked at `sequence`: record it (the graph's first
/// failure wins) and halt the graph.
#[cold]
pub(crate) fn halt_on_panic<E>(
    stage: &str,
    failure: &FailureSlot,
    ring: &RingBuffer<E>,
    sequence: u64,
    message: String,
) {
    tracing::error!(stage, sequence, panic = %message, "handler panicked; halting the graph");
    record_failure(
        failure,
        Failure {
            stage: stage.to_owned(),
            sequence,
            message,
            error: None,
        },
    );
    ring.alert();
}

/// A stage's `on_batch_end` failed the batch starting at `first`: record
/// it and halt the graph (the stage's sequence stays at `first`).
#[cold]
pub(crate) fn halt_on_batch_error<E>(
    stage: &str,
    failure: &FailureSlot,
    ring: &RingBuffer<E>,
    first: u64,
    error: StageError,
) {
    tracing::error!(stage, sequence = first, %error, "stage failed a batch; halting the graph");
    record_failure(
        failure,
        Failure {
            stage: stage.to_owned(),
            sequence: first,
            message: error.to_string(),
            error: Some(error),
        },
    );
    ring.alert();
}
