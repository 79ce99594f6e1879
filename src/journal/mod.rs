//! The journal: a memory-mapped, checksummed, segmented log of events,
//! usable as a stage of the consumer graph ([`JournalHandler`]) with group
//! commit per batch, recovered on open to everything it acknowledged,
//! replayable from any sequence ([`JournalReader`]), with snapshots and
//! retention ([`SnapshotStore`], [`release_segments_before`]).
//!
//! The byte layout of segments, records and seals is documented in
//! [`mod@format`]; `docs/journal-format.md` repeats it with the recovery
//! rule and why it holds.

mod error;
pub mod format;
mod group_hasher;
mod handler;
mod io;
mod legacy;
mod reader;
mod recovery;
mod retention;
#[allow(unsafe_code)]
mod segment;
mod snapshot;
mod writer;

pub use error::{JournalError, SegmentId};
pub use format::CorruptKind;
pub use handler::JournalHandler;
pub use io::{FileOp, FileOpInfo, IoHook, DEFAULT_FILE_MODE};
pub use legacy::{migrate, Migration};
pub use reader::JournalReader;
pub use recovery::{RecoveryMode, RecoveryReport, Truncation};
pub use retention::{
    release_segments_before, remove_segments_before, sync_segments_before, Released,
};
pub use snapshot::{Snapshot, SnapshotStore};
pub use writer::{
    Durability, JournalConfig, JournalWriter, WriterStats, DEFAULT_SEGMENT_SIZE,
    DEFAULT_SPARE_SEGMENTS,
};

/// Scan a journal directory without modifying it: what recovery would
/// keep, and where and why it would stop. Safe to run while a writer
/// appends: it never reports as damage what a live writer is writing.
///
/// # Errors
///
/// As recovery: corruption in the middle, gaps, foreign files, I/O.
/// A torn tail is reported in the result, not as an error.
///
/// # Examples
///
/// ```
/// let dir = std::env::temp_dir().join(format!("rm-doc-verify-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let report = ringmaster::journal::verify(&dir)?;
/// assert_eq!(report.records, 0);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn verify(dir: &std::path::Path) -> Result<RecoveryReport, JournalError> {
    recovery::scan(dir, None, RecoveryMode::TruncateTornTail, None).map(|(r, _)| r)
}

/// Per-segment summary for `ringmaster journal inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentSummary {
    /// File path.
    pub path: std::path::PathBuf,
    /// First sequence.
    pub first_sequence: u64,
    /// Valid records.
    pub records: u64,
    /// Record capacity.
    pub capacity: u64,
    /// Event size.
    pub event_size: u32,
}

/// Scan without modifying and list every segment.
///
/// # Errors
///
/// As [`verify`].
pub fn inspect(
    dir: &std::path::Path,
) -> Result<(RecoveryReport, Vec<SegmentSummary>), JournalError> {
    let (report, found) = recovery::scan(dir, None, RecoveryMode::TruncateTornTail, None)?;
    let segments = found
        .into_iter()
        .map(|f| SegmentSummary {
            path: f.path,
            first_sequence: f.header.first_sequence,
            records: f.records,
            capacity: f.header.capacity(),
            event_size: f.header.event_size,
        })
        .collect();
    Ok((report, segments))
}
