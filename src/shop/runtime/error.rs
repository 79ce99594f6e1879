//! The shop runtime's error: everything that can go wrong using a
//! [`Shop`](crate::shop::Shop) or its [`Client`](crate::shop::Client), from a
//! refused command to a failed journal write.

use crate::journal::JournalError;
use crate::shop::domain::{Rejection, ValidationError};

/// Everything that can go wrong using a [`Shop`](super::Shop).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShopError {
    /// The command was invalid; nothing was published.
    #[error("invalid command: {0}")]
    Invalid(#[from] ValidationError),
    /// The catalog refused the command (a reply, not a failure).
    #[error("rejected: {0}")]
    Rejected(#[from] Rejection),
    /// Replication into or from NATS JetStream failed.
    #[cfg(all(feature = "replication", not(loom)))]
    #[error(transparent)]
    Replication(#[from] crate::replication::ReplicationError),
    /// The shop is closed or its engine stopped.
    #[error("the shop is closed")]
    Closed,
    /// A reply of an unexpected kind came back (an internal bug).
    #[error("unexpected reply {reply} to request {request_id}")]
    UnexpectedReply {
        /// The request.
        request_id: u64,
        /// What came back, as debug text.
        reply: String,
    },
    /// Too many pipelined requests are waiting for their replies.
    #[error("{in_flight} requests in flight; the limit is {limit}")]
    InFlightLimit {
        /// Requests awaiting replies.
        in_flight: u64,
        /// The client's limit.
        limit: u64,
    },
    /// Opening, recovering, writing or closing the journal failed.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// A journal record passed its checksum but is not a shop command.
    #[error("journal record {sequence} is not a valid shop command: {error}")]
    CorruptRecord {
        /// The record's sequence.
        sequence: u64,
        /// What was wrong with it.
        error: ValidationError,
    },
    /// A snapshot's bytes do not decode.
    #[error("snapshot at {sequence} is corrupt at byte {offset}: {what}")]
    CorruptSnapshot {
        /// The snapshot's sequence.
        sequence: u64,
        /// Where in its state the problem is.
        offset: usize,
        /// What was wrong.
        what: &'static str,
    },
    /// The newest snapshot covers more records than the journal holds
    /// (the journal lost its tail, e.g. to a power loss with
    /// `Durability::None`).
    #[error("snapshot covers {snapshot} records but the journal ends at {journal_end}")]
    SnapshotAheadOfJournal {
        /// Records the snapshot covers.
        snapshot: u64,
        /// Records the journal holds.
        journal_end: u64,
    },
    /// The configuration is unusable.
    #[error("configuration: {what} = {value}: {rule}")]
    Config {
        /// The setting.
        what: &'static str,
        /// Its value.
        value: u64,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// The engine could not be built.
    #[error("engine: {0}")]
    Build(#[from] crate::BuildError),
    /// The shared ring file could not be created or used.
    #[error("ring file: {0}")]
    RingFile(#[from] crate::shm::ShmError),
    /// A stage failed; the engine stopped.
    #[error("engine stopped: {0}")]
    Stopped(#[from] crate::ShutdownError),
    /// Creating the data directory or a thread failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The path involved.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}
