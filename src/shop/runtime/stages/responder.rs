//! The responder: the diamond's last stage, joining the catalog's and the
//! index's outcomes and delivering each client's replies once per batch
//! (a transaction's replies once its last write has come).

use crate::shop::domain::{Completion, ProductEvent, TxnAssembler};
use crate::shop::runtime::outcome::Inbox;
use crate::shop::runtime::registry::{Delivery, Registration, Wake};
use crate::shop::runtime::stage_latency::StageRecorder;
use crate::EventHandler;
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;

struct ClientOutbox {
    id: u32,
    /// The client was dropped (a delivery found its channel closed).
    dropped: bool,
    tx: Sender<Delivery>,
    pending: Delivery,
    wake: Option<Wake>,
}

impl std::fmt::Debug for ClientOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOutbox")
            .field("pending", &self.pending.len())
            .field("wake", &self.wake.is_some())
            .finish_non_exhaustive()
    }
}

/// What the responder needs of an event held in a transaction.
#[derive(Debug, Clone, Copy)]
struct Held {
    sequence: u64,
    client: u32,
    request_id: u64,
    search: bool,
}

#[derive(Debug)]
pub(crate) struct Responder {
    catalog: Inbox,
    search: Inbox,
    registrations: Receiver<Registration>,
    /// Each client's outbox, found through `slots`.
    outboxes: Vec<ClientOutbox>,
    /// Client id to its index in `outboxes`.
    slots: HashMap<u32, usize, foldhash::fast::RandomState>,
    /// The client of the previous event and its index: a pipelined
    /// client's commands arrive in runs, so most events skip the lookup.
    last: Option<(u32, usize)>,
    /// Indices of the outboxes with pending completions in this batch.
    touched: Vec<usize>,
    /// Events held while a transaction is open: their replies are taken
    /// when the stages release them, and none is delivered before all of
    /// the transaction's writes are committed.
    txn: TxnAssembler<Held>,
    batch: u64,
    latency: StageRecorder,
}

impl Responder {
    pub(crate) fn new(
        catalog: Inbox,
        search: Inbox,
        registrations: Receiver<Registration>,
        latency: StageRecorder,
    ) -> Self {
        Self {
            catalog,
            search,
            registrations,
            outboxes: Vec::new(),
            slots: HashMap::default(),
            last: None,
            touched: Vec::new(),
            txn: TxnAssembler::default(),
            batch: 0,
            latency,
        }
    }

    fn flush(&mut self) {
        let mut gone = false;
        for &index in &self.touched {
            let out = &mut self.outboxes[index];
            let batch = std::mem::take(&mut out.pending);
            if out.tx.send(batch).is_err() {
                out.dropped = true;
                gone = true;
            } else if let Some(wake) = &out.wake {
                wake();
            }
        }
        self.touched.clear();
        if gone {
            self.forget_dropped();
        }
    }

    /// Take the reply for `held` from the stage that answered it and queue
    /// it for its client.
    #[inline]
    fn deliver(&mut self, held: Held) {
        let reply = if held.search {
            self.search.take(held.sequence)
        } else {
            self.catalog.take(held.sequence)
        };
        if let Some(index) = self.outbox_of(held.client) {
            let out = &mut self.outboxes[index];
            if out.pending.is_empty() {
                self.touched.push(index);
            }
            out.pending.push(Completion {
                request_id: held.request_id,
                reply,
            });
        }
    }

    /// Drop the outboxes of clients that were dropped (their channel is
    /// disconnected), and rebuild the index.
    #[cold]
    fn forget_dropped(&mut self) {
        self.outboxes.retain(|out| !out.dropped);
        self.slots.clear();
        for (index, out) in self.outboxes.iter().enumerate() {
            self.slots.insert(out.id, index);
        }
        self.last = None;
    }

    /// The index of client `id`'s outbox, registering the clients that
    /// arrived since the last look; `None` for a client that is gone.
    #[inline]
    fn outbox_of(&mut self, id: u32) -> Option<usize> {
        if let Some((last, index)) = self.last {
            if last == id {
                return Some(index);
            }
        }
        let index = match self.slots.get(&id) {
            Some(&index) => index,
            None => {
                // A client registers before it publishes, so its
                // registration is in the channel by now (or it is gone).
                for Registration {
                    id: new_id,
                    tx,
                    wake,
                } in self.registrations.try_iter()
                {
                    self.slots.insert(new_id, self.outboxes.len());
                    self.outboxes.push(ClientOutbox {
                        id: new_id,
                        dropped: false,
                        tx,
                        pending: Vec::new(),
                        wake,
                    });
                }
                *self.slots.get(&id)?
            }
        };
        self.last = Some((id, index));
        Some(index)
    }
}

impl EventHandler<ProductEvent> for Responder {
    fn on_batch_start(&mut self, batch_size: u64) {
        self.batch = batch_size;
    }

    #[inline]
    fn on_event(&mut self, event: &ProductEvent, sequence: u64, end_of_batch: bool) {
        self.latency.event(event);
        let held = Held {
            sequence,
            client: event.client(),
            request_id: event.request_id(),
            search: event.is_search(),
        };
        if self.txn.involves(event) {
            let mut txn = std::mem::take(&mut self.txn);
            txn.feed_event(event, held, |h, _| self.deliver(h));
            self.txn = txn;
        } else {
            self.deliver(held);
        }
        if end_of_batch {
            self.flush();
            // After delivery: publish to the reply handed to the client.
            self.latency.end_batch(self.batch);
        }
    }

    fn on_shutdown(&mut self) {
        self.latency.finish();
    }
}
