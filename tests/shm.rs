//! Shared-memory rings across real processes.
//!
//! The test binary re-runs itself as the other process: the test
//! `child_process` does nothing in a normal run, and plays the role named
//! by `RINGMASTER_SHM_ROLE` when a test here spawns it.

mod util;

use ringmaster::shm::{DeadConsumerPolicy, RingStat, SharedOptions, SharedRing, ShmError};
use ringmaster::{handler_fn, ClaimError, HeaderError, RingConfig, WaitStrategy};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ROLE: &str = "RINGMASTER_SHM_ROLE";
const FINGERPRINT: u64 = 0x5348_4d54_4553_5431;

/// A 32-byte event: who produced it, its per-producer number, and a
/// check word so a torn or foreign slot is caught.
#[derive(Debug, Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Msg {
    producer: u64,
    n: u64,
    check: u64,
    pad: u64,
}

impl Msg {
    fn new(producer: u64, n: u64) -> Self {
        Self {
            producer,
            n,
            check: Self::check_of(producer, n),
            pad: 0,
        }
    }

    fn check_of(producer: u64, n: u64) -> u64 {
        (producer << 48 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    fn is_intact(&self) -> bool {
        self.check == Self::check_of(self.producer, self.n)
    }
}

/// A fresh path for a ring file: `/dev/shm` where it exists.
fn ring_path(tag: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    // Relaxed: a unique counter.
    let n = N.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("rm-shm-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

fn config(capacity: u64) -> RingConfig {
    // Threads outnumber cores here: never spin without yielding.
    RingConfig::new(capacity)
        .fingerprint(FINGERPRINT)
        .wait_strategy(WaitStrategy::Yielding)
}

fn options(multi: bool) -> SharedOptions {
    SharedOptions::default()
        .multi_producer(multi)
        .liveness_timeout(Duration::from_millis(100))
}

/// This test binary, set to play `role` (space-separated words).
fn child_command(role: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("test binary path"));
    command
        .args([
            "--ignored",
            "--exact",
            "child_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role);
    command
}

/// Run this test binary as `role`.
fn spawn(role: &str) -> Child {
    child_command(role).spawn().expect("spawn child process")
}

fn wait_success(mut child: Child, what: &str) {
    let status = child.wait().expect("wait for child");
    assert!(status.success(), "{what} exited with {status}");
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The other process's roles.
#[test]
#[ignore = "a child process of the tests here, started by them"]
fn child_process() {
    let Ok(role) = std::env::var(ROLE) else {
        return; // a normal test run: nothing to play
    };
    let words: Vec<&str> = role.split(' ').collect();
    let path = Path::new(words[1]);
    let number = |i: usize| words[i].parse::<u64>().expect("numeric argument");
    match words[0] {
        // create-too-big PATH: a ring larger than the filesystem holding
        // it; prints the error create gave (a crash fails the parent).
        "create-too-big" => {
            match SharedRing::<Msg>::create(path, &config(1 << 20), &options(false)) {
                Ok(_) => println!("CREATED"),
                Err(e) => println!("ERROR {e:?}"),
            }
        }
        // produce PATH PRODUCER_ID COUNT MULTI
        "produce" => {
            let multi = words[4] == "multi";
            let ring = SharedRing::<Msg>::attach(path, &config(1024), &options(multi)).unwrap();
            ring.wait_for_consumers(1, Duration::from_secs(30)).unwrap();
            let (id, count) = (number(2), number(3));
            if multi {
                let mut producer = ring.multi_producer().unwrap();
                for n in 0..count {
                    producer.publish(Msg::new(id, n)).unwrap();
                }
            } else {
                let mut producer = ring.single_producer().unwrap();
                // Batches and single events both cross the boundary.
                let mut n = 0;
                while n < count {
                    let k = (count - n).min(1 + n % 7);
                    producer
                        .publish_batch_with(k, |i, slot| *slot = Msg::new(id, n + i))
                        .unwrap();
                    n += k;
                }
            }
        }
        // consume-slowly PATH CAPACITY: a consumer that takes a millisecond
        // per event until it is killed.
        "consume-slowly" => {
            let ring =
                SharedRing::<Msg>::attach(path, &config(number(2)), &options(false)).unwrap();
            let mut consumers = ring.consumers();
            consumers
                .handler(
                    "slow",
                    handler_fn(|_: &Msg, _, _| std::thread::sleep(Duration::from_millis(1))),
                )
                .add();
            let _graph = consumers.build_consumers().unwrap();
            std::thread::sleep(Duration::from_secs(120));
        }
        // claim-and-hang PATH COUNT: publish COUNT events as producer 1,
        // claim three more slots and never publish them.
        "claim-and-hang" => {
            let ring = SharedRing::<Msg>::attach(path, &config(1024), &options(true)).unwrap();
            ring.wait_for_consumers(1, Duration::from_secs(30)).unwrap();
            let mut producer = ring.multi_producer().unwrap();
            for n in 0..number(2) {
                producer.publish(Msg::new(1, n)).unwrap();
            }
            let claim = producer.claim(3).unwrap();
            std::thread::sleep(Duration::from_secs(120));
            drop(claim);
        }
        // create-and-exit PATH: leave a ring behind, as a crashed run does.
        "create-and-exit" => {
            let ring = SharedRing::<Msg>::create(path, &config(64), &options(false)).unwrap();
            std::mem::forget(ring);
            std::process::exit(0);
        }
        other => panic!("unknown role {other}"),
    }
}

/// Per-producer order and exactly-once checking, shared with the test.
#[derive(Default)]
struct Tally {
    next: Vec<u64>,
    total: u64,
    errors: Vec<String>,
}

impl Tally {
    /// No torn, foreign, lost or repeated event, and `total` in all.
    fn assert_clean(&self, total: u64) {
        assert!(
            self.errors.is_empty(),
            "{:?}",
            &self.errors[..self.errors.len().min(5)]
        );
        assert_eq!(self.total, total);
    }

    fn see(&mut self, m: &Msg) {
        self.total += 1;
        if !m.is_intact() {
            self.errors.push(format!("torn or foreign event {m:?}"));
            return;
        }
        let p = m.producer as usize;
        if self.next.len() <= p {
            self.next.resize(p + 1, 0);
        }
        if m.n != self.next[p] {
            self.errors.push(format!(
                "producer {p}: got {} expected {}",
                m.n, self.next[p]
            ));
        }
        self.next[p] = m.n + 1;
    }
}

/// A handler that feeds every event to `tally`.
fn tally_handler(tally: &Arc<Mutex<Tally>>) -> impl ringmaster::EventHandler<Msg> {
    let tally = tally.clone();
    handler_fn(move |m: &Msg, _, _| tally.lock().unwrap().see(m))
}

/// A one-stage consumer graph in this process that tallies every event.
fn tally_stage(ring: &SharedRing<Msg>) -> (Arc<Mutex<Tally>>, ringmaster::Graph<Msg>) {
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut consumers = ring.consumers();
    consumers.handler("tally", tally_handler(&tally)).add();
    (tally, consumers.build_consumers().unwrap())
}

/// What a stage that joined saw of producer 0's stream: contiguous, each
/// event intact and the one published at its sequence.
#[derive(Debug, Default)]
struct Joined {
    first: Option<u64>,
    count: u64,
    wrong: u64,
}

impl ringmaster::EventHandler<Msg> for Joined {
    fn on_event(&mut self, m: &Msg, seq: u64, _: bool) {
        let expected = self.first.map_or(seq, |f| f + self.count);
        if !m.is_intact() || m.n != seq || seq != expected {
            self.wrong += 1;
        }
        self.first.get_or_insert(seq);
        self.count += 1;
    }
}

/// Stages join and leave this process's graph while another process
/// publishes into the shared ring: each saw exactly the range it reports,
/// and the graph's first stage every event.
#[test]
fn stages_join_and_leave_while_a_producer_process_publishes() {
    const N: u64 = 400_000;
    let path = ring_path("attach");
    let ring = SharedRing::<Msg>::create(&path, &config(1024), &options(false)).unwrap();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let mut consumers = ring.consumers();
    let base = consumers.handler("tally", tally_handler(&tally)).add();
    let mut graph = consumers.build_consumers().unwrap();
    let mut child = spawn(&format!("produce {} 0 {N} single", path.display()));
    let mut rounds = 0u64;
    while child.try_wait().unwrap().is_none() || rounds < 4 {
        if rounds.is_multiple_of(2) {
            let tap = graph
                .attach(format!("tap{rounds}"), Joined::default())
                .after(&[base])
                .start()
                .unwrap();
            std::thread::sleep(Duration::from_millis(5));
            let left = graph.detach(tap).unwrap();
            assert_eq!(
                left.handler.wrong, 0,
                "torn, foreign or out-of-order events"
            );
            assert_eq!(left.handler.count, left.end - left.start);
        } else {
            let mut poller = graph
                .attach_poller(format!("poller{rounds}"))
                .start()
                .unwrap();
            let mut seen = Joined::default();
            for _ in 0..50 {
                poller.poll(|m, seq, _| {
                    ringmaster::EventHandler::on_event(&mut seen, m, seq, false);
                    true
                });
                std::thread::yield_now();
            }
            let end = graph.detach_poller(poller).unwrap();
            assert_eq!(seen.wrong, 0, "torn, foreign or out-of-order events");
            if let Some(first) = seen.first {
                assert_eq!(first + seen.count, end);
            }
        }
        rounds += 1;
    }
    wait_success(child, "producer process");
    graph.shutdown().unwrap();
    let tally = tally.lock().unwrap();
    tally.assert_clean(N);
    assert_eq!(ring.consumer_count(), 0, "every stage gave its slot back");
    ring.remove().unwrap();
    eprintln!("shm: {rounds} stages joined and left while {N} events crossed");
}

#[test]
fn events_from_a_producer_process_arrive_once_and_in_order() {
    const N: u64 = 200_000;
    let path = ring_path("unicast");
    let ring = SharedRing::<Msg>::create(&path, &config(1024), &options(false)).unwrap();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let after = Arc::new(AtomicU64::new(0));
    let mut consumers = ring.consumers();
    let first = consumers.handler("tally", tally_handler(&tally)).add();
    let a = after.clone();
    consumers
        .handler(
            "count",
            handler_fn(move |_: &Msg, _, _| {
                a.fetch_add(1, Ordering::Relaxed);
            }),
        )
        .after(&[first])
        .add();
    let graph = consumers.build_consumers().unwrap();

    let child = spawn(&format!("produce {} 0 {N} single", path.display()));
    wait_success(child, "producer process");
    graph.shutdown().unwrap();

    let tally = tally.lock().unwrap();
    tally.assert_clean(N);
    assert_eq!(tally.next, [N]);
    assert_eq!(after.load(Ordering::Relaxed), N);
    assert_eq!(ring.ring().cursor(), N);
    // The graph gave its slots back; the producer gave its slot back on exit.
    assert_eq!(ring.consumer_count(), 0);
    ring.remove().unwrap();
}

#[test]
fn two_producer_processes_share_a_multi_producer_ring() {
    const N: u64 = 50_000;
    let path = ring_path("multi");
    let ring = SharedRing::<Msg>::create(&path, &config(1024), &options(true)).unwrap();
    let (tally, graph) = tally_stage(&ring);

    let a = spawn(&format!("produce {} 1 {N} multi", path.display()));
    let b = spawn(&format!("produce {} 2 {N} multi", path.display()));
    wait_success(a, "producer 1");
    wait_success(b, "producer 2");
    graph.shutdown().unwrap();

    let tally = tally.lock().unwrap();
    tally.assert_clean(2 * N);
    assert_eq!(tally.next, [0, N, N]);
    ring.remove().unwrap();
}

/// Start a slow consumer process on a small ring and wait until it gates.
fn ring_with_slow_consumer(
    tag: &str,
    policy: DeadConsumerPolicy,
) -> (PathBuf, SharedRing<Msg>, Child) {
    let path = ring_path(tag);
    let ring =
        SharedRing::<Msg>::create(&path, &config(64), &options(false).on_dead_consumer(policy))
            .unwrap();
    let child = spawn(&format!("consume-slowly {} 64", path.display()));
    ring.wait_for_consumers(1, Duration::from_secs(30)).unwrap();
    (path, ring, child)
}

#[test]
fn a_killed_consumer_is_evicted_and_producers_carry_on() {
    let (path, ring, mut child) = ring_with_slow_consumer("evict", DeadConsumerPolicy::Evict);
    // A live consumer in this process sees every event throughout.
    let seen = Arc::new(AtomicU64::new(0));
    let s = seen.clone();
    let mut consumers = ring.consumers();
    consumers
        .handler(
            "live",
            handler_fn(move |_: &Msg, _, _| {
                s.fetch_add(1, Ordering::Relaxed);
            }),
        )
        .add();
    let graph = consumers.build_consumers().unwrap();
    assert_eq!(ring.consumer_count(), 2);

    let mut producer = ring.single_producer().unwrap();
    // The slow consumer holds the producer back: fill well past the ring.
    for n in 0..200 {
        producer.publish(Msg::new(0, n)).unwrap();
    }
    // Another process's view (no slot taken): both consumers, the slow
    // one alive and lagging, this process the producer.
    let stat = RingStat::read(&path).unwrap();
    assert_eq!(stat.consumers.len(), 2);
    let slow = stat
        .consumers
        .iter()
        .find(|c| c.owner.is_some_and(|o| o.pid == child.id()))
        .expect("the child's slot");
    assert!(slow.gating && slow.owner.unwrap().alive);
    assert_eq!(stat.producers[0].pid, std::process::id());
    assert!(stat.occupancy() > 0);

    child.kill().unwrap(); // SIGKILL; left unreaped (a zombie) on purpose
    wait_until(
        "the killed consumer to show as dead",
        Duration::from_secs(30),
        || {
            RingStat::read(&path)
                .unwrap()
                .consumers
                .iter()
                .any(|c| c.owner.is_some_and(|o| !o.alive))
        },
    );
    for n in 200..20_000 {
        producer.publish(Msg::new(0, n)).unwrap();
    }
    assert_eq!(ring.recovery_counts().1, 1, "one consumer evicted");
    assert_eq!(ring.consumer_count(), 1);
    assert_eq!(RingStat::read(&path).unwrap().evicted, 1);
    child.wait().unwrap();
    graph.shutdown().unwrap();
    assert_eq!(seen.load(Ordering::Relaxed), 20_000);
    ring.remove().unwrap();
}

#[test]
fn under_the_fail_policy_a_dead_consumer_is_reported() {
    let (_path, ring, mut child) = ring_with_slow_consumer("fail", DeadConsumerPolicy::Fail);
    let pid = child.id();
    let mut producer = ring.single_producer().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let mut outcome = Ok(());
    for n in 0..1000 {
        outcome = producer.publish(Msg::new(0, n));
        if outcome.is_err() {
            break;
        }
    }
    match outcome {
        Err(ClaimError::ConsumerDead { pid: dead, .. }) => assert_eq!(dead, pid),
        other => panic!("expected ConsumerDead, got {other:?}"),
    }
    assert_eq!(ring.consumer_count(), 1, "not evicted under Fail");
    ring.remove().unwrap();
}

/// A producer process dies between claim and publish; this process
/// publishes on. `register_first`: this process holds its producer slot
/// before the child starts (the consumer's own liveness check finds the
/// dead producer); otherwise it registers after the child was reaped and
/// takes over the dead producer's slot (the takeover records the death).
fn producer_killed_mid_claim(tag: &str, register_first: bool) {
    let path = ring_path(tag);
    let ring = SharedRing::<Msg>::create(&path, &config(1024), &options(true)).unwrap();
    let (tally, graph) = tally_stage(&ring);
    let mut early = register_first.then(|| ring.multi_producer().unwrap());

    let mut child = spawn(&format!("claim-and-hang {} 100", path.display()));
    wait_until("the child's claim", Duration::from_secs(60), || {
        ring.ring().cursor() == 103
    });
    child.kill().unwrap();
    if !register_first {
        child.wait().unwrap();
    }
    // This process publishes on while the consumer waits at the hole.
    let mut producer = early
        .take()
        .unwrap_or_else(|| ring.multi_producer().unwrap());
    for n in 0..500 {
        producer.publish(Msg::new(2, n)).unwrap();
    }
    wait_until("every live event", Duration::from_secs(60), || {
        tally.lock().unwrap().total == 600
    });
    let _ = child.wait();
    graph.shutdown().unwrap();
    let tally = tally.lock().unwrap();
    assert!(tally.errors.is_empty(), "{:?}", tally.errors);
    assert_eq!(tally.next, [0, 100, 500]);
    assert_eq!(ring.recovery_counts().0, 3, "the three abandoned claims");
    assert_eq!(RingStat::read(&path).unwrap().producer_deaths, 1);
    ring.remove().unwrap();
}

#[test]
fn a_producer_killed_mid_claim_does_not_wedge_consumers() {
    producer_killed_mid_claim("unblock", true);
}

#[test]
fn a_dead_producers_slot_taken_over_still_unblocks_its_claims() {
    producer_killed_mid_claim("takeover", false);
}

/// The same with a poller, which never waits: polls that keep finding the
/// hole make the liveness check themselves.
#[test]
fn a_poller_passes_over_a_dead_producers_claims() {
    let path = ring_path("poller");
    let ring = SharedRing::<Msg>::create(&path, &config(1024), &options(true)).unwrap();
    let mut consumers = ring.consumers();
    let id = consumers.poller("reader").add();
    let mut graph = consumers.build_consumers().unwrap();
    let mut poller = graph.take_poller(id).unwrap();
    let mut tally = Tally::default();
    let mut producer = ring.multi_producer().unwrap();

    let mut child = spawn(&format!("claim-and-hang {} 100", path.display()));
    wait_until("the child's claim", Duration::from_secs(60), || {
        ring.ring().cursor() == 103
    });
    child.kill().unwrap();
    for n in 0..500 {
        producer.publish(Msg::new(2, n)).unwrap();
    }
    wait_until("every live event", Duration::from_secs(60), || {
        poller.poll(|m, _, _| {
            tally.see(m);
            true
        });
        tally.total == 600
    });
    child.wait().unwrap();
    assert!(tally.errors.is_empty(), "{:?}", tally.errors);
    assert_eq!(tally.next, [0, 100, 500]);
    assert_eq!(ring.recovery_counts().0, 3);
    drop(poller);
    assert_eq!(
        ring.consumer_count(),
        0,
        "a dropped poller gives its slot back"
    );
    ring.remove().unwrap();
}

fn header_error(path: &Path) -> HeaderError {
    match SharedRing::<Msg>::attach(path, &config(64), &options(false)) {
        Err(ShmError::Header { source, .. }) => source,
        other => panic!("expected a header error, got {other:?}"),
    }
}

#[test]
fn every_mismatched_or_malformed_file_gets_its_typed_error() {
    let path = ring_path("mismatch");
    let ring = SharedRing::<Msg>::create(&path, &config(64), &options(false)).unwrap();
    let mismatch = |r: Result<(), ShmError>| match r {
        Err(ShmError::Mismatch {
            field,
            found,
            expected,
            ..
        }) => (field, found, expected),
        other => panic!("expected a mismatch, got {other:?}"),
    };
    let attach =
        |c: RingConfig, o: SharedOptions| SharedRing::<Msg>::attach(&path, &c, &o).map(drop);
    assert_eq!(
        mismatch(SharedRing::<[u64; 8]>::attach(&path, &config(64), &options(false)).map(drop)),
        ("event_size", 32, 64)
    );
    assert_eq!(
        mismatch(SharedRing::<[u8; 32]>::attach(&path, &config(64), &options(false)).map(drop)),
        ("event_align", 8, 1)
    );
    assert_eq!(
        mismatch(attach(config(64).fingerprint(9), options(false))),
        ("fingerprint", FINGERPRINT, 9)
    );
    assert_eq!(
        mismatch(attach(config(128), options(false))),
        ("capacity", 64, 128)
    );
    assert_eq!(
        mismatch(attach(config(64), options(true))),
        ("multi_producer", 0, 1)
    );
    assert!(matches!(
        attach(
            config(64).wait_strategy(WaitStrategy::Blocking),
            options(false)
        ),
        Err(ShmError::UnsupportedWaitStrategy { .. })
    ));
    assert!(matches!(
        SharedRing::<Msg>::create(
            ring_path("blocking"),
            &config(64).wait_strategy(WaitStrategy::Blocking),
            &options(false)
        ),
        Err(ShmError::UnsupportedWaitStrategy { .. })
    ));

    // Files that are not (whole) rings.
    let good = std::fs::read(&path).unwrap();
    let other = ring_path("malformed");
    let with = |bytes: &[u8]| std::fs::write(&other, bytes).unwrap();
    with(b"");
    assert_eq!(header_error(&other), HeaderError::Truncated { len: 0 });
    with(b"hello, I am a text file and not a ring at all.\n");
    assert!(matches!(
        header_error(&other),
        HeaderError::Truncated { .. }
    ));
    with(&[b'x'; 4096]);
    assert!(matches!(header_error(&other), HeaderError::BadMagic { .. }));
    let mut bytes = good.clone();
    bytes[8] = 9; // layout version
    with(&bytes);
    assert_eq!(
        header_error(&other),
        HeaderError::UnsupportedVersion { found: 9 }
    );
    let mut bytes = good.clone();
    bytes[24..32].copy_from_slice(&100u64.to_le_bytes()); // capacity
    with(&bytes);
    assert!(matches!(
        header_error(&other),
        HeaderError::BadField {
            field: "capacity",
            ..
        }
    ));
    with(&good[..4096]);
    assert!(matches!(
        SharedRing::<Msg>::attach(&other, &config(64), &options(false)),
        Err(ShmError::FileLength { file_len: 4096, .. })
    ));
    let mut padded = good.clone();
    padded.extend_from_slice(&[0; 4096]);
    with(&padded);
    assert!(matches!(
        SharedRing::<Msg>::attach(&other, &config(64), &options(false)),
        Err(ShmError::FileLength { .. })
    ));
    // A pseudo-random file of the right length.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let noise: Vec<u8> = (0..good.len())
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    with(&noise);
    assert!(matches!(header_error(&other), HeaderError::BadMagic { .. }));
    std::fs::remove_file(&other).unwrap();
    assert!(matches!(
        SharedRing::<Msg>::attach(&other, &config(64), &options(false)),
        Err(ShmError::NotFound { .. })
    ));
    ring.remove().unwrap();
}

#[test]
fn create_refuses_files_in_use_and_replaces_stale_ones_only_when_asked() {
    let path = ring_path("stale");
    let ring = SharedRing::<Msg>::create(&path, &config(64), &options(false)).unwrap();
    match SharedRing::<Msg>::create(&path, &config(64), &options(false).replace_stale(true)) {
        Err(ShmError::InUse { pid, .. }) => assert_eq!(pid, std::process::id()),
        other => panic!("expected InUse, got {other:?}"),
    }
    ring.remove().unwrap();

    // A run that crashed leaves its ring behind.
    let child = spawn(&format!("create-and-exit {}", path.display()));
    let pid = child.id();
    wait_success(child, "creator process");
    match SharedRing::<Msg>::create(&path, &config(64), &options(false)) {
        Err(ShmError::Stale { pid: dead, .. }) => assert_eq!(dead, pid),
        other => panic!("expected Stale, got {other:?}"),
    }
    let ring =
        SharedRing::<Msg>::create(&path, &config(64), &options(false).replace_stale(true)).unwrap();
    assert!(ring.is_creator());
    ring.remove().unwrap();

    // Anything else at the path is never replaced.
    std::fs::write(&path, b"precious data").unwrap();
    assert!(matches!(
        SharedRing::<Msg>::create(&path, &config(64), &options(false).replace_stale(true)),
        Err(ShmError::NotARing { .. })
    ));
    assert_eq!(std::fs::read(&path).unwrap(), b"precious data");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn producer_slots_are_exclusive_where_they_must_be() {
    let path = ring_path("producers");
    let ring = SharedRing::<Msg>::create(&path, &config(64), &options(false)).unwrap();
    let attached = SharedRing::<Msg>::attach(&path, &config(64), &options(false)).unwrap();
    let first = ring.single_producer().unwrap();
    assert!(matches!(
        attached.single_producer(),
        Err(ShmError::ProducerTaken { .. })
    ));
    assert!(matches!(
        attached.multi_producer(),
        Err(ShmError::WrongProducer { .. })
    ));
    drop(first);
    let _second = attached.single_producer().unwrap();
    ring.remove().unwrap();
    // Already attached processes keep working; new ones cannot attach.
    assert!(matches!(
        SharedRing::<Msg>::attach(&path, &config(64), &options(false)),
        Err(ShmError::NotFound { .. })
    ));
}

/// A ring file on a full filesystem: `create` says so with a typed error
/// (its space is allocated, not left sparse), instead of the creating
/// process dying of SIGBUS at the first store into a page the filesystem
/// cannot provide. Needs a 1 MiB tmpfs (root); reports itself skipped
/// where mounting is refused.
#[test]
fn a_ring_larger_than_its_filesystem_is_an_error_not_a_crash() {
    let dir = std::env::temp_dir().join(format!("rm-shm-tiny-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&dir)
        .output();
    match mounted {
        Ok(out) if out.status.success() => {}
        other => {
            let _ = std::fs::remove_dir(&dir);
            util::say(
                "a_ring_larger_than_its_filesystem",
                &format!("SKIPPED: cannot mount a tmpfs here ({other:?})"),
            );
            return;
        }
    }
    let path = dir.join("ring");
    // 2^20 slots of 32 bytes: a 32 MiB region on a 1 MiB filesystem.
    let child = child_command(&format!("create-too-big {}", path.display()))
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&child.stdout).into_owned();
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let _ = Command::new("umount").arg(&dir).status();
    let _ = std::fs::remove_dir(&dir);
    assert!(
        child.status.success(),
        "creating the ring killed the process ({}); stdout: {stdout}",
        child.status
    );
    assert!(
        stdout.contains("ERROR Io") && stdout.contains("No space left"),
        "expected an ENOSPC error from create, got: {stdout}"
    );
    assert!(
        leftovers.is_empty(),
        "create left files behind: {leftovers:?}"
    );
}
