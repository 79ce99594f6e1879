//! One client connection of the server: its socket, the bytes read and not
//! yet parsed, the replies owed in request order, and the bytes to write.
//!
//! Replies must leave in request order, but a shop command's reply comes
//! back from the engine later while a `PING` or an error is known at once.
//! So each connection keeps a queue of [`Slot`]s: `Engine` for a reply the
//! engine owes, `Ready` for one already encoded behind an `Engine`. When
//! nothing is owed, immediate replies go straight to the output buffer.

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
    /// Bytes arrived (the socket may hold more).
    Data,
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

#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) stream: TcpStream,
    /// Read buffer; `input[parsed..filled]` is read and not parsed yet.
    /// Its length only grows (zeroed once), so reads fill it in place.
    pub(crate) input: Vec<u8>,
    pub(crate) parsed: usize,
    pub(crate) filled: usize,
    /// Encoded replies; `output[written..]` is not written yet.
    pub(crate) output: Vec<u8>,
    pub(crate) written: usize,
    pub(crate) owed: VecDeque<Slot>,
    /// `Engine` slots in `owed`.
    pub(crate) awaiting: usize,
    /// The socket may have unread bytes (readiness is edge-triggered).
    pub(crate) readable: bool,
    pub(crate) closing: Option<Closing>,
    pub(crate) last_active: Instant,
    /// On the server's list of connections with work to do.
    pub(crate) queued: bool,
}

impl Connection {
    pub(crate) fn new(stream: TcpStream, now: Instant) -> Self {
        Self {
            stream,
            input: Vec::new(),
            parsed: 0,
            filled: 0,
            output: Vec::new(),
            written: 0,
            owed: VecDeque::new(),
            awaiting: 0,
            readable: true,
            closing: None,
            last_active: now,
            queued: false,
        }
    }

    /// Bytes encoded and not yet written.
    pub(crate) fn unwritten(&self) -> usize {
        self.output.len() - self.written
    }

    /// Bytes read and not parsed yet.
    pub(crate) fn unparsed(&self) -> &[u8] {
        &self.input[self.parsed..self.filled]
    }

    /// Read up to `chunk` more bytes into the input buffer.
    pub(crate) fn read(&mut self, chunk: usize) -> ReadOutcome {
        // Move the unparsed tail (a partial request) to the front, then
        // make room for `chunk` bytes.
        if self.parsed > 0 {
            self.input.copy_within(self.parsed..self.filled, 0);
            self.filled -= self.parsed;
            self.parsed = 0;
        }
        if self.input.len() < self.filled + chunk {
            self.input.resize(self.filled + chunk, 0);
        }
        let end = self.filled + chunk;
        loop {
            match self.stream.read(&mut self.input[self.filled..end]) {
                Ok(0) => return ReadOutcome::Closed,
                Ok(n) => {
                    self.filled += n;
                    if n < chunk {
                        // A short read emptied the socket's buffer; bytes
                        // that arrive later raise a new (edge-triggered)
                        // readiness event, so no read to see WouldBlock.
                        self.readable = false;
                    }
                    return ReadOutcome::Data;
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
        encode(&mut self.output);
        while let Some(Slot::Ready(_)) = self.owed.front() {
            if let Some(Slot::Ready(bytes)) = self.owed.pop_front() {
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
        Ok(true)
    }

    /// Closing and nothing left to send: the socket can go.
    pub(crate) fn finished(&self) -> bool {
        self.closing.is_some() && self.owed.is_empty() && self.unwritten() == 0
    }
}
