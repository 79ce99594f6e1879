//! [`ServerRole`]: what a server asks of a replicated node (whether writes
//! are accepted, `INFO`'s replication section, `PROMOTE`).

/// A node's replication role, as a [`Server`](super::Server) sees it.
///
/// A server without one is a lone primary: it accepts writes and reports
/// `role:master`.
pub trait ServerRole: Send + Sync + std::fmt::Debug {
    /// `None` when writes are accepted; otherwise the error a write gets
    /// (its first word is the Redis error code, `READONLY`).
    fn refuse_writes(&self) -> Option<String>;

    /// `INFO`'s `# Replication` lines, each ending in `\r\n`.
    fn info(&self, out: &mut String);

    /// `PROMOTE` (or `REPLICAOF NO ONE`): start turning this node into
    /// the primary. `Ok` is a status reply, `Err` an error reply.
    ///
    /// # Errors
    ///
    /// The error reply's text.
    fn promote(&self) -> Result<String, String>;
}

#[cfg(all(feature = "replication", not(loom)))]
impl ServerRole for crate::shop::ReplicationHandle {
    fn refuse_writes(&self) -> Option<String> {
        crate::shop::ReplicationHandle::refuse_writes(self)
    }

    fn info(&self, out: &mut String) {
        use crate::shop::{AckMode, ReplicationInfo};
        use std::fmt::Write as _;
        match crate::shop::ReplicationHandle::info(self) {
            ReplicationInfo::Primary {
                stream,
                published,
                acked,
                ack,
                resyncs,
                messages,
                snapshots,
                last_error,
                running,
            } => {
                let _ = write!(
                    out,
                    "role:master\r\nrepl_stream:{stream}\r\nrepl_running:{}\r\n\
                     repl_ack:{}\r\nrepl_published:{published}\r\nrepl_acked:{acked}\r\n\
                     repl_unacked_records:{}\r\nrepl_messages:{messages}\r\nrepl_resyncs:{resyncs}\r\n\
                     repl_snapshots_uploaded:{snapshots}\r\nrepl_last_error:{}\r\n",
                    u8::from(running),
                    if ack == AckMode::Replicated {
                        "replicated"
                    } else {
                        "local"
                    },
                    published.saturating_sub(acked),
                    one_line(last_error.as_deref()),
                );
            }
            ReplicationInfo::Standby {
                stream,
                primary,
                applied,
                lag_records,
                lag_ms,
                last_error,
                running,
                promoting,
            } => {
                let _ = write!(
                    out,
                    "role:slave\r\nrepl_stream:{stream}\r\nrepl_primary:{}\r\nrepl_running:{}\r\n\
                     repl_promoting:{}\r\nrepl_applied:{applied}\r\nrepl_lag_records:{lag_records}\r\n\
                     repl_lag_ms:{lag_ms}\r\nrepl_last_error:{}\r\n",
                    one_line(Some(&primary)),
                    u8::from(running),
                    u8::from(promoting),
                    one_line(last_error.as_deref()),
                );
            }
        }
    }

    fn promote(&self) -> Result<String, String> {
        match self.request_promotion() {
            Ok(()) => Ok("OK promoting; INFO shows role:master once done".into()),
            Err(e) => Err(format!("ERR {e}")),
        }
    }
}

/// A value for an `INFO` line: no line breaks.
#[cfg(all(feature = "replication", not(loom)))]
fn one_line(text: Option<&str>) -> String {
    text.unwrap_or("").replace(['\r', '\n'], " ")
}
