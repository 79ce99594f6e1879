//! The liveness policy of shared rings: which processes behind the
//! region's owner tokens (`region::token`) are dead, and what a producer
//! does about a dead consumer. The ring asks through the hook it is given
//! ([`liveness_of`]); `/proc` is read only on cold paths: attach, detach,
//! and after a wait has lasted the liveness timeout.

use super::proc_stat::{current_token, read_stat};
use crate::region::token::{pid_of, START_MASK};
use crate::ring::Liveness;
use std::time::Duration;

/// What a producer does when a consumer process that gates it has died.
///
/// # Examples
///
/// ```
/// use ringmaster::shm::{DeadConsumerPolicy, SharedOptions};
///
/// let options = SharedOptions::default().on_dead_consumer(DeadConsumerPolicy::Fail);
/// assert_eq!(options.dead_consumer_policy(), DeadConsumerPolicy::Fail);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeadConsumerPolicy {
    /// Free the dead consumer's slot; producers stop waiting for it and
    /// the ring moves on (the default).
    #[default]
    Evict,
    /// Leave the slot and fail the waiting claim with
    /// [`ClaimError::ConsumerDead`](crate::ClaimError::ConsumerDead).
    Fail,
}

/// Whether the process behind a token still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Alive,
    Dead,
}

/// The ring's liveness rules for this process: its token, the timeout,
/// the dead-consumer policy, and [`is_dead`] as the ring's question.
pub(crate) fn liveness_of(timeout: Duration, dead_consumer: DeadConsumerPolicy) -> Liveness {
    Liveness {
        timeout,
        evict_dead_consumers: dead_consumer == DeadConsumerPolicy::Evict,
        me: current_token(),
        is_dead,
    }
}

/// The ring's hook: is the token's process dead (see [`status`])?
pub(crate) fn is_dead(token: u64) -> bool {
    status(token) == Status::Dead
}

/// Is the token's process alive? A process that exited, was killed and
/// reaped, is a zombie awaiting its parent, or whose pid now belongs to a
/// process started at another time is dead. When `/proc` cannot tell
/// (not mounted, no permission), the answer is `Alive`: liveness recovery
/// never evicts on a guess.
pub(crate) fn status(token: u64) -> Status {
    let pid = pid_of(token);
    if pid == 0 {
        return Status::Dead;
    }
    match read_stat(pid) {
        Ok(stat) if stat.state == b'Z' || stat.state == b'X' => Status::Dead,
        Ok(stat) => {
            let recorded = token & START_MASK;
            if recorded != 0 && stat.start_ticks & START_MASK != recorded {
                Status::Dead // the pid was reused
            } else {
                Status::Alive
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Status::Dead,
        Err(_) => Status::Alive,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::region::token::token;

    #[test]
    fn this_process_is_alive_and_its_token_round_trips() {
        let me = current_token();
        assert_eq!(pid_of(me), std::process::id());
        assert_eq!(status(me), Status::Alive);
    }

    #[test]
    fn a_reused_pid_or_a_missing_process_is_dead() {
        let me = current_token();
        let other_start = token(pid_of(me), (me & START_MASK) + 1);
        assert_eq!(status(other_start), Status::Dead);
        assert_eq!(status(token(0, 5)), Status::Dead);
        // Above the largest pid_max Linux allows.
        assert_eq!(status(token((1 << 22) + 1, 1)), Status::Dead);
    }

    #[test]
    fn a_reaped_child_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = read_stat(pid).map_or(0, |s| s.start_ticks);
        child.wait().unwrap();
        assert_eq!(status(token(pid, start)), Status::Dead);
    }
}
