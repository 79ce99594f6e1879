//! The snapshot writer: a background thread that serialises and saves
//! catalog states the catalog stage froze (so the stage never spends the
//! serialisation's time), keeps the newest few and releases the journal
//! segments they make unnecessary (kept as spares for reuse, or deleted).
//!
//! A snapshot at sequence `s` is saved only after every journal record
//! before `s` is durable: under `Durability::None` or `Periodic` those
//! records may still be in the page cache only, and a snapshot that
//! survived a power cut they did not would be ahead of its journal.

use crate::journal::{
    release_segments_before, sync_segments_before, JournalConfig, JournalError, SnapshotStore,
};
use crate::shop::FrozenCatalog;
use crossbeam_channel::{Receiver, Sender};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The first journal sequence something other than the snapshots still
/// needs (a replicator's acknowledged end): segments holding it or later
/// records are never released.
pub(crate) type RetentionHold = Arc<dyn Fn() -> u64 + Send + Sync>;

/// One state to save: it covers every journal record below `sequence`.
#[derive(Debug)]
pub(crate) struct SnapshotJob {
    pub(crate) sequence: u64,
    pub(crate) catalog: FrozenCatalog,
}

/// What the writer did, returned when it stops.
#[derive(Debug, Default)]
pub(crate) struct SnapshotOutcome {
    pub(crate) written: u64,
    pub(crate) newest: Option<u64>,
    pub(crate) segments_removed: usize,
    pub(crate) error: Option<JournalError>,
}

/// The catalog stage's handle: queue a job, see whether one is pending.
#[derive(Debug, Clone)]
pub(crate) struct SnapshotQueue {
    tx: Sender<SnapshotJob>,
    busy: Arc<AtomicBool>,
}

impl SnapshotQueue {
    /// Whether a job is queued or being written (automatic snapshots skip
    /// their turn rather than pile up behind a slow disk).
    pub(crate) fn is_busy(&self) -> bool {
        // Acquire: pairs with the writer's Release once a job is done.
        self.busy.load(Ordering::Acquire)
    }

    pub(crate) fn queue(&self, job: SnapshotJob) {
        // Relaxed: only a hint for `is_busy`; the job itself travels
        // through the channel.
        self.busy.store(true, Ordering::Relaxed);
        // The writer lives until every queue handle is dropped.
        let _ = self.tx.send(job);
    }
}

/// The writer thread.
#[derive(Debug)]
pub(crate) struct Snapshotter {
    handle: JoinHandle<SnapshotOutcome>,
}

impl Snapshotter {
    pub(crate) fn start(
        store: SnapshotStore,
        journal: JournalConfig,
        keep: usize,
        hold: Option<RetentionHold>,
    ) -> std::io::Result<(Self, SnapshotQueue)> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let busy = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&busy);
        let handle = std::thread::Builder::new()
            .name("rm-shop-snapshot".into())
            .spawn(move || run(&store, &journal, keep.max(1), hold.as_ref(), &rx, &flag))?;
        Ok((Self { handle }, SnapshotQueue { tx, busy }))
    }

    /// Wait for every queued job (all queue handles must be dropped).
    pub(crate) fn finish(self) -> SnapshotOutcome {
        self.handle.join().unwrap_or_else(|_| SnapshotOutcome {
            error: Some(JournalError::Io {
                path: PathBuf::from("snapshot writer"),
                source: std::io::Error::other("snapshot writer panicked"),
            }),
            ..SnapshotOutcome::default()
        })
    }
}

fn run(
    store: &SnapshotStore,
    journal: &JournalConfig,
    keep: usize,
    hold: Option<&RetentionHold>,
    rx: &Receiver<SnapshotJob>,
    busy: &AtomicBool,
) -> SnapshotOutcome {
    let mut outcome = SnapshotOutcome::default();
    while let Ok(job) = rx.recv() {
        // First, so the catalog stops sharing its storage with the job as
        // soon as it can. A buffer per job: a large catalog's state is not
        // kept resident between snapshots.
        let mut state = Vec::new();
        job.catalog.to_snapshot(&mut state);
        let result = sync_segments_before(journal, job.sequence)
            .and_then(|()| store.save(job.sequence, &state))
            .and_then(|_| {
                store.retain(keep)?;
                // Keep every record an older kept snapshot would still
                // need, and every record not yet replicated.
                match store.list()?.last() {
                    Some(&oldest) => {
                        let upto = hold.map_or(oldest, |h| oldest.min(h()));
                        release_segments_before(journal, upto)
                            .map(|released| released.spared + released.removed)
                    }
                    None => Ok(0),
                }
            });
        match result {
            Ok(removed) => {
                outcome.written += 1;
                outcome.newest = Some(job.sequence);
                outcome.segments_removed += removed;
                tracing::debug!(sequence = job.sequence, removed, "shop snapshot saved");
            }
            Err(e) => {
                // Not fatal: the journal still holds every record.
                tracing::error!(sequence = job.sequence, error = %e, "shop snapshot failed");
                outcome.error = Some(e);
            }
        }
        if rx.is_empty() {
            // Release: pairs with the Acquire in `is_busy`.
            busy.store(false, Ordering::Release);
        }
    }
    outcome
}
