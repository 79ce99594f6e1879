//! The `journal_recovery` fuzz target's check, shared by the target
//! (`fuzz/fuzz_targets/journal_recovery.rs`) and its corpus replay under
//! `cargo test` (`tests/fuzz_corpus.rs`).
//!
//! Arbitrary bytes as one or two journal segment files: recovery returns a
//! report or a typed error, never panics; what it reports as valid is what
//! a reader replays; repairing a torn tail keeps every valid record and
//! leaves nothing to repair on the next open.
//!
//! Checksums would stop the fuzzer at the first byte it changes, so flag
//! bits ask the check to recompute the header's CRC and the seals' CRCs
//! along the chain of groups after mutation: the semantic checks behind
//! them (group lengths, sequences, claims, gaps, event sizes) are
//! explored too.

use ringmaster::journal::format::{group_crc, Seal};
use ringmaster::journal::{verify, JournalConfig, JournalReader, JournalWriter, RecoveryMode};
use std::path::PathBuf;

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Recompute what the flags ask for: the header's CRC, and the CRC of
/// every seal on the chain of groups from the segment's first slot.
fn fix_crcs(seg: &mut [u8], header: bool, seals: bool) {
    if header && seg.len() >= 64 {
        let crc = crc32fast::hash(&seg[..60]);
        seg[60..64].copy_from_slice(&crc.to_le_bytes());
    }
    let Some(rec) = u32_at(seg, 20).map(|r| r as usize) else {
        return;
    };
    if !seals || !(16..=4096).contains(&rec) || !rec.is_multiple_of(8) {
        return;
    }
    let mut at = 64;
    while at + rec <= seg.len() {
        let Some(word) = u64_at(seg, at).filter(|&w| w != 0) else {
            break;
        };
        let seal = Seal::decode(word);
        let covered = Seal::covered_len(seal.count, rec);
        let Some(bytes) = seg.get(at + 8..at + 8 + covered) else {
            break;
        };
        let crc = group_crc(seal.count, seal.claim, bytes);
        let fixed = Seal::word(seal.count, seal.claim, crc);
        seg[at..at + 8].copy_from_slice(&fixed.to_le_bytes());
        if seal.count == 0 {
            break;
        }
        at += seal.count as usize * rec;
    }
}

fn dir() -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    base.join(format!("rm-fuzz-journal-{}", std::process::id()))
}

/// Run the check on one input.
pub(crate) fn check(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let Some(len1) = rest
        .get(..2)
        .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    else {
        return;
    };
    let rest = &rest[2..];
    let (one, two) = rest.split_at(len1.min(rest.len()));
    let mut segments = vec![one.to_vec()];
    if flags & 4 != 0 {
        segments.push(two.to_vec());
    }
    let dir = dir();
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("fuzz dir");
    let mut names = Vec::new();
    for (i, seg) in segments.iter_mut().enumerate() {
        let shift = if i == 0 { 0 } else { 3 };
        fix_crcs(seg, flags & (1 << shift) != 0, flags & (2 << shift) != 0);
        let first = u64_at(seg, 24).unwrap_or(0);
        if names.contains(&first) {
            continue;
        }
        names.push(first);
        std::fs::write(dir.join(format!("{first:020}.rmj")), &seg).expect("write segment");
    }

    if let Ok(report) = verify(&dir) {
        assert!(report.next_sequence >= report.first_sequence.unwrap_or(0));
        // Repair (truncate a torn tail), then everything reported valid
        // replays, and there is nothing left to repair.
        // Small new segments: the writer prepares the next one on open.
        let config = JournalConfig::new(&dir)
            .segment_size(8192)
            .recovery_mode(RecoveryMode::TruncateTornTail);
        let event_size = report.event_size.unwrap_or(8);
        if let Ok((writer, repaired)) = JournalWriter::open(&config, event_size) {
            assert_eq!(repaired.records, report.records);
            drop(writer);
            let again = verify(&dir).expect("a repaired journal verifies");
            assert!(
                again.truncation.is_none(),
                "repair left a torn tail: {again:?}"
            );
            assert_eq!(again.records, report.records);
            if let Some(first) = again.first_sequence {
                let mut reader = JournalReader::open(&dir, first).expect("reader opens");
                let mut n = 0;
                while let Ok(Some(_)) = reader.next_record() {
                    n += 1;
                    if n > again.records {
                        break;
                    }
                }
                assert_eq!(n, again.records, "reader and recovery disagree");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
