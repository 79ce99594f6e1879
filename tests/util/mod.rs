//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

#[cfg(feature = "cli")]
pub mod nats;
pub mod server;
pub mod tools;

use ringmaster::EventHandler;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Print `message` where the test runner does not capture it (a skip must
/// be seen, never pass silently), prefixed with the suite's name.
pub fn say(suite: &str, message: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{suite}: {message}");
}

/// A directory for one test, removed with everything in it when the guard
/// is dropped: at the end of the test, and on its way out of a failed
/// one, so no test leaves files behind. It derefs to its `Path`.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A fresh, empty (not yet created) path under the system's temp dir,
    /// unique to this process and call: `rm-<suite>-<tag>-<pid>-<n>`.
    pub fn new(suite: &str, tag: &str) -> Self {
        Self::under(&std::env::temp_dir(), suite, tag)
    }

    /// The same under `base` (say `/dev/shm`).
    pub fn under(base: &std::path::Path, suite: &str, tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let d = base.join(format!(
            "rm-{suite}-{tag}-{}-{}",
            std::process::id(),
            // Relaxed: a unique counter; nothing is published through it.
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        Self(d)
    }

    /// The path.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for TempDir {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl From<&TempDir> for PathBuf {
    fn from(dir: &TempDir) -> PathBuf {
        dir.0.clone()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A [`TempDir`] under the system's temp dir.
pub fn tempdir(suite: &str, tag: &str) -> TempDir {
    TempDir::new(suite, tag)
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

/// Publish `0..n` until a publish fails (a halted graph), returning that
/// failure, or `Ok` if all went through.
pub fn publish_until_refused(
    producer: &mut ringmaster::SingleProducer<u64>,
    n: u64,
) -> Result<(), ringmaster::ClaimError> {
    (0..n).try_for_each(|i| producer.publish(i))
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

/// A copy of this test binary running only `child_test` with `env_var`
/// set to `dir`; it prints `ack N` for each acknowledged write, and
/// `acked` holds the last `N` read so far (`u64::MAX` before the first).
pub struct AckingChild {
    pub child: std::process::Child,
    pub acked: Arc<AtomicU64>,
    reader: std::thread::JoinHandle<()>,
}

impl AckingChild {
    pub fn spawn(child_test: &str, env_var: &str, dir: &std::path::Path) -> Self {
        Self::spawn_with(child_test, env_var, dir, &[])
    }

    /// As [`spawn`](Self::spawn), with more environment variables set.
    pub fn spawn_with(
        child_test: &str,
        env_var: &str,
        dir: &std::path::Path,
        env: &[(&str, &str)],
    ) -> Self {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let exe = std::env::current_exe().expect("test binary path");
        let mut child = Command::new(exe)
            .args([
                "--ignored",
                "--exact",
                child_test,
                "--nocapture",
                "--test-threads=1",
            ])
            .envs(env.iter().copied())
            .env(env_var, dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the child");
        let stdout = child.stdout.take().expect("piped stdout");
        let acked = Arc::new(AtomicU64::new(u64::MAX));
        let seen = Arc::clone(&acked);
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("ack ").and_then(|n| n.parse().ok()) {
                    // Release: the test thread acts on what it loads.
                    seen.store(n, Ordering::Release);
                }
            }
        });
        Self {
            child,
            acked,
            reader,
        }
    }

    /// The last acknowledged sequence read so far.
    pub fn acked(&self) -> Option<u64> {
        // Acquire: pairs with the reader's Release.
        Some(self.acked.load(Ordering::Acquire)).filter(|&n| n != u64::MAX)
    }

    /// Wait up to 30 s for a first acknowledgement.
    pub fn wait_for_first_ack(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.acked().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Wait for the child to exit on its own (up to `timeout`, then
    /// SIGKILL it), and return the last acknowledged sequence.
    pub fn wait_exit(mut self, timeout: std::time::Duration) -> Option<u64> {
        let deadline = std::time::Instant::now() + timeout;
        while self.child.try_wait().expect("poll the child").is_none() {
            if std::time::Instant::now() >= deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        self.child.wait().expect("reap");
        let last = self.acked;
        self.reader.join().expect("reader thread");
        // Acquire: pairs with the reader's Release (joined, so all read).
        Some(last.load(Ordering::Acquire)).filter(|&n| n != u64::MAX)
    }

    /// SIGKILL the child, reap it, read what it printed before it died,
    /// and return the last acknowledged sequence.
    pub fn kill(mut self) -> Option<u64> {
        self.child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
        self.child.wait().expect("reap");
        let last = self.acked;
        self.reader.join().expect("reader thread");
        // Acquire: pairs with the reader's Release (joined, so all read).
        Some(last.load(Ordering::Acquire)).filter(|&n| n != u64::MAX)
    }
}

/// The crash harness: run `child_test` as an [`AckingChild`]; once it has
/// acknowledged something, wait `delay`, SIGKILL it, and return the last
/// `N` it printed (None if it never acknowledged within 30 s).
pub fn run_and_kill(
    child_test: &str,
    env_var: &str,
    dir: &std::path::Path,
    delay: std::time::Duration,
) -> Option<u64> {
    let child = AckingChild::spawn(child_test, env_var, dir);
    child.wait_for_first_ack();
    std::thread::sleep(delay);
    child.kill()
}

/// The body of a journal crash child: publishes `value(seq)` through a
/// journal stage opened with `config`, and a stage after it prints
/// `ack N` at the end of each batch (journal sequence, so durable as the
/// config's policy says). Runs until killed.
pub fn journal_ack_child(config: &ringmaster::journal::JournalConfig, value: fn(u64) -> u64) {
    use ringmaster::journal::{JournalHandler, JournalWriter};
    use ringmaster::{handler_fn, GraphBuilder, RingConfig, WaitStrategy};
    use std::io::Write;
    let (w, recovered) = JournalWriter::open(config, 8).unwrap();
    let start = recovered.next_sequence;
    let mut b =
        GraphBuilder::<u64>::new(RingConfig::new(256).wait_strategy(WaitStrategy::Yielding));
    let j = b.handler("journal", JournalHandler::<u64>::new(w)).add();
    let mut out = std::io::stdout();
    b.handler(
        "ack",
        handler_fn(move |_: &u64, seq, eob| {
            if eob {
                // Journal sequence = start + ring sequence.
                let _ = writeln!(out, "ack {}", start + seq);
                let _ = out.flush();
            }
        }),
    )
    .after(&[j])
    .add();
    let (mut p, _graph) = b.build_single_producer().unwrap();
    let mut seq = start;
    loop {
        p.publish(value(seq)).unwrap();
        seq += 1;
    }
}

/// A xorshift step: cheap, deterministic randomness for kill moments.
pub fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The deterministic shop workload of the crash tests: command `k` (from
/// 0) works on product `n = (k / 2) % 5000 + 1`: an even `k` adds it
/// (refused if it exists), an odd one updates it, or deletes it one time
/// in seven. The catalog (and so each snapshot) stays under 5,000
/// products however long a campaign runs; refusals are deterministic, so
/// a model replaying the same commands agrees.
pub fn crash_command(k: u64) -> ringmaster::shop::Command {
    use ringmaster::shop::Command;
    let n = (k / 2) % 5000 + 1;
    if k.is_multiple_of(2) {
        Command::add(n, &format!("Crash Item {n}"), n as i64, (n % 7) as i64).unwrap()
    } else if (k / 2).is_multiple_of(7) {
        Command::delete(n).unwrap()
    } else {
        Command::update(n, Some((k * 3) as i64), None, None).unwrap()
    }
}

/// The body of a shop crash child: opens a `Sync` shop in `dir`
/// (snapshotting every 500 writes, so segments are released and
/// recycled as it goes), applies [`crash_command`]s from where its journal
/// ends, and prints `ack K` for each acknowledged one. Runs until killed.
pub fn shop_ack_child(config: ringmaster::shop::ShopConfig) {
    use ringmaster::journal::Durability;
    use ringmaster::shop::Shop;
    use std::io::Write;
    let shop = Shop::open(config.durability(Durability::Sync).snapshot_every(500)).unwrap();
    let start = shop.open_report().journal_end;
    let mut client = shop.client().unwrap();
    let mut out = std::io::stdout();
    for k in start.. {
        client.call(&crash_command(k)).unwrap();
        let _ = writeln!(out, "ack {k}");
        let _ = out.flush();
    }
}

/// Start `ringmaster serve` on a free loopback port with a small ring and
/// yielding stages (threads may outnumber cores here), data in `data`, and
/// `extra` arguments; returns the child and the address from its banner.
/// Its stderr is drained on a thread so it never blocks. The child is
/// killed when the guard drops, so a failing test leaves no server behind.
#[cfg(feature = "cli")]
pub fn serve_process(data: &std::path::Path, extra: &[&str]) -> (ChildGuard, String) {
    ringmaster_process("serve", data, extra)
}

/// As [`serve_process`], for the server subcommand `subcommand` (`serve`
/// or `standby`).
#[cfg(feature = "cli")]
pub fn ringmaster_process(
    subcommand: &str,
    data: &std::path::Path,
    extra: &[&str],
) -> (ChildGuard, String) {
    use std::io::{BufRead, Read};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ringmaster"))
        .args([
            subcommand,
            "--addr",
            "127.0.0.1:0",
            "--ring",
            "1024",
            "--wait",
            "yielding",
        ])
        .arg("--data")
        .arg(data)
        .args(extra)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn ringmaster serve");
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).expect("banner") > 0,
            "server exited early"
        );
        if let Some(rest) = line.split("serving the shop on ").nth(1) {
            break rest.split_whitespace().next().expect("address").to_owned();
        }
    };
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = stderr.read_to_string(&mut sink);
    });
    (ChildGuard(child), addr)
}

/// A child process killed (and reaped) when dropped.
#[derive(Debug)]
pub struct ChildGuard(pub std::process::Child);

impl std::ops::Deref for ChildGuard {
    type Target = std::process::Child;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
