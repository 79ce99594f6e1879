//! One client connection of the server: its socket, the bytes read and not
//! yet parsed, the replies owed in request order, and the bytes to write.
//!
//! Replies must leave in request order, but a shop command's reply comes
//! back from the engine later while a `PING` or an error is known at once.
//! So each connection keeps a queue of [`Slot`]s: `Engine` for a reply the
//! engine owes, `Ready` for one already encoded behind an `Engine`. When
//! nothing is owed, immediate replies go straight to the output buffer.
//!
//! Buffers hold what the connection holds, not what it once held: reads
//! land in the server's shared scratch buffer, and only bytes a turn did
//! not parse (a partial request, or requests held back by a limit) are
//! kept in the connection's input. A drained buffer larger than [`KEEP`]
//! is given back. An idle connection that sent half a request costs that
//! half, not a read chunk; [`Connection::footprint`] is what the server's
//! memory limit counts.

use super::session::Session;
use mio::net::TcpStream;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Instant;

/// A reply owed to the client, in request order.
#[derive(Debug)]
pub(crate) enum Slot {
    /// The engine's reply to a command published for this connection.
    Engine,
    /// An encoded reply waiting behind an earlier `Engine` slot.
    Ready(Vec<u8>),
}

/// What a read did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ReadOutcome {
    /// This many bytes arrived (the socket may hold more).
    Data(usize),
    /// The socket has nothing more for now.
    Drained,
    /// The peer closed its side (or the connection failed).
    Closed,
}

/// Why a connection should be closed once its output is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Closing {
    /// The client sent `QUIT`.
    Quit,
    /// A framing error: the stream cannot be resynchronised.
    Framing,
    /// The client closed its side; write what is owed, then close.
    PeerClosed,
    /// Idle for longer than the limit.
    Idle,
    /// The server is shutting down.
    Shutdown,
}

/// Bytes of capacity a drained buffer may keep; a larger one is freed, so
/// a connection that once read or wrote a lot does not keep that memory.
pub(crate) const KEEP: usize = 4096;

/// Owed replies a drained queue may keep room for.
const OWED_KEEP: usize = 64;

#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) stream: TcpStream,
    /// Bytes read and not parsed yet, from the front.
    pub(crate) input: Vec<u8>,
    /// Encoded replies; `output[written..]` is not written yet.
    pub(crate) output: Vec<u8>,
    pub(crate) written: usize,
    pub(crate) owed: VecDeque<Slot>,
    /// `Engine` slots in `owed`.
    pub(crate) awaiting: usize,
    /// The socket may have unread bytes (readiness is edge-triggered).
    pub(crate) readable: bool,
    /// The poller said the peer closed its side: read until the end is
    /// seen, even after a short read (no later event will come for it).
    pub(crate) read_closed: bool,
    pub(crate) closing: Option<Closing>,
    pub(crate) last_active: Instant,
    /// On the server's list of connections with work to do.
    pub(crate) queued: bool,
    /// The footprint last added to the server's total.
    pub(crate) counted: usize,
    /// Capacity of the `Ready` replies in `owed`.
    ready_bytes: usize,
    /// Protocol, authentication, name, open transaction.
    pub(crate) session: Session,
    /// Failed `AUTH` attempts (counted into the server's report).
    pub(crate) failed_auth: u64,
    /// The TLS session, when the server speaks TLS: reads and writes go
    /// through it.
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Box<rustls::ServerConnection>>,
}

impl Connection {
    pub(crate) fn new(stream: TcpStream, now: Instant, session: Session) -> Self {
        Self {
            stream,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            owed: VecDeque::new(),
            awaiting: 0,
            readable: true,
            read_closed: false,
            closing: None,
            last_active: now,
            queued: false,
            counted: 0,
            ready_bytes: 0,
            session,
            failed_auth: 0,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Whether a TLS handshake is still under way.
    pub(crate) fn is_handshaking(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.is_handshaking();
        }
        false
    }

    /// Bytes rustls holds to send, beyond `output`.
    fn tls_pending(&self) -> bool {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            return tls.wants_write();
        }
        false
    }

    /// Before closing: a TLS close_notify, sent if the socket takes it
    /// (not to a client that never finished its handshake).
    pub(crate) fn goodbye(&mut self) {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_mut().filter(|t| !t.is_handshaking()) {
            tls.send_close_notify();
            let _ = tls.write_tls(&mut self.stream);
        }
    }

    /// Heap bytes this connection holds for its client: buffer capacities
    /// and replies queued behind an engine reply.
    pub(crate) fn footprint(&self) -> usize {
        self.input.capacity()
            + self.output.capacity()
            + self.owed.capacity() * std::mem::size_of::<Slot>()
            + self.ready_bytes
            + self.session.footprint()
            + self.tls_footprint()
    }

    fn tls_footprint(&self) -> usize {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return super::tls::TLS_STATE_BYTES;
        }
        0
    }

    /// Drop the first `parsed` bytes of the input (what a turn parsed of
    /// it), then keep `read[used..]` (what the turn read and did not parse)
    /// behind what remains.
    pub(crate) fn keep_unparsed(&mut self, parsed: usize, read: &[u8], used: usize) {
        if parsed > 0 {
            self.input.drain(..parsed.min(self.input.len()));
        }
        if let Some(rest) = read.get(used..) {
            self.input.extend_from_slice(rest);
        }
        if self.input.is_empty() && self.input.capacity() > KEEP {
            self.input = Vec::new();
        }
    }

    /// Bytes encoded and not yet written.
    pub(crate) fn unwritten(&self) -> usize {
        self.output.len() - self.written
    }

    /// Read into `scratch` (the server's, shared by every connection); the
    /// bytes are `scratch[..n]` on `Data(n)`.
    pub(crate) fn read(&mut self, scratch: &mut [u8]) -> ReadOutcome {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return self.read_tls(scratch);
        }
        let chunk = scratch.len();
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return ReadOutcome::Closed,
                Ok(n) => {
                    if n < chunk && !self.read_closed {
                        // A short read emptied the socket's buffer; bytes
                        // that arrive later raise a new (edge-triggered)
                        // readiness event, so no read to see WouldBlock.
                        // Not after the peer closed: its end came with the
                        // last event, and only a read returning 0 sees it.
                        self.readable = false;
                    }
                    return ReadOutcome::Data(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return ReadOutcome::Drained;
                }
                Err(_) => return ReadOutcome::Closed,
            }
        }
    }

    /// Append an immediate reply, behind any reply the engine still owes.
    pub(crate) fn reply_now(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        if self.owed.is_empty() {
            encode(&mut self.output);
        } else {
            let mut bytes = Vec::new();
            encode(&mut bytes);
            self.ready_bytes += bytes.capacity();
            self.owed.push_back(Slot::Ready(bytes));
        }
    }

    /// Note a command published for this connection.
    pub(crate) fn owe_engine_reply(&mut self) {
        self.owed.push_back(Slot::Engine);
        self.awaiting += 1;
    }

    /// The engine's reply to the oldest command: encode it, then every
    /// immediate reply queued behind it.
    pub(crate) fn engine_replied(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        if matches!(self.owed.front(), Some(Slot::Engine)) {
            self.owed.pop_front();
            self.awaiting -= 1;
        }
        if self.owed.is_empty() && self.owed.capacity() > OWED_KEEP {
            self.owed = VecDeque::new();
        }
        encode(&mut self.output);
        while let Some(Slot::Ready(_)) = self.owed.front() {
            if let Some(Slot::Ready(bytes)) = self.owed.pop_front() {
                self.ready_bytes -= bytes.capacity();
                self.output.extend_from_slice(&bytes);
            }
        }
    }

    /// Write what is pending. `Ok(true)`: all written.
    ///
    /// # Errors
    ///
    /// The socket failed (the peer is gone): close the connection.
    pub(crate) fn write(&mut self) -> io::Result<bool> {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return self.write_tls();
        }
        while self.written < self.output.len() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        self.output.clear();
        self.written = 0;
        if self.output.capacity() > KEEP {
            self.output = Vec::new();
        }
        Ok(true)
    }

    /// Closing and nothing left to send: the socket can go.
    pub(crate) fn finished(&self) -> bool {
        self.closing.is_some()
            && self.owed.is_empty()
            && self.unwritten() == 0
            && !self.tls_pending()
    }

    /// [`read`](Self::read) through TLS: plaintext rustls has decrypted,
    /// else the socket's records fed to it until it has some or the socket
    /// is drained.
    #[cfg(feature = "tls")]
    fn read_tls(&mut self, scratch: &mut [u8]) -> ReadOutcome {
        let Some(tls) = self.tls.as_mut() else {
            return ReadOutcome::Closed;
        };
        loop {
            match tls.reader().read(scratch) {
                // The peer's close_notify.
                Ok(0) => return ReadOutcome::Closed,
                Ok(n) => return ReadOutcome::Data(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The peer's end without a close_notify.
                Err(_) => return ReadOutcome::Closed,
            }
            match tls.read_tls(&mut self.stream) {
                Ok(0) => return ReadOutcome::Closed,
                Ok(_) => {
                    if let Err(e) = tls.process_new_packets() {
                        tracing::debug!(error = %e, "TLS: closing a connection");
                        // The alert rustls queued for the peer, if it goes.
                        let _ = tls.write_tls(&mut self.stream);
                        return ReadOutcome::Closed;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.readable = false;
                    return ReadOutcome::Drained;
                }
                Err(_) => return ReadOutcome::Closed,
            }
        }
    }

    /// [`write`](Self::write) through TLS: plaintext into rustls (up to its
    /// buffer limit), records out to the socket.
    #[cfg(feature = "tls")]
    fn write_tls(&mut self) -> io::Result<bool> {
        let Some(tls) = self.tls.as_mut() else {
            return Err(io::ErrorKind::NotConnected.into());
        };
        loop {
            let mut moved = 0;
            if self.written < self.output.len() {
                moved = tls.writer().write(&self.output[self.written..])?;
                self.written += moved;
            }
            let mut sent = false;
            while tls.wants_write() {
                match tls.write_tls(&mut self.stream) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(_) => sent = true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
            if self.written >= self.output.len() {
                break;
            }
            if moved == 0 && !sent {
                // rustls holds plaintext until the handshake is done: the
                // rest goes once the client has answered.
                return Ok(false);
            }
        }
        self.output.clear();
        self.written = 0;
        if self.output.capacity() > KEEP {
            self.output = Vec::new();
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection() -> (Connection, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let now = Instant::now();
        let c = Connection::new(
            TcpStream::from_std(server),
            now,
            Session::new(1, None, true, now),
        );
        (c, client)
    }

    #[test]
    fn a_partial_request_costs_what_it_holds() {
        let (mut c, _client) = connection();
        let read = b"PING\r\n*3\r\n$3\r\nADD\r\n$2\r\n1";
        // The turn parsed the PING (6 bytes) straight from the read.
        c.keep_unparsed(0, read, 6);
        assert_eq!(c.input, &read[6..]);
        assert!(
            c.footprint() < 64,
            "{} bytes for a partial request",
            c.footprint()
        );
    }

    #[test]
    fn a_drained_buffer_gives_its_memory_back() {
        let (mut c, _client) = connection();
        let big = vec![b'x'; 256 * 1024];
        c.keep_unparsed(0, &big, 0);
        assert!(c.footprint() >= big.len());
        // A later turn parses all of it.
        c.keep_unparsed(big.len(), &[], 0);
        assert_eq!(c.input.capacity(), 0);
        // A large reply, written out in full.
        c.reply_now(|out| out.extend_from_slice(&[b'y'; 100_000]));
        assert!(c.footprint() >= 100_000);
        assert!(c.write().unwrap());
        assert_eq!(c.footprint(), 0);
    }

    #[test]
    fn replies_queued_behind_the_engine_are_counted() {
        let (mut c, _client) = connection();
        c.owe_engine_reply();
        c.reply_now(|out| out.extend_from_slice(&[b'z'; 10_000]));
        let held = c.footprint();
        assert!(held >= 10_000, "{held}");
        c.engine_replied(|out| out.extend_from_slice(b"+OK\r\n"));
        assert_eq!(c.unwritten(), 10_005);
        assert!(c.write().unwrap());
        // Room for a few owed replies is kept; the bytes are not.
        assert!(c.footprint() <= OWED_KEEP * std::mem::size_of::<Slot>());
    }
}
