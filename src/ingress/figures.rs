//! The server's own counters, shared with readers outside its event loop
//! (the Prometheus endpoint): the loop stores them once per turn, readers
//! load them whenever they like.

use super::server::ServeReport;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters and gauges of a running server.
#[derive(Debug, Default)]
pub(crate) struct ServerCounters {
    pub(crate) accepted: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) bad_requests: AtomicU64,
    pub(crate) failed_auth: AtomicU64,
    pub(crate) evicted_for_memory: AtomicU64,
    pub(crate) handshake_timeouts: AtomicU64,
    pub(crate) orphaned_replies: AtomicU64,
    pub(crate) connections: AtomicU64,
    pub(crate) client_buffers_bytes: AtomicU64,
    pub(crate) commands_in_flight: AtomicU64,
}

impl ServerCounters {
    /// Store this turn's figures (on the event loop's thread).
    pub(crate) fn store(
        &self,
        report: &ServeReport,
        connections: usize,
        client_buffers: usize,
        in_flight: u64,
    ) {
        // Relaxed: figures for display; each is read on its own.
        for (field, value) in [
            (&self.accepted, report.accepted),
            (&self.refused, report.refused),
            (&self.requests, report.requests),
            (&self.published, report.published),
            (&self.bad_requests, report.bad_requests),
            (&self.failed_auth, report.failed_auth),
            (&self.evicted_for_memory, report.evicted_for_memory),
            (&self.handshake_timeouts, report.handshake_timeouts),
            (&self.orphaned_replies, report.orphaned_replies),
            (&self.connections, connections as u64),
            (&self.client_buffers_bytes, client_buffers as u64),
            (&self.commands_in_flight, in_flight),
        ] {
            field.store(value, Ordering::Relaxed);
        }
    }

    /// One figure (Relaxed: see `store`).
    pub(crate) fn get(field: &AtomicU64) -> u64 {
        field.load(Ordering::Relaxed)
    }
}
