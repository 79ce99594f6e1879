//! Stages sharing one thread (`StageBuilder::same_thread_as`): one thread
//! running them (joined through another member too), a shared thread
//! between dedicated ones, typed errors for groupings that could lose a
//! wake-up, and halt running every stage's shutdown hook. Pipeline,
//! multicast and diamond on one thread, with one and several producers,
//! are in `graph_topologies.rs`; both panic policies on a shared thread in
//! `lifecycle.rs`.

mod util;

use ringmaster::{handler_fn, BuildError, EventHandler, GraphBuilder, RingConfig, WaitStrategy};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::thread;
use util::{assert_exactly_once_in_order, Recorder};

const N: u64 = 50_000;

fn strategies() -> [WaitStrategy; 3] {
    [
        WaitStrategy::Yielding,
        WaitStrategy::Blocking,
        WaitStrategy::Backoff,
    ]
}

/// Publish `0..N` in batches of 1 to 37 events.
fn publish_in_batches(producer: &mut ringmaster::SingleProducer<u64>) {
    let mut i = 0;
    while i < N {
        let k = (1 + i % 37).min(N - i);
        producer.publish_batch_with(k, |j, s| *s = i + j).unwrap();
        i += k;
    }
}

/// Records the names of the threads that ran it, besides its events.
struct ThreadNames<H> {
    inner: H,
    names: Arc<Mutex<BTreeSet<String>>>,
}

impl<H> ThreadNames<H> {
    fn new(inner: H, names: &Arc<Mutex<BTreeSet<String>>>) -> Self {
        Self {
            inner,
            names: Arc::clone(names),
        }
    }
}

impl<H: EventHandler<u64>> EventHandler<u64> for ThreadNames<H> {
    fn on_start(&mut self) {
        let name = thread::current().name().unwrap_or("?").to_owned();
        self.names.lock().unwrap().insert(name);
    }
    fn on_event(&mut self, event: &u64, sequence: u64, end_of_batch: bool) {
        self.inner.on_event(event, sequence, end_of_batch);
    }
    fn on_shutdown(&mut self) {
        let name = thread::current().name().unwrap_or("?").to_owned();
        self.names.lock().unwrap().insert(name);
        self.inner.on_shutdown();
    }
}

#[test]
fn a_diamond_on_one_thread() {
    for strategy in strategies() {
        let names = Arc::new(Mutex::new(BTreeSet::new()));
        let named = |inner| ThreadNames::new(inner, &names);
        let mut b = GraphBuilder::<u64>::new(RingConfig::new(256).wait_strategy(strategy));
        let (rj, lj, pj) = Recorder::new();
        let (ra, la, pa) = Recorder::new();
        let (rb, lb, pb) = Recorder::new();
        let (rc, lc, _) = Recorder::new();
        let j = b.handler("journal", named(rj)).add();
        let a = b
            .handler("a", named(ra.following(std::slice::from_ref(&pj))))
            .after(&[j])
            .same_thread_as(j)
            .add();
        let bb = b
            .handler("b", named(rb.following(&[pj])))
            .after(&[j])
            .same_thread_as(a)
            .add();
        b.handler("c", named(rc.following(&[pa, pb])))
            .after(&[a, bb])
            .same_thread_as(j)
            .add();
        let (mut producer, graph) = b.build_single_producer().unwrap();
        assert!(graph
            .stages()
            .iter()
            .all(|s| s.thread.as_deref() == Some("journal")));
        publish_in_batches(&mut producer);
        graph.shutdown().unwrap();
        for log in [lj, la, lb, lc] {
            assert_exactly_once_in_order(&log.lock().unwrap(), N, |s| s);
        }
        let names = names.lock().unwrap();
        assert_eq!(
            names.iter().collect::<Vec<_>>(),
            ["journal"],
            "{strategy:?}: every stage ran on the journal's thread"
        );
    }
}

#[test]
fn a_shared_thread_after_a_stage_of_its_own() {
    // first (own thread) -> (x, y on one thread) -> last (own thread):
    // the shared thread waits on another thread's stage, not the cursor.
    for strategy in strategies() {
        let mut b = GraphBuilder::<u64>::new(RingConfig::new(128).wait_strategy(strategy));
        let (rf, lf, pf) = Recorder::new();
        let (rx, lx, px) = Recorder::new();
        let (ry, ly, py) = Recorder::new();
        let (rl, ll, _) = Recorder::new();
        let f = b.handler("first", rf).add();
        let x = b
            .handler("x", rx.following(std::slice::from_ref(&pf)))
            .after(&[f])
            .add();
        let y = b
            .handler("y", ry.following(&[pf]))
            .after(&[f])
            .same_thread_as(x)
            .add();
        b.handler("last", rl.following(&[px, py]))
            .after(&[x, y])
            .add();
        let (mut producer, graph) = b.build_single_producer().unwrap();
        assert_eq!(
            graph.topology(),
            "producer -> first, first -> x, first -> y (on x's thread), x+y -> last [gating]"
        );
        publish_in_batches(&mut producer);
        graph.shutdown().unwrap();
        for log in [lf, lx, ly, ll] {
            assert_exactly_once_in_order(&log.lock().unwrap(), N, |s| s);
        }
    }
}

fn noop() -> impl EventHandler<u64> {
    handler_fn(|_: &u64, _, _| {})
}

#[test]
fn groupings_that_could_miss_a_wake_up_are_refused() {
    // y shares x's thread but waits on `other`, which x does not: when x
    // sleeps on the cursor, `other` finishing would not wake the thread.
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(16));
    let x = b.handler("x", noop()).add();
    let other = b.handler("other", noop()).add();
    b.handler("y", noop())
        .after(&[other])
        .same_thread_as(x)
        .add();
    match b.build_single_producer() {
        Err(BuildError::SharedThread { stage, thread, .. }) => {
            assert_eq!((stage.as_str(), thread.as_str()), ("y", "x"));
        }
        other => panic!("expected SharedThread, got {other:?}"),
    }

    // The other way round: the first stage waits on `other`, y on the
    // producers directly.
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(16));
    let other = b.handler("other", noop()).add();
    let x = b.handler("x", noop()).after(&[other]).add();
    b.handler("y", noop()).same_thread_as(x).add();
    let err = b.build_single_producer().unwrap_err();
    assert!(matches!(err, BuildError::SharedThread { .. }), "{err:?}");
    assert!(err.to_string().contains("stage `y`"), "{err}");

    // A poller's thread is the application's.
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(16));
    let poller = b.poller("p").add();
    b.handler("x", noop()).same_thread_as(poller).add();
    let err = b.build_single_producer().unwrap_err();
    assert!(err.to_string().contains("poller"), "{err}");

    // A stage not (yet) in the builder.
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(16));
    b.handler("x", noop()).add();
    let mut other = GraphBuilder::<u64>::new(RingConfig::new(16));
    other.handler("o1", noop()).add();
    let later = other.handler("o2", noop()).add();
    b.handler("y", noop()).same_thread_as(later).add();
    assert!(matches!(
        b.build_single_producer(),
        Err(BuildError::UnknownStage { dependency: 1, .. })
    ));
}

#[test]
fn stages_of_one_thread_pin_to_one_core() {
    let cores = core_affinity::get_core_ids().unwrap_or_default().len();
    if cores < 2 {
        eprintln!("skipped: needs two cores, this machine shows {cores}");
        return;
    }
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(16));
    let x = b.handler("x", noop()).pin(0).add();
    b.handler("y", noop()).same_thread_as(x).pin(1).add();
    match b.build_single_producer() {
        Err(BuildError::SharedThreadCores {
            stage,
            core,
            thread,
            thread_core,
        }) => assert_eq!(
            (stage.as_str(), core, thread.as_str(), thread_core),
            ("y", 1, "x", 0)
        ),
        other => panic!("expected SharedThreadCores, got {other:?}"),
    }
    // The same core, or a pin on one of them only, is fine.
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(16));
    let x = b.handler("x", noop()).add();
    b.handler("y", noop()).same_thread_as(x).pin(1).add();
    b.handler("z", noop()).same_thread_as(x).pin(1).add();
    let (mut p, graph) = b.build_single_producer().unwrap();
    p.publish(1).unwrap();
    graph.shutdown().unwrap();
}

#[test]
fn halt_stops_a_sleeping_shared_thread_and_runs_every_shutdown_hook() {
    for strategy in strategies() {
        let names = Arc::new(Mutex::new(BTreeSet::new()));
        let mut b = GraphBuilder::<u64>::new(RingConfig::new(16).wait_strategy(strategy));
        let (r1, l1, _) = Recorder::new();
        let (r2, l2, _) = Recorder::new();
        let x = b.handler("x", ThreadNames::new(r1, &names)).add();
        let y = b
            .handler("y", ThreadNames::new(r2, &names))
            .after(&[x])
            .same_thread_as(x)
            .add();
        let (mut p, graph) = b.build_single_producer().unwrap();
        for i in 0..10 {
            p.publish(i).unwrap();
        }
        // Let the thread catch up and go to sleep, then halt it.
        while graph.sequence(y) < 10 {
            thread::yield_now();
        }
        graph.halt().unwrap();
        // Both hooks ran (the logs are handed over in on_shutdown).
        assert_eq!(l1.lock().unwrap().len(), 10, "{strategy:?}");
        assert_eq!(l2.lock().unwrap().len(), 10, "{strategy:?}");
        assert_eq!(names.lock().unwrap().len(), 1);
    }
}
