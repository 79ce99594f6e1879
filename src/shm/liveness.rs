//! Which processes are alive: a process *token* packs a pid with the
//! process's start time (clock ticks since boot, from `/proc/<pid>/stat`),
//! so a pid the kernel reused for a new process does not pass for the dead
//! one. Read only on cold paths: attach, detach, and after a wait has
//! lasted the liveness timeout.

use std::sync::OnceLock;
use std::time::Duration;

/// Low bits of a token hold the start time.
const START_BITS: u32 = 40;
const START_MASK: u64 = (1 << START_BITS) - 1;

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

/// The liveness rules one process applies to a shared ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Liveness {
    /// How long a producer waits for room, or a consumer for a claimed
    /// slot to be published, before it checks who is alive.
    pub(crate) timeout: Duration,
    pub(crate) dead_consumer: DeadConsumerPolicy,
    /// This process's token.
    pub(crate) me: u64,
}

/// Whether the process behind a token still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Alive,
    Dead,
}

/// This process's token (computed once).
#[cfg_attr(loom, allow(dead_code))] // used by shm, not built under loom
pub(crate) fn current_token() -> u64 {
    static TOKEN: OnceLock<u64> = OnceLock::new();
    *TOKEN.get_or_init(|| {
        let pid = std::process::id();
        let start = read_stat(pid).map_or(0, |s| s.start_ticks);
        token(pid, start)
    })
}

/// Pack `pid` and `start_ticks`; never 0 for a real pid (pids start at 1).
pub(crate) fn token(pid: u32, start_ticks: u64) -> u64 {
    (u64::from(pid) << START_BITS) | (start_ticks & START_MASK)
}

/// The pid inside a token.
pub(crate) fn pid_of(token: u64) -> u32 {
    // pid_max is at most 2^22, so the pid fits the high 24 bits.
    (token >> START_BITS) as u32
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

struct Stat {
    state: u8,
    start_ticks: u64,
}

/// Fields 3 (state) and 22 (start time) of `/proc/<pid>/stat`.
fn read_stat(pid: u32) -> std::io::Result<Stat> {
    let text = std::fs::read(format!("/proc/{pid}/stat"))?;
    parse_stat(&text).ok_or_else(|| std::io::Error::other("unparseable /proc stat line"))
}

fn parse_stat(text: &[u8]) -> Option<Stat> {
    let mut fields = stat_fields(text)?;
    // Field 3 is the first after the name; field 22 is 19 further on.
    let state = *fields.next()?.as_bytes().first()?;
    let start_ticks = fields.nth(18)?.parse().ok()?;
    Some(Stat { state, start_ticks })
}

/// The fields of a `/proc/<pid>/stat` line after the command name (field
/// 3, the state, first). The name (field 2) is in parentheses and may
/// itself hold spaces and parentheses, so the split starts after the last
/// `)`.
pub(crate) fn stat_fields(text: &[u8]) -> Option<std::str::SplitAsciiWhitespace<'_>> {
    let after_name = text.iter().rposition(|&b| b == b')')? + 1;
    Some(
        std::str::from_utf8(text.get(after_name..)?)
            .ok()?
            .split_ascii_whitespace(),
    )
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

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

    #[test]
    fn stat_parsing_survives_odd_command_names() {
        let line =
            b"42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let stat = parse_stat(line).unwrap();
        assert_eq!(stat.state, b'S');
        assert_eq!(stat.start_ticks, 987_654);
        assert!(parse_stat(b"garbage").is_none());
        assert!(parse_stat(b"1 (x) R 1").is_none());
    }
}
