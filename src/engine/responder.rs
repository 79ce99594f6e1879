//! The responder: the diamond's last stage, joining the catalog's and the
//! index's outcomes and delivering each client's replies once per batch.

use super::outcome::Inbox;
use super::registry::{Delivery, Registration, Wake};
use super::stage_latency::StageRecorder;
use crate::shop::{Completion, ProductEvent};
use crate::EventHandler;
use crossbeam_channel::{Receiver, Sender};
use std::collections::HashMap;

struct ClientOutbox {
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

#[derive(Debug)]
pub(crate) struct Responder {
    catalog: Inbox,
    search: Inbox,
    registrations: Receiver<Registration>,
    clients: HashMap<u32, ClientOutbox, foldhash::fast::RandomState>,
    /// Clients with pending completions in this batch.
    touched: Vec<u32>,
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
            clients: HashMap::default(),
            touched: Vec::new(),
            batch: 0,
            latency,
        }
    }

    fn flush(&mut self) {
        for id in self.touched.drain(..) {
            if let Some(out) = self.clients.get_mut(&id) {
                let batch = std::mem::take(&mut out.pending);
                if out.tx.send(batch).is_err() {
                    // The client was dropped: forget it.
                    self.clients.remove(&id);
                } else if let Some(wake) = &out.wake {
                    wake();
                }
            }
        }
    }
}

impl EventHandler<ProductEvent> for Responder {
    fn on_batch_start(&mut self, batch_size: u64) {
        self.batch = batch_size;
    }

    #[inline]
    fn on_event(&mut self, event: &ProductEvent, sequence: u64, end_of_batch: bool) {
        self.latency.event(event);
        let reply = if event.is_search() {
            self.search.take(sequence)
        } else {
            self.catalog.take(sequence)
        };
        let id = event.client();
        let mut out = self.clients.get_mut(&id);
        if out.is_none() {
            // A client registers before it publishes, so its registration
            // is in the channel by now (or it is gone).
            for Registration {
                id: new_id,
                tx,
                wake,
            } in self.registrations.try_iter()
            {
                self.clients.insert(
                    new_id,
                    ClientOutbox {
                        tx,
                        pending: Vec::new(),
                        wake,
                    },
                );
            }
            out = self.clients.get_mut(&id);
        }
        if let Some(out) = out {
            if out.pending.is_empty() {
                self.touched.push(id);
            }
            out.pending.push(Completion {
                request_id: event.request_id(),
                reply,
            });
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
