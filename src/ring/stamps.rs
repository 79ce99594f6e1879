//! Publish stamps: the time at which sampled sequences were published, kept
//! in the region beside the slots so that every process's metrics can read
//! them. Written by the sequencers just before they publish a range, read by
//! consumers after they saw it published.

use super::RingBuffer;
use crate::clock;
use crate::sync::Ordering;

impl<E: bytemuck::Pod + Send> RingBuffer<E> {
    /// Stamp the sampled sequences of `from..to` with the time now. Called
    /// by the sequencers just before they publish the range, whose Release
    /// (cursor store or availability flags) publishes the stamps with it.
    #[inline(always)]
    pub(crate) fn stamp(&self, from: u64, to: u64) {
        let first = self.next_stamped(from);
        if first < to {
            self.stamp_sampled(first, to);
        }
    }

    /// The first sequence `>= from` that carries a stamp (`u64::MAX`
    /// when the ring keeps none).
    #[inline(always)]
    pub(crate) fn next_stamped(&self, from: u64) -> u64 {
        if self.stamps_on {
            from.saturating_add(self.stamp_every_mask) & !self.stamp_every_mask
        } else {
            u64::MAX
        }
    }

    #[inline(never)]
    fn stamp_sampled(&self, first: u64, to: u64) {
        let now = clock::now_ns();
        let stamps = self.region.stamps();
        let mut seq = first;
        while seq < to {
            if let Some(entry) =
                stamps.get(((seq >> self.stamp_shift) & self.stamp_index_mask) as usize)
            {
                // Relaxed: published by the Release that publishes `seq`
                // (the caller's), read after the matching Acquire.
                entry.store(now, Ordering::Relaxed);
            }
            seq += self.stamp_every_mask + 1;
        }
    }

    /// Call `f(seq, stamp)` for every sampled sequence in `from..to`. The
    /// caller has seen the range published and has not yet advanced its
    /// sequence past it, so no producer can restamp these entries (the
    /// table spans at least a lap: see `region::stamp_entries`).
    #[inline]
    pub(crate) fn sampled(&self, from: u64, to: u64, mut f: impl FnMut(u64, u64)) {
        let stamps = self.region.stamps();
        let mut seq = self.next_stamped(from);
        while seq < to {
            if let Some(entry) =
                stamps.get(((seq >> self.stamp_shift) & self.stamp_index_mask) as usize)
            {
                // Relaxed: see `stamp_sampled`; happens-before via the
                // caller's Acquire of the range.
                f(seq, entry.load(Ordering::Relaxed));
            }
            seq += self.stamp_every_mask + 1;
        }
    }
}
