//! Instrumentation through the public API: live snapshots agree with the
//! final totals, sampling records exactly the sampled sequences, lag,
//! producer waits, pollers, shared rings and the exports.
// Recording is the `metrics` feature (on by default); the bare library
// records nothing, which `RingConfig::metrics_sampling`'s doc test shows.
#![cfg(feature = "metrics")]

mod util;

use ringmaster::metrics::{Metrics, MetricsSnapshot, Reporter};
use ringmaster::shm::{SharedOptions, SharedRing};
use ringmaster::{handler_fn, GraphBuilder, NoopHandler, PollState, RingConfig, WaitStrategy};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn config(capacity: u64, sampling: u64) -> RingConfig {
    RingConfig::new(capacity)
        .wait_strategy(WaitStrategy::Yielding)
        .metrics_sampling(sampling)
}

/// Sampled sequences in `0..n`: the multiples of `every`.
fn sampled(n: u64, every: u64) -> u64 {
    n.div_ceil(every)
}

/// Sum of every interval a handle reported, per stage: latency samples,
/// batch-size samples, lag samples, events, batches.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Sums {
    latency: u64,
    batch_sizes: u64,
    lag: u64,
    events: u64,
    batches: u64,
}

fn add_intervals(sums: &mut [Sums], snapshot: &MetricsSnapshot) {
    for (sum, stage) in sums.iter_mut().zip(&snapshot.stages) {
        let i = &stage.interval;
        sum.latency += i.latency_ns.len();
        sum.batch_sizes += i.batch_sizes.len();
        sum.lag += i.lag.len();
        sum.events += i.events;
        sum.batches += i.batches;
    }
}

fn cumulative(snapshot: &MetricsSnapshot) -> Vec<Sums> {
    snapshot
        .stages
        .iter()
        .map(|s| {
            let c = &s.cumulative;
            Sums {
                latency: c.latency_ns.len(),
                batch_sizes: c.batch_sizes.len(),
                lag: c.lag.len(),
                events: c.events,
                batches: c.batches,
            }
        })
        .collect()
}

/// The must-show: a reader snapshotting from another thread while a
/// diamond runs flat out sees figures that only grow, never exceed what
/// was published, and whose intervals add up to the final totals (no
/// sample lost or counted twice).
#[test]
fn live_snapshots_agree_with_the_final_totals() {
    const N: u64 = 400_000;
    let mut builder = GraphBuilder::<u64>::new(config(1024, 1));
    let a = builder.handler("a", NoopHandler).add();
    let b = builder.handler("b", NoopHandler).add();
    builder.handler("c", NoopHandler).after(&[a, b]).add();
    let (mut producer, graph) = builder.build_single_producer().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let mut metrics = graph.metrics_handle();
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut sums = vec![Sums::default(); 3];
            let mut last = vec![Sums::default(); 3];
            let mut snapshots = 0u64;
            while !stop.load(Ordering::Acquire) {
                let snapshot = metrics.snapshot();
                add_intervals(&mut sums, &snapshot);
                let now = cumulative(&snapshot);
                for (stage, (now, before)) in now.iter().zip(&last).enumerate() {
                    assert!(now.events >= before.events, "stage {stage} went back");
                    assert!(now.latency >= before.latency, "stage {stage} went back");
                    assert!(now.events <= N && now.latency <= N);
                    // Each batch holds at least one sampled event
                    // (sampling 1), so one lag sample per batch.
                    assert_eq!(now.batch_sizes, now.batches);
                    assert_eq!(now.lag, now.batches);
                }
                last = now;
                snapshots += 1;
                std::thread::sleep(Duration::from_millis(3));
            }
            (metrics, sums, snapshots)
        })
    };
    for i in 0..N {
        producer.publish(i).unwrap();
    }
    graph.shutdown().unwrap();
    stop.store(true, Ordering::Release);
    let (mut metrics, mut sums, snapshots): (Metrics, Vec<Sums>, u64) = reader.join().unwrap();
    let last = metrics.snapshot();
    add_intervals(&mut sums, &last);
    assert!(snapshots > 1, "the reader ran while the stages did");
    let totals = cumulative(&last);
    assert_eq!(sums, totals, "intervals partition the totals");
    for (stage, total) in last.stages.iter().zip(&totals) {
        assert_eq!(total.events, N, "{}", stage.name);
        assert_eq!(total.latency, N, "{}: every event sampled", stage.name);
        assert_eq!(stage.sequence, N);
        assert_eq!(stage.lag, 0);
    }
    assert_eq!(last.cursor, N);
    assert_eq!(last.occupancy, 0);
}

#[test]
fn sampling_records_exactly_the_sampled_sequences() {
    for (every, n) in [(1u64, 1000u64), (16, 1000), (1024, 100_000), (4096, 10_000)] {
        let mut builder = GraphBuilder::<u64>::new(config(256, every));
        builder.handler("sink", NoopHandler).add();
        let (mut producer, graph) = builder.build_single_producer().unwrap();
        let mut metrics = graph.metrics_handle();
        // Batches of 7 cross sampled sequences at every offset.
        let events: Vec<u64> = (0..7).collect();
        let mut sent = 0;
        while sent + 7 <= n {
            producer.publish_batch(&events).unwrap();
            sent += 7;
        }
        while sent < n {
            producer.publish(sent).unwrap();
            sent += 1;
        }
        graph.shutdown().unwrap();
        let s = metrics.snapshot();
        assert_eq!(s.sampling, every);
        let stage = &s.stages[0].cumulative;
        assert_eq!(stage.events, n);
        assert_eq!(stage.latency_ns.len(), sampled(n, every), "every {every}");
        assert!(stage.lag.len() <= stage.batches);
        assert_eq!(stage.batch_sizes.len(), stage.batches);
    }
}

#[test]
fn sampling_zero_records_nothing() {
    let mut builder = GraphBuilder::<u64>::new(config(64, 0));
    builder.handler("sink", NoopHandler).add();
    let (mut producer, graph) = builder.build_single_producer().unwrap();
    let mut metrics = graph.metrics_handle();
    for i in 0..500 {
        producer.publish(i).unwrap();
    }
    graph.shutdown().unwrap();
    let s = metrics.snapshot();
    assert_eq!(s.sampling, 0);
    assert!(s.stages[0].cumulative.is_empty());
    assert_eq!(s.stages[0].sequence, 500, "the live sequence still counts");
    assert_eq!(graph_header_stamps(64, 0), 0);
}

fn graph_header_stamps(capacity: u64, every: u64) -> u32 {
    let mut builder = GraphBuilder::<u64>::new(config(capacity, every));
    builder.handler("sink", NoopHandler).add();
    let (_producer, graph) = builder.build_single_producer().unwrap();
    let stamp_every = graph.ring().header().stamp_every;
    graph.shutdown().unwrap();
    stamp_every
}

#[test]
fn several_producers_stamp_their_own_sequences() {
    const PER: u64 = 20_000;
    let mut builder = GraphBuilder::<u64>::new(config(512, 1));
    builder.handler("sink", NoopHandler).add();
    let (producer, graph) = builder.build_multi_producer().unwrap();
    let mut metrics = graph.metrics_handle();
    let threads: Vec<_> = (0..3)
        .map(|p| {
            let mut producer = producer.clone();
            std::thread::spawn(move || {
                for i in 0..PER {
                    if i % 5 == 0 {
                        producer.publish_batch(&[p, i]).unwrap();
                    } else {
                        producer.publish(p).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    drop(producer);
    graph.shutdown().unwrap();
    let stage = &metrics.snapshot().stages[0].cumulative;
    let total = 3 * (PER + PER / 5);
    assert_eq!(stage.events, total);
    assert_eq!(stage.latency_ns.len(), total);
}

/// A handler held back by a gate makes the producer wait for room; the
/// wait is recorded, the lag shows the backlog, and a poller stage is
/// measured like a handler.
#[test]
fn producer_waits_lag_and_pollers_are_recorded() {
    let gate = Arc::new(Mutex::new(()));
    let entered = Arc::new(AtomicBool::new(false));
    let held = gate.lock().unwrap();
    let mut builder = GraphBuilder::<u64>::new(config(8, 1));
    let slow = {
        let (gate, entered) = (Arc::clone(&gate), Arc::clone(&entered));
        builder
            .handler(
                "slow",
                handler_fn(move |_: &u64, _, _| {
                    entered.store(true, Ordering::Release);
                    drop(gate.lock().unwrap());
                }),
            )
            .add()
    };
    let poller = builder.poller("poller").after(&[slow]).add();
    let (mut producer, mut graph) = builder.build_single_producer().unwrap();
    let mut poller = graph.take_poller(poller).unwrap();
    // The stage takes event 0 alone as a batch and blocks in it; 7 more
    // fill the ring behind it, so that batch ends 7 events behind.
    producer.publish(0).unwrap();
    while !entered.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    for i in 1..8 {
        producer.publish(i).unwrap();
    }
    // The ring is full: the next publish waits until the gate opens.
    let publisher = std::thread::spawn(move || {
        for i in 8..64 {
            producer.publish(i).unwrap();
        }
        producer
    });
    std::thread::sleep(Duration::from_millis(20));
    drop(held);
    let mut polled = 0;
    while polled < 64 {
        if poller.poll(|_, _, _| {
            polled += 1;
            true
        }) == PollState::Idle
        {
            std::thread::yield_now();
        }
    }
    let producer = publisher.join().unwrap();
    let mut metrics = graph.metrics_handle();
    drop(producer);
    drop(poller);
    graph.shutdown().unwrap();
    let s = metrics.snapshot();
    assert!(
        !s.producer_waits_ns.is_empty(),
        "the producer waited for room"
    );
    let slow = &s.stages[0].cumulative;
    assert_eq!(slow.events, 64);
    assert!(
        slow.lag.max() >= 7,
        "the first batch ended 7 behind: {}",
        slow.lag.max()
    );
    let polled_stage = &s.stages[1];
    assert_eq!(polled_stage.name, "poller");
    assert_eq!(polled_stage.cumulative.events, 64);
    assert_eq!(polled_stage.cumulative.latency_ns.len(), 64);
}

/// Stamps live in the region, so a consumer attached through another
/// handle of a shared ring measures events published through the first.
#[test]
fn shared_rings_carry_the_stamps() {
    let path = std::env::temp_dir().join(format!("rm-metrics-shm-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let creator =
        SharedRing::<u64>::create(&path, &config(256, 4), &SharedOptions::default()).unwrap();
    // The attacher asks for another interval; the creator's applies.
    let attached =
        SharedRing::<u64>::attach(&path, &config(256, 1), &SharedOptions::default()).unwrap();
    let mut builder = attached.consumers();
    builder.handler("remote", NoopHandler).add();
    let graph = builder.build_consumers().unwrap();
    let mut metrics = graph.metrics_handle();
    let mut producer = creator.single_producer().unwrap();
    for i in 0..1000 {
        producer.publish(i).unwrap();
    }
    drop(producer);
    graph.shutdown().unwrap();
    let s = metrics.snapshot();
    assert_eq!(s.sampling, 4);
    assert_eq!(s.stages[0].cumulative.events, 1000);
    assert_eq!(s.stages[0].cumulative.latency_ns.len(), 250);
    drop(attached);
    creator.remove().unwrap();
}

#[test]
fn reporter_and_exports() {
    let mut builder = GraphBuilder::<u64>::new(config(1024, 1));
    builder.handler("journal \"main\"", NoopHandler).add();
    let (mut producer, graph) = builder.build_single_producer().unwrap();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&reports);
    let reporter = Reporter::spawn(graph.metrics_handle(), Duration::from_millis(5), move |s| {
        sink.lock().unwrap().push(s.clone());
    })
    .unwrap();
    for i in 0..10_000 {
        producer.publish(i).unwrap();
    }
    graph.shutdown().unwrap();
    reporter.stop();
    let reports = reports.lock().unwrap();
    let last = reports.last().unwrap();
    let reported: u64 = reports.iter().map(|s| s.stages[0].interval.events).sum();
    assert_eq!(
        reported, 10_000,
        "the reporter's intervals cover every event once"
    );
    assert_eq!(last.stages[0].cumulative.events, 10_000);

    let summary = last.summary();
    assert!(summary.starts_with("stage"), "{summary}");
    assert!(summary
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("journal \"main\""));

    let json: serde_json::Value = serde_json::from_str(&last.to_json()).unwrap();
    assert_eq!(json["schema"], "ringmaster-metrics/1");
    assert_eq!(json["stages"][0]["name"], "journal \"main\"");
    assert_eq!(json["stages"][0]["cumulative"]["events"], 10_000);
    assert_eq!(
        json["stages"][0]["cumulative"]["latency_ns"]["count"],
        10_000
    );
    assert!(
        json["stages"][0]["cumulative"]["latency_ns"]["p99"]
            .as_u64()
            .unwrap()
            > 0
    );

    let dir = util::tempdir("metrics", "export");
    let files = last.write_hgrm(&dir).unwrap();
    assert_eq!(files.len(), 1);
    assert!(files[0].ends_with("journal__main_.hgrm"));
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("Total count    =        10000"), "{text}");
    // The SVG plot is the `plot` feature's (the bare library has none).
    #[cfg(feature = "plot")]
    {
        let svg = dir.join("latency.svg");
        last.write_svg(&svg).unwrap();
        assert!(std::fs::read_to_string(&svg).unwrap().contains("journal"));
    }
}
