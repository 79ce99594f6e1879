//! [`RingBuffer`]: the slots and counters of one ring, and the only code
//! that touches slot memory.
//!
//! Slot `seq & mask` holds the event with sequence `seq`. Who may touch a
//! slot is decided by the sequencing protocol:
//!
//! * a producer writes slot `s` only between claiming `s` (so every gating
//!   consumer has processed `s - capacity`) and publishing it;
//! * a consumer reads slot `s` only after seeing it published (`cursor > s`
//!   for one producer, the availability flag for several) and before
//!   advancing its own sequence past `s`.
//!
//! The protocol's two points of proof are types (`range.rs`): a sequencer's
//! claim makes a `Claimed` range, a consumer's barrier a `Published` one,
//! and slot access (`access.rs`, `batch.rs`) takes them, so it is safe to
//! call. The rest of the ring is counters: slot allocation (`allocation.rs`:
//! gating and availability), who is attached (`membership.rs`) and publish
//! stamps (`stamps.rs`). The loom models in `tests/loom.rs` check the rules
//! with loom's tracked `UnsafeCell`.

#[allow(unsafe_code)]
mod access;
mod allocation;
#[allow(unsafe_code)]
mod batch;
mod membership;
mod producer_waits;
mod range;
mod stamps;

use crate::config::RingConfig;
use crate::error::ConfigError;
use crate::region::{Region, RegionHeader, MAX_CONSUMERS};
use crate::sequence::Sequence;
use crate::sync::{AtomicBool, Ordering};
use crate::wait::Waiter;
use crossbeam_utils::CachePadded;
use producer_waits::ProducerWaits;
pub(crate) use range::Claimed;
pub(crate) use range::Published;

/// A disruptor ring buffer of `E` events in a mapped region.
///
/// Created by [`GraphBuilder`](crate::GraphBuilder), shared by its producers
/// and consumers; applications see it through
/// [`Graph::ring`](crate::Graph::ring) to read counters.
///
/// `Send + Sync`: every field is either immutable or an atomic.
///
/// # Examples
///
/// ```
/// use ringmaster::{GraphBuilder, NoopHandler, RingConfig};
///
/// let mut builder = GraphBuilder::<u64>::new(RingConfig::new(8));
/// builder.handler("sink", NoopHandler).add();
/// let (mut producer, graph) = builder.build_single_producer()?;
/// producer.publish(42)?;
/// assert_eq!(graph.ring().capacity(), 8);
/// assert_eq!(graph.ring().cursor(), 1);
/// graph.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RingBuffer<E> {
    region: Region<E>,
    /// `capacity - 1`; capacity is a power of two.
    mask: u64,
    capacity: u64,
    /// `log2(capacity)`: `seq >> shift` is the lap ("round") of `seq`.
    shift: u32,
    waiter: Waiter,
    /// Pause hints a stage spins after a small batch (see RingConfig).
    gather_pauses: u32,
    /// Set once by `alert`; never cleared.
    alerted: CachePadded<AtomicBool>,
    /// Liveness rules, for a region shared with other processes.
    liveness: Option<Liveness>,
    /// Publish stamps: `every - 1` (sequences `s` with `s & mask == 0`
    /// are stamped), the table index mask and `log2(every)`; `every == 0`
    /// (`stamps_on` false) without stamps.
    stamp_every_mask: u64,
    stamp_index_mask: u64,
    stamp_shift: u32,
    stamps_on: bool,
    /// How long producers waited for room (instrumented rings only).
    producer_waits: ProducerWaits,
}

/// How a ring shared with other processes tells live owners from dead
/// ones: this process's token, the wait after which to ask, whether to
/// free a dead consumer's slot, and the question itself. The policy
/// (`shm::liveness`) fills it in; the ring only acts on the answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Liveness {
    /// How long a producer waits for room, or a consumer for a claimed
    /// slot to be published, before it checks who is alive.
    pub(crate) timeout: std::time::Duration,
    /// A dead consumer's slot is freed (the producers move on) rather than
    /// only reported.
    pub(crate) evict_dead_consumers: bool,
    /// This process's token (`region::token`).
    pub(crate) me: u64,
    /// Whether the process behind a token is dead. Cold paths only.
    pub(crate) is_dead: fn(u64) -> bool,
}

/// Bit 31 of an availability flag: the claim was abandoned by a dead
/// producer and unblocked; consumers pass over the slot without reading it.
const UNBLOCKED: u32 = 1 << 31;

/// A consumer slot whose process died, found by [`RingBuffer::reap_dead_consumers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeadConsumer {
    pub(crate) slot: usize,
    pub(crate) pid: u32,
}

impl<E> RingBuffer<E> {
    /// Liveness rules, for a shared region.
    pub(crate) fn liveness(&self) -> Option<&Liveness> {
        self.liveness.as_ref()
    }

    /// Halt: every wait returns `Alerted` from now on.
    pub(crate) fn alert(&self) {
        // Release: pairs with the Acquire in `wait::interrupted` and
        // `is_halted`, so whatever was recorded before halting is visible.
        self.alerted.store(true, Ordering::Release);
        self.waiter.wake_all();
    }
}

impl<E: bytemuck::Pod + Send> RingBuffer<E> {
    pub(crate) fn new(config: &RingConfig, multi_producer: bool) -> Result<Self, ConfigError> {
        let layout = config.layout::<E>(multi_producer)?;
        let region = Region::anonymous(layout, config.type_fingerprint())?;
        Ok(Self::over(region, config, None))
    }

    /// A ring over an existing region (a shared file's mapping).
    pub(crate) fn over(region: Region<E>, config: &RingConfig, liveness: Option<Liveness>) -> Self {
        let capacity = region.layout().capacity;
        let every = region.layout().stamp_every;
        let entries = region.layout().stamp_entries();
        Self {
            stamp_every_mask: every.saturating_sub(1),
            stamp_index_mask: entries.saturating_sub(1),
            stamp_shift: every.trailing_zeros() % 64,
            stamps_on: every != 0,
            producer_waits: ProducerWaits::default(),
            region,
            mask: capacity - 1,
            capacity,
            shift: capacity.trailing_zeros(),
            waiter: Waiter::new(config.strategy(), 1 + MAX_CONSUMERS),
            gather_pauses: config.gather(),
            alerted: CachePadded::new(AtomicBool::new(false)),
            liveness,
        }
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Whether several producers may publish (the multi-producer sequencer).
    pub fn is_multi_producer(&self) -> bool {
        self.region.layout().multi_producer
    }

    /// The producer cursor: events published (single producer) or claimed
    /// (multi-producer) so far.
    pub fn cursor(&self) -> u64 {
        self.cursor_seq().get_relaxed()
    }

    /// Events the slowest gating consumer has processed.
    pub fn min_consumer_sequence(&self) -> u64 {
        self.min_gating()
    }

    /// The metrics sampling interval: 1 event in this many carries a
    /// publish stamp (`0`: the ring is not instrumented). A shared ring's
    /// creator chose it for every process.
    pub fn sampling(&self) -> u64 {
        if self.stamps_on {
            self.stamp_every_mask + 1
        } else {
            0
        }
    }

    /// How long producers of this process waited for room.
    pub(crate) fn producer_waits(&self) -> &ProducerWaits {
        &self.producer_waits
    }

    /// The region header, as another process would decode it.
    pub fn header(&self) -> RegionHeader {
        self.region.header()
    }

    /// Whether the ring was halted (by `halt`, shutdown, or a handler panic
    /// under [`PanicPolicy::Halt`](crate::PanicPolicy::Halt)).
    pub fn is_halted(&self) -> bool {
        // Acquire: pairs with the Release in `alert`.
        self.alerted.load(Ordering::Acquire)
    }

    #[inline(always)]
    pub(crate) fn cursor_seq(&self) -> &Sequence {
        &self.region.control().cursor
    }

    #[inline(always)]
    pub(crate) fn consumer(&self, slot: usize) -> &Sequence {
        debug_assert!(slot < MAX_CONSUMERS);
        &self.region.control().consumers[slot]
    }

    #[inline(always)]
    pub(crate) fn waiter(&self) -> &Waiter {
        &self.waiter
    }

    /// Pause hints a stage spins after a small batch.
    #[inline(always)]
    pub(crate) fn gather_pauses(&self) -> u32 {
        self.gather_pauses
    }

    #[inline(always)]
    pub(crate) fn alerted(&self) -> &AtomicBool {
        &self.alerted
    }

    #[cfg(not(loom))] // shm, its only user, is not built under loom
    pub(crate) fn region(&self) -> &Region<E> {
        &self.region
    }
}
