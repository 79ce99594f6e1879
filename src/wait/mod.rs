//! Wait strategies: what a consumer does while no event is available, and
//! what a producer does while the ring is full.
//!
//! | strategy | idle CPU | wake-up latency | use when |
//! |---|---|---|---|
//! | [`WaitStrategy::BusySpin`] | 100% | lowest (one cache-line hop) | each thread owns a core |
//! | [`WaitStrategy::Yielding`] | high, but yields | low | threads may outnumber cores |
//! | [`WaitStrategy::Backoff`] | low after a few ms idle | spin, then yield, then sleeps up to 1 ms | bursty load |
//! | [`WaitStrategy::Blocking`] | none | a futex wake (microseconds) | idle most of the time |
//!
//! After the LMAX Disruptor's `BusySpinWaitStrategy`,
//! `YieldingWaitStrategy`, `PhasedBackoffWaitStrategy` and
//! `LiteBlockingWaitStrategy` (a signaller only takes the lock when a
//! waiter announced itself).

mod backoff;
mod blocking;
mod busy_spin;
mod yielding;

use crate::error::WaitError;
use crate::sync::{AtomicBool, Ordering};
use std::time::Instant;

pub(crate) use blocking::Blocking;

/// How threads wait for events (consumers) or for free slots (producers).
///
/// # Examples
///
/// ```
/// use ringmaster::{RingConfig, WaitStrategy};
///
/// // Threads outnumber cores in tests: never spin without yielding there.
/// let config = RingConfig::new(1024).wait_strategy(WaitStrategy::Yielding);
/// assert_eq!(config.strategy(), WaitStrategy::Yielding);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitStrategy {
    /// Spin on the sequence with a CPU pause hint. Lowest latency; burns a
    /// core per waiting thread, and collapses when threads outnumber cores.
    BusySpin,
    /// Spin briefly, then `yield` the time slice on each retry.
    #[default]
    Yielding,
    /// Spin with exponential pauses, then yield, then sleep (50 us growing
    /// to 1 ms) while idle.
    Backoff,
    /// Sleep on a condition variable; producers and upstream stages wake the
    /// sleepers. No CPU is used while idle and no wake-up is lost.
    Blocking,
}

/// The runtime side of a [`WaitStrategy`]: per-ring state plus the wait
/// loop. Enum dispatch keeps `dyn` off the hot path.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per ring; boxing would add a hop to `signal`
pub(crate) enum Waiter {
    BusySpin,
    Yielding,
    Backoff,
    Blocking(Blocking),
}

impl Waiter {
    pub(crate) fn new(strategy: WaitStrategy) -> Self {
        match strategy {
            WaitStrategy::BusySpin => Self::BusySpin,
            WaitStrategy::Yielding => Self::Yielding,
            WaitStrategy::Backoff => Self::Backoff,
            WaitStrategy::Blocking => Self::Blocking(Blocking::new()),
        }
    }

    /// Wait until `ready` returns a value, `alerted` is set, or `deadline`
    /// passes. `ready` is polled at least once.
    #[inline]
    pub(crate) fn wait_until<F: FnMut() -> Option<u64>>(
        &self,
        ready: F,
        alerted: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Result<u64, WaitError> {
        match self {
            Self::BusySpin => busy_spin::wait_until(ready, alerted, deadline),
            Self::Yielding => yielding::wait_until(ready, alerted, deadline),
            Self::Backoff => backoff::wait_until(ready, alerted, deadline),
            Self::Blocking(b) => b.wait_until(ready, alerted, deadline),
        }
    }

    /// Tell sleepers that a sequence moved. Free for every strategy but
    /// `Blocking`, where it costs a fence unless someone sleeps.
    #[inline(always)]
    pub(crate) fn signal(&self) {
        if let Self::Blocking(b) = self {
            b.signal();
        }
    }

    /// Wake every sleeper unconditionally (after setting the alert flag).
    pub(crate) fn wake_all(&self) {
        if let Self::Blocking(b) = self {
            b.wake_all();
        }
    }
}

/// The checks every strategy makes between polls.
#[inline]
fn interrupted(alerted: &AtomicBool, deadline: Option<Instant>) -> Option<WaitError> {
    // Acquire: pairs with the Release store in `RingBuffer::alert`, so a
    // waiter that sees the alert also sees why (the recorded failure).
    if alerted.load(Ordering::Acquire) {
        return Some(WaitError::Alerted);
    }
    match deadline {
        Some(d) if Instant::now() >= d => Some(WaitError::Timeout),
        _ => None,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::time::Duration;

    fn all() -> [Waiter; 4] {
        [
            Waiter::new(WaitStrategy::BusySpin),
            Waiter::new(WaitStrategy::Yielding),
            Waiter::new(WaitStrategy::Backoff),
            Waiter::new(WaitStrategy::Blocking),
        ]
    }

    #[test]
    fn ready_value_returns_at_once() {
        let alerted = AtomicBool::new(false);
        for w in all() {
            assert_eq!(w.wait_until(|| Some(7), &alerted, None), Ok(7));
        }
    }

    #[test]
    fn alert_and_timeout_end_the_wait() {
        let alerted = AtomicBool::new(true);
        for w in all() {
            assert_eq!(
                w.wait_until(|| None, &alerted, None),
                Err(WaitError::Alerted)
            );
        }
        let calm = AtomicBool::new(false);
        for w in all() {
            let deadline = Instant::now() + Duration::from_millis(5);
            assert_eq!(
                w.wait_until(|| None, &calm, Some(deadline)),
                Err(WaitError::Timeout)
            );
        }
    }

    #[test]
    fn polls_until_ready() {
        let alerted = AtomicBool::new(false);
        for w in all() {
            let mut n = 0;
            let got = w.wait_until(
                || {
                    n += 1;
                    (n > 40).then_some(n)
                },
                &alerted,
                None,
            );
            assert_eq!(got, Ok(41));
        }
    }
}
