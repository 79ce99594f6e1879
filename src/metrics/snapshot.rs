//! [`Metrics`]: a handle on a running graph's figures, and the
//! [`MetricsSnapshot`] it takes.

use super::figures::StageFigures;
use super::recorder::StageCell;
use crate::ring::RingBuffer;
use hdrhistogram::Histogram;
use std::sync::Arc;
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
    stages: Arc<[Arc<StageCell>]>,
    started: Instant,
    /// Each stage's sequence when the graph started.
    start_sequences: Arc<[u64]>,
    previous: Option<Previous>,
}

#[derive(Debug, Clone)]
struct Previous {
    at: Instant,
    stages: Vec<StageFigures>,
    sequences: Vec<u64>,
}

impl Metrics {
    /// Figures of `stages` over `ring`, from now on.
    pub(crate) fn new(ring: Arc<dyn RingCounters>, stages: Vec<Arc<StageCell>>) -> Self {
        // Under loom every atomic access is a scheduling point the model
        // explores; the graph's start is not what it checks.
        let start_sequences = stages
            .iter()
            .map(|c| {
                if cfg!(loom) {
                    0
                } else {
                    ring.consumer_sequence(c.slot)
                }
            })
            .collect();
        Self {
            ring,
            stages: stages.into(),
            started: Instant::now(),
            start_sequences,
            previous: None,
        }
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
        let cumulative: Vec<StageFigures> = self.stages.iter().map(|c| c.figures()).collect();
        let (since, previous) = match &self.previous {
            Some(p) => (p.at, Some(p)),
            None => (self.started, None),
        };
        let seconds = now.duration_since(since).as_secs_f64();
        let mut sequences = Vec::with_capacity(self.stages.len());
        let stages = self
            .stages
            .iter()
            .zip(&cumulative)
            .enumerate()
            .map(|(i, (cell, total))| {
                let sequence = self.ring.consumer_sequence(cell.slot);
                sequences.push(sequence);
                let before = match previous {
                    Some(p) => p.sequences.get(i).copied(),
                    None => self.start_sequences.get(i).copied(),
                };
                let moved = sequence.saturating_sub(before.unwrap_or(sequence));
                StageSnapshot {
                    name: cell.name.clone(),
                    sequence,
                    lag: cursor.saturating_sub(sequence),
                    events_per_sec: if seconds > 0.0 {
                        moved as f64 / seconds
                    } else {
                        0.0
                    },
                    interval: match previous.and_then(|p| p.stages.get(i)) {
                        Some(earlier) => total.since(earlier),
                        None => total.clone(),
                    },
                    cumulative: total.clone(),
                }
            })
            .collect();
        self.previous = Some(Previous {
            at: now,
            stages: cumulative,
            sequences,
        });
        MetricsSnapshot {
            elapsed: now.duration_since(self.started),
            interval: now.duration_since(since),
            sampling: self.ring.sampling(),
            capacity: self.ring.capacity(),
            cursor,
            occupancy: cursor.saturating_sub(self.ring.slowest_gating()),
            producer_waits_ns: self.ring.producer_waits(),
            stages,
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
    /// Every stage, in the order the graph declared them.
    pub stages: Vec<StageSnapshot>,
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
