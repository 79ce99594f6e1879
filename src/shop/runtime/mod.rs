//! The shop's runtime: [`Shop`] wires the pure domain (catalog, search
//! index) into a consumer graph with the journal, snapshots and clients.
//! Everything with threads or I/O lives here; the domain stays
//! deterministic and testable alone.

mod client;
mod config;
mod error;
mod journal_figures;
mod outcome;
mod recovery;
mod registry;
#[cfg(all(feature = "replication", not(loom)))]
mod replicated;
mod ring_file;
mod shop;
mod snapshotter;
mod stage_latency;
mod stages;

pub use client::Client;
pub use config::{ShopConfig, StageThreads};
pub use error::ShopError;
pub use journal_figures::JournalFigures;
pub(crate) use journal_figures::LiveJournal;
pub use recovery::OpenReport;
#[cfg(all(feature = "replication", not(loom)))]
pub use replicated::{
    AckMode, ReplicatedShop, ReplicationConfig, ReplicationHandle, ReplicationInfo, Role,
};
pub use shop::{CloseReport, Shop};
pub(crate) use stage_latency::LiveStages;
pub use stage_latency::StageLatency;
