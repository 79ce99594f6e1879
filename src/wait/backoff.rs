//! `Backoff`: spin with exponentially more pause hints, then yield, then
//! sleep with a growing interval, so an idle thread costs almost nothing
//! while a busy one reacts within nanoseconds.

use super::interrupted;
use crate::error::WaitError;
use crate::sync::{spin_loop, yield_now, AtomicBool};
use std::time::Instant;

/// Steps 0..=6 spin 2^step pause hints (up to 64).
const SPIN_STEPS: u32 = 6;
/// Steps up to this one yield.
const YIELD_STEPS: u32 = 16;
/// Longest sleep, in microseconds.
const MAX_SLEEP_US: u64 = 1000;

#[inline]
pub(super) fn wait_until<F: FnMut() -> Option<u64>>(
    mut ready: F,
    alerted: &AtomicBool,
    deadline: Option<Instant>,
) -> Result<u64, WaitError> {
    let mut step: u32 = 0;
    loop {
        if let Some(v) = ready() {
            return Ok(v);
        }
        if let Some(e) = interrupted(alerted, deadline) {
            return Err(e);
        }
        if step <= SPIN_STEPS {
            for _ in 0..(1u32 << step) {
                spin_loop();
            }
        } else if step <= YIELD_STEPS || cfg!(loom) {
            yield_now();
        } else {
            let us = (50u64 << (step - YIELD_STEPS - 1).min(5)).min(MAX_SLEEP_US);
            let mut nap = std::time::Duration::from_micros(us);
            if let Some(d) = deadline {
                nap = nap.min(d.saturating_duration_since(Instant::now()));
            }
            std::thread::sleep(nap);
        }
        step = step.saturating_add(1);
    }
}
