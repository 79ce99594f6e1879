//! On-disk format of journal segments (version 2): the segment header, the
//! fixed-size record slots that follow it, and the seals that close groups
//! of records. Pure, safe code: everything read from disk is decoded here,
//! bounds-checked, and returns typed errors.
//!
//! # Segment file
//!
//! Named `{first_sequence:020}.rmj`, so a directory listing sorts segments
//! in order and shows each one's first sequence. Preallocated to the
//! segment size; a new file's unwritten space is zero, a recycled one's
//! holds records of an earlier lap (lower sequences), which never pass for
//! records of this one.
//!
//! ## Segment header (64 bytes, little-endian)
//!
//! | offset | size | field | rule |
//! |---:|---:|---|---|
//! | 0 | 8 | magic | `b"RMJOURNL"` |
//! | 8 | 4 | format version | `2`; `1` is read by `migrate` only |
//! | 12 | 4 | header length | `64` |
//! | 16 | 4 | event size | bytes of payload per record, `1..=65536` |
//! | 20 | 4 | record size | `round_up(16 + event size, 8)` |
//! | 24 | 8 | first sequence | sequence of the record in slot 0 |
//! | 32 | 8 | segment size | file length in bytes |
//! | 40 | 20 | reserved | zero |
//! | 60 | 4 | header CRC | CRC-32 (IEEE) of bytes 0..60 |
//!
//! ## Record slot (`record size` bytes, at `64 + k * record size`)
//!
//! | offset | size | field | rule |
//! |---:|---:|---|---|
//! | 0 | 8 | seal | the group's seal on a group's first slot, else `0` |
//! | 8 | 8 | sequence | `first sequence + k` |
//! | 16 | event size | payload | the event's bytes (`bytemuck`) |
//! | 16 + event size | pad | padding | zero, to a multiple of 8 |
//!
//! ## Groups and seals
//!
//! Records are written in groups (a journal commit, or what a segment roll
//! cut off), each in consecutive slots of one segment, and a group counts
//! only once its first slot holds a valid seal, written last. The seal is
//! one little-endian `u64`:
//!
//! | bits | field | rule |
//! |---:|---|---|
//! | 0..32 | CRC | CRC-32 (IEEE) of the seal's bits 32..64 (4 bytes, LE) followed by the group's bytes from its first slot's offset 8 to the end of its last slot |
//! | 32..56 | count | records in the group, `1..=MAX_GROUP`; `0` for a mark |
//! | 56..64 | claim | how far the journal was durable when the group was written ([`claim_lag`]): every record before `first - claim_lag(code)` was; `255`: no claim |
//!
//! ## Mark (the last 16 bytes of the segment)
//!
//! | offset | size | field | rule |
//! |---:|---:|---|---|
//! | size - 16 | 8 | seal | count 0, claim code 0, CRC of its bits 32..64 and the next 8 bytes |
//! | size - 8 | 8 | durable | every record before this sequence is durable |
//!
//! Written (and made durable) when the writer opens, after making every
//! record it kept durable, and when it closes. The segment's last page
//! ([`MARK_AREA_LEN`]) holds nothing else, so a lost sector or page takes
//! either records or the mark that proves them, never both.
//!
//! The claims are what recovery reads the crash from: the highest claim of
//! any valid group or mark (the *durable point*) is a point below which
//! every record had been made durable before some surviving record was
//! written, so anything invalid below it is damage, and anything invalid
//! above it is an unacknowledged tail. See `docs/journal-format.md`.

use std::fmt;

/// First bytes of every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"RMJOURNL";
/// The format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 2;
/// The previous version, which [`migrate`](super::migrate) converts.
pub const LEGACY_FORMAT_VERSION: u32 = 1;
/// Bytes before the first record slot.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Bytes at the end of every segment that hold no records: the last page,
/// whose final 16 bytes hold the segment's mark. A page of its own, so
/// that no sector or page that holds records also holds the mark that
/// proves them durable.
pub const MARK_AREA_LEN: usize = 4096;
/// Bytes before a record's payload: the seal word and the sequence.
pub const RECORD_HEADER_LEN: usize = 16;
/// Largest event a journal accepts.
pub const MAX_JOURNAL_EVENT: usize = 64 * 1024;
/// File name suffix of segments.
pub const SEGMENT_SUFFIX: &str = "rmj";
/// Most records one group holds (the seal's count field).
pub const MAX_GROUP: u64 = (1 << 24) - 1;
/// The claim code that claims nothing.
pub const NO_CLAIM: u8 = u8::MAX;

/// Bytes one record slot of an `event_size` payload takes.
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
    /// Format version (2, or 1 for a segment only `migrate` reads).
    pub version: u32,
    /// Payload bytes per record.
    pub event_size: u32,
    /// Bytes per record slot.
    pub record_size: u32,
    /// Sequence of the record in slot 0.
    pub first_sequence: u64,
    /// File length.
    pub segment_size: u64,
}

/// What is wrong with a header, a seal or a group.
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
    /// A version-1 record's length field is neither 0 nor the event size.
    BadLength(u32),
    /// A group's (or a version-1 record's) CRC does not match its bytes.
    RecordChecksum,
    /// A slot's sequence is not the one its position says.
    BadSequence {
        /// Sequence expected here.
        expected: u64,
        /// Sequence found.
        found: u64,
    },
    /// A version-1 slot marked empty (length 0) holds non-zero bytes.
    TornEmptySlot,
    /// Version-1 record padding is not zero.
    BadPadding,
    /// An empty slot is followed by records: data after a hole.
    DataAfterEmptySlot,
    /// A seal's count runs past the end of its segment.
    BadGroupLength {
        /// Records the seal says the group holds.
        count: u64,
        /// Slots left in the segment from the group's first.
        room: u64,
    },
    /// No sealed group starts here, but records after it prove this slot
    /// was durable: its group is missing (zeroed, or never written back).
    MissingGroup,
    /// Records are there but no seal closes them: a group that was being
    /// written (an unacknowledged tail).
    Unsealed,
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
            Self::BadGroupLength { count, room } => write!(
                f,
                "a seal counts {count} records with room for {room} in the segment"
            ),
            Self::MissingGroup => {
                f.write_str("no sealed group where later records prove one was durable")
            }
            Self::Unsealed => f.write_str("records without a seal (a group being written)"),
        }
    }
}

pub(crate) fn u32_at(b: &[u8], o: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[o..o + 4]);
    u32::from_le_bytes(a)
}

pub(crate) fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

impl SegmentHeader {
    /// A header for a new segment in the current format.
    pub fn new(event_size: usize, first_sequence: u64, segment_size: u64) -> Self {
        Self {
            version: FORMAT_VERSION,
            event_size: event_size as u32,
            record_size: record_size(event_size) as u32,
            first_sequence,
            segment_size,
        }
    }

    /// Record slots one segment holds (a version-1 segment has no mark
    /// page).
    pub fn capacity(&self) -> u64 {
        let mark = if self.version == LEGACY_FORMAT_VERSION {
            0
        } else {
            MARK_AREA_LEN
        };
        (self.segment_size - (SEGMENT_HEADER_LEN + mark) as u64) / u64::from(self.record_size)
    }

    /// Byte offset of the segment's mark (its last 16 bytes).
    pub fn mark_offset(&self) -> usize {
        self.segment_size as usize - 16
    }

    /// Byte offset of slot `index`.
    pub fn slot_offset(&self, index: u64) -> usize {
        SEGMENT_HEADER_LEN + index as usize * self.record_size as usize
    }

    /// Encode to the on-disk form.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut b = [0u8; SEGMENT_HEADER_LEN];
        b[0..8].copy_from_slice(&SEGMENT_MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        b[16..20].copy_from_slice(&self.event_size.to_le_bytes());
        b[20..24].copy_from_slice(&self.record_size.to_le_bytes());
        b[24..32].copy_from_slice(&self.first_sequence.to_le_bytes());
        b[32..40].copy_from_slice(&self.segment_size.to_le_bytes());
        let crc = crc32fast::hash(&b[0..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decode and validate a header from the start of a segment: version 2,
    /// or version 1 (whose records only [`migrate`](super::migrate) reads).
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
        if version != FORMAT_VERSION && version != LEGACY_FORMAT_VERSION {
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
        let mark = if version == LEGACY_FORMAT_VERSION {
            0
        } else {
            MARK_AREA_LEN
        };
        let least = SEGMENT_HEADER_LEN + mark + rec as usize;
        if segment_size < least as u64 || !segment_size.is_multiple_of(8) {
            return Err(CorruptKind::BadHeaderField("segment_size", segment_size));
        }
        Ok(Self {
            version,
            event_size,
            record_size: rec,
            first_sequence: u64_at(b, 24),
            segment_size,
        })
    }
}

/// The records before `first - claim_lag(code)` were durable when the group
/// holding the claim was written. Codes 0..8 are exact; above, a code is a
/// 5-bit exponent and 3-bit mantissa (`(8 + m) << (e - 1)`), so a lag is
/// stored rounded *up* to within 1/8 of itself: a claim can only be too
/// modest, never too bold. `NO_CLAIM` (255) claims nothing.
pub fn claim_lag(code: u8) -> Option<u64> {
    if code == NO_CLAIM {
        return None;
    }
    let (e, m) = (u64::from(code >> 3), u64::from(code & 7));
    Some(if e == 0 { m } else { (8 + m) << (e - 1) })
}

/// The smallest claim code whose lag is at least `lag` (so the claim it
/// makes is at most what is true); `NO_CLAIM` when none is that large.
pub fn claim_code(lag: u64) -> u8 {
    /// The largest lag a code stores: code 254, `(8 + 6) << 30`.
    const MAX_LAG: u64 = 14 << 30;
    if lag < 8 {
        return lag as u8;
    }
    if lag > MAX_LAG {
        return NO_CLAIM;
    }
    // lag >> shift is in 8..16.
    let mut shift = 63 - lag.leading_zeros() - 3;
    let mut mantissa = (lag + (1u64 << shift) - 1) >> shift;
    if mantissa == 16 {
        mantissa = 8;
        shift += 1;
    }
    let code = u64::from(shift + 1) * 8 + (mantissa - 8);
    if code >= u64::from(NO_CLAIM) {
        NO_CLAIM
    } else {
        code as u8
    }
}

/// A decoded seal word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seal {
    /// Records in the group; 0 for a mark.
    pub count: u64,
    /// The claim code.
    pub claim: u8,
    /// The stored CRC.
    pub crc: u32,
}

impl Seal {
    /// The seal word of a group of `count` records (0: a mark) with claim
    /// code `claim`, whose covered bytes (see [`Seal::covered_len`]) have
    /// CRC `crc` as computed by [`group_crc`].
    pub fn word(count: u64, claim: u8, crc: u32) -> u64 {
        debug_assert!(count <= MAX_GROUP);
        u64::from(crc) | (count << 32) | (u64::from(claim) << 56)
    }

    /// Decode a seal word (non-zero: zero means "no seal").
    pub fn decode(word: u64) -> Self {
        Self {
            crc: word as u32,
            count: (word >> 32) & MAX_GROUP,
            claim: (word >> 56) as u8,
        }
    }

    /// The seal's bits 32..64, the first 4 bytes its CRC covers.
    pub fn upper(count: u64, claim: u8) -> [u8; 4] {
        (((count & MAX_GROUP) as u32) | (u32::from(claim) << 24)).to_le_bytes()
    }

    /// Bytes after the first slot's seal word that the CRC covers: to the
    /// end of the group's last slot, or a mark's durable word.
    pub fn covered_len(count: u64, record_size: usize) -> usize {
        if count == 0 {
            8
        } else {
            count as usize * record_size - 8
        }
    }

    /// The sequence everything before which was durable, per this seal
    /// at the slot of sequence `first`; `None` when it claims nothing.
    pub fn claim_point(&self, first: u64) -> Option<u64> {
        claim_lag(self.claim).map(|lag| first.saturating_sub(lag))
    }
}

/// The CRC a seal of `count` records with claim code `claim` must carry
/// over `covered` (the group's bytes from its first slot's offset 8).
pub fn group_crc(count: u64, claim: u8, covered: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&Seal::upper(count, claim));
    h.update(covered);
    h.finalize()
}

/// Encode one record slot (`record_size(payload.len())` bytes) with a zero
/// seal word: what the writer stores for every record before the group's
/// seal; tests and tools use it to build segments by hand.
///
/// # Panics
///
/// When `slot` has the wrong length (a programmer error).
pub fn encode_slot(slot: &mut [u8], sequence: u64, payload: &[u8]) {
    assert_eq!(slot.len(), record_size(payload.len()), "slot size");
    slot[0..8].fill(0);
    slot[8..16].copy_from_slice(&sequence.to_le_bytes());
    slot[16..16 + payload.len()].copy_from_slice(payload);
    slot[16 + payload.len()..].fill(0);
}

/// Seal the group held in `slots` (whole slots, the first one at sequence
/// `first`, already encoded with [`encode_slot`]) with claim code `claim`:
/// writes the seal word into the first slot.
///
/// # Panics
///
/// When `slots` is not a whole, non-empty number of `record_size` slots
/// or holds more than [`MAX_GROUP`] (a programmer error).
pub fn seal_slots(slots: &mut [u8], record_size: usize, claim: u8) {
    assert!(!slots.is_empty() && slots.len().is_multiple_of(record_size));
    let count = (slots.len() / record_size) as u64;
    assert!(count <= MAX_GROUP);
    let crc = group_crc(count, claim, &slots[8..]);
    slots[0..8].copy_from_slice(&Seal::word(count, claim, crc).to_le_bytes());
}

/// What a slot holds, judged on its own (without its group).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotState {
    /// Every byte zero.
    Empty,
    /// A record of an earlier lap of a recycled segment (its sequence is
    /// below the segment's first).
    Stale,
    /// Anything else: a record of this lap (sealed or not), or damage.
    Data,
}

/// Classify `slot`, which sits where sequence `expected` belongs in a
/// segment starting at `first`.
pub fn slot_state(slot: &[u8], first: u64) -> SlotState {
    if slot.iter().all(|&b| b == 0) {
        return SlotState::Empty;
    }
    if slot.len() >= RECORD_HEADER_LEN && first > 0 && u64_at(slot, 8) < first {
        return SlotState::Stale;
    }
    SlotState::Data
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
        assert_eq!(h.version, FORMAT_VERSION);
        let b = h.encode();
        assert_eq!(SegmentHeader::decode(&b), Ok(h));
        assert_eq!(h.capacity(), ((1 << 20) - 64 - 4096) / 80);
        assert_eq!(h.mark_offset(), (1 << 20) - 16);
        assert_eq!(h.slot_offset(3), 64 + 3 * 80);
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
        let mut v3 = SegmentHeader { version: 3, ..h }.encode();
        assert_eq!(
            SegmentHeader::decode(&v3),
            Err(CorruptKind::UnsupportedVersion(3))
        );
        v3 = SegmentHeader { version: 1, ..h }.encode();
        assert_eq!(SegmentHeader::decode(&v3).map(|h| h.version), Ok(1));
    }

    #[test]
    fn claim_codes_never_claim_more_than_true_and_lose_at_most_an_eighth() {
        assert_eq!(claim_code(0), 0);
        assert_eq!(claim_lag(0), Some(0));
        assert_eq!(claim_lag(NO_CLAIM), None);
        let mut lags: Vec<u64> = (0..5000).collect();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            lags.push(x >> (x % 64));
        }
        lags.extend([u32::MAX as u64, 1 << 33, 14 << 30, (14 << 30) + 1, u64::MAX]);
        for lag in lags {
            let code = claim_code(lag);
            match claim_lag(code) {
                Some(stored) => {
                    assert!(stored >= lag, "lag {lag}: code {code} stores {stored}");
                    assert!(
                        stored - lag <= lag / 8 + 1,
                        "lag {lag}: code {code} stores {stored}"
                    );
                }
                None => assert!(lag > 14 << 30, "lag {lag} lost its claim"),
            }
        }
        // Codes decode to increasing lags.
        let decoded: Vec<u64> = (0..NO_CLAIM).filter_map(claim_lag).collect();
        assert!(decoded.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn a_sealed_group_round_trips_and_every_flip_breaks_it() {
        let rec = record_size(13);
        let mut slots = vec![0u8; 3 * rec];
        for k in 0..3 {
            let payload: Vec<u8> = (0..13u8).map(|b| b + k as u8).collect();
            encode_slot(&mut slots[k * rec..(k + 1) * rec], 40 + k as u64, &payload);
        }
        seal_slots(&mut slots, rec, claim_code(5));
        let seal = Seal::decode(u64_at(&slots, 0));
        assert_eq!((seal.count, seal.claim), (3, claim_code(5)));
        assert_eq!(seal.claim_point(40), Some(35));
        assert_eq!(
            group_crc(
                seal.count,
                seal.claim,
                &slots[8..8 + Seal::covered_len(3, rec)]
            ),
            seal.crc
        );
        for byte in 0..slots.len() {
            for bit in 0..8 {
                let mut d = slots.clone();
                d[byte] ^= 1 << bit;
                let s = Seal::decode(u64_at(&d, 0));
                let ok = s.count == 3
                    && group_crc(s.count, s.claim, &d[8..8 + Seal::covered_len(3, rec)]) == s.crc;
                assert!(!ok, "flip at {byte}.{bit} accepted");
            }
        }
    }

    #[test]
    fn slots_are_empty_stale_or_data() {
        let rec = record_size(8);
        let mut slot = vec![0u8; rec];
        assert_eq!(slot_state(&slot, 100), SlotState::Empty);
        encode_slot(&mut slot, 50, &[1; 8]);
        assert_eq!(slot_state(&slot, 100), SlotState::Stale);
        encode_slot(&mut slot, 100, &[1; 8]);
        assert_eq!(slot_state(&slot, 100), SlotState::Data);
        // In the first segment of a journal nothing is stale.
        encode_slot(&mut slot, 0, &[1; 8]);
        assert_eq!(slot_state(&slot, 0), SlotState::Data);
    }
}
