//! What one timestamp costs: the engine's clock (`CLOCK_MONOTONIC` through
//! the vDSO, the same in every process) against `Instant::now` and
//! `SystemTime::now`. Per-stage latency stamps events with it, so its cost
//! decides how often they can be stamped.
//!
//! `cargo bench --bench clock`

use criterion::{criterion_group, criterion_main, Criterion};
use ringmaster::harness::event::now_ns;
use std::hint::black_box;
use std::time::{Instant, SystemTime};

fn clock(c: &mut Criterion) {
    let mut g = c.benchmark_group("clock read");
    g.bench_function("ringmaster now_ns (CLOCK_MONOTONIC)", |b| {
        b.iter(|| black_box(now_ns()))
    });
    g.bench_function("Instant::now", |b| b.iter(|| black_box(Instant::now())));
    g.bench_function("SystemTime::now", |b| {
        b.iter(|| black_box(SystemTime::now()))
    });
    g.finish();
}

criterion_group!(benches, clock);
criterion_main!(benches);
