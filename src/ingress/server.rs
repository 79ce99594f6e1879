//! [`Server`]: the shop over TCP. One `mio` event loop thread accepts
//! connections (over TLS when asked), reads and parses RESP requests,
//! publishes shop commands into the ring (one batch per loop turn) and
//! writes replies back in request order per connection.
//!
//! # Reply path
//!
//! The server is one [`Client`] of the shop. Its commands are numbered in
//! publish order and the engine answers a client in request order, so a
//! FIFO of connection tokens (one per published command) says where each
//! completion goes. The responder wakes the loop through a `mio::Waker`
//! (at most one wake-up per batch of replies), so the loop sleeps in
//! `epoll_wait` when idle. A write is acknowledged only once the journal
//! stage has made it durable by the shop's policy, because the responder
//! runs after the journal in the graph.
//!
//! # Backpressure and memory
//!
//! - Commands in flight are limited to a window no larger than the ring,
//!   so publishing never waits for the ring; when the window is full the
//!   server stops parsing (and so reading) until replies come back.
//! - A connection stops being read while it owes `max_pending` engine
//!   replies or holds `max_output` unwritten bytes; TCP then pushes back
//!   on that client alone.
//! - A request may hold at most `max_request` bytes while incomplete.
//!
//! So a connection holds at most about `max_request + max_output +
//! max_pending` replies' worth of memory, whatever the client does.

use super::auth::{protected_mode_refuses, Password, PROTECTED_MODE_REFUSAL};
use super::connection::{Closing, Connection};
use super::dispatch::{read_and_parse, InfoSource, Intake, Owed, ParseContext, Stop};
#[cfg(feature = "prometheus")]
use super::figures::ServerCounters;
#[cfg(feature = "prometheus")]
use super::metrics_endpoint::{MetricsEndpoint, MetricsSource};
use super::protocol::{Limits, Reply as Resp};
use super::role::ServerRole;
use super::session::Session;
use super::shop_reply::encode_shop_reply;
use crate::shop::{Client, Shop, ShopError};
use crate::wait::WakeFlag;
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
const FIRST_CONNECTION: usize = 2;

/// Bytes read from one connection per turn of the loop (fairness).
const READ_CHUNK: usize = 64 * 1024;

/// How the server listens and what it allows each client.
///
/// # Examples
///
/// ```
/// use ringmaster::ingress::ServerConfig;
/// let config = ServerConfig::new("127.0.0.1:0".parse()?);
/// assert_eq!(config.max_connections, 10_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where to listen (default `127.0.0.1:7878`).
    pub addr: SocketAddr,
    /// Limits on one request's framing.
    pub limits: Limits,
    /// Most bytes an incomplete request may hold (default 1 MiB).
    pub max_request: usize,
    /// Open connections; more are refused with an error (default 10 000).
    pub max_connections: usize,
    /// Engine replies one connection may owe before it is no longer read
    /// (default 1024).
    pub max_pending: usize,
    /// Unwritten reply bytes one connection may hold before it is no longer
    /// read (default 1 MiB).
    pub max_output: usize,
    /// Commands in flight across all connections (default: the ring's
    /// capacity, and never more).
    pub window: Option<usize>,
    /// Close connections idle this long with nothing owed (default none,
    /// as Redis).
    pub idle_timeout: Option<Duration>,
    /// On shutdown, how long to keep writing owed replies to slow clients
    /// (default 5 s).
    pub shutdown_grace: Duration,
    /// Bytes all client buffers together may hold (input not yet parsed,
    /// replies not yet written); above it the client holding the most is
    /// closed at once. Default: an eighth of the machine's memory, at
    /// least 64 MiB ([`default_max_client_memory`]).
    pub max_client_memory: usize,
    /// The node's replication role (default none: a lone primary).
    pub role: Option<Arc<dyn ServerRole>>,
    /// The password every client must give (`AUTH`) before any other
    /// command (default none).
    pub password: Option<Password>,
    /// Without a password, accept clients on the loopback interface only
    /// (default true, as Redis's protected mode).
    pub protected_mode: bool,
    /// Speak TLS on every connection (default none: plain TCP).
    #[cfg(feature = "tls")]
    pub tls: Option<super::tls::TlsAcceptor>,
    /// Close a TLS connection whose handshake has not finished after this
    /// long (default 10 s), whatever `idle_timeout` says.
    pub tls_handshake_timeout: Duration,
    /// Serve `GET /metrics` in the Prometheus text format here (default
    /// none), on a thread of its own.
    #[cfg(feature = "prometheus")]
    pub metrics_addr: Option<SocketAddr>,
}

/// The default [`ServerConfig::max_client_memory`]: an eighth of the
/// machine's memory (`MemTotal` in `/proc/meminfo`), at least 64 MiB; 1 GiB
/// where the machine's memory cannot be read.
///
/// # Examples
///
/// ```
/// let limit = ringmaster::ingress::default_max_client_memory();
/// assert!(limit >= 64 << 20);
/// ```
pub fn default_max_client_memory() -> usize {
    let total_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|line| line.strip_prefix("MemTotal:"))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
        });
    match total_kib {
        Some(kib) => usize::try_from(kib.saturating_mul(1024) / 8)
            .unwrap_or(usize::MAX)
            .max(64 << 20),
        None => 1 << 30,
    }
}

impl ServerConfig {
    /// The defaults, listening on `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            limits: Limits::default(),
            max_request: 1 << 20,
            max_connections: 10_000,
            max_pending: 1024,
            max_output: 1 << 20,
            window: None,
            idle_timeout: None,
            shutdown_grace: Duration::from_secs(5),
            max_client_memory: default_max_client_memory(),
            role: None,
            password: None,
            protected_mode: true,
            #[cfg(feature = "tls")]
            tls: None,
            tls_handshake_timeout: Duration::from_secs(10),
            #[cfg(feature = "prometheus")]
            metrics_addr: None,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self::new(SocketAddr::from(([127, 0, 0, 1], 7878)))
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: io::Error,
    },
    /// The event loop's poller failed.
    #[error("{what}: {source}")]
    Poll {
        /// What was being done.
        what: &'static str,
        /// Why.
        source: io::Error,
    },
    /// The shop stopped under the server.
    #[error(transparent)]
    Shop(#[from] ShopError),
    /// The shop's engine stopped while the server ran (a stage failed: a
    /// journal write, say). Every command then owed a reply got an error
    /// reply; `Shop::close` says which stage failed and why.
    #[error(
        "the shop's engine stopped (a stage failed); every command in flight got an error reply"
    )]
    EngineStopped,
}

/// What the server did, returned when it stops.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServeReport {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections refused (over `max_connections`, or by protected mode).
    pub refused: u64,
    /// `AUTH` (or `HELLO ... AUTH`) attempts that failed.
    pub failed_auth: u64,
    /// TLS connections closed because their handshake did not finish in
    /// time.
    pub handshake_timeouts: u64,
    /// Requests parsed (every command, including `PING` and bad ones).
    pub requests: u64,
    /// Shop commands published into the ring.
    pub published: u64,
    /// Requests answered with an error before reaching the ring.
    pub bad_requests: u64,
    /// Engine replies whose connection had gone (the commands took effect).
    pub orphaned_replies: u64,
    /// Connections still owed replies or bytes when the grace period ended.
    pub abandoned: u64,
    /// Connections closed because all client buffers together went over
    /// [`ServerConfig::max_client_memory`] and they held the most.
    pub evicted_for_memory: u64,
}

/// Stops a running [`Server`] from any thread.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl ServerHandle {
    /// Ask the server to stop: it stops accepting and reading, writes the
    /// replies of the commands in flight, then [`Server::run`] returns.
    pub fn stop(&self) {
        // Release: pairs with the Acquire load in the loop after its wake-up.
        self.stop.store(true, Ordering::Release);
        if let Err(e) = self.waker.wake() {
            tracing::warn!(error = %e, "cannot wake the server to stop it");
        }
    }
}

/// The shop's TCP server.
///
/// # Examples
///
/// ```
/// use ringmaster::ingress::{Server, ServerConfig};
/// use ringmaster::shop::{Shop, ShopConfig};
/// use std::io::{BufRead, BufReader, Write};
///
/// # let dir = std::env::temp_dir().join(format!("rm-doc-server-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let shop = Shop::open(ShopConfig::new(&dir))?;
/// let server = Server::bind(&shop, ServerConfig::new("127.0.0.1:0".parse()?))?;
/// let (addr, handle) = (server.local_addr(), server.handle());
/// let running = std::thread::spawn(move || server.run());
///
/// let mut tcp = std::net::TcpStream::connect(addr)?;
/// tcp.write_all(b"ADD 1 1250 3 Blue Mug\r\nCOUNT\r\n")?;
/// let mut lines = BufReader::new(tcp).lines();
/// let first: Vec<String> = (0..7).map(|_| lines.next().unwrap().unwrap()).collect();
/// assert_eq!(first, ["*5", ":1", "$8", "Blue Mug", ":1250", ":3", ":1"]);
/// assert_eq!(lines.next().unwrap()?, ":1");
///
/// handle.stop();
/// let report = running.join().unwrap()?;
/// assert_eq!(report.published, 2);
/// shop.close()?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Server {
    poll: Poll,
    listener: Option<TcpListener>,
    local_addr: SocketAddr,
    waker: Arc<Waker>,
    replies_ready: Arc<WakeFlag>,
    stop: Arc<AtomicBool>,
    client: Client,
    info: InfoSource,
    config: ServerConfig,
    window: usize,
    connections: HashMap<usize, Connection, foldhash::fast::RandomState>,
    next_token: usize,
    /// Connections with something to do this turn.
    work: Vec<usize>,
    /// Connections waiting for the window to open.
    starved: Vec<usize>,
    intake: Intake,
    /// The engine stopped: every owed command got an error reply, and the
    /// server is draining.
    engine_stopped: bool,
    /// Where every read lands (one read chunk, shared by all connections).
    scratch: Vec<u8>,
    /// Client buffer memory: the sum of every connection's footprint as
    /// last counted, and the largest one at the last scan.
    memory: ClientMemory,
    /// The figures the metrics endpoint reads, stored once per turn.
    #[cfg(feature = "prometheus")]
    counters: Arc<ServerCounters>,
    /// `GET /metrics`, when asked for.
    #[cfg(feature = "prometheus")]
    metrics: Option<MetricsEndpoint>,
}

/// What the client buffers hold, for the memory limit and `INFO`.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct ClientMemory {
    pub(super) total: usize,
    pub(super) largest: usize,
    next_scan: Option<Instant>,
}

/// How often the loop recounts every connection's buffers exactly (for the
/// largest in `INFO`, and to keep the running total honest).
const MEMORY_SCAN: Duration = Duration::from_millis(100);

/// How often, while commands are owed replies, the loop looks whether the
/// engine stopped (a halted engine sends no wake-up).
const ENGINE_CHECK: Duration = Duration::from_millis(100);

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("connections", &self.connections.len())
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Listen on `config.addr` for `shop`.
    ///
    /// # Errors
    ///
    /// [`ServerError::Bind`] if the address is taken or not allowed,
    /// [`ServerError::Poll`] if the poller cannot be made,
    /// [`ServerError::Shop`] if the shop is closed.
    pub fn bind(shop: &Shop, config: ServerConfig) -> Result<Self, ServerError> {
        let poll = Poll::new().map_err(|source| ServerError::Poll {
            what: "creating the poller",
            source,
        })?;
        let mut listener = TcpListener::bind(config.addr).map_err(|source| ServerError::Bind {
            addr: config.addr,
            source,
        })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: config.addr,
            source,
        })?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(|source| ServerError::Poll {
                what: "registering the listener",
                source,
            })?;
        let waker =
            Arc::new(
                Waker::new(poll.registry(), WAKER).map_err(|source| ServerError::Poll {
                    what: "creating the waker",
                    source,
                })?,
            );
        let replies_ready = Arc::new(WakeFlag::default());
        let client = {
            let (waker, ready) = (Arc::clone(&waker), Arc::clone(&replies_ready));
            shop.client_with_wake(move || {
                // Only the first delivery after the loop cleared the flag
                // pays for a wake-up; the loop drains everything anyway.
                if ready.raise() {
                    let _ = waker.wake();
                }
            })?
        };
        let ring = usize::try_from(shop.config().ring_capacity).unwrap_or(usize::MAX);
        let window = config.window.unwrap_or(ring).clamp(1, ring);
        let engine = format!(
            "durability:{:?}\r\nring_capacity:{}\r\nwait_strategy:{:?}\r\ndata_dir:{}\r\n",
            shop.config().durability,
            ring,
            shop.config().wait_strategy,
            shop.config().data_dir().display(),
        );
        #[cfg(feature = "prometheus")]
        let counters = Arc::new(ServerCounters::default());
        #[cfg(feature = "prometheus")]
        let metrics = match config.metrics_addr {
            None => None,
            Some(addr) => {
                let bind = |source| ServerError::Bind { addr, source };
                let listener = std::net::TcpListener::bind(addr).map_err(bind)?;
                let source = MetricsSource {
                    counters: Arc::clone(&counters),
                    stages: shop.live_stages(),
                    journal: shop.live_journal(),
                    role: config.role.clone(),
                    started: Instant::now(),
                };
                Some(MetricsEndpoint::start(listener, source).map_err(bind)?)
            }
        };
        Ok(Self {
            poll,
            listener: Some(listener),
            local_addr,
            waker,
            replies_ready,
            stop: Arc::new(AtomicBool::new(false)),
            client,
            info: InfoSource {
                live: shop.live_stages(),
                journal: shop.live_journal(),
                engine,
                started: Instant::now(),
            },
            config,
            window,
            connections: HashMap::default(),
            next_token: FIRST_CONNECTION,
            work: Vec::new(),
            starved: Vec::new(),
            intake: Intake {
                batch: Vec::new(),
                transactions: Vec::new(),
                owed: VecDeque::new(),
                args: Vec::new(),
                report: ServeReport::default(),
            },
            engine_stopped: false,
            scratch: vec![0; READ_CHUNK],
            memory: ClientMemory::default(),
            #[cfg(feature = "prometheus")]
            counters,
            #[cfg(feature = "prometheus")]
            metrics,
        })
    }

    /// Where `GET /metrics` is served (with the port chosen, for port 0),
    /// if [`ServerConfig::metrics_addr`] asked for it.
    #[cfg(feature = "prometheus")]
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(MetricsEndpoint::local_addr)
    }

    /// The address it listens on (with the port chosen, for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle that stops the server from another thread.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            stop: Arc::clone(&self.stop),
            waker: Arc::clone(&self.waker),
        }
    }

    /// Serve until [`ServerHandle::stop`]; then stop accepting and reading,
    /// deliver the replies of every command in flight (writing for at most
    /// `shutdown_grace` to clients that do not read), and return.
    ///
    /// # Errors
    ///
    /// [`ServerError::Poll`] if the poller fails; [`ServerError::EngineStopped`]
    /// if the shop's engine stopped while serving (after every command in
    /// flight got an error reply and the connections were drained);
    /// [`ServerError::Shop`] for an unexpected reply.
    pub fn run(mut self) -> Result<ServeReport, ServerError> {
        let mut events = Events::with_capacity(1024);
        let mut draining_since: Option<Instant> = None;
        let mut last_idle_check = Instant::now();
        loop {
            let timeout = self.timeout(draining_since);
            if let Err(source) = self.poll.poll(&mut events, timeout) {
                if source.kind() != io::ErrorKind::Interrupted {
                    return Err(ServerError::Poll {
                        what: "waiting for events",
                        source,
                    });
                }
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(now),
                    WAKER => {}
                    Token(token) => {
                        if let Some(c) = self.connections.get_mut(&token) {
                            if event.is_readable() || event.is_read_closed() || event.is_error() {
                                c.readable = true;
                            }
                            if event.is_read_closed() || event.is_error() {
                                c.read_closed = true;
                            }
                            enqueue(&mut self.work, c, token);
                        }
                    }
                }
            }
            self.collect_replies()?;
            if !self.engine_stopped && self.client.is_halted() {
                self.fail_owed();
            }
            // Acquire: pairs with the Release store in `ServerHandle::stop`.
            let stopping = self.stop.load(Ordering::Acquire) || self.engine_stopped;
            if draining_since.is_none() && stopping {
                draining_since = Some(now);
                self.begin_shutdown();
            }
            self.serve(now, draining_since.is_some());
            self.publish()?;
            self.bound_client_memory(now);
            #[cfg(feature = "prometheus")]
            self.counters.store(
                &self.intake.report,
                self.connections.len(),
                self.memory.total,
                self.client.in_flight(),
            );
            if let Some(since) = draining_since {
                let waiting = !self.intake.owed.is_empty() || !self.connections.is_empty();
                if !waiting {
                    break;
                }
                if now.duration_since(since) >= self.config.shutdown_grace {
                    self.intake.report.abandoned = self.connections.len() as u64;
                    break;
                }
            }
            if now.duration_since(last_idle_check) >= Duration::from_millis(100) {
                last_idle_check = now;
                self.close_idle(now);
            }
        }
        if self.engine_stopped {
            return Err(ServerError::EngineStopped);
        }
        // Owed replies of abandoned connections still arrive; wait for
        // them so the client is quiet before the shop closes.
        while !self.intake.owed.is_empty() {
            match self.client.next_completion() {
                Ok(Some(_)) => {
                    self.intake.owed.pop_front();
                }
                Ok(None) | Err(_) => break,
            }
        }
        Ok(self.intake.report)
    }

    fn timeout(&self, draining_since: Option<Instant>) -> Option<Duration> {
        if !self.work.is_empty() {
            return Some(Duration::ZERO);
        }
        if !self.intake.owed.is_empty() && !self.engine_stopped {
            let others = self.timeout_without_owed(draining_since);
            return Some(others.map_or(ENGINE_CHECK, |t| t.min(ENGINE_CHECK)));
        }
        self.timeout_without_owed(draining_since)
    }

    fn timeout_without_owed(&self, draining_since: Option<Instant>) -> Option<Duration> {
        let clamp = |t: Duration| t.clamp(Duration::from_millis(100), Duration::from_secs(1));
        let mut idle = self.config.idle_timeout.map(clamp);
        if self.speaks_tls() {
            // Wake to close handshakes that stall.
            let handshake = clamp(self.config.tls_handshake_timeout);
            idle = Some(idle.map_or(handshake, |i| i.min(handshake)));
        }
        let grace = draining_since.map(|since| {
            self.config
                .shutdown_grace
                .saturating_sub(since.elapsed())
                .min(Duration::from_millis(50))
        });
        match (idle, grace) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn speaks_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.config.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    fn accept(&mut self, now: Instant) {
        let Some(listener) = self.listener.as_ref() else {
            return;
        };
        loop {
            match listener.accept() {
                Ok((mut stream, peer)) => {
                    if self.connections.len() >= self.config.max_connections {
                        let _ = stream.write(b"-ERR max number of clients reached\r\n");
                        self.intake.report.refused += 1;
                        continue;
                    }
                    let password = self.config.password.as_ref();
                    if protected_mode_refuses(self.config.protected_mode, password, &peer) {
                        let _ = stream.write(format!("-{PROTECTED_MODE_REFUSAL}\r\n").as_bytes());
                        self.intake.report.refused += 1;
                        tracing::warn!(%peer, "protected mode: refused a client that is not on loopback");
                        continue;
                    }
                    let _ = stream.set_nodelay(true);
                    let token = self.next_token;
                    self.next_token += 1;
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        Token(token),
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        tracing::warn!(error = %e, "cannot register a connection");
                        continue;
                    }
                    self.intake.report.accepted += 1;
                    let session = Session::new(token as u64, Some(peer), password.is_none(), now);
                    #[cfg(feature = "tls")]
                    let tls = match self.config.tls.as_ref().map(|t| t.accept()) {
                        None => None,
                        Some(Ok(tls)) => Some(Box::new(tls)),
                        Some(Err(e)) => {
                            tracing::warn!(error = %e, "cannot start TLS for a connection");
                            let _ = self.poll.registry().deregister(&mut stream);
                            continue;
                        }
                    };
                    let mut c = Connection::new(stream, now, session);
                    #[cfg(feature = "tls")]
                    {
                        c.tls = tls;
                    }
                    enqueue(&mut self.work, &mut c, token);
                    self.connections.insert(token, c);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of file descriptors and the like: keep serving
                    // the connections there are.
                    tracing::warn!(error = %e, "accept failed");
                    break;
                }
            }
        }
    }

    /// Route every completion that arrived to its connection.
    fn collect_replies(&mut self) -> Result<(), ServerError> {
        // Every reply delivered before a raise this clear reads is drained
        // below; a delivery after it raises a down flag and wakes the loop.
        self.replies_ready.clear();
        let mut any = false;
        while let Some(done) = self.client.try_completion() {
            any = true;
            let Some(Owed {
                token,
                delete,
                protocol,
            }) = self.intake.owed.pop_front()
            else {
                return Err(ServerError::Shop(ShopError::UnexpectedReply {
                    request_id: done.request_id,
                    reply: format!("{:?}", done.reply),
                }));
            };
            match self.connections.get_mut(&token) {
                Some(c) => {
                    c.engine_replied(|out| encode_shop_reply(out, &done.reply, delete, protocol));
                    enqueue(&mut self.work, c, token);
                    // Count the reply now: a client that pipelines large
                    // replies and never reads them is closed before the
                    // rest of its replies pile up.
                    let footprint = c.footprint();
                    self.memory.total = self.memory.total - c.counted + footprint;
                    c.counted = footprint;
                    if self.memory.total > self.config.max_client_memory {
                        self.evict_over_limit();
                    }
                }
                None => self.intake.report.orphaned_replies += 1,
            }
        }
        if any {
            for token in self.starved.drain(..) {
                if let Some(c) = self.connections.get_mut(&token) {
                    enqueue(&mut self.work, c, token);
                }
            }
        }
        Ok(())
    }

    /// The engine stopped: no owed command will get its reply. Each gets
    /// an error instead, in order, and the server drains and stops.
    #[cold]
    fn fail_owed(&mut self) {
        tracing::error!(
            owed = self.intake.owed.len(),
            "the shop's engine stopped: answering every command in flight with an error"
        );
        self.engine_stopped = true;
        self.intake.batch.clear();
        for Owed { token, .. } in std::mem::take(&mut self.intake.owed) {
            if let Some(c) = self.connections.get_mut(&token) {
                c.engine_replied(|out| {
                    Resp::error(
                        out,
                        "ERR the engine stopped (a stage failed; see the server's log): \
                         no reply for this command, which may not have been applied",
                    );
                });
                enqueue(&mut self.work, c, token);
            }
        }
    }

    fn begin_shutdown(&mut self) {
        if let Some(mut listener) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        for (&token, c) in &mut self.connections {
            c.closing.get_or_insert(Closing::Shutdown);
            enqueue(&mut self.work, c, token);
        }
    }

    /// Close connections idle past `idle_timeout`, and TLS connections
    /// whose handshake has not finished within `tls_handshake_timeout` (a
    /// client that opens a connection and never completes its handshake
    /// holds rustls state; it is dropped at once, with nothing to write).
    fn close_idle(&mut self, now: Instant) {
        let idle = self.config.idle_timeout;
        if idle.is_none() && !self.speaks_tls() {
            // Nothing to look for: no pass over every connection.
            return;
        }
        let handshake = self.config.tls_handshake_timeout;
        let mut stalled = Vec::new();
        for (&token, c) in &mut self.connections {
            if c.is_handshaking() && now.duration_since(c.session.since) >= handshake {
                stalled.push(token);
                continue;
            }
            let Some(idle) = idle else { continue };
            if c.closing.is_none() && c.awaiting == 0 && now.duration_since(c.last_active) >= idle {
                c.closing = Some(Closing::Idle);
                enqueue(&mut self.work, c, token);
            }
        }
        for token in stalled {
            tracing::debug!(token, "TLS handshake not finished in time: closing");
            self.intake.report.handshake_timeouts += 1;
            self.close(token);
        }
    }

    /// One turn for every connection with work: write, read and parse,
    /// write again, close if done.
    fn serve(&mut self, now: Instant, draining: bool) {
        let work = std::mem::take(&mut self.work);
        let in_flight = usize::try_from(self.client.in_flight()).unwrap_or(usize::MAX);
        let mut window_left = self
            .window
            .saturating_sub(in_flight + self.intake.batch.len());
        let connections = self.connections.len();
        for token in work {
            let Some(c) = self.connections.get_mut(&token) else {
                continue;
            };
            c.queued = false;
            let mut failed = c.write().is_err();
            let mut stop = Stop::Incomplete;
            if !failed && c.closing.is_none() && !draining {
                let context = ParseContext {
                    config: &self.config,
                    info: &self.info,
                    connections,
                    in_flight,
                    memory: self.memory,
                    window: self.window,
                    now,
                };
                stop = read_and_parse(
                    c,
                    token,
                    &mut self.intake,
                    &context,
                    now,
                    &mut window_left,
                    &mut self.scratch,
                );
                failed = c.write().is_err();
                self.intake.report.failed_auth += std::mem::take(&mut c.failed_auth);
            }
            let footprint = c.footprint();
            self.memory.total = self.memory.total - c.counted + footprint;
            c.counted = footprint;
            if failed || c.finished() {
                self.close(token);
                continue;
            }
            let requeue = match stop {
                Stop::Window => {
                    self.starved.push(token);
                    false
                }
                Stop::Incomplete => c.readable && c.closing.is_none() && !draining,
                // Output drained in this very turn: no writable event will
                // come, so look again next turn.
                Stop::Paused => {
                    c.awaiting < self.config.max_pending && c.unwritten() < self.config.max_output
                }
                Stop::Closing => false,
            };
            if requeue {
                enqueue(&mut self.work, c, token);
            }
            if self.memory.total > self.config.max_client_memory {
                self.evict_over_limit();
            }
        }
    }

    /// Drop a connection now, and its buffers from the count.
    fn close(&mut self, token: usize) {
        if let Some(mut gone) = self.connections.remove(&token) {
            gone.goodbye();
            self.memory.total -= gone.counted;
            let _ = self.poll.registry().deregister(&mut gone.stream);
        }
    }

    /// Keep the client buffers under `max_client_memory`: while they are
    /// over it, close the connection holding the most (its owed replies
    /// become orphans: the commands still take effect). Every
    /// [`MEMORY_SCAN`], recount every connection exactly and note the
    /// largest for `INFO`.
    fn bound_client_memory(&mut self, now: Instant) {
        if self.memory.next_scan.is_none_or(|at| now >= at) {
            self.memory.next_scan = Some(now + MEMORY_SCAN);
            let (mut total, mut largest) = (0, 0);
            for c in self.connections.values_mut() {
                c.counted = c.footprint();
                total += c.counted;
                largest = largest.max(c.counted);
            }
            self.memory.total = total;
            self.memory.largest = largest;
        }
        self.evict_over_limit();
    }

    /// While the client buffers are over the limit, close the connection
    /// holding the most.
    fn evict_over_limit(&mut self) {
        while self.memory.total > self.config.max_client_memory {
            let Some((&token, c)) = self.connections.iter().max_by_key(|(_, c)| c.counted) else {
                break;
            };
            tracing::warn!(
                held = c.counted,
                input = c.input.len(),
                unwritten = c.unwritten(),
                total = self.memory.total,
                limit = self.config.max_client_memory,
                "client buffers over the limit: closing the client that holds the most"
            );
            self.close(token);
            self.intake.report.evicted_for_memory += 1;
        }
    }

    /// Publish this turn's commands as one batch.
    fn publish(&mut self) -> Result<(), ServerError> {
        if self.intake.batch.is_empty() || self.engine_stopped {
            return Ok(());
        }
        let submitted = if self.intake.transactions.is_empty() {
            self.client.submit_batch(&self.intake.batch)
        } else {
            let mut marks = vec![crate::shop::TxnMark::NONE; self.intake.batch.len()];
            for range in self.intake.transactions.drain(..) {
                let txn = self
                    .client
                    .transaction_marks(&self.intake.batch[range.clone()]);
                marks[range].copy_from_slice(&txn);
            }
            self.client.submit_marked(&self.intake.batch, &marks)
        };
        match submitted {
            Ok(_) => {}
            Err(ShopError::Closed) if self.client.is_halted() => {
                self.fail_owed();
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
        self.intake.report.published += self.intake.batch.len() as u64;
        self.intake.batch.clear();
        Ok(())
    }
}

/// Put a connection on the work list once.
fn enqueue(work: &mut Vec<usize>, c: &mut Connection, token: usize) {
    if !c.queued {
        c.queued = true;
        work.push(token);
    }
}
