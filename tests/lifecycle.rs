//! Shutdown drains, halt stops promptly, timeouts report what is pending,
//! and a panicking handler never leaves a producer blocked forever.

mod util;

use ringmaster::{
    handler_fn, ClaimError, EventHandler, GraphBuilder, PanicPolicy, RingConfig, ShutdownError,
    WaitStrategy,
};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;
use util::{publish_until_refused, Recorder};

struct Hooks {
    started: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    batches: Arc<AtomicU64>,
}

impl EventHandler<u64> for Hooks {
    fn on_event(&mut self, _: &u64, _: u64, _: bool) {
        assert!(self.started.load(Ordering::Relaxed));
    }
    fn on_batch_start(&mut self, size: u64) {
        assert!(size > 0);
        self.batches.fetch_add(1, Ordering::Relaxed);
    }
    fn on_start(&mut self) {
        self.started.store(true, Ordering::Relaxed);
    }
    fn on_shutdown(&mut self) {
        self.stopped.store(true, Ordering::Relaxed);
    }
}

#[test]
fn start_batch_and_shutdown_hooks_run() {
    let started = Arc::new(AtomicBool::new(false));
    let stopped = Arc::new(AtomicBool::new(false));
    let batches = Arc::new(AtomicU64::new(0));
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(64));
    b.handler(
        "hooks",
        Hooks {
            started: started.clone(),
            stopped: stopped.clone(),
            batches: batches.clone(),
        },
    )
    .add();
    let (mut p, graph) = b.build_single_producer().unwrap();
    for i in 0..1000 {
        p.publish(i).unwrap();
    }
    graph.shutdown().unwrap();
    assert!(started.load(Ordering::Relaxed) && stopped.load(Ordering::Relaxed));
    let batches = batches.load(Ordering::Relaxed);
    assert!((1..=1000).contains(&batches));
}

#[test]
fn shutdown_drains_a_slow_pipeline() {
    let mut b =
        GraphBuilder::<u64>::new(RingConfig::new(1024).wait_strategy(WaitStrategy::Blocking));
    let a = b
        .handler(
            "slow",
            handler_fn(|_: &u64, seq, _| {
                if seq % 100 == 0 {
                    thread::sleep(Duration::from_micros(200));
                }
            }),
        )
        .add();
    let (rec, log, _) = Recorder::new();
    b.handler("rec", rec).after(&[a]).add();
    let (mut p, graph) = b.build_single_producer().unwrap();
    for i in 0..1000 {
        p.publish(i).unwrap();
    }
    graph.shutdown().unwrap();
    assert_eq!(log.lock().unwrap().len(), 1000);
}

#[test]
fn halt_stops_without_draining() {
    // A small ring keeps batches small: `halt` lets the current batch
    // finish, and a batch may hold everything published so far.
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(16).wait_strategy(WaitStrategy::Blocking));
    let processed = Arc::new(AtomicU64::new(0));
    let seen = processed.clone();
    b.handler(
        "sleepy",
        handler_fn(move |_: &u64, _, _| {
            thread::sleep(Duration::from_millis(2));
            seen.fetch_add(1, Ordering::Relaxed);
        }),
    )
    .add();
    let (mut p, graph) = b.build_single_producer().unwrap();
    // The producer fills the ring and waits for room until it learns
    // about the halt.
    let publisher = thread::spawn(move || publish_until_refused(&mut p, 1000));
    while processed.load(Ordering::Relaxed) == 0 {
        thread::yield_now();
    }
    graph.halt().unwrap();
    // One batch (at most 16 events) finishes after the halt: far fewer
    // than 1000 at 2 ms each. The handler sleeps; no wall-clock assertion.
    assert!(processed.load(Ordering::Relaxed) < 1000);
    assert_eq!(publisher.join().unwrap(), Err(ClaimError::Halted));
}

#[test]
fn shutdown_timeout_reports_pending_events() {
    let release = Arc::new(AtomicBool::new(false));
    let gate = release.clone();
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(64).wait_strategy(WaitStrategy::Backoff));
    b.handler(
        "stuck",
        handler_fn(move |_: &u64, _, _| {
            while !gate.load(Ordering::Relaxed) {
                thread::sleep(Duration::from_millis(1));
            }
        }),
    )
    .add();
    let (mut p, graph) = b.build_single_producer().unwrap();
    for i in 0..10 {
        p.publish(i).unwrap();
    }
    let releaser = {
        let release = release.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(200));
            release.store(true, Ordering::Relaxed);
        })
    };
    match graph.shutdown_timeout(Duration::from_millis(20)) {
        Err(ShutdownError::Timeout { pending }) => assert!((1..=10).contains(&pending)),
        other => panic!("expected a timeout, got {other:?}"),
    }
    releaser.join().unwrap();
}

/// Where the panicking stage runs in the panic tests: alone on its
/// thread, or on one it shares with another stage (`same_thread_as`).
#[derive(Debug, Clone, Copy)]
enum Layout {
    Alone,
    Shared,
}

#[test]
fn a_panicking_handler_halts_the_graph_and_unblocks_the_producer() {
    for layout in [Layout::Alone, Layout::Shared] {
        let mut b =
            GraphBuilder::<u64>::new(RingConfig::new(8).wait_strategy(WaitStrategy::Blocking));
        let seen = Arc::new(AtomicU64::new(0));
        let s = seen.clone();
        // Shared: a stage before it, whose thread it joins.
        let before = matches!(layout, Layout::Shared).then(|| {
            b.handler(
                "counts",
                handler_fn(move |_: &u64, _, _| {
                    s.fetch_add(1, Ordering::Relaxed);
                }),
            )
            .add()
        });
        let boom = b.handler(
            "boom",
            handler_fn(|e: &u64, _, _| {
                if *e == 5 {
                    panic!("bad event {e}");
                }
            }),
        );
        match before {
            Some(first) => boom.after(&[first]).same_thread_as(first).add(),
            None => boom.add(),
        };
        let (mut p, graph) = b.build_single_producer().unwrap();
        // The producer would block forever once the ring fills; it must get
        // `Halted` instead.
        assert_eq!(
            publish_until_refused(&mut p, 100),
            Err(ClaimError::Halted),
            "{layout:?}"
        );
        assert!(graph.ring().is_halted());
        match graph.shutdown() {
            Err(ShutdownError::HandlerPanicked {
                stage,
                sequence,
                message,
            }) => {
                assert_eq!(stage, "boom", "{layout:?}");
                assert_eq!(sequence, 5);
                assert!(message.contains("bad event 5"), "{message}");
            }
            other => panic!("{layout:?}: expected the panic back, got {other:?}"),
        }
        if before.is_some() {
            // The stage before it was not held back by more than the ring.
            assert!(seen.load(Ordering::Relaxed) >= 6);
        }
    }
}

#[test]
fn log_and_skip_keeps_going_past_a_panic() {
    for layout in [Layout::Alone, Layout::Shared] {
        let mut b =
            GraphBuilder::<u64>::new(RingConfig::new(16)).panic_policy(PanicPolicy::LogAndSkip);
        let (sum, after) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (s, a) = (sum.clone(), after.clone());
        let flaky = b
            .handler(
                "flaky",
                handler_fn(move |e: &u64, _, _| {
                    if *e % 10 == 3 {
                        panic!("flaky on {e}");
                    }
                    s.fetch_add(*e, Ordering::Relaxed);
                }),
            )
            .add();
        if let Layout::Shared = layout {
            // A stage after it on its thread sees every event: only the
            // panicking stage skips one.
            b.handler(
                "steady",
                handler_fn(move |e: &u64, _, _| {
                    a.fetch_add(*e, Ordering::Relaxed);
                }),
            )
            .after(&[flaky])
            .same_thread_as(flaky)
            .add();
        }
        let (mut p, graph) = b.build_single_producer().unwrap();
        for i in 0..100 {
            p.publish(i).unwrap();
        }
        graph.shutdown().unwrap();
        let expected: u64 = (0..100).filter(|e| e % 10 != 3).sum();
        assert_eq!(sum.load(Ordering::Relaxed), expected, "{layout:?}");
        if let Layout::Shared = layout {
            assert_eq!(after.load(Ordering::Relaxed), (0..100).sum::<u64>());
        }
    }
}

#[test]
fn dropping_a_graph_stops_its_threads() {
    let stopped = Arc::new(AtomicBool::new(false));
    struct Flag(Arc<AtomicBool>);
    impl EventHandler<u64> for Flag {
        fn on_event(&mut self, _: &u64, _: u64, _: bool) {}
        fn on_shutdown(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(16).wait_strategy(WaitStrategy::Blocking));
    b.handler("flag", Flag(stopped.clone())).add();
    let (_p, graph) = b.build_single_producer().unwrap();
    drop(graph);
    assert!(stopped.load(Ordering::Relaxed));
}
