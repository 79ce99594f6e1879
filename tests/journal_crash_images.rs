//! Crash images, built without root: an `IoHook` records what every sync
//! made durable (each page's bytes as of its last sync, and when), the
//! test takes copies of the files at random moments, and a crash image is
//! assembled unit by unit (8 B, 64 B, 512 B or 4 KiB) from the durable
//! version of the unit or any later one, the way writeback may leave a
//! disk after a power cut: in any order, at any granularity.
//!
//! * Under `Durability::Sync`, every acknowledged record (committed before
//!   the crash) is in every such image after recovery, and the journal
//!   always opens (the default mode), or reports a torn tail (`Strict`),
//!   never corruption.
//! * The other direction: a flipped bit, a zeroed word or a zeroed 512 B
//!   sector anywhere below the durable point is always refused as
//!   corruption, in both modes.

mod util;

use proptest::prelude::*;
use ringmaster::journal::{
    Durability, FileOp, FileOpInfo, IoHook, JournalConfig, JournalError, JournalReader,
    JournalWriter, RecoveryMode,
};
use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// 8 KiB segments of 24-byte slots (8-byte events): 168 records each.
const SEGMENT: u64 = 8192;
const PER_SEGMENT: u64 = (SEGMENT - 64 - 4096) / 24;
const PAGE: usize = 4096;

fn value(seq: u64) -> u64 {
    seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xC0FFEE
}

fn base() -> PathBuf {
    // tmpfs where there is one: msync is free there, and the hook sees it
    // all the same.
    if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    }
}

fn tempdir(tag: &str) -> util::TempDir {
    util::TempDir::under(&base(), "crash-images", tag)
}

/// A file as the disk holds it: each page's bytes as of its last sync,
/// and the moment of that sync (0: never synced; the bytes are zero).
#[derive(Debug, Clone, Default)]
struct Durable {
    bytes: Vec<u8>,
    synced_at: Vec<u64>,
}

/// Records every sync's bytes, following renames.
#[derive(Debug, Default)]
struct Recorder {
    state: Mutex<(u64, HashMap<PathBuf, Durable>)>,
}

impl IoHook for Recorder {
    fn after(&self, op: &FileOpInfo<'_>) {
        let mut guard = self.state.lock().unwrap();
        let (clock, files) = &mut *guard;
        match op.op {
            FileOp::Sync => {
                *clock += 1;
                let Ok(file) = std::fs::File::open(op.path) else {
                    return;
                };
                let len = file.metadata().unwrap().len() as usize;
                let d = files.entry(op.path.to_owned()).or_default();
                d.bytes.resize(len, 0);
                d.synced_at.resize(len.div_ceil(PAGE), 0);
                let (from, to) = (op.offset as usize, (op.offset + op.len) as usize);
                let (from, to) = (from / PAGE * PAGE, to.min(len));
                file.read_exact_at(&mut d.bytes[from..to], from as u64)
                    .unwrap();
                for p in from / PAGE..to.div_ceil(PAGE) {
                    d.synced_at[p] = *clock;
                }
            }
            FileOp::Rename => {
                if let (Some(d), Some(to)) = (files.remove(op.path), op.to) {
                    files.insert(to.to_owned(), d);
                }
            }
            FileOp::Remove => {
                files.remove(op.path);
            }
            _ => {}
        }
    }
}

impl Recorder {
    fn clock(&self) -> u64 {
        self.state.lock().unwrap().0
    }

    fn durable(&self) -> HashMap<PathBuf, Durable> {
        self.state.lock().unwrap().1.clone()
    }
}

/// Every segment file of `dir` as it is now (the page cache).
fn current(dir: &Path) -> HashMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "rmj"))
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap()))
        .collect()
}

#[derive(Debug, Clone)]
enum Step {
    Append(u64),
    Commit,
    /// Take a copy of the files: an intermediate version units may come
    /// from.
    Copy,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        prop_oneof![
            4 => (1u64..120).prop_map(Step::Append),
            3 => Just(Step::Commit),
            1 => Just(Step::Copy),
        ],
        1..40,
    )
}

struct Run {
    /// Where the run wrote (removed with the run).
    _dir: util::TempDir,
    /// What the disk held at the crash.
    durable: HashMap<PathBuf, Durable>,
    /// Records acknowledged (committed) before the crash.
    acked: u64,
    /// Copies taken, with the sync clock at the time.
    copies: Vec<(u64, HashMap<PathBuf, Vec<u8>>)>,
    /// The files at the crash.
    last: HashMap<PathBuf, Vec<u8>>,
}

/// Run `steps` against a fresh `Sync` journal (after `durable` records
/// written and closed, when > 0), then "crash": the writer's files are
/// read as they are, and the writer is dropped without its close counting.
fn run(steps: &[Step], durable: u64, tag: &str) -> Run {
    let dir = tempdir(tag);
    let recorder = Arc::new(Recorder::default());
    let config = JournalConfig::new(&dir)
        .segment_size(SEGMENT)
        .durability(Durability::Sync)
        .io_hook(recorder.clone());
    if durable > 0 {
        let (mut w, _) = JournalWriter::open(&config, 8).unwrap();
        for _ in 0..durable {
            let seq = w.next_sequence();
            w.append(&value(seq).to_le_bytes()).unwrap();
        }
        w.close().unwrap();
    }
    let (mut w, _) = JournalWriter::open(&config, 8).unwrap();
    let mut acked = durable;
    let mut copies = Vec::new();
    for step in steps {
        match step {
            Step::Append(n) => {
                for _ in 0..*n {
                    let seq = w.next_sequence();
                    w.append(&value(seq).to_le_bytes()).unwrap();
                }
            }
            Step::Commit => {
                w.commit().unwrap();
                acked = w.next_sequence();
            }
            Step::Copy => copies.push((recorder.clock(), current(&dir))),
        }
    }
    let last = current(&dir);
    let durable = recorder.durable();
    // The crash: whatever the writer does from here (its close) is not on
    // the disk the image is built from.
    drop(w);
    Run {
        _dir: dir,
        durable,
        acked,
        copies,
        last,
    }
}

/// Build a crash image of `run` in a new directory: per `unit` bytes,
/// the durable version or a later one (a copy taken after that unit's
/// last sync, or the files at the crash), chosen by `pick`.
fn image(run: &Run, unit: usize, mut pick: impl FnMut(usize) -> usize, tag: &str) -> util::TempDir {
    let durable = &run.durable;
    let out = tempdir(tag);
    std::fs::create_dir_all(&out).unwrap();
    for (path, latest) in &run.last {
        // A segment whose header sync and rename the hook has not seen
        // yet (the preallocator was creating it at the crash) is one whose
        // directory entry may not be on the disk: leave it out.
        let Some(d) = durable.get(path).cloned() else {
            continue;
        };
        let mut bytes = vec![0u8; latest.len()];
        for at in (0..latest.len()).step_by(unit) {
            let end = (at + unit).min(latest.len());
            let synced_at = d.synced_at.get(at / PAGE).copied().unwrap_or(0);
            // Versions no older than the disk's: the durable one, copies
            // taken since, and the latest.
            let mut versions: Vec<&[u8]> = Vec::new();
            if d.bytes.len() >= end {
                versions.push(&d.bytes[..]);
            } else {
                versions.push(&[]);
            }
            for (clock, files) in &run.copies {
                if *clock >= synced_at {
                    if let Some(b) = files.get(path).filter(|b| b.len() >= end) {
                        versions.push(b);
                    }
                }
            }
            versions.push(latest);
            let chosen = versions[pick(versions.len())];
            if chosen.len() >= end {
                bytes[at..end].copy_from_slice(&chosen[at..end]);
            }
        }
        std::fs::write(out.join(path.file_name().unwrap()), bytes).unwrap();
    }
    out
}

fn open(dir: &Path, mode: RecoveryMode) -> Result<u64, JournalError> {
    let config = JournalConfig::new(dir)
        .segment_size(SEGMENT)
        .recovery_mode(mode);
    let (w, report) = JournalWriter::open(&config, 8)?;
    w.close()?;
    Ok(report.next_sequence)
}

fn assert_prefix(dir: &Path, n: u64) {
    let mut r = JournalReader::open(dir, 0).unwrap();
    for expect in 0..n {
        let (seq, v) = r.next_event::<u64>().unwrap().expect("contiguous records");
        assert_eq!((seq, v), (expect, value(expect)), "record {expect} intact");
    }
    assert!(
        r.next_event::<u64>().unwrap().is_none(),
        "nothing after {n}"
    );
}

fn xorshift(state: &mut u64) -> u64 {
    util::xorshift(state)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(64)
    ))]

    /// Power cuts at any granularity keep every acknowledged record, and
    /// the journal opens.
    #[test]
    fn every_acknowledged_record_survives_any_crash_image(
        steps in steps(),
        durable in prop_oneof![Just(0u64), 1u64..700],
        unit in prop::sample::select(vec![8usize, 64, 512, 4096]),
        seed in any::<u64>(),
    ) {
        let run = run(&steps, durable, "run");
        let mut rng = seed | 1;
        let img = image(&run, unit, |n| (xorshift(&mut rng) % n as u64) as usize, "image");
        // Strict: a torn tail may be reported, corruption never.
        match open(&img, RecoveryMode::Strict) {
            Ok(_) | Err(JournalError::TornTail { .. }) => {}
            Err(e) => panic!("Strict refused with {e} (acked {})", run.acked),
        }
        let next = open(&img, RecoveryMode::TruncateTornTail)
            .unwrap_or_else(|e| panic!("recovery refused: {e} (acked {})", run.acked));
        prop_assert!(next >= run.acked, "acked {} but recovered {next}", run.acked);
        assert_prefix(&img, next);
    }

    /// A process crash (the page cache survives, whole) keeps every
    /// committed record under every durability policy.
    #[test]
    fn a_process_crash_keeps_every_commit_under_every_policy(
        steps in steps(),
        policy in 0..3u8,
    ) {
        let dir = tempdir("policy");
        let durability = match policy {
            0 => Durability::None,
            1 => Durability::Periodic(std::time::Duration::from_millis(1)),
            _ => Durability::Sync,
        };
        let config = JournalConfig::new(&dir).segment_size(SEGMENT).durability(durability);
        let (mut w, _) = JournalWriter::open(&config, 8).unwrap();
        let mut committed = 0;
        for step in &steps {
            match step {
                Step::Append(n) => for _ in 0..*n {
                    let seq = w.next_sequence();
                    w.append(&value(seq).to_le_bytes()).unwrap();
                },
                Step::Commit => {
                    w.commit().unwrap();
                    committed = w.next_sequence();
                }
                Step::Copy => {}
            }
        }
        let img = tempdir("policy-image");
        std::fs::create_dir_all(&img).unwrap();
        for (path, bytes) in current(&dir) {
            std::fs::write(img.join(path.file_name().unwrap()), bytes).unwrap();
        }
        drop(w);
        let next = open(&img, RecoveryMode::TruncateTornTail).unwrap();
        prop_assert!(next >= committed, "committed {committed}, recovered {next}");
        assert_prefix(&img, next);
    }

    /// Damage below the durable point is refused in both modes: a flipped
    /// bit, a zeroed non-zero word, a zeroed 512-byte sector.
    #[test]
    fn damage_below_the_durable_point_is_always_refused(
        steps in steps(),
        durable in 1u64..700,
        kind in 0..3u8,
        seed in any::<u64>(),
        close in any::<bool>(),
    ) {
        let run = run(&steps, durable, "damage");
        // A crashed writer's files (the durable point is its last claim),
        // or a closed one's (its mark proves everything).
        let img = if close {
            let img = tempdir("damage-closed");
            std::fs::create_dir_all(&img).unwrap();
            for (path, bytes) in &run.last {
                std::fs::write(img.join(path.file_name().unwrap()), bytes).unwrap();
            }
            let config = JournalConfig::new(&img).segment_size(SEGMENT);
            let (w, _) = JournalWriter::open(&config, 8).unwrap();
            w.close().unwrap();
            img
        } else {
            image(&run, 4096, |n| n - 1, "damage-image")
        };
        let report = ringmaster::journal::verify(&img).unwrap();
        let below = report.durable_point;
        prop_assume!(below > 0);
        // A slot below the durable point, and a byte in it.
        let mut rng = seed | 1;
        let seq = xorshift(&mut rng) % below;
        let first = seq / PER_SEGMENT * PER_SEGMENT;
        let path = img.join(format!("{first:020}.rmj"));
        let mut bytes = std::fs::read(&path).unwrap();
        let slot = 64 + ((seq - first) * 24) as usize;
        let at = slot + (xorshift(&mut rng) % 24) as usize;
        let before = bytes.clone();
        match kind {
            0 => bytes[at] ^= 1 << (xorshift(&mut rng) % 8),
            1 => {
                // The slot's non-zero words (the sequence word always is,
                // but for sequence 0).
                let words: Vec<usize> = (0..3)
                    .map(|w| slot + w * 8)
                    .filter(|&w| bytes[w..w + 8].iter().any(|&b| b != 0))
                    .collect();
                prop_assume!(!words.is_empty());
                let w = words[(xorshift(&mut rng) % words.len() as u64) as usize];
                bytes[w..w + 8].fill(0);
            }
            _ => {
                // Wholly below the durable point: a sector that also holds
                // the seal proving the damaged group durable (the next
                // group's, right after it) takes the proof with it, and is
                // not damage below the durable point but across it.
                let sector = at / 512 * 512;
                let durable_end = if below - first < PER_SEGMENT {
                    64 + ((below - first) * 24) as usize
                } else {
                    bytes.len()
                };
                prop_assume!(sector + 512 <= durable_end);
                bytes[sector..sector + 512].fill(0);
            }
        }
        prop_assume!(bytes != before);
        std::fs::write(&path, &bytes).unwrap();
        for mode in [RecoveryMode::Strict, RecoveryMode::TruncateTornTail] {
            match open(&img, mode) {
                Err(JournalError::CorruptMiddle { .. } | JournalError::Corrupt { .. }) => {}
                other => panic!(
                    "{mode:?}: damage ({kind}) at byte {at} of {} below the durable point {below}: {other:?}",
                    path.display()
                ),
            }
        }
    }
}
