//! Instrumentation: per-stage latency, batch sizes, lag and counts,
//! recorded by each stage's own thread and read live from any other.
//!
//! * **What**: for every handler stage, the time from an event's publish
//!   (the producer's publish call) to the end of the stage's batch holding
//!   it, for one event in [`RingConfig::metrics_sampling`] (default 1024;
//!   `1` = every event); the lag (cursor minus the stage's sequence) at the
//!   same moments; every batch's size and the event and batch counts. Per
//!   ring: how long producers waited for room, and the occupancy.
//! * **How**: a producer publishing a sampled sequence reads the clock once
//!   per publish call and stores the time in a stamp table in the ring's
//!   region (so stamps cross processes with a shared ring; the clock is
//!   `CLOCK_MONOTONIC`, one for all cores and processes). Each stage
//!   records into histograms its thread owns and adds them to its cell
//!   about every 50 ms, under a `try_lock` that never stalls it.
//! * **Reading**: [`Graph::metrics`](crate::Graph::metrics) or a
//!   [`Metrics`] handle ([`Graph::metrics_handle`](crate::Graph::metrics_handle))
//!   returns a [`MetricsSnapshot`]: per stage, cumulative and interval
//!   figures; a [`Reporter`] prints or hands one over every interval.
//!   Exports: [`MetricsSnapshot::summary`], [`MetricsSnapshot::to_json`],
//!   `.hgrm` files ([`MetricsSnapshot::write_hgrm`], [`hgrm`]) and, with
//!   the `plot` feature, an SVG percentile plot.
//! * **Off**: `metrics_sampling(0)` turns a ring's instrumentation off at
//!   run time; building without the `metrics` feature (on by default)
//!   compiles the recording out.
//!
//! Cross-process counters (cursor, stage sequences, owners) are in the
//! region itself and shown by `ringmaster stat` (see [`crate::shm`]).
//!
//! [`RingConfig::metrics_sampling`]: crate::RingConfig::metrics_sampling
//!
//! # Examples
//!
//! ```
//! use ringmaster::{GraphBuilder, NoopHandler, RingConfig};
//! let mut builder = GraphBuilder::<u64>::new(RingConfig::new(1024).metrics_sampling(16));
//! builder.handler("journal", NoopHandler).add();
//! let (mut producer, graph) = builder.build_single_producer()?;
//! let mut metrics = graph.metrics_handle();
//! for i in 0..1600 {
//!     producer.publish(i)?;
//! }
//! graph.shutdown()?;
//! let stage = &metrics.snapshot().stages[0];
//! assert_eq!(stage.cumulative.events, 1600);
//! assert_eq!(stage.cumulative.latency_ns.len(), 100); // 1 in 16
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod export;
mod figures;
#[cfg(feature = "plot")]
mod plot;
mod recorder;
mod reporter;
mod snapshot;

pub use export::hgrm;
pub(crate) use figures::histogram;
pub use figures::StageFigures;
#[cfg(feature = "plot")]
pub use plot::{draw_percentiles, PlotError};
pub(crate) use recorder::{StageCell, StageRecorder, PUBLISH_EVERY_NS};
pub use reporter::Reporter;
pub(crate) use snapshot::RingOf;
pub use snapshot::{Metrics, MetricsSnapshot, StageGroupKind, StageGroupSnapshot, StageSnapshot};
