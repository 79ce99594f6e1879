//! Sequencers: how producers claim slots and publish them.
//!
//! * [`SingleSequencer`]: one producer. Claiming is arithmetic on a local
//!   counter; the slowest consumer's sequence is cached and re-read only
//!   when the cache says the ring may be full. Publishing is one Release
//!   store of the cursor. No read-modify-write on the hot path.
//! * [`MultiSequencer`]: any number of producers. A blocking claim is one
//!   `fetch_add` on the shared cursor; `try_` claims use compare-exchange so
//!   they can give up. Each slot has an availability flag (the lap number
//!   of its last publish), so consumers only read fully written slots even
//!   when producers publish out of order.
//!
//! After the LMAX Disruptor's `SingleProducerSequencer` and
//! `MultiProducerSequencer`.

mod multi;
mod single;

pub use multi::MultiSequencer;
pub use single::SingleSequencer;
pub(crate) use single::SingleState;

use crate::error::{TryClaimError, WaitError};
use crate::ring::{Claimed, RingBuffer};
use crate::wait::Interrupted;
use std::time::Instant;

mod sealed {
    pub trait Sealed {}
}

/// How a claim may wait for room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(hidden)]
pub enum ClaimWait {
    /// Never wait: `Full` at once.
    Never,
    /// Wait until room or halt.
    Forever,
    /// Wait until room, halt, or this instant.
    Until(Instant),
}

/// The claiming and publishing half of a producer; implemented by
/// [`SingleSequencer`] and [`MultiSequencer`] only.
pub trait Sequencer: sealed::Sealed + Send + std::fmt::Debug + 'static {
    #[doc(hidden)]
    fn for_ring<E: bytemuck::Pod + Send>(ring: &RingBuffer<E>) -> Self;

    /// Claim `n` (`1..=capacity`) slots.
    #[doc(hidden)]
    fn claim<E: bytemuck::Pod + Send>(
        &mut self,
        ring: &RingBuffer<E>,
        n: u64,
        wait: ClaimWait,
    ) -> Result<Claimed, TryClaimError>;

    /// Publish a range returned by `claim`.
    #[doc(hidden)]
    fn publish<E: bytemuck::Pod + Send>(&mut self, ring: &RingBuffer<E>, claimed: Claimed);
}

/// Wait until every gating consumer has processed `wrap` events, i.e. the
/// slots up to `wrap + capacity` are free; returns the gating value seen.
///
/// On a shared ring the wait is cut into liveness-timeout chunks; after
/// each, consumers whose process died are evicted (or reported, by
/// policy), so a killed consumer cannot stop producers forever.
#[inline(never)]
fn wait_for_room<E: bytemuck::Pod + Send>(
    ring: &RingBuffer<E>,
    wrap: u64,
    deadline: Option<Instant>,
) -> Result<u64, TryClaimError> {
    if ring.sampling() == 0 {
        return wait_for_room_unmeasured(ring, wrap, deadline);
    }
    let started = crate::clock::now_ns();
    let waited = wait_for_room_unmeasured(ring, wrap, deadline);
    ring.producer_waits()
        .record(crate::clock::now_ns().saturating_sub(started));
    waited
}

fn wait_for_room_unmeasured<E: bytemuck::Pod + Send>(
    ring: &RingBuffer<E>,
    wrap: u64,
    deadline: Option<Instant>,
) -> Result<u64, TryClaimError> {
    let ready = || {
        let (gating, slot) = ring.min_gating_slot();
        if gating >= wrap {
            Ok(gating)
        } else {
            Err(crate::wait::consumer_channel(slot))
        }
    };
    let Some(liveness) = ring.liveness().copied() else {
        return ring
            .waiter()
            .wait_until(ready, ring.alerted(), deadline)
            .map_err(claim_error);
    };
    let evict = liveness.evict_dead_consumers;
    ring.waiter()
        .wait_checking(
            ready,
            ring.alerted(),
            deadline,
            liveness.timeout,
            || match ring.reap_dead_consumers(evict).first() {
                Some(dead) if !evict => Err(TryClaimError::ConsumerDead {
                    slot: dead.slot,
                    pid: dead.pid,
                }),
                _ => Ok(()),
            },
        )
        .map_err(|e| match e {
            Interrupted::Wait(e) => claim_error(e),
            Interrupted::Check(e) => e,
        })
}

fn claim_error(e: WaitError) -> TryClaimError {
    match e {
        WaitError::Alerted => TryClaimError::Halted,
        WaitError::Timeout => TryClaimError::Full,
    }
}
