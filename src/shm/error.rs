//! [`ShmError`]: why a shared ring could not be created, attached or used.

use crate::error::ConfigError;
use crate::region::HeaderError;
use std::path::PathBuf;

/// Why creating, attaching to or using a shared ring failed. Every variant
/// names the file.
///
/// # Examples
///
/// ```
/// use ringmaster::shm::{ShmError, SharedOptions, SharedRing};
/// use ringmaster::RingConfig;
///
/// let err = SharedRing::<u64>::attach("/nonexistent/ring", &RingConfig::new(64), &SharedOptions::default())
///     .unwrap_err();
/// assert!(matches!(err, ShmError::NotFound { .. }));
/// assert!(err.to_string().contains("/nonexistent/ring"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShmError {
    /// No file at the path (never created, or removed by its creator).
    #[error("no shared ring at {path}: the file does not exist (not created yet, or removed)")]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// The operating system refused an operation on the file.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`open`, `map`, `resize` ...).
        op: &'static str,
        /// The path.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The ring configuration is invalid for this event type.
    #[error("shared ring {path}: {source}")]
    Config {
        /// The path.
        path: PathBuf,
        /// What is wrong with the configuration.
        #[source]
        source: ConfigError,
    },
    /// The file's header is not a valid ring header (garbage, truncated,
    /// another program's file, another layout version).
    #[error("{path} is not a usable ring: {source}")]
    Header {
        /// The path.
        path: PathBuf,
        /// Which header field was wrong.
        #[source]
        source: HeaderError,
    },
    /// The header is valid but describes a different ring than the one
    /// the attaching process expects.
    #[error("{path}: header field `{field}` is {found}, this process expects {expected}")]
    Mismatch {
        /// The path.
        path: PathBuf,
        /// `event_size`, `event_align`, `fingerprint`, `capacity` or
        /// `multi_producer`.
        field: &'static str,
        /// What the file holds.
        found: u64,
        /// What this process asked for.
        expected: u64,
    },
    /// The file is not as long as its header says the region is.
    #[error("{path} is {file_len} bytes but its header describes a {region_len}-byte region (truncated or padded)")]
    FileLength {
        /// The path.
        path: PathBuf,
        /// The file's length.
        file_len: u64,
        /// The region length the header records.
        region_len: u64,
    },
    /// `create` found a file at the path that a live process still uses.
    #[error("{path} already holds a ring created by process {pid}, which is alive")]
    InUse {
        /// The path.
        path: PathBuf,
        /// The creator's pid.
        pid: u32,
    },
    /// `create` found a ring left by a run whose processes have all died;
    /// pass [`SharedOptions::replace_stale`](super::SharedOptions::replace_stale)
    /// to recreate it.
    #[error("{path} is a stale ring: its creator (process {pid}) and every process attached to it have died; recreate it with replace_stale")]
    Stale {
        /// The path.
        path: PathBuf,
        /// The dead creator's pid.
        pid: u32,
    },
    /// `create` found a file at the path that is not a ring; it is never
    /// replaced.
    #[error("{path} exists and is not a ring ({reason}); refusing to overwrite it")]
    NotARing {
        /// The path.
        path: PathBuf,
        /// Why it is not a ring.
        reason: String,
    },
    /// The ring's creator removed it; nothing new may attach.
    #[error("{path} was removed by its creator")]
    Removed {
        /// The path.
        path: PathBuf,
    },
    /// Every consumer slot in the header is taken by a live process.
    #[error("{path}: all {max} consumer slots are in use")]
    NoConsumerSlot {
        /// The path.
        path: PathBuf,
        /// Slots in the header.
        max: usize,
    },
    /// Every producer slot is taken (multi-producer), or the one producer
    /// of a single-producer ring is alive in another process.
    #[error("{path}: no producer slot free ({reason})")]
    ProducerTaken {
        /// The path.
        path: PathBuf,
        /// Which.
        reason: String,
    },
    /// The producer kind asked for does not match the ring's sequencer.
    #[error("{path} is a {ring} ring; it has no {asked} producer")]
    WrongProducer {
        /// The path.
        path: PathBuf,
        /// The ring's kind.
        ring: &'static str,
        /// The kind asked for.
        asked: &'static str,
    },
    /// A wait strategy that cannot wake threads of another process.
    #[error("wait strategy {strategy:?} cannot wake another process; shared rings use BusySpin, Yielding or Backoff")]
    UnsupportedWaitStrategy {
        /// The strategy asked for.
        strategy: crate::WaitStrategy,
    },
    /// Consumers did not attach within the time given.
    #[error("{path}: {attached} of {wanted} consumers attached before the timeout")]
    ConsumersTimeout {
        /// The path.
        path: PathBuf,
        /// Consumers attached.
        attached: usize,
        /// Consumers waited for.
        wanted: usize,
    },
}
