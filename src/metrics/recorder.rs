//! [`StageRecorder`]: the figures a stage's own thread records, and
//! [`StageCell`], where it adds them for readers.
//!
//! The hot path touches only the recorder (owned by the stage's thread):
//! two counters and a batch-size histogram per batch, a clock read, the
//! stamps and the cursor per batch holding a sampled sequence. About every
//! [`PUBLISH_EVERY_NS`] (checked when the clock is read anyway, before the
//! stage waits, every [`CHECK_EVERY_BATCHES`] batches, or every
//! [`CHECK_EVERY_IDLE_TURNS`] idle turns) the recorder adds
//! its figures to the stage's cell under `try_lock` (a reader holding the
//! lock never stalls the stage: the figures wait for the next turn), then
//! starts afresh. So a sample is in the cell once, from the turn it was
//! added; readers clone the cell under the lock.

use super::figures::StageFigures;
use super::snapshot::StageGroupKind;
use crate::clock;
use crate::ring::RingBuffer;
use std::sync::{Arc, Mutex, PoisonError};

/// How often (at most) a stage adds its figures to its cell.
pub(crate) const PUBLISH_EVERY_NS: u64 = 50_000_000;
/// Batches after which a stage that has not read the clock for a sampled
/// batch reads it to check whether its figures are due.
pub(crate) const CHECK_EVERY_BATCHES: u32 = 1024;
/// Idle turns (a poll that found nothing, a shared thread's turn with no
/// work for the stage) between two looks at the clock for figures that are
/// due. The first turn after a batch always looks. A clock read costs about
/// as much as a cache-line transfer, and a poller that read it on every
/// empty poll noticed its next event that much later.
pub(crate) const CHECK_EVERY_IDLE_TURNS: u32 = 1024;

/// One stage's cumulative figures, as its thread last added them.
#[derive(Debug)]
pub(crate) struct StageCell {
    pub(crate) name: String,
    /// Consumer slot of the stage in the ring's region.
    pub(crate) slot: usize,
    /// The partitioned stage or work pool it is a member of.
    pub(crate) group: Option<(String, StageGroupKind)>,
    /// `None` until the stage first adds figures: a graph that records
    /// nothing allocates no histograms.
    figures: Mutex<Option<StageFigures>>,
}

impl StageCell {
    pub(crate) fn new(name: String, slot: usize) -> Arc<Self> {
        Self::in_group(name, slot, None)
    }

    /// A cell of a member of a partitioned stage or work pool.
    pub(crate) fn in_group(
        name: String,
        slot: usize,
        group: Option<(String, StageGroupKind)>,
    ) -> Arc<Self> {
        Arc::new(Self {
            name,
            slot,
            group,
            figures: Mutex::new(None),
        })
    }

    /// A copy of the cumulative figures.
    pub(crate) fn figures(&self) -> StageFigures {
        self.figures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .unwrap_or_default()
    }
}

/// The recording half, owned by the stage's thread.
#[derive(Debug)]
pub(crate) struct StageRecorder {
    /// Figures not yet added to the cell; `None` when nothing is recorded
    /// (the ring does not sample, or the `metrics` feature is compiled
    /// out), so nothing is allocated.
    pending: Option<StageFigures>,
    dirty: bool,
    cell: Arc<StageCell>,
    last_publish_ns: u64,
    unchecked_batches: u32,
    /// Idle turns since the last batch (see [`CHECK_EVERY_IDLE_TURNS`]).
    idle_turns: u32,
}

impl StageRecorder {
    pub(crate) fn new<E: bytemuck::Pod + Send>(ring: &RingBuffer<E>, cell: Arc<StageCell>) -> Self {
        let enabled = cfg!(feature = "metrics") && ring.sampling() != 0;
        Self {
            pending: enabled.then(StageFigures::new),
            dirty: false,
            cell,
            last_publish_ns: clock::now_ns(),
            unchecked_batches: 0,
            idle_turns: 0,
        }
    }

    /// Record the batch `from..to` the stage just processed (before it
    /// advances its sequence past it: the stamps are still valid).
    #[inline]
    pub(crate) fn batch<E: bytemuck::Pod + Send>(
        &mut self,
        ring: &RingBuffer<E>,
        from: u64,
        to: u64,
    ) {
        let Some(pending) = self.pending.as_mut() else {
            return;
        };
        if to <= from {
            return;
        }
        let size = to - from;
        pending.events += size;
        pending.batches += 1;
        pending.batch_sizes.saturating_record(size);
        self.dirty = true;
        self.idle_turns = 0;
        let mut now = 0;
        let latency = &mut pending.latency_ns;
        ring.sampled(from, to, |_, stamp| {
            if now == 0 {
                now = clock::now_ns();
            }
            // 0: never stamped (a claim abandoned by a dead producer).
            if stamp != 0 {
                latency.saturating_record(now.saturating_sub(stamp));
            }
        });
        if now != 0 {
            pending
                .lag
                .saturating_record(ring.cursor().saturating_sub(to));
            self.maybe_publish(now);
        } else {
            self.unchecked_batches += 1;
            if self.unchecked_batches >= CHECK_EVERY_BATCHES {
                self.maybe_publish(clock::now_ns());
            }
        }
    }

    /// The stage is about to wait for events, or found none this turn:
    /// publish figures that are due, so an idle stage's last batches show
    /// up. Looks at the clock on the first idle turn after a batch and
    /// then every [`CHECK_EVERY_IDLE_TURNS`] turns, not on every poll.
    #[inline]
    pub(crate) fn idle(&mut self) {
        if !self.dirty {
            return;
        }
        let turn = self.idle_turns;
        self.idle_turns = turn.wrapping_add(1);
        if turn.is_multiple_of(CHECK_EVERY_IDLE_TURNS) {
            self.maybe_publish(clock::now_ns());
        }
    }

    fn maybe_publish(&mut self, now: u64) {
        self.unchecked_batches = 0;
        if now.saturating_sub(self.last_publish_ns) < PUBLISH_EVERY_NS {
            return;
        }
        // try_lock: a reader cloning the figures must never stall the
        // stage; the figures stay pending until the next turn.
        let Some(pending) = self.pending.as_mut() else {
            return;
        };
        if let Ok(mut shared) = self.cell.figures.try_lock() {
            shared.get_or_insert_with(StageFigures::new).add(pending);
            drop(shared);
            pending.reset();
            self.dirty = false;
            self.last_publish_ns = now;
        }
    }

    /// Add whatever is pending (the stage is stopping).
    pub(crate) fn finish(&mut self) {
        if let (true, Some(pending)) = (self.dirty, self.pending.as_mut()) {
            self.cell
                .figures
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert_with(StageFigures::new)
                .add(pending);
            pending.reset();
            self.dirty = false;
        }
    }
}

impl Drop for StageRecorder {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(all(test, feature = "metrics", not(loom)))]
mod tests {
    use super::*;
    use crate::RingConfig;

    /// Figures are never due while the last publish is in the future, and
    /// always due once it is at 0: no test waits on the clock.
    const NEVER_DUE: u64 = u64::MAX;
    const DUE: u64 = 0;

    fn recorder() -> (RingBuffer<u64>, Arc<StageCell>, StageRecorder) {
        let ring = RingBuffer::<u64>::new(&RingConfig::new(8), false).unwrap();
        let cell = StageCell::new("stage".into(), 0);
        let mut recorder = StageRecorder::new(&ring, cell.clone());
        recorder.last_publish_ns = NEVER_DUE;
        (ring, cell, recorder)
    }

    fn published_events(cell: &StageCell) -> u64 {
        cell.figures
            .lock()
            .unwrap()
            .as_ref()
            .map_or(0, |figures| figures.events)
    }

    #[test]
    fn idle_turns_look_at_the_clock_once_per_interval_of_turns() {
        let (ring, cell, mut recorder) = recorder();
        recorder.batch(&ring, 0, 3);
        // The first idle turn after a batch looks: not due yet.
        recorder.idle();
        assert_eq!(published_events(&cell), 0);
        recorder.last_publish_ns = DUE;
        // Due now, but the turns in between do not look at the clock.
        for _ in 1..CHECK_EVERY_IDLE_TURNS {
            recorder.idle();
        }
        assert_eq!(published_events(&cell), 0);
        recorder.idle();
        assert_eq!(published_events(&cell), 3);
    }

    #[test]
    fn a_batch_makes_the_next_idle_turn_look_again() {
        let (ring, cell, mut recorder) = recorder();
        recorder.batch(&ring, 0, 1);
        recorder.idle();
        recorder.idle();
        recorder.last_publish_ns = DUE;
        // 1..2 holds no stamp: the batch does not read the clock, the
        // idle turn after it does.
        recorder.batch(&ring, 1, 2);
        assert_eq!(published_events(&cell), 0);
        recorder.idle();
        assert_eq!(published_events(&cell), 2);
    }
}
