//! The catalog stage: applies every command to the [`Catalog`], answers
//! all but `Search`, and takes snapshots.

use super::outcome::Outbox;
use super::snapshotter::{SnapshotJob, SnapshotQueue};
use super::stage_latency::StageRecorder;
use crate::shop::{Catalog, Command, ProductEvent, Reply};
use crate::EventHandler;

#[derive(Debug)]
pub(crate) struct CatalogStage {
    catalog: Catalog,
    /// Journal records applied: the journal sequence of the next write.
    position: u64,
    /// `position` at the last snapshot.
    snapshot_at: u64,
    snapshot_every: u64,
    snapshot_on_close: bool,
    snapshots: Option<SnapshotQueue>,
    outbox: Outbox,
    batch: u64,
    latency: StageRecorder,
}

impl CatalogStage {
    #[allow(clippy::too_many_arguments)] // reason: one constructor, called once
    pub(crate) fn new(
        catalog: Catalog,
        position: u64,
        snapshot_at: u64,
        snapshot_every: u64,
        snapshot_on_close: bool,
        snapshots: SnapshotQueue,
        outbox: Outbox,
        latency: StageRecorder,
    ) -> Self {
        Self {
            catalog,
            position,
            snapshot_at,
            snapshot_every,
            snapshot_on_close,
            snapshots: Some(snapshots),
            outbox,
            batch: 0,
            latency,
        }
    }

    fn snapshot(&mut self) {
        if let Some(queue) = &self.snapshots {
            let mut state = Vec::new();
            self.catalog.to_snapshot(&mut state);
            queue.queue(SnapshotJob {
                sequence: self.position,
                state,
            });
            self.snapshot_at = self.position;
        }
    }
}

/// Events the catalog looks ahead in a batch: far enough that a product's
/// slot arrives from memory (~100-200 ns) while the commands before it are
/// handled (tens of ns each), near enough to stay in L1.
const LOOK_AHEAD: u64 = 8;

impl EventHandler<ProductEvent> for CatalogStage {
    fn on_batch_start(&mut self, batch_size: u64) {
        self.batch = batch_size;
    }

    fn look_ahead_distance(&self) -> u64 {
        LOOK_AHEAD
    }

    #[inline]
    fn look_ahead(&mut self, event: &ProductEvent, _sequence: u64) {
        if let Some(id) = event.product_id() {
            self.catalog.prefetch(id);
        }
    }

    #[inline]
    fn on_event(&mut self, event: &ProductEvent, sequence: u64, end_of_batch: bool) {
        self.latency.event(event);
        if event.is_write() {
            // Counted as the journal stage appends: by the command byte.
            self.position += 1;
        }
        if !event.is_search() {
            let reply = match event.decode() {
                Ok(Command::Snapshot) => {
                    self.snapshot();
                    Reply::SnapshotQueued {
                        sequence: self.position,
                    }
                }
                Ok(command) => {
                    // Search never reaches here (`is_search`) and Snapshot
                    // is matched above: the catalog answers everything else.
                    self.catalog
                        .apply(&command)
                        .unwrap_or_else(|| unreachable!("catalog answers {command:?}"))
                }
                Err(e) => Reply::Invalid(e),
            };
            self.outbox.push(sequence, reply);
        }
        if end_of_batch {
            self.outbox.flush();
            self.latency.end_batch(self.batch);
            let due =
                self.snapshot_every > 0 && self.position - self.snapshot_at >= self.snapshot_every;
            if due && !self.snapshots.as_ref().is_some_and(SnapshotQueue::is_busy) {
                self.snapshot();
            }
        }
    }

    fn on_shutdown(&mut self) {
        self.latency.finish();
        if self.snapshot_on_close && self.position > self.snapshot_at {
            self.snapshot();
        }
        // Dropping the queue lets the writer finish once it has saved
        // everything queued.
        self.snapshots = None;
    }
}
