//! `Blocking`: sleep on a condition variable until a sequence moves.
//!
//! One *channel* per sequence a thread can wait on: the producers' cursor
//! (channel 0) and each consumer's sequence (channel `1 + slot`). A waiter
//! sleeps on the channel of the sequence it is blocked by (for several
//! upstream stages, the one that lags); a thread that advances a sequence
//! wakes only that sequence's channel. So a publish wakes the stages that
//! read the cursor, a stage's progress wakes the stages (or producers)
//! gated on it, and nobody else: no thundering herd of every idle stage on
//! every signal, which on a small machine costs more than the work.
//!
//! Per channel, the signaller pays for a lock only when a waiter has
//! announced itself (the Disruptor's `LiteBlockingWaitStrategy`). The
//! announcement and the sequence store form a store-buffering (Dekker)
//! pattern, so both sides use a `SeqCst` fence between their store and
//! their load:
//!
//! ```text
//! waiter (channel c)                signaller (sequence of c)
//! waiters[c] += 1                   sequence.set(n)      (Release)
//! fence(SeqCst)  <- StoreLoad ->    fence(SeqCst)
//! lock c; check sequences           load waiters[c]
//!   blocked by c: wait (unlocks)    != 0: lock c; notify_all c
//!   blocked by d != c: unlock, re-announce on d
//! ```
//!
//! Either the waiter's check sees the new sequence, or the signaller sees
//! the waiter and, by taking the lock, cannot notify between the waiter's
//! check and its sleep. A waiter sleeps on `c` only after a check (made
//! after announcing on `c`) found `c`'s sequence short, so `c`'s next
//! advance wakes it. The loom model `blocking_wake_up` checks this.

use super::interrupted;
use crate::error::WaitError;
use crate::sync::{fence, spin_loop, AtomicBool, AtomicU32, Condvar, Mutex, Ordering};
use crossbeam_utils::CachePadded;
use std::sync::PoisonError;
use std::time::Instant;

const SPIN_TRIES: u32 = if cfg!(loom) { 0 } else { 64 };

/// The channel of the producers' cursor.
pub(crate) const CURSOR: usize = 0;

/// The channel of consumer `slot`'s sequence.
#[inline(always)]
pub(crate) const fn consumer_channel(slot: usize) -> usize {
    1 + slot
}

#[derive(Debug)]
struct Channel {
    /// Threads between their announcement and the end of their wait.
    waiters: CachePadded<AtomicU32>,
    lock: Mutex<()>,
    cond: Condvar,
}

#[derive(Debug)]
pub(crate) struct Blocking {
    channels: Box<[Channel]>,
}

impl Blocking {
    /// `channels`: the cursor plus one per consumer slot.
    pub(crate) fn new(channels: usize) -> Self {
        Self {
            channels: (0..channels.max(1))
                .map(|_| Channel {
                    waiters: CachePadded::new(AtomicU32::new(0)),
                    lock: Mutex::new(()),
                    cond: Condvar::new(),
                })
                .collect(),
        }
    }

    fn channel(&self, c: usize) -> &Channel {
        // Out of range cannot happen (callers pass a cursor or a slot's
        // channel); the last channel keeps it safe regardless.
        let last = self.channels.len() - 1;
        &self.channels[c.min(last)]
    }

    /// Wait until `ready` gives a value; `Err(c)` from it names the
    /// channel of the sequence that blocks it.
    pub(crate) fn wait_until<F: FnMut() -> Result<u64, usize>>(
        &self,
        mut ready: F,
        alerted: &AtomicBool,
        deadline: Option<Instant>,
    ) -> Result<u64, WaitError> {
        // A short optimistic spin keeps the lock out of back-to-back bursts.
        #[cfg_attr(loom, allow(clippy::reversed_empty_ranges))] // reason: no spin under loom
        for _ in 0..SPIN_TRIES {
            if let Ok(v) = ready() {
                return Ok(v);
            }
            spin_loop();
        }
        loop {
            let blocked_by = match ready() {
                Ok(v) => return Ok(v),
                Err(c) => c,
            };
            let channel = self.channel(blocked_by);
            // SeqCst RMW + fence: StoreLoad, our announcement must be
            // visible before we read the sequences; pairs with the fence
            // in `signal`.
            channel.waiters.fetch_add(1, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            let mut guard = channel.lock.lock().unwrap_or_else(PoisonError::into_inner);
            let outcome = loop {
                match ready() {
                    Ok(v) => break Some(Ok(v)),
                    // Another sequence blocks us now: announce there.
                    Err(c) if c != blocked_by => break None,
                    Err(_) => {}
                }
                if let Some(e) = interrupted(alerted, deadline) {
                    break Some(Err(e));
                }
                guard = match deadline {
                    None => channel
                        .cond
                        .wait(guard)
                        .unwrap_or_else(PoisonError::into_inner),
                    Some(d) => {
                        let left = d.saturating_duration_since(Instant::now());
                        channel
                            .cond
                            .wait_timeout(guard, left)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0
                    }
                };
            };
            drop(guard);
            // Relaxed: a stale non-zero count only costs a signaller one
            // unneeded lock; it guards no data.
            channel.waiters.fetch_sub(1, Ordering::Relaxed);
            if let Some(result) = outcome {
                return result;
            }
        }
    }

    /// The sequence of channel `c` moved: wake its waiters.
    #[inline]
    pub(crate) fn signal(&self, c: usize) {
        let channel = self.channel(c);
        // StoreLoad: the caller's sequence store must be ordered before our
        // read of `waiters`; pairs with the fence in `wait_until`.
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence above.
        if channel.waiters.load(Ordering::Relaxed) != 0 {
            // Taking the lock orders this notify after any waiter's check.
            let _guard = channel.lock.lock().unwrap_or_else(PoisonError::into_inner);
            channel.cond.notify_all();
        }
    }

    /// Wake everyone (halt, shutdown).
    pub(crate) fn wake_all(&self) {
        for channel in &*self.channels {
            let _guard = channel.lock.lock().unwrap_or_else(PoisonError::into_inner);
            channel.cond.notify_all();
        }
    }
}
