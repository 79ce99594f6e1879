//! The one way the crate makes a latency or count histogram: values from
//! 1 to a maximum at 3 significant digits, so that every figure it reports
//! (a stage's latency, batch sizes, lag, producer waits) has the same
//! resolution.

use hdrhistogram::Histogram;

/// A histogram of values from 1 to `max` at 3 significant digits (0 is
/// recorded too, counted with 1).
pub(crate) fn histogram(max: u64) -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts; the fallback
    // (auto-resizing) is never taken.
    Histogram::new_with_bounds(1, max, 3).unwrap_or_else(|_| {
        let mut h = Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits"));
        h.auto(true);
        h
    })
}
