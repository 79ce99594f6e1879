//! Criterion micro-benchmarks of the ring's hot paths, with
//! `crossbeam-channel` as the reference in the same run.
//!
//! ```text
//! cargo bench --bench ring
//! ```
//!
//! Each measurement times `iters` events end to end (first publish to last
//! event handled) across real threads, via `iter_custom`; building the
//! graph is outside the timed region. For side-by-side figures against
//! every peer with paired ratios, use `ringmaster bench` instead.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringmaster::{handler_fn, GraphBuilder, RingConfig, WaitStrategy};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const CAPACITY: u64 = 1 << 16;

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Event64 {
    value: u64,
    payload: [u64; 7],
}

fn event(i: u64) -> Event64 {
    Event64 {
        value: i,
        payload: [i; 7],
    }
}

/// Yielding keeps the benchmark honest when threads outnumber cores.
fn config() -> RingConfig {
    RingConfig::new(CAPACITY).wait_strategy(WaitStrategy::Yielding)
}

fn wait_for(counter: &AtomicU64, target: u64) {
    while counter.load(Ordering::Acquire) < target {
        thread::yield_now();
    }
}

fn ringmaster_unicast(iters: u64, batch: u64) -> Duration {
    let done = Arc::new(AtomicU64::new(0));
    let seen = done.clone();
    let mut b = GraphBuilder::<Event64>::new(config());
    b.handler(
        "sink",
        handler_fn(move |e: &Event64, _, eob| {
            black_box(e.value);
            if eob {
                seen.store(e.value + 1, Ordering::Release);
            }
        }),
    )
    .add();
    let (mut producer, graph) = b.build_single_producer().expect("graph");
    let start = Instant::now();
    let mut i = 0;
    while i < iters {
        let n = batch.min(iters - i);
        if n == 1 {
            producer.publish_with(|s| *s = event(i)).expect("publish");
        } else {
            producer
                .publish_batch_with(n, |k, s| *s = event(i + k))
                .expect("publish");
        }
        i += n;
    }
    wait_for(&done, iters);
    let elapsed = start.elapsed();
    graph.shutdown().expect("shutdown");
    elapsed
}

fn ringmaster_two_producers(iters: u64) -> Duration {
    let done = Arc::new(AtomicU64::new(0));
    let seen = done.clone();
    let mut count = 0u64;
    let mut b = GraphBuilder::<Event64>::new(config());
    b.handler(
        "sink",
        handler_fn(move |e: &Event64, _, eob| {
            black_box(e.value);
            count += 1;
            if eob {
                seen.store(count, Ordering::Release);
            }
        }),
    )
    .add();
    let (producer, graph) = b.build_multi_producer().expect("graph");
    let half = iters / 2;
    let start = Instant::now();
    thread::scope(|s| {
        for p in 0..2 {
            let mut producer = producer.clone();
            let n = if p == 0 { half } else { iters - half };
            s.spawn(move || {
                for i in 0..n {
                    producer.publish_with(|s| *s = event(i)).expect("publish");
                }
            });
        }
    });
    wait_for(&done, iters);
    let elapsed = start.elapsed();
    graph.shutdown().expect("shutdown");
    elapsed
}

fn crossbeam(iters: u64, producers: u64) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<Event64>(CAPACITY as usize);
    let consumer = thread::spawn(move || {
        for _ in 0..iters {
            black_box(rx.recv().expect("recv").value);
        }
    });
    let start = Instant::now();
    thread::scope(|s| {
        for p in 0..producers {
            let tx = tx.clone();
            let n = iters / producers + if p == 0 { iters % producers } else { 0 };
            s.spawn(move || {
                for i in 0..n {
                    tx.send(event(i)).expect("send");
                }
            });
        }
    });
    consumer.join().expect("consumer");
    start.elapsed()
}

fn unicast(c: &mut Criterion) {
    let mut g = c.benchmark_group("unicast_1p1c_64B");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function(BenchmarkId::new("ringmaster", "single"), |b| {
        b.iter_custom(|iters| ringmaster_unicast(iters, 1))
    });
    g.bench_function(BenchmarkId::new("ringmaster", "batch64"), |b| {
        b.iter_custom(|iters| ringmaster_unicast(iters, 64))
    });
    g.bench_function(BenchmarkId::new("crossbeam", "bounded"), |b| {
        b.iter_custom(|iters| crossbeam(iters, 1))
    });
    g.finish();
}

fn multi_producer(c: &mut Criterion) {
    let mut g = c.benchmark_group("sequencer_2p1c_64B");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(3));
    g.bench_function("ringmaster", |b| b.iter_custom(ringmaster_two_producers));
    g.bench_function("crossbeam", |b| b.iter_custom(|iters| crossbeam(iters, 2)));
    g.finish();
}

criterion_group!(benches, unicast, multi_producer);
criterion_main!(benches);
