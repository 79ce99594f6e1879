//! Recovery: scan a journal directory, keep every sealed group up to the
//! first break, and tell a crash's unacknowledged tail from damage.
//!
//! * Every segment header is validated, and segments must follow each
//!   other without gaps (`first = previous.first + previous.capacity`).
//! * Groups are followed from each segment's first slot: a group counts
//!   when its first slot holds a seal whose CRC matches the group's bytes
//!   and whose sequence word is the slot's. The first slot where that
//!   fails ends the journal's valid prefix.
//! * Every valid group, before the end or after it, carries a claim: a
//!   sequence below which everything had been made durable when it was
//!   written; so does every segment's mark (written when a writer opens
//!   and closes). The highest claim is the *durable point*.
//! * The end is below the durable point: a group there was durable and is
//!   now damaged or gone, corruption in the middle, refused in every mode
//!   (`JournalError::CorruptMiddle`).
//! * Else anything after the end that this lap wrote (sealed or not) is
//!   an unacknowledged tail: `RecoveryMode::Strict` refuses to open
//!   (`JournalError::TornTail`); `TruncateTornTail` zeroes it, makes that
//!   durable, and reports where and how much. Records of an earlier lap of
//!   a recycled segment (sequences below its first) are neither.
//!
//! A scan that does not own the directory (`verify`, `inspect`) may run
//! while the writer appends: where it would report damage it looks at the
//! end again, and a group sealed there since (the writer moved on) is read
//! as such, so a live journal is never reported corrupt.

use super::error::{JournalError, SegmentId};
use super::format::{
    parse_segment_file_name, slot_state, u64_at, CorruptKind, Seal, SegmentHeader, SlotState,
    LEGACY_FORMAT_VERSION, SEGMENT_HEADER_LEN, SEGMENT_SUFFIX,
};
use super::io::FileOps;
use super::segment::Segment;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// How often a scan that does not own the journal looks again at an end
/// that a live writer keeps moving, before it reports what it sees.
const LIVE_RESCANS: u32 = 1000;

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
    /// The segment where the valid prefix ends.
    pub segment: SegmentId,
    /// Byte offset of the first slot after the valid prefix.
    pub offset: u64,
    /// What was wrong there.
    pub reason: CorruptKind,
    /// Slots after the end holding records of this lap (sealed or not),
    /// none of them acknowledged: what was (or would be) discarded.
    pub records: u64,
    /// Bytes zeroed (or that would be), from the end to the last of those
    /// slots, over every segment they lie in.
    pub bytes: u64,
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
    /// The durable point: every record before it was proven durable by a
    /// record or mark written after it (0 when nothing proves anything).
    pub durable_point: u64,
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

/// Open `path` (named for `named`) and check its header against its name,
/// its length and the event size; the segment and its header.
pub(crate) fn open_segment(
    path: &Path,
    named: u64,
    writable: bool,
) -> Result<(Segment, SegmentHeader), JournalError> {
    let segment = Segment::open(path, writable)?;
    let mut head = [0u8; SEGMENT_HEADER_LEN];
    segment.load(0, &mut head);
    let header = SegmentHeader::decode(&head).map_err(|kind| JournalError::Corrupt {
        segment: SegmentId(named),
        offset: 0,
        kind,
    })?;
    if header.segment_size != segment.len() as u64 {
        return Err(JournalError::BadSegmentLength {
            path: path.to_owned(),
            len: segment.len() as u64,
        });
    }
    if header.first_sequence != named {
        return Err(JournalError::Gap {
            path: path.to_owned(),
            expected: named,
            found: header.first_sequence,
        });
    }
    Ok((segment, header))
}

/// What a slot that should open a group holds.
enum Head {
    /// A valid group of this many records, with its claim point.
    Group(u64, Option<u64>),
    /// No valid group starts here; why.
    Broken(CorruptKind),
}

/// The durable point a segment's mark claims, if it holds a valid one.
pub(crate) fn read_mark(segment: &Segment, header: &SegmentHeader) -> Option<u64> {
    let offset = header.mark_offset();
    // Acquire: pairs with the mark's Release store (a verify of a live
    // journal reads the claim the seal covers).
    let word = segment.load_word(offset, Ordering::Acquire);
    let seal = Seal::decode(word);
    if word == 0 || seal.count != 0 || seal.claim != 0 {
        return None;
    }
    let durable = segment.load_word(offset + 8, Ordering::Relaxed);
    let mut scratch = Vec::new();
    let rec = header.record_size as usize;
    (segment.group_crc(offset, 0, 0, rec, &mut scratch) == seal.crc).then_some(durable)
}

/// Judge slot `k` of `segment` as a group's first slot.
fn read_head(segment: &Segment, header: &SegmentHeader, k: u64, scratch: &mut Vec<u8>) -> Head {
    let offset = header.slot_offset(k);
    let expected = header.first_sequence + k;
    // Acquire: pairs with the seal's Release store, so the group's bytes
    // loaded below are the ones sealed (a live writer's, for a verify).
    let word = segment.load_word(offset, Ordering::Acquire);
    if word == 0 {
        return Head::Broken(CorruptKind::Unsealed);
    }
    let found = segment.load_word(offset + 8, Ordering::Relaxed);
    if found != expected {
        return Head::Broken(CorruptKind::BadSequence { expected, found });
    }
    let seal = Seal::decode(word);
    let room = header.capacity() - k;
    if seal.count == 0 || seal.count > room {
        return Head::Broken(CorruptKind::BadGroupLength {
            count: seal.count,
            room,
        });
    }
    let rec = header.record_size as usize;
    if segment.group_crc(offset, seal.count, seal.claim, rec, scratch) != seal.crc {
        return Head::Broken(CorruptKind::RecordChecksum);
    }
    // What the writer stores in every slot after the first (and a reader
    // checks as it hands records out): no seal, and the slot's sequence.
    for i in 1..seal.count {
        let at = offset + i as usize * rec;
        let want = expected + i;
        let found = segment.load_word(at + 8, Ordering::Relaxed);
        if segment.load_word(at, Ordering::Relaxed) != 0 || found != want {
            return Head::Broken(CorruptKind::BadSequence {
                expected: want,
                found,
            });
        }
    }
    Head::Group(seal.count, seal.claim_point(expected))
}

/// Where the valid prefix ends.
#[derive(Debug, Clone)]
struct End {
    /// Index of the segment in the scan.
    seg: usize,
    /// Slot in it.
    slot: u64,
    /// What is there.
    kind: Option<CorruptKind>,
}

struct Opened {
    named: u64,
    path: PathBuf,
    segment: Segment,
    header: SegmentHeader,
}

/// Scan `dir`. `event_size` is checked when given (a writer knows it; a
/// verifier learns it from the first header). With `repair` (the writer,
/// holding the directory's lock), a torn tail is zeroed in place and made
/// durable (`TruncateTornTail` only).
pub(crate) fn scan(
    dir: &Path,
    event_size: Option<usize>,
    mode: RecoveryMode,
    repair: Option<&FileOps>,
) -> Result<(RecoveryReport, Vec<Found>), JournalError> {
    let mut rescans = 0;
    loop {
        let judged = open_all(dir, event_size, repair.is_some())
            .and_then(|opened| judge(&opened, mode, repair));
        match judged {
            Ok(Judged::Done(report, found)) => return Ok((report, found)),
            // Only a scan that does not own the journal sees it move: its
            // end, or its files (a listing taken while the writer renames
            // new segments into place can miss one, and a file listed can
            // be gone when opened).
            Ok(Judged::Moved) if repair.is_none() && rescans < LIVE_RESCANS => {
                rescans += 1;
                std::thread::yield_now();
            }
            Err(JournalError::Gap { .. })
                if repair.is_none() && rescans < LIVE_RESCANS && writer_is_live(dir) =>
            {
                rescans += 1;
                std::thread::yield_now();
            }
            Err(JournalError::Io { ref source, .. })
                if repair.is_none()
                    && rescans < LIVE_RESCANS
                    && source.kind() == std::io::ErrorKind::NotFound
                    && writer_is_live(dir) =>
            {
                rescans += 1;
                std::thread::yield_now();
            }
            Ok(Judged::Moved) => {
                return Err(JournalError::Busy {
                    dir: dir.to_owned(),
                })
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether a writer holds `dir` now (its exclusive lock on `LOCK`): a
/// shared lock on the file cannot be had. Probed and let go at once, so a
/// writer opening meanwhile is never kept out.
fn writer_is_live(dir: &Path) -> bool {
    let Ok(lock) = std::fs::File::open(dir.join("LOCK")) else {
        return false;
    };
    match lock.try_lock_shared() {
        Ok(()) => {
            let _ = lock.unlock();
            false
        }
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => false,
    }
}

/// List and open every segment of `dir`, checking each header against its
/// name, the event size and the segment before it.
fn open_all(
    dir: &Path,
    event_size: Option<usize>,
    writable: bool,
) -> Result<Vec<Opened>, JournalError> {
    let files = list_segments(dir)?;
    let mut opened: Vec<Opened> = Vec::with_capacity(files.len());
    let mut size = event_size;
    let mut expected_first: Option<u64> = None;
    for (named, path) in files {
        let (segment, header) = open_segment(&path, named, writable)?;
        if header.version == LEGACY_FORMAT_VERSION {
            return Err(JournalError::LegacyFormat { path });
        }
        let es = header.event_size as usize;
        match size {
            Some(s) if s != es => {
                return Err(JournalError::EventSizeMismatch {
                    path,
                    expected: s,
                    found: es,
                })
            }
            _ => size = Some(es),
        }
        let expected = expected_first.unwrap_or(header.first_sequence);
        if header.first_sequence != expected {
            return Err(JournalError::Gap {
                path,
                expected,
                found: header.first_sequence,
            });
        }
        expected_first = Some(header.first_sequence + header.capacity());
        opened.push(Opened {
            named,
            path,
            segment,
            header,
        });
    }
    Ok(opened)
}

enum Judged {
    Done(RecoveryReport, Vec<Found>),
    /// The end moved while the scan looked (a live writer): look again.
    Moved,
}

fn judge(
    opened: &[Opened],
    mode: RecoveryMode,
    repair: Option<&FileOps>,
) -> Result<Judged, JournalError> {
    let mut scratch = Vec::new();
    let mut durable = 0u64;
    let mut records = 0u64;
    let mut found: Vec<Found> = Vec::with_capacity(opened.len());
    let mut end: Option<End> = None;
    let mut end_seal = 0u64;
    // The marks: what opens and closes proved durable.
    for o in opened {
        durable = durable.max(read_mark(&o.segment, &o.header).unwrap_or(0));
    }
    // Phase 1: the chain of groups.
    for (i, o) in opened.iter().enumerate() {
        let mut valid = 0u64;
        if end.is_none() {
            let mut k = 0;
            while k < o.header.capacity() {
                match read_head(&o.segment, &o.header, k, &mut scratch) {
                    Head::Group(count, claim) => {
                        durable = durable.max(claim.unwrap_or(0));
                        valid += count;
                        k += count;
                    }
                    Head::Broken(kind) => {
                        end_seal = o
                            .segment
                            .load_word(o.header.slot_offset(k), Ordering::Acquire);
                        end = Some(End {
                            seg: i,
                            slot: k,
                            kind: Some(kind),
                        });
                        break;
                    }
                }
            }
        }
        records += valid;
        found.push(Found {
            path: o.path.clone(),
            header: o.header,
            records: valid,
        });
    }
    let Some(last) = opened.last() else {
        return Ok(Judged::Done(
            RecoveryReport {
                segments: 0,
                records: 0,
                first_sequence: None,
                next_sequence: 0,
                event_size: None,
                durable_point: 0,
                truncation: None,
            },
            found,
        ));
    };
    // Every segment full and valid: the journal ends with the last one.
    let end = end.unwrap_or(End {
        seg: opened.len() - 1,
        slot: last.header.capacity(),
        kind: None,
    });
    let end_segment = &opened[end.seg];
    let next_sequence = end_segment.header.first_sequence + end.slot;
    let end_offset = end_segment.header.slot_offset(end.slot) as u64;

    // Phase 2: what lies after the end: this lap's records (and the claims
    // of any valid groups among them).
    let mut tail_records = 0u64;
    // Per segment, the end of the last slot holding this lap's data.
    let mut tail_ends: Vec<(usize, usize, usize)> = Vec::new();
    for (i, o) in opened.iter().enumerate().skip(end.seg) {
        let rec = o.header.record_size as usize;
        let from = if i == end.seg { end.slot } else { 0 };
        let mut last_data: Option<usize> = None;
        let mut slot = vec![0u8; rec];
        let mut k = from;
        while k < o.header.capacity() {
            let offset = o.header.slot_offset(k);
            o.segment.load(offset, &mut slot);
            match slot_state(&slot, o.header.first_sequence) {
                SlotState::Empty | SlotState::Stale => {}
                SlotState::Data => {
                    tail_records += 1;
                    last_data = Some(offset + rec);
                    if u64_at(&slot, 0) != 0 {
                        if let Head::Group(_, claim) =
                            read_head(&o.segment, &o.header, k, &mut scratch)
                        {
                            durable = durable.max(claim.unwrap_or(0));
                        }
                    }
                }
            }
            k += 1;
        }
        if let Some(to) = last_data {
            let start = if i == end.seg {
                end_offset as usize
            } else {
                SEGMENT_HEADER_LEN
            };
            tail_ends.push((i, start, to));
        }
    }

    if next_sequence < durable {
        // A live writer may have sealed the end since phase 1 read it: a
        // later group's claim then covers a group that is there now.
        if repair.is_none() {
            let now = end_segment
                .segment
                .load_word(end_offset as usize, Ordering::Acquire);
            if now != end_seal {
                return Ok(Judged::Moved);
            }
        }
        return Err(JournalError::CorruptMiddle {
            segment: SegmentId(end_segment.named),
            offset: end_offset,
            kind: match end.kind {
                Some(CorruptKind::Unsealed) | None => CorruptKind::MissingGroup,
                Some(kind) => kind,
            },
        });
    }

    let mut truncation = None;
    if tail_records > 0 {
        let segment = SegmentId(end_segment.named);
        let reason = end.kind.clone().unwrap_or(CorruptKind::DataAfterEmptySlot);
        if mode == RecoveryMode::Strict {
            return Err(JournalError::TornTail {
                segment,
                offset: end_offset,
                kind: reason,
            });
        }
        let bytes = tail_ends
            .iter()
            .map(|&(_, from, to)| (to - from) as u64)
            .sum();
        if let Some(ops) = repair {
            for &(i, from, to) in &tail_ends {
                let s = &opened[i].segment;
                s.zero_range(from, to);
                s.flush(from, to - from, ops)?;
            }
        }
        tracing::warn!(
            %segment,
            offset = end_offset,
            reason = %reason,
            records = tail_records,
            bytes,
            repaired = repair.is_some(),
            "journal: unacknowledged tail truncated"
        );
        truncation = Some(Truncation {
            segment,
            offset: end_offset,
            reason,
            records: tail_records,
            bytes,
        });
    }
    let first_sequence = found
        .first()
        .filter(|_| records > 0)
        .map(|f| f.header.first_sequence);
    Ok(Judged::Done(
        RecoveryReport {
            segments: found.len(),
            records,
            first_sequence,
            next_sequence,
            event_size: Some(opened[0].header.event_size as usize),
            durable_point: durable,
            truncation,
        },
        found,
    ))
}
