//! [`WakeFlag`]: coalesced wake-ups between threads that hand items to a
//! loop and the loop that drains them.
//!
//! A notifier pushes its item, then raises the flag; only the raise that
//! finds the flag down wakes the loop (a syscall, say), later ones are
//! free. The loop clears the flag, then drains everything. Both sides use
//! read-modify-writes, so they are totally ordered on the flag and each
//! pair synchronises: either the loop's clear comes after a raise and
//! acquires it (the item pushed before that raise is visible to the drain
//! that follows the clear), or the raise comes after the clear, finds the
//! flag down and wakes the loop again. A plain store to clear would
//! acquire nothing, and an item pushed before a raise that found the flag
//! up could be missed by the drain with no wake-up to follow;
//! `tests/loom.rs` models both.

use crate::sync::{AtomicBool, Ordering};

/// A flag that coalesces wake-ups: see the module documentation.
///
/// Public for the loom models; not part of the documented API.
///
/// # Examples
///
/// ```
/// use ringmaster::WakeFlag;
///
/// let flag = WakeFlag::default();
/// assert!(flag.raise(), "the first raise wakes the loop");
/// assert!(!flag.raise(), "later ones are free until the loop clears");
/// flag.clear();
/// assert!(flag.raise());
/// ```
#[derive(Debug, Default)]
#[doc(hidden)]
pub struct WakeFlag {
    raised: AtomicBool,
}

impl WakeFlag {
    /// The notifier's side, after it pushed its item: whether it must wake
    /// the loop (the flag was down).
    #[inline]
    pub fn raise(&self) -> bool {
        // AcqRel: the Release publishes the item pushed before, to the
        // loop's `clear` that reads this raise; pairs with its Acquire.
        !self.raised.swap(true, Ordering::AcqRel)
    }

    /// The loop's side, before it drains: every item pushed before a raise
    /// that this clear reads is visible to the drain after it.
    #[inline]
    pub fn clear(&self) {
        // AcqRel: the Acquire pairs with the Release of the raise it reads
        // (a store would acquire nothing); the RMW orders this clear
        // against every raise, so a later raise finds the flag down.
        self.raised.swap(false, Ordering::AcqRel);
    }
}
