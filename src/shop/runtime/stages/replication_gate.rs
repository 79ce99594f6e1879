//! The replication gate: holds the replies to writes until the stream
//! has acknowledged them (`--ack replicated`).

use crate::replication::AckGate;
use crate::shop::domain::ProductEvent;
use crate::{EventHandler, StageError};
use std::sync::Arc;

/// A stage beside the catalog and the index, after the journal, before
/// the responder. It numbers the writes as the journal stage does (one
/// journal record per write, from the journal's end at open) and, at the
/// end of each batch holding writes, waits until the replicator has the
/// stream's acknowledgement for the last of them. Only then may the
/// responder answer. A gate abandoned (the replicator stopped for good)
/// fails the batch: its clients get errors, never acknowledgements.
#[derive(Debug)]
pub(crate) struct ReplicationGate {
    gate: Arc<AckGate>,
    /// The journal sequence the next write gets.
    next: u64,
    /// Writes in this batch.
    writes: bool,
}

impl ReplicationGate {
    pub(crate) fn new(gate: Arc<AckGate>, journal_end: u64) -> Self {
        Self {
            gate,
            next: journal_end,
            writes: false,
        }
    }
}

impl EventHandler<ProductEvent> for ReplicationGate {
    #[inline]
    fn on_event(&mut self, event: &ProductEvent, _sequence: u64, _end_of_batch: bool) {
        if event.is_write() {
            self.next += 1;
            self.writes = true;
        }
    }

    fn on_batch_end(&mut self) -> Result<(), StageError> {
        if std::mem::take(&mut self.writes) {
            self.gate.wait_for(self.next).map_err(StageError::new)?;
        }
        Ok(())
    }
}
