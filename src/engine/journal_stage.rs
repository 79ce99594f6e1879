//! The shop's journal stage: appends writes, skips reads, commits per batch.

use super::stage_latency::StageRecorder;
use crate::journal::JournalWriter;
use crate::shop::ProductEvent;
use crate::EventHandler;

/// First stage of the shop's graph. Writes (`Add`, `Update`, `Delete`) are
/// appended with their routing fields zeroed; reads are skipped. At the end
/// of each batch that held a write, one commit makes the batch as durable
/// as the policy asks (group commit) before the stage's sequence advances,
/// so the catalog, the index and the replies only ever see durable writes.
///
/// A journal I/O error cannot be skipped: the stage panics, which halts the
/// graph (`PanicPolicy::Halt`), and nothing after the failed batch is
/// applied or acknowledged.
#[derive(Debug)]
pub(crate) struct JournalStage {
    writer: Option<JournalWriter>,
    uncommitted: bool,
    batch: u64,
    latency: StageRecorder,
}

impl JournalStage {
    pub(crate) fn new(writer: JournalWriter, latency: StageRecorder) -> Self {
        Self {
            writer: Some(writer),
            uncommitted: false,
            batch: 0,
            latency,
        }
    }
}

impl EventHandler<ProductEvent> for JournalStage {
    fn on_batch_start(&mut self, batch_size: u64) {
        self.batch = batch_size;
    }

    #[inline]
    fn on_event(&mut self, event: &ProductEvent, _sequence: u64, end_of_batch: bool) {
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        self.latency.event(event);
        // Events enter the ring only through `Client`, from validated
        // `Command`s: the command byte is enough to tell a write.
        if event.is_write() {
            let record = event.for_journal();
            if let Err(e) = writer.append(bytemuck::bytes_of(&record)) {
                panic!("journal append failed: {e}");
            }
            self.uncommitted = true;
        }
        if end_of_batch && self.uncommitted {
            if let Err(e) = writer.commit() {
                panic!("journal commit failed: {e}");
            }
            self.uncommitted = false;
        }
        if end_of_batch {
            // After the commit: publish to durable (as the policy asks).
            self.latency.end_batch(self.batch);
        }
    }

    fn on_shutdown(&mut self) {
        self.latency.finish();
        if let Some(writer) = self.writer.take() {
            tracing::debug!(stats = ?writer.stats(), "shop journal closing");
            if let Err(e) = writer.close() {
                panic!("journal close failed: {e}");
            }
        }
    }
}
