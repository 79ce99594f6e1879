//! Work pools against a model: 1-8 workers, random claim sizes, ring
//! sizes, one or several producers, both panic policies. Every event is
//! handled exactly once (a poisoned one, under `LogAndSkip`, by nobody),
//! each worker sees its own events in sequence order, and the stage after
//! the pool never sees an event before it was handled.

use proptest::prelude::*;
use ringmaster::{EventHandler, GraphBuilder, PanicPolicy, RingConfig, StageError, WaitStrategy};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// `[id, poisoned]`: ids count up from 0 in publish order (per producer
/// block, see `run`); a poisoned event makes its handler panic.
type Event = [u64; 2];

/// Which worker handled each id (0: none yet, else worker + 1).
type Handled = Arc<Vec<AtomicU8>>;

/// Broken rules, counted rather than asserted in the handlers: under
/// `LogAndSkip` a failed assertion would only skip the event.
type Violations = Arc<AtomicU64>;

struct Worker {
    index: u32,
    handled: Handled,
    violations: Violations,
    log: Arc<Mutex<Vec<Vec<u64>>>>,
    sequences: Vec<u64>,
    open_batch: bool,
}

impl EventHandler<Event> for Worker {
    fn on_batch_start(&mut self, _size: u64) {
        assert!(!self.open_batch, "batches do not nest");
        self.open_batch = true;
    }

    fn on_event(&mut self, e: &Event, seq: u64, _end: bool) {
        assert!(self.open_batch, "an event outside a batch");
        if e[1] == 1 {
            panic!("poisoned event {}, on purpose", e[0]);
        }
        let before = self.handled[e[0] as usize].swap(self.index as u8 + 1, Ordering::Relaxed);
        if before != 0 {
            // Handled twice.
            self.violations.fetch_add(1, Ordering::Relaxed);
        }
        self.sequences.push(seq);
    }

    fn on_batch_end(&mut self) -> Result<(), StageError> {
        self.open_batch = false;
        Ok(())
    }

    fn on_shutdown(&mut self) {
        self.log.lock().unwrap()[self.index as usize] = std::mem::take(&mut self.sequences);
    }
}

/// The stage after the pool: each event was handled (or is poisoned).
struct After {
    handled: Handled,
    violations: Violations,
    seen: Arc<Mutex<u64>>,
    count: u64,
}

impl EventHandler<Event> for After {
    fn on_event(&mut self, e: &Event, _seq: u64, _end: bool) {
        // Relaxed: the barrier (this stage runs after every worker) is what
        // orders the worker's store before this load; a broken barrier
        // shows up here as a 0.
        let by = self.handled[e[0] as usize].load(Ordering::Relaxed);
        if (by == 0) != (e[1] == 1) {
            // Seen downstream before it was handled.
            self.violations.fetch_add(1, Ordering::Relaxed);
        }
        self.count += 1;
    }

    fn on_shutdown(&mut self) {
        *self.seen.lock().unwrap() = self.count;
    }
}

struct Case {
    events: u64,
    poisoned: Vec<u64>,
    workers: u32,
    max_claim: u64,
    policy: PanicPolicy,
    capacity: u64,
    producers: u64,
}

fn run(case: &Case) {
    let n = case.events;
    let handled: Handled = Arc::new((0..n).map(|_| AtomicU8::new(0)).collect());
    let log = Arc::new(Mutex::new(vec![Vec::new(); case.workers as usize]));
    let seen = Arc::new(Mutex::new(0));
    let violations = Violations::default();
    let strategy = if case.producers > 1 {
        WaitStrategy::Blocking
    } else {
        WaitStrategy::Yielding
    };
    let mut b = GraphBuilder::<Event>::new(RingConfig::new(case.capacity).wait_strategy(strategy))
        .panic_policy(case.policy);
    let pool = b
        .work_pool("pool", case.workers, |index| Worker {
            index,
            handled: Arc::clone(&handled),
            violations: Arc::clone(&violations),
            log: Arc::clone(&log),
            sequences: Vec::new(),
            open_batch: false,
        })
        .max_claim(case.max_claim)
        .add();
    b.handler(
        "after",
        After {
            handled: Arc::clone(&handled),
            violations: Arc::clone(&violations),
            seen: Arc::clone(&seen),
            count: 0,
        },
    )
    .after(pool.ids())
    .add();
    let poisoned = |id: u64| u64::from(case.poisoned.contains(&id));
    let (producer, graph) = b.build_multi_producer().unwrap();
    // Producer `p` publishes the ids `p, p + producers, ...`.
    std::thread::scope(|scope| {
        for p in 0..case.producers {
            let mut producer = producer.clone();
            scope.spawn(move || {
                let mut id = p;
                while id < n {
                    producer.publish([id, poisoned(id)]).unwrap();
                    id += case.producers;
                }
            });
        }
    });
    graph.shutdown().unwrap();
    assert_eq!(
        violations.load(Ordering::Relaxed),
        0,
        "events handled twice, or seen after the pool before they were handled"
    );
    assert_eq!(*seen.lock().unwrap(), n, "the stage after saw every event");
    let log = log.lock().unwrap();
    let mut total = 0;
    for sequences in log.iter() {
        assert!(
            sequences.windows(2).all(|w| w[0] < w[1]),
            "a worker's events in sequence order"
        );
        total += sequences.len() as u64;
    }
    let poisoned_count = (0..n).filter(|&id| poisoned(id) == 1).count() as u64;
    assert_eq!(
        total,
        n - poisoned_count,
        "every event handled exactly once"
    );
    for id in 0..n {
        let by = handled[id as usize].load(Ordering::Relaxed);
        assert_eq!(by == 0, poisoned(id) == 1, "event {id}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn work_pools_match_the_model(
        events in 0u64..600,
        poisoned in proptest::collection::vec(0u64..600, 0..4),
        workers in 1u32..=8,
        max_claim in prop_oneof![Just(1u64), Just(64), 1u64..20],
        halt in any::<bool>(),
        capacity in prop_oneof![Just(8u64), Just(64), Just(1024)],
        producers in 1u64..=3,
    ) {
        // Under Halt a poisoned event stops the graph: poison only under
        // LogAndSkip.
        let (policy, poisoned) = if halt {
            (PanicPolicy::Halt, Vec::new())
        } else {
            (PanicPolicy::LogAndSkip, poisoned)
        };
        run(&Case { events, poisoned, workers, max_claim, policy, capacity, producers });
    }
}

#[test]
fn many_events_over_four_workers() {
    run(&Case {
        events: 100_000,
        poisoned: vec![7, 50_000],
        workers: 4,
        max_claim: 64,
        policy: PanicPolicy::LogAndSkip,
        capacity: 256,
        producers: 2,
    });
}

#[test]
fn a_poisoned_event_under_halt_stops_the_graph_with_its_sequence() {
    let mut b =
        GraphBuilder::<Event>::new(RingConfig::new(64).wait_strategy(WaitStrategy::Yielding));
    let handled: Handled = Arc::new((0..100).map(|_| AtomicU8::new(0)).collect());
    let log = Arc::new(Mutex::new(vec![Vec::new(); 2]));
    b.work_pool("pool", 2, |index| Worker {
        index,
        handled: Arc::clone(&handled),
        violations: Violations::default(),
        log: Arc::clone(&log),
        sequences: Vec::new(),
        open_batch: false,
    })
    .add();
    let (mut producer, graph) = b.build_single_producer().unwrap();
    for id in 0..100u64 {
        if producer.publish([id, u64::from(id == 42)]).is_err() {
            break;
        }
    }
    match graph.shutdown() {
        Err(ringmaster::ShutdownError::HandlerPanicked {
            stage, sequence, ..
        }) => {
            assert!(stage.starts_with("pool/"), "{stage}");
            assert_eq!(sequence, 42);
        }
        other => panic!("{other:?}"),
    }
}

/// Recording is the `metrics` feature (on by default); the bare library
/// records nothing.
#[cfg(feature = "metrics")]
#[test]
fn a_pool_and_a_partitioned_stage_report_as_wholes() {
    use ringmaster::metrics::StageGroupKind;
    use ringmaster::NoopHandler;
    let mut b = GraphBuilder::<u64>::new(
        RingConfig::new(64)
            .wait_strategy(WaitStrategy::Yielding)
            .metrics_sampling(1),
    );
    let pool = b.work_pool("pool", 3, |_| NoopHandler).add();
    b.partitioned("parts", 2, |e: &u64| *e, |_| NoopHandler)
        .after(pool.ids())
        .add();
    let (mut producer, graph) = b.build_single_producer().unwrap();
    let mut metrics = graph.metrics_handle();
    for i in 0..1000 {
        producer.publish(i).unwrap();
    }
    graph.shutdown().unwrap();
    let snapshot = metrics.snapshot();
    assert_eq!(snapshot.stages.len(), 5);
    let [pool, parts] = &snapshot.groups[..] else {
        panic!("{:?}", snapshot.groups);
    };
    assert_eq!(pool.kind, StageGroupKind::WorkPool);
    assert_eq!(pool.members, ["pool/0", "pool/1", "pool/2"]);
    assert_eq!(pool.stage.sequence, 1000);
    assert_eq!(pool.stage.cumulative.events, 1000, "each event once");
    assert_eq!(pool.stage.cumulative.latency_ns.len(), 1000);
    assert_eq!(parts.kind, StageGroupKind::Partitioned);
    assert_eq!(parts.stage.name, "parts");
    assert_eq!(
        parts.stage.cumulative.events, 1000,
        "each partition read all"
    );
    assert_eq!(
        parts.stage.cumulative.latency_ns.len(),
        2000,
        "both partitions' samples"
    );
    let summary = snapshot.summary();
    assert!(summary.contains("pool (3 workers)"), "{summary}");
    assert!(summary.contains("parts (2 partitions)"), "{summary}");
    let json = snapshot.to_json();
    assert!(
        json.contains(
            r#""groups":[{"kind":"work_pool","members":["pool/0","pool/1","pool/2"],"name":"pool""#
        ),
        "{json}"
    );
}
