//! The `journal` scenario: ringmaster unicast with the consumer journaling
//! every event (group commit per batch) before counting it, against plain
//! unicast in the same run, under `None`, `Periodic` and `Sync`
//! durability: in steady state (the journal's second lap, into segments
//! recycled by retention) and on a first lap (new files). Beside them,
//! the floor one core's memory sets for any journal stage: each event
//! stored into a slot as the journal stores it, with nothing else.

use super::ringmaster::Sink;
use crate::harness::event::{now_ns, BenchEvent, Counter, Tally};
use crate::harness::params::{Outcome, Params};
use crate::journal::format::record_size;
use crate::journal::{
    release_segments_before, Durability, JournalConfig, JournalHandler, JournalWriter,
    DEFAULT_SEGMENT_SIZE,
};
use crate::{EventHandler, GraphBuilder, RingConfig, StageError};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, PoisonError};

/// The `Periodic` runs' flush interval: `serve`'s default, the promise of
/// Redis's `appendfsync everysec`.
const PERIODIC: std::time::Duration = std::time::Duration::from_secs(1);

/// Most events a journal run writes (80-byte records: 400 MB), so repeated
/// runs stay within the disk; the directory is removed after each run.
pub const MAX_JOURNAL_EVENTS: u64 = 5_000_000;

/// ringmaster's counting sink, journaling each event first: the count of
/// a batch (the "acknowledgement") follows its commit, as a downstream
/// stage's would.
struct Journaled<E> {
    journal: JournalHandler<E>,
    sink: Sink,
    /// The batch being handled holds the last expected event.
    last: bool,
}

impl<E: BenchEvent> EventHandler<E> for Journaled<E> {
    #[inline(always)]
    fn on_event(&mut self, event: &E, seq: u64, end_of_batch: bool) {
        self.journal.on_event(event, seq, end_of_batch);
        self.last |= self.sink.counter.on(event);
    }
    fn on_batch_end(&mut self) -> Result<(), StageError> {
        self.journal.on_batch_end()?;
        count_batch(&mut self.sink, &mut self.last);
        Ok(())
    }
    fn on_shutdown(&mut self) {
        EventHandler::<E>::on_shutdown(&mut self.journal);
        EventHandler::<E>::on_shutdown(&mut self.sink);
    }
}

/// A batch's events are done with (journaled, or stored): count them,
/// and finish the run when the batch held the last (`last`).
fn count_batch(sink: &mut Sink, last: &mut bool) {
    if std::mem::take(last) {
        sink.counter.finish(&sink.tally);
        sink.done = true;
    } else {
        sink.counter.report_progress();
    }
}

/// The memory floor's sink: each event stored as the journal stores it
/// (a slot of a zero word, the sequence and the payload, 8 bytes at a
/// time) into a lap of memory faulted in beforehand and long past what
/// the cache holds, then counted; no checksum, seal, file or page cache.
struct SlotCopy {
    slots: Vec<u64>,
    at: usize,
    sink: Sink,
    last: bool,
}

impl<E: BenchEvent> EventHandler<E> for SlotCopy {
    #[inline(always)]
    fn on_event(&mut self, event: &E, seq: u64, _: bool) {
        let payload = bytemuck::bytes_of(event);
        let words = 2 + payload.len().div_ceil(8);
        if self.at + words > self.slots.len() {
            self.at = 0;
        }
        let slot = &mut self.slots[self.at..self.at + words];
        slot[0] = 0;
        slot[1] = seq;
        for (w, chunk) in slot[2..].iter_mut().zip(payload.chunks(8)) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            *w = u64::from_le_bytes(b);
        }
        self.at += words;
        self.last |= self.sink.counter.on(event);
    }
    fn on_batch_end(&mut self) -> Result<(), StageError> {
        std::hint::black_box(&mut self.slots);
        count_batch(&mut self.sink, &mut self.last);
        Ok(())
    }
    fn on_shutdown(&mut self) {
        EventHandler::<E>::on_shutdown(&mut self.sink);
        *FLOOR_SLOTS.lock().unwrap_or_else(PoisonError::into_inner) =
            std::mem::take(&mut self.slots);
    }
}

/// The memory floor's lap, kept from one run to the next: freeing it and
/// faulting hundreds of megabytes in again each time would leave that
/// kernel work to the run after it.
static FLOOR_SLOTS: Mutex<Vec<u64>> = Mutex::new(Vec::new());

/// Which lap of a journal a run measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lap {
    /// The first: every segment a new file, its pages faulted in fresh.
    Fresh,
    /// Steady state: a lap and a segment written (unmeasured), released by
    /// retention, so the measured lap writes into recycled segments.
    Recycled,
}

fn run<E: BenchEvent>(p: &Params, durability: Durability, lap: Lap) -> Result<Outcome, String> {
    let events = p.events.min(MAX_JOURNAL_EVENTS);
    let dir = std::env::temp_dir().join(format!("ringmaster-bench-journal-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // Spares for a whole lap and more, so every roll of the measured lap
    // recycles.
    let per_segment = (DEFAULT_SEGMENT_SIZE - 4096) / record_size(E::SIZE) as u64;
    let config = JournalConfig::new(&dir)
        .durability(durability)
        .spare_segments((events / per_segment + 4) as usize);
    let (mut writer, _) = JournalWriter::open(&config, E::SIZE).map_err(|e| e.to_string())?;
    if lap == Lap::Recycled {
        // The same writer as the measured lap, as a journal that has been
        // running is: its finished segments are still mapped when
        // retention hands them back. A lap, released as spares, then one
        // segment more: the first lap's last roll had the preallocator
        // make a new file (no spare existed yet), which it could still be
        // faulting in, on one of the two cores the run pins, when the
        // measured lap starts; the extra segment's roll waits for that
        // file and has the preallocator recycle a spare instead.
        let payload = vec![0u8; E::SIZE];
        for records in [events + per_segment, per_segment] {
            for i in 0..records {
                writer.append(&payload).map_err(|e| e.to_string())?;
                if i % 4096 == 4095 {
                    writer.commit().map_err(|e| e.to_string())?;
                }
            }
            writer.commit().map_err(|e| e.to_string())?;
            release_segments_before(&config, writer.next_sequence()).map_err(|e| e.to_string())?;
        }
    }
    let outcome = measure::<E, _>(p, events, |sink| Journaled {
        journal: JournalHandler::<E>::new(writer),
        sink,
        last: false,
    });
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

/// Publish `events` events through one stage, `stage(sink)`, which counts
/// each into `sink` after its own work, and time them.
fn measure<E: BenchEvent, H: EventHandler<E> + 'static>(
    p: &Params,
    events: u64,
    stage: impl FnOnce(Sink) -> H,
) -> Result<Outcome, String> {
    let tally = Tally::new(1);
    let counter = Counter::new(events, false, 0);
    let progress = counter.progress.clone();
    let stage = stage(Sink {
        counter,
        tally: tally.clone(),
        done: false,
    });
    let mut b = GraphBuilder::<E>::new(RingConfig::new(p.capacity).wait_strategy(p.strategy));
    let s = b.handler("journal", stage);
    match p.core(1) {
        Some(c) => s.pin(c).add(),
        None => s.add(),
    };
    let (mut producer, graph) = b.build_single_producer().map_err(|e| e.to_string())?;
    p.pin(0);
    let start = now_ns();
    for i in 0..events {
        producer
            .publish_with(|s| *s = E::new(i, 0))
            .map_err(|e| e.to_string())?;
    }
    let complete = tally.wait(p.stall, || progress.load(Ordering::Relaxed));
    let mut metrics = graph.metrics_handle();
    graph.shutdown().map_err(|e| e.to_string())?;
    let (received, checksum) = tally.totals();
    Ok(Outcome {
        received: if complete {
            received
        } else {
            progress.load(Ordering::Relaxed)
        },
        checksum,
        elapsed_ns: tally.end_ns().saturating_sub(start),
        batches: tally.batches(),
        histogram: None,
        batch_sizes: super::ringmaster::final_batch_sizes(&mut metrics),
    })
}

/// The memory floor: the journal's stores alone (see `SlotCopy`), into
/// a lap of `events` slots, as long as the journal runs' laps.
pub fn slot_copy<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    let events = p.events.min(MAX_JOURNAL_EVENTS);
    let mut slots =
        std::mem::take(&mut *FLOOR_SLOTS.lock().unwrap_or_else(PoisonError::into_inner));
    // Written once, so every page is mapped before the clock starts.
    slots.resize((events as usize) * record_size(E::SIZE) / 8, 1);
    measure::<E, _>(p, events, |sink| SlotCopy {
        slots,
        at: 0,
        sink,
        last: false,
    })
}

/// Plain unicast, capped like the journal runs so the figures compare.
pub fn plain<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    let mut q = p.clone();
    q.events = p.events.min(MAX_JOURNAL_EVENTS);
    super::ringmaster::unicast::<E>(&q)
}

/// Journaled with `Durability::None` (page cache), in steady state:
/// recycled segments.
pub fn journal_none<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    run::<E>(p, Durability::None, Lap::Recycled)
}

/// Journaled with `Durability::Sync` (msync per batch), in steady state.
pub fn journal_sync<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    run::<E>(p, Durability::Sync, Lap::Recycled)
}

/// Journaled with `Durability::Periodic` (a flusher thread syncs every
/// second), in steady state: what `ringmaster serve` runs with its
/// `--durability periodic`.
pub fn journal_periodic<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    run::<E>(p, Durability::Periodic(PERIODIC), Lap::Recycled)
}

/// `Durability::Periodic` on a journal's first lap.
pub fn journal_periodic_fresh<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    run::<E>(p, Durability::Periodic(PERIODIC), Lap::Fresh)
}

/// `Durability::None` on a journal's first lap: new segment files.
pub fn journal_none_fresh<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    run::<E>(p, Durability::None, Lap::Fresh)
}

/// `Durability::Sync` on a journal's first lap.
pub fn journal_sync_fresh<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    run::<E>(p, Durability::Sync, Lap::Fresh)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::event::Event64;

    /// The floor and the steady-state journal run each count every event
    /// once, the floor also when an earlier, shorter run left it a lap to
    /// grow.
    #[test]
    fn the_floor_and_a_journal_run_see_every_event() {
        for (n, run) in [
            (
                3_000u64,
                slot_copy::<Event64> as fn(&Params) -> Result<Outcome, String>,
            ),
            (5_000, slot_copy::<Event64>),
            (5_000, journal_none::<Event64>),
        ] {
            let outcome = run(&Params::for_tests(n)).unwrap();
            assert_eq!(outcome.received, n);
            assert_eq!(outcome.checksum, n * (n - 1) / 2);
        }
    }
}
