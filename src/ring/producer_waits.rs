//! [`ProducerWaits`]: how long this process's producers waited for room.
//!
//! The ring owns the record because the sequencers fill it on their waiting
//! path; `metrics` reads it through [`RingBuffer::producer_waits`](super::RingBuffer::producer_waits)
//! without the ring importing anything from `metrics`.

use hdrhistogram::Histogram;
use std::sync::{Mutex, PoisonError};

/// Longest wait recorded exactly: one hour, in nanoseconds (longer waits are
/// clamped to it).
const MAX_WAIT_NS: u64 = 3_600_000_000_000;

/// How long producers of one process waited for room in a full ring.
/// Recorded on the waiting path only (a producer that found room records
/// nothing), under a lock: that path already waits.
#[derive(Debug, Default)]
pub(crate) struct ProducerWaits {
    /// Allocated at the first wait.
    waits: Mutex<Option<Histogram<u64>>>,
}

impl ProducerWaits {
    /// Record one wait of `ns` nanoseconds.
    pub(crate) fn record(&self, ns: u64) {
        self.waits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert_with(empty)
            .saturating_record(ns);
    }

    /// Every wait recorded so far.
    pub(crate) fn snapshot(&self) -> Histogram<u64> {
        self.waits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_else(empty)
    }
}

fn empty() -> Histogram<u64> {
    crate::histogram::histogram(MAX_WAIT_NS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_clamp_to_an_hour() {
        let waits = ProducerWaits::default();
        assert!(waits.snapshot().is_empty());
        waits.record(1_000);
        waits.record(u64::MAX);
        let h = waits.snapshot();
        assert_eq!(h.len(), 2);
        assert!(h.max() >= MAX_WAIT_NS / 2);
    }
}
