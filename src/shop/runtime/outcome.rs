//! Outcome chunks: how the catalog and search stages hand their replies to
//! the responder, which gates on both (the diamond's join).
//!
//! Each command is answered by exactly one of the two stages (`Search` by
//! the index, everything else by the catalog). A stage collects its
//! `(sequence, reply)` pairs for a batch and sends them as one chunk before
//! its sequence advances, so when the responder sees sequence `s`, the
//! reply for `s` is already in its channel: the stage's sequence store
//! (Release) follows the channel send, and the responder's barrier read
//! (Acquire) precedes its receive. One channel operation per batch, not per
//! event.

use crate::shop::domain::Reply;
use crossbeam_channel::{Receiver, Sender};

/// One batch's replies from one stage, in sequence order.
pub(crate) type Chunk = Vec<(u64, Reply)>;

/// The sending half, kept by the catalog or search stage.
#[derive(Debug)]
pub(crate) struct Outbox {
    tx: Sender<Chunk>,
    chunk: Chunk,
}

impl Outbox {
    pub(crate) fn push(&mut self, sequence: u64, reply: Reply) {
        self.chunk.push((sequence, reply));
    }

    /// Send the batch's replies (call at the end of every batch).
    pub(crate) fn flush(&mut self) {
        if !self.chunk.is_empty() {
            let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(64));
            // The responder outlives the stages that feed it (it is
            // downstream, stopped last); a send can only fail while the
            // graph is being torn down after a failure, when replies no
            // longer have anyone to reach.
            let _ = self.tx.send(chunk);
        }
    }
}

/// The receiving half, kept by the responder.
#[derive(Debug)]
pub(crate) struct Inbox {
    rx: Receiver<Chunk>,
    current: std::vec::IntoIter<(u64, Reply)>,
}

impl Inbox {
    /// The reply for `sequence`, which must be the next one this stage
    /// answered.
    ///
    /// # Panics
    ///
    /// If the stage and the responder are out of step: an engine bug (the
    /// panic halts the graph; clients see `ShopError::Closed`).
    pub(crate) fn take(&mut self, sequence: u64) -> Reply {
        loop {
            if let Some((s, reply)) = self.current.next() {
                assert_eq!(s, sequence, "outcome out of step with the ring");
                return reply;
            }
            match self.rx.try_recv() {
                Ok(chunk) => self.current = chunk.into_iter(),
                Err(_) => panic!("no outcome for sequence {sequence}"),
            }
        }
    }
}

/// A connected outbox and inbox.
pub(crate) fn outcome_channel() -> (Outbox, Inbox) {
    let (tx, rx) = crossbeam_channel::unbounded();
    (
        Outbox {
            tx,
            chunk: Vec::with_capacity(64),
        },
        Inbox {
            rx,
            current: Vec::new().into_iter(),
        },
    )
}
