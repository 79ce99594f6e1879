//! A batch is the unit of release: a stage's sequence moves past an event
//! only once the `on_batch_end` after it has returned `Ok`. A failed batch
//! (an error from `on_batch_end`, a panic in it, or a panic under
//! `PanicPolicy::Halt`) releases none of its events to the stages after
//! it, whatever the policy and whether the stage has a thread of its own.

mod util;

use ringmaster::{
    handler_fn, ClaimError, EventHandler, GraphBuilder, PanicPolicy, RingConfig, ShutdownError,
    StageError, StageId, WaitStrategy,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
enum Layout {
    Alone,
    Shared,
}

/// Collects a batch, "commits" it at the batch end (publishing how far it
/// committed), and fails the commit of any batch holding `fail_on`, or
/// panics on it in `on_event` when `panic_on_event`.
struct Committer {
    pending: Vec<u64>,
    fail_on: u64,
    panic_on_event: bool,
    committed: Arc<AtomicU64>,
}

#[derive(Debug)]
struct CommitFailed(u64);

impl std::fmt::Display for CommitFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "commit of event {} failed", self.0)
    }
}

impl std::error::Error for CommitFailed {}

impl EventHandler<u64> for Committer {
    fn on_event(&mut self, event: &u64, _seq: u64, _end_of_batch: bool) {
        if self.panic_on_event && *event == self.fail_on {
            panic!("boom on {event}");
        }
        self.pending.push(*event);
    }

    fn on_batch_end(&mut self) -> Result<(), StageError> {
        if !self.panic_on_event && self.pending.contains(&self.fail_on) {
            return Err(StageError::new(CommitFailed(self.fail_on)));
        }
        if let Some(&last) = self.pending.last() {
            // Release: pairs with the Acquire of the stage after it.
            self.committed.store(last + 1, Ordering::Release);
        }
        self.pending.clear();
        Ok(())
    }
}

struct Graph {
    producer: ringmaster::SingleProducer<u64>,
    graph: ringmaster::Graph<u64>,
    commit: StageId,
    seen: Arc<AtomicU64>,
    committed: Arc<AtomicU64>,
}

/// `commit` then `after` (which checks it only sees committed events and
/// counts them), on threads of their own or on one.
fn build(policy: PanicPolicy, layout: Layout, fail_on: u64, panic_on_event: bool) -> Graph {
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(64).wait_strategy(WaitStrategy::Blocking))
        .panic_policy(policy);
    let committed = Arc::new(AtomicU64::new(0));
    let commit = b
        .handler(
            "commit",
            Committer {
                pending: Vec::new(),
                fail_on,
                panic_on_event,
                committed: committed.clone(),
            },
        )
        .add();
    let seen = Arc::new(AtomicU64::new(0));
    let (s, c) = (seen.clone(), committed.clone());
    let after = b
        .handler(
            "after",
            handler_fn(move |e: &u64, _, _| {
                // Acquire: pairs with the committer's Release.
                let committed = c.load(Ordering::Acquire);
                // A skipped event (LogAndSkip) goes on uncommitted.
                let skipped = panic_on_event && *e == fail_on;
                assert!(
                    *e < committed || skipped,
                    "saw {e} with only {committed} committed"
                );
                s.fetch_add(1, Ordering::Relaxed);
            }),
        )
        .after(&[commit]);
    match layout {
        Layout::Alone => after.add(),
        Layout::Shared => after.same_thread_as(commit).add(),
    };
    let (producer, graph) = b.build_single_producer().unwrap();
    Graph {
        producer,
        graph,
        commit,
        seen,
        committed,
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Publish 0..5 as one batch and wait until the stage after has seen it,
/// then 5..10 as one batch (one cursor store: the stage gets it whole).
fn publish_two_batches(g: &mut Graph) {
    g.producer
        .publish_batch_with(5, |i, slot| *slot = i)
        .unwrap();
    wait_until("the first batch", || g.seen.load(Ordering::Relaxed) == 5);
    g.producer
        .publish_batch_with(5, |i, slot| *slot = 5 + i)
        .unwrap();
}

#[test]
fn a_failed_batch_end_releases_none_of_the_batch_under_either_policy() {
    for policy in [PanicPolicy::Halt, PanicPolicy::LogAndSkip] {
        for layout in [Layout::Alone, Layout::Shared] {
            let mut g = build(policy, layout, 7, false);
            publish_two_batches(&mut g);
            wait_until("the halt", || g.graph.ring().is_halted());
            assert_eq!(
                g.graph.sequence(g.commit),
                5,
                "{policy:?} {layout:?}: the stage's sequence stays at the failed batch's start"
            );
            assert_eq!(
                util::publish_until_refused(&mut g.producer, 1000),
                Err(ClaimError::Halted)
            );
            match g.graph.shutdown() {
                Err(ShutdownError::StageFailed {
                    stage,
                    sequence,
                    source,
                }) => {
                    assert_eq!((stage.as_str(), sequence), ("commit", 5));
                    assert_eq!(source.to_string(), "commit of event 7 failed");
                    assert!(source.downcast_ref::<CommitFailed>().is_some());
                }
                other => panic!("{policy:?} {layout:?}: {other:?}"),
            }
            assert_eq!(g.seen.load(Ordering::Relaxed), 5, "{policy:?} {layout:?}");
            assert_eq!(g.committed.load(Ordering::Relaxed), 5);
        }
    }
}

#[test]
fn a_panic_under_halt_releases_none_of_its_batch() {
    for layout in [Layout::Alone, Layout::Shared] {
        let mut g = build(PanicPolicy::Halt, layout, 7, true);
        publish_two_batches(&mut g);
        wait_until("the halt", || g.graph.ring().is_halted());
        // Events 5 and 6 were handled but their batch never ended.
        assert_eq!(g.graph.sequence(g.commit), 5, "{layout:?}");
        match g.graph.shutdown() {
            Err(ShutdownError::HandlerPanicked {
                stage, sequence, ..
            }) => assert_eq!((stage.as_str(), sequence), ("commit", 7)),
            other => panic!("{layout:?}: {other:?}"),
        }
        assert_eq!(g.seen.load(Ordering::Relaxed), 5);
    }
}

#[test]
fn log_and_skip_ends_the_batch_before_releasing_what_preceded_a_panic() {
    for layout in [Layout::Alone, Layout::Shared] {
        // `after` asserts it only sees committed events (and the skipped
        // one): 5 and 6 must be committed before the skip releases them.
        let mut g = build(PanicPolicy::LogAndSkip, layout, 7, true);
        publish_two_batches(&mut g);
        wait_until("the rest", || g.seen.load(Ordering::Relaxed) == 10);
        g.graph.shutdown().unwrap();
        assert_eq!(g.committed.load(Ordering::Relaxed), 10, "{layout:?}");
    }
}

/// A panic inside `on_batch_end` is a failed commit: the batch is not
/// released even under `LogAndSkip`.
#[test]
fn a_panic_in_batch_end_fails_the_batch_under_log_and_skip() {
    struct PanicsAtEnd(Arc<AtomicU64>);
    impl EventHandler<u64> for PanicsAtEnd {
        fn on_event(&mut self, e: &u64, _: u64, _: bool) {
            self.0.store(*e, Ordering::Relaxed);
        }
        fn on_batch_end(&mut self) -> Result<(), StageError> {
            if self.0.load(Ordering::Relaxed) >= 5 {
                panic!("commit exploded");
            }
            Ok(())
        }
    }
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(64).wait_strategy(WaitStrategy::Blocking))
        .panic_policy(PanicPolicy::LogAndSkip);
    let last = Arc::new(AtomicU64::new(0));
    let id = b.handler("ends", PanicsAtEnd(last)).add();
    let seen = Arc::new(AtomicU64::new(0));
    let s = seen.clone();
    b.handler(
        "after",
        handler_fn(move |_: &u64, _, _| {
            s.fetch_add(1, Ordering::Relaxed);
        }),
    )
    .after(&[id])
    .add();
    let (mut p, graph) = b.build_single_producer().unwrap();
    p.publish_batch_with(5, |i, slot| *slot = i).unwrap();
    wait_until("the first batch", || seen.load(Ordering::Relaxed) == 5);
    p.publish_batch_with(5, |i, slot| *slot = 5 + i).unwrap();
    wait_until("the halt", || graph.ring().is_halted());
    assert_eq!(graph.sequence(id), 5);
    match graph.shutdown() {
        Err(ShutdownError::HandlerPanicked {
            sequence, message, ..
        }) => {
            assert_eq!(sequence, 5);
            assert!(message.contains("on_batch_end"), "{message}");
            assert!(message.contains("commit exploded"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(seen.load(Ordering::Relaxed), 5);
}
