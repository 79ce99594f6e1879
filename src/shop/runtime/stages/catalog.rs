//! The catalog stage: applies every command to the [`Catalog`], answers
//! all but `Search`, and takes snapshots.

use super::prefetch_ring::PrefetchRing;
use crate::shop::domain::{Catalog, Command, ProductEvent, Rejection, Reply, TxnAssembler};
use crate::shop::runtime::outcome::Outbox;
use crate::shop::runtime::snapshotter::{SnapshotJob, SnapshotQueue};
use crate::shop::runtime::stage_latency::StageRecorder;
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
    /// Events held while a transaction is open (the transaction rule).
    txn: TxnAssembler<(u64, ProductEvent)>,
    /// The ids looked ahead at, for the second step of the prefetch.
    ahead: PrefetchRing<LOOK_AHEAD>,
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
            txn: TxnAssembler::default(),
            ahead: PrefetchRing::new(),
        }
    }

    fn snapshot(&mut self) {
        if let Some(queue) = &self.snapshots {
            // Microseconds whatever the catalog's size: the writer thread
            // serialises the frozen products.
            queue.queue(SnapshotJob {
                sequence: self.position,
                catalog: self.catalog.freeze(),
            });
            self.snapshot_at = self.position;
        }
    }

    /// The catalog's reply to a command other than `Search`.
    #[inline]
    fn answer(&mut self, event: &ProductEvent) -> Reply {
        match event.decode() {
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
        }
    }

    /// An event while a transaction is open, or a write that opens one:
    /// held until the transaction's last write, then answered in order.
    #[cold]
    fn transactional(&mut self, event: &ProductEvent, sequence: u64) {
        let mut txn = std::mem::take(&mut self.txn);
        let mut release = |(sequence, event): (u64, ProductEvent), apply: bool| {
            if event.is_search() {
                return;
            }
            let reply = if apply {
                self.answer(&event)
            } else {
                Reply::Rejected(Rejection::IncompleteTransaction {
                    tag: event.txn_mark().tag,
                })
            };
            self.outbox.push(sequence, reply);
        };
        txn.feed_event(event, (sequence, *event), &mut release);
        self.txn = txn;
    }
}

/// Events the catalog looks ahead in a batch: far enough that a product's
/// index entry, then the product, arrive from memory (~100-200 ns each)
/// while the commands before it are handled (tens of ns each), near
/// enough to stay in L1. A power of two.
const LOOK_AHEAD: usize = 8;

impl EventHandler<ProductEvent> for CatalogStage {
    fn on_batch_start(&mut self, batch_size: u64) {
        self.batch = batch_size;
    }

    fn look_ahead_distance(&self) -> u64 {
        PrefetchRing::<LOOK_AHEAD>::DISTANCE
    }

    #[inline]
    fn look_ahead(&mut self, event: &ProductEvent, sequence: u64) {
        let first = event.product_id();
        if let Some(id) = first {
            self.catalog.prefetch(id);
        }
        // The product of the command looked at half the distance ago,
        // whose index entry should be in cache by now.
        if let Some(id) = self.ahead.note(sequence, first) {
            self.catalog.prefetch_product(id);
        }
    }

    #[inline]
    fn on_event(&mut self, event: &ProductEvent, sequence: u64, end_of_batch: bool) {
        self.latency.event(event);
        if event.is_write() {
            // Counted as the journal stage appends: by the command byte.
            self.position += 1;
        }
        if self.txn.involves(event) {
            self.transactional(event, sequence);
        } else if !event.is_search() {
            let reply = self.answer(event);
            self.outbox.push(sequence, reply);
        }
        if end_of_batch {
            self.outbox.flush();
            self.latency.end_batch(self.batch);
            let due =
                self.snapshot_every > 0 && self.position - self.snapshot_at >= self.snapshot_every;
            // Never inside a transaction: its held writes are counted in
            // `position` and not applied yet.
            let busy = self.snapshots.as_ref().is_some_and(SnapshotQueue::is_busy);
            if due && !busy && !self.txn.is_open() {
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
