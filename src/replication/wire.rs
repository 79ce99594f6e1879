//! The stream message: a run of consecutive journal records.
//!
//! # Layout (little-endian)
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 4 | magic `b"RMJ1"` |
//! | 4 | 4 | event size in bytes |
//! | 8 | 8 | journal sequence of the first record |
//! | 16 | 4 | record count (at least 1) |
//! | 20 | 4 | CRC-32 of bytes 4..20 then 24.. (every field but itself) |
//! | 24 | count × event size | the events, as the journal holds them |
//!
//! The message's `Nats-Msg-Id` header is its first sequence, so a publish
//! retried after a lost acknowledgement is dropped by the stream's
//! deduplication; `Nats-Expected-Last-Sequence` orders it after the
//! message before it.

const MAGIC: [u8; 4] = *b"RMJ1";

/// Bytes before the events.
pub(crate) const HEADER_LEN: usize = 24;

/// One decoded message: `count` records from `first`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run<'a> {
    pub(crate) first: u64,
    pub(crate) count: u64,
    pub(crate) event_size: usize,
    pub(crate) crc: u32,
    pub(crate) events: &'a [u8],
}

impl Run<'_> {
    /// The sequence after the last record.
    pub(crate) fn end(&self) -> u64 {
        self.first + self.count
    }

    /// Record `i`'s bytes.
    pub(crate) fn event(&self, i: u64) -> &[u8] {
        let at = i as usize * self.event_size;
        &self.events[at..at + self.event_size]
    }
}

/// Builds one message from records appended in sequence order.
#[derive(Debug)]
pub(crate) struct RunBuilder {
    buf: Vec<u8>,
    event_size: usize,
    first: u64,
    count: u32,
}

impl RunBuilder {
    pub(crate) fn new(event_size: usize, capacity_records: usize) -> Self {
        Self {
            buf: Vec::with_capacity(HEADER_LEN + event_size * capacity_records),
            event_size,
            first: 0,
            count: 0,
        }
    }

    pub(crate) fn count(&self) -> u64 {
        u64::from(self.count)
    }

    pub(crate) fn first(&self) -> u64 {
        self.first
    }

    pub(crate) fn end(&self) -> u64 {
        self.first + u64::from(self.count)
    }

    /// Append record `sequence` (the next one after those held).
    pub(crate) fn push(&mut self, sequence: u64, event: &[u8]) {
        debug_assert_eq!(event.len(), self.event_size);
        if self.count == 0 {
            self.buf.clear();
            self.buf.resize(HEADER_LEN, 0);
            self.first = sequence;
        }
        debug_assert_eq!(sequence, self.end());
        self.buf.extend_from_slice(event);
        self.count += 1;
    }

    /// Drop the records held.
    pub(crate) fn clear(&mut self) {
        self.count = 0;
    }

    /// The finished message (at least one record held); the builder is empty afterwards.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.buf.capacity());
        std::mem::swap(&mut out, &mut self.buf);
        out[0..4].copy_from_slice(&MAGIC);
        out[4..8].copy_from_slice(&(self.event_size as u32).to_le_bytes());
        out[8..16].copy_from_slice(&self.first.to_le_bytes());
        out[16..20].copy_from_slice(&self.count.to_le_bytes());
        let crc = checksum(&out);
        out[20..24].copy_from_slice(&crc.to_le_bytes());
        self.count = 0;
        out
    }
}

/// The CRC-32 of every byte but the checksum field's own.
fn checksum(message: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&message[4..20]);
    h.update(&message[HEADER_LEN..]);
    h.finalize()
}

/// Decode a message, checking everything: magic, sizes, checksum.
pub(crate) fn decode(payload: &[u8]) -> Result<Run<'_>, String> {
    if payload.len() < HEADER_LEN {
        return Err(format!("{} bytes, shorter than a header", payload.len()));
    }
    if payload[0..4] != MAGIC {
        return Err("not a ringmaster journal message (bad magic)".into());
    }
    let word4 = |at: usize| {
        u32::from_le_bytes([
            payload[at],
            payload[at + 1],
            payload[at + 2],
            payload[at + 3],
        ])
    };
    let event_size = word4(4) as usize;
    let mut first = [0u8; 8];
    first.copy_from_slice(&payload[8..16]);
    let first = u64::from_le_bytes(first);
    let count = u64::from(word4(16));
    let crc = word4(20);
    let events = &payload[HEADER_LEN..];
    if event_size == 0 || count == 0 {
        return Err(format!(
            "event size {event_size}, count {count}: both must be at least 1"
        ));
    }
    if (events.len() as u64) != count.saturating_mul(event_size as u64) {
        return Err(format!(
            "{} event bytes for {count} events of {event_size} bytes",
            events.len()
        ));
    }
    if first.checked_add(count).is_none() {
        return Err(format!("sequence {first} + {count} overflows"));
    }
    if checksum(payload) != crc {
        return Err("checksum mismatch".into());
    }
    Ok(Run {
        first,
        count,
        event_size,
        crc,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_round_trips_and_damage_is_refused() {
        let mut b = RunBuilder::new(4, 8);
        for (i, s) in (10..13u64).enumerate() {
            b.push(s, &[i as u8; 4]);
        }
        let msg = b.take();
        let run = decode(&msg).unwrap();
        assert_eq!((run.first, run.count, run.end()), (10, 3, 13));
        assert_eq!(run.event(2), &[2u8; 4]);
        assert_eq!(b.count(), 0);
        for at in 0..msg.len() {
            let mut bad = msg.clone();
            bad[at] ^= 0x40;
            assert!(decode(&bad).is_err(), "a flip at {at} decoded");
        }
        assert!(decode(&msg[..msg.len() - 1]).is_err());
        assert!(decode(&msg[..10]).is_err());
    }
}
