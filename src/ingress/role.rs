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

    /// Numeric figures for the Prometheus endpoint (each becomes
    /// `ringmaster_replication_<name>`). None by default.
    fn figures(&self) -> Vec<RoleFigure> {
        Vec::new()
    }
}

/// One numeric figure of a [`ServerRole`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RoleFigure {
    /// Its name, after `ringmaster_replication_` (`[a-z_]+`; a counter's
    /// ends in `_total`).
    pub name: &'static str,
    /// One line of help.
    pub help: &'static str,
    /// The value.
    pub value: f64,
    /// A counter (only grows) rather than a gauge.
    pub counter: bool,
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

    fn figures(&self) -> Vec<RoleFigure> {
        use crate::shop::ReplicationInfo;
        let figure = |name, help, value: u64, counter| RoleFigure {
            name,
            help,
            value: value as f64,
            counter,
        };
        match crate::shop::ReplicationHandle::info(self) {
            ReplicationInfo::Primary {
                published,
                acked,
                resyncs,
                messages,
                snapshots,
                running,
                ..
            } => vec![
                figure("primary", "1 on a primary, 0 on a standby.", 1, false),
                figure(
                    "running",
                    "1 while the replicator runs.",
                    u64::from(running),
                    false,
                ),
                figure(
                    "published_records_total",
                    "Journal records published to the stream.",
                    published,
                    true,
                ),
                figure(
                    "acked_records_total",
                    "Journal records the stream acknowledged.",
                    acked,
                    true,
                ),
                figure(
                    "unacked_records",
                    "Records published and not yet acknowledged.",
                    published.saturating_sub(acked),
                    false,
                ),
                figure("messages_total", "Messages published.", messages, true),
                figure(
                    "resyncs_total",
                    "Times the replicator resynchronised with the stream.",
                    resyncs,
                    true,
                ),
                figure(
                    "snapshots_uploaded_total",
                    "Snapshots uploaded to the object store.",
                    snapshots,
                    true,
                ),
            ],
            ReplicationInfo::Standby {
                applied,
                lag_records,
                lag_ms,
                running,
                promoting,
                ..
            } => vec![
                figure("primary", "1 on a primary, 0 on a standby.", 0, false),
                figure(
                    "running",
                    "1 while the follower runs.",
                    u64::from(running),
                    false,
                ),
                figure(
                    "promoting",
                    "1 while a promotion is under way.",
                    u64::from(promoting),
                    false,
                ),
                figure(
                    "applied_records_total",
                    "Records applied from the stream.",
                    applied,
                    true,
                ),
                figure(
                    "lag_records",
                    "Records in the stream not yet applied.",
                    lag_records,
                    false,
                ),
                figure(
                    "lag_milliseconds",
                    "Age of the newest record not yet applied.",
                    lag_ms,
                    false,
                ),
            ],
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
