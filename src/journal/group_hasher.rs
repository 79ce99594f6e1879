//! The checksum of the journal's open group, taken while its records are
//! being written rather than all at its seal: a group holds a whole batch
//! (up to 16 M records), more than the cache keeps, and checksumming it
//! at the seal would read every byte back from memory.

use super::format::{group_crc, Seal};
use super::segment::Segment;

/// A group shorter than this is checksummed once, at its seal, as a
/// whole: its bytes are still in the core's second-level cache then. A
/// longer one is checksummed as it goes, and its running CRC joined to
/// the seal's prefix at the end (a few hundred nanoseconds, spread over
/// thousands of records).
const AHEAD: usize = 256 << 10;

/// Bytes checksummed at a time after that: read back while they are
/// still in the first-level cache.
const CHUNK: usize = 16 << 10;

/// The running CRC of an open group's covered bytes (from its first
/// slot's offset 8, after the seal word) up to `hashed_to`. CRCs combine,
/// so the seal's prefix (count and claim, known only at the seal) is put
/// in front at the end.
#[derive(Debug)]
pub(crate) struct GroupHasher {
    crc: crc32fast::Hasher,
    /// Where the group's covered bytes start.
    start: usize,
    /// Byte offset in the segment up to which they are checksummed.
    hashed_to: usize,
    /// `AHEAD` and `CHUNK` in whole slots.
    ahead: u64,
    chunk: u64,
}

impl GroupHasher {
    /// For slots of `slot_len` bytes.
    pub(crate) fn new(slot_len: usize) -> Self {
        Self {
            crc: crc32fast::Hasher::new(),
            start: 0,
            hashed_to: 0,
            ahead: (AHEAD / slot_len).max(1) as u64,
            chunk: (CHUNK / slot_len).max(1) as u64,
        }
    }

    /// Start a group whose first slot is at byte `offset`.
    #[inline(always)]
    pub(crate) fn open(&mut self, offset: usize) {
        self.start = offset + 8;
        self.hashed_to = self.start;
    }

    /// How many records the open group holds when [`keep_up`] is next
    /// due, now that it holds `len` (the writer checks a count it keeps
    /// anyway, not a byte offset per record).
    ///
    /// [`keep_up`]: GroupHasher::keep_up
    pub(crate) fn next_due(&self, len: u64) -> u64 {
        if len < self.ahead {
            self.ahead
        } else {
            len + self.chunk
        }
    }

    /// The group's records are written up to byte `written_to` of `seg`
    /// (and do not change before the seal): checksum them.
    #[cold]
    #[inline(never)]
    pub(crate) fn keep_up(&mut self, seg: &Segment, written_to: usize) {
        if self.hashed_to == self.start {
            self.crc.reset();
        }
        self.crc.update(seg.written(self.hashed_to, written_to));
        self.hashed_to = written_to;
    }

    /// The CRC the seal of the group of `count` records ending at byte
    /// `end` of `seg`, with claim code `claim`, carries: `group_crc` of
    /// its covered bytes.
    pub(crate) fn finish(&mut self, seg: &Segment, end: usize, count: u64, claim: u8) -> u32 {
        if self.hashed_to == self.start {
            return group_crc(count, claim, seg.written(self.start, end));
        }
        self.crc.update(seg.written(self.hashed_to, end));
        let mut sealed = crc32fast::Hasher::new();
        sealed.update(&Seal::upper(count, claim));
        sealed.combine(&self.crc);
        sealed.finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::format::{record_size, SegmentHeader};
    use crate::journal::io::FileOps;

    /// The running CRC equals the one taken over the whole group at once,
    /// for groups checksummed at their seal and groups checksummed as
    /// they go (one chunk, several and a partial one), and payloads that
    /// end inside a word.
    #[test]
    fn the_running_crc_equals_the_whole_groups() {
        let dir = std::env::temp_dir().join(format!("rm-group-hasher-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (n, payload_len) in [56usize, 61, 8, 200].into_iter().enumerate() {
            let slot = record_size(payload_len);
            let header = SegmentHeader::new(payload_len, 0, 8 << 20);
            let path = dir.join(format!("seg{n}"));
            let seg = Segment::create(&path, &header, &FileOps::default()).unwrap();
            let per_chunk = (CHUNK / slot) as u64;
            let ahead = (AHEAD / slot) as u64;
            let mut h = GroupHasher::new(slot);
            let mut offset = header.slot_offset(0);
            let mut seq = 0u64;
            for count in [1, 3, per_chunk, ahead, ahead + 1, ahead + 2 * per_chunk + 5] {
                h.open(offset);
                let mut end = offset;
                let mut due = h.next_due(0);
                for i in 0..count {
                    let payload: Vec<u8> =
                        (0..payload_len).map(|b| (seq as u8) ^ (b as u8)).collect();
                    seg.store_record(end, slot, seq, &payload, i == 0);
                    end += slot;
                    seq += 1;
                    if i + 1 == due {
                        h.keep_up(&seg, end);
                        due = h.next_due(i + 1);
                    }
                }
                let whole = seg.written(offset + 8, end).to_vec();
                for claim in [0u8, 7] {
                    let mut again = GroupHasher {
                        crc: h.crc.clone(),
                        ..h
                    };
                    assert_eq!(
                        again.finish(&seg, end, count, claim),
                        group_crc(count, claim, &whole),
                        "{count} records of {payload_len} bytes"
                    );
                }
                offset = end;
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
