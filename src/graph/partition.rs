//! Partitioned stages: one stage's work spread over several threads without
//! losing per-key order. Each partition is a stage of its own (own thread,
//! own sequence, own metrics) after the same stages; every partition reads
//! every event and handles those whose key maps to it, so events of one key
//! are handled by one thread, in sequence order. Stages declared after a
//! partitioned stage wait for all its partitions.
//!
//! ```text
//!                 +--> part 0 (keys -> 0) --+
//! producer -> ring+--> part 1 (keys -> 1) --+--> next stage
//!                 +--> part 2 (keys -> 2) --+
//! ```
//!
//! Why every partition reads every event, rather than a routing step or a
//! split of each batch: reading an event a partition skips costs one key
//! computation and a copy from a slot the others read too (a cache line
//! shared for reading, never written), while a router is a thread and a
//! hand-off per event, and split batches need a queue per partition.
//! docs/architecture.md has the measurement.

use super::builder::{GraphBuilder, StageId};
use super::handler::EventHandler;
use super::pin;
use crate::metrics::StageGroupKind;
use crate::StageError;

/// The partition of `key` among `partitions`: the key mixed (so sequential
/// ids spread), then mapped to `0..partitions` by a multiply-shift (no
/// division).
///
/// # Panics
///
/// If `partitions` is 0.
///
/// # Examples
///
/// ```
/// use ringmaster::partition_of;
/// let p = partition_of(42, 4);
/// assert!(p < 4);
/// assert_eq!(p, partition_of(42, 4), "a key always maps to one partition");
/// assert_eq!(partition_of(42, 1), 0);
/// ```
#[inline]
pub fn partition_of(key: u64, partitions: u32) -> u32 {
    assert!(
        partitions > 0,
        "a partitioned stage has at least one partition"
    );
    // fmix64 from MurmurHash3: every input bit affects every output bit.
    let mut h = key;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    ((u128::from(h) * u128::from(partitions)) >> 64) as u32
}

/// How many of its own events a partition gathers before handing them on.
const RUN: usize = 16;

/// One partition's handler: the user's handler, given only the events whose
/// key maps to this partition.
///
/// A partition gathers its events of a batch in a short run and hands them
/// on when the run is full or the batch ends, keeping the newest back until
/// then, so the handler sees `end_of_batch` on the last event of its own
/// share of each batch (where it commits or flushes), and
/// `on_batch_start`/`on_batch_end` only around batches that held some of
/// its events (`on_batch_start` gets the whole batch's size: an upper
/// bound of its share).
///
/// Every event read is copied into the run's next free place, and the run
/// grows by one only if the event is ours: which events are ours depends
/// on the keys and cannot be predicted, and this way choosing costs no
/// branch.
///
/// Since events are handed on later than they are read, a handler that
/// panics under [`PanicPolicy::LogAndSkip`](crate::PanicPolicy) is logged
/// at the sequence the partition was reading, which may be after the event
/// it panicked on; that event is the one skipped, and the rest of the run
/// is handed on as the batch ends.
#[derive(Debug)]
pub struct Partition<E, H, K> {
    index: u32,
    partitions: u32,
    key: K,
    handler: H,
    /// This batch's events of ours, with their sequences: `run[handed..len]`
    /// are not handed on yet.
    run: [(E, u64); RUN],
    len: usize,
    handed: usize,
    batch_size: u64,
    /// `on_batch_start` was called for this batch.
    started: bool,
}

impl<E: bytemuck::Pod, H, K> Partition<E, H, K> {
    /// Partition `index` of `partitions`, keyed by `key`, handled by
    /// `handler`.
    pub fn new(index: u32, partitions: u32, key: K, handler: H) -> Self {
        assert!(index < partitions, "partition {index} of {partitions}");
        Self {
            index,
            partitions,
            key,
            handler,
            run: [(E::zeroed(), 0); RUN],
            len: 0,
            handed: 0,
            batch_size: 0,
            started: false,
        }
    }
}

impl<E, H, K> Partition<E, H, K> {
    /// The wrapped handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The wrapped handler, back.
    pub fn into_handler(self) -> H {
        self.handler
    }
}

impl<E, H, K> Partition<E, H, K>
where
    E: Copy,
    H: EventHandler<E>,
{
    /// Hand on the run: all of it at the end of a batch (its last event with
    /// `end_of_batch`), else all but the newest, which may turn out to be
    /// the last of ours in this batch. `handed` moves before each call, so
    /// a handler that panics (under `LogAndSkip`) is not given that event
    /// again, and the rest are handed on when the batch ends.
    #[cold]
    #[inline(never)]
    fn hand_on(&mut self, end_of_batch: bool) {
        if self.handed == self.len {
            self.len = 0;
            self.handed = 0;
            return;
        }
        if !self.started {
            self.started = true;
            self.handler.on_batch_start(self.batch_size);
        }
        let keep = usize::from(!end_of_batch);
        while self.handed + keep < self.len {
            let (event, at) = self.run[self.handed];
            self.handed += 1;
            let last = end_of_batch && self.handed == self.len;
            self.handler.on_event(&event, at, last);
        }
        if keep == 1 {
            self.run[0] = self.run[self.len - 1];
        }
        self.len = keep;
        self.handed = 0;
    }
}

impl<E, H, K> EventHandler<E> for Partition<E, H, K>
where
    E: Copy + Send + 'static,
    H: EventHandler<E>,
    K: Fn(&E) -> u64 + Send + 'static,
{
    fn on_batch_start(&mut self, batch_size: u64) {
        self.batch_size = batch_size;
        self.started = false;
    }

    #[inline]
    fn on_event(&mut self, event: &E, sequence: u64, end_of_batch: bool) {
        let ours = partition_of((self.key)(event), self.partitions) == self.index;
        self.run[self.len] = (*event, sequence);
        self.len += usize::from(ours);
        if self.len == RUN || end_of_batch {
            self.hand_on(end_of_batch);
        }
    }

    fn on_batch_end(&mut self) -> Result<(), StageError> {
        // A batch cut short (a panic under LogAndSkip) ends here without an
        // `end_of_batch` event: hand on what is left first.
        self.hand_on(true);
        if std::mem::take(&mut self.started) {
            self.handler.on_batch_end()
        } else {
            Ok(())
        }
    }

    fn on_start(&mut self) {
        self.handler.on_start();
    }

    fn on_shutdown(&mut self) {
        self.handler.on_shutdown();
    }
}

/// A partitioned stage being declared: see
/// [`GraphBuilder::partitioned`].
pub struct PartitionedBuilder<'a, E, K, M> {
    builder: &'a mut GraphBuilder<E>,
    name: String,
    partitions: u32,
    key: K,
    make: M,
    after: Vec<StageId>,
    cores: Vec<usize>,
    max_batch: u64,
}

impl<E, K, M> std::fmt::Debug for PartitionedBuilder<'_, E, K, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionedBuilder")
            .field("name", &self.name)
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

/// A partitioned stage's partitions, for the stages after it.
///
/// # Examples
///
/// ```
/// use ringmaster::{handler_fn, GraphBuilder, RingConfig, WaitStrategy};
///
/// let mut b = GraphBuilder::<u64>::new(RingConfig::new(64).wait_strategy(WaitStrategy::Yielding));
/// let parts = b.partitioned("work", 3, |e: &u64| *e, |_| handler_fn(|_: &u64, _, _| {})).add();
/// assert_eq!(parts.ids().len(), 3);
/// b.handler("after", handler_fn(|_: &u64, _, _| {})).after(parts.ids()).add();
/// # let (mut producer, graph) = b.build_single_producer()?;
/// # producer.publish(7)?;
/// # graph.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionedStage {
    ids: Vec<StageId>,
}

impl PartitionedStage {
    /// Every partition's stage id: what a stage after it waits for.
    pub fn ids(&self) -> &[StageId] {
        &self.ids
    }

    /// Partition `index`'s stage id.
    ///
    /// # Panics
    ///
    /// If there is no such partition.
    pub fn partition(&self, index: usize) -> StageId {
        self.ids[index]
    }
}

impl<E: bytemuck::Pod + Send> GraphBuilder<E> {
    /// Declare a stage of `partitions` handlers, one thread each (named
    /// `name/0`, `name/1`, ...): each event is handled by exactly one of
    /// them, partition [`partition_of`]`(key(event), partitions)`, so events
    /// of one key are handled by one thread, in sequence order.
    /// `make(index)` makes each partition's handler. Stages after it wait
    /// for every partition ([`PartitionedStage::ids`]).
    ///
    /// # Panics
    ///
    /// If `partitions` is 0.
    pub fn partitioned<H, K, M>(
        &mut self,
        name: impl Into<String>,
        partitions: u32,
        key: K,
        make: M,
    ) -> PartitionedBuilder<'_, E, K, M>
    where
        H: EventHandler<E>,
        K: Fn(&E) -> u64 + Clone + Send + 'static,
        M: FnMut(u32) -> H,
    {
        assert!(
            partitions > 0,
            "a partitioned stage has at least one partition"
        );
        PartitionedBuilder {
            builder: self,
            name: name.into(),
            partitions,
            key,
            make,
            after: Vec::new(),
            cores: Vec::new(),
            max_batch: u64::MAX,
        }
    }
}

impl<E, H, K, M> PartitionedBuilder<'_, E, K, M>
where
    E: bytemuck::Pod + Send,
    H: EventHandler<E>,
    K: Fn(&E) -> u64 + Clone + Send + 'static,
    M: FnMut(u32) -> H,
{
    /// Run after `stages` (every partition waits for them).
    #[must_use]
    pub fn after(mut self, stages: &[StageId]) -> Self {
        self.after.extend_from_slice(stages);
        self
    }

    /// Pin partition `i` to `cores[i % cores.len()]`.
    #[must_use]
    pub fn pin(mut self, cores: &[usize]) -> Self {
        self.cores = cores.to_vec();
        self
    }

    /// Each partition takes at most `events` events per batch (see
    /// [`StageBuilder::max_batch`](super::StageBuilder::max_batch)).
    #[must_use]
    pub fn max_batch(mut self, events: u64) -> Self {
        self.max_batch = events;
        self
    }

    /// Add the partitions.
    pub fn add(mut self) -> PartitionedStage {
        let mut ids = Vec::with_capacity(self.partitions as usize);
        for index in 0..self.partitions {
            let handler =
                Partition::new(index, self.partitions, self.key.clone(), (self.make)(index));
            let mut stage = self
                .builder
                .handler(format!("{}/{index}", self.name), handler)
                .after(&self.after)
                .max_batch(self.max_batch)
                .in_group((self.name.clone(), StageGroupKind::Partitioned));
            if let Some(core) = pin::round_robin(&self.cores, index) {
                stage = stage.pin(core);
            }
            ids.push(stage.add());
        }
        PartitionedStage { ids }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_spread_over_partitions() {
        for n in 1..=8u32 {
            let mut counts = vec![0u32; n as usize];
            for key in 0..8_000u64 {
                counts[partition_of(key, n) as usize] += 1;
            }
            let expected = 8_000 / n;
            assert!(
                counts
                    .iter()
                    .all(|&c| c > expected * 8 / 10 && c < expected * 12 / 10),
                "{n} partitions: {counts:?}"
            );
        }
    }

    /// Records what the wrapped handler saw.
    #[derive(Default)]
    struct Seen {
        events: Vec<(u64, u64, bool)>,
        batches: Vec<u64>,
        ends: u32,
    }

    impl EventHandler<u64> for Seen {
        fn on_batch_start(&mut self, size: u64) {
            self.batches.push(size);
        }
        fn on_event(&mut self, e: &u64, seq: u64, end: bool) {
            self.events.push((*e, seq, end));
        }
        fn on_batch_end(&mut self) -> Result<(), StageError> {
            self.ends += 1;
            Ok(())
        }
    }

    #[test]
    fn a_partition_sees_its_share_with_its_own_end_of_batch() {
        // Key = the event; 2 partitions.
        let mine: Vec<u64> = (0..20).filter(|&k| partition_of(k, 2) == 0).collect();
        let mut p = Partition::new(0, 2, |e: &u64| *e, Seen::default());
        // Batch 1: events 0..10; batch 2: 10..20; batch 3: only others'.
        for (start, end) in [(0u64, 10u64), (10, 20)] {
            p.on_batch_start(end - start);
            for k in start..end {
                p.on_event(&k, k, k == end - 1);
            }
            p.on_batch_end().unwrap();
        }
        let other = (100..).find(|&k| partition_of(k, 2) == 1).unwrap();
        p.on_batch_start(1);
        p.on_event(&other, 20, true);
        p.on_batch_end().unwrap();
        let seen = p.into_handler();
        assert_eq!(seen.events.iter().map(|e| e.0).collect::<Vec<_>>(), mine);
        let ends: Vec<u64> = seen.events.iter().filter(|e| e.2).map(|e| e.0).collect();
        let last_of = |lo: u64, hi: u64| mine.iter().copied().filter(|&k| k >= lo && k < hi).max();
        let expected: Vec<u64> = [last_of(0, 10), last_of(10, 20)]
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(ends, expected, "end_of_batch on the last of its own share");
        assert_eq!(
            seen.batches,
            vec![10, 10],
            "no batch start for a batch without its events"
        );
        assert_eq!(seen.ends, 2);
    }

    #[test]
    fn shares_longer_than_a_run_keep_order_and_one_end_per_batch() {
        for partitions in [1u32, 2, 3] {
            let mut p = Partition::new(0, partitions, |e: &u64| *e, Seen::default());
            let mut expected = Vec::new();
            let mut seq = 0u64;
            for size in [1u64, 15, 16, 17, 33, 200] {
                p.on_batch_start(size);
                let mut last = None;
                for i in 0..size {
                    let key = seq * 7 + 3;
                    if partition_of(key, partitions) == 0 {
                        expected.push((key, seq));
                        last = Some(seq);
                    }
                    p.on_event(&key, seq, i == size - 1);
                    seq += 1;
                }
                p.on_batch_end().unwrap();
                if let Some(last) = last {
                    let end = p.handler().events.iter().rev().find(|e| e.2).map(|e| e.1);
                    assert_eq!(
                        end,
                        Some(last),
                        "end_of_batch on the batch's last own event"
                    );
                }
            }
            let seen = p.into_handler();
            let got: Vec<(u64, u64)> = seen.events.iter().map(|e| (e.0, e.1)).collect();
            assert_eq!(
                got, expected,
                "{partitions} partitions: every own event once, in order"
            );
            let ends = seen.events.iter().filter(|e| e.2).count();
            assert_eq!(
                ends,
                seen.batches.len(),
                "one end_of_batch per batch it saw"
            );
            assert_eq!(seen.ends as usize, seen.batches.len());
        }
    }

    /// Panics on one event, records the rest.
    struct PanicsOn(u64, Seen);

    impl EventHandler<u64> for PanicsOn {
        fn on_batch_start(&mut self, size: u64) {
            self.1.on_batch_start(size);
        }
        fn on_event(&mut self, e: &u64, seq: u64, end: bool) {
            assert_ne!(*e, self.0, "the bad event");
            self.1.on_event(e, seq, end);
        }
        fn on_batch_end(&mut self) -> Result<(), StageError> {
            self.1.on_batch_end()
        }
    }

    #[test]
    fn a_panic_on_one_event_loses_only_that_event() {
        // All keys ours (1 partition); the handler panics on event 5, which
        // is handed on when the run fills, while event 15 is being read.
        // The processor (LogAndSkip) then ends the batch early.
        let mut p = Partition::new(0, 1, |e: &u64| *e, PanicsOn(5, Seen::default()));
        p.on_batch_start(40);
        let mut read = 0;
        for k in 0..40u64 {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                p.on_event(&k, k, k == 39)
            }));
            read = k;
            if r.is_err() {
                break;
            }
        }
        assert!(read < 39, "the panic came before the batch's end");
        p.on_batch_end().unwrap();
        let seen = p.into_handler().1;
        let got: Vec<u64> = seen.events.iter().map(|e| e.0).collect();
        let expected: Vec<u64> = (0..=read).filter(|&k| k != 5).collect();
        assert_eq!(got, expected, "each event read once, the bad one skipped");
        assert_eq!(seen.events.iter().filter(|e| e.2).count(), 1);
        assert_eq!(seen.events.last().map(|e| e.2), Some(true));
    }
}
