//! Per-stage latency of the shop: how long after a client published a
//! command each stage had finished the batch holding it, and the sizes of
//! the batches. Each stage owns its histograms (nothing shared on the hot
//! path); they are handed over when the stage shuts down and come back in
//! [`CloseReport`](super::CloseReport).

use crate::clock;
use crate::shop::ProductEvent;
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

/// Where stages leave their figures at shutdown.
pub(crate) type LatencySink = Arc<Mutex<Vec<StageLatency>>>;

fn histogram(max: u64) -> Histogram<u64> {
    // 3 significant digits; bounds are constants, so this cannot fail.
    Histogram::new_with_bounds(1, max, 3).unwrap_or_else(|_| Histogram::new(3).expect("3 digits"))
}

/// A stage's recorder: collects the publish stamps of a batch, then
/// records them all against one clock read at the batch's end.
#[derive(Debug)]
pub(crate) struct StageRecorder {
    figures: Option<StageLatency>,
    stamps: Vec<u64>,
    sink: LatencySink,
}

impl StageRecorder {
    pub(crate) fn new(name: &'static str, sink: LatencySink) -> Self {
        Self {
            figures: Some(StageLatency {
                name,
                latency_ns: histogram(3_600_000_000_000),
                batch_sizes: histogram(1 << 24),
            }),
            stamps: Vec::with_capacity(1024),
            sink,
        }
    }

    /// Note an event of the current batch.
    #[inline]
    pub(crate) fn event(&mut self, event: &ProductEvent) {
        let ns = event.published_ns();
        if ns != 0 {
            self.stamps.push(ns);
        }
    }

    /// The batch is done: record its latencies and size.
    pub(crate) fn end_batch(&mut self, size: u64) {
        let Some(f) = self.figures.as_mut() else {
            return;
        };
        f.batch_sizes.saturating_record(size.max(1));
        if self.stamps.is_empty() {
            return;
        }
        let now = clock::now_ns();
        for &t in &self.stamps {
            f.latency_ns.saturating_record(now.saturating_sub(t).max(1));
        }
        self.stamps.clear();
    }

    /// Hand the figures over (on the stage's shutdown).
    pub(crate) fn finish(&mut self) {
        if let Some(f) = self.figures.take() {
            self.sink
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(f);
        }
    }
}
