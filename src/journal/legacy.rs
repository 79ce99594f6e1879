//! Version-1 journals, read only to convert them: [`migrate`].
//!
//! Version 1 checksummed every record on its own:
//!
//! | offset | size | field | rule |
//! |---:|---:|---|---|
//! | 0 | 4 | length | payload bytes (= event size); `0` = slot not written |
//! | 4 | 4 | CRC | CRC-32 of bytes 0..4 and 8..16+length |
//! | 8 | 8 | sequence | `first sequence + k` |
//! | 16 | length | payload | |
//! | 16+length | pad | padding | zero, to a multiple of 8 |
//!
//! Its recovery rule could not tell an unsynced tail from damage at every
//! granularity; the migration takes the longest valid prefix, which is
//! what a version-1 writer would have kept, and refuses when a valid
//! record follows a bad one.

use super::error::{JournalError, SegmentId};
use super::format::{u32_at, u64_at, CorruptKind, LEGACY_FORMAT_VERSION};
use super::recovery::{list_segments, open_segment};
use super::writer::{JournalConfig, JournalWriter};
use std::path::{Path, PathBuf};

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// Records converted.
    pub records: u64,
    /// The first sequence (kept, so snapshots still line up).
    pub first_sequence: u64,
    /// Where the version-1 segments were moved (`None` when the journal
    /// was already version 2 and nothing was done).
    pub backup: Option<PathBuf>,
    /// Where the version-1 valid prefix ended on something other than
    /// empty slots (a torn tail the old writer would have truncated).
    pub dropped_tail: Option<(SegmentId, u64, CorruptKind)>,
}

fn legacy_record(slot: &[u8], event_size: usize, expected: u64) -> Result<bool, CorruptKind> {
    let len = u32_at(slot, 0);
    if len == 0 {
        return if slot.iter().all(|&b| b == 0) {
            Ok(false)
        } else {
            Err(CorruptKind::TornEmptySlot)
        };
    }
    if len as usize != event_size {
        return Err(CorruptKind::BadLength(len));
    }
    let mut h = crc32fast::Hasher::new();
    h.update(&slot[0..4]);
    h.update(&slot[8..16 + event_size]);
    if h.finalize() != u32_at(slot, 4) {
        return Err(CorruptKind::RecordChecksum);
    }
    if slot[16 + event_size..].iter().any(|&b| b != 0) {
        return Err(CorruptKind::BadPadding);
    }
    let found = u64_at(slot, 8);
    if found != expected {
        return Err(CorruptKind::BadSequence { expected, found });
    }
    Ok(true)
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    dir.with_file_name(name)
}

/// Convert the version-1 journal in `dir` to the current format, in
/// place: its records (the longest valid prefix) are written to a new
/// journal beside it (`DIR.v2-new`), with the same sequences, made
/// durable; then `DIR` becomes `DIR.v1-backup` and the new journal
/// `DIR`. Run it with no writer open (it takes the writer's lock). Run
/// again after a crash, it finishes the swap. A journal already in the
/// current format is left as it is.
///
/// # Errors
///
/// [`JournalError::Locked`] while a writer holds `dir`;
/// [`JournalError::CorruptMiddle`] when a valid record follows a bad one
/// (the old rule would have refused too); I/O errors.
pub fn migrate(dir: &Path, config: &JournalConfig) -> Result<Migration, JournalError> {
    let fresh = sibling(dir, ".v2-new");
    let backup = sibling(dir, ".v1-backup");
    let ops = config.ops();
    if !dir.exists() && fresh.exists() && backup.exists() {
        // A crash between the two renames of an earlier run.
        ops.rename(&fresh, dir)?;
        if let Some(parent) = dir.parent() {
            ops.sync_dir(parent)?;
        }
        return Ok(Migration {
            records: 0,
            first_sequence: 0,
            backup: Some(backup),
            dropped_tail: None,
        });
    }
    let files = list_segments(dir)?;
    let mut segments = Vec::with_capacity(files.len());
    for (named, path) in &files {
        segments.push(open_segment(path, *named, false)?);
    }
    if segments
        .iter()
        .all(|(_, h)| h.version != LEGACY_FORMAT_VERSION)
    {
        return Ok(Migration {
            records: 0,
            first_sequence: files.first().map_or(0, |f| f.0),
            backup: None,
            dropped_tail: None,
        });
    }
    let lock = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))
        .map_err(super::io::io_error(dir))?;
    if lock.try_lock().is_err() {
        return Err(JournalError::Locked {
            dir: dir.to_owned(),
        });
    }
    let event_size = segments[0].1.event_size as usize;
    let first_sequence = segments[0].1.first_sequence;
    if fresh.exists() {
        std::fs::remove_dir_all(&fresh).map_err(super::io::io_error(&fresh))?;
    }
    let new_config = config.clone().with_dir(&fresh);
    let (mut writer, _) = JournalWriter::open_at(&new_config, event_size, first_sequence)?;
    let mut records = 0u64;
    let mut end: Option<(SegmentId, u64, CorruptKind)> = None;
    let mut payload = vec![0u8; event_size];
    for (segment, header) in &segments {
        if header.version != LEGACY_FORMAT_VERSION || header.event_size as usize != event_size {
            return Err(JournalError::EventSizeMismatch {
                path: segment.path().to_owned(),
                expected: event_size,
                found: header.event_size as usize,
            });
        }
        let mut slot = vec![0u8; header.record_size as usize];
        for k in 0..header.capacity() {
            let offset = header.slot_offset(k);
            segment.load(offset, &mut slot);
            let expected = header.first_sequence + k;
            let at = (SegmentId(header.first_sequence), offset as u64);
            match (&end, legacy_record(&slot, event_size, expected)) {
                (None, Ok(true)) => {
                    payload.copy_from_slice(&slot[16..16 + event_size]);
                    writer.append(&payload)?;
                    records += 1;
                }
                (None, Ok(false)) => end = Some((at.0, at.1, CorruptKind::Unsealed)),
                (None, Err(kind)) => end = Some((at.0, at.1, kind)),
                (Some(_), Ok(false) | Err(_)) => {}
                (Some((segment, offset, kind)), Ok(true)) => {
                    return Err(JournalError::CorruptMiddle {
                        segment: *segment,
                        offset: *offset,
                        kind: kind.clone(),
                    })
                }
            }
        }
        writer.commit()?;
    }
    writer.close()?;
    drop(segments);
    ops.rename(dir, &backup)?;
    ops.rename(&fresh, dir)?;
    if let Some(parent) = dir.parent() {
        ops.sync_dir(parent)?;
    }
    drop(lock);
    tracing::info!(records, backup = %backup.display(), "journal: migrated to format version 2");
    Ok(Migration {
        records,
        first_sequence,
        backup: Some(backup),
        dropped_tail: end.filter(|(_, _, kind)| *kind != CorruptKind::Unsealed),
    })
}
