//! [`Batch`]: the published events of a range, read in place, in order —
//! the one loop every consumer (a stage's batch, a poller's poll) reads
//! slots with.

use super::range::Published;
use super::{RingBuffer, UNBLOCKED};
use crate::sync::{AtomicU32, Ordering, UnsafeCell};

/// How far ahead of the event it yields a batch prefetches the slots, in
/// bytes: a consumer that trails its producer reads lines another core
/// wrote, and the hardware prefetcher alone does not keep enough of them
/// on the way. 4 KiB kept the most of them in flight of the distances
/// tried (512 bytes to 4 KiB; `ringmaster bench unicast`).
const READ_AHEAD_BYTES: usize = 4096;

/// Iterator over `(sequence, event, end_of_batch)` for a range of
/// published slots; `end_of_batch` is true for the last event it yields.
/// Made by [`RingBuffer::batch`]. Its `next` is small and inlined, so the
/// caller's loop body (a handler's `on_event`, a poll closure) is called
/// directly from the caller's loop and can be inlined there.
pub(crate) struct Batch<'a, E> {
    slots: &'a [UnsafeCell<E>],
    mask: u64,
    next: u64,
    /// One past the last sequence to yield.
    end: u64,
    /// The last sequence yielded (`end - 1` unless claims were unblocked).
    last: u64,
    /// Availability flags, when claims of dead producers were unblocked in
    /// this region: slots flagged `UNBLOCKED` hold no event and are passed
    /// over. `None` (one predictable branch per event) otherwise.
    unblocked: Option<&'a [AtomicU32]>,
}

impl<E: bytemuck::Pod + Send> RingBuffer<E> {
    /// The published events of a range, in order. The events stay valid
    /// while the consumer holds the range (`Published`'s proof: its
    /// sequence, or one downstream of it that gates producers, stays below
    /// them), so no producer can reclaim those slots meanwhile.
    #[inline(always)]
    pub(crate) fn batch(&self, published: &Published) -> Batch<'_, E> {
        let (from, to) = (published.start(), published.end());
        let slots = self.region.slots();
        debug_assert_eq!(slots.len() as u64, self.capacity);
        let mut batch = Batch {
            slots,
            mask: self.mask,
            next: from,
            end: to,
            last: to.wrapping_sub(1),
            unblocked: None,
        };
        if self.has_unblocked_claims() {
            batch.skip_unblocked(self.region.availability());
        }
        batch
    }
}

impl<'a, E> Batch<'a, E> {
    /// Whether the slot of `seq` holds an event (was not unblocked).
    #[inline(always)]
    fn live(flags: &[AtomicU32], mask: u64, seq: u64) -> bool {
        // Relaxed: the flags were Acquire-read by the barrier already.
        flags[(seq & mask) as usize].load(Ordering::Relaxed) & UNBLOCKED == 0
    }

    /// Switch to passing over unblocked claims (rare: a producer process
    /// died mid-claim on a shared ring).
    #[cold]
    fn skip_unblocked(&mut self, flags: &'a [AtomicU32]) {
        let mask = self.mask;
        match (self.next..self.end)
            .rev()
            .find(|&seq| Self::live(flags, mask, seq))
        {
            Some(last) => {
                self.last = last;
                self.end = last + 1;
            }
            None => self.next = self.end,
        }
        self.unblocked = Some(flags);
    }
}

impl<E> Batch<'_, E> {
    /// Start reading the slot [`READ_AHEAD_BYTES`] past `seq`'s, when it is
    /// inside the batch (never a slot the producer may still be writing).
    /// Events of at least a cache line only: for smaller events the
    /// hardware prefetcher keeps up with the sequential reads, and the
    /// extra instructions per event cost more than they save.
    #[inline(always)]
    fn prefetch(&self, seq: u64) {
        let size = std::mem::size_of::<E>();
        if size < crate::memory_hint::CACHE_LINE {
            return;
        }
        let ahead = seq + (READ_AHEAD_BYTES / size).max(1) as u64;
        if ahead < self.end {
            // SAFETY: in bounds as in `next`; the slot is published (inside
            // the batch).
            let cell = unsafe { self.slots.get_unchecked((ahead & self.mask) as usize) };
            // Not under loom: a model would count it as a read of the cell.
            #[cfg(not(loom))]
            cell.with(|p| {
                // SAFETY: published and not reclaimable while the batch
                // lives (`Published`'s proof); valid and aligned.
                crate::memory_hint::prefetch_read(unsafe { &*p });
            });
            #[cfg(loom)]
            let _ = cell;
        }
    }
}

impl<'a, E> Iterator for Batch<'a, E> {
    type Item = (u64, &'a E, bool);

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        while self.next < self.end {
            let seq = self.next;
            self.next += 1;
            if let Some(flags) = self.unblocked {
                if !Self::live(flags, self.mask, seq) {
                    continue;
                }
            }
            // SAFETY: `seq & mask < capacity == slots.len()` (mask is
            // capacity - 1, capacity a power of two), so the index is in
            // bounds.
            let cell = unsafe { self.slots.get_unchecked((seq & self.mask) as usize) };
            self.prefetch(seq);
            let event = cell.with(|p| {
                // SAFETY: published and not reclaimable while the caller
                // uses it, by `Published`'s proof; the pointer
                // is valid and aligned (region invariant).
                unsafe { &*p }
            });
            return Some((seq, event, seq == self.last));
        }
        None
    }
}
