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
//!
//! The module's parts: [`layout`] (the control block's fields at their
//! offsets, and where each part of a region lies), [`header`] (the header
//! codec: safe code only, fed bytes from other processes and fuzzed),
//! `map` (the mapping itself, the only unsafe code here) and [`token`]
//! (the process tokens that owner fields hold).

pub(crate) mod header;
pub(crate) mod layout;
#[allow(unsafe_code)]
mod map;
pub(crate) mod token;

pub use header::{HeaderError, RegionHeader};
pub(crate) use layout::RegionLayout;
#[cfg(not(loom))]
pub(crate) use map::ControlView;
pub(crate) use map::Region;

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
