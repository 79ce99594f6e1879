//! Slot allocation: how far producers may claim (the slowest gating
//! consumer's progress) and how far consumers may read (the cursor, and for
//! several producers the availability flags of what they published).

use super::{RingBuffer, UNBLOCKED};
use crate::sync::{fence, Ordering};

impl<E: bytemuck::Pod + Send> RingBuffer<E> {
    /// Events processed by the slowest gating consumer (the slow path of a
    /// claim, taken only when the cached value says "maybe full").
    #[inline]
    pub(crate) fn min_gating(&self) -> u64 {
        self.min_gating_slot().0
    }

    /// The slowest gating consumer's progress and slot (slot 0 when none
    /// gates).
    ///
    /// The mask is read again after the sequences, and the minimum taken
    /// again if it changed, all with `SeqCst` loads. This is what lets a
    /// stage join at a sequence behind the cursor (`start_consumer_at`):
    /// if this read of the mask misses the joining stage's gate, it comes
    /// before that gate in the `SeqCst` order, and so do the sequence
    /// loads before it; the joining stage's own `SeqCst` loads of the same
    /// sequences come after its gate, so they read values at least as new
    /// as the ones this minimum was taken from. (Without the second read,
    /// a sequence read after a stale mask could be newer than anything the
    /// joining stage saw, and the producer could pass its start.)
    #[inline]
    pub(crate) fn min_gating_slot(&self) -> (u64, usize) {
        let control = self.region.control();
        // SeqCst fence: orders our earlier cursor store before the mask
        // read, pairing with the fence in `start_consumer` (a stage joining
        // a running ring at the cursor). Only on this slow path, not per
        // claim.
        fence(Ordering::SeqCst);
        // SeqCst: see above; also Acquire, pairing with the SeqCst RMW in
        // `start_consumer` and the Release in `release_consumer`.
        let mut mask = control.shared.gating_mask.load(Ordering::SeqCst);
        loop {
            let (mut min, mut at) = (u64::MAX, 0);
            let mut left = mask;
            while left != 0 {
                let slot = left.trailing_zeros() as usize;
                // SeqCst (and Acquire): pairs with the consumer's Release
                // `set` after it finished reading the slots, so our later
                // writes to those slots cannot race its reads.
                let seen = control.consumers[slot].get_seqcst();
                if seen < min {
                    (min, at) = (seen, slot);
                }
                left &= left - 1;
            }
            // SeqCst: see above.
            let again = control.shared.gating_mask.load(Ordering::SeqCst);
            if again == mask {
                return (min, at);
            }
            mask = again;
        }
    }

    /// The availability flag value that marks `seq` as published.
    #[inline(always)]
    pub(super) fn round_flag(&self, seq: u64) -> u32 {
        // Truncation intended: flags compare laps modulo 2^31 (bit 31 is
        // the unblocked mark), and a slot is never more than one lap behind.
        ((seq >> self.shift) as u32).wrapping_add(1) & !UNBLOCKED
    }

    /// Multi-producer: mark `seq` published.
    #[inline(always)]
    pub(crate) fn mark_available(&self, seq: u64) {
        debug_assert!(self.is_multi_producer());
        let flag = self.round_flag(seq);
        // Release: publishes the slot write; pairs with the Acquire in
        // `is_available`.
        self.region.availability()[(seq & self.mask) as usize].store(flag, Ordering::Release);
    }

    /// Multi-producer: whether `seq` has been published.
    #[inline(always)]
    pub(crate) fn is_available(&self, seq: u64) -> bool {
        // Acquire: pairs with the Release in `mark_available`.
        self.region.availability()[(seq & self.mask) as usize].load(Ordering::Acquire) & !UNBLOCKED
            == self.round_flag(seq)
    }

    /// Multi-producer: the count of the contiguous published prefix of
    /// `[from, claimed)`: the first unpublished sequence, or `claimed`.
    #[inline]
    pub(crate) fn highest_published(&self, from: u64, claimed: u64) -> u64 {
        let mut seq = from;
        while seq < claimed && self.is_available(seq) {
            seq += 1;
        }
        seq
    }

    /// Count of events a first-stage consumer may read: for one producer the
    /// cursor; for several, the published prefix after `next`, looked for
    /// no further than `limit` (no flag at or past it is read; `u64::MAX`
    /// for everything published), for a reader that wants only
    /// `next..limit`, such as a work-pool worker's run.
    #[inline(always)]
    pub(crate) fn published_within(&self, next: u64, limit: u64) -> u64 {
        let cursor = self.cursor_seq().get();
        if self.region.layout().multi_producer && cursor > next {
            self.highest_published(next, cursor.min(limit))
        } else {
            cursor
        }
    }
}
