//! [`Sequence`]: a padded, monotonically increasing `u64` counter, the unit
//! of coordination between producers and consumers.
//!
//! A sequence holds a *count*: every event whose sequence number is below the
//! value has been published (for a cursor) or processed (for a consumer).
//! All counters therefore start at zero, which is also what a freshly mapped,
//! zero-filled region holds.
//!
//! The vocabulary is deliberately small, and no other code touches the
//! atomic (after the LMAX Disruptor's `Sequence`):
//!
//! | method            | ordering                 | use                                   |
//! |-------------------|--------------------------|---------------------------------------|
//! | `get`             | Acquire                  | read a cursor before reading slots    |
//! | `get_relaxed`     | Relaxed                  | read one's own counter, statistics    |
//! | `set`             | Release                  | publish writes made before it         |
//! | `fetch_add`       | AcqRel                   | multi-producer claim                  |
//! | `compare_exchange`| AcqRel / Acquire         | multi-producer `try_claim`            |

use crate::sync::{AtomicU64, Ordering};

/// A cache-line-isolated sequence counter.
///
/// Aligned (and so sized) to 128 bytes: two 64-byte lines, because adjacent
/// line prefetch on x86 pulls lines in pairs. Lives inside the mapped region
/// at fixed offsets (see [`crate::region`]), so its layout is `repr(C)`.
#[repr(C, align(128))]
#[derive(Debug)]
pub(crate) struct Sequence {
    value: AtomicU64,
}

impl Sequence {
    /// A counter starting at `initial`.
    #[cfg_attr(not(loom), allow(dead_code))]
    pub(crate) fn new(initial: u64) -> Self {
        Self {
            value: AtomicU64::new(initial),
        }
    }

    /// Acquire load: everything written before the matching [`Sequence::set`]
    /// (slot contents, upstream state) is visible after this returns.
    #[inline(always)]
    pub(crate) fn get(&self) -> u64 {
        // Acquire: pairs with the Release in `set` / `fetch_add` of the owner.
        self.value.load(Ordering::Acquire)
    }

    /// `SeqCst` load: as [`Sequence::get`], and in the single total order
    /// of `SeqCst` operations, for the gating protocol of stages joining a
    /// running ring (see `RingBuffer::min_gating_slot`). The same
    /// instruction as `get` on x86 and AArch64.
    #[inline(always)]
    pub(crate) fn get_seqcst(&self) -> u64 {
        // SeqCst: see `RingBuffer::min_gating_slot`; also Acquire, pairing
        // with the Release in `set`.
        self.value.load(Ordering::SeqCst)
    }

    /// Relaxed load, for the owner reading back its own value or for
    /// statistics where no data is read on the strength of the value.
    #[inline(always)]
    pub(crate) fn get_relaxed(&self) -> u64 {
        // Relaxed: only the owning thread writes this counter, or the value
        // is used for reporting only and guards no data.
        self.value.load(Ordering::Relaxed)
    }

    /// Release store: makes every write before it visible to a thread that
    /// observes the new value with [`Sequence::get`].
    #[inline(always)]
    pub(crate) fn set(&self, value: u64) {
        debug_assert!(value >= self.get_relaxed(), "sequences only increase");
        // Release: publishes slot writes (producer) or "slot may be reused"
        // (consumer); pairs with Acquire in `get`.
        self.value.store(value, Ordering::Release);
    }

    /// Atomically add `delta`, returning the previous value.
    #[inline(always)]
    pub(crate) fn fetch_add(&self, delta: u64) -> u64 {
        // AcqRel: the claim itself publishes nothing, but Acquire orders the
        // following gating read after the claim, and Release keeps claims
        // totally ordered with other producers' claims (RMW chain).
        self.value.fetch_add(delta, Ordering::AcqRel)
    }

    /// Compare-and-swap from `current` to `new`; on failure returns the
    /// value found.
    #[inline(always)]
    pub(crate) fn compare_exchange(&self, current: u64, new: u64) -> Result<u64, u64> {
        // AcqRel on success: same reasoning as `fetch_add`. Acquire on
        // failure: the caller re-reads gating state based on the new value.
        self.value
            .compare_exchange(current, new, Ordering::AcqRel, Ordering::Acquire)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn is_isolated_on_its_own_lines() {
        assert_eq!(core::mem::size_of::<Sequence>(), 128);
        assert_eq!(core::mem::align_of::<Sequence>(), 128);
    }

    #[test]
    fn counts_up() {
        let s = Sequence::new(0);
        assert_eq!(s.fetch_add(3), 0);
        s.set(5);
        assert_eq!(s.get(), 5);
        assert_eq!(s.compare_exchange(4, 9), Err(5));
        assert_eq!(s.compare_exchange(5, 9), Ok(5));
        assert_eq!(s.get_relaxed(), 9);
    }
}
