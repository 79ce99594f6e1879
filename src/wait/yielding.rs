//! `Yielding`: a hundred polls with a pause hint, then one `yield` per poll.

use super::interrupted;
use crate::error::WaitError;
use crate::sync::{spin_loop, yield_now, AtomicBool};
use std::time::Instant;

const SPIN_TRIES: u32 = if cfg!(loom) { 1 } else { 100 };

#[inline]
pub(super) fn wait_until<F: FnMut() -> Option<u64>>(
    mut ready: F,
    alerted: &AtomicBool,
    deadline: Option<Instant>,
) -> Result<u64, WaitError> {
    let mut tries: u32 = 0;
    loop {
        if let Some(v) = ready() {
            return Ok(v);
        }
        if let Some(e) = interrupted(alerted, deadline) {
            return Err(e);
        }
        if tries < SPIN_TRIES {
            tries += 1;
            spin_loop();
        } else {
            yield_now();
        }
    }
}
