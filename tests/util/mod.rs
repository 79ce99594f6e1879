//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use ringmaster::EventHandler;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A fresh, empty directory path under the system's temp dir, unique to
/// this process and call: `rm-<suite>-<tag>-<pid>-<n>`.
pub fn tempdir(suite: &str, tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let d = std::env::temp_dir().join(format!(
        "rm-{suite}-{tag}-{}-{}",
        std::process::id(),
        // Relaxed: a unique counter; nothing is published through it.
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A 16-byte test event: who produced it and its per-producer number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
pub struct Tagged {
    pub producer: u64,
    pub n: u64,
}

/// The `(sequence, event)` log a [`Recorder`] hands over at shutdown.
pub type SharedLog<E> = Arc<Mutex<Vec<(u64, E)>>>;

/// Records every event with its sequence; hands the log over at shutdown.
pub struct Recorder<E> {
    log: Vec<(u64, E)>,
    out: SharedLog<E>,
    /// Stages that must have processed an event before this one sees it.
    must_follow: Vec<Arc<AtomicU64>>,
    /// Published for downstream stages to check against.
    progress: Arc<AtomicU64>,
}

impl<E> Recorder<E> {
    pub fn new() -> (Self, SharedLog<E>, Arc<AtomicU64>) {
        let out = Arc::new(Mutex::new(Vec::new()));
        let progress = Arc::new(AtomicU64::new(0));
        (
            Self {
                log: Vec::new(),
                out: out.clone(),
                must_follow: Vec::new(),
                progress: progress.clone(),
            },
            out,
            progress,
        )
    }

    pub fn following(mut self, upstream: &[Arc<AtomicU64>]) -> Self {
        self.must_follow.extend(upstream.iter().cloned());
        self
    }
}

impl<E: Copy + Send + 'static> EventHandler<E> for Recorder<E> {
    fn on_event(&mut self, event: &E, sequence: u64, _end_of_batch: bool) {
        for up in &self.must_follow {
            // Relaxed is enough *if* the barrier orders us after upstream:
            // the point of the check.
            let seen = up.load(Ordering::Relaxed);
            assert!(
                seen > sequence,
                "saw sequence {sequence} before upstream ({seen})"
            );
        }
        self.log.push((sequence, *event));
        self.progress.store(sequence + 1, Ordering::Relaxed);
    }

    fn on_shutdown(&mut self) {
        *self.out.lock().unwrap() = std::mem::take(&mut self.log);
    }
}

/// Assert `log` holds sequences 0..n, each once, in order, with events
/// matching `expected(seq)`.
pub fn assert_exactly_once_in_order<E: PartialEq + std::fmt::Debug>(
    log: &[(u64, E)],
    n: u64,
    expected: impl Fn(u64) -> E,
) {
    assert_eq!(log.len() as u64, n, "event count");
    for (i, (seq, e)) in log.iter().enumerate() {
        assert_eq!(*seq, i as u64, "sequence order");
        assert_eq!(*e, expected(*seq), "event at {seq}");
    }
}

/// For several producers: each producer's events arrive exactly once and
/// in its own order; sequences are 0..total in order.
pub fn assert_per_producer_order(log: &[(u64, Tagged)], producers: u64, per_producer: u64) {
    assert_eq!(log.len() as u64, producers * per_producer, "event count");
    let mut next = vec![0u64; producers as usize];
    for (i, (seq, e)) in log.iter().enumerate() {
        assert_eq!(*seq, i as u64, "sequence order");
        let p = e.producer as usize;
        assert_eq!(e.n, next[p], "producer {p} order");
        next[p] += 1;
    }
    assert!(next.iter().all(|&n| n == per_producer));
}

/// The crash harness: re-run this test binary as a child that runs only
/// `child_test` with `env_var` set to `dir`; the child prints `ack N` for
/// each acknowledged write. Once it has acknowledged something, wait
/// `delay`, SIGKILL it, and return the last `N` it printed (None if it
/// never acknowledged within 30 s).
pub fn run_and_kill(
    child_test: &str,
    env_var: &str,
    dir: &std::path::Path,
    delay: std::time::Duration,
) -> Option<u64> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = Command::new(exe)
        .args(["--exact", child_test, "--nocapture", "--test-threads=1"])
        .env(env_var, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut last = None;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line
                .strip_prefix("ack ")
                .and_then(|n| n.parse::<u64>().ok())
            {
                if last.is_none() {
                    let _ = tx.send(());
                }
                last = Some(n);
            }
        }
        last
    });
    let _ = rx.recv_timeout(std::time::Duration::from_secs(30));
    std::thread::sleep(delay);
    child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
    child.wait().expect("reap");
    reader.join().expect("reader thread")
}

/// A xorshift step: cheap, deterministic randomness for kill moments.
pub fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
