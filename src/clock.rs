//! The process's clock: monotonic nanoseconds since the first read in this
//! process (`Instant`, so `CLOCK_MONOTONIC` through the vDSO: consistent
//! across cores, not across processes). About 20-25 ns per read on this
//! machine. The shop reads it once per client batch and once per stage
//! batch, never per event; the benchmark harness times its runs with it.

use std::sync::OnceLock;
use std::time::Instant;

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the process's first call; never 0 (0 means "not
/// stamped" in an event).
pub(crate) fn now_ns() -> u64 {
    let epoch = EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_nanos() as u64 + 1
}
