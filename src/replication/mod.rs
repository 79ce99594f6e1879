//! Replication on NATS JetStream: the journal streamed off the machine,
//! and followers that rebuild from it.
//!
//! - [`Replicator`] (primary side) tails a journal on its own thread and
//!   publishes its records into a JetStream stream, several records per
//!   message, deduplicated and ordered by the stream itself; it uploads
//!   snapshots to the stream's object store bucket and drops from the
//!   stream what the kept snapshots cover. [`AckGate`] lets writers wait
//!   for the stream's acknowledgement before they reply.
//! - [`Follower`] (standby side) reads the stream with a durable consumer
//!   and hands each record, in order, to an [`Applier`]: the embedder's
//!   own event type and state live there. [`fetch_newest_snapshot`] gives
//!   a new standby its starting point.
//!
//! The NATS client and its runtime live on these threads only; the rest of
//! the engine never sees them. `docs/replication.md` describes the design
//! and the guarantees.

mod error;
mod follower;
mod replicator;
mod snapshots;
mod status;
mod stream;
mod wire;

pub use error::ReplicationError;
pub use follower::{Applier, Follower, FollowerConfig};
pub use replicator::{Nudge, Replicator, ReplicatorConfig, ReplicatorReport};
pub use snapshots::{delete_stream, fetch_newest_snapshot};
pub use status::{Abandoned, AckGate, FollowerStatus, ReplicatorStatus};
