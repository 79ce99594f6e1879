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
