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
}

impl RingConfig {
    /// A ring of `capacity` slots (a power of two), waiting with
    /// [`WaitStrategy::Yielding`].
    pub fn new(capacity: u64) -> Self {
        Self {
            capacity,
            strategy: WaitStrategy::default(),
            fingerprint: 0,
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
    /// 64 KiB or aligned beyond 128 bytes; a region beyond 64 GiB.
    pub fn validate<E>(&self) -> Result<(), ConfigError> {
        self.layout::<E>(false).map(|_| ())
    }

    pub(crate) fn layout<E>(&self, multi_producer: bool) -> Result<RegionLayout, ConfigError> {
        RegionLayout::compute(
            self.capacity,
            core::mem::size_of::<E>(),
            core::mem::align_of::<E>(),
            multi_producer,
        )
    }
}
