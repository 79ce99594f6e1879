//! Shared-memory rings: producers and consumers in separate processes.
//!
//! One process [creates](SharedRing::create) a ring backed by a file
//! (typically under `/dev/shm`); others [attach](SharedRing::attach) to it
//! by path. The file *is* the ring's region (header, counters, slots; see
//! `docs/shared-memory.md`), mapped shared by every process, so publishing
//! across processes costs what it costs between threads: no copy, no
//! syscall, no serialization.
//!
//! * Producers: [`SharedRing::single_producer`] or
//!   [`SharedRing::multi_producer`]; each process registers in a producer
//!   slot of the header.
//! * Consumers: [`SharedRing::consumers`] gives a [`GraphBuilder`](crate::GraphBuilder) whose
//!   stages take consumer slots in the header; build with
//!   [`GraphBuilder::build_consumers`](crate::GraphBuilder::build_consumers). Pipelines, diamonds and pollers
//!   work as on a private ring.
//! * Liveness: every slot records its process (pid and start time). A
//!   producer that waited [`SharedOptions::liveness_timeout`] for room
//!   checks the gating consumers and evicts dead ones (or fails, by
//!   [`DeadConsumerPolicy`]); a consumer that waited as long for a claimed
//!   slot checks the producers and, if one died, unblocks its abandoned
//!   claims, which consumers then pass over.
//! * Wait strategies: `BusySpin`, `Yielding` and `Backoff` work across
//!   processes (they poll shared memory); `Blocking` sleeps on an
//!   in-process condition variable and is refused with
//!   [`ShmError::UnsupportedWaitStrategy`].
//!
//! # Examples
//!
//! Both halves in one process here; in real use each runs in its own (see
//! `docs/examples/shm.rs`).
//!
//! ```
//! use ringmaster::shm::{SharedOptions, SharedRing};
//! use ringmaster::{handler_fn, RingConfig, WaitStrategy};
//! use std::sync::{atomic::{AtomicU64, Ordering}, Arc};
//!
//! let path = std::env::temp_dir().join(format!("doc-ring-{}", std::process::id()));
//! let config = RingConfig::new(1024).fingerprint(0xfeed).wait_strategy(WaitStrategy::Yielding);
//! let options = SharedOptions::default();
//!
//! // The engine process creates the ring and consumes it.
//! let ring = SharedRing::<u64>::create(&path, &config, &options)?;
//! let sum = Arc::new(AtomicU64::new(0));
//! let seen = sum.clone();
//! let mut consumers = ring.consumers();
//! consumers.handler("sum", handler_fn(move |e: &u64, _, _| { seen.fetch_add(*e, Ordering::Relaxed); })).add();
//! let graph = consumers.build_consumers()?;
//!
//! // A feed process attaches by path and publishes.
//! let feed = SharedRing::<u64>::attach(&path, &config, &options)?;
//! let mut producer = feed.single_producer()?;
//! for i in 1..=100 {
//!     producer.publish(i)?;
//! }
//!
//! graph.shutdown()?;
//! assert_eq!(sum.load(Ordering::Relaxed), 5050);
//! ring.remove()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
#[cfg(not(loom))]
pub(crate) mod liveness;
#[cfg(not(loom))]
mod options;
pub(crate) mod proc_stat;
#[cfg(not(loom))]
mod shared_ring;
#[cfg(not(loom))]
mod stat;

pub use error::ShmError;
#[cfg(not(loom))]
pub use liveness::DeadConsumerPolicy;
#[cfg(not(loom))]
pub use options::{SharedOptions, DEFAULT_LIVENESS_TIMEOUT};
#[cfg(not(loom))]
pub use shared_ring::SharedRing;
#[cfg(not(loom))]
pub use stat::{ConsumerStat, ProcessStat, RingStat};
