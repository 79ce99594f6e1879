//! [`JournalHandler`]: the journal as a stage of the consumer graph.

use super::error::JournalError;
use super::writer::JournalWriter;
use crate::{EventHandler, StageError};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};

/// Appends every event to a journal and commits once per batch (group
/// commit) in [`on_batch_end`](EventHandler::on_batch_end), before the
/// stage's sequence advances: stages placed after it only ever see events
/// as durable as its [`Durability`](super::Durability).
///
/// A journal error fails the batch: the stage's sequence stays at the
/// batch's first event (no stage after it sees any of the batch), the
/// graph halts whatever its panic policy, and `Graph::shutdown` returns
/// [`ShutdownError::StageFailed`](crate::ShutdownError::StageFailed) with
/// the [`JournalError`] (also recorded as text in
/// [`JournalHandler::error_slot`]).
///
/// ```text
/// producer -> journal -> (catalog, index)
/// ```
///
/// # Examples
///
/// ```
/// use ringmaster::journal::{Durability, JournalConfig, JournalHandler, JournalReader, JournalWriter};
/// use ringmaster::{GraphBuilder, NoopHandler, RingConfig};
///
/// let dir = std::env::temp_dir().join(format!("rm-doc-jh-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let config = JournalConfig::new(&dir).segment_size(1 << 20).durability(Durability::Sync);
/// let (writer, _report) = JournalWriter::open(&config, 8)?;
///
/// let mut builder = GraphBuilder::<u64>::new(RingConfig::new(256));
/// let journal = builder.handler("journal", JournalHandler::<u64>::new(writer)).add();
/// builder.handler("apply", NoopHandler).after(&[journal]).add();
/// let (mut producer, graph) = builder.build_single_producer()?;
/// for i in 0..1000u64 {
///     producer.publish(i)?;
/// }
/// graph.shutdown()?;
///
/// let mut reader = JournalReader::open(&dir, 0)?;
/// let mut count = 0;
/// while let Some((seq, value)) = reader.next_event::<u64>()? {
///     assert_eq!(seq, value);
///     count += 1;
/// }
/// assert_eq!(count, 1000);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JournalHandler<E> {
    writer: Option<JournalWriter>,
    error: Arc<Mutex<Option<String>>>,
    /// An append of this batch failed: the batch fails at its end.
    failed: Option<JournalError>,
    _event: PhantomData<fn(&E)>,
}

impl<E: bytemuck::Pod> JournalHandler<E> {
    /// A stage writing through `writer`.
    pub fn new(writer: JournalWriter) -> Self {
        Self {
            writer: Some(writer),
            error: Arc::new(Mutex::new(None)),
            failed: None,
            _event: PhantomData,
        }
    }

    /// Where the first journal error is recorded (as text) when the stage
    /// fails a batch.
    pub fn error_slot(&self) -> Arc<Mutex<Option<String>>> {
        Arc::clone(&self.error)
    }

    fn record(&self, e: &JournalError) {
        let mut slot = self.error.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(e.to_string());
        }
    }
}

impl<E: bytemuck::Pod + Send + 'static> EventHandler<E> for JournalHandler<E> {
    #[inline]
    fn on_event(&mut self, event: &E, _sequence: u64, _end_of_batch: bool) {
        if self.failed.is_some() {
            return;
        }
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        if let Err(e) = writer.append(bytemuck::bytes_of(event)) {
            self.failed = Some(e);
        }
    }

    fn on_batch_end(&mut self) -> Result<(), StageError> {
        let result = match (self.failed.take(), self.writer.as_mut()) {
            (Some(e), _) => Err(e),
            (None, Some(writer)) => writer.commit(),
            (None, None) => Ok(()),
        };
        result.map_err(|e| {
            self.record(&e);
            StageError::new(e)
        })
    }

    fn on_shutdown(&mut self) {
        if let Some(writer) = self.writer.take() {
            let stats = writer.stats();
            tracing::debug!(?stats, "journal stage closing");
            match writer.close() {
                Ok(()) => {}
                // Already reported: the batch that failed halted the graph.
                Err(e @ JournalError::Poisoned { .. }) => self.record(&e),
                // The final flush failed: shutdown reports it (a panic in
                // `on_shutdown` comes back as `HandlerPanicked`).
                Err(e) => {
                    self.record(&e);
                    panic!("journal close failed: {e}");
                }
            }
        }
    }
}
