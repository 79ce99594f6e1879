//! [`ReplicationError`]: why replication could not start or stopped.

use crate::journal::JournalError;

/// Why a [`Replicator`](super::Replicator) or a
/// [`Follower`](super::Follower) could not start, or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicationError {
    /// Talking to NATS failed (connecting, a JetStream request, a publish
    /// that was refused for a reason other than a retry's duplicate).
    #[error("NATS at {url}: {what}: {detail}")]
    Nats {
        /// The server's address.
        url: String,
        /// What was being done.
        what: &'static str,
        /// What the client or the server said.
        detail: String,
    },
    /// The stream holds records the journal does not: another primary
    /// wrote to it, or this journal lost its tail. Never merged.
    #[error(
        "stream {stream} ends at journal sequence {stream_end}, ahead of this journal's end \
         {journal_end}: another primary wrote to it (promote a standby, or replicate into a new stream)"
    )]
    StreamAhead {
        /// The stream.
        stream: String,
        /// The journal sequence after the stream's last record.
        stream_end: u64,
        /// The local journal's next sequence.
        journal_end: u64,
    },
    /// The stream's last message holds different records than the journal
    /// at the same sequences: the two histories diverged.
    #[error(
        "stream {stream} and this journal differ at journal sequences {first}..{end}: \
         their histories diverged"
    )]
    Diverged {
        /// The stream.
        stream: String,
        /// First sequence of the message compared.
        first: u64,
        /// Its end.
        end: u64,
    },
    /// The stream no longer holds the records a reader needs (retention
    /// dropped them after a newer snapshot), or never held them.
    #[error(
        "stream {stream} cannot continue from journal sequence {needed}: {why}; \
         start from the newest snapshot (an empty data directory)"
    )]
    Gap {
        /// The stream.
        stream: String,
        /// The journal sequence needed next.
        needed: u64,
        /// What the stream holds instead.
        why: String,
    },
    /// A stream message or snapshot object that does not decode: not one
    /// this crate wrote, or damaged.
    #[error("stream {stream} message {stream_sequence}: {what}")]
    BadMessage {
        /// The stream.
        stream: String,
        /// The message's stream sequence (0 for an object).
        stream_sequence: u64,
        /// What is wrong with it.
        what: String,
    },
    /// The stream's records are of another size than the journal's.
    #[error("stream {stream} carries {stream_size}-byte events, this journal {journal_size}-byte")]
    EventSize {
        /// The stream.
        stream: String,
        /// The stream's event size.
        stream_size: usize,
        /// The journal's event size.
        journal_size: usize,
    },
    /// Reading or writing the local journal or snapshots.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The applier refused a record.
    #[error("applying journal sequence {sequence}: {detail}")]
    Apply {
        /// The record's sequence.
        sequence: u64,
        /// Why.
        detail: String,
    },
    /// Starting the replication thread or its runtime.
    #[error("starting the {what} thread: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The replication thread stopped (panicked or was stopped).
    #[error("the {what} thread stopped")]
    Stopped {
        /// Which thread.
        what: &'static str,
    },
}
