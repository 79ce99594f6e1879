//! The shop's journal stage: appends writes, skips reads, commits per batch.

use crate::journal::{JournalError, JournalWriter};
use crate::shop::domain::ProductEvent;
use crate::shop::runtime::journal_figures::LiveJournal;
use crate::shop::runtime::stage_latency::StageRecorder;
use crate::{EventHandler, StageError};
use std::sync::Arc;

/// First stage of the shop's graph. Writes (`Add`, `Update`, `Delete`) are
/// appended with their routing fields zeroed; reads are skipped. At the end
/// of each batch that held a write, one commit seals the batch and makes it
/// as durable as the policy asks (group commit) before the stage's sequence
/// advances, so the catalog, the index and the replies only ever see
/// durable writes.
///
/// A journal error fails the batch: none of it reaches the catalog, the
/// index or the responder, the graph halts, and every client waiting on a
/// reply gets an error (`ShopError::Closed`), never an acknowledgement.
#[derive(Debug)]
pub(crate) struct JournalStage {
    writer: Option<JournalWriter>,
    uncommitted: bool,
    /// An append of this batch failed: the batch fails at its end.
    failed: Option<JournalError>,
    batch: u64,
    latency: StageRecorder,
    /// The writer's figures, for readers.
    figures: Arc<LiveJournal>,
    /// Wakes the replicator after each commit.
    #[cfg(all(feature = "replication", not(loom)))]
    nudge: Option<crate::replication::Nudge>,
}

impl JournalStage {
    pub(crate) fn new(
        writer: JournalWriter,
        latency: StageRecorder,
        figures: Arc<LiveJournal>,
    ) -> Self {
        figures.record(&writer);
        Self {
            writer: Some(writer),
            uncommitted: false,
            failed: None,
            batch: 0,
            latency,
            figures,
            #[cfg(all(feature = "replication", not(loom)))]
            nudge: None,
        }
    }

    /// Wake `nudge` after each commit.
    #[cfg(all(feature = "replication", not(loom)))]
    pub(crate) fn nudging(mut self, nudge: Option<crate::replication::Nudge>) -> Self {
        self.nudge = nudge;
        self
    }
}

impl EventHandler<ProductEvent> for JournalStage {
    fn on_batch_start(&mut self, batch_size: u64) {
        self.batch = batch_size;
    }

    #[inline]
    fn on_event(&mut self, event: &ProductEvent, _sequence: u64, _end_of_batch: bool) {
        self.latency.event(event);
        // Events enter the ring only through `Client`, from validated
        // `Command`s: the command byte is enough to tell a write.
        if event.is_write() && self.failed.is_none() {
            let Some(writer) = self.writer.as_mut() else {
                return;
            };
            let record = event.for_journal();
            match writer.append(bytemuck::bytes_of(&record)) {
                Ok(_) => self.uncommitted = true,
                Err(e) => self.failed = Some(e),
            }
        }
    }

    fn on_batch_end(&mut self) -> Result<(), StageError> {
        if let Some(e) = self.failed.take() {
            return Err(StageError::new(e));
        }
        if self.uncommitted {
            if let Some(writer) = self.writer.as_mut() {
                writer.commit().map_err(StageError::new)?;
                self.figures.record(writer);
            }
            self.uncommitted = false;
            #[cfg(all(feature = "replication", not(loom)))]
            if let Some(nudge) = &self.nudge {
                nudge.nudge();
            }
        }
        // After the commit: publish to durable (as the policy asks).
        self.latency.end_batch(self.batch);
        Ok(())
    }

    fn on_shutdown(&mut self) {
        self.latency.finish();
        if let Some(writer) = self.writer.take() {
            tracing::debug!(stats = ?writer.stats(), "shop journal closing");
            match writer.close() {
                Ok(()) => {}
                // Already reported: the batch that failed halted the graph.
                Err(JournalError::Poisoned { .. }) => {}
                // The final flush failed: `Shop::close` reports it (a panic
                // in `on_shutdown` comes back as `HandlerPanicked`).
                Err(e) => panic!("journal close failed: {e}"),
            }
        }
    }
}
