//! [`PrefetchRing`]: the bookkeeping of a two-step prefetch for a stage
//! that [looks ahead](crate::EventHandler::look_ahead) in its batch.
//!
//! A product's table entry (a random slot in a table of every product)
//! and then the value it points to each come from memory (~100-200 ns).
//! The first load is started `DISTANCE` events before the command is
//! handled; the second needs the first (it reads the slot to find the
//! value), so it starts `DISTANCE / 2` events later, when the slot has
//! arrived, leaving each load about half the distance to complete.

/// The ids of the last `DISTANCE` events looked ahead at, by sequence, so
/// that the second step finds the id whose first step was half the
/// distance ago. `DISTANCE` is a power of two.
#[derive(Debug)]
pub(crate) struct PrefetchRing<const DISTANCE: usize> {
    ahead: [(u64, u64); DISTANCE],
}

impl<const DISTANCE: usize> PrefetchRing<DISTANCE> {
    /// How far ahead the stage looks: its `look_ahead_distance`.
    pub(crate) const DISTANCE: u64 = DISTANCE as u64;
    /// Events between an id's first step and its second.
    const SECOND_STEP: u64 = Self::DISTANCE / 2;

    pub(crate) fn new() -> Self {
        const { assert!(DISTANCE.is_power_of_two()) };
        Self {
            ahead: [(u64::MAX, 0); DISTANCE],
        }
    }

    /// Note the event at `sequence`: `first` is the id whose first step
    /// the caller has just started (`None` when the event needs none).
    /// Returns the id due for its second step: the one noted
    /// `DISTANCE / 2` events earlier, if that event had one.
    #[inline(always)]
    pub(crate) fn note(&mut self, sequence: u64, first: Option<u64>) -> Option<u64> {
        let mask = Self::DISTANCE - 1;
        if let Some(id) = first {
            self.ahead[(sequence & mask) as usize] = (sequence, id);
        }
        let earlier = sequence.wrapping_sub(Self::SECOND_STEP);
        let (seen, id) = self.ahead[(earlier & mask) as usize];
        (seen == earlier).then_some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::PrefetchRing;

    #[test]
    fn the_second_step_comes_half_the_distance_later() {
        let mut ring = PrefetchRing::<8>::new();
        // Events 10..30; every third one concerns product 100 + sequence.
        let mut due = Vec::new();
        for seq in 10..30u64 {
            let first = (seq % 3 == 0).then_some(100 + seq);
            if let Some(id) = ring.note(seq, first) {
                due.push((seq, id));
            }
        }
        let want: Vec<(u64, u64)> = (10..30u64)
            .filter(|s| s % 3 == 0 && s + 4 < 30)
            .map(|s| (s + 4, 100 + s))
            .collect();
        assert_eq!(due, want);
    }

    #[test]
    fn a_slot_reused_by_a_later_lap_is_not_taken_for_an_earlier_event() {
        let mut ring = PrefetchRing::<4>::new();
        assert_eq!(ring.note(0, Some(7)), None);
        // Sequence 4 shares slot 0 but has no id: sequence 0's entry
        // stays, and sequence 6 (due for 4) must not take it.
        assert_eq!(ring.note(4, None), None);
        assert_eq!(ring.note(6, None), None);
        assert_eq!(ring.note(2, None), Some(7), "0 is due at 2");
    }
}
