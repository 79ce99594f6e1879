//! Per-stage latency of the shop: how long after a client published a
//! command each stage had finished the batch holding it, and the sizes of
//! the batches. Each stage owns its histograms (nothing shared on the hot
//! path) and adds them to the shop's live figures about every 50 ms
//! ([`Shop::stage_latency`](super::Shop::stage_latency), `INFO` over the
//! network) and at shutdown ([`CloseReport`](super::CloseReport)).

use crate::clock;
use crate::metrics::{histogram, PUBLISH_EVERY_NS};
use crate::shop::domain::ProductEvent;
use hdrhistogram::Histogram;
use std::sync::{Arc, Mutex, PoisonError};

/// One stage's figures, from open to close.
///
/// # Examples
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("rm-doc-lat-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// use ringmaster::shop::{Shop, ShopConfig};
/// let shop = Shop::open(ShopConfig::new(&dir))?;
/// shop.client()?.add(1, "Clay Pot", 900, 3)?;
/// let closed = shop.close()?;
/// let names: Vec<_> = closed.stages.iter().map(|s| s.name).collect();
/// assert_eq!(names, ["journal", "catalog", "search", "responder"]);
/// assert!(closed.stages.iter().all(|s| s.latency_ns.len() >= 1));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct StageLatency {
    /// The stage: `journal`, `catalog`, `search` or `responder`.
    pub name: &'static str,
    /// Publish to end of the stage's batch (for the journal: committed),
    /// per command, in nanoseconds.
    pub latency_ns: Histogram<u64>,
    /// Commands per batch.
    pub batch_sizes: Histogram<u64>,
}

/// Every stage's figures, cumulative since open, in graph order. Each
/// stage records into its own histograms and adds them here about every
/// [`PUBLISH_EVERY_NS`], taking the lock only if it is free (so a reader
/// never stalls a stage), and for the last time at shutdown. Readers clone
/// under the lock: a sample is counted once, in the interval it was added.
#[derive(Debug)]
pub(crate) struct LiveStages {
    stages: Vec<Mutex<StageLatency>>,
}

impl LiveStages {
    /// One entry per name, in this order.
    pub(crate) fn new(names: &[&'static str]) -> Arc<Self> {
        Arc::new(Self {
            stages: names
                .iter()
                .map(|&name| Mutex::new(StageLatency::empty(name)))
                .collect(),
        })
    }

    /// A copy of every stage's figures as last published.
    pub(crate) fn snapshot(&self) -> Vec<StageLatency> {
        self.stages
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).clone())
            .collect()
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.stages
            .iter()
            .position(|s| s.lock().unwrap_or_else(PoisonError::into_inner).name == name)
    }
}

impl StageLatency {
    fn empty(name: &'static str) -> Self {
        Self {
            name,
            latency_ns: histogram(3_600_000_000_000),
            batch_sizes: histogram(1 << 24),
        }
    }

    fn add_from(&mut self, other: &Self) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency_ns.add(&other.latency_ns);
        let _ = self.batch_sizes.add(&other.batch_sizes);
    }

    fn reset(&mut self) {
        self.latency_ns.reset();
        self.batch_sizes.reset();
    }
}

/// A stage's recorder: collects the publish stamps of a batch, then
/// records them all against one clock read at the batch's end.
#[derive(Debug)]
pub(crate) struct StageRecorder {
    /// Figures since the last publish to `live`.
    interval: StageLatency,
    /// The batch's publish stamps, runs of equal ones as one entry with
    /// its count (a client stamps a whole submitted batch with one time,
    /// so a batch usually holds a few runs: one histogram record each).
    stamps: Vec<(u64, u64)>,
    live: Arc<LiveStages>,
    index: usize,
    last_publish_ns: u64,
}

impl StageRecorder {
    pub(crate) fn new(name: &'static str, live: Arc<LiveStages>) -> Self {
        let index = live.index_of(name).unwrap_or(0);
        Self {
            interval: StageLatency::empty(name),
            stamps: Vec::with_capacity(1024),
            live,
            index,
            last_publish_ns: clock::now_ns(),
        }
    }

    /// Note an event of the current batch.
    #[inline]
    pub(crate) fn event(&mut self, event: &ProductEvent) {
        let ns = event.published_ns();
        if ns != 0 {
            match self.stamps.last_mut() {
                Some((last, count)) if *last == ns => *count += 1,
                _ => self.stamps.push((ns, 1)),
            }
        }
    }

    /// The batch is done: record its latencies and size.
    pub(crate) fn end_batch(&mut self, size: u64) {
        self.interval.batch_sizes.saturating_record(size.max(1));
        let now = clock::now_ns();
        for &(t, count) in &self.stamps {
            // Out of range cannot happen (the bound is an hour and the
            // value is clamped to it); a failed record would only lose a
            // sample.
            let value = now
                .saturating_sub(t)
                .clamp(1, self.interval.latency_ns.high());
            let _ = self.interval.latency_ns.record_n(value, count);
        }
        self.stamps.clear();
        if now.saturating_sub(self.last_publish_ns) >= PUBLISH_EVERY_NS {
            if let Some(stage) = self.live.stages.get(self.index) {
                // try_lock: a reader cloning the figures must never stall
                // the stage; the interval is kept and added next time.
                if let Ok(mut shared) = stage.try_lock() {
                    shared.add_from(&self.interval);
                    self.interval.reset();
                    self.last_publish_ns = now;
                }
            }
        }
    }

    /// Add what is left (on the stage's shutdown).
    pub(crate) fn finish(&mut self) {
        if let Some(stage) = self.live.stages.get(self.index) {
            stage
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .add_from(&self.interval);
            self.interval.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shop::domain::Command;

    #[test]
    fn equal_stamps_count_once_each_and_unstamped_events_not_at_all() {
        let live = LiveStages::new(&["journal"]);
        let mut recorder = StageRecorder::new("journal", Arc::clone(&live));
        let event = |ns| ProductEvent::encode(&Command::Count, 1, 1).stamped(ns);
        for ns in [5, 5, 5, 7, 0, 7, 5] {
            recorder.event(&event(ns));
        }
        recorder.end_batch(7);
        recorder.finish();
        let figures = live.snapshot();
        assert_eq!(figures[0].latency_ns.len(), 6);
        assert_eq!(figures[0].batch_sizes.len(), 1);
        assert_eq!(figures[0].batch_sizes.max(), 7);
    }
}
