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
mod wake_flag;
mod yielding;

use crate::error::WaitError;
use crate::sync::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub(crate) use blocking::{consumer_channel, Blocking, CURSOR};
pub use wake_flag::WakeFlag;

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
    /// `channels`: for `Blocking`, the cursor plus one per consumer slot.
    pub(crate) fn new(strategy: WaitStrategy, channels: usize) -> Self {
        match strategy {
            WaitStrategy::BusySpin => Self::BusySpin,
            WaitStrategy::Yielding => Self::Yielding,
            WaitStrategy::Backoff => Self::Backoff,
            WaitStrategy::Blocking => Self::Blocking(Blocking::new(channels)),
        }
    }

    /// Wait until `ready` returns a value, `alerted` is set, or `deadline`
    /// passes. `ready` is polled at least once; `Err(channel)` from it
    /// names the sequence that blocks it (see [`CURSOR`],
    /// [`consumer_channel`]): `Blocking` sleeps on that channel, the other
    /// strategies spin or yield.
    #[inline]
    pub(crate) fn wait_until<F: FnMut() -> Result<u64, usize>>(
        &self,
        mut ready: F,
        alerted: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Result<u64, WaitError> {
        match self {
            Self::BusySpin => busy_spin::wait_until(|| ready().ok(), alerted, deadline),
            Self::Yielding => yielding::wait_until(|| ready().ok(), alerted, deadline),
            Self::Backoff => backoff::wait_until(|| ready().ok(), alerted, deadline),
            Self::Blocking(b) => b.wait_until(ready, alerted, deadline),
        }
    }

    /// As [`Waiter::wait_until`], but each time `every` passes without the
    /// value, call `check` (the liveness checks of shared rings); an `Err`
    /// from it ends the wait. The deadline, when given, is kept exactly.
    pub(crate) fn wait_checking<F, X>(
        &self,
        mut ready: F,
        alerted: &AtomicBool,
        deadline: Option<Instant>,
        every: Duration,
        mut check: impl FnMut() -> Result<(), X>,
    ) -> Result<u64, Interrupted<X>>
    where
        F: FnMut() -> Result<u64, usize>,
    {
        loop {
            let check_at = Instant::now() + every;
            let until = deadline.map_or(check_at, |d| d.min(check_at));
            match self.wait_until(&mut ready, alerted, Some(until)) {
                Ok(value) => return Ok(value),
                Err(WaitError::Timeout) if deadline.is_none_or(|d| Instant::now() < d) => {
                    check().map_err(Interrupted::Check)?;
                }
                Err(e) => return Err(Interrupted::Wait(e)),
            }
        }
    }

    /// Tell sleepers that the sequence of `channel` moved. Free for every
    /// strategy but `Blocking`, where it costs a fence unless someone
    /// sleeps on that channel.
    #[inline(always)]
    pub(crate) fn signal(&self, channel: usize) {
        if let Self::Blocking(b) = self {
            b.signal(channel);
        }
    }

    /// Wake every sleeper unconditionally (after setting the alert flag).
    pub(crate) fn wake_all(&self) {
        if let Self::Blocking(b) = self {
            b.wake_all();
        }
    }
}

/// How [`Waiter::wait_checking`] ended without the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interrupted<X> {
    /// Halted or timed out.
    Wait(WaitError),
    /// The periodic check said stop.
    Check(X),
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
            Waiter::new(WaitStrategy::BusySpin, 2),
            Waiter::new(WaitStrategy::Yielding, 2),
            Waiter::new(WaitStrategy::Backoff, 2),
            Waiter::new(WaitStrategy::Blocking, 2),
        ]
    }

    #[test]
    fn ready_value_returns_at_once() {
        let alerted = AtomicBool::new(false);
        for w in all() {
            assert_eq!(w.wait_until(|| Ok(7), &alerted, None), Ok(7));
        }
    }

    #[test]
    fn alert_and_timeout_end_the_wait() {
        let alerted = AtomicBool::new(true);
        for w in all() {
            assert_eq!(
                w.wait_until(|| Err(CURSOR), &alerted, None),
                Err(WaitError::Alerted)
            );
        }
        let calm = AtomicBool::new(false);
        for w in all() {
            let deadline = Instant::now() + Duration::from_millis(5);
            assert_eq!(
                w.wait_until(|| Err(consumer_channel(0)), &calm, Some(deadline)),
                Err(WaitError::Timeout)
            );
        }
    }

    #[test]
    fn blocking_wakes_only_the_signalled_channel() {
        use std::sync::atomic::AtomicU64;
        use std::sync::Arc;
        let w = Arc::new(Waiter::new(WaitStrategy::Blocking, 3));
        let (a, b) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let alerted = Arc::new(AtomicBool::new(false));
        // Waits for a > 0 and b > 0: sleeps on whichever lags.
        let waiter = {
            let (w, a, b, alerted) = (w.clone(), a.clone(), b.clone(), alerted.clone());
            std::thread::spawn(move || {
                w.wait_until(
                    || match (a.load(Ordering::Acquire), b.load(Ordering::Acquire)) {
                        (0, _) => Err(consumer_channel(0)),
                        (_, 0) => Err(consumer_channel(1)),
                        (x, y) => Ok(x + y),
                    },
                    &alerted,
                    None,
                )
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        a.store(1, Ordering::Release);
        w.signal(consumer_channel(0));
        std::thread::sleep(Duration::from_millis(20));
        b.store(2, Ordering::Release);
        w.signal(consumer_channel(1));
        assert_eq!(waiter.join().unwrap(), Ok(3));
    }

    #[test]
    fn wait_checking_checks_while_waiting_and_stops_when_told() {
        let alerted = AtomicBool::new(false);
        for w in all() {
            let mut checks = 0;
            let got = w.wait_checking(
                || Err(CURSOR),
                &alerted,
                None,
                Duration::from_millis(1),
                || {
                    checks += 1;
                    if checks == 3 {
                        Err("stop")
                    } else {
                        Ok(())
                    }
                },
            );
            assert_eq!(got, Err(Interrupted::Check("stop")));
            let deadline = Instant::now() + Duration::from_millis(5);
            let got = w.wait_checking(
                || Err(CURSOR),
                &alerted,
                Some(deadline),
                Duration::from_secs(60),
                || Err("never reached"),
            );
            assert_eq!(got, Err(Interrupted::Wait(WaitError::Timeout)));
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
                    if n > 40 {
                        Ok(n)
                    } else {
                        Err(CURSOR)
                    }
                },
                &alerted,
                None,
            );
            assert_eq!(got, Ok(41));
        }
    }
}
