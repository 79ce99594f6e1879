//! Stages that join and leave a running graph, through the public API:
//! exact counts and checksums per stage while a producer publishes flat
//! out, the typed errors, and the same calls on a shared-memory ring.

use ringmaster::shm::{SharedOptions, SharedRing};
use ringmaster::{
    handler_fn, AttachError, DetachError, EventHandler, GraphBuilder, Producer, RingConfig,
    Sequencer, StageId, TryClaimError, WaitStrategy,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The event published at `seq`: any stage can check what it read.
fn value(seq: u64) -> u64 {
    seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555
}

fn checksum(range: std::ops::Range<u64>) -> u64 {
    range.map(value).fold(0, u64::wrapping_add)
}

/// Counts, sums and checks what it sees: contiguous sequences, each
/// holding the value published there.
#[derive(Debug, Default)]
struct Tap {
    first: Option<u64>,
    next: Option<u64>,
    count: u64,
    sum: u64,
    wrong: u64,
}

impl Tap {
    fn see(&mut self, event: u64, seq: u64) {
        if self.next.is_some_and(|n| n != seq) || event != value(seq) {
            self.wrong += 1;
        }
        self.first.get_or_insert(seq);
        self.next = Some(seq + 1);
        self.count += 1;
        self.sum = self.sum.wrapping_add(event);
    }

    /// It saw exactly `start..end`, each event intact.
    fn check(&self, start: u64, end: u64, what: &str) {
        assert_eq!(self.wrong, 0, "{what}: torn, skipped or repeated events");
        assert_eq!(self.count, end - start, "{what}: count of {start}..{end}");
        assert_eq!(self.sum, checksum(start..end), "{what}: checksum");
        if self.count > 0 {
            assert_eq!(self.first, Some(start), "{what}: first sequence");
        }
    }
}

impl EventHandler<u64> for Tap {
    fn on_event(&mut self, event: &u64, sequence: u64, _: bool) {
        self.see(*event, sequence);
    }
}

/// A stage that shares its tally, for build-time stages (whose handlers
/// are not handed back).
fn shared_tap(tally: &Arc<std::sync::Mutex<Tap>>) -> impl EventHandler<u64> {
    let tally = Arc::clone(tally);
    handler_fn(move |e: &u64, seq, _| tally.lock().unwrap().see(*e, seq))
}

/// Publishes `value(seq)` flat out until `stop`; returns the count.
fn produce<S: Sequencer + Send + 'static>(
    mut producer: Producer<u64, S>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut seq = 0;
        // Relaxed: a stop request; the count is returned through join.
        while !stop.load(Ordering::Relaxed) {
            producer.publish(value(seq)).unwrap();
            seq += 1;
        }
        seq
    })
}

/// Yield until `done` or about 200 ms passed (progress is only waited for,
/// never asserted: the machine may be busy).
fn wait_a_little(done: impl Fn() -> bool) {
    let until = Instant::now() + Duration::from_millis(200);
    while !done() && Instant::now() < until {
        std::thread::yield_now();
    }
}

/// Joins and leaves, in every shape, while the producer publishes: each
/// stage that left saw exactly the events from its start to its end, the
/// build-time stages saw everything, and the producer was never stuck.
fn attach_and_detach_in_a_loop(
    graph: &mut ringmaster::Graph<u64>,
    base: StageId,
    rounds: u64,
) -> u64 {
    let mut checked = 0;
    for round in 0..rounds {
        match round % 4 {
            // A handler after the base stage, from the cursor.
            0 => {
                let tap = graph
                    .attach(format!("tap{round}"), Tap::default())
                    .after(&[base])
                    .start()
                    .unwrap();
                let target = tap.start() + 500;
                wait_a_little(|| graph.sequence(tap.id()) >= target);
                let left = graph.detach(tap).unwrap();
                left.handler.check(left.start, left.end, "after base");
                checked += left.end - left.start;
            }
            // A handler reading the producers directly, from a sequence
            // that may already be gone (then a consistent typed error).
            1 => {
                let from = graph.ring().min_consumer_sequence();
                match graph
                    .attach(format!("direct{round}"), Tap::default())
                    .from_sequence(from)
                    .max_batch(7)
                    .start()
                {
                    Ok(tap) => {
                        assert_eq!(tap.start(), from);
                        wait_a_little(|| graph.sequence(tap.id()) >= from + 500);
                        let left = graph.detach(tap).unwrap();
                        left.handler.check(left.start, left.end, "direct");
                        checked += left.end - left.start;
                    }
                    Err(AttachError::NotInRing {
                        from: asked,
                        oldest,
                        cursor,
                        ..
                    }) => assert!(asked < oldest && oldest <= cursor, "{asked} {oldest}"),
                    Err(other) => panic!("{other}"),
                }
            }
            // A chain: the first cannot leave before the second.
            2 => {
                let first = graph
                    .attach(format!("first{round}"), Tap::default())
                    .after(&[base])
                    .start()
                    .unwrap();
                let second = graph
                    .attach(format!("second{round}"), Tap::default())
                    .after(&[first.id()])
                    .start()
                    .unwrap();
                let target = second.start() + 200;
                wait_a_little(|| graph.sequence(second.id()) >= target);
                match graph.detach(first) {
                    Err(DetachError::HasDependents { dependents, .. }) => {
                        assert_eq!(dependents, [format!("second{round}")]);
                    }
                    other => panic!("detached a stage with dependents: {other:?}"),
                }
                let left = graph.detach(second).unwrap();
                left.handler.check(left.start, left.end, "second");
                let left_first = graph.detach(first).unwrap();
                left_first
                    .handler
                    .check(left_first.start, left_first.end, "first");
                assert!(
                    left_first.end >= left.end,
                    "upstream ahead of its dependent"
                );
                checked += left.end - left.start;
            }
            // A poller.
            _ => {
                let mut poller = graph
                    .attach_poller(format!("poller{round}"))
                    .after(&[base])
                    .start()
                    .unwrap();
                let mut tap = Tap::default();
                let mut start = None;
                let until = Instant::now() + Duration::from_millis(200);
                while tap.count < 500 && Instant::now() < until {
                    poller.poll(|e, seq, _| {
                        start.get_or_insert(seq);
                        tap.see(*e, seq);
                        true
                    });
                    std::thread::yield_now();
                }
                let end = graph.detach_poller(poller).unwrap();
                let start = start.unwrap_or(end);
                tap.check(start, end, "poller");
                checked += end - start;
            }
        }
    }
    checked
}

#[test]
fn stages_join_and_leave_while_a_producer_publishes_flat_out() {
    let mut builder =
        GraphBuilder::<u64>::new(RingConfig::new(256).wait_strategy(WaitStrategy::Yielding));
    let tally = Arc::new(std::sync::Mutex::new(Tap::default()));
    let base = builder.handler("base", shared_tap(&tally)).add();
    let (producer, mut graph) = builder.build_single_producer().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let publishing = produce(producer, stop.clone());

    let checked = attach_and_detach_in_a_loop(&mut graph, base, 40);

    stop.store(true, Ordering::Relaxed);
    let published = publishing.join().unwrap();
    graph.shutdown().unwrap();
    tally.lock().unwrap().check(0, published, "base");
    assert!(checked <= published);
    eprintln!("{published} published; the stages that came and went checked {checked}");
}

#[test]
fn several_producers_and_joining_stages() {
    let mut builder =
        GraphBuilder::<u64>::new(RingConfig::new(64).wait_strategy(WaitStrategy::Blocking));
    let total = Arc::new(AtomicU64::new(0));
    let t = total.clone();
    let base = builder
        .handler(
            "base",
            handler_fn(move |_: &u64, _, _| {
                t.fetch_add(1, Ordering::Relaxed);
            }),
        )
        .add();
    let (producer, mut graph) = builder.build_multi_producer().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let producers: Vec<_> = (0..3)
        .map(|_| {
            let (mut p, stop) = (producer.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    p.publish(7).unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    drop(producer);
    for round in 0..20 {
        let seen = Arc::new(AtomicU64::new(0));
        let s = seen.clone();
        let tap = graph
            .attach(
                format!("tap{round}"),
                handler_fn(move |e: &u64, _, _| {
                    assert_eq!(*e, 7);
                    s.fetch_add(1, Ordering::Relaxed);
                }),
            )
            .after(&[base])
            .start()
            .unwrap();
        wait_a_little(|| seen.load(Ordering::Relaxed) >= 300);
        let left = graph.detach(tap).unwrap();
        assert_eq!(seen.load(Ordering::Relaxed), left.end - left.start);
    }
    stop.store(true, Ordering::Relaxed);
    let published: u64 = producers.into_iter().map(|p| p.join().unwrap()).sum();
    graph.shutdown().unwrap();
    assert_eq!(total.load(Ordering::Relaxed), published);
}

#[test]
fn a_stage_that_left_gates_no_more_and_its_upstream_gates_instead() {
    // `slow` runs only when allowed; the poller after it is its only
    // dependent, so `slow` does not gate until the poller leaves.
    let mut builder =
        GraphBuilder::<u64>::new(RingConfig::new(8).wait_strategy(WaitStrategy::Yielding));
    let open = Arc::new(AtomicBool::new(false));
    let o = open.clone();
    let slow = builder
        .handler(
            "slow",
            handler_fn(move |_: &u64, _, _| {
                // Acquire/Relaxed is enough: a test gate.
                while !o.load(Ordering::Acquire) {
                    std::thread::yield_now();
                }
            }),
        )
        .add();
    let id = builder.poller("reader").after(&[slow]).add();
    let (mut producer, mut graph) = builder.build_single_producer().unwrap();
    let poller = graph.take_poller(id).unwrap();
    assert!(!graph.stages()[slow.index()].gating);
    assert_eq!(graph.detach_poller(poller).unwrap(), 0);
    assert!(graph.stages()[slow.index()].gating);
    assert!(graph.stages()[id.index()].detached);
    // `slow` holds its first event: the producer fills the 8 slots and no
    // more, whoever was there before.
    let mut accepted = 0;
    while producer.try_publish(accepted).is_ok() {
        accepted += 1;
    }
    assert_eq!(accepted, 8);
    assert!(matches!(producer.try_claim(1), Err(TryClaimError::Full)));
    open.store(true, Ordering::Release);
    graph.shutdown().unwrap();
}

#[test]
fn typed_errors() {
    let mut builder = GraphBuilder::<u64>::new(RingConfig::new(16));
    let base = builder
        .handler("base", handler_fn(|_: &u64, _, _| {}))
        .add();
    let (mut producer, mut graph) = builder.build_single_producer().unwrap();
    producer
        .publish_batch_with(10, |i, slot| *slot = i)
        .unwrap();
    while graph.sequence(base) < 10 {
        std::thread::yield_now();
    }
    // Only what no producer may overwrite yet is in the ring.
    match graph.attach_poller("old").from_sequence(3).start() {
        Err(AttachError::NotInRing {
            from: 3,
            oldest: 10,
            cursor: 10,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    match graph.attach_poller("future").from_sequence(11).start() {
        Err(AttachError::NotInRing { cursor: 10, .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        graph.attach("zero", Tap::default()).max_batch(0).start(),
        Err(AttachError::ZeroMaxBatch { .. })
    ));
    assert!(matches!(
        graph
            .attach("nowhere", Tap::default())
            .after(&[StageId::clone(&base), unknown_stage()])
            .start(),
        Err(AttachError::UnknownStage { .. })
    ));
    // A stage that left can be neither depended on nor detached again.
    let tap = graph.attach("tap", Tap::default()).start().unwrap();
    let copy = tap;
    graph.detach(tap).unwrap();
    assert!(matches!(
        graph.detach(copy),
        Err(DetachError::NotInGraph { .. })
    ));
    assert!(matches!(
        graph
            .attach("late", Tap::default())
            .after(&[copy.id()])
            .start(),
        Err(AttachError::DependencyDetached { .. })
    ));
    // Another graph's stage.
    let mut other = GraphBuilder::<u64>::new(RingConfig::new(16));
    other.handler("x", handler_fn(|_: &u64, _, _| {})).add();
    let (_other_producer, mut other_graph) = other.build_single_producer().unwrap();
    let foreign = other_graph
        .attach("foreign", Tap::default())
        .start()
        .unwrap();
    assert!(matches!(
        graph.detach(foreign),
        Err(DetachError::NotInGraph { .. })
    ));
    other_graph.detach(foreign).unwrap();
    other_graph.shutdown().unwrap();
    // Every slot taken.
    let mut taps = Vec::new();
    let error = loop {
        match graph
            .attach(format!("t{}", taps.len()), Tap::default())
            .start()
        {
            Ok(tap) => taps.push(tap),
            Err(error) => break error,
        }
    };
    assert!(matches!(error, AttachError::NoFreeSlot { .. }), "{error}");
    for tap in taps {
        graph.detach(tap).unwrap();
    }
    // Detached slots are free again; the graph's figures follow.
    let tap = graph.attach("again", Tap::default()).start().unwrap();
    let names: Vec<String> = graph.metrics().stages.into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["base", "again"]);
    graph.detach(tap).unwrap();
    graph.halt().unwrap();
}

/// An id no graph of this test has.
fn unknown_stage() -> StageId {
    let mut builder = GraphBuilder::<u64>::new(RingConfig::new(16));
    let mut last = None;
    for i in 0..40 {
        last = Some(builder.poller(format!("p{i}")).add());
    }
    last.unwrap()
}

#[test]
fn a_halted_graph_takes_no_new_stage() {
    let mut builder = GraphBuilder::<u64>::new(RingConfig::new(16));
    builder
        .handler(
            "boom",
            handler_fn(|_: &u64, _, _| panic!("boom, on purpose")),
        )
        .add();
    let (mut producer, mut graph) = builder.build_single_producer().unwrap();
    let _ = producer.publish(1);
    while !graph.ring().is_halted() {
        std::thread::yield_now();
    }
    assert!(matches!(
        graph.attach("late", Tap::default()).start(),
        Err(AttachError::Halted { .. })
    ));
    assert!(graph.halt().is_err());
}

fn ring_path(tag: &str) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("rm-attach-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn the_same_calls_on_a_shared_ring() {
    let path = ring_path("shared");
    let config = RingConfig::new(256).wait_strategy(WaitStrategy::Yielding);
    let ring = SharedRing::<u64>::create(&path, &config, &SharedOptions::default()).unwrap();
    let tally = Arc::new(std::sync::Mutex::new(Tap::default()));
    let mut consumers = ring.consumers();
    let base = consumers.handler("base", shared_tap(&tally)).add();
    let mut graph = consumers.build_consumers().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let publishing = produce(ring.single_producer().unwrap(), stop.clone());

    attach_and_detach_in_a_loop(&mut graph, base, 12);
    assert_eq!(ring.consumer_count(), 1, "only the base stage holds a slot");

    stop.store(true, Ordering::Relaxed);
    let published = publishing.join().unwrap();
    graph.shutdown().unwrap();
    tally.lock().unwrap().check(0, published, "base");
    assert_eq!(ring.consumer_count(), 0);
    ring.remove().unwrap();
}
