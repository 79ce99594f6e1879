//! [`RegionHeader`]: the codec of a region's first 128 bytes. Safe code
//! only: the bytes may come from another process's file, and the codec is
//! a fuzz target (`fuzz/fuzz_targets/region_header.rs`).
#![forbid(unsafe_code)]

use super::layout::{RegionLayout, AVAILABILITY_OFFSET, FLAG_MULTI_PRODUCER, HEADER_LEN};
use super::{
    LAYOUT_VERSION, MAGIC, MAX_CAPACITY, MAX_CONSUMERS, MAX_EVENT_ALIGN, MAX_EVENT_SIZE,
    MAX_PRODUCERS, MAX_REGION_LEN,
};
use crate::error::ConfigError;

/// The decoded header of a ring region (bytes 0..128).
///
/// # Examples
///
/// ```
/// use ringmaster::{GraphBuilder, RingConfig, NoopHandler};
///
/// let mut builder = GraphBuilder::<[u8; 64]>::new(RingConfig::new(1024));
/// builder.handler("sink", NoopHandler).add();
/// let (producer, graph) = builder.build_single_producer()?;
/// let header = graph.ring().header();
/// assert_eq!(header.capacity, 1024);
/// assert_eq!(header.event_size, 64);
/// assert!(!header.multi_producer);
/// # drop(producer); graph.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionHeader {
    /// Layout version (always [`LAYOUT_VERSION`] once decoded).
    pub version: u32,
    /// Whether the ring uses the multi-producer sequencer.
    pub multi_producer: bool,
    /// Size of one event in bytes.
    pub event_size: u32,
    /// Alignment of the event type.
    pub event_align: u32,
    /// Slots in the ring.
    pub capacity: u64,
    /// Total region length in bytes.
    pub region_len: u64,
    /// Consumer sequence slots in the header.
    pub max_consumers: u32,
    /// Producer-process slots in the header.
    pub max_producers: u32,
    /// The creator's type fingerprint (`0` = none given).
    pub fingerprint: u64,
    /// Offset of the availability flags.
    pub availability_offset: u64,
    /// Offset of the first slot.
    pub slots_offset: u64,
    /// Publish stamps every this many sequences (`0` = none): the latency
    /// sampling interval (see [`RingConfig::metrics_sampling`](crate::RingConfig::metrics_sampling)).
    pub stamp_every: u32,
    /// Offset of the publish-stamp table (`0` when there is none).
    pub stamps_offset: u64,
}

/// Why a byte string is not a valid ring header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderError {
    /// Fewer bytes than a header.
    #[error("region is {len} bytes, shorter than the {HEADER_LEN}-byte header")]
    Truncated {
        /// Bytes available.
        len: usize,
    },
    /// The magic is wrong: not a ringmaster region.
    #[error("bad magic {found:02x?}: not a ringmaster ring (expected {MAGIC:02x?})")]
    BadMagic {
        /// The first eight bytes found.
        found: [u8; 8],
    },
    /// A layout version this build does not understand.
    #[error("unsupported layout version {found}; this build reads version {LAYOUT_VERSION}")]
    UnsupportedVersion {
        /// The version found.
        found: u32,
    },
    /// A field holds a value that no valid header has, or that disagrees
    /// with the layout the other fields imply.
    #[error("header field `{field}` is {found}, expected {expected}")]
    BadField {
        /// The field's name.
        field: &'static str,
        /// The value found.
        found: u64,
        /// What it had to be.
        expected: String,
    },
}

impl RegionHeader {
    /// Encode into the 128-byte on-region form.
    #[cfg_attr(loom, allow(dead_code))] // the loom region keeps no header bytes
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        let flags = if self.multi_producer {
            FLAG_MULTI_PRODUCER
        } else {
            0
        };
        b[12..16].copy_from_slice(&flags.to_le_bytes());
        b[16..20].copy_from_slice(&self.event_size.to_le_bytes());
        b[20..24].copy_from_slice(&self.event_align.to_le_bytes());
        b[24..32].copy_from_slice(&self.capacity.to_le_bytes());
        b[32..40].copy_from_slice(&self.region_len.to_le_bytes());
        b[40..44].copy_from_slice(&self.max_consumers.to_le_bytes());
        b[44..48].copy_from_slice(&self.max_producers.to_le_bytes());
        b[48..56].copy_from_slice(&self.fingerprint.to_le_bytes());
        b[56..64].copy_from_slice(&self.availability_offset.to_le_bytes());
        b[64..72].copy_from_slice(&self.slots_offset.to_le_bytes());
        b[72..76].copy_from_slice(&self.stamp_every.to_le_bytes());
        b[80..88].copy_from_slice(&self.stamps_offset.to_le_bytes());
        b
    }

    /// Decode and validate a header from the first bytes of a region.
    ///
    /// Every field is checked against the layout the others imply, so a
    /// header that decodes describes a region whose parts lie within
    /// `region_len` and do not overlap.
    ///
    /// # Errors
    ///
    /// [`HeaderError`] naming the first field that is wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::{HeaderError, RegionHeader};
    ///
    /// let err = RegionHeader::decode(b"not a ring").unwrap_err();
    /// assert_eq!(err, HeaderError::Truncated { len: 10 });
    /// let err = RegionHeader::decode(&[0u8; 4096]).unwrap_err();
    /// assert!(matches!(err, HeaderError::BadMagic { .. }));
    /// ```
    pub fn decode(bytes: &[u8]) -> Result<Self, HeaderError> {
        let Some(b) = bytes.get(..HEADER_LEN) else {
            return Err(HeaderError::Truncated { len: bytes.len() });
        };
        let u32_at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let u64_at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[o..o + 8]);
            u64::from_le_bytes(a)
        };
        let mut magic = [0u8; 8];
        magic.copy_from_slice(&b[0..8]);
        if magic != MAGIC {
            return Err(HeaderError::BadMagic { found: magic });
        }
        let version = u32_at(8);
        if version != LAYOUT_VERSION {
            return Err(HeaderError::UnsupportedVersion { found: version });
        }
        let bad = |field, found: u64, expected: String| HeaderError::BadField {
            field,
            found,
            expected,
        };
        let flags = u32_at(12);
        if flags & !FLAG_MULTI_PRODUCER != 0 {
            return Err(bad(
                "flags",
                flags.into(),
                format!("only bit 0 set (mask {FLAG_MULTI_PRODUCER:#x})"),
            ));
        }
        let event_size = u32_at(16);
        let event_align = u32_at(20);
        let capacity = u64_at(24);
        let region_len = u64_at(32);
        let max_consumers = u32_at(40);
        if max_consumers as usize != MAX_CONSUMERS {
            return Err(bad(
                "max_consumers",
                max_consumers.into(),
                MAX_CONSUMERS.to_string(),
            ));
        }
        let max_producers = u32_at(44);
        if max_producers as usize != MAX_PRODUCERS {
            return Err(bad(
                "max_producers",
                max_producers.into(),
                MAX_PRODUCERS.to_string(),
            ));
        }
        if !event_align.is_power_of_two() || event_align as usize > MAX_EVENT_ALIGN {
            return Err(bad(
                "event_align",
                event_align.into(),
                format!("a power of two up to {MAX_EVENT_ALIGN}"),
            ));
        }
        let stamp_every = u32_at(72);
        if let Some(at) = (76..80).chain(88..HEADER_LEN).find(|&i| b[i] != 0) {
            return Err(bad("reserved", at as u64, "all reserved bytes zero".into()));
        }
        let layout = RegionLayout::compute(
            capacity,
            event_size as usize,
            event_align as usize,
            flags & FLAG_MULTI_PRODUCER != 0,
            stamp_every.into(),
        )
        .map_err(|e| match e {
            ConfigError::EventZeroSized | ConfigError::EventTooLarge { .. } => bad(
                "event_size",
                event_size.into(),
                format!("1..={MAX_EVENT_SIZE}"),
            ),
            ConfigError::SamplingInvalid { .. } => bad(
                "stamp_every",
                stamp_every.into(),
                format!("0 or a power of two up to {MAX_CAPACITY}"),
            ),
            _ => bad(
                "capacity",
                capacity,
                format!(
                    "a power of two up to {MAX_CAPACITY} whose region fits {MAX_REGION_LEN} bytes"
                ),
            ),
        })?;
        if event_size % event_align != 0 {
            return Err(bad(
                "event_size",
                event_size.into(),
                format!("a multiple of event_align {event_align}"),
            ));
        }
        let availability_offset = u64_at(56);
        if availability_offset != AVAILABILITY_OFFSET {
            return Err(bad(
                "availability_offset",
                availability_offset,
                AVAILABILITY_OFFSET.to_string(),
            ));
        }
        let stamps_offset = u64_at(80);
        if stamps_offset != layout.stamps_offset {
            return Err(bad(
                "stamps_offset",
                stamps_offset,
                layout.stamps_offset.to_string(),
            ));
        }
        let slots_offset = u64_at(64);
        if slots_offset != layout.slots_offset {
            return Err(bad(
                "slots_offset",
                slots_offset,
                layout.slots_offset.to_string(),
            ));
        }
        if region_len != layout.region_len {
            return Err(bad("region_len", region_len, layout.region_len.to_string()));
        }
        Ok(Self {
            version,
            multi_producer: layout.multi_producer,
            event_size,
            event_align,
            capacity,
            region_len,
            max_consumers,
            max_producers,
            fingerprint: u64_at(48),
            availability_offset,
            slots_offset,
            stamp_every,
            stamps_offset,
        })
    }
}

impl RegionHeader {
    /// The layout a decoded header describes (`decode` checked that it is
    /// the one its fields imply).
    #[cfg(not(loom))] // shm, its only user, is not built under loom
    pub(crate) fn layout(&self) -> RegionLayout {
        RegionLayout {
            capacity: self.capacity,
            event_size: self.event_size as usize,
            event_align: self.event_align as usize,
            multi_producer: self.multi_producer,
            stamp_every: self.stamp_every.into(),
            stamps_offset: self.stamps_offset,
            slots_offset: self.slots_offset,
            region_len: self.region_len,
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_each_field_is_checked() {
        let layout = RegionLayout::compute(256, 16, 8, true, 64).unwrap();
        let header = layout.header(0xfeed);
        let bytes = header.encode();
        assert_eq!(RegionHeader::decode(&bytes), Ok(header));

        let corrupt = |at: usize, value: &[u8]| {
            let mut b = bytes;
            b[at..at + value.len()].copy_from_slice(value);
            RegionHeader::decode(&b).unwrap_err()
        };
        assert!(matches!(corrupt(0, b"X"), HeaderError::BadMagic { .. }));
        assert_eq!(
            corrupt(8, &1u32.to_le_bytes()),
            HeaderError::UnsupportedVersion { found: 1 }
        );
        let field = |e: HeaderError| match e {
            HeaderError::BadField { field, .. } => field,
            other => panic!("expected BadField, got {other:?}"),
        };
        assert_eq!(field(corrupt(12, &4u32.to_le_bytes())), "flags");
        assert_eq!(field(corrupt(16, &0u32.to_le_bytes())), "event_size");
        assert_eq!(field(corrupt(16, &12u32.to_le_bytes())), "event_size");
        assert_eq!(field(corrupt(20, &3u32.to_le_bytes())), "event_align");
        assert_eq!(field(corrupt(24, &100u64.to_le_bytes())), "capacity");
        assert_eq!(field(corrupt(32, &1u64.to_le_bytes())), "region_len");
        assert_eq!(field(corrupt(40, &1u32.to_le_bytes())), "max_consumers");
        assert_eq!(field(corrupt(44, &1u32.to_le_bytes())), "max_producers");
        assert_eq!(
            field(corrupt(56, &0u64.to_le_bytes())),
            "availability_offset"
        );
        assert_eq!(field(corrupt(64, &0u64.to_le_bytes())), "slots_offset");
        assert_eq!(field(corrupt(72, &3u32.to_le_bytes())), "stamp_every");
        // No stamps leaves an offset over.
        assert_eq!(field(corrupt(72, &0u32.to_le_bytes())), "stamps_offset");
        assert_eq!(field(corrupt(80, &0u64.to_le_bytes())), "stamps_offset");
        assert_eq!(field(corrupt(100, &[1])), "reserved");
        // Clearing the multi-producer flag moves the stamps and slots:
        // caught too.
        assert_eq!(field(corrupt(12, &0u32.to_le_bytes())), "stamps_offset");
    }
}
