//! The mapped region that holds a ring: header, sequence counters,
//! availability flags and slots, in one contiguous block of memory.
//!
//! The region is an anonymous mapping private to one process, or a file
//! shared by several (see [`crate::shm`]); the layout is the same, so a
//! second process finds every counter at a fixed offset.
//!
//! # Layout (version 2)
//!
//! All integers little-endian. Offsets in bytes from the start of the region.
//!
//! | offset | size | field | notes |
//! |---:|---:|---|---|
//! | 0 | 8 | magic | `b"RINGMSTR"` |
//! | 8 | 4 | layout version | `2`; a reader refuses any other |
//! | 12 | 4 | flags | bit 0: multi-producer; other bits zero |
//! | 16 | 4 | event size | `size_of::<E>()` |
//! | 20 | 4 | event alignment | `align_of::<E>()`, at most 128 |
//! | 24 | 8 | capacity | slots; a power of two |
//! | 32 | 8 | region length | bytes, a multiple of the page size |
//! | 40 | 4 | consumer slots | `64` |
//! | 44 | 4 | producer slots | `64` |
//! | 48 | 8 | type fingerprint | chosen by the creator; `0` = none |
//! | 56 | 8 | availability offset | `9728` |
//! | 64 | 8 | slots offset | 128-aligned |
//! | 72 | 4 | stamp interval | `0` = no publish stamps, else a power of two `n`: sequences that are multiples of `n` carry one |
//! | 76 | 4 | reserved | zero |
//! | 80 | 8 | stamps offset | 128-aligned; `0` when the stamp interval is `0` |
//! | 88 | 40 | reserved | zero |
//! | 128 | 128 | cursor | `u64` count: published (single producer) or claimed (multi) |
//! | 256 | 128 | shared state | `u64` gating mask (consumers producers wait for), `u64` allocated mask, `u64` attached mask (started stages) |
//! | 384 | 64 × 128 | consumer sequences | `u64` count of events each consumer has processed |
//! | 8576 | 128 | region state | `u64` creator token, `u64` unblocked claims, `u64` evicted consumers, `u64` producer deaths, `u32` removed flag |
//! | 8704 | 64 × 8 | consumer owners | `u64` process token of each allocated consumer slot; `0` = none |
//! | 9216 | 64 × 8 | producer owners | `u64` process token of each producer process; `0` = free |
//! | 9728 | capacity × 4 | availability | multi-producer only: `u32` round flag per slot (bit 31: unblocked) |
//! | stamps offset | max(1, capacity / interval) × 8 | publish stamps | `u64` nanoseconds (`CLOCK_MONOTONIC`) at which sequence `s` (a multiple of the interval) was published, at entry `(s / interval) mod entries` |
//! | slots offset | capacity × event size | slots | the events |
//!
//! Every counter is an atomic `u64` alone on its 128-byte block (two cache
//! lines, so adjacent-line prefetch cannot cause false sharing).
//!
//! The header block (bytes 0..128) is written once by the creator before
//! the region is shared and is read only through [`RegionHeader::decode`],
//! which is safe, bounds-checked code.
#![allow(clippy::disallowed_methods)] // reason: this module owns the ring regions' mappings (see clippy.toml)

use crate::error::ConfigError;
use crate::sequence::Sequence;
use crate::sync::{AtomicU32, AtomicU64, UnsafeCell};
use std::marker::PhantomData;

/// First eight bytes of every ring region.
pub const MAGIC: [u8; 8] = *b"RINGMSTR";
/// The layout version this build writes and accepts.
pub const LAYOUT_VERSION: u32 = 2;
/// Consumer sequence slots in the header: the most consumers (handlers,
/// pollers) one ring can have.
pub const MAX_CONSUMERS: usize = if cfg!(loom) { 4 } else { 64 };
/// Largest accepted event size in bytes.
pub const MAX_EVENT_SIZE: usize = 64 * 1024;
/// Strictest accepted event alignment.
pub const MAX_EVENT_ALIGN: usize = 128;
/// Largest accepted capacity in slots (2^30).
pub const MAX_CAPACITY: u64 = 1 << 30;
/// Largest accepted region length in bytes (64 GiB).
pub const MAX_REGION_LEN: u64 = 64 << 30;
/// Producer-process slots in the header: the most processes that may
/// publish into one multi-producer ring at a time (threads of one process
/// share a slot).
pub const MAX_PRODUCERS: usize = if cfg!(loom) { 4 } else { 64 };

const HEADER_LEN: usize = 128;
const FLAG_MULTI_PRODUCER: u32 = 1;
const PAGE: u64 = 4096;
const BLOCK: u64 = 128;
/// Offset of the availability flags: the control block's length.
const AVAILABILITY_OFFSET: u64 = core::mem::size_of::<ControlBlock>() as u64;

/// The counters at the front of a region.
///
/// In a normal build this struct is never constructed: the region's memory,
/// zero-filled by the OS, is viewed as one. Every field is an atomic (or
/// plain bytes never written after creation), and all-zero is a valid value
/// for each, meaning "nothing published, nothing consumed".
#[repr(C)]
#[derive(Debug)]
pub(crate) struct ControlBlock {
    /// Encoded [`RegionHeader`]; immutable once the region is shared.
    header: [u8; HEADER_LEN],
    /// Published count (single producer) or claimed count (multi producer).
    /// Written only by producers.
    pub(crate) cursor: Sequence,
    /// Which consumer slots gate producers, and which are allocated.
    pub(crate) shared: SharedState,
    /// Per-consumer processed counts; slot `i` written only by consumer `i`.
    pub(crate) consumers: [Sequence; MAX_CONSUMERS],
    /// Who created the region and what liveness recovery has done to it.
    pub(crate) state: RegionState,
    /// Process token of the owner of each allocated consumer slot (`0` in
    /// a private region, whose owner is this process).
    pub(crate) consumer_owners: [AtomicU64; MAX_CONSUMERS],
    /// Process token of each process registered as a producer.
    pub(crate) producer_owners: [AtomicU64; MAX_PRODUCERS],
}

/// Region-wide state, written rarely (creation, recovery, removal).
#[repr(C, align(128))]
#[derive(Debug)]
pub(crate) struct RegionState {
    /// Process token of the creator (`0` in a private region).
    pub(crate) creator: AtomicU64,
    /// Claims marked unblocked after their producer died; while non-zero,
    /// consumers check each slot's unblocked bit.
    pub(crate) unblocked: AtomicU64,
    /// Consumers evicted after their process died.
    pub(crate) evicted: AtomicU64,
    /// Producer processes found dead (by a consumer's check, or by a new
    /// producer taking over the slot); while zero, no claim is unblocked.
    pub(crate) producer_deaths: AtomicU64,
    /// Non-zero once the creator removed the region's file.
    pub(crate) removed: AtomicU32,
}

/// Masks over the consumer slots.
#[repr(C, align(128))]
#[derive(Debug)]
pub(crate) struct SharedState {
    /// Bit `i` set: producers wait for consumer `i` before reusing a slot.
    pub(crate) gating_mask: AtomicU64,
    /// Bit `i` set: consumer slot `i` is in use.
    pub(crate) allocated_mask: AtomicU64,
    /// Bit `i` set: consumer slot `i`'s stage has started (its sequence
    /// and gating bit are set): what `consumer_count` counts.
    pub(crate) attached_mask: AtomicU64,
}

// The documented offsets are the ABI of a shared region: check them.
#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::offset_of!(ControlBlock, cursor) == 128);
    assert!(core::mem::offset_of!(ControlBlock, shared) == 256);
    assert!(core::mem::offset_of!(ControlBlock, consumers) == 384);
    assert!(core::mem::offset_of!(ControlBlock, state) == 8576);
    assert!(core::mem::offset_of!(ControlBlock, consumer_owners) == 8704);
    assert!(core::mem::offset_of!(ControlBlock, producer_owners) == 9216);
    assert!(core::mem::size_of::<ControlBlock>() == 9728);
};

impl ControlBlock {
    #[cfg(loom)]
    fn new_boxed() -> Box<Self> {
        Box::new(Self {
            header: [0; HEADER_LEN],
            cursor: Sequence::new(0),
            shared: SharedState {
                gating_mask: AtomicU64::new(0),
                allocated_mask: AtomicU64::new(0),
                attached_mask: AtomicU64::new(0),
            },
            consumers: core::array::from_fn(|_| Sequence::new(0)),
            state: RegionState {
                creator: AtomicU64::new(0),
                unblocked: AtomicU64::new(0),
                evicted: AtomicU64::new(0),
                producer_deaths: AtomicU64::new(0),
                removed: AtomicU32::new(0),
            },
            consumer_owners: core::array::from_fn(|_| AtomicU64::new(0)),
            producer_owners: core::array::from_fn(|_| AtomicU64::new(0)),
        })
    }
}

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
    #[cfg_attr(loom, allow(dead_code))] // used by shm, not built under loom
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

/// Where each part of a region lies, for one capacity and event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RegionLayout {
    pub(crate) capacity: u64,
    pub(crate) event_size: usize,
    pub(crate) event_align: usize,
    pub(crate) multi_producer: bool,
    /// Publish-stamp interval (`0` = no stamps; else a power of two).
    pub(crate) stamp_every: u64,
    /// Offset of the stamp table (`0` without stamps).
    pub(crate) stamps_offset: u64,
    pub(crate) slots_offset: u64,
    pub(crate) region_len: u64,
}

impl RegionLayout {
    /// Compute and validate the layout.
    pub(crate) fn compute(
        capacity: u64,
        event_size: usize,
        event_align: usize,
        multi_producer: bool,
        stamp_every: u64,
    ) -> Result<Self, ConfigError> {
        if event_size == 0 {
            return Err(ConfigError::EventZeroSized);
        }
        if event_size > MAX_EVENT_SIZE {
            return Err(ConfigError::EventTooLarge {
                size: event_size,
                max: MAX_EVENT_SIZE,
            });
        }
        if event_align > MAX_EVENT_ALIGN {
            return Err(ConfigError::EventAlignmentTooLarge {
                align: event_align,
                max: MAX_EVENT_ALIGN,
            });
        }
        if capacity == 0 {
            return Err(ConfigError::CapacityZero);
        }
        if !capacity.is_power_of_two() {
            return Err(ConfigError::CapacityNotPowerOfTwo { capacity });
        }
        if capacity > MAX_CAPACITY {
            return Err(ConfigError::CapacityTooLarge {
                capacity,
                max: MAX_CAPACITY,
            });
        }
        if stamp_every != 0 && (!stamp_every.is_power_of_two() || stamp_every > MAX_CAPACITY) {
            return Err(ConfigError::SamplingInvalid {
                every: stamp_every,
                max: MAX_CAPACITY,
            });
        }
        // capacity <= 2^30 and event_size <= 2^16: no overflow in u64.
        let availability_len = if multi_producer { capacity * 4 } else { 0 };
        let after_availability = round_up(AVAILABILITY_OFFSET + availability_len, BLOCK);
        let (stamps_offset, stamps_len) = if stamp_every == 0 {
            (0, 0)
        } else {
            (after_availability, stamp_entries(capacity, stamp_every) * 8)
        };
        let slots_offset = round_up(after_availability + stamps_len, BLOCK);
        let region_len = round_up(slots_offset + capacity * event_size as u64, PAGE);
        if region_len > MAX_REGION_LEN || usize::try_from(region_len).is_err() {
            return Err(ConfigError::RegionTooLarge {
                capacity,
                event_size,
                max: MAX_REGION_LEN,
            });
        }
        Ok(Self {
            capacity,
            event_size,
            event_align,
            multi_producer,
            stamp_every,
            stamps_offset,
            slots_offset,
            region_len,
        })
    }

    /// Entries in the stamp table (`0` without stamps).
    pub(crate) fn stamp_entries(&self) -> u64 {
        if self.stamp_every == 0 {
            0
        } else {
            stamp_entries(self.capacity, self.stamp_every)
        }
    }

    fn header(&self, fingerprint: u64) -> RegionHeader {
        RegionHeader {
            version: LAYOUT_VERSION,
            multi_producer: self.multi_producer,
            // Both bounded by MAX_EVENT_SIZE / MAX_EVENT_ALIGN in `compute`.
            event_size: self.event_size as u32,
            event_align: self.event_align as u32,
            capacity: self.capacity,
            region_len: self.region_len,
            max_consumers: MAX_CONSUMERS as u32,
            max_producers: MAX_PRODUCERS as u32,
            fingerprint,
            availability_offset: AVAILABILITY_OFFSET,
            slots_offset: self.slots_offset,
            // Checked <= MAX_CAPACITY (2^30) in `compute`.
            stamp_every: self.stamp_every as u32,
            stamps_offset: self.stamps_offset,
        }
    }
}

/// A read-only view of a shared region's control block, for observers
/// (`ringmaster stat`) that must not write to a ring they watch.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct ControlView {
    map: memmap2::Mmap,
}

#[cfg(not(loom))]
impl ControlView {
    /// Map the control block of `file`, which the caller checked is at
    /// least `size_of::<ControlBlock>()` long (a validated header's region
    /// length always is).
    pub(crate) fn map(file: &std::fs::File) -> std::io::Result<Self> {
        let len = core::mem::size_of::<ControlBlock>();
        // SAFETY: a read-only shared mapping of `len` bytes; other
        // processes may change the bytes, which is why they are only ever
        // read through atomics (`control`).
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(file)? };
        if map.len() < len {
            return Err(std::io::Error::other("file shorter than a control block"));
        }
        Ok(Self { map })
    }

    /// The counters, read with atomic loads only.
    pub(crate) fn control(&self) -> &ControlBlock {
        // SAFETY: the mapping is page-aligned (>= align_of ControlBlock),
        // `len >= size_of::<ControlBlock>()` (checked in `map`), every bit
        // pattern is a valid ControlBlock (atomics and bytes), and the
        // reference lives no longer than the mapping. Loads from read-only
        // memory are sound for atomics no wider than a word; nothing here
        // stores (a store would fault, not corrupt).
        unsafe { &*self.map.as_ptr().cast::<ControlBlock>() }
    }
}

/// Touch one byte per page so the kernel allocates (zeroed) pages now
/// rather than on the producer's first lap.
#[cfg(not(loom))]
fn prefault(map: &memmap2::MmapRaw) {
    let base = map.as_mut_ptr();
    for offset in (0..map.len()).step_by(PAGE as usize) {
        // SAFETY: `offset < len`, the mapping is writable and not yet shared
        // with any other thread; writing the zero it already holds changes
        // no value.
        unsafe { core::ptr::write_volatile(base.add(offset), 0) };
    }
}

/// Stamp-table entries: one per sampled sequence of a lap, at least one.
/// `entries * every >= capacity`, so an entry is rewritten only for a
/// sequence at least a lap later, which its producer cannot claim before
/// every gating consumer has passed the earlier one.
fn stamp_entries(capacity: u64, every: u64) -> u64 {
    (capacity / every).max(1)
}

fn round_up(value: u64, to: u64) -> u64 {
    value.div_ceil(to) * to
}

/// A ring's memory: control block, availability flags and slots.
///
/// `E` is only the slot type; the region holds no `E` by value beyond the
/// slots, which are plain data (`Pod`).
#[derive(Debug)]
pub(crate) struct Region<E> {
    layout: RegionLayout,
    /// The creator's type fingerprint, as validated (never re-read from
    /// memory another process may write).
    fingerprint: u64,
    #[cfg(not(loom))]
    map: memmap2::MmapRaw,
    #[cfg(loom)]
    control: Box<ControlBlock>,
    #[cfg(loom)]
    availability: Box<[AtomicU32]>,
    #[cfg(loom)]
    slots: Box<[UnsafeCell<E>]>,
    _event: PhantomData<E>,
}

// SAFETY: the region hands out only shared references to atomics and to
// `UnsafeCell` slots; exclusive access to a slot is arbitrated by the
// sequencing protocol (see `ring`), never by this type. The mapping itself
// is owned and unmapped once, on drop. `E: Send` is required because slot
// contents move between threads.
unsafe impl<E: Send> Send for Region<E> {}
// SAFETY: as above: every cross-thread access goes through atomics or
// through `UnsafeCell` slots guarded by the sequencing protocol.
unsafe impl<E: Send> Sync for Region<E> {}

impl<E> Region<E> {
    /// The counters at the front of the region.
    #[inline(always)]
    pub(crate) fn control(&self) -> &ControlBlock {
        #[cfg(not(loom))]
        {
            // SAFETY: the mapping starts page-aligned (>= align_of
            // ControlBlock = 128), is at least size_of::<ControlBlock>()
            // long (layout invariant: availability offset = that size), is
            // zero-filled or initialised by us, and all-zero is a valid
            // ControlBlock (atomics and bytes only). It lives as long as
            // `self` and nobody forms a `&mut` to it.
            unsafe { &*self.map.as_ptr().cast::<ControlBlock>() }
        }
        #[cfg(loom)]
        {
            &self.control
        }
    }
}

impl<E: bytemuck::Pod> Region<E> {
    /// Map an anonymous, zero-filled region for `layout`, prefaulted so the
    /// first lap of the ring takes no page faults, and write its header.
    #[cfg(not(loom))]
    pub(crate) fn anonymous(layout: RegionLayout, fingerprint: u64) -> Result<Self, ConfigError> {
        // `compute` checked region_len fits usize.
        let len = layout.region_len as usize;
        let map = memmap2::MmapOptions::new()
            .len(len)
            .map_anon()
            .map_err(|source| ConfigError::MapFailed { len, source })?;
        // Huge pages where the kernel allows them (THP in `madvise` mode):
        // a 4 MiB ring then costs two TLB entries instead of 1024. Advisory;
        // a refusal changes nothing but speed.
        let _ = map.advise(memmap2::Advice::HugePage);
        Ok(Self::initialise(
            memmap2::MmapRaw::from(map),
            layout,
            fingerprint,
        ))
    }

    /// Map `file` (already `layout.region_len` bytes long and zero-filled,
    /// not yet visible to any other process), prefault it and write the
    /// header: the creating side of a shared ring.
    #[cfg(not(loom))]
    pub(crate) fn create_shared(
        file: &std::fs::File,
        layout: RegionLayout,
        fingerprint: u64,
    ) -> std::io::Result<Self> {
        let map = memmap2::MmapOptions::new()
            .len(layout.region_len as usize)
            .map_raw(file)?;
        // Huge pages for a tmpfs file only where the kernel's
        // `shmem_enabled` is `advise` (often `never`); advisory.
        let _ = map.advise(memmap2::Advice::HugePage);
        Ok(Self::initialise(map, layout, fingerprint))
    }

    /// Map `file`, whose header the caller has read and validated (it
    /// decodes to `layout`) and whose length it checked to be
    /// `layout.region_len`: the attaching side of a shared ring.
    #[cfg(not(loom))]
    pub(crate) fn attach_shared(
        file: &std::fs::File,
        layout: RegionLayout,
        fingerprint: u64,
    ) -> std::io::Result<Self> {
        let map = memmap2::MmapOptions::new()
            .len(layout.region_len as usize)
            .map_raw(file)?;
        if map.len() as u64 != layout.region_len {
            return Err(std::io::Error::other("mapping shorter than the region"));
        }
        let _ = map.advise(memmap2::Advice::HugePage);
        Ok(Self {
            layout,
            fingerprint,
            map,
            _event: PhantomData,
        })
    }

    #[cfg(not(loom))]
    fn initialise(map: memmap2::MmapRaw, layout: RegionLayout, fingerprint: u64) -> Self {
        debug_assert_eq!(layout.event_size, core::mem::size_of::<E>());
        debug_assert_eq!(layout.event_align, core::mem::align_of::<E>());
        debug_assert_eq!(map.len() as u64, layout.region_len);
        prefault(&map);
        let header = layout.header(fingerprint).encode();
        // SAFETY: the mapping is `region_len >= 9728 > 128` bytes long,
        // writable, and not yet shared with any other thread or process,
        // so nothing reads these bytes concurrently.
        unsafe {
            core::ptr::copy_nonoverlapping(header.as_ptr(), map.as_mut_ptr(), HEADER_LEN);
        }
        Self {
            layout,
            fingerprint,
            map,
            _event: PhantomData,
        }
    }

    /// The heap-allocated stand-in used under loom, whose atomics cannot
    /// live in raw mapped memory.
    #[cfg(loom)]
    pub(crate) fn anonymous(layout: RegionLayout, fingerprint: u64) -> Result<Self, ConfigError> {
        let availability_len = if layout.multi_producer {
            layout.capacity as usize
        } else {
            0
        };
        Ok(Self {
            layout,
            fingerprint,
            control: ControlBlock::new_boxed(),
            availability: (0..availability_len).map(|_| AtomicU32::new(0)).collect(),
            slots: (0..layout.capacity)
                .map(|_| UnsafeCell::new(E::zeroed()))
                .collect(),
            _event: PhantomData,
        })
    }

    pub(crate) fn layout(&self) -> &RegionLayout {
        &self.layout
    }

    /// The decoded header.
    pub(crate) fn header(&self) -> RegionHeader {
        // Written by `anonymous` from a validated layout, immutable since.
        self.layout.header(self.fingerprint())
    }

    fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The raw header bytes, for validation round trips.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn header_bytes(&self) -> &[u8] {
        &self.control().header
    }

    /// Per-slot availability flags (multi-producer rings; empty otherwise).
    #[inline(always)]
    pub(crate) fn availability(&self) -> &[AtomicU32] {
        #[cfg(not(loom))]
        {
            let len = if self.layout.multi_producer {
                self.layout.capacity as usize
            } else {
                0
            };
            // SAFETY: for a multi-producer layout, [AVAILABILITY_OFFSET,
            // AVAILABILITY_OFFSET + 4 * capacity) lies inside the mapping
            // (`compute` places the slots after it); the offset is a
            // multiple of 128, so 4-aligned; zero is a valid AtomicU32;
            // for other layouts the slice is empty and the pointer merely
            // in bounds.
            unsafe {
                core::slice::from_raw_parts(
                    self.map
                        .as_ptr()
                        .add(AVAILABILITY_OFFSET as usize)
                        .cast::<AtomicU32>(),
                    len,
                )
            }
        }
        #[cfg(loom)]
        {
            &self.availability
        }
    }

    /// The publish-stamp table (empty when the ring keeps no stamps).
    #[inline(always)]
    pub(crate) fn stamps(&self) -> &[AtomicU64] {
        #[cfg(not(loom))]
        {
            // SAFETY: [stamps_offset, stamps_offset + 8 * entries) lies
            // inside the mapping, before the slots (`compute`); the offset
            // is a multiple of 128, so 8-aligned; zero is a valid
            // AtomicU64. Without stamps the slice is empty and the pointer
            // (the mapping's start) in bounds.
            unsafe {
                core::slice::from_raw_parts(
                    self.map
                        .as_ptr()
                        .add(self.layout.stamps_offset as usize)
                        .cast::<AtomicU64>(),
                    self.layout.stamp_entries() as usize,
                )
            }
        }
        #[cfg(loom)]
        {
            // Loom rings never sample (see `RingConfig::metrics_sampling`).
            &[]
        }
    }

    /// The event slots.
    #[inline(always)]
    pub(crate) fn slots(&self) -> &[UnsafeCell<E>] {
        #[cfg(not(loom))]
        {
            // SAFETY: [slots_offset, slots_offset + capacity * size_of E)
            // lies inside the mapping (region_len covers it, see
            // `compute`); slots_offset is a multiple of 128 >= align_of E
            // (checked <= 128) and the mapping is page-aligned; the bytes
            // are zero-filled or written as E, and E: Pod accepts any bytes.
            // `UnsafeCell<E>` is repr(transparent) over E.
            unsafe {
                core::slice::from_raw_parts(
                    self.map
                        .as_ptr()
                        .add(self.layout.slots_offset as usize)
                        .cast::<UnsafeCell<E>>(),
                    self.layout.capacity as usize,
                )
            }
        }
        #[cfg(loom)]
        {
            &self.slots
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn layout_places_slots_after_availability_and_rounds_to_pages() {
        let l = RegionLayout::compute(1024, 64, 8, false, 0).unwrap();
        assert_eq!(l.slots_offset, 9728);
        assert_eq!(l.region_len, round_up(9728 + 64 * 1024, 4096));
        let m = RegionLayout::compute(1024, 64, 8, true, 0).unwrap();
        assert_eq!(m.slots_offset, 9728 + 4096);
        // Stamps: 1024 / 64 = 16 entries of 8 bytes, after the flags.
        let s = RegionLayout::compute(1024, 64, 8, true, 64).unwrap();
        assert_eq!(s.stamps_offset, 9728 + 4096);
        assert_eq!(s.stamp_entries(), 16);
        assert_eq!(s.slots_offset, 9728 + 4096 + 128);
        // An interval beyond the capacity still keeps one entry.
        let one = RegionLayout::compute(8, 64, 8, false, 1 << 20).unwrap();
        assert_eq!(one.stamp_entries(), 1);
        assert!(matches!(
            RegionLayout::compute(8, 64, 8, false, 3),
            Err(ConfigError::SamplingInvalid { every: 3, .. })
        ));
    }

    #[test]
    fn layout_rejects_bad_shapes() {
        assert!(matches!(
            RegionLayout::compute(0, 8, 8, false, 0),
            Err(ConfigError::CapacityZero)
        ));
        assert!(matches!(
            RegionLayout::compute(3, 8, 8, false, 0),
            Err(ConfigError::CapacityNotPowerOfTwo { capacity: 3 })
        ));
        assert!(matches!(
            RegionLayout::compute(1 << 31, 8, 8, false, 0),
            Err(ConfigError::CapacityTooLarge { .. })
        ));
        assert!(matches!(
            RegionLayout::compute(1 << 30, 1 << 16, 8, false, 0),
            Err(ConfigError::RegionTooLarge { .. })
        ));
        assert!(matches!(
            RegionLayout::compute(8, 0, 1, false, 0),
            Err(ConfigError::EventZeroSized)
        ));
        assert!(matches!(
            RegionLayout::compute(8, 1 << 17, 8, false, 0),
            Err(ConfigError::EventTooLarge { .. })
        ));
        assert!(matches!(
            RegionLayout::compute(8, 256, 256, false, 0),
            Err(ConfigError::EventAlignmentTooLarge { .. })
        ));
    }

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

    #[test]
    fn mapped_region_is_zeroed_and_carries_its_header() {
        let layout = RegionLayout::compute(64, 8, 8, true, 0).unwrap();
        let region = Region::<u64>::anonymous(layout, 7).unwrap();
        assert_eq!(region.control().cursor.get(), 0);
        assert_eq!(region.availability().len(), 64);
        assert_eq!(region.slots().len(), 64);
        let decoded = RegionHeader::decode(region.header_bytes()).unwrap();
        assert_eq!(decoded, region.header());
        assert_eq!(decoded.fingerprint, 7);
    }
}
