//! On-disk format of journal segments: the segment header and the
//! fixed-size records that follow it. Pure, safe code: everything read from
//! disk is decoded here, bounds-checked, and returns typed errors.
//!
//! # Segment file
//!
//! Named `{first_sequence:020}.rmj`, so a directory listing sorts segments
//! in order and shows each one's first sequence. Preallocated to the
//! segment size; unwritten space is zero.
//!
//! ## Segment header (64 bytes, little-endian)
//!
//! | offset | size | field | rule |
//! |---:|---:|---|---|
//! | 0 | 8 | magic | `b"RMJOURNL"` |
//! | 8 | 4 | format version | `1`; any other is refused |
//! | 12 | 4 | header length | `64` |
//! | 16 | 4 | event size | bytes of payload per record, `1..=65536` |
//! | 20 | 4 | record size | `round_up(16 + event size, 8)` |
//! | 24 | 8 | first sequence | sequence of the first record |
//! | 32 | 8 | segment size | file length in bytes |
//! | 40 | 20 | reserved | zero |
//! | 60 | 4 | header CRC | CRC-32 (IEEE) of bytes 0..60 |
//!
//! ## Record (`record size` bytes, at `64 + k * record size`)
//!
//! | offset | size | field | rule |
//! |---:|---:|---|---|
//! | 0 | 4 | length | payload bytes (= event size); `0` = no record here yet |
//! | 4 | 4 | CRC | CRC-32 (IEEE) of bytes 0..4 and 8..16+length |
//! | 8 | 8 | sequence | `first sequence + k`: sequences are contiguous |
//! | 16 | length | payload | the event's bytes (`bytemuck`) |
//! | 16+length | pad | padding | zero, to a multiple of 8 |
//!
//! A slot whose length is zero ends the written part of a segment; every
//! byte of it must then be zero, or the slot holds a torn record.

use std::fmt;

/// First bytes of every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"RMJOURNL";
/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;
/// Bytes before the first record.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Bytes before a record's payload.
pub const RECORD_HEADER_LEN: usize = 16;
/// Largest event a journal accepts.
pub const MAX_JOURNAL_EVENT: usize = 64 * 1024;
/// File name suffix of segments.
pub const SEGMENT_SUFFIX: &str = "rmj";
/// Most bytes a `Sync` writer leaves written but not yet msynced (a batch
/// larger than this is msynced in parts before its commit).
pub const MAX_UNSYNCED_BYTES: usize = 8 << 20;
/// How far past the first hole data may lie and still be a torn tail: the
/// unsynced window plus a page either side (msync works in whole pages,
/// and writeback of unsynced pages happens in any order).
pub const TORN_WINDOW_BYTES: u64 = MAX_UNSYNCED_BYTES as u64 + 2 * 4096;

/// Bytes one record of an `event_size` payload takes.
pub fn record_size(event_size: usize) -> usize {
    (RECORD_HEADER_LEN + event_size).div_ceil(8) * 8
}

/// File name of the segment starting at `first_sequence`.
pub fn segment_file_name(first_sequence: u64) -> String {
    format!("{first_sequence:020}.{SEGMENT_SUFFIX}")
}

/// The first sequence encoded in a segment file name, if it is one.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let stem = name.strip_suffix(SEGMENT_SUFFIX)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// A decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// Payload bytes per record.
    pub event_size: u32,
    /// Bytes per record.
    pub record_size: u32,
    /// Sequence of the first record.
    pub first_sequence: u64,
    /// File length.
    pub segment_size: u64,
}

/// What is wrong with a header or record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptKind {
    /// Fewer bytes than the structure needs.
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        found: usize,
    },
    /// Not a segment: wrong magic.
    BadMagic,
    /// A format version this build does not read.
    UnsupportedVersion(u32),
    /// A header field out of range or inconsistent.
    BadHeaderField(&'static str, u64),
    /// The header's CRC does not match.
    HeaderChecksum,
    /// A record's length field is neither 0 nor the event size.
    BadLength(u32),
    /// A record's CRC does not match its bytes.
    RecordChecksum,
    /// A record's sequence is not the next one.
    BadSequence {
        /// Sequence expected here.
        expected: u64,
        /// Sequence found.
        found: u64,
    },
    /// A slot marked empty (length 0) holds non-zero bytes: a torn write.
    TornEmptySlot,
    /// Padding after the payload is not zero.
    BadPadding,
    /// An empty slot is followed by records: data after a hole.
    DataAfterEmptySlot,
}

impl fmt::Display for CorruptKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, found } => write!(f, "truncated: {found} of {needed} bytes"),
            Self::BadMagic => f.write_str("not a journal segment (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported format version {v}"),
            Self::BadHeaderField(name, v) => {
                write!(f, "header field `{name}` has invalid value {v}")
            }
            Self::HeaderChecksum => f.write_str("segment header checksum mismatch"),
            Self::BadLength(l) => write!(f, "record length {l} does not match the event size"),
            Self::RecordChecksum => f.write_str("record checksum mismatch"),
            Self::BadSequence { expected, found } => {
                write!(f, "record sequence {found}, expected {expected}")
            }
            Self::TornEmptySlot => {
                f.write_str("empty record slot holds non-zero bytes (torn write)")
            }
            Self::BadPadding => f.write_str("record padding is not zero"),
            Self::DataAfterEmptySlot => f.write_str("an empty record slot is followed by data"),
        }
    }
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[o..o + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

impl SegmentHeader {
    /// A header for a new segment.
    pub fn new(event_size: usize, first_sequence: u64, segment_size: u64) -> Self {
        Self {
            event_size: event_size as u32,
            record_size: record_size(event_size) as u32,
            first_sequence,
            segment_size,
        }
    }

    /// Records one segment holds.
    pub fn capacity(&self) -> u64 {
        (self.segment_size - SEGMENT_HEADER_LEN as u64) / u64::from(self.record_size)
    }

    /// Encode to the on-disk form.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        b[16..20].copy_from_slice(&self.event_size.to_le_bytes());
        b[20..24].copy_from_slice(&self.record_size.to_le_bytes());
        b[24..32].copy_from_slice(&self.first_sequence.to_le_bytes());
        b[32..40].copy_from_slice(&self.segment_size.to_le_bytes());
        let crc = crc32fast::hash(&b[0..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decode and validate a header from the start of a segment.
    ///
    /// # Errors
    ///
    /// The [`CorruptKind`] of the first problem found.
    pub fn decode(bytes: &[u8]) -> Result<Self, CorruptKind> {
        let Some(b) = bytes.get(..SEGMENT_HEADER_LEN) else {
            return Err(CorruptKind::Truncated {
                needed: SEGMENT_HEADER_LEN,
                found: bytes.len(),
            });
        };
        if b[0..8] != SEGMENT_MAGIC {
            return Err(CorruptKind::BadMagic);
        }
        if crc32fast::hash(&b[0..60]) != u32_at(b, 60) {
            return Err(CorruptKind::HeaderChecksum);
        }
        let version = u32_at(b, 8);
        if version != FORMAT_VERSION {
            return Err(CorruptKind::UnsupportedVersion(version));
        }
        let header_len = u32_at(b, 12);
        if header_len as usize != SEGMENT_HEADER_LEN {
            return Err(CorruptKind::BadHeaderField("header_len", header_len.into()));
        }
        let event_size = u32_at(b, 16);
        if event_size == 0 || event_size as usize > MAX_JOURNAL_EVENT {
            return Err(CorruptKind::BadHeaderField("event_size", event_size.into()));
        }
        let rec = u32_at(b, 20);
        if rec as usize != record_size(event_size as usize) {
            return Err(CorruptKind::BadHeaderField("record_size", rec.into()));
        }
        let segment_size = u64_at(b, 32);
        if segment_size < (SEGMENT_HEADER_LEN + rec as usize) as u64 {
            return Err(CorruptKind::BadHeaderField("segment_size", segment_size));
        }
        Ok(Self {
            event_size,
            record_size: rec,
            first_sequence: u64_at(b, 24),
            segment_size,
        })
    }
}

/// Encode a record into `slot` (exactly `record_size(payload.len())` bytes).
///
/// # Panics
///
/// When `slot` has the wrong length (a programmer error).
pub fn encode_record(slot: &mut [u8], sequence: u64, payload: &[u8]) {
    assert_eq!(slot.len(), record_size(payload.len()), "slot size");
    let len = payload.len() as u32;
    slot[8..16].copy_from_slice(&sequence.to_le_bytes());
    slot[16..16 + payload.len()].copy_from_slice(payload);
    slot[16 + payload.len()..].fill(0);
    slot[0..4].copy_from_slice(&len.to_le_bytes());
    let crc = record_crc(&slot[0..4], &slot[8..16 + payload.len()]);
    slot[4..8].copy_from_slice(&crc.to_le_bytes());
}

fn record_crc(len: &[u8], rest: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(len);
    h.update(rest);
    h.finalize()
}

/// What a record slot holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Slot<'a> {
    /// Nothing written yet (all zero).
    Empty,
    /// A valid record.
    Record {
        /// Its sequence.
        sequence: u64,
        /// Its payload.
        payload: &'a [u8],
    },
}

/// Decode the record slot `slot` expected to hold `expected_sequence`.
///
/// # Errors
///
/// The [`CorruptKind`] when the slot is neither empty nor a valid record
/// with that sequence.
pub fn decode_record(
    slot: &[u8],
    event_size: usize,
    expected_sequence: u64,
) -> Result<Slot<'_>, CorruptKind> {
    let size = record_size(event_size);
    if slot.len() < size {
        return Err(CorruptKind::Truncated {
            needed: size,
            found: slot.len(),
        });
    }
    let slot = &slot[..size];
    let len = u32_at(slot, 0);
    if len == 0 {
        return if slot.iter().all(|&b| b == 0) {
            Ok(Slot::Empty)
        } else {
            Err(CorruptKind::TornEmptySlot)
        };
    }
    if len as usize != event_size {
        return Err(CorruptKind::BadLength(len));
    }
    if record_crc(&slot[0..4], &slot[8..16 + event_size]) != u32_at(slot, 4) {
        return Err(CorruptKind::RecordChecksum);
    }
    if slot[16 + event_size..].iter().any(|&b| b != 0) {
        return Err(CorruptKind::BadPadding);
    }
    let sequence = u64_at(slot, 8);
    if sequence != expected_sequence {
        return Err(CorruptKind::BadSequence {
            expected: expected_sequence,
            found: sequence,
        });
    }
    Ok(Slot::Record {
        sequence,
        payload: &slot[16..16 + event_size],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_and_parse() {
        assert_eq!(segment_file_name(42), "00000000000000000042.rmj");
        assert_eq!(
            parse_segment_file_name("00000000000000000042.rmj"),
            Some(42)
        );
        assert_eq!(parse_segment_file_name("42.rmj"), None);
        assert_eq!(parse_segment_file_name("0000000000000000004x.rmj"), None);
        assert_eq!(parse_segment_file_name("00000000000000000042.tmp"), None);
    }

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let h = SegmentHeader::new(64, 1000, 1 << 20);
        assert_eq!(h.record_size, 80);
        let b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        assert_eq!(h.capacity(), ((1 << 20) - 64) / 80);
        for i in 0..SEGMENT_HEADER_LEN {
            let mut d = b;
            d[i] ^= 0x10;
            assert!(SegmentHeader::decode(&d).is_err(), "flip at {i} accepted");
        }
        assert!(matches!(
            SegmentHeader::decode(&b[..10]),
            Err(CorruptKind::Truncated {
                needed: 64,
                found: 10
            })
        ));
    }

    #[test]
    fn records_round_trip_and_every_flip_is_caught() {
        let payload: Vec<u8> = (0..13u8).collect();
        let mut slot = vec![0u8; record_size(13)];
        assert_eq!(decode_record(&slot, 13, 5), Ok(Slot::Empty));
        encode_record(&mut slot, 5, &payload);
        assert_eq!(
            decode_record(&slot, 13, 5),
            Ok(Slot::Record {
                sequence: 5,
                payload: &payload
            })
        );
        assert_eq!(
            decode_record(&slot, 13, 6),
            Err(CorruptKind::BadSequence {
                expected: 6,
                found: 5
            })
        );
        for byte in 0..slot.len() {
            for bit in 0..8 {
                let mut d = slot.clone();
                d[byte] ^= 1 << bit;
                let r = decode_record(&d, 13, 5);
                assert!(r.is_err(), "flip at {byte}.{bit} accepted");
            }
        }
        let mut torn = vec![0u8; record_size(13)];
        torn[20] = 1;
        assert_eq!(decode_record(&torn, 13, 0), Err(CorruptKind::TornEmptySlot));
    }
}
