//! Hostile clients for `bench tcp-flood`: while a paced load measures an
//! ordinary client's latency, these hold as much of the server's memory as
//! they can: connections that send most of a large request and stop,
//! connections that pipeline large replies and never read them, and idle
//! connections that sent half a request. A connection the server closes
//! comes back a second later, so the pressure lasts the whole run.

use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Connections holding a large incomplete request each.
pub const HOARDERS: usize = 80;
/// Connections pipelining large replies without reading.
pub const GREEDY: usize = 10;
/// Connections idle after half a request.
pub const IDLE: usize = 500;

/// 1024 arguments announced, 14 of 64 KiB sent: each within the framing
/// limits, the whole (about 900 KiB) under the 1 MiB request limit, and
/// never finished.
fn hoard() -> Vec<u8> {
    let mut request = b"*1024\r\n$4\r\nECHO\r\n".to_vec();
    for _ in 0..14 {
        request.extend_from_slice(b"$65536\r\n");
        request.resize(request.len() + 65536, b'x');
        request.extend_from_slice(b"\r\n");
    }
    request
}

/// How long a closed hostile connection waits before it comes back.
const COMEBACK: Duration = Duration::from_secs(1);

/// A hostile connection and what is left to send on it.
struct Hostile {
    stream: Option<TcpStream>,
    payload: Arc<Vec<u8>>,
    sent: usize,
    /// When it was closed (it comes back `COMEBACK` later).
    closed_at: Option<std::time::Instant>,
}

impl Hostile {
    fn new(payload: Arc<Vec<u8>>) -> Self {
        Self {
            stream: None,
            payload,
            sent: 0,
            closed_at: None,
        }
    }

    /// One step: connect if closed (and it is time), send what the socket
    /// takes of the payload, and see whether the server closed it, without
    /// reading any reply. Returns true when it was closed.
    fn step(&mut self, addr: SocketAddr) -> bool {
        let Some(stream) = self.stream.as_mut() else {
            if self.closed_at.is_none_or(|at| at.elapsed() >= COMEBACK) {
                if let Ok(s) = TcpStream::connect(addr) {
                    let _ = s.set_nonblocking(true);
                    self.stream = Some(s);
                    self.sent = 0;
                }
            }
            return false;
        };
        let mut closed = false;
        if self.sent < self.payload.len() {
            match stream.write(&self.payload[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => closed = true,
            }
        }
        // Peek, so that replies stay unread: end of stream or a reset
        // means the server closed it.
        let mut byte = [0u8; 1];
        match stream.peek(&mut byte) {
            Ok(0) => closed = true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => closed = true,
        }
        if closed {
            self.stream = None;
            self.closed_at = Some(std::time::Instant::now());
        }
        closed
    }
}

/// Run the flood against `addr` until `stop` is set, counting in `closed`
/// the hostile connections the server closed.
pub fn run(addr: SocketAddr, stop: &AtomicBool, closed: &AtomicU64) {
    let hoard = Arc::new(hoard());
    let greed = Arc::new(b"LIST 0 1000\r\n".repeat(64));
    let mut hostile: Vec<Hostile> = (0..HOARDERS)
        .map(|_| Hostile::new(Arc::clone(&hoard)))
        .chain((0..GREEDY).map(|_| Hostile::new(Arc::clone(&greed))))
        .collect();
    let idle: Vec<TcpStream> = (0..IDLE)
        .filter_map(|_| {
            let mut s = TcpStream::connect(addr).ok()?;
            s.write_all(b"*3\r\n$3\r\nADD\r\n$2\r\n1").ok()?;
            Some(s)
        })
        .collect();
    while !stop.load(Ordering::Relaxed) {
        for h in &mut hostile {
            if h.step(addr) {
                closed.fetch_add(1, Ordering::Relaxed);
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(idle);
}
