//! Client registration: how a new [`Client`](super::Client) tells the
//! responder where its replies go.
//!
//! A client sends its id and reply sender through the registration channel
//! before it publishes anything; the responder drains that channel when it
//! meets a client id it does not know. Only the responder keeps reply
//! senders, so when its thread ends, for any reason, every client waiting
//! for a reply wakes up with `Closed` instead of hanging.

use crate::shop::domain::Completion;
use crossbeam_channel::{Receiver, Sender};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A batch of completions for one client.
pub(crate) type Delivery = Vec<Completion>;

/// Called by the responder after it delivered to a client.
pub(crate) type Wake = Arc<dyn Fn() + Send + Sync>;

/// What the responder learns about a new client.
pub(crate) struct Registration {
    pub(crate) id: u32,
    pub(crate) tx: Sender<Delivery>,
    pub(crate) wake: Option<Wake>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("id", &self.id)
            .field("wake", &self.wake.is_some())
            .finish_non_exhaustive()
    }
}

/// Shared by the shop and its clients.
#[derive(Debug)]
pub(crate) struct Registry {
    next_id: AtomicU32,
    /// The next transaction tag (never 0), started at a value that depends
    /// on the time and the process, so a transaction a crash cut short in
    /// the journal is not continued by one of this run's.
    next_txn_tag: AtomicU32,
    tx: Sender<Registration>,
}

impl Registry {
    pub(crate) fn new() -> (Self, Receiver<Registration>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (
            Self {
                // Client 0 is never handed out.
                next_id: AtomicU32::new(1),
                next_txn_tag: AtomicU32::new(txn_tag_seed()),
                tx,
            },
            rx,
        )
    }

    /// A transaction tag unique in this run (and, with near certainty, not
    /// the tag of a transaction an earlier run left cut short).
    pub(crate) fn txn_tag(&self) -> u32 {
        loop {
            // Relaxed: a unique-tag counter; nothing is published through it.
            let tag = self.next_txn_tag.fetch_add(1, Ordering::Relaxed);
            if tag != 0 {
                return tag;
            }
        }
    }

    /// A fresh client id and the receiver of its replies; `None` when the
    /// responder is gone (the shop is closed).
    pub(crate) fn register(&self, wake: Option<Wake>) -> Option<(u32, Receiver<Delivery>)> {
        // Relaxed: a unique-id counter; nothing is published through it.
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if id == u32::MAX {
            return None;
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        self.tx.send(Registration { id, tx, wake }).ok()?;
        Some((id, rx))
    }
}

/// A start for the transaction tags: the clock's nanoseconds mixed with the
/// process id.
fn txn_tag_seed() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = (nanos ^ (u64::from(std::process::id()) << 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((mixed >> 32) as u32).max(1)
}
