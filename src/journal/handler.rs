//! [`JournalHandler`]: the journal as a stage of the consumer graph.

use super::error::JournalError;
use super::writer::JournalWriter;
use crate::EventHandler;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, PoisonError};

/// Appends every event to a journal and commits once per batch (group
/// commit), before the stage's sequence advances: stages placed after it
/// only ever see events as durable as its [`Durability`](super::Durability).
///
/// A journal I/O error cannot be skipped (events after it would be
/// acknowledged without being journaled): the handler records the error
/// (see [`JournalHandler::error_slot`]) and panics, which halts the graph
/// under [`PanicPolicy::Halt`](crate::PanicPolicy::Halt) and comes back from
/// `Graph::shutdown` as `HandlerPanicked`.
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
    batch_sizes: Vec<u64>,
    batch: u64,
    _event: PhantomData<fn(&E)>,
}

impl<E: bytemuck::Pod> JournalHandler<E> {
    /// A stage writing through `writer`.
    pub fn new(writer: JournalWriter) -> Self {
        Self {
            writer: Some(writer),
            error: Arc::new(Mutex::new(None)),
            batch_sizes: vec![0; 64],
            batch: 0,
            _event: PhantomData,
        }
    }

    /// Where the first journal error is recorded (as text) before the stage
    /// halts the graph.
    pub fn error_slot(&self) -> Arc<Mutex<Option<String>>> {
        Arc::clone(&self.error)
    }

    fn fail(&self, e: JournalError) -> ! {
        let text = e.to_string();
        *self.error.lock().unwrap_or_else(PoisonError::into_inner) = Some(text.clone());
        panic!("journal write failed: {text}");
    }
}

impl<E: bytemuck::Pod + Send + 'static> EventHandler<E> for JournalHandler<E> {
    #[inline]
    fn on_event(&mut self, event: &E, _sequence: u64, end_of_batch: bool) {
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        if let Err(e) = writer.append(bytemuck::bytes_of(event)) {
            self.fail(e);
        }
        self.batch += 1;
        if end_of_batch {
            if let Err(e) = writer.commit() {
                self.fail(e);
            }
            let bucket = (64 - self.batch.leading_zeros() as usize).min(63);
            self.batch_sizes[bucket] += 1;
            self.batch = 0;
        }
    }

    fn on_shutdown(&mut self) {
        if let Some(writer) = self.writer.take() {
            let stats = writer.stats();
            tracing::debug!(?stats, "journal stage closing");
            if let Err(e) = writer.close() {
                self.fail(e);
            }
        }
    }
}
