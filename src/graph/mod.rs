//! The consumer graph: handler stages on their own threads, pollers on the
//! application's, and the running [`Graph`] that owns them.

mod attach;
mod barrier;
mod builder;
mod handler;
mod partition;
mod pin;
mod poller;
mod processor;
mod thread_group;
mod work_pool;

pub use attach::{AttachBuilder, Attached, Detached, PollerAttachBuilder};
pub use builder::{GraphBuilder, PollerBuilder, StageBuilder, StageId};
pub use handler::{handler_fn, EventHandler, FnHandler, NoopHandler};
pub use partition::{partition_of, Partition, PartitionedBuilder, PartitionedStage};
pub(crate) use pin::available_cores;
pub use pin::pin_current_thread;
pub use poller::{EventPoller, PollState};
pub use processor::PanicPolicy;
pub use work_pool::{WorkPool, WorkPoolBuilder};

use crate::error::ShutdownError;
use crate::metrics::{Metrics, MetricsSnapshot, RingOf, StageCell};
use crate::ring::RingBuffer;
use crate::sync::{thread::JoinHandle, Arc};
use processor::{panic_message, record_failure, Failure, FailureSlot};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

/// What a stage is, for reports and introspection.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageInfo {
    /// The stage's name.
    pub name: String,
    /// Its consumer slot in the region header.
    pub slot: usize,
    /// The core it is pinned to, if any.
    pub core: Option<usize>,
    /// Slots of the stages it runs after.
    pub after: Vec<usize>,
    /// Whether producers wait for it before reusing a slot.
    pub gating: bool,
    /// Whether it is a poller (driven by the application) rather than a
    /// handler thread.
    pub poller: bool,
    /// The name of the thread that runs it: its own name, or the first
    /// stage's of the thread it shares
    /// ([`StageBuilder::same_thread_as`]); `None` for a poller.
    pub thread: Option<String>,
    /// Whether it left the graph ([`Graph::detach`]); its slot may now
    /// belong to a stage that joined later.
    pub detached: bool,
}

/// A running consumer graph: its ring, handler threads and pollers.
///
/// Stop it with [`shutdown`](Graph::shutdown) (drain, then stop),
/// [`shutdown_timeout`](Graph::shutdown_timeout) or [`halt`](Graph::halt)
/// (stop now). Dropping a graph halts it.
///
/// `Send`; methods take `&self` or `self`.
///
/// # Examples
///
/// ```
/// use ringmaster::{handler_fn, GraphBuilder, RingConfig};
/// use std::sync::{atomic::{AtomicU64, Ordering}, Arc};
///
/// let seen = Arc::new(AtomicU64::new(0));
/// let s = seen.clone();
/// let mut builder = GraphBuilder::<u64>::new(RingConfig::new(8));
/// builder.handler("count", handler_fn(move |_: &u64, _, _| { s.fetch_add(1, Ordering::Relaxed); })).add();
/// let (mut producer, graph) = builder.build_single_producer()?;
/// for i in 0..100 {
///     producer.publish(i)?; // waits while the 8 slots are full
/// }
/// graph.shutdown()?;       // every published event reached the handler
/// assert_eq!(seen.load(Ordering::Relaxed), 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Graph<E> {
    ring: Arc<RingBuffer<E>>,
    failure: FailureSlot,
    stages: Vec<StageInfo>,
    threads: Vec<(String, JoinHandle<()>)>,
    pollers: Vec<(usize, EventPoller<E>)>,
    /// Per stage (as `stages`), its metrics cell.
    cells: Vec<std::sync::Arc<StageCell>>,
    /// Stages that joined the running graph, with their threads.
    attached: Vec<attach::AttachedThread>,
    /// The panic policy of the graph's stages, for those that join later.
    policy: PanicPolicy,
    /// The graph's own metrics handle (its intervals run between calls
    /// of [`Graph::metrics`]).
    metrics: std::sync::Mutex<Metrics>,
}

impl<E: bytemuck::Pod + Send> Graph<E> {
    pub(crate) fn new(
        ring: Arc<RingBuffer<E>>,
        failure: FailureSlot,
        cells: Vec<std::sync::Arc<StageCell>>,
        policy: PanicPolicy,
    ) -> Self {
        let counters = std::sync::Arc::new(RingOf(Arc::clone(&ring)));
        Self {
            ring,
            failure,
            stages: Vec::new(),
            threads: Vec::new(),
            pollers: Vec::new(),
            metrics: std::sync::Mutex::new(Metrics::new(counters, cells.clone())),
            cells,
            attached: Vec::new(),
            policy,
        }
    }

    pub(crate) fn add_stage(&mut self, info: StageInfo) {
        self.stages.push(info);
    }

    pub(crate) fn add_thread(&mut self, name: String, handle: JoinHandle<()>) {
        self.threads.push((name, handle));
    }

    pub(crate) fn add_poller(&mut self, info: StageInfo, poller: EventPoller<E>) {
        self.pollers.push((info.slot, poller));
        self.stages.push(info);
    }

    /// The ring.
    pub fn ring(&self) -> &RingBuffer<E> {
        &self.ring
    }

    /// Every stage's figures now (see [`crate::metrics`]): cumulative
    /// since the graph started, and for the interval since the previous
    /// call. Taken while the stages run, without pausing them; a stage
    /// adds its figures about every 50 ms and when it stops.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::{GraphBuilder, NoopHandler, RingConfig};
    /// let mut builder = GraphBuilder::<u64>::new(RingConfig::new(64));
    /// builder.handler("sink", NoopHandler).add();
    /// let (mut producer, graph) = builder.build_single_producer()?;
    /// producer.publish(1)?;
    /// let snapshot = graph.metrics();
    /// assert_eq!(snapshot.stages.len(), 1);
    /// assert_eq!(snapshot.sampling, 1024);
    /// graph.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .snapshot()
    }

    /// A handle on this graph's figures for another thread (a reporter, a
    /// monitoring endpoint); it outlives the graph and then shows the
    /// final figures. Its intervals are its own.
    pub fn metrics_handle(&self) -> Metrics {
        let mut handle = self
            .metrics
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        handle.forget_previous();
        handle
    }

    /// Every stage, in the order declared, then those that joined the
    /// running graph (including those that left it since: see
    /// [`StageInfo::detached`]).
    pub fn stages(&self) -> &[StageInfo] {
        &self.stages
    }

    /// Events stage `id` has processed so far (for a stage that left, the
    /// value of the slot it held, which another stage may hold now: use
    /// [`Detached::end`]).
    ///
    /// # Panics
    ///
    /// When `id` does not belong to this graph (a programmer error).
    pub fn sequence(&self, id: StageId) -> u64 {
        let stage = self
            .stages
            .get(id.index())
            .unwrap_or_else(|| panic!("stage {id:?} is not in this graph"));
        self.ring.consumer(stage.slot).get_relaxed()
    }

    /// Take the poller declared as `id` (once).
    pub fn take_poller(&mut self, id: StageId) -> Option<EventPoller<E>> {
        let slot = self.stages.get(id.index())?.slot;
        let at = self.pollers.iter().position(|(s, _)| *s == slot)?;
        Some(self.pollers.swap_remove(at).1)
    }

    /// A one-line description of the topology, e.g.
    /// `P -> journal -> (catalog | index) -> reply`, approximated by
    /// listing each stage with what it runs after.
    pub fn topology(&self) -> String {
        let name = |slot: usize| {
            self.stages
                .iter()
                .find(|s| s.slot == slot && !s.detached)
                .map_or("?", |s| s.name.as_str())
        };
        self.stages
            .iter()
            .filter(|s| !s.detached)
            .map(|s| {
                let from = if s.after.is_empty() {
                    "producer".to_owned()
                } else {
                    s.after
                        .iter()
                        .map(|&a| name(a))
                        .collect::<Vec<_>>()
                        .join("+")
                };
                let pin = s.core.map(|c| format!(" @core{c}")).unwrap_or_default();
                let shared = match &s.thread {
                    Some(thread) if *thread != s.name => format!(" (on {thread}'s thread)"),
                    _ => String::new(),
                };
                let gate = if s.gating { " [gating]" } else { "" };
                format!("{from} -> {}{shared}{pin}{gate}", s.name)
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Wait until every handler stage has processed every event published
    /// (claimed, for several producers) when this is called, then stop all
    /// stages and join their threads. Pollers are not waited for.
    ///
    /// Producers should have stopped: events published after the call may
    /// or may not be processed. With several producers, every claimed slot
    /// must be published, or this waits forever (use
    /// [`shutdown_timeout`](Graph::shutdown_timeout)).
    ///
    /// # Errors
    ///
    /// [`ShutdownError::HandlerPanicked`] when a handler panicked.
    pub fn shutdown(self) -> Result<(), ShutdownError> {
        self.drain_then_stop(None)
    }

    /// As [`shutdown`](Graph::shutdown), but halt anyway after `timeout`.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::Timeout`] with the events left unprocessed, or
    /// [`ShutdownError::HandlerPanicked`].
    pub fn shutdown_timeout(self, timeout: Duration) -> Result<(), ShutdownError> {
        self.drain_then_stop(Some(Instant::now() + timeout))
    }

    /// Stop every stage after its current batch, without draining, and join.
    ///
    /// # Errors
    ///
    /// [`ShutdownError::HandlerPanicked`] when a handler panicked.
    pub fn halt(mut self) -> Result<(), ShutdownError> {
        self.stop()
    }

    fn drain_then_stop(mut self, deadline: Option<Instant>) -> Result<(), ShutdownError> {
        let drained = self.drain(deadline);
        let stopped = self.stop();
        stopped.and(drained)
    }

    fn slowest_handler(&self) -> u64 {
        self.stages
            .iter()
            .filter(|s| !s.poller && !s.detached)
            .map(|s| self.ring.consumer(s.slot).get())
            .min()
            .unwrap_or(u64::MAX)
    }

    fn drain(&self, deadline: Option<Instant>) -> Result<(), ShutdownError> {
        let target = self.ring.cursor_seq().get();
        let mut idle_rounds = 0u32;
        loop {
            let slowest = self.slowest_handler();
            if slowest >= target || self.ring.is_halted() {
                return Ok(());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Err(ShutdownError::Timeout {
                    pending: target - slowest,
                });
            }
            idle_rounds += 1;
            if cfg!(loom) || idle_rounds < 64 {
                crate::sync::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }

    /// A shared ring's handler slots go back to the region once their
    /// threads stopped, so producers of other processes stop waiting for
    /// them. (A private ring keeps them: it dies with the graph.)
    fn release_handler_slots(&self) {
        if self.ring.liveness().is_some() {
            for stage in self.stages.iter().filter(|s| !s.poller && !s.detached) {
                self.ring.release_consumer(stage.slot);
            }
        }
    }

    fn stop(&mut self) -> Result<(), ShutdownError> {
        self.ring.alert();
        let joined = !self.threads.is_empty() || !self.attached.is_empty();
        let mut outcomes = Vec::with_capacity(self.threads.len() + self.attached.len());
        for (stage, handle) in self.threads.drain(..) {
            outcomes.push((stage, handle.join()));
        }
        for attached in self.attached.drain(..) {
            let stage = self.stages[attached.index].name.clone();
            outcomes.push((stage, attached.handle.join().map(drop)));
        }
        for (stage, outcome) in outcomes {
            if let Err(payload) = outcome {
                record_failure(
                    &self.failure,
                    Failure {
                        stage,
                        sequence: u64::MAX,
                        message: panic_message(&*payload),
                        error: None,
                    },
                );
            }
        }
        if joined {
            self.release_handler_slots();
        }
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match failure {
            None => Ok(()),
            Some(Failure {
                stage,
                sequence,
                error: Some(source),
                ..
            }) => Err(ShutdownError::StageFailed {
                stage,
                sequence,
                source,
            }),
            Some(f) => Err(ShutdownError::HandlerPanicked {
                stage: f.stage,
                sequence: f.sequence,
                message: f.message,
            }),
        }
    }
}

impl<E> Drop for Graph<E> {
    fn drop(&mut self) {
        if !self.threads.is_empty() || !self.attached.is_empty() {
            self.ring.alert();
            for (_, handle) in self.threads.drain(..) {
                let _ = handle.join();
            }
            for attached in self.attached.drain(..) {
                let _ = attached.handle.join();
            }
            if self.ring.liveness().is_some() {
                for stage in self.stages.iter().filter(|s| !s.poller && !s.detached) {
                    self.ring.release_consumer(stage.slot);
                }
            }
        }
    }
}
