//! Figures the replication threads publish for `INFO` and for waiting
//! writers: [`ReplicatorStatus`], [`FollowerStatus`] and [`AckGate`].

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

/// Where a [`Replicator`](super::Replicator) is, updated by its thread.
///
/// Every field is a counter or a journal sequence read with `Relaxed`
/// loads: figures to report, nothing is published through them.
#[derive(Debug, Default)]
pub struct ReplicatorStatus {
    /// Journal sequence after the last record sent to the stream.
    pub(crate) published: AtomicU64,
    /// Journal sequence after the last record the stream acknowledged.
    pub(crate) acked: AtomicU64,
    /// Messages acknowledged by the stream.
    pub(crate) messages: AtomicU64,
    /// Times the replicator lost its place (a failed publish, the server
    /// restarting) and asked the stream where it ends.
    pub(crate) resyncs: AtomicU64,
    /// Snapshots uploaded to the object store bucket.
    pub(crate) snapshots: AtomicU64,
    /// Newest snapshot in the bucket (journal records covered), 0 if none.
    pub(crate) newest_snapshot: AtomicU64,
    /// What caused the last resync.
    last_error: Mutex<Option<String>>,
}

impl ReplicatorStatus {
    /// Journal sequence after the last record published (acknowledged or
    /// not).
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }

    /// Journal sequence after the last record the stream acknowledged:
    /// everything before it is in JetStream.
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Relaxed)
    }

    /// Messages the stream acknowledged.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Times the replicator resynchronised with the stream after an error.
    pub fn resyncs(&self) -> u64 {
        self.resyncs.load(Ordering::Relaxed)
    }

    /// Snapshots uploaded since start.
    pub fn snapshots_uploaded(&self) -> u64 {
        self.snapshots.load(Ordering::Relaxed)
    }

    /// The newest snapshot in the bucket, as the journal records it covers.
    pub fn newest_snapshot(&self) -> Option<u64> {
        Some(self.newest_snapshot.load(Ordering::Relaxed)).filter(|&s| s > 0)
    }

    /// The last error the replicator recovered from, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_error(&self, error: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }
}

/// Where a [`Follower`](super::Follower) is, updated by its thread.
#[derive(Debug, Default)]
pub struct FollowerStatus {
    /// Journal sequence after the last record handed to the applier.
    pub(crate) applied: AtomicU64,
    /// Journal sequence after the stream's last record, as last seen.
    pub(crate) stream_end: AtomicU64,
    /// How old the oldest record not yet applied is, in milliseconds (0
    /// when caught up).
    pub(crate) lag_ms: AtomicU64,
    /// Messages applied.
    pub(crate) messages: AtomicU64,
    /// Times the follower lost its place and resubscribed.
    pub(crate) resyncs: AtomicU64,
    /// The primary, as the stream's description names it.
    primary: Mutex<String>,
    last_error: Mutex<Option<String>>,
}

impl FollowerStatus {
    /// Journal sequence after the last record handed to the applier (it
    /// may still be taking effect there: see
    /// [`Applier::settle`](super::Applier::settle)).
    pub fn applied(&self) -> u64 {
        self.applied.load(Ordering::Relaxed)
    }

    /// Journal sequence after the stream's last record, as last seen.
    pub fn stream_end(&self) -> u64 {
        self.stream_end.load(Ordering::Relaxed)
    }

    /// Records behind the stream.
    pub fn lag_records(&self) -> u64 {
        self.stream_end().saturating_sub(self.applied())
    }

    /// Age of the oldest record not yet applied, in milliseconds (0 when
    /// caught up).
    pub fn lag_ms(&self) -> u64 {
        if self.lag_records() == 0 {
            0
        } else {
            self.lag_ms.load(Ordering::Relaxed)
        }
    }

    /// Messages applied.
    pub fn messages(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// Times the follower resubscribed after an error.
    pub fn resyncs(&self) -> u64 {
        self.resyncs.load(Ordering::Relaxed)
    }

    /// The primary as the stream names it (its description).
    pub fn primary(&self) -> String {
        self.primary
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The last error the follower recovered from, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_primary(&self, primary: String) {
        *self.primary.lock().unwrap_or_else(PoisonError::into_inner) = primary;
    }

    pub(crate) fn set_error(&self, error: String) {
        *self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(error);
    }
}

/// Why [`AckGate::wait_for`] returned without the acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("replication was abandoned before journal sequence {needed} was acknowledged (acknowledged up to {acked})")]
pub struct Abandoned {
    /// The journal sequence waited for.
    pub needed: u64,
    /// How far the stream had acknowledged.
    pub acked: u64,
}

/// Where the stream's acknowledgements stand, for writers that reply only
/// once their records are replicated (`--ack replicated`): the replicator
/// [`advance`](AckGate::advance)s it, a writer
/// [`wait_for`](AckGate::wait_for)s it.
///
/// # Examples
///
/// ```
/// use ringmaster::replication::AckGate;
/// use std::sync::Arc;
///
/// let gate = Arc::new(AckGate::new());
/// let replicator = Arc::clone(&gate);
/// let t = std::thread::spawn(move || replicator.advance(10));
/// gate.wait_for(10)?;
/// assert!(gate.acked() >= 10);
/// t.join().unwrap();
/// # Ok::<(), ringmaster::replication::Abandoned>(())
/// ```
#[derive(Debug, Default)]
pub struct AckGate {
    acked: AtomicU64,
    abandoned: AtomicBool,
    waiting: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

impl AckGate {
    /// A gate at 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Journal sequence after the last acknowledged record.
    pub fn acked(&self) -> u64 {
        // SeqCst: one total order with `waiting` (see `advance`).
        self.acked.load(Ordering::SeqCst)
    }

    /// Everything before `end` is acknowledged; wakes waiters.
    pub fn advance(&self, end: u64) {
        // SeqCst on both sides of the Dekker pair: this store, then the
        // load of `waiting`; a waiter's increment of `waiting`, then its
        // load of `acked`. One of the two sees the other, so a waiter is
        // never left asleep on a value that already arrived.
        self.acked.fetch_max(end, Ordering::SeqCst);
        self.notify();
    }

    /// Release every waiter, now and later, with [`Abandoned`]: replies
    /// waiting on a replicator that is gone become errors, never
    /// acknowledgements.
    pub fn abandon(&self) {
        self.abandoned.store(true, Ordering::SeqCst);
        self.notify();
    }

    /// Whether [`abandon`](AckGate::abandon) was called.
    pub fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }

    fn notify(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake.notify_all();
        }
    }

    /// Block until everything before `end` is acknowledged.
    ///
    /// # Errors
    ///
    /// [`Abandoned`] once [`abandon`](AckGate::abandon) was called and
    /// `end` is not acknowledged.
    pub fn wait_for(&self, end: u64) -> Result<(), Abandoned> {
        for _ in 0..200 {
            if self.acked() >= end {
                return Ok(());
            }
            std::hint::spin_loop();
        }
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let outcome = loop {
            let acked = self.acked();
            if acked >= end {
                break Ok(());
            }
            if self.is_abandoned() {
                break Err(Abandoned { needed: end, acked });
            }
            // The timeout is a backstop only: `advance` notifies under
            // the lock.
            guard = self
                .wake
                .wait_timeout(guard, Duration::from_millis(50))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        };
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        outcome
    }
}
