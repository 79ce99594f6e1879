//! The shop's engine: [`Shop`] wires the pure domain of
//! [`crate::shop`] (catalog, search index) into a consumer graph with the
//! journal, snapshots and clients. Everything with threads or I/O lives
//! here; the domain stays deterministic and testable alone.

mod catalog_stage;
mod client;
mod config;
mod journal_stage;
mod outcome;
mod recovery;
mod registry;
mod responder;
mod ring_file;
mod search_stage;
mod shop;
mod snapshotter;
mod stage_latency;

pub use client::Client;
pub use config::{ShopConfig, StageThreads};
pub use recovery::OpenReport;
pub use shop::{CloseReport, Shop};
pub(crate) use stage_latency::LiveStages;
pub use stage_latency::StageLatency;
