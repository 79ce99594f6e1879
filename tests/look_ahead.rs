//! `EventHandler::look_ahead`: every event is shown once, in order, within
//! its batch and exactly `distance` events early; a panic in it halts the
//! graph or, under `LogAndSkip`, only switches looking ahead off.

use ringmaster::{
    EventHandler, GraphBuilder, PanicPolicy, RingConfig, ShutdownError, WaitStrategy,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Checks the look-ahead contract on every call; counts what it saw.
struct Checker {
    distance: u64,
    /// Events handled so far (= the sequence of the next one).
    handled: u64,
    /// One past the last event looked at.
    looked: u64,
    /// One past the current batch.
    batch_end: u64,
    done: Arc<AtomicU64>,
}

impl EventHandler<u64> for Checker {
    fn look_ahead_distance(&self) -> u64 {
        self.distance
    }

    fn on_batch_start(&mut self, batch_size: u64) {
        assert_eq!(self.looked, self.handled, "nothing seen beyond a batch");
        self.batch_end = self.handled + batch_size;
    }

    fn look_ahead(&mut self, event: &u64, sequence: u64) {
        assert_eq!(sequence, self.looked, "each event once, in order");
        assert_eq!(*event, sequence, "the event of that sequence");
        assert!(sequence < self.batch_end, "never past the batch");
        self.looked += 1;
    }

    fn on_event(&mut self, event: &u64, sequence: u64, _end_of_batch: bool) {
        assert_eq!((*event, sequence), (self.handled, self.handled));
        let want = (sequence + self.distance + 1).min(self.batch_end);
        assert_eq!(self.looked, want, "looked ahead exactly to seq + distance");
        self.handled += 1;
        self.done.store(self.handled, Ordering::Relaxed);
    }
}

fn run(distance: u64) {
    const EVENTS: u64 = 20_000;
    let done = Arc::new(AtomicU64::new(0));
    let mut b =
        GraphBuilder::<u64>::new(RingConfig::new(256).wait_strategy(WaitStrategy::Yielding));
    b.handler(
        "checker",
        Checker {
            distance,
            handled: 0,
            looked: 0,
            batch_end: 0,
            done: done.clone(),
        },
    )
    .add();
    let (mut p, graph) = b.build_single_producer().unwrap();
    // Batches of every size from 1 to 97, so batch ends fall everywhere
    // relative to the distance.
    let (mut next, mut size) = (0u64, 1u64);
    while next < EVENTS {
        let n = size.min(EVENTS - next);
        p.publish_batch_with(n, |i, slot| *slot = next + i).unwrap();
        next += n;
        size = size % 97 + 1;
    }
    graph.shutdown().unwrap();
    assert_eq!(done.load(Ordering::Relaxed), EVENTS);
}

#[test]
fn look_ahead_sees_each_event_once_and_distance_early() {
    for distance in [1, 3, 8, 100, 1_000] {
        run(distance);
    }
}

/// Panics when looking at event `bad`; sums what it handles.
struct Fragile {
    bad: u64,
    sum: Arc<AtomicU64>,
    looked_after_panic: Arc<AtomicU64>,
    panicked: bool,
}

impl EventHandler<u64> for Fragile {
    fn look_ahead_distance(&self) -> u64 {
        4
    }
    fn look_ahead(&mut self, event: &u64, _sequence: u64) {
        if self.panicked {
            self.looked_after_panic.fetch_add(1, Ordering::Relaxed);
        }
        if *event == self.bad && !self.panicked {
            self.panicked = true;
            panic!("cannot look at {event}");
        }
    }
    fn on_event(&mut self, event: &u64, _sequence: u64, _end_of_batch: bool) {
        self.sum.fetch_add(*event, Ordering::Relaxed);
    }
}

fn fragile(policy: PanicPolicy) -> (u64, u64, Result<(), ShutdownError>) {
    let sum = Arc::new(AtomicU64::new(0));
    let looked_after_panic = Arc::new(AtomicU64::new(0));
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(16).wait_strategy(WaitStrategy::Blocking))
        .panic_policy(policy);
    b.handler(
        "fragile",
        Fragile {
            bad: 20,
            sum: sum.clone(),
            looked_after_panic: looked_after_panic.clone(),
            panicked: false,
        },
    )
    .add();
    let (mut p, graph) = b.build_single_producer().unwrap();
    for i in 0..100 {
        if p.publish(i).is_err() {
            break;
        }
    }
    let result = graph.shutdown();
    (
        sum.load(Ordering::Relaxed),
        looked_after_panic.load(Ordering::Relaxed),
        result,
    )
}

#[test]
fn a_panic_while_looking_ahead_halts_the_graph() {
    let (sum, _, result) = fragile(PanicPolicy::Halt);
    match result {
        Err(ShutdownError::HandlerPanicked {
            stage,
            sequence,
            message,
        }) => {
            assert_eq!(stage, "fragile");
            assert_eq!(sequence, 20, "reported at the event looked at");
            assert!(message.contains("look_ahead") && message.contains("cannot look at 20"));
        }
        other => panic!("expected the panic back, got {other:?}"),
    }
    // Nothing from 20 on was handled (it is looked at before 16 is handled
    // at the latest).
    assert!(sum < (0..20).sum::<u64>() + 1);
}

#[test]
fn under_log_and_skip_a_look_ahead_panic_only_stops_looking_ahead() {
    let (sum, looked_after_panic, result) = fragile(PanicPolicy::LogAndSkip);
    result.unwrap();
    assert_eq!(sum, (0..100).sum::<u64>(), "no event skipped");
    assert_eq!(looked_after_panic, 0, "look_ahead is off after the panic");
}
