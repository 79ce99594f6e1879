//! [`JournalReader`]: iterate records from any sequence, across segments,
//! while a writer appends (a live tail).

use super::error::{JournalError, SegmentId};
use super::format::{
    decode_record, record_size, segment_file_name, CorruptKind, SegmentHeader, Slot,
    SEGMENT_HEADER_LEN,
};
use super::recovery::list_segments;
use super::segment::Segment;
use std::path::{Path, PathBuf};

/// Reads a journal in sequence order.
///
/// [`next_record`](JournalReader::next_record) returns `Ok(None)` when no
/// further record exists *yet*: call it again later to tail a journal that
/// is being written. Records are validated (CRC, sequence) as they are
/// read. `Send`, not `Sync`.
///
/// # Examples
///
/// See [`JournalWriter`](super::JournalWriter).
#[derive(Debug)]
pub struct JournalReader {
    dir: PathBuf,
    segment: Segment,
    header: SegmentHeader,
    index: u64,
    slot: Vec<u8>,
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
        let (segment, header) = open_segment(&path, start)?;
        if from > header.first_sequence + header.capacity() {
            return Err(JournalError::SequenceUnavailable {
                requested: from,
                first: *first,
                next: header.first_sequence + header.capacity(),
            });
        }
        Ok(Self {
            dir: dir.to_owned(),
            slot: vec![0u8; record_size(header.event_size as usize)],
            segment,
            index: from - header.first_sequence,
            header,
        })
    }

    /// Event size of the records.
    pub fn event_size(&self) -> usize {
        self.header.event_size as usize
    }

    /// The sequence the next record read will have.
    pub fn position(&self) -> u64 {
        self.header.first_sequence + self.index
    }

    /// The next record, or `None` if none is written yet.
    ///
    /// # Errors
    ///
    /// [`JournalError::Corrupt`] for a damaged record; I/O errors.
    pub fn next_record(&mut self) -> Result<Option<(u64, &[u8])>, JournalError> {
        if self.index == self.header.capacity() {
            let next = self.header.first_sequence + self.header.capacity();
            let path = self.dir.join(segment_file_name(next));
            if !path.exists() {
                return Ok(None);
            }
            let (segment, header) = open_segment(&path, next)?;
            self.segment = segment;
            self.header = header;
            self.index = 0;
        }
        let offset = SEGMENT_HEADER_LEN + self.index as usize * self.slot.len();
        self.segment.load(offset, &mut self.slot);
        let expected = self.header.first_sequence + self.index;
        match decode_record(&self.slot, self.header.event_size as usize, expected) {
            // A zero length over non-zero bytes is a record being written
            // right now (its first word is stored last): not there yet. In
            // a journal no longer written, `verify` reports it as torn.
            Ok(Slot::Empty) | Err(CorruptKind::TornEmptySlot) => Ok(None),
            Ok(Slot::Record { sequence, .. }) => {
                self.index += 1;
                let es = self.header.event_size as usize;
                Ok(Some((sequence, &self.slot[16..16 + es])))
            }
            Err(kind) => Err(JournalError::Corrupt {
                segment: SegmentId(self.header.first_sequence),
                offset: offset as u64,
                kind,
            }),
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

fn open_segment(path: &Path, named: u64) -> Result<(Segment, SegmentHeader), JournalError> {
    let segment = Segment::open(path, false)?;
    let mut head = [0u8; SEGMENT_HEADER_LEN];
    segment.load(0, &mut head);
    let header = SegmentHeader::decode(&head).map_err(|kind| JournalError::Corrupt {
        segment: SegmentId(named),
        offset: 0,
        kind,
    })?;
    if header.first_sequence != named {
        return Err(JournalError::Gap {
            path: path.to_owned(),
            expected: named,
            found: header.first_sequence,
        });
    }
    if header.segment_size != segment.len() as u64 {
        return Err(JournalError::BadSegmentLength {
            path: path.to_owned(),
            len: segment.len() as u64,
        });
    }
    Ok((segment, header))
}
