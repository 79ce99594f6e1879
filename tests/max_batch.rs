//! `StageBuilder::max_batch`: a stage never sees a batch over its limit,
//! still sees every event once and in order, and a batch's size, its
//! `end_of_batch` and `on_batch_start` agree, alone or on a shared thread.

use ringmaster::{EventHandler, GraphBuilder, RingConfig, WaitStrategy};
use std::sync::{Arc, Mutex};

const EVENTS: u64 = 1000;

/// Each batch: the size `on_batch_start` announced, and the events it held.
type Log = Arc<Mutex<Vec<(u64, Vec<u64>)>>>;

/// Records each batch.
struct Batches {
    announced: u64,
    current: Vec<u64>,
    log: Log,
}

impl Batches {
    fn new() -> (Self, Log) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let handler = Self {
            announced: 0,
            current: Vec::new(),
            log: log.clone(),
        };
        (handler, log)
    }
}

impl EventHandler<u64> for Batches {
    fn on_batch_start(&mut self, size: u64) {
        self.announced = size;
    }

    fn on_event(&mut self, event: &u64, _sequence: u64, end_of_batch: bool) {
        self.current.push(*event);
        if end_of_batch {
            let batch = std::mem::take(&mut self.current);
            self.log.lock().unwrap().push((self.announced, batch));
        }
    }
}

/// Every event once, in order; each batch as announced and within `limit`.
/// Returns the largest batch.
fn check(log: &[(u64, Vec<u64>)], limit: u64) -> u64 {
    let all: Vec<u64> = log.iter().flat_map(|(_, b)| b.iter().copied()).collect();
    assert_eq!(all, (0..EVENTS).collect::<Vec<_>>());
    for (announced, batch) in log {
        assert_eq!(*announced, batch.len() as u64);
        assert!(
            batch.len() as u64 <= limit,
            "batch of {} over {limit}",
            batch.len()
        );
    }
    log.iter().map(|(_, b)| b.len() as u64).max().unwrap()
}

fn run(limit: Option<u64>, shared: bool) -> (u64, u64) {
    let (first, first_log) = Batches::new();
    let (second, second_log) = Batches::new();
    let mut builder =
        GraphBuilder::<u64>::new(RingConfig::new(4096).wait_strategy(WaitStrategy::Blocking));
    let mut stage = builder.handler("first", first);
    if let Some(limit) = limit {
        stage = stage.max_batch(limit);
    }
    let head = stage.add();
    let mut stage = builder.handler("second", second).after(&[head]);
    if shared {
        stage = stage.same_thread_as(head);
    }
    if let Some(limit) = limit {
        stage = stage.max_batch(limit);
    }
    stage.add();
    let (mut producer, graph) = builder.build_single_producer().unwrap();
    // One publish: the first stage finds all the events at once.
    producer
        .publish_batch_with(EVENTS, |i, slot| *slot = i)
        .unwrap();
    graph.shutdown().unwrap();
    let limit = limit.unwrap_or(u64::MAX);
    let largest_first = check(&first_log.lock().unwrap(), limit);
    let largest_second = check(&second_log.lock().unwrap(), limit);
    (largest_first, largest_second)
}

#[test]
fn batches_stay_within_the_limit() {
    for shared in [false, true] {
        for limit in [1, 7, 100] {
            let (first, _) = run(Some(limit), shared);
            // All were readable at once: the limit is what split them.
            assert_eq!(first, limit, "limit {limit}, shared {shared}");
        }
    }
}

#[test]
fn without_a_limit_a_stage_takes_everything_readable() {
    for shared in [false, true] {
        let (first, _) = run(None, shared);
        // One batch: the test above would prove nothing if batches were
        // small anyway.
        assert_eq!(first, EVENTS, "shared {shared}");
    }
}
