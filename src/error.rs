//! Typed errors. Cold-path errors (configuration, graph building, lifecycle)
//! use `thiserror` with structured fields; hot-path errors are tiny `Copy`
//! enums that never allocate and hand ownership back where there is any.

use std::fmt;

/// Why a ring's configuration was refused.
///
/// # Examples
///
/// ```
/// use ringmaster::{ConfigError, RingConfig};
///
/// let err = RingConfig::new(1000).validate::<u64>().unwrap_err();
/// assert!(matches!(err, ConfigError::CapacityNotPowerOfTwo { capacity: 1000 }));
/// assert!(err.to_string().contains("power of two"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The capacity was zero.
    #[error("ring capacity must be at least 1, got 0")]
    CapacityZero,
    /// The capacity was not a power of two.
    #[error("ring capacity must be a power of two, got {capacity} (nearest: {})", capacity.next_power_of_two())]
    CapacityNotPowerOfTwo {
        /// The capacity asked for.
        capacity: u64,
    },
    /// The capacity exceeds what one region may hold.
    #[error("ring capacity {capacity} exceeds the maximum of {max} slots")]
    CapacityTooLarge {
        /// The capacity asked for.
        capacity: u64,
        /// The largest capacity accepted.
        max: u64,
    },
    /// The region for this capacity and event size would not fit the address space.
    #[error("a ring of {capacity} slots of {event_size} bytes needs more than the {max} bytes a region may span")]
    RegionTooLarge {
        /// The capacity asked for.
        capacity: u64,
        /// `size_of::<E>()`.
        event_size: usize,
        /// The largest region length accepted.
        max: u64,
    },
    /// The event type has size zero.
    #[error("event type has size zero; events must carry at least one byte")]
    EventZeroSized,
    /// The event type is larger than a slot may be.
    #[error("event type is {size} bytes; the maximum is {max}")]
    EventTooLarge {
        /// `size_of::<E>()`.
        size: usize,
        /// The largest event accepted.
        max: usize,
    },
    /// The event type needs a stricter alignment than a slot offers.
    #[error("event type needs {align}-byte alignment; the maximum is {max}")]
    EventAlignmentTooLarge {
        /// `align_of::<E>()`.
        align: usize,
        /// The strictest alignment accepted.
        max: usize,
    },
    /// The metrics sampling interval is neither 0 nor a power of two up
    /// to the largest capacity.
    #[error(
        "metrics sampling interval must be 0 (off) or a power of two up to {max}, got {every}"
    )]
    SamplingInvalid {
        /// The interval asked for.
        every: u64,
        /// The largest interval accepted.
        max: u64,
    },
    /// The operating system refused the mapping.
    #[error("mapping a {len}-byte region failed: {source}")]
    MapFailed {
        /// Bytes requested.
        len: usize,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// Why the consumer graph could not be built or started.
///
/// # Examples
///
/// ```
/// use ringmaster::{BuildError, GraphBuilder, RingConfig};
///
/// let builder = GraphBuilder::<u64>::new(RingConfig::new(64));
/// assert!(matches!(builder.build_single_producer().unwrap_err(), BuildError::NoConsumers));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The ring configuration was invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// No handler or poller consumes the ring, so nothing would gate producers.
    #[error("the graph has no consumers; add at least one handler or poller")]
    NoConsumers,
    /// A stage names a dependency that is not part of this builder.
    #[error("stage `{stage}` depends on stage #{dependency}, which this builder did not create")]
    UnknownStage {
        /// The stage being added.
        stage: String,
        /// The index of the unknown dependency.
        dependency: usize,
    },
    /// More consumers than the region header has slots for.
    #[error("{count} consumers requested; a ring supports at most {max}")]
    TooManyConsumers {
        /// Consumers requested.
        count: usize,
        /// Slots in the region header.
        max: usize,
    },
    /// A stage's [`max_batch`](crate::StageBuilder::max_batch) was 0: it
    /// could never handle an event.
    #[error("stage `{stage}` has max_batch 0; a batch must hold at least one event")]
    ZeroMaxBatch {
        /// The stage.
        stage: String,
    },
    /// A stage asked to be pinned to a core that does not exist.
    #[error("stage `{stage}` asks for core {core}, but this machine has cores 0..{available}")]
    NoSuchCore {
        /// The stage.
        stage: String,
        /// The core asked for.
        core: usize,
        /// Number of cores the OS reports for this process.
        available: usize,
    },
    /// `build_consumers` on a builder from [`GraphBuilder::new`](crate::GraphBuilder::new),
    /// whose private ring no producer could reach.
    #[error("build_consumers needs a shared ring (SharedRing::consumers); a private ring is built with its producer by build_single_producer or build_multi_producer")]
    NotShared,
    /// `build_*_producer` on a builder for a shared ring.
    #[error("a shared ring's producers come from SharedRing::single_producer or multi_producer; build its stages with build_consumers")]
    SharedProducer,
    /// The region has no free consumer slot for a stage.
    #[error("no free consumer slot for stage `{stage}`: all {max} slots of the region are taken")]
    NoFreeSlot {
        /// The stage that found none.
        stage: String,
        /// Slots in the region header.
        max: usize,
    },
    /// A stage cannot share the thread it asked for
    /// ([`StageBuilder::same_thread_as`](crate::StageBuilder::same_thread_as)).
    #[error("stage `{stage}` cannot run on the thread of stage `{thread}`: {problem}")]
    SharedThread {
        /// The stage asking to share.
        stage: String,
        /// The first stage of the thread it asked for.
        thread: String,
        /// Why not.
        problem: &'static str,
    },
    /// Stages sharing one thread asked to be pinned to different cores.
    #[error("stage `{stage}` asks for core {core}, but it shares the thread of stage `{thread}`, pinned to core {thread_core}")]
    SharedThreadCores {
        /// The stage.
        stage: String,
        /// The core it asked for.
        core: usize,
        /// The first stage of its thread.
        thread: String,
        /// The core another stage of the thread asked for.
        thread_core: usize,
    },
    /// The OS refused to start a handler thread.
    #[error("spawning the thread for stage `{stage}` failed: {source}")]
    Spawn {
        /// The stage.
        stage: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// Why a stage could not join a running graph
/// ([`Graph::attach`](crate::Graph::attach),
/// [`Graph::attach_poller`](crate::Graph::attach_poller)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttachError {
    /// The graph was halted (a handler failed, or it is stopping).
    #[error("stage `{stage}` cannot join: the graph was halted")]
    Halted {
        /// The stage.
        stage: String,
    },
    /// A dependency is not a stage of this graph.
    #[error("stage `{stage}` depends on stage #{dependency}, which is not in this graph")]
    UnknownStage {
        /// The stage.
        stage: String,
        /// The index of the unknown dependency.
        dependency: usize,
    },
    /// A dependency left the graph.
    #[error("stage `{stage}` depends on stage `{dependency}`, which was detached")]
    DependencyDetached {
        /// The stage.
        stage: String,
        /// The detached dependency.
        dependency: String,
    },
    /// Every consumer slot of the ring's region is taken.
    #[error("no free consumer slot for stage `{stage}`: all {max} slots of the region are taken")]
    NoFreeSlot {
        /// The stage.
        stage: String,
        /// Slots in the region header.
        max: usize,
    },
    /// The sequence to start from is no longer (or not yet) in the ring.
    #[error("stage `{stage}` cannot start at sequence {from}: the ring holds {oldest}..{cursor} (older events may be overwritten at any time)")]
    NotInRing {
        /// The stage.
        stage: String,
        /// The sequence asked for.
        from: u64,
        /// The oldest sequence no producer may overwrite yet (the slowest
        /// gating stage's).
        oldest: u64,
        /// The producer cursor.
        cursor: u64,
    },
    /// The stage's `max_batch` was 0.
    #[error("stage `{stage}` has max_batch 0; a batch must hold at least one event")]
    ZeroMaxBatch {
        /// The stage.
        stage: String,
    },
    /// The core to pin to does not exist, or the OS refused the thread.
    #[error(transparent)]
    Thread(#[from] BuildError),
}

/// Why a stage could not leave a running graph
/// ([`Graph::detach`](crate::Graph::detach),
/// [`Graph::detach_poller`](crate::Graph::detach_poller)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetachError {
    /// The stage is not in this graph (another graph's, or already
    /// detached).
    #[error("stage `{stage}` is not attached to this graph")]
    NotInGraph {
        /// The stage.
        stage: String,
    },
    /// Stages still run after it: detach them first.
    #[error("stage `{stage}` cannot leave while stages run after it: {dependents:?}")]
    HasDependents {
        /// The stage.
        stage: String,
        /// The stages that depend on it.
        dependents: Vec<String>,
    },
    /// The stage's thread panicked outside its handler's calls, so its
    /// handler is lost. The stage has left the graph.
    #[error("stage `{stage}` left, but its thread panicked: {message}")]
    ThreadPanicked {
        /// The stage.
        stage: String,
        /// The panic payload, when it was a string.
        message: String,
    },
}

/// Why a running graph did not stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// Published events were still unprocessed when the timeout ran out;
    /// the graph was halted anyway.
    #[error("shutdown timed out with {pending} published events not yet processed by every stage")]
    Timeout {
        /// Events published but not yet seen by the slowest terminal stage.
        pending: u64,
    },
    /// One or more handlers panicked; the first panic is reported.
    #[error("handler `{stage}` panicked at sequence {sequence}: {message}")]
    HandlerPanicked {
        /// The stage whose handler panicked.
        stage: String,
        /// The sequence being processed.
        sequence: u64,
        /// The panic payload, when it was a string.
        message: String,
    },
    /// A handler failed a batch
    /// ([`EventHandler::on_batch_end`](crate::EventHandler::on_batch_end)
    /// returned an error): the graph halted with the stage's sequence at
    /// the batch's first event, so no stage after it saw any of the batch.
    #[error("stage `{stage}` failed the batch starting at sequence {sequence}: {source}")]
    StageFailed {
        /// The stage.
        stage: String,
        /// The first sequence of the failed batch: the stage's sequence
        /// stayed here.
        sequence: u64,
        /// What the handler reported.
        #[source]
        source: StageError,
    },
}

/// Why a handler failed a batch: any error, carried from
/// [`EventHandler::on_batch_end`](crate::EventHandler::on_batch_end) to
/// [`ShutdownError::StageFailed`].
///
/// # Examples
///
/// ```
/// use ringmaster::StageError;
/// let io = std::io::Error::new(std::io::ErrorKind::Other, "disk on fire");
/// let err = StageError::new(io);
/// assert_eq!(err.to_string(), "disk on fire");
/// assert!(err.downcast_ref::<std::io::Error>().is_some());
/// ```
#[derive(Debug)]
pub struct StageError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl StageError {
    /// Wrap `error`.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self(Box::new(error))
    }

    /// The wrapped error as `T`, if it is one.
    pub fn downcast_ref<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.0.downcast_ref()
    }

    /// The wrapped error.
    pub fn into_inner(self) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self.0
    }
}

impl fmt::Display for StageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for StageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Why a blocking claim failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimError {
    /// The graph was halted (by `halt`, a panic policy, or shutdown); no
    /// consumer will free slots again.
    Halted,
    /// More slots were asked for than the ring has.
    TooLarge {
        /// Slots asked for.
        requested: u64,
        /// Ring capacity.
        capacity: u64,
    },
    /// A consumer process gating the ring died (shared rings under
    /// [`DeadConsumerPolicy::Fail`](crate::shm::DeadConsumerPolicy::Fail)).
    /// A multi-producer claim that fails this way has already taken its
    /// sequences: the ring cannot move past them, recreate it.
    ConsumerDead {
        /// The dead consumer's slot in the region header.
        slot: usize,
        /// Its process id.
        pid: u32,
    },
}

/// Why a non-blocking (`try_`) or bounded (`_timeout`) claim failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryClaimError {
    /// The ring had no room for the claim (at once, or within the timeout).
    Full,
    /// The graph was halted.
    Halted,
    /// More slots were asked for than the ring has.
    TooLarge {
        /// Slots asked for.
        requested: u64,
        /// Ring capacity.
        capacity: u64,
    },
    /// A consumer process gating the ring died (shared rings under
    /// [`DeadConsumerPolicy::Fail`](crate::shm::DeadConsumerPolicy::Fail)).
    /// A multi-producer claim that fails this way has already taken its
    /// sequences: the ring cannot move past them, recreate it.
    ConsumerDead {
        /// The dead consumer's slot in the region header.
        slot: usize,
        /// Its process id.
        pid: u32,
    },
}

/// A failed `try_publish`, handing the event back.
///
/// `Debug` does not require `E: Debug`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TryPublishError<E> {
    /// The ring was full; here is the event.
    Full(E),
    /// The graph was halted; here is the event.
    Halted(E),
}

impl<E> TryPublishError<E> {
    /// Take the event back.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::TryPublishError;
    /// assert_eq!(TryPublishError::Full(7u64).into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> E {
        match self {
            Self::Full(e) | Self::Halted(e) => e,
        }
    }
}

/// Why a consumer's wait ended without new events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitError {
    /// The graph was halted while waiting.
    Alerted,
    /// The timeout ran out.
    Timeout,
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Halted => f.write_str("the ring was halted"),
            Self::TooLarge {
                requested,
                capacity,
            } => write!(
                f,
                "claim of {requested} slots exceeds ring capacity {capacity}"
            ),
            Self::ConsumerDead { slot, pid } => write!(
                f,
                "consumer slot {slot} belongs to process {pid}, which died; the ring cannot move on"
            ),
        }
    }
}

impl fmt::Display for TryClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full => f.write_str("the ring is full"),
            Self::Halted => f.write_str("the ring was halted"),
            Self::TooLarge {
                requested,
                capacity,
            } => write!(
                f,
                "claim of {requested} slots exceeds ring capacity {capacity}"
            ),
            Self::ConsumerDead { slot, pid } => write!(
                f,
                "consumer slot {slot} belongs to process {pid}, which died; the ring cannot move on"
            ),
        }
    }
}

impl<E> fmt::Debug for TryPublishError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("Full(..)"),
            Self::Halted(_) => f.write_str("Halted(..)"),
        }
    }
}

impl<E> fmt::Display for TryPublishError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full(_) => f.write_str("the ring is full"),
            Self::Halted(_) => f.write_str("the ring was halted"),
        }
    }
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Alerted => f.write_str("the ring was halted while waiting"),
            Self::Timeout => f.write_str("timed out waiting"),
        }
    }
}

impl std::error::Error for ClaimError {}
impl std::error::Error for TryClaimError {}
impl<E> std::error::Error for TryPublishError<E> {}
impl std::error::Error for WaitError {}

impl From<ClaimError> for TryClaimError {
    fn from(e: ClaimError) -> Self {
        match e {
            ClaimError::Halted => Self::Halted,
            ClaimError::TooLarge {
                requested,
                capacity,
            } => Self::TooLarge {
                requested,
                capacity,
            },
            ClaimError::ConsumerDead { slot, pid } => Self::ConsumerDead { slot, pid },
        }
    }
}

impl TryClaimError {
    /// The blocking form of a claim's failure (a blocking claim never
    /// reports `Full`; it maps to `Halted`, the only way such a wait ends
    /// without room).
    pub(crate) fn blocking(self) -> ClaimError {
        match self {
            Self::Full | Self::Halted => ClaimError::Halted,
            Self::TooLarge {
                requested,
                capacity,
            } => ClaimError::TooLarge {
                requested,
                capacity,
            },
            Self::ConsumerDead { slot, pid } => ClaimError::ConsumerDead { slot, pid },
        }
    }
}
