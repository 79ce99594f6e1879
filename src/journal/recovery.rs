//! Recovery: scan a journal directory, keep the longest valid prefix.
//!
//! * Every segment header is validated, and segments must follow each
//!   other without gaps (`first = previous.first + previous.capacity`).
//! * Records are validated in order (length, CRC, padding, sequence).
//! * The first slot that is not a valid record ends the prefix. If it is
//!   empty and everything after it is empty, the journal ends cleanly. If
//!   it is damaged and everything after it is empty, it is a torn tail: in
//!   `TruncateTornTail` mode it is zeroed (and logged with segment, offset
//!   and reason); in `Strict` mode recovery fails.
//! * Data after the end of the prefix is a torn tail too when it starts on
//!   a later page than the end and lies in the same segment within
//!   [`TORN_WINDOW_BYTES`] of it: after a power cut, pages written but not
//!   yet msynced reach the disk in any order (each holding what the
//!   sequential writer had written when it went), so a `Sync` writer
//!   (which never leaves more than `MAX_UNSYNCED_BYTES` unsynced) can leave
//!   a hole with unacknowledged records on later pages. Data on the hole's
//!   own page, further away, or in a later segment is corruption in the
//!   middle, which is never skipped.

use super::error::{JournalError, SegmentId};
use super::format::{
    decode_record, parse_segment_file_name, record_size, CorruptKind, SegmentHeader, Slot,
    SEGMENT_HEADER_LEN, SEGMENT_SUFFIX, TORN_WINDOW_BYTES,
};
use super::segment::Segment;
use std::path::{Path, PathBuf};

/// The page size writeback works in (at least; larger pages keep the
/// zeros-to-page-end property at this granularity too).
const WRITEBACK_PAGE: u64 = 4096;

/// What recovery does with a torn tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Refuse to open a journal with a torn tail.
    Strict,
    /// Zero the torn tail and report it.
    #[default]
    TruncateTornTail,
}

/// A torn tail that recovery found (and, when repairing, removed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// The segment.
    pub segment: SegmentId,
    /// Byte offset of the first bad record.
    pub offset: u64,
    /// What was wrong with it.
    pub reason: CorruptKind,
}

/// The outcome of a scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segment files found.
    pub segments: usize,
    /// Valid records.
    pub records: u64,
    /// First sequence held (`None` when the journal is empty).
    pub first_sequence: Option<u64>,
    /// The sequence the next record gets.
    pub next_sequence: u64,
    /// Event size recorded in the segments (`None` when there are none).
    pub event_size: Option<usize>,
    /// The torn tail found, if any.
    pub truncation: Option<Truncation>,
}

/// A segment found by a scan.
#[derive(Debug)]
pub(crate) struct Found {
    pub(crate) path: PathBuf,
    pub(crate) header: SegmentHeader,
    /// Valid records in it.
    pub(crate) records: u64,
}

/// Segment files in `dir`, sorted by first sequence.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let io = |source| JournalError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(first) = parse_segment_file_name(name) {
            out.push((first, entry.path()));
        } else if name.ends_with(SEGMENT_SUFFIX) {
            return Err(JournalError::Foreign { path: entry.path() });
        }
    }
    out.sort();
    Ok(out)
}

/// Scan `dir`. `event_size` is checked when given (a writer knows it; a
/// verifier learns it from the first header). With `repair`, a torn tail is
/// zeroed in place (`TruncateTornTail` only).
pub(crate) fn scan(
    dir: &Path,
    event_size: Option<usize>,
    mode: RecoveryMode,
    repair: bool,
) -> Result<(RecoveryReport, Vec<Found>), JournalError> {
    let files = list_segments(dir)?;
    let mut found: Vec<Found> = Vec::new();
    let mut size = event_size;
    let mut expected_first: Option<u64> = None;
    // The first slot that is not a valid record: (segment index, offset, kind).
    let mut end: Option<(usize, u64, Option<CorruptKind>)> = None;
    // Data seen after `end` (within the torn window of it, same segment).
    let mut after_end = false;
    let mut records = 0u64;
    for (index, (named, path)) in files.iter().enumerate() {
        let segment = Segment::open(path, repair)?;
        let mut head = [0u8; SEGMENT_HEADER_LEN];
        segment.load(0, &mut head);
        let header = SegmentHeader::decode(&head).map_err(|kind| JournalError::Corrupt {
            segment: SegmentId(*named),
            offset: 0,
            kind,
        })?;
        if header.segment_size != segment.len() as u64 {
            return Err(JournalError::BadSegmentLength {
                path: path.clone(),
                len: segment.len() as u64,
            });
        }
        let es = header.event_size as usize;
        match size {
            Some(s) if s != es => {
                return Err(JournalError::EventSizeMismatch {
                    path: path.clone(),
                    expected: s,
                    found: es,
                })
            }
            _ => size = Some(es),
        }
        let expected = expected_first.unwrap_or(header.first_sequence);
        if header.first_sequence != *named || header.first_sequence != expected {
            return Err(JournalError::Gap {
                path: path.clone(),
                expected,
                found: header.first_sequence,
            });
        }
        expected_first = Some(header.first_sequence + header.capacity());
        let rec = record_size(es);
        let mut slot = vec![0u8; rec];
        let mut valid = 0u64;
        for k in 0..header.capacity() {
            let offset = SEGMENT_HEADER_LEN + k as usize * rec;
            segment.load(offset, &mut slot);
            let result = decode_record(&slot, es, header.first_sequence + k);
            match (end.is_some(), result) {
                (false, Ok(Slot::Record { .. })) => valid += 1,
                (false, Ok(Slot::Empty)) => end = Some((index, offset as u64, None)),
                (false, Err(kind)) => end = Some((index, offset as u64, Some(kind))),
                (true, Ok(Slot::Empty)) => {}
                // Something after the end of the prefix: writeback out of
                // order when close behind it, else the end was not the tail.
                (true, _) => {
                    let (seg, off, kind) = end.clone().unwrap_or((index, offset as u64, None));
                    let within =
                        seg == index && offset as u64 + rec as u64 - off <= TORN_WINDOW_BYTES;
                    // A page written back mid-batch holds a valid prefix,
                    // at most one partial record, then zeros to its end: data
                    // after a hole from writeback order starts on a later
                    // page. Data on the hole's own page is damage.
                    let first_data =
                        offset as u64 + slot.iter().position(|&b| b != 0).unwrap_or(0) as u64;
                    let next_page = (off / WRITEBACK_PAGE + 1) * WRITEBACK_PAGE;
                    if within && (after_end || first_data >= next_page) {
                        after_end = true;
                        continue;
                    }
                    return Err(JournalError::CorruptMiddle {
                        segment: SegmentId(files[seg].0),
                        offset: off,
                        kind: kind.unwrap_or(CorruptKind::DataAfterEmptySlot),
                    });
                }
            }
        }
        records += valid;
        found.push(Found {
            path: path.clone(),
            header,
            records: valid,
        });
    }
    let mut truncation = None;
    let torn = match end {
        Some((seg, offset, Some(kind))) => Some((seg, offset, kind)),
        Some((seg, offset, None)) if after_end => {
            Some((seg, offset, CorruptKind::DataAfterEmptySlot))
        }
        _ => None,
    };
    if let Some((seg, offset, kind)) = torn {
        let segment = SegmentId(files[seg].0);
        if mode == RecoveryMode::Strict {
            return Err(JournalError::TornTail {
                segment,
                offset,
                kind,
            });
        }
        if repair {
            let s = Segment::open(&files[seg].1, true)?;
            s.zero_from(offset as usize)?;
        }
        tracing::warn!(%segment, offset, reason = %kind, repaired = repair, "journal: torn tail truncated");
        truncation = Some(Truncation {
            segment,
            offset,
            reason: kind,
        });
    }
    let first_sequence = found
        .first()
        .filter(|_| records > 0)
        .map(|f| f.header.first_sequence);
    let next_sequence = match found.iter().rev().find(|f| f.records > 0) {
        Some(f) => f.header.first_sequence + f.records,
        None => found.first().map_or(0, |f| f.header.first_sequence),
    };
    Ok((
        RecoveryReport {
            segments: found.len(),
            records,
            first_sequence,
            next_sequence,
            event_size: size,
            truncation,
        },
        found,
    ))
}
