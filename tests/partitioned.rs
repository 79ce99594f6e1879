//! Partitioned stages against a model: random keys, 1-8 partitions, random
//! batch limits, both panic policies. Every event is handled exactly once,
//! by the partition its key maps to; each key's events in order; and the
//! stage after the partitions never sees an event before its partition
//! handled it.

mod util;

use proptest::prelude::*;
use ringmaster::{
    partition_of, EventHandler, GraphBuilder, PanicPolicy, RingConfig, StageError, WaitStrategy,
};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// `[key, id]`: ids count up from 0 in publish order.
type Event = [u64; 2];

/// Which partition handled each id (0: none yet, else partition + 1).
type Handled = Arc<Vec<AtomicU8>>;

struct Part {
    index: u32,
    handled: Handled,
    log: Arc<Mutex<Vec<Vec<Event>>>>,
    mine: Vec<Event>,
    batches: u64,
}

impl EventHandler<Event> for Part {
    fn on_event(&mut self, e: &Event, _seq: u64, _end: bool) {
        let before = self.handled[e[1] as usize].swap(self.index as u8 + 1, Ordering::Relaxed);
        assert_eq!(before, 0, "event {} handled twice", e[1]);
        self.mine.push(*e);
    }

    fn on_batch_end(&mut self) -> Result<(), StageError> {
        self.batches += 1;
        Ok(())
    }

    fn on_shutdown(&mut self) {
        self.log.lock().unwrap()[self.index as usize] = std::mem::take(&mut self.mine);
    }
}

/// The stage after the partitions: checks each event was handled first.
struct After {
    partitions: u32,
    handled: Handled,
    seen: Arc<Mutex<u64>>,
    count: u64,
}

impl EventHandler<Event> for After {
    fn on_event(&mut self, e: &Event, _seq: u64, _end: bool) {
        // Relaxed: the barrier (this stage runs after every partition) is
        // what orders the partition's store before this load; a broken
        // barrier shows up here as a 0.
        let by = self.handled[e[1] as usize].load(Ordering::Relaxed);
        assert_eq!(
            u32::from(by),
            partition_of(e[0], self.partitions) + 1,
            "event {} seen downstream before (or not by) its partition",
            e[1]
        );
        self.count += 1;
    }

    fn on_shutdown(&mut self) {
        *self.seen.lock().unwrap() = self.count;
    }
}

fn run(keys: &[u64], partitions: u32, max_batch: u64, policy: PanicPolicy, capacity: u64) {
    let handled: Handled = Arc::new((0..keys.len()).map(|_| AtomicU8::new(0)).collect());
    let log = Arc::new(Mutex::new(vec![Vec::new(); partitions as usize]));
    let seen = Arc::new(Mutex::new(0));
    let mut b =
        GraphBuilder::<Event>::new(RingConfig::new(capacity).wait_strategy(WaitStrategy::Yielding))
            .panic_policy(policy);
    let parts = b
        .partitioned(
            "part",
            partitions,
            |e: &Event| e[0],
            |index| Part {
                index,
                handled: Arc::clone(&handled),
                log: Arc::clone(&log),
                mine: Vec::new(),
                batches: 0,
            },
        )
        .max_batch(max_batch)
        .add();
    b.handler(
        "after",
        After {
            partitions,
            handled: Arc::clone(&handled),
            seen: Arc::clone(&seen),
            count: 0,
        },
    )
    .after(parts.ids())
    .add();
    let (mut producer, graph) = b.build_single_producer().unwrap();
    for (id, &key) in keys.iter().enumerate() {
        producer.publish([key, id as u64]).unwrap();
    }
    graph.shutdown().unwrap();
    assert_eq!(*seen.lock().unwrap(), keys.len() as u64);
    let log = log.lock().unwrap();
    let mut total = 0;
    for (index, events) in log.iter().enumerate() {
        for e in events {
            assert_eq!(
                partition_of(e[0], partitions),
                index as u32,
                "wrong partition"
            );
        }
        // Per key (all of a key's events are in this partition): ids rise.
        let mut last = std::collections::HashMap::new();
        for e in events {
            if let Some(prev) = last.insert(e[0], e[1]) {
                assert!(prev < e[1], "key {}: {} after {}", e[0], e[1], prev);
            }
        }
        total += events.len();
    }
    assert_eq!(total, keys.len(), "every event handled exactly once");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn partitions_match_the_model(
        keys in proptest::collection::vec(0u64..40, 0..600),
        partitions in 1u32..=8,
        max_batch in prop_oneof![Just(u64::MAX), 1u64..20],
        halt in any::<bool>(),
        capacity in prop_oneof![Just(8u64), Just(64), Just(1024)],
    ) {
        let policy = if halt { PanicPolicy::Halt } else { PanicPolicy::LogAndSkip };
        run(&keys, partitions, max_batch, policy, capacity);
    }
}

#[test]
fn many_events_over_eight_partitions() {
    let mut rng = 7u64;
    let keys: Vec<u64> = (0..50_000)
        .map(|_| util::xorshift(&mut rng) % 1000)
        .collect();
    run(&keys, 8, u64::MAX, PanicPolicy::Halt, 256);
}
