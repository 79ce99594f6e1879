//! What a connection has said about itself: the protocol it speaks, whether
//! it has authenticated, its name, and the commands it queued after
//! `MULTI`.

use super::protocol::Protocol;
use super::request::Request;
use std::net::SocketAddr;
use std::time::Instant;

/// A connection's settings and its open transaction.
#[derive(Debug)]
pub(crate) struct Session {
    /// `CLIENT ID`: unique for the server's life.
    pub(crate) id: u64,
    pub(crate) peer: Option<SocketAddr>,
    pub(crate) protocol: Protocol,
    /// Set by `AUTH`; true from the start when no password is set.
    pub(crate) authenticated: bool,
    /// `CLIENT SETNAME`.
    pub(crate) name: Vec<u8>,
    /// Commands queued since `MULTI`.
    pub(crate) multi: Option<Multi>,
    pub(crate) since: Instant,
}

/// A transaction being queued.
#[derive(Debug, Default)]
pub(crate) struct Multi {
    pub(crate) queued: Vec<Request>,
    /// A queued command was refused: `EXEC` answers `EXECABORT`.
    pub(crate) failed: bool,
    /// Of `queued`, the shop commands (for the ring).
    pub(crate) shop_commands: usize,
    /// Heap bytes the queued requests hold besides their slots (`PING` and
    /// `ECHO` messages), kept as they are queued: the footprint is read on
    /// every turn and every reply, so it must not walk the queue.
    message_bytes: usize,
}

impl Multi {
    /// Queue `request`.
    pub(crate) fn push(&mut self, request: Request) {
        match &request {
            Request::Shop(_) => self.shop_commands += 1,
            Request::Ping(Some(m)) | Request::Echo(m) => self.message_bytes += m.capacity(),
            _ => {}
        }
        self.queued.push(request);
    }
}

impl Session {
    pub(crate) fn new(
        id: u64,
        peer: Option<SocketAddr>,
        authenticated: bool,
        now: Instant,
    ) -> Self {
        Self {
            id,
            peer,
            protocol: Protocol::Resp2,
            authenticated,
            name: Vec::new(),
            multi: None,
            since: now,
        }
    }

    /// Heap bytes held: the name and the queued transaction.
    pub(crate) fn footprint(&self) -> usize {
        self.name.capacity()
            + self.multi.as_ref().map_or(0, |m| {
                m.queued.capacity() * std::mem::size_of::<Request>() + m.message_bytes
            })
    }

    /// `CLIENT INFO`'s line, in Redis's `key=value` form.
    pub(crate) fn info_line(&self, now: Instant) -> String {
        let addr = self.peer.map_or_else(|| "?".to_owned(), |a| a.to_string());
        format!(
            "id={} addr={} name={} age={} resp={} multi={} auth={}\n",
            self.id,
            addr,
            String::from_utf8_lossy(&self.name),
            now.duration_since(self.since).as_secs(),
            self.protocol.version(),
            self.multi.as_ref().map_or(-1, |m| m.queued.len() as i64),
            u8::from(self.authenticated),
        )
    }
}
