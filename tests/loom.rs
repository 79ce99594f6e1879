//! Loom models of the lock-free protocols, through the public API: the
//! graph's handler threads are loom threads, its atomics loom atomics and
//! its slots loom `UnsafeCell`s (which flag any unsynchronised access).
//!
//! ```text
//! RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 \
//!     cargo test --release --test loom --target-dir target-loom
//! ```
//!
//! Models are tiny (a ring of 2 slots, at most capacity + 1 events): every
//! interleaving within the preemption bound is explored.
#![cfg(loom)]

use loom::sync::atomic::{AtomicU64, Ordering};
use ringmaster::{EventHandler, GraphBuilder, RingConfig, WaitStrategy};
use std::sync::{Arc, Mutex};

/// Records events; the log is handed over at shutdown.
struct Log {
    seen: Vec<(u64, u64)>,
    out: Seen,
    upstream: Option<Arc<AtomicU64>>,
    progress: Option<Arc<AtomicU64>>,
}

impl EventHandler<u64> for Log {
    fn on_event(&mut self, event: &u64, sequence: u64, _: bool) {
        if let Some(up) = &self.upstream {
            // Relaxed on purpose: only the barrier's Acquire/Release can
            // make the upstream stage's store visible here.
            assert!(
                up.load(Ordering::Relaxed) > sequence,
                "ran ahead of upstream"
            );
        }
        if let Some(p) = &self.progress {
            p.store(sequence + 1, Ordering::Relaxed);
        }
        self.seen.push((sequence, *event));
    }
    fn on_shutdown(&mut self) {
        *self.out.lock().unwrap() = std::mem::take(&mut self.seen);
    }
}

/// What a [`Log`] saw: `(sequence, event)` pairs, handed over at shutdown.
type Seen = Arc<Mutex<Vec<(u64, u64)>>>;

fn log() -> (Log, Seen) {
    let out = Arc::new(Mutex::new(Vec::new()));
    (
        Log {
            seen: Vec::new(),
            out: out.clone(),
            upstream: None,
            progress: None,
        },
        out,
    )
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    model_with_branches(1_000, f);
}

/// Three-thread models need more branches than loom's default.
fn model_with_branches(max_branches: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.max_branches = max_branches;
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(2);
    }
    builder.check(f);
}

fn single_producer_wraps(strategy: WaitStrategy) {
    model(move || {
        let mut b = GraphBuilder::<u64>::new(RingConfig::new(2).wait_strategy(strategy));
        let (h, out) = log();
        b.handler("h", h).add();
        let (mut producer, graph) = b.build_single_producer().unwrap();
        for i in 0..3 {
            producer.publish(10 + i).unwrap();
        }
        graph.shutdown().unwrap();
        assert_eq!(*out.lock().unwrap(), [(0, 10), (1, 11), (2, 12)]);
    });
}

#[test]
fn single_producer_claim_publish() {
    single_producer_wraps(WaitStrategy::Yielding);
}

/// Producer blocks on a full ring, consumer on an empty one: a lost
/// wake-up would deadlock, which loom reports.
#[test]
fn blocking_wake_up() {
    single_producer_wraps(WaitStrategy::Blocking);
}

#[test]
fn multi_producer_claim_publish() {
    model(|| {
        let mut b = GraphBuilder::<u64>::new(RingConfig::new(2));
        let (h, out) = log();
        b.handler("h", h).add();
        let (mut producer, graph) = b.build_multi_producer().unwrap();
        let mut other = producer.clone();
        let t = loom::thread::spawn(move || {
            other.publish(100).unwrap();
        });
        producer.publish(1).unwrap();
        producer.publish(2).unwrap();
        t.join().unwrap();
        graph.shutdown().unwrap();
        let seen = out.lock().unwrap().clone();
        let values: Vec<u64> = seen.iter().map(|&(_, v)| v).collect();
        assert_eq!(seen.iter().map(|&(s, _)| s).collect::<Vec<_>>(), [0, 1, 2]);
        let mine: Vec<u64> = values.iter().copied().filter(|&v| v < 100).collect();
        assert_eq!(mine, [1, 2], "per-producer order");
        assert!(values.contains(&100));
    });
}

/// A downstream stage sees an event only after its upstream processed it,
/// with the upstream's writes visible (the barrier's Acquire/Release).
#[test]
fn pipeline_barrier_orders_stages() {
    // Blocking: idle stages sleep instead of spinning, which keeps the
    // three-thread state space within reach.
    model_with_branches(20_000, || {
        let mut b =
            GraphBuilder::<u64>::new(RingConfig::new(2).wait_strategy(WaitStrategy::Blocking));
        let progress = Arc::new(AtomicU64::new(0));
        let (mut first, _) = log();
        first.progress = Some(progress.clone());
        let (mut second, out) = log();
        second.upstream = Some(progress);
        let a = b.handler("a", first).add();
        b.handler("b", second).after(&[a]).add();
        let (mut producer, graph) = b.build_single_producer().unwrap();
        producer.publish(7).unwrap();
        producer.publish(8).unwrap();
        graph.shutdown().unwrap();
        assert_eq!(*out.lock().unwrap(), [(0, 7), (1, 8)]);
    });
}

/// `try_publish` never overwrites an unconsumed slot, whatever the
/// consumer is doing.
#[test]
fn try_publish_respects_gating() {
    model(|| {
        let mut b = GraphBuilder::<u64>::new(RingConfig::new(2));
        let (h, out) = log();
        b.handler("h", h).add();
        let (mut producer, graph) = b.build_single_producer().unwrap();
        let mut published = Vec::new();
        for i in 0..3 {
            if producer.try_publish(i).is_ok() {
                published.push(i);
            }
        }
        assert!(published.len() >= 2);
        graph.shutdown().unwrap();
        let values: Vec<u64> = out.lock().unwrap().iter().map(|&(_, v)| v).collect();
        assert_eq!(values, published);
    });
}

/// What a stage that joined at some point saw: contiguous sequences from
/// where it started, each holding the value the producer put there
/// (`10 + seq`). A slot read while the producer may overwrite it is also a
/// loom error (its `UnsafeCell` tracks the accesses).
fn check_joined(seen: &[(u64, u64)], end: u64) {
    if let Some(&(first, _)) = seen.first() {
        for (i, &(seq, value)) in seen.iter().enumerate() {
            assert_eq!(seq, first + i as u64, "contiguous");
            assert_eq!(value, 10 + seq, "the value published at {seq}");
        }
        assert_eq!(
            first + seen.len() as u64,
            end,
            "ends where its sequence ends"
        );
    }
}

/// A graph with one logging stage on a ring of two slots, and a producer
/// thread publishing `10, 11, 12` into it.
fn publishing_into_two_slots() -> (ringmaster::Graph<u64>, Seen, loom::thread::JoinHandle<()>) {
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(2).wait_strategy(WaitStrategy::Blocking));
    let (h, out) = log();
    b.handler("h", h).add();
    let (mut producer, graph) = b.build_single_producer().unwrap();
    let t = loom::thread::spawn(move || {
        for i in 0..3 {
            producer.publish(10 + i).unwrap();
        }
    });
    (graph, out, t)
}

/// Poll once, then detach: what the poller saw, and its sequence.
fn poll_once_and_leave(
    graph: &mut ringmaster::Graph<u64>,
    mut poller: ringmaster::EventPoller<u64>,
) -> (Vec<(u64, u64)>, u64) {
    let mut seen = Vec::new();
    poller.poll(|e, seq, _| {
        seen.push((seq, *e));
        true
    });
    let end = graph.detach_poller(poller).unwrap();
    (seen, end)
}

/// A poller joins a ring of two slots while the producer publishes three
/// events, polls once and leaves: it never reads a slot the producer may
/// overwrite, and the producer, possibly waiting for it, is released (a
/// producer left gated is a deadlock loom reports).
#[test]
fn a_poller_joins_and_leaves_a_running_ring() {
    model_with_branches(20_000, || {
        let (mut graph, out, t) = publishing_into_two_slots();
        let poller = graph.attach_poller("tap").start().unwrap();
        let (seen, end) = poll_once_and_leave(&mut graph, poller);
        check_joined(&seen, end);
        t.join().unwrap();
        graph.shutdown().unwrap();
        assert_eq!(*out.lock().unwrap(), [(0, 10), (1, 11), (2, 12)]);
    });
}

/// A poller asks to start at sequence 0 while the producer runs: it gets
/// a typed error once 0 may be overwritten, and otherwise reads intact
/// events from 0 on.
#[test]
fn joining_at_an_old_sequence_is_safe_or_refused() {
    model_with_branches(20_000, || {
        let (mut graph, out, t) = publishing_into_two_slots();
        match graph.attach_poller("tap").from_sequence(0).start() {
            Ok(poller) => {
                let (seen, end) = poll_once_and_leave(&mut graph, poller);
                assert!(seen.first().is_none_or(|&(seq, _)| seq == 0));
                check_joined(&seen, end);
            }
            Err(ringmaster::AttachError::NotInRing { oldest, .. }) => assert!(oldest > 0),
            Err(other) => panic!("{other}"),
        }
        t.join().unwrap();
        graph.shutdown().unwrap();
        assert_eq!(out.lock().unwrap().len(), 3);
    });
}

/// A handler stage joins on its own thread and is detached while the
/// producer publishes: it hands back exactly what it handled, and the
/// producer finishes (the build-time poller is drained by this thread).
#[test]
fn a_handler_stage_joins_and_leaves() {
    model_with_branches(50_000, || {
        let mut b =
            GraphBuilder::<u64>::new(RingConfig::new(2).wait_strategy(WaitStrategy::Blocking));
        let id = b.poller("base").add();
        let (mut producer, mut graph) = b.build_single_producer().unwrap();
        let mut base = graph.take_poller(id).unwrap();
        let t = loom::thread::spawn(move || {
            for i in 0..3 {
                producer.publish(10 + i).unwrap();
            }
        });
        let (h, out) = log();
        let tap = graph.attach("tap", h).start().unwrap();
        let mut polled = 0;
        base.poll(|_, _, _| {
            polled += 1;
            true
        });
        let left = graph.detach(tap).unwrap();
        // `on_shutdown` ran: the log moved to `out`.
        assert!(left.handler.seen.is_empty());
        let seen = out.lock().unwrap().clone();
        assert_eq!(seen.len() as u64, left.end - left.start);
        check_joined(&seen, left.end);
        while polled < 3 {
            base.poll(|_, _, _| {
                polled += 1;
                true
            });
            loom::thread::yield_now();
        }
        t.join().unwrap();
        graph.shutdown().unwrap();
    });
}

/// A work pool of two workers on a ring of one slot: each event is
/// claimed and handled by exactly one worker, a worker reads only slots it
/// claimed and that were published, and the producer reuses a slot only
/// after its event was handled (loom's `UnsafeCell` tracking).
#[test]
fn work_pool_claims_each_event_once() {
    model_with_branches(50_000, || {
        let mut b =
            GraphBuilder::<u64>::new(RingConfig::new(1).wait_strategy(WaitStrategy::Blocking));
        let outs: Vec<Seen> = (0..2).map(|_| Arc::new(Mutex::new(Vec::new()))).collect();
        let handlers = outs.clone();
        b.work_pool("pool", 2, move |i| Log {
            seen: Vec::new(),
            out: handlers[i as usize].clone(),
            upstream: None,
            progress: None,
        })
        .max_claim(1)
        .add();
        let (mut producer, graph) = b.build_single_producer().unwrap();
        for i in 0..2 {
            producer.publish(10 + i).unwrap();
        }
        graph.shutdown().unwrap();
        let mut all: Vec<(u64, u64)> = outs
            .iter()
            .flat_map(|o| o.lock().unwrap().clone())
            .collect();
        all.sort_unstable();
        assert_eq!(all, [(0, 10), (1, 11)]);
    });
}

/// The wake handshake between the shop's responder and the server's event
/// loop: the loop's flag was raised by an earlier reply, and it clears the
/// flag and drains while the responder pushes one more reply and raises.
/// The reply must be drained by that pass or wake the loop again.
#[test]
fn a_reply_is_drained_or_wakes_the_loop() {
    use ringmaster::WakeFlag;
    model(|| {
        let flag = loom::sync::Arc::new(WakeFlag::default());
        assert!(flag.raise());
        let reply = loom::sync::Arc::new(AtomicU64::new(0));
        let responder = {
            let (flag, reply) = (flag.clone(), reply.clone());
            loom::thread::spawn(move || {
                // Relaxed: only the flag may carry the reply across.
                reply.store(1, Ordering::Relaxed);
                flag.raise()
            })
        };
        flag.clear();
        let drained = reply.load(Ordering::Relaxed) == 1;
        let woke = responder.join().unwrap();
        assert!(
            drained || woke,
            "a reply was neither drained nor woke the loop"
        );
    });
}

/// The same handshake with the loop clearing by a plain store, as a
/// counter-example: a store acquires nothing, so loom finds the reply
/// neither drained nor followed by a wake-up.
#[test]
#[should_panic(expected = "neither drained nor woke")]
fn clearing_with_a_store_can_lose_a_reply() {
    use loom::sync::atomic::AtomicBool;
    model(|| {
        let flag = loom::sync::Arc::new(AtomicBool::new(true));
        let reply = loom::sync::Arc::new(AtomicU64::new(0));
        let responder = {
            let (flag, reply) = (flag.clone(), reply.clone());
            loom::thread::spawn(move || {
                reply.store(1, Ordering::Relaxed);
                !flag.swap(true, Ordering::AcqRel)
            })
        };
        flag.store(false, Ordering::SeqCst);
        let drained = reply.load(Ordering::Relaxed) == 1;
        let woke = responder.join().unwrap();
        assert!(
            drained || woke,
            "a reply was neither drained nor woke the loop"
        );
    });
}
