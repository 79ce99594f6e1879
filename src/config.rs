//! [`RingConfig`]: capacity, wait strategy and type fingerprint of a ring.

use crate::error::ConfigError;
use crate::region::RegionLayout;
use crate::wait::WaitStrategy;

/// How to build a ring.
///
/// # Examples
///
/// ```
/// use ringmaster::{ConfigError, RingConfig, WaitStrategy};
///
/// let config = RingConfig::new(1 << 16).wait_strategy(WaitStrategy::BusySpin);
/// assert_eq!(config.capacity(), 65_536);
/// assert!(config.validate::<[u8; 64]>().is_ok());
/// assert!(matches!(RingConfig::new(0).validate::<u64>(), Err(ConfigError::CapacityZero)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingConfig {
    capacity: u64,
    strategy: WaitStrategy,
    fingerprint: u64,
    gather_pauses: u32,
    metrics_sampling: u64,
}

/// Default for [`RingConfig::gather_pauses`].
pub const DEFAULT_GATHER_PAUSES: u32 = 32;
/// Default for [`RingConfig::metrics_sampling`]: 1 event in 1024 carries
/// a publish stamp (0 when the `metrics` feature is compiled out).
pub const DEFAULT_METRICS_SAMPLING: u64 = if cfg!(all(feature = "metrics", not(loom))) {
    1024
} else {
    0
};
/// A batch smaller than this is followed by the gather pause.
pub(crate) const SMALL_BATCH: u64 = 16;

impl RingConfig {
    /// A ring of `capacity` slots (a power of two), waiting with
    /// [`WaitStrategy::Yielding`].
    pub fn new(capacity: u64) -> Self {
        Self {
            capacity,
            strategy: WaitStrategy::default(),
            fingerprint: 0,
            gather_pauses: if cfg!(loom) { 0 } else { DEFAULT_GATHER_PAUSES },
            metrics_sampling: DEFAULT_METRICS_SAMPLING,
        }
    }

    /// Under sustained load (four batches in a row of fewer than 16
    /// events, each found without waiting), a handler stage spins this many
    /// CPU pause hints before looking for more (default 32; 0 = look again
    /// at once).
    ///
    /// Why: each time a consumer reads the producer cursor it takes the
    /// cursor's cache line away from the producer, whose next publish then
    /// waits for the line (and, x86 stores committing in order, every slot
    /// write behind it). A consumer that re-reads at once after a tiny batch
    /// keeps batches tiny and costs the producer that stall every few
    /// events; pausing briefly lets a batch gather (with 32 pauses of ~25 ns
    /// each, a 1P-1C unicast gathers batches of tens of events instead of a
    /// handful; `ringmaster bench unicast` shows the batch sizes). A stream
    /// slower than the consumer never pauses (the consumer waits for each
    /// event), so paced latency is unchanged; a burst arriving on a
    /// saturated stage may see its events delayed by up to one pause
    /// (~1 us). Set 0 where that matters more than throughput.
    #[must_use]
    pub fn gather_pauses(mut self, pauses: u32) -> Self {
        self.gather_pauses = pauses;
        self
    }

    /// The configured gather pause count.
    pub fn gather(&self) -> u32 {
        self.gather_pauses
    }

    /// Instrumentation (see [`crate::metrics`]): `0` turns it off for
    /// this ring; `n` (a power of two) records publish-to-stage latency and
    /// stage lag for one event in `n` (the sequences that are multiples of
    /// `n`), plus every batch's size and count. Default 1024
    /// ([`DEFAULT_METRICS_SAMPLING`]); `1` records every event.
    ///
    /// Cost: a producer reads the clock once per publish call that holds a
    /// sampled sequence, a stage once per batch that holds one; each
    /// sampled sequence costs one 8-byte store and load in a stamp table
    /// of `max(1, capacity / n)` entries in the region. Builds without the
    /// `metrics` feature ignore this setting and record nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::{ConfigError, RingConfig};
    /// assert!(RingConfig::new(64).metrics_sampling(1).validate::<u64>().is_ok());
    /// let err = RingConfig::new(64).metrics_sampling(3).validate::<u64>().unwrap_err();
    /// assert!(matches!(err, ConfigError::SamplingInvalid { every: 3, .. }));
    /// ```
    #[must_use]
    pub fn metrics_sampling(mut self, every: u64) -> Self {
        self.metrics_sampling = every;
        self
    }

    /// The sampling interval this ring will use (`0` = instrumentation
    /// off, always so without the `metrics` feature).
    pub fn sampling(&self) -> u64 {
        if cfg!(all(feature = "metrics", not(loom))) {
            self.metrics_sampling
        } else {
            0
        }
    }

    /// Use `strategy` for consumers waiting for events and producers
    /// waiting for room.
    #[must_use]
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Record a fingerprint of the event type in the region header, so a
    /// process attaching to a shared ring can check it speaks the same type.
    #[must_use]
    pub fn fingerprint(mut self, fingerprint: u64) -> Self {
        self.fingerprint = fingerprint;
        self
    }

    /// Slots in the ring.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// The configured wait strategy.
    pub fn strategy(&self) -> WaitStrategy {
        self.strategy
    }

    /// The configured type fingerprint (`0` = none).
    pub fn type_fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// Check this configuration for events of type `E`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming what is wrong: zero, non-power-of-two or
    /// too large a capacity; an event type that is zero-sized, larger than
    /// 64 KiB or aligned beyond 128 bytes; a region beyond 64 GiB; a
    /// metrics sampling interval that is not 0 or a power of two.
    pub fn validate<E>(&self) -> Result<(), ConfigError> {
        self.layout::<E>(false).map(|_| ())
    }

    pub(crate) fn layout<E>(&self, multi_producer: bool) -> Result<RegionLayout, ConfigError> {
        RegionLayout::compute(
            self.capacity,
            core::mem::size_of::<E>(),
            core::mem::align_of::<E>(),
            multi_producer,
            self.sampling(),
        )
    }
}
