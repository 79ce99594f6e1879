//! `BusySpin`: poll with a CPU pause hint and nothing else.

use super::interrupted;
use crate::error::WaitError;
use crate::sync::{spin_loop, AtomicBool};
use std::time::Instant;

#[inline]
pub(super) fn wait_until<F: FnMut() -> Option<u64>>(
    mut ready: F,
    alerted: &AtomicBool,
    deadline: Option<Instant>,
) -> Result<u64, WaitError> {
    let mut polls: u32 = 0;
    loop {
        if let Some(v) = ready() {
            return Ok(v);
        }
        // Reading the clock costs ~25 ns: only every 64 polls.
        polls = polls.wrapping_add(1);
        if polls.is_multiple_of(64) || cfg!(loom) {
            if let Some(e) = interrupted(alerted, deadline) {
                return Err(e);
            }
        }
        spin_loop();
    }
}
