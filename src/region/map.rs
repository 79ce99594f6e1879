//! [`Region`]: a ring's memory, mapped (anonymous, or a file shared with
//! other processes), and [`ControlView`], a read-only view of a shared
//! region's counters. The only code that maps ring memory (`unsafe`).
#![allow(clippy::disallowed_methods)] // reason: this module owns the ring regions' mappings (see clippy.toml)

use super::layout::{ControlBlock, RegionLayout};
#[cfg(not(loom))]
use super::layout::{AVAILABILITY_OFFSET, HEADER_LEN, PAGE};
use super::RegionHeader;
use crate::error::ConfigError;
use crate::sync::{AtomicU32, AtomicU64, UnsafeCell};
use std::marker::PhantomData;

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
