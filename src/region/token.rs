//! Process tokens: what a shared region's owner fields hold. A token packs
//! a pid with the process's start time (clock ticks since boot), so a pid
//! the kernel reused for a new process does not pass for the one that held
//! the slot. `0` is no owner. This module only packs and unpacks tokens:
//! reading a process's start time and deciding which tokens belong to dead
//! processes is the shared-memory layer's work (`shm::liveness`).

/// Low bits of a token hold the start time.
const START_BITS: u32 = 40;
/// The start-time bits of a token.
#[cfg(not(loom))] // tokens are made by shm, which loom does not build
pub(crate) const START_MASK: u64 = (1 << START_BITS) - 1;

/// Pack `pid` and `start_ticks`; never 0 for a real pid (pids start at 1).
#[cfg(not(loom))] // tokens are made by shm, which loom does not build
pub(crate) fn token(pid: u32, start_ticks: u64) -> u64 {
    (u64::from(pid) << START_BITS) | (start_ticks & START_MASK)
}

/// The pid inside a token.
pub(crate) fn pid_of(token: u64) -> u32 {
    // pid_max is at most 2^22, so the pid fits the high 24 bits.
    (token >> START_BITS) as u32
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_token_packs_the_pid_and_start_time() {
        assert_eq!(token(7, 5) & START_MASK, 5);
        assert_eq!(pid_of(token(7, 5)), 7);
        assert_eq!(pid_of(token(4_194_304, START_MASK)), 4_194_304);
        assert_ne!(token(1, 0), 0);
    }
}
