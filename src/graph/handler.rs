//! [`EventHandler`]: what a consumer stage does with each event.

/// Processes events in batches on the stage's own thread.
///
/// `on_event` is called once per event, in sequence order, with
/// `end_of_batch` true on the last event of what was available at once:
/// the natural place to flush, commit or reply.
///
/// Handlers are `Send` (moved onto their thread) but need not be `Sync`.
///
/// # Examples
///
/// ```
/// use ringmaster::EventHandler;
///
/// #[derive(Default)]
/// struct Sum { total: u64, batches: u64 }
///
/// impl EventHandler<u64> for Sum {
///     fn on_event(&mut self, event: &u64, _sequence: u64, end_of_batch: bool) {
///         self.total += event;
///         if end_of_batch { self.batches += 1; }
///     }
/// }
///
/// let mut sum = Sum::default();
/// sum.on_event(&2, 0, false);
/// sum.on_event(&3, 1, true);
/// assert_eq!((sum.total, sum.batches), (5, 1));
/// ```
pub trait EventHandler<E>: Send + 'static {
    /// Handle one event.
    fn on_event(&mut self, event: &E, sequence: u64, end_of_batch: bool);

    /// Called before the first event of each batch, with its size.
    fn on_batch_start(&mut self, batch_size: u64) {
        let _ = batch_size;
    }

    /// Called after the last event of each batch (the one `on_event` saw
    /// with `end_of_batch` true), before the stage's sequence moves past
    /// the batch: the place to commit what the batch did. Stages after
    /// this one see an event only once the `on_batch_end` after it has
    /// returned `Ok`.
    ///
    /// An error fails the whole batch: the stage's sequence stays at the
    /// batch's first event (no stage after it sees any of the batch), the
    /// graph halts whatever its [`PanicPolicy`](crate::PanicPolicy), and
    /// shutdown returns
    /// [`ShutdownError::StageFailed`](crate::ShutdownError::StageFailed)
    /// with the error. A panic here does the same. Under
    /// [`PanicPolicy::LogAndSkip`](crate::PanicPolicy::LogAndSkip), a batch
    /// cut short by a panic in `on_event` also ends with this call before
    /// the events handled so far are released.
    ///
    /// # Errors
    ///
    /// Whatever the handler could not do for the batch (a failed commit).
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::{EventHandler, GraphBuilder, RingConfig, ShutdownError, StageError};
    ///
    /// /// Buffers a batch and "commits" it; the commit of event 7's batch fails.
    /// struct Committer { pending: Vec<u64> }
    ///
    /// impl EventHandler<u64> for Committer {
    ///     fn on_event(&mut self, event: &u64, _seq: u64, _end_of_batch: bool) {
    ///         self.pending.push(*event);
    ///     }
    ///     fn on_batch_end(&mut self) -> Result<(), StageError> {
    ///         if self.pending.contains(&7) {
    ///             let disk = std::io::Error::new(std::io::ErrorKind::Other, "commit failed");
    ///             return Err(StageError::new(disk));
    ///         }
    ///         self.pending.clear();
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let mut builder = GraphBuilder::<u64>::new(RingConfig::new(64));
    /// builder.handler("commit", Committer { pending: Vec::new() }).add();
    /// let (mut producer, graph) = builder.build_single_producer()?;
    /// producer.publish_batch_with(10, |i, slot| *slot = i)?;
    /// match graph.shutdown() {
    ///     Err(ShutdownError::StageFailed { stage, sequence, source }) => {
    ///         assert_eq!(stage, "commit");
    ///         assert!(sequence <= 7); // the failed batch's first event
    ///         assert_eq!(source.to_string(), "commit failed");
    ///     }
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn on_batch_end(&mut self) -> Result<(), crate::StageError> {
        Ok(())
    }

    /// How many events ahead of the one being handled this stage wants to
    /// see through [`look_ahead`](EventHandler::look_ahead); read once when
    /// the stage starts (after [`on_start`](EventHandler::on_start)). `0`,
    /// the default, turns looking ahead off.
    fn look_ahead_distance(&self) -> u64 {
        0
    }

    /// See an event before it is handled, to start fetching what handling
    /// it will touch (a prefetch of the table entry it names, say) while
    /// earlier events are handled: with data larger than the cache this
    /// turns one cache miss per event into misses that overlap.
    ///
    /// Within a batch, before `on_event` for sequence `s`, `look_ahead` has
    /// been called once, in order, for every event of the batch up to
    /// `s + distance`; events of later batches are not shown early (they
    /// may not be published yet). Only called when
    /// [`look_ahead_distance`](EventHandler::look_ahead_distance) is above
    /// zero.
    ///
    /// A hint: handling must not depend on it. On a shared ring whose
    /// producer process died mid-claim it may be shown a slot that
    /// `on_event` then skips. A panic in `look_ahead` halts the graph under
    /// [`PanicPolicy::Halt`](crate::PanicPolicy::Halt); under
    /// [`PanicPolicy::LogAndSkip`](crate::PanicPolicy::LogAndSkip) it is
    /// logged and the stage stops looking ahead, skipping no event.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::{EventHandler, GraphBuilder, RingConfig};
    /// use std::sync::{Arc, Mutex};
    ///
    /// /// Sums `table[event]`, touching each entry a few events early.
    /// struct TableSum { table: Vec<u64>, hinted: u64, sum: Arc<Mutex<(u64, u64)>> }
    ///
    /// impl EventHandler<u64> for TableSum {
    ///     fn look_ahead_distance(&self) -> u64 { 8 }
    ///     fn look_ahead(&mut self, event: &u64, _sequence: u64) {
    ///         // A real handler would prefetch here; this one counts.
    ///         std::hint::black_box(self.table.get(*event as usize));
    ///         self.hinted += 1;
    ///     }
    ///     fn on_event(&mut self, event: &u64, _sequence: u64, _end_of_batch: bool) {
    ///         let mut sum = self.sum.lock().unwrap();
    ///         sum.0 += self.table[*event as usize];
    ///         sum.1 = self.hinted;
    ///     }
    /// }
    ///
    /// let sum = Arc::new(Mutex::new((0, 0)));
    /// let handler = TableSum { table: (0..100).map(|i| i * 10).collect(), hinted: 0, sum: sum.clone() };
    /// let mut builder = GraphBuilder::<u64>::new(RingConfig::new(64));
    /// builder.handler("sum", handler).add();
    /// let (mut producer, graph) = builder.build_single_producer()?;
    /// producer.publish_batch_with(50, |i, slot| *slot = i)?;
    /// graph.shutdown()?;
    /// // 10 * (0 + 1 + ... + 49), and every event was looked at first.
    /// assert_eq!(*sum.lock().unwrap(), (12_250, 50));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn look_ahead(&mut self, event: &E, sequence: u64) {
        let _ = (event, sequence);
    }

    /// Called once on the stage's thread before any event.
    fn on_start(&mut self) {}

    /// Called once on the stage's thread after the last event, on shutdown
    /// or halt.
    fn on_shutdown(&mut self) {}
}

/// A handler that does nothing: a sink for benchmarks and examples.
///
/// # Examples
///
/// ```
/// use ringmaster::{EventHandler, NoopHandler};
/// NoopHandler.on_event(&1u8, 0, true);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopHandler;

impl<E> EventHandler<E> for NoopHandler {
    #[inline(always)]
    fn on_event(&mut self, _event: &E, _sequence: u64, _end_of_batch: bool) {}
}

/// A handler made from a closure; see [`handler_fn`].
#[derive(Clone, Copy)]
pub struct FnHandler<F>(F);

impl<F> std::fmt::Debug for FnHandler<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnHandler(..)")
    }
}

/// Turn `f(event, sequence, end_of_batch)` into an [`EventHandler`].
///
/// # Examples
///
/// ```
/// use ringmaster::{handler_fn, EventHandler};
///
/// let mut h = handler_fn(|e: &u32, seq, end_of_batch| {
///     assert_eq!(u64::from(*e), seq + 7);
///     assert!(end_of_batch);
/// });
/// h.on_event(&7, 0, true);
/// h.on_event(&8, 1, true);
/// ```
pub fn handler_fn<E, F>(f: F) -> FnHandler<F>
where
    F: FnMut(&E, u64, bool),
{
    FnHandler(f)
}

impl<E, F> EventHandler<E> for FnHandler<F>
where
    F: FnMut(&E, u64, bool) + Send + 'static,
{
    #[inline(always)]
    fn on_event(&mut self, event: &E, sequence: u64, end_of_batch: bool) {
        (self.0)(event, sequence, end_of_batch)
    }
}
