//! [`Metrics`]: a handle on a running graph's figures, and the
//! [`MetricsSnapshot`] it takes.

use super::figures::StageFigures;
use super::recorder::StageCell;
use crate::ring::RingBuffer;
use hdrhistogram::Histogram;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// The ring counters a snapshot reads, without the event type.
pub(crate) trait RingCounters: Send + Sync + std::fmt::Debug {
    fn cursor(&self) -> u64;
    fn consumer_sequence(&self, slot: usize) -> u64;
    fn slowest_gating(&self) -> u64;
    fn producer_waits(&self) -> Histogram<u64>;
    fn sampling(&self) -> u64;
    fn capacity(&self) -> u64;
}

impl Tracked {
    fn new(ring: &dyn RingCounters, cell: Arc<StageCell>) -> Self {
        // Under loom every atomic access is a scheduling point the model
        // explores; the graph's start is not what it checks.
        let start_sequence = if cfg!(loom) {
            0
        } else {
            ring.consumer_sequence(cell.slot)
        };
        Self {
            cell,
            start_sequence,
        }
    }
}

/// A graph's ring, seen through [`RingCounters`].
pub(crate) struct RingOf<E>(pub(crate) crate::sync::Arc<RingBuffer<E>>);

impl<E> std::fmt::Debug for RingOf<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RingOf")
    }
}

impl<E: bytemuck::Pod + Send> RingCounters for RingOf<E> {
    fn cursor(&self) -> u64 {
        self.0.cursor()
    }
    fn consumer_sequence(&self, slot: usize) -> u64 {
        self.0.consumer(slot).get_relaxed()
    }
    fn slowest_gating(&self) -> u64 {
        self.0.min_gating()
    }
    fn producer_waits(&self) -> Histogram<u64> {
        self.0.producer_waits().snapshot()
    }
    fn sampling(&self) -> u64 {
        self.0.sampling()
    }
    fn capacity(&self) -> u64 {
        self.0.capacity()
    }
}

/// A handle on one graph's figures: cheap to clone, `Send`, usable from
/// any thread while the stages run (and after they stopped: it then shows
/// the final figures). Each clone remembers its own previous snapshot, so
/// its intervals partition the figures: summed over a handle's snapshots,
/// interval counts equal the cumulative ones.
///
/// # Examples
///
/// ```
/// use ringmaster::{GraphBuilder, NoopHandler, RingConfig};
/// let mut builder = GraphBuilder::<u64>::new(RingConfig::new(1024).metrics_sampling(1));
/// builder.handler("sink", NoopHandler).add();
/// let (mut producer, graph) = builder.build_single_producer()?;
/// let mut metrics = graph.metrics_handle();
/// for i in 0..100 {
///     producer.publish(i)?;
/// }
/// graph.shutdown()?;
/// let snapshot = metrics.snapshot();
/// assert_eq!(snapshot.stages[0].name, "sink");
/// assert_eq!(snapshot.stages[0].cumulative.events, 100);
/// assert_eq!(snapshot.stages[0].cumulative.latency_ns.len(), 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Metrics {
    ring: Arc<dyn RingCounters>,
    /// The stages now in the graph, shared by every handle: stages that
    /// join a running graph are added, stages that leave are removed.
    stages: Arc<RwLock<Vec<Tracked>>>,
    started: Instant,
    previous: Option<Previous>,
}

/// A stage's cell and its sequence when it joined the figures.
#[derive(Debug, Clone)]
struct Tracked {
    cell: Arc<StageCell>,
    start_sequence: u64,
}

#[derive(Debug, Clone)]
struct Previous {
    at: Instant,
    /// Per stage (by its cell), its figures and sequence then.
    stages: Vec<(Arc<StageCell>, StageFigures, u64)>,
}

impl Metrics {
    /// Figures of `stages` over `ring`, from now on.
    pub(crate) fn new(ring: Arc<dyn RingCounters>, stages: Vec<Arc<StageCell>>) -> Self {
        let stages = stages
            .into_iter()
            .map(|cell| Tracked::new(&*ring, cell))
            .collect();
        Self {
            ring,
            stages: Arc::new(RwLock::new(stages)),
            started: Instant::now(),
            previous: None,
        }
    }

    /// A stage joined the running graph: its figures from now on.
    pub(crate) fn add_stage(&self, cell: Arc<StageCell>) {
        let tracked = Tracked::new(&*self.ring, cell);
        self.stages
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(tracked);
    }

    /// A stage left the graph: no more figures for it (its slot may go to
    /// another stage).
    pub(crate) fn remove_stage(&self, cell: &Arc<StageCell>) {
        self.stages
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|t| !Arc::ptr_eq(&t.cell, cell));
    }

    /// Start this handle's intervals afresh (from the graph's start).
    pub(crate) fn forget_previous(&mut self) {
        self.previous = None;
    }

    /// Every stage's figures now: cumulative since the graph started, and
    /// the interval since this handle's previous snapshot (or the start).
    /// Takes no lock a stage waits for: each cell is cloned under its own
    /// lock, which stages only `try_lock`.
    pub fn snapshot(&mut self) -> MetricsSnapshot {
        let now = Instant::now();
        let cursor = self.ring.cursor();
        let tracked = self
            .stages
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let (since, previous) = match &self.previous {
            Some(p) => (p.at, Some(p)),
            None => (self.started, None),
        };
        let seconds = now.duration_since(since).as_secs_f64();
        let tracked_groups: Vec<Option<(String, StageGroupKind)>> =
            tracked.iter().map(|t| t.cell.group.clone()).collect();
        let mut kept = Vec::with_capacity(tracked.len());
        let mut stages = Vec::with_capacity(tracked.len());
        for Tracked {
            cell,
            start_sequence,
        } in tracked
        {
            let total = cell.figures();
            let sequence = self.ring.consumer_sequence(cell.slot);
            let earlier =
                previous.and_then(|p| p.stages.iter().find(|(c, _, _)| Arc::ptr_eq(c, &cell)));
            let before = earlier.map_or(start_sequence, |(_, _, s)| *s);
            let moved = sequence.saturating_sub(before);
            stages.push(StageSnapshot {
                name: cell.name.clone(),
                sequence,
                lag: cursor.saturating_sub(sequence),
                events_per_sec: if seconds > 0.0 {
                    moved as f64 / seconds
                } else {
                    0.0
                },
                interval: match earlier {
                    Some((_, figures, _)) => total.since(figures),
                    None => total.clone(),
                },
                cumulative: total.clone(),
            });
            kept.push((cell, total, sequence));
        }
        self.previous = Some(Previous {
            at: now,
            stages: kept,
        });
        let groups = StageGroupSnapshot::of(&tracked_groups, &stages);
        MetricsSnapshot {
            elapsed: now.duration_since(self.started),
            interval: now.duration_since(since),
            sampling: self.ring.sampling(),
            capacity: self.ring.capacity(),
            cursor,
            occupancy: cursor.saturating_sub(self.ring.slowest_gating()),
            producer_waits_ns: self.ring.producer_waits(),
            stages,
            groups,
        }
    }
}

/// Every stage's figures at one moment.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Since the graph started.
    pub elapsed: Duration,
    /// Since the previous snapshot of the same handle (or the start): the
    /// span the stages' `interval` figures cover.
    pub interval: Duration,
    /// 1 event in this many carries latency and lag samples (`0`: the
    /// ring is not instrumented and nothing is recorded).
    pub sampling: u64,
    /// Slots in the ring.
    pub capacity: u64,
    /// The producer cursor: events published (single producer) or claimed
    /// (multi-producer).
    pub cursor: u64,
    /// Events in the ring not yet processed by the slowest gating stage.
    pub occupancy: u64,
    /// How long this process's producers waited for room in a full ring,
    /// one sample per wait, cumulative.
    pub producer_waits_ns: Histogram<u64>,
    /// Every stage, in the order the graph declared them (a partitioned
    /// stage or work pool as its members, `name/0`, `name/1`, ...).
    pub stages: Vec<StageSnapshot>,
    /// Each partitioned stage and work pool as one stage, its members'
    /// figures combined.
    pub groups: Vec<StageGroupSnapshot>,
}

/// What kind of stage a [`StageGroupSnapshot`] combines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StageGroupKind {
    /// A partitioned stage
    /// ([`GraphBuilder::partitioned`](crate::GraphBuilder::partitioned)):
    /// every partition reads every event and handles its keys' share.
    Partitioned,
    /// A work pool ([`GraphBuilder::work_pool`](crate::GraphBuilder::work_pool)):
    /// each event is claimed by one worker.
    WorkPool,
}

/// A partitioned stage or work pool, its members combined as one stage.
///
/// # Examples
///
/// ```
/// use ringmaster::metrics::StageGroupKind;
/// use ringmaster::{GraphBuilder, NoopHandler, RingConfig, WaitStrategy};
///
/// let mut b = GraphBuilder::<u64>::new(RingConfig::new(64).wait_strategy(WaitStrategy::Yielding));
/// b.work_pool("pool", 2, |_| NoopHandler).add();
/// let (mut producer, graph) = b.build_single_producer()?;
/// for i in 0..100 {
///     producer.publish(i)?;
/// }
/// let mut metrics = graph.metrics_handle();
/// graph.shutdown()?;
/// let snapshot = metrics.snapshot();
/// let pool = &snapshot.groups[0];
/// assert_eq!((pool.stage.name.as_str(), pool.kind), ("pool", StageGroupKind::WorkPool));
/// assert_eq!(pool.members, ["pool/0", "pool/1"]);
/// assert_eq!(pool.stage.sequence, 100);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StageGroupSnapshot {
    /// Partitioned stage or work pool.
    pub kind: StageGroupKind,
    /// The members' stage names, in order.
    pub members: Vec<String>,
    /// The group as one stage, named as declared: its sequence is the
    /// slowest member's (every event below it is handled), its lag the
    /// largest, its rate the slowest member's (each member's sequence
    /// moves with the whole stage's); latency, batch-size and lag
    /// histograms hold every member's samples. `events` counts events
    /// handled: the members' sum for a work pool, and for a partitioned
    /// stage, whose partitions each read every event, the largest
    /// member's count of events read.
    pub stage: StageSnapshot,
}

impl StageGroupSnapshot {
    /// The groups among `stages` (`groups[i]`: the group of `stages[i]`),
    /// in order of their first member.
    fn of(groups: &[Option<(String, StageGroupKind)>], stages: &[StageSnapshot]) -> Vec<Self> {
        let mut out: Vec<Self> = Vec::new();
        for (group, stage) in groups.iter().zip(stages) {
            let Some((name, kind)) = group else {
                continue;
            };
            match out
                .iter_mut()
                .find(|g| g.stage.name == *name && g.kind == *kind)
            {
                Some(g) => g.join(stage),
                None => {
                    let mut first = stage.clone();
                    first.name.clone_from(name);
                    out.push(Self {
                        kind: *kind,
                        members: vec![stage.name.clone()],
                        stage: first,
                    });
                }
            }
        }
        out
    }

    fn join(&mut self, member: &StageSnapshot) {
        self.members.push(member.name.clone());
        let group = &mut self.stage;
        group.sequence = group.sequence.min(member.sequence);
        group.lag = group.lag.max(member.lag);
        group.events_per_sec = group.events_per_sec.min(member.events_per_sec);
        for (mine, theirs) in [
            (&mut group.cumulative, &member.cumulative),
            (&mut group.interval, &member.interval),
        ] {
            let events = match self.kind {
                StageGroupKind::WorkPool => mine.events + theirs.events,
                StageGroupKind::Partitioned => mine.events.max(theirs.events),
            };
            mine.add(theirs);
            mine.events = events;
        }
    }
}

/// One stage in a [`MetricsSnapshot`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StageSnapshot {
    /// The stage's name.
    pub name: String,
    /// Events the stage has processed (its sequence, read live).
    pub sequence: u64,
    /// Cursor minus sequence, now.
    pub lag: u64,
    /// Events per second over the snapshot's interval, from the stage's
    /// live sequence (exact, unlike the interval figures, which hold what
    /// the stage added during the interval).
    pub events_per_sec: f64,
    /// Figures since the graph started, as the stage last added them
    /// (a stage adds its figures about every 50 ms and when it stops).
    pub cumulative: StageFigures,
    /// Figures added since the previous snapshot.
    pub interval: StageFigures,
}
