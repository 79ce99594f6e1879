//! A ring shared by two processes: run the consumer in one terminal and the
//! producer in another.
//!
//! ```sh
//! cargo run --release --example shm -- consume /dev/shm/ringmaster-demo
//! cargo run --release --example shm -- produce /dev/shm/ringmaster-demo 1000000
//! ```
//!
//! The consumer creates the ring (replacing one a crashed run left behind),
//! prints what arrives once a second, and exits after the producer's last
//! event, removing the file. The producer attaches by path, waits for the
//! consumer, and publishes timestamped events; the consumer reports the
//! one-way latency (both read `CLOCK_MONOTONIC`, which is the same clock in
//! every process).

use ringmaster::shm::{SharedOptions, SharedRing};
use ringmaster::{handler_fn, RingConfig, WaitStrategy};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The event both sides agree on; the fingerprint below names it.
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Tick {
    n: u64,
    sent_ns: u64,
    last: u64,
    pad: [u64; 5],
}

const TICK_V1: u64 = 0x5449_434b_0000_0001;

fn config() -> RingConfig {
    // Backoff: spins while busy, sleeps while idle; works across processes.
    RingConfig::new(1 << 16)
        .fingerprint(TICK_V1)
        .wait_strategy(WaitStrategy::Backoff)
}

fn now_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

fn consume(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let ring = SharedRing::<Tick>::create(
        path,
        &config(),
        &SharedOptions::default().replace_stale(true),
    )?;
    let received = Arc::new(AtomicU64::new(0));
    let latency_sum = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let (r, l, d) = (received.clone(), latency_sum.clone(), done.clone());
    let mut consumers = ring.consumers();
    consumers
        .handler(
            "print",
            handler_fn(move |t: &Tick, _seq, _eob| {
                // Relaxed: statistics read by the main thread once a second.
                r.fetch_add(1, Ordering::Relaxed);
                l.fetch_add(now_ns().saturating_sub(t.sent_ns), Ordering::Relaxed);
                if t.last != 0 {
                    d.store(true, Ordering::Release);
                }
            }),
        )
        .add();
    let graph = consumers.build_consumers()?;
    println!("consuming {path}; start the producer");
    let mut seen = 0;
    while !done.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_secs(1));
        let (n, sum) = (
            received.load(Ordering::Relaxed),
            latency_sum.swap(0, Ordering::Relaxed),
        );
        if n > seen {
            println!(
                "{n:>12} events  (+{}/s, mean one-way latency {} ns)",
                n - seen,
                sum / (n - seen)
            );
            seen = n;
        }
    }
    graph.shutdown()?;
    println!(
        "{} events received; removing {path}",
        received.load(Ordering::Relaxed)
    );
    ring.remove()?;
    Ok(())
}

fn produce(path: &str, count: u64) -> Result<(), Box<dyn std::error::Error>> {
    let ring = SharedRing::<Tick>::attach(path, &config(), &SharedOptions::default())?;
    ring.wait_for_consumers(1, Duration::from_secs(30))?;
    let mut producer = ring.single_producer()?;
    for n in 0..count {
        producer.publish_with(|slot| {
            *slot = Tick {
                n,
                sent_ns: now_ns(),
                last: u64::from(n + 1 == count),
                pad: [0; 5],
            }
        })?;
    }
    println!("published {count} events into {path}");
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .get(1)
        .map_or("/dev/shm/ringmaster-demo", String::as_str);
    match args.first().map(String::as_str) {
        Some("consume") => consume(path),
        Some("produce") => produce(path, args.get(2).map_or(Ok(1_000_000), |s| s.parse())?),
        _ => {
            eprintln!("usage: shm consume|produce [PATH] [COUNT]");
            std::process::exit(2);
        }
    }
}
