//! The two proofs that slot access rests on, as types: [`Claimed`], the
//! sequences a producer claimed and has not published, and [`Published`],
//! the sequences a consumer saw published and has not released. The ring's
//! methods that touch slot memory take one of them, so they are safe to
//! call; the proof is made once, where the protocol establishes it:
//!
//! * a `Claimed` only by a sequencer's claim (`src/sequencer/`), after it
//!   saw every gating consumer at or past `end - capacity`, so no consumer
//!   reads those slots until the claim is published;
//! * a `Published` only by a consumer's barrier (`src/graph/barrier.rs`),
//!   from counters it read with Acquire, for a consumer whose own sequence
//!   (or one downstream of it) gates producers and stays below the range
//!   until the consumer is done with it.
//!
//! `tests/layers.rs` checks that the constructors are called nowhere else.
//! Both are two `u64`s passed in registers: they cost nothing.

use std::ops::Range;

/// Sequences claimed by one producer and not yet published: the slots are
/// that producer's alone. Neither `Clone` nor `Copy`, so one claim has one
/// owner, and publishing consumes it.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a claimed range must be published, or consumers wait for it forever"]
#[doc(hidden)]
pub struct Claimed {
    start: u64,
    end: u64,
}

impl Claimed {
    /// The proof that `range` is claimed: made by a sequencer's claim only,
    /// once it knows every gating consumer is at or past
    /// `range.end - capacity` and no other claim holds these sequences.
    #[inline(always)]
    pub(crate) fn by_sequencer(range: Range<u64>) -> Self {
        debug_assert!(range.start <= range.end);
        Self {
            start: range.start,
            end: range.end,
        }
    }

    /// The claimed sequences.
    #[inline(always)]
    pub(crate) fn sequences(&self) -> Range<u64> {
        self.start..self.end
    }

    /// How many sequences are claimed.
    #[inline(always)]
    pub(crate) fn len(&self) -> u64 {
        self.end - self.start
    }
}

/// Sequences a consumer saw published, from the next one it will read: the
/// slots may be read until the consumer's sequence moves past them.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Published {
    start: u64,
    end: u64,
}

impl Published {
    /// The proof that `next..end` is published and stays readable: made by
    /// a consumer's barrier only, from the cursor, the availability flags
    /// or the upstream stages' sequences read with Acquire. An `end` below
    /// `next` is an empty range.
    #[inline(always)]
    pub(crate) fn by_barrier(next: u64, end: u64) -> Self {
        Self {
            start: next,
            end: end.max(next),
        }
    }

    /// The first sequence of the range.
    #[inline(always)]
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    /// One past the last published sequence.
    #[inline(always)]
    pub(crate) fn end(&self) -> u64 {
        self.end
    }

    /// Whether nothing new is published.
    #[inline(always)]
    pub(crate) fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// Whether `seq` lies in the range.
    #[inline(always)]
    pub(crate) fn contains(&self, seq: u64) -> bool {
        self.start <= seq && seq < self.end
    }

    /// The first `max` sequences of the range (a shorter range is still
    /// published).
    #[inline(always)]
    pub(crate) fn capped(self, max: u64) -> Self {
        Self {
            start: self.start,
            end: self.end.min(self.start.saturating_add(max)),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_barrier_range_below_next_is_empty() {
        let p = Published::by_barrier(10, 7);
        assert!(p.is_empty());
        assert_eq!((p.start(), p.end()), (10, 10));
    }

    #[test]
    fn capping_keeps_the_start_and_never_grows() {
        let p = Published::by_barrier(5, 100).capped(10);
        assert_eq!((p.start(), p.end()), (5, 15));
        let p = Published::by_barrier(5, 8).capped(10);
        assert_eq!((p.start(), p.end()), (5, 8));
        let p = Published::by_barrier(u64::MAX - 2, u64::MAX).capped(10);
        assert_eq!(p.end(), u64::MAX);
        assert!(p.contains(u64::MAX - 1) && !p.contains(u64::MAX));
    }

    #[test]
    fn a_claim_knows_its_sequences() {
        let c = Claimed::by_sequencer(3..7);
        assert_eq!((c.sequences(), c.len()), (3..7, 4));
    }
}
