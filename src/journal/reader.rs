//! [`JournalReader`]: iterate records from any sequence, across segments,
//! while a writer appends (a live tail). It hands out records of sealed
//! groups only, each group checked against its seal before any of its
//! records is.

use super::error::{JournalError, SegmentId};
use super::format::{record_size, segment_file_name, CorruptKind, Seal, SegmentHeader};
use super::recovery::{list_segments, open_segment};
use super::segment::Segment;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

/// Reads a journal in sequence order.
///
/// [`next_record`](JournalReader::next_record) returns `Ok(None)` when no
/// further record is sealed *yet*: call it again later to tail a journal
/// that is being written. It sees a group once the writer sealed it (a
/// commit), and checks the group's checksum before handing out any of its
/// records. `Send`, not `Sync`.
///
/// # Examples
///
/// See [`JournalWriter`](super::JournalWriter).
#[derive(Debug)]
pub struct JournalReader {
    dir: PathBuf,
    segment: Segment,
    header: SegmentHeader,
    /// Next slot to hand out.
    index: u64,
    /// End of the checked group `index` is in (`index == group_end`: the
    /// next group is not read yet).
    group_end: u64,
    /// Records before this are skipped (opened mid-group).
    from: u64,
    slot: Vec<u8>,
    scratch: Vec<u8>,
}

/// What the slot where a group should start holds, seen from a reader.
enum Next {
    /// A checked group of this many records.
    Group(u64),
    /// Nothing sealed here yet.
    NotYet,
}

impl JournalReader {
    /// Open `dir` positioned at `from` (the first record read has sequence
    /// `from`).
    ///
    /// # Errors
    ///
    /// [`JournalError::SequenceUnavailable`] when `from` precedes the first
    /// segment (removed by retention) or the directory holds no segment;
    /// corruption and I/O errors.
    pub fn open(dir: &Path, from: u64) -> Result<Self, JournalError> {
        // A listing taken while the writer renames a new segment into place
        // may miss it: look again before calling `from` unavailable.
        let mut tries = 0;
        loop {
            match Self::open_listed(dir, from) {
                Err(JournalError::SequenceUnavailable { .. }) if tries < 3 => tries += 1,
                other => return other,
            }
        }
    }

    fn open_listed(dir: &Path, from: u64) -> Result<Self, JournalError> {
        let files = list_segments(dir)?;
        let Some((first, _)) = files.first() else {
            return Err(JournalError::SequenceUnavailable {
                requested: from,
                first: 0,
                next: 0,
            });
        };
        if from < *first {
            return Err(JournalError::SequenceUnavailable {
                requested: from,
                first: *first,
                next: *first,
            });
        }
        let (start, path) = files
            .iter()
            .rev()
            .find(|(f, _)| *f <= from)
            .cloned()
            .unwrap_or_else(|| files[0].clone());
        let (segment, header) = open_segment(&path, start, false)?;
        if header.version != super::format::FORMAT_VERSION {
            return Err(JournalError::LegacyFormat { path });
        }
        if from > header.first_sequence + header.capacity() {
            return Err(JournalError::SequenceUnavailable {
                requested: from,
                first: *first,
                next: header.first_sequence + header.capacity(),
            });
        }
        let mut reader = Self {
            dir: dir.to_owned(),
            slot: vec![0u8; record_size(header.event_size as usize)],
            scratch: Vec::new(),
            segment,
            index: 0,
            group_end: 0,
            from,
            header,
        };
        // Walk the groups to the one holding `from`; where the sealed
        // groups end before it, wait there and skip up to it as they come.
        let target = from - reader.header.first_sequence;
        while reader.index < target {
            match reader.next_group()? {
                Next::Group(count) if reader.index + count <= target => {
                    reader.index += count;
                }
                Next::Group(count) => {
                    reader.group_end = reader.index + count;
                    reader.index = target;
                }
                Next::NotYet => break,
            }
        }
        Ok(reader)
    }

    /// Event size of the records.
    pub fn event_size(&self) -> usize {
        self.header.event_size as usize
    }

    /// The sequence the next record read will have.
    pub fn position(&self) -> u64 {
        (self.header.first_sequence + self.index).max(self.from)
    }

    /// Judge the slot at `self.index` as the start of a group: check the
    /// group against its seal. A seal that fails its check is one of an
    /// earlier lap of a recycled segment while the writer has not come
    /// this far (not yet), unless this lap's sequence is there under it
    /// (corruption).
    fn next_group(&mut self) -> Result<Next, JournalError> {
        let offset = self.header.slot_offset(self.index);
        let expected = self.header.first_sequence + self.index;
        let rec = self.header.record_size as usize;
        loop {
            // Acquire: pairs with the seal's Release store: a seal seen is
            // seen with its group's bytes.
            let word = self.segment.load_word(offset, Ordering::Acquire);
            if word == 0 {
                return Ok(Next::NotYet);
            }
            let seal = Seal::decode(word);
            let room = self.header.capacity() - self.index;
            let fits = seal.count > 0 && seal.count <= room;
            let sequence = self.segment.load_word(offset + 8, Ordering::Relaxed);
            if fits && sequence == expected {
                let crc =
                    self.segment
                        .group_crc(offset, seal.count, seal.claim, rec, &mut self.scratch);
                if crc == seal.crc {
                    return Ok(Next::Group(seal.count));
                }
            }
            // Acquire: pairs with the Release store of a group's first
            // sequence, which the writer makes after clearing the seal
            // word: a sequence of this lap seen here means the seal word
            // loaded again is the writer's (cleared, or its new seal).
            let sequence = self.segment.load_word(offset + 8, Ordering::Acquire);
            if self.segment.load_word(offset, Ordering::Acquire) != word {
                continue;
            }
            if sequence != expected {
                return Ok(Next::NotYet);
            }
            let kind = if fits {
                CorruptKind::RecordChecksum
            } else {
                CorruptKind::BadGroupLength {
                    count: seal.count,
                    room,
                }
            };
            return Err(JournalError::Corrupt {
                segment: SegmentId(self.header.first_sequence),
                offset: offset as u64,
                kind,
            });
        }
    }

    /// The next record, or `None` if none is sealed yet.
    ///
    /// # Errors
    ///
    /// [`JournalError::Corrupt`] for a damaged group;
    /// [`JournalError::SequenceUnavailable`] when the segment being read
    /// was recycled by retention under the reader; I/O errors.
    pub fn next_record(&mut self) -> Result<Option<(u64, &[u8])>, JournalError> {
        loop {
            if self.index < self.group_end {
                let offset = self.header.slot_offset(self.index);
                self.segment.load(offset, &mut self.slot);
                let expected = self.header.first_sequence + self.index;
                let mut word = [0u8; 8];
                word.copy_from_slice(&self.slot[8..16]);
                if u64::from_le_bytes(word) != expected {
                    // The group was checked; its slots changed since: the
                    // file was recycled under this reader.
                    return Err(JournalError::SequenceUnavailable {
                        requested: expected,
                        first: self.header.first_sequence + self.header.capacity(),
                        next: 0,
                    });
                }
                self.index += 1;
                if expected < self.from {
                    continue;
                }
                let es = self.header.event_size as usize;
                return Ok(Some((expected, &self.slot[16..16 + es])));
            }
            if self.index == self.header.capacity() {
                let next = self.header.first_sequence + self.header.capacity();
                let path = self.dir.join(segment_file_name(next));
                if !path.exists() {
                    return Ok(None);
                }
                let (segment, header) = open_segment(&path, next, false)?;
                self.segment = segment;
                self.header = header;
                self.index = 0;
                self.group_end = 0;
                continue;
            }
            match self.next_group()? {
                Next::Group(count) => self.group_end = self.index + count,
                Next::NotYet => return Ok(None),
            }
        }
    }

    /// The next record decoded as `E` (copied, so alignment does not matter).
    ///
    /// # Errors
    ///
    /// As [`next_record`](JournalReader::next_record), and `Config` when `E`
    /// is not the journal's event size.
    pub fn next_event<E: bytemuck::Pod>(&mut self) -> Result<Option<(u64, E)>, JournalError> {
        if core::mem::size_of::<E>() != self.event_size() {
            return Err(JournalError::Config {
                what: "event type size",
                value: core::mem::size_of::<E>() as u64,
                rule: "equal to the journal's event size",
            });
        }
        Ok(self
            .next_record()?
            .map(|(seq, bytes)| (seq, bytemuck::pod_read_unaligned(bytes))))
    }
}
