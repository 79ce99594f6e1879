//! Where each part of a region lies: the control block's fields at their
//! fixed offsets (the ABI of a shared region) and [`RegionLayout`], the
//! offsets and length for one capacity and event type.

use super::header::RegionHeader;
use super::{
    LAYOUT_VERSION, MAX_CAPACITY, MAX_CONSUMERS, MAX_EVENT_ALIGN, MAX_EVENT_SIZE, MAX_PRODUCERS,
    MAX_REGION_LEN,
};
use crate::error::ConfigError;
use crate::sequence::Sequence;
use crate::sync::{AtomicU32, AtomicU64};

/// Bytes of the header block.
pub(crate) const HEADER_LEN: usize = 128;
/// Header flag: the ring uses the multi-producer sequencer.
pub(crate) const FLAG_MULTI_PRODUCER: u32 = 1;
pub(crate) const PAGE: u64 = 4096;
pub(crate) const BLOCK: u64 = 128;
/// Offset of the availability flags: the control block's length.
pub(crate) const AVAILABILITY_OFFSET: u64 = core::mem::size_of::<ControlBlock>() as u64;

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
    pub(super) header: [u8; HEADER_LEN],
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
    pub(super) fn new_boxed() -> Box<Self> {
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

    pub(crate) fn header(&self, fingerprint: u64) -> RegionHeader {
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
}
