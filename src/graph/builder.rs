//! [`GraphBuilder`]: declare stages and their dependencies, then build the
//! ring, the producer and the running [`Graph`].
//!
//! ```text
//! pipeline:   P -> a -> b -> c
//! multicast:  P -> a          diamond:  P -> a --> c
//!               -> b                      -> b -/
//!               -> c
//! ```
//!
//! Stages that no other stage depends on gate the producers: a slot is
//! reused only when every one of them has processed it (upstream stages
//! are always ahead of their dependents).

use super::barrier::SequenceBarrier;
use super::handler::EventHandler;
use super::pin;
use super::poller::EventPoller;
use super::processor::{BatchProcessor, FailureSlot, PanicPolicy, Stage, StageContext};
use super::thread_group::ThreadGroup;
use super::{Graph, StageInfo};
use crate::config::RingConfig;
use crate::error::BuildError;
use crate::metrics::{StageCell, StageGroupKind, StageRecorder};
use crate::producer::{MultiProducer, Producer, SingleProducer};
use crate::region::MAX_CONSUMERS;
use crate::ring::RingBuffer;
use crate::sequencer::Sequencer;
use crate::sync::{Arc, Mutex};
use crate::wait::WaitStrategy;
use std::collections::BTreeSet;

/// Identifies a stage (handler or poller) within one builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StageId(usize);

impl StageId {
    /// The stage's index in its graph's [`stages`](crate::Graph::stages)
    /// (its consumer slot is [`StageInfo::slot`](crate::StageInfo::slot)).
    pub fn index(self) -> usize {
        self.0
    }

    /// The stage at `index` of a graph's stages.
    pub(super) fn at(index: usize) -> Self {
        Self(index)
    }
}

/// Where each stage runs, as validation worked it out.
struct Placement {
    /// Per stage, the index of its thread's first stage (`None`: a
    /// poller, on the application's thread).
    heads: Vec<Option<usize>>,
    /// Per thread, by its first stage's index: the core its stages asked
    /// for (they agree; checked).
    cores: Vec<Option<usize>>,
}

/// A handler thread to start.
struct ThreadPlan {
    /// Index of its first stage.
    head: usize,
    /// Its name: its first stage's.
    name: String,
    /// The core one of its stages asked for.
    core: Option<usize>,
    /// Its stages, in declaration order.
    stages: Vec<Box<dyn Stage>>,
}

/// Makes a handler stage's processor once its slot and barrier are known.
pub(super) type MakeStage<E> = Box<dyn FnOnce(StageContext<E>) -> Box<dyn Stage>>;

enum StageKind<E> {
    Handler(MakeStage<E>),
    Poller,
}

struct StageSpec<E> {
    name: String,
    after: Vec<StageId>,
    core: Option<usize>,
    /// Run on the thread of this (earlier) handler stage.
    same_thread_as: Option<StageId>,
    /// The most events one batch may hold (`u64::MAX`: no limit).
    max_batch: u64,
    /// The partitioned stage or work pool it belongs to, for metrics.
    group: Option<(String, StageGroupKind)>,
    kind: StageKind<E>,
}

/// Declares a consumer graph over a new ring.
///
/// Not `Sync`; build on one thread, then hand the producer wherever needed.
///
/// # Examples
///
/// A diamond: `journal` and `index` see every event, `reply` runs after both.
///
/// ```text
/// P --> journal --> reply
///   \-> index  --/
/// ```
///
/// ```
/// use ringmaster::{handler_fn, GraphBuilder, RingConfig, WaitStrategy};
/// use std::sync::{Arc, Mutex};
///
/// let log = Arc::new(Mutex::new(Vec::new()));
/// let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
/// let mut builder = GraphBuilder::<u32>::new(
///     RingConfig::new(1024).wait_strategy(WaitStrategy::Blocking),
/// );
/// let journal = builder.handler("journal", handler_fn(move |e: &u32, _, _| l1.lock().unwrap().push(("journal", *e)))).add();
/// let index = builder.handler("index", handler_fn(move |e: &u32, _, _| l2.lock().unwrap().push(("index", *e)))).add();
/// builder
///     .handler("reply", handler_fn(move |e: &u32, _, _| l3.lock().unwrap().push(("reply", *e))))
///     .after(&[journal, index])
///     .add();
/// let (mut producer, graph) = builder.build_single_producer()?;
/// producer.publish(1)?;
/// graph.shutdown()?;
///
/// let log = log.lock().unwrap();
/// let pos = |who| log.iter().position(|&entry| entry == (who, 1)).unwrap();
/// assert!(pos("reply") > pos("journal") && pos("reply") > pos("index"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GraphBuilder<E> {
    config: RingConfig,
    /// An existing (shared) ring to attach the stages to; `None` builds a
    /// private ring.
    ring: Option<Arc<RingBuffer<E>>>,
    policy: PanicPolicy,
    stages: Vec<StageSpec<E>>,
}

impl<E> std::fmt::Debug for GraphBuilder<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphBuilder")
            .field("config", &self.config)
            .field("policy", &self.policy)
            .field(
                "stages",
                &self.stages.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// One handler stage being declared; finish with [`StageBuilder::add`].
#[must_use = "call .add() to put the stage in the graph"]
pub struct StageBuilder<'a, E, H> {
    builder: &'a mut GraphBuilder<E>,
    name: String,
    handler: H,
    after: Vec<StageId>,
    core: Option<usize>,
    same_thread_as: Option<StageId>,
    max_batch: u64,
    group: Option<(String, StageGroupKind)>,
}

impl<E, H> std::fmt::Debug for StageBuilder<'_, E, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageBuilder")
            .field("name", &self.name)
            .field("after", &self.after)
            .field("core", &self.core)
            .field("same_thread_as", &self.same_thread_as)
            .field("max_batch", &self.max_batch)
            .finish()
    }
}

/// One poller being declared; finish with [`PollerBuilder::add`].
#[must_use = "call .add() to put the poller in the graph"]
#[derive(Debug)]
pub struct PollerBuilder<'a, E> {
    builder: &'a mut GraphBuilder<E>,
    name: String,
    after: Vec<StageId>,
}

impl<E: bytemuck::Pod + Send> GraphBuilder<E> {
    /// A builder for a ring configured by `config`.
    pub fn new(config: RingConfig) -> Self {
        Self {
            config,
            ring: None,
            policy: PanicPolicy::default(),
            stages: Vec::new(),
        }
    }

    /// A builder whose stages attach to `ring` (a shared ring; see
    /// [`SharedRing::consumers`](crate::shm::SharedRing::consumers)).
    #[cfg(not(loom))] // shm, its only user, is not built under loom
    pub(crate) fn on_ring(ring: Arc<RingBuffer<E>>) -> Self {
        Self {
            config: RingConfig::new(ring.capacity()),
            ring: Some(ring),
            policy: PanicPolicy::default(),
            stages: Vec::new(),
        }
    }

    /// What stages do when their handler panics (default: halt the graph).
    #[must_use]
    pub fn panic_policy(mut self, policy: PanicPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Declare a handler stage named `name` (also its thread's name).
    pub fn handler<H: EventHandler<E>>(
        &mut self,
        name: impl Into<String>,
        handler: H,
    ) -> StageBuilder<'_, E, H> {
        StageBuilder {
            builder: self,
            name: name.into(),
            handler,
            after: Vec::new(),
            core: None,
            same_thread_as: None,
            max_batch: u64::MAX,
            group: None,
        }
    }

    /// Declare a handler stage whose processor `make` builds (a work
    /// pool's worker), a member of `group`.
    pub(super) fn custom_stage(
        &mut self,
        name: String,
        after: Vec<StageId>,
        core: Option<usize>,
        group: (String, StageGroupKind),
        make: MakeStage<E>,
    ) -> StageId {
        let id = StageId(self.stages.len());
        self.stages.push(StageSpec {
            name,
            after,
            core,
            same_thread_as: None,
            max_batch: u64::MAX,
            group: Some(group),
            kind: StageKind::Handler(make),
        });
        id
    }

    /// Declare an [`EventPoller`]; take it from the graph after building
    /// with [`Graph::take_poller`].
    pub fn poller(&mut self, name: impl Into<String>) -> PollerBuilder<'_, E> {
        PollerBuilder {
            builder: self,
            name: name.into(),
            after: Vec::new(),
        }
    }

    /// Build with a single-producer sequencer and start every handler.
    ///
    /// # Errors
    ///
    /// [`BuildError`] for an invalid ring configuration, no consumers, too
    /// many consumers, an unknown dependency, a core that does not exist,
    /// or a thread the OS would not start.
    pub fn build_single_producer(self) -> Result<(SingleProducer<E>, Graph<E>), BuildError> {
        self.build(false)
    }

    /// Build with a multi-producer sequencer and start every handler.
    /// Clone the returned producer for each producing thread.
    ///
    /// # Errors
    ///
    /// As [`GraphBuilder::build_single_producer`].
    pub fn build_multi_producer(self) -> Result<(MultiProducer<E>, Graph<E>), BuildError> {
        self.build(true)
    }

    /// Start the stages on a shared ring (from
    /// [`SharedRing::consumers`](crate::shm::SharedRing::consumers)),
    /// whose producers live elsewhere. Each stage takes a free consumer
    /// slot of the region and starts at its current cursor.
    ///
    /// # Errors
    ///
    /// [`BuildError::NotShared`] for a builder made with
    /// [`GraphBuilder::new`] (its private ring needs a producer: use
    /// `build_single_producer`), [`BuildError::NoFreeSlot`] when the
    /// region's consumer slots run out, and the errors of
    /// [`GraphBuilder::build_single_producer`].
    pub fn build_consumers(mut self) -> Result<Graph<E>, BuildError> {
        let Some(ring) = self.ring.take() else {
            return Err(BuildError::NotShared);
        };
        let placement = self.validate()?;
        self.start(ring, &placement)
    }

    /// Check the declared graph; returns where each stage runs (see
    /// [`GraphBuilder::placement`]).
    fn validate(&self) -> Result<Placement, BuildError> {
        if self.stages.is_empty() {
            return Err(BuildError::NoConsumers);
        }
        if self.stages.len() > MAX_CONSUMERS {
            return Err(BuildError::TooManyConsumers {
                count: self.stages.len(),
                max: MAX_CONSUMERS,
            });
        }
        let cores = pin::available_cores();
        for (index, stage) in self.stages.iter().enumerate() {
            // Dependencies must come from this builder and be declared
            // earlier, which also rules out cycles.
            if let Some(bad) = stage.after.iter().find(|d| d.0 >= index) {
                return Err(BuildError::UnknownStage {
                    stage: stage.name.clone(),
                    dependency: bad.0,
                });
            }
            if let Some(core) = stage.core {
                pin::check_core(&stage.name, core, &cores)?;
            }
            if stage.max_batch == 0 {
                return Err(BuildError::ZeroMaxBatch {
                    stage: stage.name.clone(),
                });
            }
        }
        let placement = self.placement()?;
        let threads = placement
            .heads
            .iter()
            .enumerate()
            .filter(|&(index, head)| *head == Some(index))
            .count();
        if self.config.strategy() == WaitStrategy::BusySpin && threads + 1 > cores.len() {
            tracing::warn!(
                handler_threads = threads,
                cores = cores.len(),
                "BusySpin with more threads (handlers + a producer) than cores: spinning threads will starve each other; prefer Yielding or Backoff"
            );
        }
        Ok(placement)
    }

    /// For each stage, the first stage of the thread that runs it (`None`
    /// for pollers), and each thread's core, after checking that shared
    /// threads can run their stages without losing a wake-up (see
    /// `thread_group`) and that their stages agree on a core.
    fn placement(&self) -> Result<Placement, BuildError> {
        let mut heads: Vec<Option<usize>> = Vec::with_capacity(self.stages.len());
        // By thread head: the core the thread's stages asked for so far.
        let mut thread_core: Vec<Option<usize>> = self.stages.iter().map(|s| s.core).collect();
        for (index, stage) in self.stages.iter().enumerate() {
            let is_handler = matches!(stage.kind, StageKind::Handler(_));
            let head = match stage.same_thread_as {
                None => is_handler.then_some(index),
                Some(other) => {
                    let Some(&target) = heads.get(other.0) else {
                        return Err(BuildError::UnknownStage {
                            stage: stage.name.clone(),
                            dependency: other.0,
                        });
                    };
                    let Some(head) = target else {
                        return Err(BuildError::SharedThread {
                            stage: stage.name.clone(),
                            thread: self.stages[other.0].name.clone(),
                            problem:
                                "that stage is a poller, which runs on the application's thread",
                        });
                    };
                    let first = &self.stages[head];
                    // What the stage waits on outside its thread, against
                    // what the thread sleeps on (the first stage's input).
                    let outside: BTreeSet<usize> = stage
                        .after
                        .iter()
                        .filter(|d| heads[d.0] != Some(head))
                        .map(|d| d.0)
                        .collect();
                    let first_waits: BTreeSet<usize> = first.after.iter().map(|d| d.0).collect();
                    let waits_like_first = if stage.after.is_empty() {
                        first.after.is_empty()
                    } else {
                        outside.is_empty() || outside == first_waits
                    };
                    if !waits_like_first {
                        return Err(BuildError::SharedThread {
                            stage: stage.name.clone(),
                            thread: first.name.clone(),
                            problem: "it must depend only on stages of that thread, or on exactly what the thread's first stage depends on",
                        });
                    }
                    match (stage.core, thread_core[head]) {
                        (Some(core), Some(thread_core)) if core != thread_core => {
                            return Err(BuildError::SharedThreadCores {
                                stage: stage.name.clone(),
                                core,
                                thread: first.name.clone(),
                                thread_core,
                            });
                        }
                        (Some(core), None) => thread_core[head] = Some(core),
                        _ => {}
                    }
                    Some(head)
                }
            };
            heads.push(head);
        }
        Ok(Placement {
            heads,
            cores: thread_core,
        })
    }

    fn build<S: Sequencer>(
        self,
        multi_producer: bool,
    ) -> Result<(Producer<E, S>, Graph<E>), BuildError> {
        if self.ring.is_some() {
            return Err(BuildError::SharedProducer);
        }
        let placement = self.validate()?;
        let ring = Arc::new(RingBuffer::<E>::new(&self.config, multi_producer)?);
        let graph = self.start(Arc::clone(&ring), &placement)?;
        Ok((Producer::new(ring), graph))
    }

    /// Take a consumer slot per stage, start each at the cursor (gating
    /// producers if no stage depends on it), then spawn the handlers.
    fn start(
        self,
        ring: Arc<RingBuffer<E>>,
        placement: &Placement,
    ) -> Result<Graph<E>, BuildError> {
        let heads = &placement.heads;
        let mut has_dependents = vec![false; self.stages.len()];
        for stage in &self.stages {
            for dep in &stage.after {
                has_dependents[dep.0] = true;
            }
        }
        let mut slots = Vec::with_capacity(self.stages.len());
        for stage in &self.stages {
            match ring.allocate_consumer() {
                Some(slot) => slots.push(slot),
                None => {
                    for &slot in &slots {
                        ring.release_consumer(slot);
                    }
                    return Err(BuildError::NoFreeSlot {
                        stage: stage.name.clone(),
                        max: MAX_CONSUMERS,
                    });
                }
            }
        }
        for (index, &slot) in slots.iter().enumerate() {
            ring.start_consumer(slot, !has_dependents[index]);
        }
        let failure: FailureSlot = Arc::new(Mutex::new(None));
        let cells: Vec<std::sync::Arc<StageCell>> = self
            .stages
            .iter()
            .zip(&slots)
            .map(|(spec, &slot)| StageCell::in_group(spec.name.clone(), slot, spec.group.clone()))
            .collect();
        let mut graph = Graph::new(
            Arc::clone(&ring),
            Arc::clone(&failure),
            cells.clone(),
            self.policy,
        );
        let names: Vec<String> = self.stages.iter().map(|s| s.name.clone()).collect();
        let mut threads: Vec<ThreadPlan> = Vec::new();
        for (index, spec) in self.stages.into_iter().enumerate() {
            let slot = slots[index];
            let cell = std::sync::Arc::clone(&cells[index]);
            let upstream: Box<[usize]> = spec.after.iter().map(|d| slots[d.0]).collect();
            let barrier = SequenceBarrier::new(Arc::clone(&ring), upstream);
            let thread = heads[index].map(|head| names[head].clone());
            let info = StageInfo {
                name: spec.name.clone(),
                slot,
                core: spec.core,
                after: spec.after.iter().map(|d| slots[d.0]).collect(),
                gating: !has_dependents[index],
                poller: matches!(spec.kind, StageKind::Poller),
                thread,
                detached: false,
            };
            match spec.kind {
                StageKind::Poller => {
                    let recorder = StageRecorder::new(&ring, cell);
                    graph.add_poller(info, EventPoller::new(barrier, slot, recorder));
                }
                StageKind::Handler(make) => {
                    graph.add_stage(info);
                    let stage = make(StageContext {
                        name: spec.name.clone(),
                        barrier,
                        slot,
                        policy: self.policy,
                        failure: Arc::clone(&failure),
                        cell,
                    });
                    let head = heads[index].unwrap_or(index);
                    match threads.iter_mut().find(|t| t.head == head) {
                        Some(thread) => thread.stages.push(stage),
                        None => threads.push(ThreadPlan {
                            head,
                            name: spec.name,
                            core: placement.cores[head],
                            stages: vec![stage],
                        }),
                    }
                }
            }
        }
        for ThreadPlan {
            name,
            core,
            mut stages,
            ..
        } in threads
        {
            let thread_name = name.clone();
            let spawned = spawn(&name, move || {
                if let Some(core) = core {
                    pin::pin_current(&thread_name, core);
                }
                if stages.len() > 1 {
                    ThreadGroup::new(stages).run();
                } else if let Some(alone) = stages.pop() {
                    alone.run_alone();
                }
            });
            match spawned {
                Ok(handle) => graph.add_thread(name, handle),
                Err(source) => {
                    // Stop what already started before reporting.
                    let _ = graph.halt();
                    return Err(BuildError::Spawn {
                        stage: name,
                        source,
                    });
                }
            }
        }
        Ok(graph)
    }
}

#[cfg(not(loom))]
pub(super) fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<crate::sync::thread::JoinHandle<T>> {
    // Linux thread names hold 15 bytes.
    let short: String = name.chars().take(15).collect();
    std::thread::Builder::new().name(short).spawn(f)
}

#[cfg(loom)]
pub(super) fn spawn<T: Send + 'static>(
    _name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<crate::sync::thread::JoinHandle<T>> {
    Ok(loom::thread::spawn(f))
}

impl<'a, E: bytemuck::Pod + Send, H: EventHandler<E>> StageBuilder<'a, E, H> {
    /// Process each event only after all of `stages` have.
    pub fn after(mut self, stages: &[StageId]) -> Self {
        self.after.extend_from_slice(stages);
        self
    }

    /// Pin this stage's thread to core `core` (checked at build).
    pub fn pin(mut self, core: usize) -> Self {
        self.core = Some(core);
        self
    }

    /// Run this stage on the thread of `stage` (an earlier handler stage,
    /// or one already sharing another's thread) instead of a thread of its
    /// own. The thread runs its stages in declaration order, each a batch
    /// at a time with its own sequence, panic policy and figures, and
    /// sleeps only when none of them has anything to do.
    ///
    /// For machines with fewer cores than stages: handing an event to a
    /// stage on the same thread costs nothing, while handing it to a
    /// thread the OS has descheduled costs a context switch. The stages of
    /// a thread follow each other, so this trades their parallelism for
    /// fewer threads.
    ///
    /// Checked at build ([`BuildError::SharedThread`]): a stage joining a
    /// thread must depend only on stages of that thread, or on exactly
    /// what the thread's first stage depends on; then waiting on the first
    /// stage's input never misses work for the others. Stages of one
    /// thread that pin must name the same core
    /// ([`BuildError::SharedThreadCores`]).
    ///
    /// # Examples
    ///
    /// A diamond on one thread:
    ///
    /// ```
    /// use ringmaster::{handler_fn, GraphBuilder, RingConfig, WaitStrategy};
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    ///
    /// let sum = Arc::new(AtomicU64::new(0));
    /// let total = sum.clone();
    /// let mut builder = GraphBuilder::<u64>::new(
    ///     RingConfig::new(256).wait_strategy(WaitStrategy::Blocking),
    /// );
    /// let parse = builder.handler("parse", handler_fn(|_: &u64, _, _| {})).add();
    /// let index = builder
    ///     .handler("index", handler_fn(|_: &u64, _, _| {}))
    ///     .after(&[parse])
    ///     .same_thread_as(parse)
    ///     .add();
    /// let store = builder
    ///     .handler("store", handler_fn(|_: &u64, _, _| {}))
    ///     .after(&[parse])
    ///     .same_thread_as(parse)
    ///     .add();
    /// builder
    ///     .handler("reply", handler_fn(move |e: &u64, _, _| {
    ///         total.fetch_add(*e, Ordering::Relaxed);
    ///     }))
    ///     .after(&[index, store])
    ///     .same_thread_as(parse)
    ///     .add();
    /// let (mut producer, graph) = builder.build_single_producer()?;
    /// assert!(graph.stages().iter().all(|s| s.thread.as_deref() == Some("parse")));
    /// producer.publish_batch_with(100, |i, slot| *slot = i)?;
    /// graph.shutdown()?;
    /// assert_eq!(sum.load(Ordering::Relaxed), 4950);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn same_thread_as(mut self, stage: StageId) -> Self {
        self.same_thread_as = Some(stage);
        self
    }

    /// Hand the handler at most `events` events per batch (default: no
    /// limit, every event readable at once); checked at build
    /// ([`BuildError::ZeroMaxBatch`]).
    ///
    /// A batch ends with `end_of_batch`, where handlers usually deliver
    /// what they did (a reply, a group commit), and a stage publishes its
    /// progress to the stages after it only between batches. Under a
    /// burst, an unlimited batch makes the first event of the burst wait
    /// for the last: capping it lets the stages downstream, and whoever
    /// waits on them, start on the first events while this stage works
    /// through the rest. The price is the per-batch work, done more often.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::{handler_fn, GraphBuilder, RingConfig, WaitStrategy};
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    ///
    /// let ends = Arc::new(AtomicU64::new(0));
    /// let seen = ends.clone();
    /// let mut builder = GraphBuilder::<u64>::new(
    ///     RingConfig::new(1024).wait_strategy(WaitStrategy::Blocking),
    /// );
    /// builder
    ///     .handler("reply", handler_fn(move |_: &u64, _, end_of_batch| {
    ///         if end_of_batch {
    ///             seen.fetch_add(1, Ordering::Relaxed);
    ///         }
    ///     }))
    ///     .max_batch(100)
    ///     .add();
    /// let (mut producer, graph) = builder.build_single_producer()?;
    /// producer.publish_batch_with(1000, |i, slot| *slot = i)?;
    /// graph.shutdown()?;
    /// assert!(ends.load(Ordering::Relaxed) >= 10); // 1000 events, <= 100 a batch
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_batch(mut self, events: u64) -> Self {
        self.max_batch = events;
        self
    }

    /// Make the stage a member of `group` (a partitioned stage), for
    /// metrics.
    pub(super) fn in_group(mut self, group: (String, StageGroupKind)) -> Self {
        self.group = Some(group);
        self
    }

    /// Add the stage to the graph.
    pub fn add(self) -> StageId {
        let handler = self.handler;
        let max_batch = self.max_batch;
        let make: MakeStage<E> = Box::new(move |ctx: StageContext<E>| {
            Box::new(BatchProcessor::new(ctx, handler, max_batch))
        });
        let id = StageId(self.builder.stages.len());
        self.builder.stages.push(StageSpec {
            name: self.name,
            after: self.after,
            core: self.core,
            same_thread_as: self.same_thread_as,
            max_batch: self.max_batch,
            group: self.group,
            kind: StageKind::Handler(make),
        });
        id
    }
}

impl<'a, E: bytemuck::Pod + Send> PollerBuilder<'a, E> {
    /// Poll each event only after all of `stages` have processed it.
    pub fn after(mut self, stages: &[StageId]) -> Self {
        self.after.extend_from_slice(stages);
        self
    }

    /// Add the poller to the graph.
    pub fn add(self) -> StageId {
        let id = StageId(self.builder.stages.len());
        self.builder.stages.push(StageSpec {
            name: self.name,
            after: self.after,
            core: None,
            same_thread_as: None,
            max_batch: u64::MAX,
            group: None,
            kind: StageKind::Poller,
        });
        id
    }
}
