//! [`JournalError`]: everything that can go wrong opening, writing,
//! reading or recovering a journal, with the file and offset involved.

use super::format::CorruptKind;
use std::fmt;
use std::path::PathBuf;

/// A segment, named by its first sequence (and file name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId(pub u64);

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::format::segment_file_name(self.0))
    }
}

/// Why a journal operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// The OS refused an operation on a file or directory.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Another writer holds the directory's lock.
    #[error("journal directory {} is locked by another writer", dir.display())]
    Locked {
        /// The directory.
        dir: PathBuf,
    },
    /// A segment's bytes are not a valid header or record.
    #[error("segment {segment} is corrupt at offset {offset}: {kind}")]
    Corrupt {
        /// The segment.
        segment: SegmentId,
        /// Byte offset in the segment file.
        offset: u64,
        /// What is wrong.
        kind: CorruptKind,
    },
    /// Valid records follow a corrupt one: corruption in the middle of the
    /// journal, which recovery never skips.
    #[error("segment {segment} is corrupt at offset {offset} ({kind}) with valid records after it: refusing to skip them")]
    CorruptMiddle {
        /// The segment.
        segment: SegmentId,
        /// Byte offset of the first bad record.
        offset: u64,
        /// What is wrong.
        kind: CorruptKind,
    },
    /// A torn tail was found and `RecoveryMode::Strict` forbids truncating it.
    #[error("segment {segment} has a torn tail at offset {offset} ({kind}); Strict recovery refuses to truncate")]
    TornTail {
        /// The segment.
        segment: SegmentId,
        /// Byte offset of the first bad record.
        offset: u64,
        /// What is wrong.
        kind: CorruptKind,
    },
    /// A segment file's length is not a whole segment.
    #[error("{} is {len} bytes: not a whole journal segment", path.display())]
    BadSegmentLength {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// A segment holds events of another size than this journal's.
    #[error("{} holds {found}-byte events; this journal's events are {expected} bytes", path.display())]
    EventSizeMismatch {
        /// The file.
        path: PathBuf,
        /// Event size expected.
        expected: usize,
        /// Event size in the segment header.
        found: usize,
    },
    /// A segment does not start where the previous one ended, or its name
    /// disagrees with its header.
    #[error("{} starts at sequence {found}, expected {expected}: a segment is missing or misnamed", path.display())]
    Gap {
        /// The file.
        path: PathBuf,
        /// First sequence expected.
        expected: u64,
        /// First sequence found.
        found: u64,
    },
    /// A file in the directory looks like a segment by name but is not one.
    #[error("{} is in the journal directory but is not a segment file name", path.display())]
    Foreign {
        /// The file.
        path: PathBuf,
    },
    /// The requested sequence is no longer (or not yet) in the journal.
    #[error("sequence {requested} is not in the journal (it holds {first}..{next})")]
    SequenceUnavailable {
        /// Sequence asked for.
        requested: u64,
        /// First sequence held.
        first: u64,
        /// Next sequence to be written.
        next: u64,
    },
    /// A configuration value is unusable.
    #[error("invalid journal configuration: {what} is {value} ({rule})")]
    Config {
        /// The setting.
        what: &'static str,
        /// Its value.
        value: u64,
        /// What it must be.
        rule: &'static str,
    },
    /// A segment is in the previous format (version 1), which this build
    /// reads only to convert it: run `ringmaster journal migrate DIR` (or
    /// [`migrate`](super::migrate)) once, then open the journal.
    #[error("{} is a version-1 journal segment; convert the journal with `ringmaster journal migrate {}` first", path.display(), path.parent().map(|p| p.display().to_string()).unwrap_or_default())]
    LegacyFormat {
        /// The segment.
        path: PathBuf,
    },
    /// A read-only scan kept finding the journal's end moving (a writer
    /// appending faster than the scan could settle); nothing is wrong
    /// with the journal.
    #[error("journal directory {} kept changing while it was scanned; try again", dir.display())]
    Busy {
        /// The directory.
        dir: PathBuf,
    },
    /// An earlier write or sync of this writer failed, so it accepts no
    /// more: what it had not made durable is not acknowledged and will not
    /// be. Reopen the journal (recovery discards what was unsealed).
    #[error("the journal writer stopped after an earlier failure ({kind}: {message}); reopen the journal")]
    Poisoned {
        /// The kind of the first failure's I/O error.
        kind: std::io::ErrorKind,
        /// The first failure, as text.
        message: String,
    },
    /// A snapshot file is damaged.
    #[error("snapshot {} is corrupt: {reason}", path.display())]
    CorruptSnapshot {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },
}
