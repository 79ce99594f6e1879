//! What one repetition of one contender is asked to do, and what it reports.

use crate::WaitStrategy;
use hdrhistogram::Histogram;
use std::time::Duration;

/// Parameters of one run.
#[derive(Debug, Clone)]
pub struct Params {
    /// Events to send (round trips, for ping-pong).
    pub events: u64,
    /// Ring or channel capacity.
    pub capacity: u64,
    /// Wait strategy for ringmaster.
    pub strategy: WaitStrategy,
    /// Cores to pin threads to, in order: producers first, then consumers.
    /// Empty: no pinning.
    pub cores: Vec<usize>,
    /// Events per batch for batch publishing.
    pub batch: u64,
    /// Paced rate for latency runs, events per second.
    pub rate: u64,
    /// Leading events not recorded in latency histograms.
    pub warmup: u64,
    /// Whether spinning peers may spin (threads fit the cores).
    pub spin: bool,
    /// A run with no progress for this long is declared broken.
    pub stall: Duration,
}

impl Params {
    /// Core for thread `i` (0 = first producer), if pinning.
    pub fn core(&self, i: usize) -> Option<usize> {
        if self.cores.is_empty() {
            None
        } else {
            Some(self.cores[i % self.cores.len()])
        }
    }

    /// Pin the calling thread as thread `i`.
    pub fn pin(&self, i: usize) {
        if let Some(core) = self.core(i) {
            let _ = core_affinity::set_for_current(core_affinity::CoreId { id: core });
        }
    }

    /// Send time of event `i` in a paced run, relative to `start_ns`.
    #[inline(always)]
    pub fn intended_ns(&self, start_ns: u64, i: u64) -> u64 {
        start_ns + i * 1_000_000_000 / self.rate.max(1)
    }
}

/// What a run reports.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Events received by the final consumers (summed).
    pub received: u64,
    /// Sum of received event values (wrapping).
    pub checksum: u64,
    /// From the first send to the last receive.
    pub elapsed_ns: u64,
    /// Batches the final consumers saw (0 where the peer does not batch).
    pub batches: u64,
    /// Latency samples, for latency and ping-pong runs.
    pub histogram: Option<Histogram<u64>>,
}

/// Wait for `start_ns + offset` by spinning (pacing a producer).
#[inline(always)]
pub fn spin_until(deadline_ns: u64) {
    while super::event::now_ns() < deadline_ns {
        std::hint::spin_loop();
    }
}
