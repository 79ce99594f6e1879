//! Work pools: one stage's events shared among several threads, each event
//! handled exactly once by whichever worker is free, in no particular
//! order. For handlers whose events are independent; when events of one
//! key must stay in order, use a partitioned stage.
//!
//! ```text
//!                 +--> worker 0 --+
//! producer -> ring+--> worker 1 --+--> next stage
//!                 +--> worker 2 --+
//!        (each event claimed by one worker from the pool's work sequence)
//! ```
//!
//! The claim protocol (after LMAX's `WorkProcessor`): the pool shares one
//! work sequence, the next event nobody has claimed. A worker claims a
//! run of events from it with a compare-and-swap (as many as are readable
//! divided among the workers, at most `max_claim`, at least one, even if
//! not yet published), sets its own sequence to the run's start, waits
//! until the run is readable, handles it as one batch and sets its
//! sequence to the run's end. So a worker's sequence says "every event
//! below this that I claimed is done, and I hold none below it", and the
//! minimum over the workers, which producers and the stages after the pool
//! wait for, is an event every one of whose predecessors is handled. A
//! worker waiting for events holds the next claim, so its sequence moves
//! with the pool's and never holds producers back.

use super::barrier::SequenceBarrier;
use super::builder::{GraphBuilder, MakeStage, StageId};
use super::handler::EventHandler;
use super::pin;
use super::processor::{
    halt_on_batch_error, halt_on_panic, panic_message, FailureSlot, PanicPolicy, Stage,
    StageContext, Step,
};
use crate::error::StageError;
use crate::metrics::{StageGroupKind, StageRecorder};
use crate::sync::{Arc, AtomicU64, Mutex, Ordering};
use crossbeam_utils::CachePadded;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::PoisonError;

/// Default most events one claim takes.
const DEFAULT_MAX_CLAIM: u64 = 64;

/// The pool's shared state: the next unclaimed event, and, while the graph
/// is being built, the workers' slots (to start them all at one sequence).
#[derive(Debug)]
struct WorkSequence {
    next: CachePadded<AtomicU64>,
    /// Slots of the workers made so far; once all are, the pool starts at
    /// the furthest of their starts.
    members: Mutex<Vec<usize>>,
    workers: usize,
}

/// One worker of a pool, as its thread drives it.
struct WorkProcessor<E, H> {
    name: String,
    barrier: SequenceBarrier<E>,
    slot: usize,
    handler: H,
    policy: PanicPolicy,
    failure: FailureSlot,
    recorder: StageRecorder,
    work: Arc<WorkSequence>,
    workers: u64,
    max_claim: u64,
    /// The events claimed and not yet handled: `start..end`.
    claim: Option<(u64, u64)>,
    /// The readable count last seen.
    available: u64,
}

impl<E: bytemuck::Pod + Send, H: EventHandler<E>> WorkProcessor<E, H> {
    /// Claim the next run of events: as many as are readable, shared
    /// among the workers, at most `max_claim`, at least one.
    fn claim(&mut self) -> (u64, u64) {
        let ring = self.barrier.ring();
        loop {
            // Relaxed: the compare-and-swap below decides; a stale value
            // only fails it.
            let next = self.work.next.load(Ordering::Relaxed);
            if self.available <= next {
                // No further than the most all workers could claim now.
                let limit = next.saturating_add(self.max_claim.saturating_mul(self.workers));
                self.available = self.barrier.available_within(next, limit).end();
            }
            let run = if self.available > next {
                ((self.available - next) / self.workers).clamp(1, self.max_claim)
            } else {
                1
            };
            // AcqRel: one owner per event among the workers (the RMW chain
            // on the work sequence); it publishes nothing else.
            if self
                .work
                .next
                .compare_exchange_weak(next, next + run, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                // Release (in `set`): our earlier runs are done (they all
                // lie below `next`); pairs with the Acquire reads of
                // producers and of the stages after the pool.
                ring.consumer(self.slot).set(next);
                ring.waiter()
                    .signal(crate::wait::consumer_channel(self.slot));
                return (next, next + run);
            }
            crate::sync::spin_loop();
        }
    }

    /// Handle `start..end`, all readable, as one batch; the sequence the
    /// worker may move to (`end`, or where a failure stopped it: `None`
    /// then, the graph halted).
    fn handle(&mut self, published: crate::ring::Published) -> Option<u64> {
        let ring = self.barrier.ring();
        let (start, end) = (published.start(), published.end());
        let mut from = start;
        let mut started = false;
        loop {
            let mut current = from;
            let mut ending = false;
            let handler = &mut self.handler;
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                if !started {
                    handler.on_batch_start(end - start);
                }
                // Our sequence stays at `start` until the run is done,
                // which keeps it readable.
                for (seq, event, end_of_batch) in ring.batch(&published) {
                    if seq < from {
                        continue;
                    }
                    current = seq;
                    handler.on_event(event, seq, end_of_batch);
                }
                ending = true;
                handler.on_batch_end()
            }));
            started = true;
            match outcome {
                Ok(Ok(())) => return Some(end),
                Ok(Err(error)) => {
                    self.fail_batch(start, error);
                    return None;
                }
                Err(payload) if ending => {
                    let message = format!("in on_batch_end: {}", panic_message(&*payload));
                    self.fail(start, message);
                    return None;
                }
                Err(payload) => match self.policy {
                    PanicPolicy::Halt => {
                        self.fail(current, panic_message(&*payload));
                        return None;
                    }
                    PanicPolicy::LogAndSkip => {
                        tracing::error!(
                            stage = %self.name,
                            sequence = current,
                            panic = %panic_message(&*payload),
                            "handler panicked; event skipped",
                        );
                        from = current + 1;
                    }
                },
            }
        }
    }

    #[cold]
    fn fail(&self, sequence: u64, message: String) {
        halt_on_panic(
            &self.name,
            &self.failure,
            self.barrier.ring(),
            sequence,
            message,
        );
    }

    #[cold]
    fn fail_batch(&self, first: u64, error: StageError) {
        halt_on_batch_error(&self.name, &self.failure, self.barrier.ring(), first, error);
    }
}

impl<E: bytemuck::Pod + Send, H: EventHandler<E>> Stage for WorkProcessor<E, H> {
    fn start(&mut self) -> bool {
        let handler = &mut self.handler;
        match catch_unwind(AssertUnwindSafe(|| handler.on_start())) {
            Ok(()) => true,
            Err(payload) => {
                self.fail(u64::MAX, panic_message(&*payload));
                false
            }
        }
    }

    fn step(&mut self, wait: bool) -> Step {
        // Relaxed: a hint checked once per run; waits re-check with Acquire.
        if self.barrier.ring().alerted().load(Ordering::Relaxed) {
            return Step::Stopped;
        }
        let (start, end) = match self.claim {
            Some(run) => run,
            None => {
                let run = self.claim();
                self.claim = Some(run);
                run
            }
        };
        // One look at the barrier per run, at the run's flags only.
        let mut published = self.barrier.available_within(start, end);
        if published.end() < end {
            if !wait {
                return Step::Idle;
            }
            self.recorder.idle();
            match self.barrier.wait_for(end - 1, None) {
                Ok(ready) if !ready.is_empty() => {
                    published = self.barrier.available_within(start, end);
                }
                _ => return Step::Stopped,
            }
        }
        // The proof: the barrier found `start..end` readable, and our
        // sequence has stayed at `start` since the claim.
        let published = published.capped(end - start);
        let Some(done) = self.handle(published) else {
            return Step::Stopped;
        };
        self.claim = None;
        let ring = self.barrier.ring();
        self.recorder.batch(ring, start, done);
        // Release (in `set`): done with the run's slots; pairs with the
        // Acquire reads of producers and of the stages after the pool.
        ring.consumer(self.slot).set(done);
        ring.waiter()
            .signal(crate::wait::consumer_channel(self.slot));
        Step::Progressed
    }

    fn idle(&mut self) {
        self.recorder.idle();
    }

    fn finish(&mut self) {
        self.recorder.finish();
        let handler = &mut self.handler;
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| handler.on_shutdown())) {
            let at = self.barrier.ring().consumer(self.slot).get_relaxed();
            self.fail(at, panic_message(&*payload));
        }
    }

    fn run_alone(mut self: Box<Self>) {
        if self.start() {
            while self.step(true) != Step::Stopped {}
            self.finish();
        }
    }
}

/// A work pool being declared: see [`GraphBuilder::work_pool`].
pub struct WorkPoolBuilder<'a, E, M> {
    builder: &'a mut GraphBuilder<E>,
    name: String,
    workers: u32,
    make: M,
    after: Vec<StageId>,
    cores: Vec<usize>,
    max_claim: u64,
}

impl<E, M> std::fmt::Debug for WorkPoolBuilder<'_, E, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkPoolBuilder")
            .field("name", &self.name)
            .field("workers", &self.workers)
            .field("max_claim", &self.max_claim)
            .finish_non_exhaustive()
    }
}

/// A work pool's workers, for the stages after it.
///
/// # Examples
///
/// ```
/// use ringmaster::{handler_fn, GraphBuilder, RingConfig, WaitStrategy};
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// let handled = Arc::new(AtomicU64::new(0));
/// let h = handled.clone();
/// let mut b = GraphBuilder::<u64>::new(RingConfig::new(64).wait_strategy(WaitStrategy::Yielding));
/// let pool = b
///     .work_pool("resize", 3, move |_worker| {
///         let h = h.clone();
///         handler_fn(move |_: &u64, _, _| { h.fetch_add(1, Ordering::Relaxed); })
///     })
///     .add();
/// assert_eq!(pool.ids().len(), 3);
/// let (mut producer, graph) = b.build_single_producer()?;
/// for i in 0..1000 {
///     producer.publish(i)?;
/// }
/// graph.shutdown()?;
/// assert_eq!(handled.load(Ordering::Relaxed), 1000, "each event once");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkPool {
    ids: Vec<StageId>,
}

impl WorkPool {
    /// Every worker's stage id: what a stage after the pool waits for.
    pub fn ids(&self) -> &[StageId] {
        &self.ids
    }
}

impl<E: bytemuck::Pod + Send> GraphBuilder<E> {
    /// Declare a stage of `workers` threads (named `name/0`, `name/1`,
    /// ...) sharing its events: each event is handled exactly once, by
    /// whichever worker claims it, in no particular order across workers
    /// (a worker sees its own events in sequence order). Each claim is a
    /// batch for the worker's handler: `end_of_batch` on its last event.
    /// `make(index)` makes each worker's handler. Stages after the pool
    /// wait for every worker ([`WorkPool::ids`]), and see an event only
    /// once it and every event before it were handled.
    ///
    /// For events that must keep a per-key order, use
    /// [`partitioned`](GraphBuilder::partitioned).
    ///
    /// # Panics
    ///
    /// If `workers` is 0.
    pub fn work_pool<H, M>(
        &mut self,
        name: impl Into<String>,
        workers: u32,
        make: M,
    ) -> WorkPoolBuilder<'_, E, M>
    where
        H: EventHandler<E>,
        M: FnMut(u32) -> H,
    {
        assert!(workers > 0, "a work pool has at least one worker");
        WorkPoolBuilder {
            builder: self,
            name: name.into(),
            workers,
            make,
            after: Vec::new(),
            cores: Vec::new(),
            max_claim: DEFAULT_MAX_CLAIM,
        }
    }
}

impl<E, H, M> WorkPoolBuilder<'_, E, M>
where
    E: bytemuck::Pod + Send,
    H: EventHandler<E>,
    M: FnMut(u32) -> H,
{
    /// Run after `stages` (every worker waits for them).
    #[must_use]
    pub fn after(mut self, stages: &[StageId]) -> Self {
        self.after.extend_from_slice(stages);
        self
    }

    /// Pin worker `i` to `cores[i % cores.len()]`.
    #[must_use]
    pub fn pin(mut self, cores: &[usize]) -> Self {
        self.cores = cores.to_vec();
        self
    }

    /// The most events one claim takes (default 64; at least 1). Smaller
    /// spreads a burst more evenly over the workers, larger costs fewer
    /// compare-and-swaps on the pool's shared sequence.
    #[must_use]
    pub fn max_claim(mut self, events: u64) -> Self {
        self.max_claim = events.max(1);
        self
    }

    /// Add the workers.
    pub fn add(mut self) -> WorkPool {
        let work = Arc::new(WorkSequence {
            next: CachePadded::new(AtomicU64::new(0)),
            members: Mutex::new(Vec::with_capacity(self.workers as usize)),
            workers: self.workers as usize,
        });
        let mut ids = Vec::with_capacity(self.workers as usize);
        for index in 0..self.workers {
            let handler = (self.make)(index);
            let work = Arc::clone(&work);
            let (workers, max_claim) = (u64::from(self.workers), self.max_claim);
            let make: MakeStage<E> = Box::new(move |ctx: StageContext<E>| {
                join_pool(&work, &ctx);
                Box::new(WorkProcessor {
                    recorder: StageRecorder::new(ctx.barrier.ring(), ctx.cell),
                    name: ctx.name,
                    barrier: ctx.barrier,
                    slot: ctx.slot,
                    handler,
                    policy: ctx.policy,
                    failure: ctx.failure,
                    work,
                    workers,
                    max_claim,
                    claim: None,
                    available: 0,
                }) as Box<dyn Stage>
            });
            let core = pin::round_robin(&self.cores, index);
            ids.push(self.builder.custom_stage(
                format!("{}/{index}", self.name),
                self.after.clone(),
                core,
                (self.name.clone(), StageGroupKind::WorkPool),
                make,
            ));
        }
        WorkPool { ids }
    }
}

/// Called as each worker is made, after every slot of the graph started
/// and before any thread runs: once all workers are made, start the pool
/// at the furthest of their starts (on a shared ring the cursor may move
/// between two slots' starts), every worker's sequence and the work
/// sequence alike.
fn join_pool<E: bytemuck::Pod + Send>(work: &WorkSequence, ctx: &StageContext<E>) {
    let mut members = work.members.lock().unwrap_or_else(PoisonError::into_inner);
    members.push(ctx.slot);
    if members.len() < work.workers {
        return;
    }
    let ring = ctx.barrier.ring();
    let start = members
        .iter()
        .map(|&slot| ring.consumer(slot).get())
        .max()
        .unwrap_or(0);
    for &slot in members.iter() {
        if ring.consumer(slot).get_relaxed() < start {
            ring.consumer(slot).set(start);
        }
    }
    // Relaxed: the workers' threads start after this (spawn orders it).
    work.next.store(start, Ordering::Relaxed);
}
