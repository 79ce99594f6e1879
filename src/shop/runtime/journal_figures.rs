//! The journal stage's running figures, shared with readers (`INFO`, the
//! Prometheus endpoint) without locks: the stage stores them after each
//! commit, readers load them whenever they like.

use crate::journal::JournalWriter;
use std::sync::atomic::{AtomicU64, Ordering};

/// The shop journal's figures since open.
///
/// # Examples
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("rm-doc-jfig-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let shop = ringmaster::shop::Shop::open(ringmaster::shop::ShopConfig::new(&dir))?;
/// shop.client()?.add(1, "Mug", 100, 1)?;
/// let figures = shop.journal_figures();
/// assert_eq!((figures.records, figures.next_sequence), (1, 1));
/// shop.close()?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalFigures {
    /// Records appended since open.
    pub records: u64,
    /// Commits (batches with a write).
    pub commits: u64,
    /// Durable flushes (msync).
    pub syncs: u64,
    /// Segments rolled over.
    pub rolls: u64,
    /// Of those, into recycled spare segments.
    pub recycled: u64,
    /// The journal sequence of the next record.
    pub next_sequence: u64,
    /// Every record below this is durable.
    pub durable_sequence: u64,
}

/// The stage's side: stores after each commit.
#[derive(Debug, Default)]
pub(crate) struct LiveJournal {
    records: AtomicU64,
    commits: AtomicU64,
    syncs: AtomicU64,
    rolls: AtomicU64,
    recycled: AtomicU64,
    next_sequence: AtomicU64,
    durable_sequence: AtomicU64,
}

impl LiveJournal {
    /// Take the writer's figures (on the journal stage's thread).
    pub(crate) fn record(&self, writer: &JournalWriter) {
        let stats = writer.stats();
        // Relaxed: figures for display; each is read on its own, and a
        // reader seeing a mix of two commits' values is harmless.
        for (field, value) in [
            (&self.records, stats.records),
            (&self.commits, stats.commits),
            (&self.syncs, stats.syncs),
            (&self.rolls, stats.rolls),
            (&self.recycled, stats.recycled),
            (&self.next_sequence, writer.next_sequence()),
            (&self.durable_sequence, writer.durable_sequence()),
        ] {
            field.store(value, Ordering::Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> JournalFigures {
        // Relaxed: see `record`.
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        JournalFigures {
            records: load(&self.records),
            commits: load(&self.commits),
            syncs: load(&self.syncs),
            rolls: load(&self.rolls),
            recycled: load(&self.recycled),
            next_sequence: load(&self.next_sequence),
            durable_sequence: load(&self.durable_sequence),
        }
    }
}
