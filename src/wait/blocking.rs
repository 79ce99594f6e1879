//! `Blocking`: sleep on a condition variable until a sequence moves.
//!
//! The signaller pays for a lock only when a waiter has announced itself
//! (the Disruptor's `LiteBlockingWaitStrategy`). The announcement and the
//! sequence store form a store-buffering (Dekker) pattern, so both sides use
//! a `SeqCst` fence between their store and their load:
//!
//! ```text
//! waiter                           signaller
//! waiters += 1                     sequence.set(n)      (Release)
//! fence(SeqCst)  <- StoreLoad ->   fence(SeqCst)
//! lock; check sequence             load waiters
//!   not ready: wait (unlocks)      != 0: lock; notify_all
//! ```
//!
//! Either the waiter's check sees the new sequence, or the signaller sees
//! the waiter and, by taking the lock, cannot notify between the waiter's
//! check and its sleep. The loom model `blocking_wake_up` checks this.

use super::interrupted;
use crate::error::WaitError;
use crate::sync::{fence, spin_loop, AtomicBool, AtomicU32, Condvar, Mutex, Ordering};
use crossbeam_utils::CachePadded;
use std::sync::PoisonError;
use std::time::Instant;

const SPIN_TRIES: u32 = if cfg!(loom) { 0 } else { 64 };

#[derive(Debug)]
pub(crate) struct Blocking {
    /// Threads between their announcement and the end of their wait.
    waiters: CachePadded<AtomicU32>,
    lock: Mutex<()>,
    cond: Condvar,
}

impl Blocking {
    pub(crate) fn new() -> Self {
        Self {
            waiters: CachePadded::new(AtomicU32::new(0)),
            lock: Mutex::new(()),
            cond: Condvar::new(),
        }
    }

    pub(crate) fn wait_until<F: FnMut() -> Option<u64>>(
        &self,
        mut ready: F,
        alerted: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Result<u64, WaitError> {
        // A short optimistic spin keeps the lock out of back-to-back bursts.
        for _ in 0..SPIN_TRIES {
            if let Some(v) = ready() {
                return Ok(v);
            }
            spin_loop();
        }
        // SeqCst RMW + fence: StoreLoad, our announcement must be visible
        // before we read the sequence; pairs with the fence in `signal`.
        self.waiters.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let result = loop {
            if let Some(v) = ready() {
                break Ok(v);
            }
            if let Some(e) = interrupted(alerted, deadline) {
                break Err(e);
            }
            guard = match deadline {
                None => self
                    .cond
                    .wait(guard)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    self.cond
                        .wait_timeout(guard, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        };
        drop(guard);
        // Relaxed: a stale non-zero count only costs a signaller one
        // unneeded lock; it guards no data.
        self.waiters.fetch_sub(1, Ordering::Relaxed);
        result
    }

    #[inline]
    pub(crate) fn signal(&self) {
        // StoreLoad: the caller's sequence store must be ordered before our
        // read of `waiters`; pairs with the fence in `wait_until`.
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence above.
        if self.waiters.load(Ordering::Relaxed) != 0 {
            self.wake_all();
        }
    }

    pub(crate) fn wake_all(&self) {
        // Taking the lock orders this notify after any waiter's check.
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.cond.notify_all();
    }
}
