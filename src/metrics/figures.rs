//! [`StageFigures`]: what one stage recorded over some span of time.

pub(crate) use crate::histogram::histogram;
use hdrhistogram::Histogram;

/// Largest latency recorded exactly: one hour, in nanoseconds (longer
/// samples are clamped to it).
const MAX_LATENCY_NS: u64 = 3_600_000_000_000;
/// Largest batch size or lag recorded exactly (a ring holds at most 2^30
/// events; a multi-producer cursor counts claims, so lag may exceed it
/// slightly).
const MAX_COUNT: u64 = 1 << 32;

/// One stage's figures over a span: cumulative since the graph started, or
/// one interval between two snapshots.
///
/// Latency and lag are recorded for sampled events only (1 in
/// [`RingBuffer::sampling`](crate::RingBuffer::sampling)); batch sizes and
/// the counts for every batch.
///
/// # Examples
///
/// ```
/// use ringmaster::metrics::StageFigures;
/// let figures = StageFigures::new();
/// assert_eq!(figures.events, 0);
/// assert_eq!(figures.latency_ns.len(), 0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StageFigures {
    /// Publish (the producer's publish call) to the end of the stage's
    /// batch holding the event, in nanoseconds, per sampled event.
    pub latency_ns: Histogram<u64>,
    /// Events per batch, one sample per batch.
    pub batch_sizes: Histogram<u64>,
    /// Producer cursor minus the stage's sequence at the end of a batch
    /// holding a sampled event: events published but not yet processed
    /// by this stage.
    pub lag: Histogram<u64>,
    /// Events processed.
    pub events: u64,
    /// Batches processed.
    pub batches: u64,
}

impl Default for StageFigures {
    fn default() -> Self {
        Self::new()
    }
}

impl StageFigures {
    /// Empty figures.
    pub fn new() -> Self {
        Self {
            latency_ns: histogram(MAX_LATENCY_NS),
            batch_sizes: histogram(MAX_COUNT),
            lag: histogram(MAX_COUNT),
            events: 0,
            batches: 0,
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.batches == 0 && self.latency_ns.is_empty()
    }

    /// Add `other`'s samples and counts to these.
    pub fn add(&mut self, other: &Self) {
        // Same bounds on both sides (every instance comes from `new`), so
        // adding cannot fail.
        let _ = self.latency_ns.add(&other.latency_ns);
        let _ = self.batch_sizes.add(&other.batch_sizes);
        let _ = self.lag.add(&other.lag);
        self.events += other.events;
        self.batches += other.batches;
    }

    /// These figures minus an earlier state of the same cumulative figures
    /// (`earlier` must be contained in `self`, which holds for two
    /// snapshots of one stage).
    pub fn since(&self, earlier: &Self) -> Self {
        let mut out = self.clone();
        // Cumulative figures only grow, so every count of `earlier` is in
        // `self` and subtracting cannot fail; were it to, the interval
        // keeps the cumulative values rather than wrong ones.
        let _ = out.latency_ns.subtract(&earlier.latency_ns);
        let _ = out.batch_sizes.subtract(&earlier.batch_sizes);
        let _ = out.lag.subtract(&earlier.lag);
        out.events = self.events.saturating_sub(earlier.events);
        out.batches = self.batches.saturating_sub(earlier.batches);
        out
    }

    pub(crate) fn reset(&mut self) {
        self.latency_ns.reset();
        self.batch_sizes.reset();
        self.lag.reset();
        self.events = 0;
        self.batches = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_undoes_add() {
        let mut a = StageFigures::new();
        a.latency_ns.saturating_record(100);
        a.batch_sizes.saturating_record(4);
        a.lag.saturating_record(0);
        a.events = 4;
        a.batches = 1;
        let mut total = a.clone();
        let mut b = StageFigures::new();
        b.latency_ns.saturating_record(7_000);
        b.events = 9;
        b.batches = 2;
        total.add(&b);
        assert_eq!(total.latency_ns.len(), 2);
        let interval = total.since(&a);
        assert_eq!(interval.latency_ns.len(), 1);
        assert_eq!(
            interval.latency_ns.value_at_quantile(1.0),
            b.latency_ns.max()
        );
        assert_eq!(interval.batch_sizes.len(), 0);
        assert_eq!((interval.events, interval.batches), (9, 2));
        assert!(StageFigures::new().is_empty());
    }
}
