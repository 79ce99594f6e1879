//! Fault injection: each file operation of the journal failing, through
//! its `IoHook`, as the operating system would fail it (EIO on a sync,
//! ENOSPC on an allocation, a failed create, rename or directory sync).
//! Every failure comes back as a typed error, never as an
//! acknowledgement for a record that was not committed; the journal (and
//! the shop on it) reopens at exactly what was acknowledged.

mod util;

use ringmaster::journal::{
    Durability, FileOp, FileOpInfo, IoHook, JournalConfig, JournalError, JournalHandler,
    JournalReader, JournalWriter, RecoveryMode,
};
use ringmaster::shop::{Catalog, Command, Shop, ShopConfig, ShopError};
use ringmaster::{
    handler_fn, GraphBuilder, PanicPolicy, RingConfig, ShutdownError, StageError, WaitStrategy,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const EIO: i32 = 5;
const ENOSPC: i32 = 28;

/// Fails operations of one kind once armed: the first `skip` after arming
/// pass, every later one fails with `errno`. Counts and records them.
#[derive(Debug)]
struct Faults {
    op: FileOp,
    errno: i32,
    armed: AtomicBool,
    skip: AtomicU64,
    failed: AtomicU64,
    seen: Mutex<Vec<(FileOp, PathBuf)>>,
}

impl Faults {
    fn new(op: FileOp, errno: i32) -> Arc<Self> {
        Arc::new(Self {
            op,
            errno,
            armed: AtomicBool::new(false),
            skip: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            seen: Mutex::new(Vec::new()),
        })
    }

    /// From now on, fail the operation after `skip` more pass.
    fn arm(&self, skip: u64) {
        self.skip.store(skip, Ordering::SeqCst);
        self.armed.store(true, Ordering::SeqCst);
    }

    fn failed(&self) -> u64 {
        self.failed.load(Ordering::SeqCst)
    }
}

impl IoHook for Faults {
    fn before(&self, op: &FileOpInfo<'_>) -> std::io::Result<()> {
        self.seen.lock().unwrap().push((op.op, op.path.to_owned()));
        if op.op != self.op || !self.armed.load(Ordering::SeqCst) {
            return Ok(());
        }
        if self
            .skip
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Ok(());
        }
        self.failed.fetch_add(1, Ordering::SeqCst);
        Err(std::io::Error::from_raw_os_error(self.errno))
    }
}

fn tempdir(tag: &str) -> util::TempDir {
    util::tempdir("faults", tag)
}

fn value(seq: u64) -> u64 {
    seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xFA17
}

/// 8 KiB segments (168 records of 8-byte events): rolls come quickly.
fn config(dir: &Path, durability: Durability, hook: Arc<Faults>) -> JournalConfig {
    JournalConfig::new(dir)
        .segment_size(8192)
        .durability(durability)
        .io_hook(hook)
}

/// Reopen without faults: the records there, which must be `value(seq)`.
fn recovered(dir: &Path) -> u64 {
    let (w, report) = JournalWriter::open(&JournalConfig::new(dir).segment_size(8192), 8)
        .unwrap_or_else(|e| panic!("reopen after the fault: {e}"));
    w.close().unwrap();
    let mut r = JournalReader::open(dir, 0).unwrap();
    for expect in 0..report.next_sequence {
        let (seq, v) = r.next_event::<u64>().unwrap().expect("contiguous");
        assert_eq!((seq, v), (expect, value(expect)));
    }
    assert!(r.next_event::<u64>().unwrap().is_none());
    report.next_sequence
}

fn io_errno(e: &JournalError) -> Option<i32> {
    match e {
        JournalError::Io { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

#[test]
fn a_failed_sync_fails_the_commit_and_reopening_drops_the_batch() {
    let dir = tempdir("sync");
    let faults = Faults::new(FileOp::Sync, EIO);
    let (mut w, _) =
        JournalWriter::open(&config(&dir, Durability::Sync, faults.clone()), 8).unwrap();
    for _ in 0..50 {
        let seq = w.next_sequence();
        w.append(&value(seq).to_le_bytes()).unwrap();
    }
    w.commit().unwrap();
    faults.arm(0);
    for _ in 0..30 {
        let seq = w.next_sequence();
        w.append(&value(seq).to_le_bytes()).unwrap();
    }
    let e = w.commit().expect_err("the sync failed");
    assert_eq!(io_errno(&e), Some(EIO), "{e}");
    // Poisoned: nothing more is accepted.
    assert!(matches!(
        w.append(&0u64.to_le_bytes()),
        Err(JournalError::Poisoned { .. })
    ));
    assert!(matches!(w.commit(), Err(JournalError::Poisoned { .. })));
    assert!(matches!(w.close(), Err(JournalError::Poisoned { .. })));
    // The unsynced batch was unsealed: exactly the acknowledged 50 come back.
    assert_eq!(recovered(&dir), 50);
}

/// The journal stage, then an "ack" stage counting what it sees, with
/// `faults` armed after `arm_after` acknowledged events.
fn through_the_graph(
    durability: Durability,
    faults: Arc<Faults>,
    policy: PanicPolicy,
    arm_after: u64,
    tag: &str,
) -> (ShutdownError, u64, util::TempDir) {
    let dir = tempdir(tag);
    let (w, _) = JournalWriter::open(&config(&dir, durability, faults.clone()), 8).unwrap();
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(64).wait_strategy(WaitStrategy::Yielding))
        .panic_policy(policy);
    let j = b.handler("journal", JournalHandler::<u64>::new(w)).add();
    let acked = Arc::new(AtomicU64::new(0));
    let (a, f) = (acked.clone(), faults.clone());
    b.handler(
        "ack",
        handler_fn(move |e: &u64, seq, _| {
            assert_eq!(*e, value(seq), "the ack stage sees events in order");
            let n = a.fetch_add(1, Ordering::SeqCst) + 1;
            if n == arm_after {
                f.arm(0);
            }
        }),
    )
    .after(&[j])
    .add();
    let (mut p, graph) = b.build_single_producer().unwrap();
    let mut seq = 0;
    while p.publish(value(seq)).is_ok() {
        seq += 1;
        assert!(seq < 10_000_000, "the fault never stopped the graph");
    }
    let e = graph.shutdown().expect_err("the journal failed");
    (e, acked.load(Ordering::SeqCst), dir)
}

#[test]
fn a_failed_commit_halts_the_graph_and_no_stage_after_sees_its_batch() {
    for policy in [PanicPolicy::Halt, PanicPolicy::LogAndSkip] {
        let faults = Faults::new(FileOp::Sync, EIO);
        let (e, acked, dir) =
            through_the_graph(Durability::Sync, faults.clone(), policy, 300, "graph-sync");
        match e {
            ShutdownError::StageFailed { stage, source, .. } => {
                assert_eq!(stage, "journal");
                let je = source
                    .downcast_ref::<JournalError>()
                    .expect("a journal error");
                assert_eq!(io_errno(je), Some(EIO), "{je}");
            }
            other => panic!("{policy:?}: {other:?}"),
        }
        assert!(faults.failed() > 0);
        // What the stage after saw (acknowledged) is exactly what survives.
        assert_eq!(recovered(&dir), acked, "{policy:?}");
    }
}

#[test]
fn a_failed_periodic_flush_fails_the_next_commit() {
    let faults = Faults::new(FileOp::Sync, EIO);
    let (e, acked, dir) = through_the_graph(
        Durability::Periodic(Duration::from_millis(2)),
        faults.clone(),
        PanicPolicy::LogAndSkip,
        300,
        "periodic",
    );
    match e {
        ShutdownError::StageFailed { source, .. } => {
            let je = source
                .downcast_ref::<JournalError>()
                .expect("a journal error");
            assert!(je.to_string().contains("Input/output error"), "{je}");
        }
        other => panic!("{other:?}"),
    }
    // Periodic acknowledges before the flush: what was acknowledged is in
    // the page cache, and reopening (no power cut here) keeps exactly it.
    assert_eq!(recovered(&dir), acked);
}

/// Each file operation of preparing the next segment failing: the roll
/// fails the batch being appended, nothing after it is acknowledged, no
/// temporary file is left behind, and reopening keeps what was.
#[test]
fn a_failed_segment_creation_fails_the_roll_and_leaves_nothing_behind() {
    for (op, errno) in [
        (FileOp::Allocate, ENOSPC),
        (FileOp::Create, EIO),
        (FileOp::Rename, EIO),
        (FileOp::SyncDir, EIO),
    ] {
        for durability in [Durability::Sync, Durability::None] {
            let faults = Faults::new(op, errno);
            // Armed after 100 acknowledged: the next segment's
            // preparation (the one for the 3rd segment on) fails.
            let (e, acked, dir) =
                through_the_graph(durability, faults.clone(), PanicPolicy::Halt, 100, "roll");
            match &e {
                ShutdownError::StageFailed { source, .. } => {
                    let je = source
                        .downcast_ref::<JournalError>()
                        .expect("a journal error");
                    assert_eq!(io_errno(je), Some(errno), "{op:?}: {je}");
                }
                other => panic!("{op:?} {durability:?}: {other:?}"),
            }
            let leftovers: Vec<_> = std::fs::read_dir(&dir)
                .unwrap()
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "tmp"))
                .collect();
            // A failed rename cannot be undone by removing the file either
            // (the hook fails renames, not removals): it is removed; the
            // others never leave one.
            assert!(leftovers.is_empty(), "{op:?}: {leftovers:?}");
            let kept = recovered(&dir);
            assert!(
                kept >= acked,
                "{op:?} {durability:?}: acked {acked}, kept {kept}"
            );
        }
    }
}

#[test]
fn rolling_into_an_existing_segment_uses_its_own_size() {
    let dir = tempdir("sizes");
    // 8 KiB segments; closing leaves the next one preallocated.
    let small = JournalConfig::new(&dir).segment_size(8192);
    let (mut w, _) = JournalWriter::open(&small, 8).unwrap();
    for _ in 0..100 {
        let seq = w.next_sequence();
        w.append(&value(seq).to_le_bytes()).unwrap();
    }
    w.close().unwrap();
    assert!(
        dir.join(format!("{:020}.rmj", 168)).exists(),
        "preallocated"
    );
    // Reopened with 64 KiB segments, the writer rolls into the existing
    // 8 KiB one by its own header, then makes 64 KiB ones.
    let big = JournalConfig::new(&dir).segment_size(64 << 10);
    let (mut w, _) = JournalWriter::open(&big, 8).unwrap();
    for _ in 0..3000 {
        let seq = w.next_sequence();
        w.append(&value(seq).to_le_bytes()).unwrap();
    }
    w.close().unwrap();
    assert_eq!(recovered(&dir), 3100);
    let (report, segments) = ringmaster::journal::inspect(&dir).unwrap();
    assert_eq!(report.records, 3100);
    let sizes: Vec<u64> = segments.iter().map(|s| s.capacity).collect();
    assert_eq!(&sizes[..2], &[168, 168], "{sizes:?}");
    assert_eq!(sizes[2], (65536 - 64 - 4096) / 24);
}

#[test]
fn directories_the_journal_creates_are_made_durable() {
    let root = tempdir("dirs");
    let dir = root.join("a").join("b").join("journal");
    let faults = Faults::new(FileOp::Remove, EIO);
    let (w, _) = JournalWriter::open(&config(&dir, Durability::Sync, faults.clone()), 8).unwrap();
    drop(w);
    let seen = faults.seen.lock().unwrap().clone();
    for (child, parent) in [
        (root.join("a"), root.to_path_buf()),
        (root.join("a/b"), root.join("a")),
        (dir.clone(), root.join("a/b")),
    ] {
        let created = seen
            .iter()
            .position(|(op, p)| *op == FileOp::CreateDir && *p == child)
            .unwrap_or_else(|| panic!("{} not created through the hook", child.display()));
        assert!(
            seen[created..]
                .iter()
                .any(|(op, p)| *op == FileOp::SyncDir && *p == parent),
            "{} created but {} never synced",
            child.display(),
            parent.display()
        );
    }
}

#[test]
fn verify_on_a_live_journal_never_reports_corruption() {
    let dir = tempdir("live");
    let config = JournalConfig::new(&dir).segment_size(16 << 10);
    let (mut w, _) = JournalWriter::open(&config, 8).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut rng = 0x5EED_u64;
        while !stopping.load(Ordering::Relaxed) {
            let n = util::xorshift(&mut rng) % 50 + 1;
            for _ in 0..n {
                let seq = w.next_sequence();
                w.append(&value(seq).to_le_bytes()).unwrap();
            }
            w.commit().unwrap();
        }
        w.close().unwrap();
    });
    let mut scans = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline || scans < 50 {
        match ringmaster::journal::verify(&dir) {
            Ok(_) | Err(JournalError::Busy { .. }) => {}
            Err(e) => panic!("scan {scans} of a live journal: {e}"),
        }
        match ringmaster::journal::inspect(&dir) {
            Ok(_) | Err(JournalError::Busy { .. }) => {}
            Err(e) => panic!("inspect of a live journal: {e}"),
        }
        scans += 1;
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    let report = ringmaster::journal::verify(&dir).unwrap();
    assert!(report.truncation.is_none(), "{report:?}");
}

/// The shop on a journal whose syncs start failing: every client call
/// after the fault gets an error, never a reply it could take for done,
/// and the shop reopens with the digest of exactly the acknowledged writes.
#[test]
fn the_shop_acknowledges_nothing_it_did_not_commit() {
    for (op, errno) in [(FileOp::Sync, EIO), (FileOp::Allocate, ENOSPC)] {
        let dir = tempdir("shop");
        let faults = Faults::new(op, errno);
        let shop = Shop::open(
            ShopConfig::new(&dir)
                .segment_size(8192)
                .snapshot_every(0)
                .wait_strategy(WaitStrategy::Yielding)
                .journal_io_hook(faults.clone()),
        )
        .unwrap();
        let mut client = shop.client().unwrap();
        let mut model = Catalog::default();
        let mut failures = 0u64;
        for i in 1..=2000u64 {
            if i == 500 {
                faults.arm(0);
            }
            let command = if i % 3 == 0 {
                Command::Update {
                    id: i / 3,
                    price_cents: Some(i),
                    stock: None,
                    name: None,
                }
            } else {
                Command::add(i, &format!("Item {i}"), 100 + i as i64, 5).unwrap()
            };
            match client.call(&command) {
                Ok(_) => {
                    assert_eq!(failures, 0, "{op:?}: a reply after a failure");
                    model.apply(&command);
                }
                Err(ShopError::Closed | ShopError::Stopped(_)) => failures += 1,
                Err(e) => panic!("{op:?}: {e}"),
            }
        }
        assert!(failures > 0, "{op:?}: the fault never surfaced");
        drop(client);
        match shop.close() {
            Err(ShopError::Stopped(ShutdownError::StageFailed { stage, .. })) => {
                assert_eq!(stage, "journal")
            }
            other => panic!("{op:?}: close: {other:?}"),
        }
        let shop = Shop::open(ShopConfig::new(&dir).segment_size(8192)).unwrap();
        assert_eq!(shop.digest().unwrap(), model.digest(), "{op:?}");
        shop.close().unwrap();
    }
}

/// `StageError` carries the journal's typed error out of the graph.
#[test]
fn the_stage_error_is_the_journal_error() {
    let e = StageError::new(JournalError::Locked {
        dir: PathBuf::from("/x"),
    });
    assert!(matches!(
        e.downcast_ref::<JournalError>(),
        Some(JournalError::Locked { .. })
    ));
    let _ = RecoveryMode::Strict;
}

/// Every sync: the thread that made it, the file, the byte range.
#[derive(Debug, Default)]
struct SyncLog(Mutex<Vec<SyncOp>>);

#[derive(Debug, Clone)]
struct SyncOp {
    thread: std::thread::ThreadId,
    path: PathBuf,
    offset: u64,
    len: u64,
}

impl SyncLog {
    fn seen(&self) -> Vec<SyncOp> {
        self.0.lock().unwrap().clone()
    }

    /// Segment syncs made on `thread` so far.
    fn on(&self, thread: std::thread::ThreadId) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.thread == thread && s.path.extension().is_some_and(|x| x == "rmj"))
            .count()
    }
}

impl IoHook for SyncLog {
    fn before(&self, op: &FileOpInfo<'_>) -> std::io::Result<()> {
        if op.op == FileOp::Sync {
            self.0.lock().unwrap().push(SyncOp {
                thread: std::thread::current().id(),
                path: op.path.to_owned(),
                offset: op.offset,
                len: op.len,
            });
        }
        Ok(())
    }
}

/// Under `Periodic`, rolling to the next segment leaves the finished one
/// to the flusher: the writer's thread never waits for its writeback (a
/// whole segment's, which held a server's writes for tens of
/// milliseconds), and the flusher, woken by the roll, makes it durable
/// without waiting out its interval. Closing syncs whatever it left.
#[test]
fn a_periodic_roll_leaves_the_finished_segment_to_the_flusher() {
    let dir = tempdir("periodic-roll");
    let syncs = Arc::new(SyncLog::default());
    // An interval no test outlives: only a roll wakes the flusher.
    let config = JournalConfig::new(&dir)
        .segment_size(8192)
        .durability(Durability::Periodic(Duration::from_secs(3600)))
        .io_hook(syncs.clone());
    let (mut w, _) = JournalWriter::open(&config, 8).unwrap();
    let writer = std::thread::current().id();
    let at_open = syncs.on(writer);
    let mut first_segment_end = None;
    let mut seq = 0u64;
    while w.stats().rolls < 3 {
        w.append(&seq.to_le_bytes()).unwrap();
        if first_segment_end.is_none() && w.stats().rolls == 1 {
            first_segment_end = Some(seq);
        }
        seq += 1;
        if seq.is_multiple_of(7) {
            w.commit().unwrap();
        }
    }
    w.commit().unwrap();
    assert_eq!(
        syncs.on(writer),
        at_open,
        "the writer's thread synced a segment while appending"
    );
    let end = first_segment_end.unwrap();
    // The flusher's pass after the first roll: a liveness bound, not a
    // speed one.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while w.durable_sequence() < end {
        assert!(
            std::time::Instant::now() < deadline,
            "the finished segment was never synced"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    w.close().unwrap();
    let (w, report) = JournalWriter::open(&config, 8).unwrap();
    assert!(report.truncation.is_none(), "{report:?}");
    assert_eq!(w.next_sequence(), seq);
}

/// A periodic flush writes back the records sealed so far, not the pages
/// the preallocator faulted in after them: written back, each of those
/// would be write-protected, and the writer would take a fault on every
/// one as it reached it.
#[test]
fn a_periodic_flush_writes_back_only_what_was_sealed() {
    let dir = tempdir("periodic-range");
    let syncs = Arc::new(SyncLog::default());
    let config = JournalConfig::new(&dir)
        .segment_size(1 << 20)
        .durability(Durability::Periodic(Duration::from_millis(1)))
        .io_hook(syncs.clone());
    let (mut w, _) = JournalWriter::open(&config, 8).unwrap();
    let at_open = syncs.seen().len();
    for seq in 0..100u64 {
        w.append(&seq.to_le_bytes()).unwrap();
    }
    w.commit().unwrap();
    // A liveness bound for the flusher's next pass, not a speed one.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while w.durable_sequence() < 100 {
        assert!(std::time::Instant::now() < deadline, "never flushed");
        std::thread::sleep(Duration::from_millis(1));
    }
    let current = dir.join(format!("{:020}.rmj", 0));
    let seen = syncs.seen().split_off(at_open);
    let passes: Vec<_> = seen.iter().filter(|s| s.path == current).collect();
    assert!(!passes.is_empty(), "no sync of {current:?} in {seen:?}");
    // 100 records of 24 bytes after the 64-byte header: one page.
    for s in passes {
        assert!(
            s.offset + s.len <= 4096,
            "a sync of {}+{} bytes",
            s.offset,
            s.len
        );
    }
    w.close().unwrap();
}
