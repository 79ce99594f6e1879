//! The search stage: keeps the [`SearchIndex`] in step with the writes and
//! answers `Search`.

use crate::shop::domain::{Command, ProductEvent, Reply, SearchIndex};
use crate::shop::runtime::outcome::Outbox;
use crate::shop::runtime::stage_latency::StageRecorder;
use crate::EventHandler;

#[derive(Debug)]
pub(crate) struct SearchStage {
    index: SearchIndex,
    outbox: Outbox,
    batch: u64,
    latency: StageRecorder,
}

impl SearchStage {
    pub(crate) fn new(index: SearchIndex, outbox: Outbox, latency: StageRecorder) -> Self {
        Self {
            index,
            outbox,
            batch: 0,
            latency,
        }
    }
}

impl EventHandler<ProductEvent> for SearchStage {
    fn on_batch_start(&mut self, batch_size: u64) {
        self.batch = batch_size;
    }

    #[inline]
    fn on_event(&mut self, event: &ProductEvent, sequence: u64, end_of_batch: bool) {
        self.latency.event(event);
        if event.is_search() {
            let reply = match event.decode() {
                Ok(Command::Search { query, limit }) => {
                    Reply::Hits(self.index.search(query.as_str(), limit as usize))
                }
                Ok(_) => unreachable!("is_search() implies a Search command"),
                Err(e) => Reply::Invalid(e),
            };
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
