//! Benchmark events and the tally every consumer keeps, so a run that
//! drops or duplicates events cannot post a number.

use hdrhistogram::Histogram;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// An event the harness can send: plain data carrying a value (summed into
/// the checksum) and a send timestamp (for latency runs).
pub trait BenchEvent: bytemuck::Pod + Send + Sync + 'static {
    /// Bytes per event.
    const SIZE: usize = core::mem::size_of::<Self>();
    /// Build event number `value`, stamped `stamp_ns`.
    fn new(value: u64, stamp_ns: u64) -> Self;
    /// Its value.
    fn value(&self) -> u64;
    /// Its send stamp (0 where the event is too small to carry one).
    fn stamp(&self) -> u64;
}

/// An 8-byte event: the value alone.
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Event8(u64);

/// A 64-byte event (one cache line): value, stamp and payload.
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Event64 {
    value: u64,
    stamp: u64,
    payload: [u64; 6],
}

impl BenchEvent for Event8 {
    #[inline(always)]
    fn new(value: u64, _stamp_ns: u64) -> Self {
        Self(value)
    }
    #[inline(always)]
    fn value(&self) -> u64 {
        self.0
    }
    #[inline(always)]
    fn stamp(&self) -> u64 {
        0
    }
}

impl BenchEvent for Event64 {
    #[inline(always)]
    fn new(value: u64, stamp_ns: u64) -> Self {
        Self {
            value,
            stamp: stamp_ns,
            payload: [value; 6],
        }
    }
    #[inline(always)]
    fn value(&self) -> u64 {
        self.value
    }
    #[inline(always)]
    fn stamp(&self) -> u64 {
        self.stamp
    }
}

/// `CLOCK_MONOTONIC` nanoseconds: consistent across cores and processes
/// (a producer process stamps, a consumer process subtracts); about 25 ns
/// per read here.
#[inline(always)]
pub fn now_ns() -> u64 {
    crate::clock::now_ns()
}

/// A latency histogram from 1 ns to 100 s at 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 100_000_000_000, 3).expect("static bounds are valid")
}

/// What the final consumers of a run saw, shared with the driver.
#[derive(Debug)]
pub struct Tally {
    consumers: u64,
    /// Events received, summed over final consumers.
    received: AtomicU64,
    /// Sum of event values, over final consumers (wrapping).
    checksum: AtomicU64,
    /// Consumers that saw their last expected event.
    finished: AtomicU64,
    /// Latest finishing time (now_ns).
    end_ns: AtomicU64,
    /// Batches seen by final consumers (end-of-batch flags), summed.
    batches: AtomicU64,
    histogram: Mutex<Option<Histogram<u64>>>,
}

impl Tally {
    /// A tally for `consumers` final consumers.
    pub fn new(consumers: u64) -> std::sync::Arc<Self> {
        std::sync::Arc::new(Self {
            consumers,
            received: AtomicU64::new(0),
            checksum: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            end_ns: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            histogram: Mutex::new(None),
        })
    }

    /// One consumer's final report.
    pub fn finish(
        &self,
        received: u64,
        checksum: u64,
        batches: u64,
        histogram: Option<Histogram<u64>>,
    ) {
        self.end_ns.fetch_max(now_ns(), Ordering::Relaxed);
        self.batches.fetch_add(batches, Ordering::Relaxed);
        self.received.fetch_add(received, Ordering::Relaxed);
        self.checksum.fetch_add(checksum, Ordering::Relaxed);
        if let Some(h) = histogram {
            let mut slot = self
                .histogram
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match slot.as_mut() {
                Some(all) => all.add(&h).expect("same bounds"),
                None => *slot = Some(h),
            }
        }
        // Release: the counts above are visible to whoever sees `finished`.
        self.finished.fetch_add(1, Ordering::Release);
    }

    /// Wait until every consumer finished, or none made progress for
    /// `stall` (a broken run): returns whether all finished.
    pub fn wait(&self, stall: Duration, progress: impl Fn() -> u64) -> bool {
        let mut last = progress();
        let mut since = Instant::now();
        loop {
            // Acquire: pairs with the Release in `finish`.
            if self.finished.load(Ordering::Acquire) >= self.consumers {
                return true;
            }
            let now = progress();
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() > stall {
                return false;
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// Events received and checksum.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.received.load(Ordering::Acquire),
            self.checksum.load(Ordering::Acquire),
        )
    }

    /// Batches the final consumers saw (0 where a peer has no batches).
    pub fn batches(&self) -> u64 {
        self.batches.load(Ordering::Relaxed)
    }

    /// When the last consumer finished.
    pub fn end_ns(&self) -> u64 {
        self.end_ns.load(Ordering::Relaxed)
    }

    /// The merged latency histogram, if any consumer recorded one.
    pub fn take_histogram(&self) -> Option<Histogram<u64>> {
        self.histogram
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Per-consumer counting: feed each event, then `finish` once.
#[derive(Debug)]
pub struct Counter {
    pub(crate) expected: u64,
    pub(crate) received: u64,
    pub(crate) checksum: u64,
    /// End-of-batch flags seen (for peers that batch).
    pub(crate) batches: u64,
    /// Events before this many are warm-up: not recorded in latency.
    pub(crate) warmup: u64,
    pub(crate) histogram: Option<Histogram<u64>>,
    /// Shared progress for stall detection (Relaxed, per batch).
    pub(crate) progress: std::sync::Arc<AtomicU64>,
    /// Extra dependent operations per event (see [`Counter::with_work`]).
    work: u32,
}

impl Counter {
    /// A counter expecting `expected` events.
    pub fn new(expected: u64, latency: bool, warmup: u64) -> Self {
        Self {
            expected,
            received: 0,
            checksum: 0,
            batches: 0,
            warmup,
            histogram: latency.then(new_histogram),
            progress: std::sync::Arc::new(AtomicU64::new(0)),
            work: 0,
        }
    }

    /// Spend `work` dependent operations (a rotate and a xor each, ~1 ns)
    /// on every event before counting it, without changing the checksum.
    ///
    /// Why: on the 2-vCPU machine a 1P-1C ring runs in one of two regimes
    /// decided by how fast the consumer is per event. A consumer faster
    /// than the producer catches up, reads the cursor and the newest slots
    /// while the producer is still writing next to them, and both slow
    /// down several times; a slightly slower one trails by a whole batch
    /// and both run near the memory system's limit. Which regime a peer
    /// lands in can flip on a few instructions of handler code, so the
    /// harness lets every contender's handler be made heavier by the same
    /// amount (`ringmaster bench --handler-work N`) to show how a ratio
    /// depends on it (docs/benchmarks.md).
    #[must_use]
    pub fn with_work(mut self, work: u32) -> Self {
        self.work = work;
        self
    }

    /// Count one event; returns true when it was the last expected one.
    #[inline(always)]
    pub fn on<E: BenchEvent>(&mut self, event: &E) -> bool {
        if let Some(h) = self.histogram.as_mut() {
            if self.received >= self.warmup {
                let latency = now_ns().saturating_sub(event.stamp()).max(1);
                h.saturating_record(latency);
            }
        }
        if self.work > 0 {
            let mut x = event.value();
            for _ in 0..self.work {
                x = black_box(x.rotate_left(3) ^ event.stamp());
            }
            black_box(x);
        }
        self.received += 1;
        self.checksum = self.checksum.wrapping_add(event.value());
        self.received == self.expected
    }

    /// Publish progress for the stall detector (call once per batch).
    #[inline(always)]
    pub fn report_progress(&mut self) {
        self.batches += 1;
        // Relaxed: a liveness hint only.
        self.progress.store(self.received, Ordering::Relaxed);
    }

    /// Hand the totals to `tally`.
    pub fn finish(&mut self, tally: &Tally) {
        self.report_progress();
        tally.finish(
            self.received,
            self.checksum,
            self.batches,
            self.histogram.take(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Handler work changes the cost per event, never what is counted:
    /// every contender must still pass the same self-check.
    #[test]
    fn handler_work_leaves_count_and_checksum_alone() {
        let events: Vec<Event64> = (0..100).map(|i| Event64::new(i * 7 + 1, i)).collect();
        let mut plain = Counter::new(100, false, 0);
        let mut heavy = Counter::new(100, false, 0).with_work(25);
        let mut last = (false, false);
        for e in &events {
            last = (plain.on(e), heavy.on(e));
        }
        assert_eq!(last, (true, true));
        assert_eq!(heavy.received, plain.received);
        assert_eq!(heavy.checksum, plain.checksum);
        assert_eq!(plain.checksum, (0..100u64).map(|i| i * 7 + 1).sum::<u64>());
    }
}
