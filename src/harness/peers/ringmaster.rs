//! ringmaster in every shape.

use crate::harness::event::{now_ns, BenchEvent, Counter, Tally};
use crate::harness::params::{spin_until, Outcome, Params};
use crate::{EventHandler, GraphBuilder, PollState, RingConfig, StageId, WaitStrategy};
use std::hint::black_box;
use std::sync::Arc;

/// A final-stage handler that counts, sums and (optionally) measures.
pub(super) struct Sink {
    pub(super) counter: Counter,
    pub(super) tally: Arc<Tally>,
    pub(super) done: bool,
}

impl<E: BenchEvent> EventHandler<E> for Sink {
    #[inline(always)]
    fn on_event(&mut self, event: &E, _: u64, end_of_batch: bool) {
        if self.counter.on(event) {
            self.counter.finish(&self.tally);
            self.done = true;
        } else if end_of_batch {
            self.counter.report_progress();
        }
    }
    fn on_shutdown(&mut self) {
        if !self.done {
            self.counter.finish(&self.tally);
        }
    }
}

/// A middle stage: touches the event, nothing else.
struct Pass;

impl<E: BenchEvent> EventHandler<E> for Pass {
    #[inline(always)]
    fn on_event(&mut self, event: &E, _: u64, _: bool) {
        black_box(event.value());
    }
}

pub(super) fn config(p: &Params) -> RingConfig {
    RingConfig::new(p.capacity).wait_strategy(if p.spin {
        p.strategy
    } else {
        WaitStrategy::Yielding
    })
}

pub(super) fn sink(
    p: &Params,
    tally: &Arc<Tally>,
    expected: u64,
    latency: bool,
) -> (Sink, Arc<std::sync::atomic::AtomicU64>) {
    let counter = Counter::new(expected, latency, p.warmup).with_work(p.handler_work);
    let progress = counter.progress.clone();
    (
        Sink {
            counter,
            tally: tally.clone(),
            done: false,
        },
        progress,
    )
}

pub(super) fn add<E: BenchEvent, H: EventHandler<E>>(
    b: &mut GraphBuilder<E>,
    p: &Params,
    thread: usize,
    name: &str,
    h: H,
    after: &[StageId],
) -> StageId {
    let stage = b.handler(name, h).after(after);
    match p.core(thread) {
        Some(core) => stage.pin(core).add(),
        None => stage.add(),
    }
}

pub(super) fn finish<E: BenchEvent>(
    p: &Params,
    tally: &Tally,
    start: u64,
    progress: &[Arc<std::sync::atomic::AtomicU64>],
    graph: crate::Graph<E>,
) -> Result<Outcome, String> {
    let complete = tally.wait(p.stall, || {
        progress
            .iter()
            .map(|a| a.load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    });
    let mut metrics = graph.metrics_handle();
    graph.halt().map_err(|e| e.to_string())?;
    let (received, checksum) = tally.totals();
    let received = if complete {
        received
    } else {
        progress
            .iter()
            .map(|a| a.load(std::sync::atomic::Ordering::Relaxed))
            .sum()
    };
    Ok(tally_outcome(
        tally,
        start,
        received,
        checksum,
        final_batch_sizes(&mut metrics),
    ))
}

/// The outcome of a run whose final consumers reported to `tally`.
fn tally_outcome(
    tally: &Tally,
    start: u64,
    received: u64,
    checksum: u64,
    batch_sizes: Option<hdrhistogram::Histogram<u64>>,
) -> Outcome {
    Outcome {
        received,
        checksum,
        elapsed_ns: tally.end_ns().saturating_sub(start),
        batches: tally.batches(),
        histogram: tally.take_histogram(),
        batch_sizes,
    }
}

/// The last stage's batch-size histogram (the final consumer in the
/// shapes here; for a partitioned stage or work pool, all its members'),
/// when the ring is instrumented.
pub(super) fn final_batch_sizes(
    metrics: &mut crate::metrics::Metrics,
) -> Option<hdrhistogram::Histogram<u64>> {
    let snapshot = metrics.snapshot();
    let stage = match snapshot.groups.last() {
        Some(group) => &group.stage,
        None => snapshot.stages.last()?,
    };
    (!stage.cumulative.batch_sizes.is_empty()).then(|| stage.cumulative.batch_sizes.clone())
}

/// Shapes with one producer: `stages` lists each consumer's dependencies
/// (indices into the list); consumers no one depends on count events.
fn single<E: BenchEvent>(
    p: &Params,
    stages: &[&[usize]],
    latency: bool,
) -> Result<Outcome, String> {
    single_sampled::<E>(p, stages, latency, crate::DEFAULT_METRICS_SAMPLING)
}

/// [`single`] with the ring's metrics sampling interval chosen (0 = off).
fn single_sampled<E: BenchEvent>(
    p: &Params,
    stages: &[&[usize]],
    latency: bool,
    sampling: u64,
) -> Result<Outcome, String> {
    let finals: Vec<bool> = (0..stages.len())
        .map(|i| !stages.iter().any(|deps| deps.contains(&i)))
        .collect();
    let tally = Tally::new(finals.iter().filter(|f| **f).count() as u64);
    let mut b = GraphBuilder::<E>::new(config(p).metrics_sampling(sampling));
    let mut ids = Vec::new();
    let mut progress = Vec::new();
    for (i, deps) in stages.iter().enumerate() {
        let after: Vec<StageId> = deps.iter().map(|&d| ids[d]).collect();
        let name = format!("stage{i}");
        let id = if finals[i] {
            let (s, prog) = sink(p, &tally, p.events, latency);
            progress.push(prog);
            add(&mut b, p, i + 1, &name, s, &after)
        } else {
            add(&mut b, p, i + 1, &name, Pass, &after)
        };
        ids.push(id);
    }
    let (mut producer, graph) = b.build_single_producer().map_err(|e| e.to_string())?;
    p.pin(0);
    let start = now_ns();
    if latency {
        let mut publisher = producer.publisher();
        for i in 0..p.events {
            let at = p.intended_ns(start, i);
            spin_until(at);
            publisher
                .publish_with(|s| *s = E::new(i, p.send_stamp(at)))
                .map_err(|e| e.to_string())?;
        }
    } else if p.batch > 1 {
        let mut i = 0;
        while i < p.events {
            let n = p.batch.min(p.events - i);
            producer
                .publish_batch_with(n, |k, s| *s = E::new(i + k, 0))
                .map_err(|e| e.to_string())?;
            i += n;
        }
    } else {
        publish_each(&mut producer, p.events)?;
    }
    finish(p, &tally, start, &progress, graph)
}

/// 1P -> a partitioned stage of `p.partitions` partitions, each event's
/// key its value modulo [`PARTITION_KEYS`]: each partition counts (and
/// works on) its share.
pub fn partitioned<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    let n = p.partitions.max(1);
    let key = |e: &E| e.value() % PARTITION_KEYS;
    let mut shares = vec![0u64; n as usize];
    for i in 0..p.events {
        shares[crate::partition_of(i % PARTITION_KEYS, n) as usize] += 1;
    }
    let tally = Tally::new(u64::from(n));
    let mut b = GraphBuilder::<E>::new(config(p));
    let mut progress = Vec::new();
    let mut sinks = Vec::new();
    for &share in &shares {
        let (s, prog) = sink(p, &tally, share, false);
        progress.push(prog);
        sinks.push(Some(s));
    }
    let cores: Vec<usize> = (0..n as usize).filter_map(|i| p.core(i + 1)).collect();
    let mut stage = b.partitioned("part", n, key, |i| {
        sinks[i as usize].take().expect("one sink per partition")
    });
    if cores.len() == n as usize {
        stage = stage.pin(&cores);
    }
    stage.add();
    // A partition with no events has nothing to wait for.
    for (i, &share) in shares.iter().enumerate() {
        if share == 0 {
            tally.finish(0, 0, 0, None);
            progress[i].store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let (mut producer, graph) = b.build_single_producer().map_err(|e| e.to_string())?;
    p.pin(0);
    let start = now_ns();
    publish_each(&mut producer, p.events)?;
    finish(p, &tally, start, &progress, graph)
}

/// 1P -> a work pool of `p.partitions` workers: each event handled once,
/// by whichever worker claims it (no order), each counting and working on
/// its events.
pub fn work_pool<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    let n = p.partitions.max(1);
    let tally = Tally::new(u64::from(n));
    let mut b = GraphBuilder::<E>::new(config(p));
    let mut sinks = Vec::new();
    for _ in 0..n {
        // A worker's share is not known in advance: it counts until the
        // graph shuts down, then reports.
        let (s, _) = sink(p, &tally, u64::MAX, false);
        sinks.push(Some(s));
    }
    let cores: Vec<usize> = (0..n as usize).filter_map(|i| p.core(i + 1)).collect();
    let mut pool = b.work_pool("pool", n, |i| {
        sinks[i as usize].take().expect("one sink per worker")
    });
    if cores.len() == n as usize {
        pool = pool.pin(&cores);
    }
    pool.add();
    let (mut producer, graph) = b.build_single_producer().map_err(|e| e.to_string())?;
    p.pin(0);
    let start = now_ns();
    publish_each(&mut producer, p.events)?;
    // Drains (every event handled), then each worker reports.
    let mut metrics = graph.metrics_handle();
    graph.shutdown_timeout(p.stall).map_err(|e| e.to_string())?;
    let (received, checksum) = tally.totals();
    Ok(tally_outcome(
        &tally,
        start,
        received,
        checksum,
        final_batch_sizes(&mut metrics),
    ))
}

/// Publish events `0..events`, one publish each, through a
/// [`Publisher`](crate::Publisher): the loop owns the producer's state.
fn publish_each<E: BenchEvent>(
    producer: &mut crate::SingleProducer<E>,
    events: u64,
) -> Result<(), String> {
    let mut publisher = producer.publisher();
    for i in 0..events {
        publisher
            .publish_with(|s| *s = E::new(i, 0))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Keys in `partitioned`: events with equal values modulo this share a key
/// (and so a partition, in order).
pub const PARTITION_KEYS: u64 = 1024;

/// 1P-1C.
pub fn unicast<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    single::<E>(p, &[&[]], false)
}

/// 1P-1C with instrumentation off (`metrics_sampling(0)`).
pub fn unicast_uninstrumented<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    single_sampled::<E>(p, &[&[]], false, 0)
}

/// Paced latency with instrumentation off.
pub fn latency_uninstrumented<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    single_sampled::<E>(p, &[&[]], true, 0)
}

/// 1P-1C with every event's latency recorded (`metrics_sampling(1)`).
pub fn unicast_every_event<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    single_sampled::<E>(p, &[&[]], false, 1)
}

/// 1P -> a -> b -> c.
pub fn pipeline<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    single::<E>(p, &[&[], &[0], &[1]], false)
}

/// 1P -> (a, b, c), each sees every event.
pub fn multicast<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    single::<E>(p, &[&[], &[], &[]], false)
}

/// 1P -> (a, b) -> c.
pub fn diamond<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    single::<E>(p, &[&[], &[], &[0, 1]], false)
}

/// Paced one-way latency, 1P-1C.
pub fn latency<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    single::<E>(p, &[&[]], true)
}

/// 3P -> 1C with the multi-producer sequencer.
pub fn sequencer<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    let per = p.events / 3;
    let tally = Tally::new(1);
    let mut b = GraphBuilder::<E>::new(config(p));
    let (s, prog) = sink(p, &tally, per * 3, false);
    add(&mut b, p, 3, "sink", s, &[]);
    let (producer, graph) = b.build_multi_producer().map_err(|e| e.to_string())?;
    let start = now_ns();
    std::thread::scope(|scope| {
        for t in 0..3u64 {
            let mut producer = producer.clone();
            scope.spawn(move || {
                p.pin(t as usize);
                for i in 0..per {
                    if producer
                        .publish_with(|s| *s = E::new(t * per + i, 0))
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    finish(p, &tally, start, &[prog], graph)
}

/// Round trips between two threads over two rings.
pub fn pingpong<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    let mut ping_b = GraphBuilder::<E>::new(config(p));
    let ping_id = ping_b.poller("ping").add();
    let (mut ping_tx, mut ping_graph) =
        ping_b.build_single_producer().map_err(|e| e.to_string())?;
    let mut ping_rx = ping_graph.take_poller(ping_id).ok_or("poller")?;
    let mut pong_b = GraphBuilder::<E>::new(config(p));
    let pong_id = pong_b.poller("pong").add();
    let (mut pong_tx, mut pong_graph) =
        pong_b.build_single_producer().map_err(|e| e.to_string())?;
    let mut pong_rx = pong_graph.take_poller(pong_id).ok_or("poller")?;
    let n = p.events;
    let spin = p.spin;
    let echo = std::thread::spawn({
        let p = p.clone();
        move || {
            p.pin(1);
            let mut echoed = 0;
            while echoed < n {
                let state = ping_rx.poll(|e: &E, _, _| {
                    let _ = pong_tx.publish(*e);
                    echoed += 1;
                    true
                });
                if state != PollState::Processing {
                    pause(spin);
                }
            }
        }
    });
    let out = super::channels::round_trips(
        p,
        |e| ping_tx.publish(e).is_ok(),
        || loop {
            let mut got = None;
            // Take exactly one event: one round trip is in flight.
            pong_rx.poll(|e: &E, _, _| {
                got = Some(*e);
                false
            });
            if got.is_some() {
                return got;
            }
            pause(spin);
        },
    );
    echo.join().map_err(|_| "echo thread panicked")?;
    ping_graph.halt().map_err(|e| e.to_string())?;
    pong_graph.halt().map_err(|e| e.to_string())?;
    out
}

/// What every harness spin loop does between polls: a pause hint, or a
/// yield when threads outnumber cores.
#[inline(always)]
pub(crate) fn pause(spin: bool) {
    if spin {
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}
