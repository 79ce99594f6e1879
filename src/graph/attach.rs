//! Stages that join and leave a running [`Graph`]: a new projection, a
//! debugging tap, an analytics reader, added and removed while producers
//! keep publishing.
//!
//! ```text
//!            before                         after attach("tap").after(&[journal])
//! P -> journal -> reply [gating]      P -> journal -> reply [gating]
//!                                                 \-> tap   [gating]
//! ```
//!
//! Joining: the stage takes a free consumer slot, sets its sequence (the
//! cursor, or a sequence the caller names that is still in the ring), and
//! gates producers before it reads anything, with the store-load fence
//! pair that producers' room checks pair with (`RingBuffer::start_consumer`
//! and `start_consumer_at`): a producer either sees the new gate or the new
//! stage sees its cursor, so it never reads a slot that may be overwritten.
//!
//! Leaving: a stage with no stage after it is asked to leave between two
//! batches (its wait ends at once), runs `on_shutdown`, and hands its
//! handler back; then its slot stops gating. The stages it ran after are
//! made gating first when nothing else runs after them, so producers are
//! never left ungated by anyone, nor gated by a stage that has gone.

use super::barrier::SequenceBarrier;
use super::builder::{spawn, StageId};
use super::handler::EventHandler;
use super::pin;
use super::poller::EventPoller;
use super::processor::{panic_message, BatchProcessor, StageContext};
use super::{Graph, StageInfo};
use crate::error::{AttachError, BuildError, DetachError};
use crate::metrics::{StageCell, StageRecorder};
use crate::region::MAX_CONSUMERS;
use crate::sync::{thread::JoinHandle, Arc, AtomicBool, Ordering};
use std::any::Any;
use std::marker::PhantomData;

/// A thread of a stage that joined the running graph.
#[derive(Debug)]
pub(super) struct AttachedThread {
    /// The stage's index in the graph's stages.
    pub(super) index: usize,
    /// Set to ask the stage to leave.
    leave: Arc<AtomicBool>,
    /// Ends with the stage's handler.
    pub(super) handle: JoinHandle<Box<dyn Any + Send>>,
}

/// A handler stage that joined a running graph, to hand back to
/// [`Graph::detach`] for its handler. A copy stays valid for the errors a
/// detach may return; once the stage has left, detaching it again is
/// [`DetachError::NotInGraph`].
#[must_use = "keep it to detach the stage and get its handler back"]
pub struct Attached<H> {
    id: StageId,
    start: u64,
    /// Which graph: its ring's address.
    graph: usize,
    handler: PhantomData<fn() -> H>,
}

impl<H> std::fmt::Debug for Attached<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attached")
            .field("id", &self.id)
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

impl<H> Clone for Attached<H> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<H> Copy for Attached<H> {}

impl<H> Attached<H> {
    /// The stage's id in the graph (for [`Graph::sequence`], and as a
    /// dependency of stages attached after it).
    pub fn id(&self) -> StageId {
        self.id
    }

    /// The first sequence the stage handles.
    pub fn start(&self) -> u64 {
        self.start
    }
}

/// A stage that left the graph: its handler, after `on_shutdown`, and the
/// events it handled.
#[derive(Debug)]
#[non_exhaustive]
pub struct Detached<H> {
    /// The stage's handler.
    pub handler: H,
    /// The first sequence it handled.
    pub start: u64,
    /// One past the last sequence it handled: it handled exactly
    /// `start..end`.
    pub end: u64,
}

/// A handler stage about to join a running graph; finish with
/// [`AttachBuilder::start`].
#[must_use = "call .start() to put the stage in the graph"]
pub struct AttachBuilder<'g, E, H> {
    graph: &'g mut Graph<E>,
    name: String,
    handler: H,
    after: Vec<StageId>,
    core: Option<usize>,
    max_batch: u64,
    from: Option<u64>,
}

impl<E, H> std::fmt::Debug for AttachBuilder<'_, E, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachBuilder")
            .field("name", &self.name)
            .field("after", &self.after)
            .field("core", &self.core)
            .field("max_batch", &self.max_batch)
            .field("from", &self.from)
            .finish()
    }
}

/// A poller about to join a running graph; finish with
/// [`PollerAttachBuilder::start`].
#[must_use = "call .start() to put the poller in the graph"]
#[derive(Debug)]
pub struct PollerAttachBuilder<'g, E> {
    graph: &'g mut Graph<E>,
    name: String,
    after: Vec<StageId>,
    from: Option<u64>,
}

impl<E: bytemuck::Pod + Send> Graph<E> {
    /// Add a handler stage to the running graph, on a thread of its own.
    /// It starts at the producer cursor (or at
    /// [`from_sequence`](AttachBuilder::from_sequence)), after the stages
    /// named by [`after`](AttachBuilder::after), and gates producers like
    /// any last stage. Producers keep publishing throughout. The same call
    /// works on a graph of a shared ring
    /// ([`SharedRing::consumers`](crate::shm::SharedRing::consumers)).
    ///
    /// # Examples
    ///
    /// A counting tap joins a running pipeline, then leaves it:
    ///
    /// ```
    /// use ringmaster::{handler_fn, GraphBuilder, RingConfig, WaitStrategy};
    ///
    /// let mut builder = GraphBuilder::<u64>::new(
    ///     RingConfig::new(64).wait_strategy(WaitStrategy::Blocking),
    /// );
    /// let store = builder.handler("store", handler_fn(|_: &u64, _, _| {})).add();
    /// let (mut producer, mut graph) = builder.build_single_producer()?;
    /// producer.publish_batch_with(10, |i, slot| *slot = i)?;
    ///
    /// let mut sum = 0u64;
    /// let tap = graph
    ///     .attach("tap", handler_fn(move |e: &u64, _, _| sum += e))
    ///     .after(&[store])
    ///     .start()?;
    /// assert_eq!(tap.start(), 10, "it starts at the cursor");
    /// producer.publish_batch_with(5, |i, slot| *slot = 100 + i)?;
    /// while graph.sequence(tap.id()) < 15 {
    ///     std::thread::yield_now();
    /// }
    /// let detached = graph.detach(tap)?;
    /// assert_eq!((detached.start, detached.end), (10, 15));
    /// for i in 0..100 {
    ///     producer.publish(i)?; // not gated by the tap
    /// }
    /// graph.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attach<H: EventHandler<E>>(
        &mut self,
        name: impl Into<String>,
        handler: H,
    ) -> AttachBuilder<'_, E, H> {
        AttachBuilder {
            graph: self,
            name: name.into(),
            handler,
            after: Vec::new(),
            core: None,
            max_batch: u64::MAX,
            from: None,
        }
    }

    /// Add an [`EventPoller`] to the running graph; it starts as
    /// [`attach`](Graph::attach)'s stages do. Give it back with
    /// [`detach_poller`](Graph::detach_poller).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::{GraphBuilder, NoopHandler, RingConfig};
    ///
    /// let mut builder = GraphBuilder::<u64>::new(RingConfig::new(64));
    /// builder.handler("store", NoopHandler).add();
    /// let (mut producer, mut graph) = builder.build_single_producer()?;
    /// producer.publish(1)?;
    /// producer.publish(2)?;
    /// // Read from sequence 1 on, if it is still in the ring.
    /// let mut poller = graph.attach_poller("reader").from_sequence(1).start()?;
    /// let mut seen = Vec::new();
    /// poller.poll(|e, _, _| { seen.push(*e); true });
    /// assert_eq!(seen, [2]);
    /// assert_eq!(graph.detach_poller(poller)?, 2);
    /// graph.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attach_poller(&mut self, name: impl Into<String>) -> PollerAttachBuilder<'_, E> {
        PollerAttachBuilder {
            graph: self,
            name: name.into(),
            after: Vec::new(),
            from: None,
        }
    }

    /// Take a stage that joined with [`attach`](Graph::attach) out of the
    /// running graph: it stops after its current batch, runs
    /// `on_shutdown`, and its handler comes back; producers are no longer
    /// gated by it when this returns. No other stage loses or sees again
    /// any event. Waits for the current batch (a handler that never
    /// returns blocks this call).
    ///
    /// # Errors
    ///
    /// [`DetachError::NotInGraph`] for another graph's stage,
    /// [`DetachError::HasDependents`] while stages run after it,
    /// [`DetachError::ThreadPanicked`] if its thread died outside the
    /// handler's calls (the stage has left; the handler is lost).
    pub fn detach<H: EventHandler<E>>(
        &mut self,
        stage: Attached<H>,
    ) -> Result<Detached<H>, DetachError> {
        let index = stage.id.index();
        let at = self
            .attached
            .iter()
            .position(|a| a.index == index)
            .filter(|_| stage.graph == self.identity());
        let Some(at) = at else {
            return Err(DetachError::NotInGraph {
                stage: format!("#{index}"),
            });
        };
        self.check_no_dependents(index)?;
        self.gate_upstream_of(index);
        let thread = self.attached.swap_remove(at);
        // Release: pairs with the Acquire in `SequenceBarrier::leaving`.
        thread.leave.store(true, Ordering::Release);
        self.ring.waiter().wake_all();
        let joined = thread.handle.join();
        let end = self.ring.consumer(self.stages[index].slot).get();
        self.retire(index);
        let name = self.stages[index].name.clone();
        match joined {
            Ok(handler) => match handler.downcast::<H>() {
                Ok(handler) => Ok(Detached {
                    handler: *handler,
                    start: stage.start,
                    end,
                }),
                // The stage was made from an `H` (`Attached<H>` is only
                // made with its own stage's type), so this cannot happen.
                Err(_) => Err(DetachError::ThreadPanicked {
                    stage: name,
                    message: "the stage's handler was not of the expected type".to_owned(),
                }),
            },
            Err(payload) => Err(DetachError::ThreadPanicked {
                stage: name,
                message: panic_message(&*payload),
            }),
        }
    }

    /// Take a poller out of the graph (one that joined with
    /// [`attach_poller`](Graph::attach_poller), or one declared at build
    /// and taken with [`take_poller`](Graph::take_poller)); returns the
    /// events it had polled (its sequence). Producers are no longer gated
    /// by it.
    ///
    /// # Errors
    ///
    /// [`DetachError::NotInGraph`] for another graph's poller,
    /// [`DetachError::HasDependents`] while stages run after it (the
    /// poller is dropped either way; on a private ring its slot stays
    /// taken until the graph ends).
    pub fn detach_poller(&mut self, poller: EventPoller<E>) -> Result<u64, DetachError> {
        let slot = poller.slot();
        let index = self
            .stages
            .iter()
            .position(|s| s.poller && !s.detached && s.slot == slot)
            .filter(|_| poller.reads(&self.ring));
        let Some(index) = index else {
            return Err(DetachError::NotInGraph {
                stage: format!("poller at slot {slot}"),
            });
        };
        self.check_no_dependents(index)?;
        self.gate_upstream_of(index);
        let end = self.ring.consumer(slot).get();
        poller.forget_slot();
        self.retire(index);
        Ok(end)
    }

    /// The graph's identity for [`Attached`] handles: its ring's address.
    fn identity(&self) -> usize {
        Arc::as_ptr(&self.ring) as usize
    }

    fn check_no_dependents(&self, index: usize) -> Result<(), DetachError> {
        let slot = self.stages[index].slot;
        let dependents: Vec<String> = self
            .stages
            .iter()
            .filter(|s| !s.detached && s.after.contains(&slot))
            .map(|s| s.name.clone())
            .collect();
        if dependents.is_empty() {
            Ok(())
        } else {
            Err(DetachError::HasDependents {
                stage: self.stages[index].name.clone(),
                dependents,
            })
        }
    }

    /// Before stage `index` leaves: each stage it runs after that nothing
    /// else runs after starts gating producers (its sequence is at or
    /// ahead of the leaving stage's, so their minimum does not drop).
    fn gate_upstream_of(&mut self, index: usize) {
        let leaving = self.stages[index].slot;
        for upstream in self.stages[index].after.clone() {
            let Some(up) = self
                .stages
                .iter()
                .position(|s| !s.detached && s.slot == upstream)
            else {
                continue;
            };
            let still_needed = self
                .stages
                .iter()
                .any(|s| !s.detached && s.slot != leaving && s.after.contains(&upstream));
            if !still_needed && !self.stages[up].gating {
                self.ring.gate_consumer(upstream);
                self.stages[up].gating = true;
            }
        }
    }

    /// Stage `index` has stopped reading: free its slot (producers stop
    /// waiting for it, and wake if they slept on it) and its figures.
    fn retire(&mut self, index: usize) {
        let slot = self.stages[index].slot;
        self.ring.release_consumer(slot);
        self.ring.waiter().wake_all();
        self.metrics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove_stage(&self.cells[index]);
        let stage = &mut self.stages[index];
        stage.detached = true;
        stage.gating = false;
    }

    /// The slots of `after`, checked; a stage's name for errors.
    fn upstream_slots(&self, stage: &str, after: &[StageId]) -> Result<Vec<usize>, AttachError> {
        after
            .iter()
            .map(|id| match self.stages.get(id.index()) {
                None => Err(AttachError::UnknownStage {
                    stage: stage.to_owned(),
                    dependency: id.index(),
                }),
                Some(s) if s.detached => Err(AttachError::DependencyDetached {
                    stage: stage.to_owned(),
                    dependency: s.name.clone(),
                }),
                Some(s) => Ok(s.slot),
            })
            .collect()
    }

    /// Take a slot and start it at `from` (or the cursor): the first
    /// sequence it reads. On error the slot is free again.
    fn join_ring(&self, stage: &str, from: Option<u64>) -> Result<(usize, u64), AttachError> {
        if self.ring.is_halted() {
            return Err(AttachError::Halted {
                stage: stage.to_owned(),
            });
        }
        let Some(slot) = self.ring.allocate_consumer() else {
            return Err(AttachError::NoFreeSlot {
                stage: stage.to_owned(),
                max: MAX_CONSUMERS,
            });
        };
        match from {
            None => {
                self.ring.start_consumer(slot, true);
                Ok((slot, self.ring.consumer(slot).get_relaxed()))
            }
            Some(from) => match self.ring.start_consumer_at(slot, from) {
                Ok(()) => Ok((slot, from)),
                Err((oldest, cursor)) => {
                    // The slot gated for a moment: a producer may have
                    // gone to sleep on it.
                    self.ring.release_consumer(slot);
                    self.ring.waiter().wake_all();
                    Err(AttachError::NotInRing {
                        stage: stage.to_owned(),
                        from,
                        oldest,
                        cursor,
                    })
                }
            },
        }
    }

    /// Record a stage that joined (gating: nothing runs after it yet):
    /// its info, figures and cell. A handler stage (`core` given or not)
    /// runs on a thread named after it; a poller on the application's.
    fn admit(
        &mut self,
        slot: usize,
        after: Vec<usize>,
        core: Option<usize>,
        poller: bool,
        cell: std::sync::Arc<StageCell>,
    ) -> StageId {
        self.metrics
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .add_stage(std::sync::Arc::clone(&cell));
        self.stages.push(StageInfo {
            name: cell.name.clone(),
            slot,
            core,
            after,
            gating: true,
            poller,
            thread: (!poller).then(|| cell.name.clone()),
            detached: false,
        });
        self.cells.push(cell);
        StageId::at(self.stages.len() - 1)
    }
}

impl<E: bytemuck::Pod + Send, H: EventHandler<E>> AttachBuilder<'_, E, H> {
    /// Handle each event only after all of `stages` have (stages of this
    /// graph that have not left).
    pub fn after(mut self, stages: &[StageId]) -> Self {
        self.after.extend_from_slice(stages);
        self
    }

    /// Pin the stage's thread to core `core`.
    pub fn pin(mut self, core: usize) -> Self {
        self.core = Some(core);
        self
    }

    /// At most `events` events per batch (see
    /// [`StageBuilder::max_batch`](crate::StageBuilder::max_batch)).
    pub fn max_batch(mut self, events: u64) -> Self {
        self.max_batch = events;
        self
    }

    /// Start at `sequence` rather than the cursor: it must still be in
    /// the ring, at or after the slowest gating stage's sequence (older
    /// slots may be overwritten at any moment) and at most the cursor.
    pub fn from_sequence(mut self, sequence: u64) -> Self {
        self.from = Some(sequence);
        self
    }

    /// Start the stage.
    ///
    /// # Errors
    ///
    /// [`AttachError`]: the graph halted, an unknown or detached
    /// dependency, no free consumer slot, a start sequence no longer in
    /// the ring, `max_batch` 0, a core that does not exist, or a thread
    /// the OS would not start.
    pub fn start(self) -> Result<Attached<H>, AttachError> {
        let Self {
            graph,
            name,
            handler,
            after,
            core,
            max_batch,
            from,
        } = self;
        if max_batch == 0 {
            return Err(AttachError::ZeroMaxBatch { stage: name });
        }
        if let Some(core) = core {
            pin::check_core(&name, core, &pin::available_cores())?;
        }
        let upstream = graph.upstream_slots(&name, &after)?;
        let (slot, start) = graph.join_ring(&name, from)?;
        let leave = Arc::new(AtomicBool::new(false));
        let cell = StageCell::new(name.clone(), slot);
        let processor = BatchProcessor::new(
            StageContext {
                name: name.clone(),
                barrier: SequenceBarrier::leavable(
                    Arc::clone(&graph.ring),
                    upstream.clone().into(),
                    Arc::clone(&leave),
                ),
                slot,
                policy: graph.policy,
                failure: Arc::clone(&graph.failure),
                cell: std::sync::Arc::clone(&cell),
            },
            handler,
            max_batch,
        );
        let thread_name = name.clone();
        let spawned = spawn(&name, move || {
            if let Some(core) = core {
                pin::pin_current(&thread_name, core);
            }
            Box::new(processor.run_to_end()) as Box<dyn Any + Send>
        });
        let handle = match spawned {
            Ok(handle) => handle,
            Err(source) => {
                graph.ring.release_consumer(slot);
                graph.ring.waiter().wake_all();
                return Err(AttachError::Thread(BuildError::Spawn {
                    stage: name,
                    source,
                }));
            }
        };
        let id = graph.admit(slot, upstream, core, false, cell);
        graph.attached.push(AttachedThread {
            index: id.index(),
            leave,
            handle,
        });
        Ok(Attached {
            id,
            start,
            graph: graph.identity(),
            handler: PhantomData,
        })
    }
}

impl<E: bytemuck::Pod + Send> PollerAttachBuilder<'_, E> {
    /// Poll each event only after all of `stages` have processed it.
    pub fn after(mut self, stages: &[StageId]) -> Self {
        self.after.extend_from_slice(stages);
        self
    }

    /// Start at `sequence` rather than the cursor (see
    /// [`AttachBuilder::from_sequence`]).
    pub fn from_sequence(mut self, sequence: u64) -> Self {
        self.from = Some(sequence);
        self
    }

    /// Start the poller.
    ///
    /// # Errors
    ///
    /// As [`AttachBuilder::start`], less the thread's.
    pub fn start(self) -> Result<EventPoller<E>, AttachError> {
        let Self {
            graph,
            name,
            after,
            from,
        } = self;
        let upstream = graph.upstream_slots(&name, &after)?;
        let (slot, _) = graph.join_ring(&name, from)?;
        let cell = StageCell::new(name.clone(), slot);
        let barrier = SequenceBarrier::new(Arc::clone(&graph.ring), upstream.clone().into());
        let recorder = StageRecorder::new(&graph.ring, std::sync::Arc::clone(&cell));
        let poller = EventPoller::new(barrier, slot, recorder);
        graph.admit(slot, upstream, None, true, cell);
        Ok(poller)
    }
}
