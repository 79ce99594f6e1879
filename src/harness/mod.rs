//! The benchmark harness behind `ringmaster bench`: every topology,
//! ringmaster side by side with its peers in the same run.
//!
//! Not part of the library's stable API (`#[doc(hidden)]`); compiled with
//! the default `cli` feature.
//!
//! How a figure is made honest:
//! * peers run interleaved, repetition by repetition, in an order that
//!   rotates (A B C, B C A, C A B ...), and ringmaster's advantage is the
//!   median of per-repetition ratios;
//! * every run's final consumers count and checksum what they received,
//!   and a run that lost, duplicated or corrupted an event posts no number;
//! * the core-to-core hop is measured before and after each run, and other
//!   processes' CPU use during it, so runs on a disturbed machine are
//!   flagged (and, in full runs, repeated once).

pub mod event;
pub mod machine;
pub mod params;
pub mod peers;
pub mod report;
pub mod run;
pub mod scenario;
pub mod shop_load;
pub mod stats;
pub mod structures;
pub mod tcp_flood;
pub mod tcp_load;

pub use run::{run, total_runs, BenchOptions, Report, Row};
pub use scenario::Scenario;
