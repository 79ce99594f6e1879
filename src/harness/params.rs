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
    /// How paced runs guard against coordinated omission.
    pub co: CoCorrection,
    /// Extra dependent operations per event in every contender's counting
    /// handler (0: count and checksum only). See [`Counter::with_work`].
    ///
    /// [`Counter::with_work`]: super::event::Counter::with_work
    pub handler_work: u32,
    /// Partitions (and work-queue workers) in `partitioned`.
    pub partitions: u32,
}

/// How a paced latency run keeps a stalled consumer from hiding behind a
/// producer that stalls with it (coordinated omission; see
/// docs/benchmarks.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CoCorrection {
    /// Stamp each event with the time the schedule meant to send it (a
    /// late send is charged to the system): the default.
    #[default]
    IntendedTime,
    /// Stamp each event when it is actually sent, then apply
    /// HdrHistogram's expected-interval correction for the pacing interval
    /// to the run's histogram (`clone_correct`, after the run: correcting
    /// while recording would slow the consumer by the very backlog it
    /// measures, which then feeds itself), as for a closed-loop generator.
    ExpectedInterval,
    /// Stamp the actual send time and record as is: the uncorrected
    /// figure, to see how much the corrections add.
    None,
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

    /// The stamp a paced event sent as due at `intended_ns` carries: the
    /// intended time, or the actual send time (now) under the other modes.
    #[inline(always)]
    pub fn send_stamp(&self, intended_ns: u64) -> u64 {
        match self.co {
            CoCorrection::IntendedTime => intended_ns,
            _ => super::event::now_ns(),
        }
    }

    /// A run's histogram as its correction mode asks.
    pub fn corrected(&self, histogram: Histogram<u64>) -> Histogram<u64> {
        match self.co {
            CoCorrection::ExpectedInterval => {
                histogram.clone_correct(1_000_000_000 / self.rate.max(1))
            }
            _ => histogram,
        }
    }

    /// Send time of event `i` in a paced run, relative to `start_ns`.
    #[inline(always)]
    pub fn intended_ns(&self, start_ns: u64, i: u64) -> u64 {
        start_ns + i * 1_000_000_000 / self.rate.max(1)
    }
}

#[cfg(test)]
impl Params {
    /// `events` events through a small ring, unpinned, yielding (threads
    /// may outnumber cores), paced at 1,000/s where a run is paced, with
    /// no correction and a stall limit of 30 s.
    pub(crate) fn for_tests(events: u64) -> Self {
        Params {
            events,
            capacity: 1024,
            strategy: WaitStrategy::Yielding,
            cores: Vec::new(),
            batch: 1,
            rate: 1_000,
            warmup: 0,
            spin: false,
            stall: Duration::from_secs(30),
            co: CoCorrection::None,
            handler_work: 0,
            partitions: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample 10 intervals late gains the samples a closed loop would
    /// have missed under expected-interval correction, and only then.
    #[test]
    fn expected_interval_correction_fills_in_missed_samples() {
        let params = |co| Params {
            co,
            ..Params::for_tests(1)
        };
        let mut h = super::super::event::new_histogram();
        h.record(10_000_000).unwrap();
        assert_eq!(
            params(CoCorrection::IntendedTime)
                .corrected(h.clone())
                .len(),
            1
        );
        assert_eq!(params(CoCorrection::None).corrected(h.clone()).len(), 1);
        // Interval 1 ms: 10 ms late stands for 10 sends (10, 9, ... 1 ms).
        assert_eq!(
            params(CoCorrection::ExpectedInterval).corrected(h).len(),
            10
        );
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
    /// Events per batch at the final ringmaster stage (from its metrics).
    pub batch_sizes: Option<Histogram<u64>>,
}

/// Wait for `start_ns + offset` by spinning (pacing a producer).
#[inline(always)]
pub fn spin_until(deadline_ns: u64) {
    while super::event::now_ns() < deadline_ns {
        std::hint::spin_loop();
    }
}
