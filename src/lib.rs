//! # ringmaster
//!
//! A single-node event engine after the LMAX Disruptor: producers publish
//! fixed-size, plain-data events (`bytemuck::Pod`) into a ring buffer whose
//! slots and sequence counters live in one memory-mapped region; consumer
//! stages, each on its own (optionally pinned) thread, process them in
//! batches along a dependency graph (pipeline, multicast, diamond).
//!
//! * **Ring** ([`RingBuffer`]): power-of-two capacity, slots written in
//!   place, counters at fixed 128-byte offsets of the region
//!   ([`RegionHeader`]).
//! * **Sequencers**: [`SingleProducer`] (no atomic read-modify-write on the
//!   hot path) and [`MultiProducer`] (one `fetch_add` per claim, per-slot
//!   availability flags); claim one slot or a batch, `try_` and `_timeout`
//!   forms.
//! * **Wait strategies** ([`WaitStrategy`]): `BusySpin`, `Yielding`,
//!   `Backoff`, `Blocking`.
//! * **Consumer graph** ([`GraphBuilder`], [`EventHandler`],
//!   [`EventPoller`]): drain-then-stop [`Graph::shutdown`], prompt
//!   [`Graph::halt`], a [`PanicPolicy`] for handlers that panic;
//!   partitioned stages (per-key order) and work pools (each event to a
//!   free worker) over several threads; stages that join and leave a
//!   running graph ([`Graph::attach`], [`Graph::detach`]).
//! * **Journal** ([`journal`]): a memory-mapped, checksummed, segmented log
//!   as a graph stage, with group commit, recovery, replay and snapshots.
//! * **Metrics** ([`metrics`]): per-stage latency, lag, batch sizes and
//!   counts recorded on each stage's thread and read live
//!   ([`Graph::metrics`]), with a periodic reporter and exports.
//! * **Shared-memory rings** ([`shm`]): a ring in a file (under `/dev/shm`)
//!   that producers and consumer graphs of other processes attach to by
//!   path, with header validation, liveness recovery and
//!   [`shm::RingStat`] for watching it from outside.
//!
//! ## Example: a three-stage pipeline
//!
//! ```text
//! producer -> parse -> enrich -> sink
//! ```
//!
//! ```
//! use ringmaster::{handler_fn, GraphBuilder, RingConfig, WaitStrategy};
//! use std::sync::{atomic::{AtomicU64, Ordering}, Arc};
//!
//! #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
//! #[repr(C)]
//! struct Trade { id: u64, price_cents: u64 }
//!
//! let total = Arc::new(AtomicU64::new(0));
//! let sink_total = total.clone();
//! let mut builder = GraphBuilder::<Trade>::new(
//!     RingConfig::new(1024).wait_strategy(WaitStrategy::Yielding),
//! );
//! let parse = builder.handler("parse", handler_fn(|_t: &Trade, _seq, _eob| {})).add();
//! let enrich = builder
//!     .handler("enrich", handler_fn(|_t: &Trade, _seq, _eob| {}))
//!     .after(&[parse])
//!     .add();
//! builder
//!     .handler("sink", handler_fn(move |t: &Trade, _seq, _eob| {
//!         sink_total.fetch_add(t.price_cents, Ordering::Relaxed);
//!     }))
//!     .after(&[enrich])
//!     .add();
//! let (mut producer, graph) = builder.build_single_producer()?;
//!
//! for id in 0..10_000 {
//!     producer.publish_with(|slot| *slot = Trade { id, price_cents: 3 })?;
//! }
//! graph.shutdown()?;
//! assert_eq!(total.load(Ordering::Relaxed), 30_000);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Features
//!
//! * `cli` (default): the `ringmaster` binary and its benchmark harness
//!   (clap, indicatif, plotters, serde, and the peer crates it measures).
//!   Embed with `default-features = false` to get the engine alone.
//! * `metrics` (default, implied by `cli`): the instrumentation's
//!   recording; without it stages record nothing.
//! * `plot` (implied by `cli`): SVG percentile plots of metrics snapshots
//!   (plotters).
//!
//! ## Model checking
//!
//! The lock-free protocols are checked with loom:
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release --test loom --target-dir target-loom`.

#![deny(unsafe_code, missing_docs, missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

mod clock;
mod config;
mod error;
mod graph;
mod histogram;
pub mod ingress;
pub mod journal;
#[allow(unsafe_code)]
mod memory_hint;
pub mod metrics;
mod preallocate;
mod producer;
mod publisher;
mod region;
#[cfg(all(feature = "replication", not(loom)))]
pub mod replication;
mod ring;
mod sequence;
mod sequencer;
pub mod shm;
pub mod shop;
mod sync;
mod wait;

#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod harness;

pub use config::{RingConfig, DEFAULT_GATHER_PAUSES, DEFAULT_METRICS_SAMPLING};
pub use error::{
    AttachError, BuildError, ClaimError, ConfigError, DetachError, ShutdownError, StageError,
    TryClaimError, TryPublishError, WaitError,
};
pub use graph::{
    handler_fn, partition_of, pin_current_thread, AttachBuilder, Attached, Detached, EventHandler,
    EventPoller, FnHandler, Graph, GraphBuilder, NoopHandler, PanicPolicy, Partition,
    PartitionedBuilder, PartitionedStage, PollState, PollerAttachBuilder, PollerBuilder,
    StageBuilder, StageId, StageInfo, WorkPool, WorkPoolBuilder,
};
pub use producer::{Claim, MultiProducer, Producer, SingleProducer};
pub use publisher::Publisher;
pub use region::{
    HeaderError, RegionHeader, LAYOUT_VERSION, MAGIC, MAX_CAPACITY, MAX_CONSUMERS, MAX_EVENT_ALIGN,
    MAX_EVENT_SIZE, MAX_PRODUCERS, MAX_REGION_LEN,
};
pub use ring::RingBuffer;
pub use sequencer::{MultiSequencer, Sequencer, SingleSequencer};
pub use wait::WaitStrategy;
#[doc(hidden)]
pub use wait::WakeFlag;

/// The README's embedding example, compiled and run as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
