//! What `/proc/<pid>/stat` says of a process: its state and start time,
//! read on the cold paths of shared rings (attach, detach, after a wait
//! has lasted the liveness timeout) and by the harness's machine report.
//! Under loom, where shared rings are not built, only the harness's
//! [`stat_fields`] is used.

#![cfg_attr(loom, allow(dead_code))]

#[cfg(not(loom))]
use crate::region::token::token;
#[cfg(not(loom))]
use std::sync::OnceLock;

/// This process's token (computed once).
#[cfg(not(loom))]
pub(crate) fn current_token() -> u64 {
    static TOKEN: OnceLock<u64> = OnceLock::new();
    *TOKEN.get_or_init(|| {
        let pid = std::process::id();
        let start = read_stat(pid).map_or(0, |s| s.start_ticks);
        token(pid, start)
    })
}

/// What `/proc/<pid>/stat` says of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stat {
    /// Field 3: `R`, `S`, `Z` (zombie), `X` (dead), ...
    pub(crate) state: u8,
    /// Field 22: clock ticks since boot when it started.
    pub(crate) start_ticks: u64,
}

/// Fields 3 (state) and 22 (start time) of `/proc/<pid>/stat`.
pub(crate) fn read_stat(pid: u32) -> std::io::Result<Stat> {
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
    use crate::region::token::pid_of;

    #[test]
    fn this_process_token_holds_its_pid() {
        let me = current_token();
        assert_eq!(pid_of(me), std::process::id());
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
