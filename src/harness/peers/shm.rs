//! ringmaster across a process boundary: a producer process publishes into
//! a ring in `/dev/shm` that this process consumes, against the same shape
//! in one process (`ringmaster::latency` / `ringmaster::unicast`).
//!
//! The producer process is the `ringmaster` binary itself (`ringmaster
//! shm-producer`, hidden), found next to the running executable; where it
//! cannot be found (a test binary without it) the contender is left out.

use super::ringmaster::{add, config, finish, sink};
use crate::harness::event::{now_ns, BenchEvent, Event64, Tally};
use crate::harness::params::{spin_until, CoCorrection, Outcome, Params};
use crate::shm::{SharedOptions, SharedRing};
use crate::{RingConfig, WaitStrategy};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

/// The hidden subcommand that runs the producer side.
pub const PRODUCER_COMMAND: &str = "shm-producer";
/// Fingerprint of the benchmark's event type.
const FINGERPRINT: u64 = 0x4245_4e43_4836_3401;

/// The `ringmaster` binary: this executable when it is the binary, else
/// one in the directory above (test binaries live in `target/*/deps`).
pub fn ringmaster_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    if exe.file_stem().is_some_and(|s| s == "ringmaster") {
        return Some(exe);
    }
    let dir = exe.parent()?;
    [dir.join("ringmaster"), dir.parent()?.join("ringmaster")]
        .into_iter()
        .find(|p| p.is_file())
}

/// Paced one-way latency, producer process -> consumer process.
pub fn latency(p: &Params) -> Result<Outcome, String> {
    run(p, true)
}

/// 1P-1C throughput, producer process -> consumer process.
pub fn throughput(p: &Params) -> Result<Outcome, String> {
    run(p, false)
}

fn ring_config(p: &Params) -> RingConfig {
    config(p).fingerprint(FINGERPRINT)
}

fn run(p: &Params, latency: bool) -> Result<Outcome, String> {
    let binary = ringmaster_binary().ok_or("the ringmaster binary was not found")?;
    static RUN: AtomicU64 = AtomicU64::new(0);
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!(
        "ringmaster-bench-{}-{}",
        std::process::id(),
        // Relaxed: a unique counter.
        RUN.fetch_add(1, Ordering::Relaxed)
    ));
    let ring = SharedRing::<Event64>::create(&path, &ring_config(p), &SharedOptions::default())
        .map_err(|e| e.to_string())?;
    let result = consume(p, latency, &ring, &binary);
    let _ = ring.remove();
    result
}

fn consume(
    p: &Params,
    latency: bool,
    ring: &SharedRing<Event64>,
    binary: &std::path::Path,
) -> Result<Outcome, String> {
    let tally = Tally::new(1);
    let (s, progress) = sink(p, &tally, p.events, latency);
    let mut builder = ring.consumers();
    add(&mut builder, p, 1, "stage0", s, &[]);
    let graph = builder.build_consumers().map_err(|e| e.to_string())?;
    let strategy = match ring_config(p).strategy() {
        WaitStrategy::BusySpin => "busy-spin",
        WaitStrategy::Backoff => "backoff",
        _ => "yielding",
    };
    let mut child = Command::new(binary)
        .arg(PRODUCER_COMMAND)
        .arg(ring.path())
        .args([
            p.events.to_string(),
            if latency { p.rate } else { 0 }.to_string(),
            p.capacity.to_string(),
            strategy.to_owned(),
            p.core(0).map_or("-".to_owned(), |c| c.to_string()),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning {}: {e}", binary.display()))?;
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        let _ = graph.halt();
        return Err(format!("producer process exited with {status}: {out}"));
    }
    // The producer reports when it started publishing (same clock).
    let start = out
        .lines()
        .find_map(|l| l.strip_prefix("start "))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .ok_or_else(|| format!("producer process did not report its start: {out:?}"))?;
    finish(p, &tally, start, &[progress], graph)
}

/// The producer process: attach to `path`, publish `events` events (paced
/// at `rate` per second, or flat out when 0), print `start <ns>`.
///
/// # Errors
///
/// What went wrong, as text for the parent to report.
pub fn producer_main(
    path: &std::path::Path,
    events: u64,
    rate: u64,
    capacity: u64,
    strategy: WaitStrategy,
    core: Option<usize>,
) -> Result<(), String> {
    let config = RingConfig::new(capacity)
        .fingerprint(FINGERPRINT)
        .wait_strategy(strategy);
    let ring = SharedRing::<Event64>::attach(path, &config, &SharedOptions::default())
        .map_err(|e| e.to_string())?;
    let mut producer = ring.single_producer().map_err(|e| e.to_string())?;
    if let Some(core) = core {
        let _ = core_affinity::set_for_current(core_affinity::CoreId { id: core });
    }
    let start = now_ns();
    let params = Params {
        events,
        capacity,
        strategy,
        cores: Vec::new(),
        batch: 1,
        rate,
        warmup: 0,
        spin: true,
        stall: std::time::Duration::from_secs(10),
        // The producer process stamps intended times only.
        co: CoCorrection::IntendedTime,
        handler_work: 0,
        partitions: 1,
    };
    for i in 0..events {
        let stamp = if rate > 0 {
            let at = params.intended_ns(start, i);
            spin_until(at);
            at
        } else {
            0
        };
        producer
            .publish_with(|s| *s = Event64::new(i, stamp))
            .map_err(|e| e.to_string())?;
    }
    println!("start {start}");
    Ok(())
}
