//! The search stage: keeps the [`SearchIndex`] in step with the writes and
//! answers `Search`.

use super::prefetch_ring::PrefetchRing;
use crate::shop::domain::{Command, ProductEvent, Reply, SearchIndex, TxnAssembler};
use crate::shop::runtime::outcome::Outbox;
use crate::shop::runtime::stage_latency::StageRecorder;
use crate::EventHandler;

#[derive(Debug)]
pub(crate) struct SearchStage {
    index: SearchIndex,
    outbox: Outbox,
    batch: u64,
    latency: StageRecorder,
    /// Events held while a transaction is open (the transaction rule).
    txn: TxnAssembler<(u64, ProductEvent)>,
    /// The ids looked ahead at that write to the index, for the second
    /// step of their prefetch.
    ahead: PrefetchRing<LOOK_AHEAD>,
}

impl SearchStage {
    pub(crate) fn new(index: SearchIndex, outbox: Outbox, latency: StageRecorder) -> Self {
        Self {
            index,
            outbox,
            batch: 0,
            latency,
            txn: TxnAssembler::default(),
            ahead: PrefetchRing::new(),
        }
    }

    fn search(&mut self, event: &ProductEvent) -> Reply {
        match event.decode() {
            Ok(Command::Search { query, limit }) => {
                Reply::Hits(self.index.search(query.as_str(), limit as usize))
            }
            Ok(_) => unreachable!("is_search() implies a Search command"),
            Err(e) => Reply::Invalid(e),
        }
    }

    /// An event while a transaction is open, or a write that opens one:
    /// held until the transaction's last write, then handled in order.
    #[cold]
    fn transactional(&mut self, event: &ProductEvent, sequence: u64) {
        let mut txn = std::mem::take(&mut self.txn);
        let mut release = |(sequence, event): (u64, ProductEvent), apply: bool| {
            if event.is_search() {
                let reply = self.search(&event);
                self.outbox.push(sequence, reply);
            } else if apply && event.concerns_index() {
                if let Ok(command) = event.decode() {
                    self.index.apply(&command);
                }
            }
        };
        txn.feed_event(event, (sequence, *event), &mut release);
        self.txn = txn;
    }
}

/// How far ahead the stage looks: writes to the index are a minority of
/// the events, so further than the catalog stage, which every command
/// but a search concerns. A power of two.
const LOOK_AHEAD: usize = 16;

impl EventHandler<ProductEvent> for SearchStage {
    fn on_batch_start(&mut self, batch_size: u64) {
        self.batch = batch_size;
    }

    fn look_ahead_distance(&self) -> u64 {
        PrefetchRing::<LOOK_AHEAD>::DISTANCE
    }

    /// Two steps, as the catalog stage: the index's table entry for an
    /// `Add`, rename or `Delete`, then the name it points to, which a
    /// rename or `Delete` reads to unindex its words.
    #[inline]
    fn look_ahead(&mut self, event: &ProductEvent, sequence: u64) {
        let first = event.concerns_index().then(|| event.product_id()).flatten();
        if let Some(id) = first {
            self.index.prefetch(id);
        }
        if let Some(id) = self.ahead.note(sequence, first) {
            self.index.prefetch_name(id);
        }
    }

    #[inline]
    fn on_event(&mut self, event: &ProductEvent, sequence: u64, end_of_batch: bool) {
        self.latency.event(event);
        if self.txn.involves(event) {
            self.transactional(event, sequence);
        } else if event.is_search() {
            let reply = self.search(event);
            self.outbox.push(sequence, reply);
        } else if event.concerns_index() {
            if let Ok(command) = event.decode() {
                self.index.apply(&command);
            }
        }
        if end_of_batch {
            self.outbox.flush();
            self.latency.end_batch(self.batch);
        }
    }

    fn on_shutdown(&mut self) {
        self.latency.finish();
    }
}
