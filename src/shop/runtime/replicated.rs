//! [`ReplicatedShop`]: a shop that streams its journal into NATS
//! JetStream (a primary) or rebuilds itself from that stream and serves
//! reads (a standby), and a standby's promotion to primary.

use super::client::Client;
use super::config::ShopConfig;
use super::error::ShopError;
use super::shop::{CloseReport, Shop};
use crate::journal::SnapshotStore;
use crate::replication::{
    fetch_newest_snapshot, AckGate, Applier, Follower, FollowerConfig, FollowerStatus, Nudge,
    Replicator, ReplicatorConfig, ReplicatorStatus,
};
use crate::shop::domain::{Command, ProductEvent, TxnMark};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What the shop needs from replication: where the stream's
/// acknowledgements stand (the snapshot writer keeps every journal segment
/// not yet replicated; with `wait_for_acks`, write replies wait for them),
/// and a nudge that wakes the replicator after each journal commit.
#[derive(Debug, Clone)]
pub(crate) struct Hooks {
    pub(crate) gate: Arc<AckGate>,
    pub(crate) wait_for_acks: bool,
    pub(crate) nudge: Option<Nudge>,
}

/// A lock's guard, poisoned or not: the values behind these locks are
/// handles and figures, whole after any panic.
fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// When a write's reply goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AckMode {
    /// After the local journal commit (durable as the journal's
    /// [`Durability`](crate::journal::Durability) says); the stream follows
    /// a moment later. Losing the primary's machine can lose the writes of
    /// that moment.
    #[default]
    Local,
    /// After the stream acknowledged the message holding the write: a
    /// reply means the write is in JetStream, so a promoted standby has it.
    Replicated,
}

/// Where a replicated shop streams to or follows from.
///
/// # Examples
///
/// ```
/// use ringmaster::shop::{AckMode, ReplicationConfig};
/// let config = ReplicationConfig::new("nats://127.0.0.1:4222")
///     .stream("shop")
///     .ack(AckMode::Replicated)
///     .primary_name("127.0.0.1:7878");
/// assert_eq!(config.ack_mode(), AckMode::Replicated);
/// ```
#[derive(Debug, Clone)]
pub struct ReplicationConfig {
    url: String,
    stream: String,
    ack: AckMode,
    primary_name: String,
    consumer: String,
}

impl ReplicationConfig {
    /// Stream `ringmaster` on the NATS server at `url`, replies after the
    /// local commit.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            stream: "ringmaster".into(),
            ack: AckMode::Local,
            primary_name: format!("pid {}", std::process::id()),
            consumer: "standby".into(),
        }
    }

    /// The stream's name (default `ringmaster`).
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = name.into();
        self
    }

    /// When write replies go out (default [`AckMode::Local`]); for a
    /// standby, once it is promoted.
    pub fn ack(mut self, mode: AckMode) -> Self {
        self.ack = mode;
        self
    }

    /// The acknowledgement mode.
    pub fn ack_mode(&self) -> AckMode {
        self.ack
    }

    /// How this node names itself in the stream when it is the primary
    /// (its client address, say), so standbys can tell clients where to
    /// write.
    pub fn primary_name(mut self, name: impl Into<String>) -> Self {
        self.primary_name = name.into();
        self
    }

    /// The durable consumer a standby reads with (default `standby`; one
    /// name per standby).
    pub fn consumer(mut self, name: impl Into<String>) -> Self {
        self.consumer = name.into();
        self
    }

    /// The NATS server's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The stream's name.
    pub fn stream_name(&self) -> &str {
        &self.stream
    }
}

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepts writes and replicates them.
    Primary,
    /// Follows the stream and serves reads.
    Standby,
}

/// Replication figures for `INFO`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplicationInfo {
    /// A primary's.
    Primary {
        /// The stream.
        stream: String,
        /// Journal sequence after the last record published.
        published: u64,
        /// Journal sequence after the last record acknowledged.
        acked: u64,
        /// Whether replies wait for the stream.
        ack: AckMode,
        /// Resynchronisations after errors.
        resyncs: u64,
        /// Messages the stream acknowledged (each a run of records).
        messages: u64,
        /// Snapshots uploaded.
        snapshots: u64,
        /// The last error recovered from, or that stopped replication.
        last_error: Option<String>,
        /// Whether the replicator still runs.
        running: bool,
    },
    /// A standby's.
    Standby {
        /// The stream.
        stream: String,
        /// The primary as the stream names it.
        primary: String,
        /// Journal sequence after the last record applied.
        applied: u64,
        /// Records behind the stream.
        lag_records: u64,
        /// Age of the oldest record not yet applied, in milliseconds.
        lag_ms: u64,
        /// The last error recovered from, or that stopped following.
        last_error: Option<String>,
        /// Whether the follower still runs.
        running: bool,
        /// A promotion is under way.
        promoting: bool,
    },
}

enum State {
    Primary(Replicator),
    Standby(Follower<ShopApplier>),
    /// Between the two, or after a failed promotion.
    Neither,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            State::Primary(_) => "Primary",
            State::Standby(_) => "Standby",
            State::Neither => "Neither",
        })
    }
}

/// The part of a [`ReplicatedShop`] that its server shares: the role, the
/// figures, and promotion.
#[derive(Debug)]
struct Shared {
    config: ReplicationConfig,
    shop_config: ShopConfig,
    gate: Arc<AckGate>,
    nudge: Nudge,
    state: Mutex<State>,
    primary: AtomicBool,
    promoting: AtomicBool,
    replicator: Mutex<Option<Arc<ReplicatorStatus>>>,
    follower: Mutex<Option<Arc<FollowerStatus>>>,
}

/// A cheap, cloneable view of a [`ReplicatedShop`] for a server: whether
/// writes are accepted, the figures for `INFO`, and promotion.
#[derive(Debug, Clone)]
pub struct ReplicationHandle(Arc<Shared>);

impl ReplicationHandle {
    /// The node's role now.
    pub fn role(&self) -> Role {
        // Acquire: pairs with the Release store at the end of promotion:
        // a node seen as primary has its replicator running.
        if self.0.primary.load(Ordering::Acquire) {
            Role::Primary
        } else {
            Role::Standby
        }
    }

    /// Why a write is refused here, or `None` when writes are accepted.
    pub fn refuse_writes(&self) -> Option<String> {
        match self.role() {
            Role::Primary => None,
            Role::Standby => {
                let primary = locked(&self.0.follower)
                    .as_ref()
                    .map(|s| s.primary())
                    .unwrap_or_default();
                Some(format!(
                    "READONLY this is a standby of stream {} at {}; write to the primary{}",
                    self.0.config.stream,
                    self.0.config.url,
                    if primary.is_empty() {
                        String::new()
                    } else {
                        format!(" ({primary})")
                    }
                ))
            }
        }
    }

    /// The figures for `INFO`.
    pub fn info(&self) -> ReplicationInfo {
        let stream = self.0.config.stream.clone();
        match self.role() {
            Role::Primary => {
                let status = locked(&self.0.replicator).clone().unwrap_or_default();
                let running = matches!(
                    &*locked(&self.0.state),
                    State::Primary(r) if r.is_running()
                );
                ReplicationInfo::Primary {
                    stream,
                    published: status.published(),
                    acked: status.acked(),
                    ack: self.0.config.ack,
                    resyncs: status.resyncs(),
                    messages: status.messages(),
                    snapshots: status.snapshots_uploaded(),
                    last_error: status.last_error(),
                    running,
                }
            }
            Role::Standby => {
                let status = locked(&self.0.follower).clone().unwrap_or_default();
                let running = match self.0.state.try_lock() {
                    Ok(state) => matches!(&*state, State::Standby(f) if f.is_running()),
                    // Held by a promotion.
                    Err(_) => true,
                };
                ReplicationInfo::Standby {
                    stream,
                    primary: status.primary(),
                    applied: status.applied(),
                    lag_records: status.lag_records(),
                    lag_ms: status.lag_ms(),
                    last_error: status.last_error(),
                    running,
                    promoting: self.0.promoting.load(Ordering::Relaxed),
                }
            }
        }
    }

    /// Turn a standby into a primary: apply everything the stream holds,
    /// stop following, start replicating onward from the same stream, and
    /// accept writes. Blocks until done; a primary returns at once.
    ///
    /// # Errors
    ///
    /// The follower's error (it stopped before catching up), or the
    /// replicator's (it could not start: the stream moved on, say).
    pub fn promote(&self) -> Result<(), ShopError> {
        self.0.promote()
    }

    /// [`promote`](ReplicationHandle::promote) on a thread of its own;
    /// watch [`role`](ReplicationHandle::role) (or `INFO`) for the outcome.
    ///
    /// # Errors
    ///
    /// [`ShopError::Io`] when the thread cannot start.
    pub fn request_promotion(&self) -> Result<(), ShopError> {
        if self.role() == Role::Primary || self.0.promoting.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        let shared = Arc::clone(&self.0);
        std::thread::Builder::new()
            .name("promotion".into())
            .spawn(move || {
                if let Err(e) = shared.promote() {
                    tracing::error!(error = %e, "promotion failed");
                }
                shared.promoting.store(false, Ordering::Relaxed);
            })
            .map(drop)
            .map_err(|source| ShopError::Io {
                what: "starting the promotion of",
                path: self.0.shop_config.data_dir().to_owned(),
                source,
            })
    }
}

impl Shared {
    fn replicator_config(&self) -> ReplicatorConfig {
        ReplicatorConfig::new(&self.config.url, self.shop_config.journal_dir())
            .stream(&self.config.stream)
            .snapshots(self.shop_config.snapshot_dir())
            .primary(&self.config.primary_name)
            .nudge(self.nudge.clone())
            .ack_gate(Arc::clone(&self.gate))
    }

    fn start_replicator(&self) -> Result<Replicator, ShopError> {
        let replicator = Replicator::start(self.replicator_config())?;
        *locked(&self.replicator) = Some(replicator.status());
        Ok(replicator)
    }

    fn promote(&self) -> Result<(), ShopError> {
        let mut state = locked(&self.state);
        let follower = match std::mem::replace(&mut *state, State::Neither) {
            State::Standby(follower) => follower,
            other => {
                *state = other;
                return Ok(());
            }
        };
        tracing::info!("promoting: applying the rest of the stream");
        let (applier, applied) = follower.catch_up_and_stop()?;
        drop(applier);
        let replicator = self.start_replicator()?;
        tracing::info!(from = applied, "promoted: accepting writes");
        *state = State::Primary(replicator);
        // Release: pairs with `role`'s Acquire load.
        self.primary.store(true, Ordering::Release);
        Ok(())
    }
}

/// A [`Shop`] with replication: a primary that streams its journal into
/// NATS JetStream, or a standby that rebuilds itself from the stream,
/// serves reads, and can be promoted.
///
/// # Examples
///
/// ```no_run
/// use ringmaster::shop::{AckMode, ReplicatedShop, ReplicationConfig, ShopConfig};
///
/// let repl = ReplicationConfig::new("nats://127.0.0.1:4222").ack(AckMode::Replicated);
/// let primary = ReplicatedShop::primary(ShopConfig::new("/tmp/primary"), repl.clone())?;
/// primary.shop().client()?.add(1, "Oak Stool", 4_500, 3)?;
///
/// let standby = ReplicatedShop::standby(ShopConfig::new("/tmp/standby"), repl.consumer("b"))?;
/// standby.handle().promote()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ReplicatedShop {
    shop: Option<Shop>,
    shared: Arc<Shared>,
}

impl ReplicatedShop {
    /// Open the shop as a primary and start replicating its journal.
    ///
    /// # Errors
    ///
    /// As [`Shop::open`], and [`ShopError::Replication`] when the stream
    /// cannot be reached, is ahead of the journal, or diverged from it.
    pub fn primary(shop_config: ShopConfig, config: ReplicationConfig) -> Result<Self, ShopError> {
        let shared = Self::shared(&shop_config, config, true);
        let shop = Shop::open(shared.shop_config.clone())?;
        let replicator = shared.start_replicator()?;
        *locked(&shared.state) = State::Primary(replicator);
        Ok(Self {
            shop: Some(shop),
            shared,
        })
    }

    /// Open the shop as a standby: an empty data directory starts from the
    /// newest snapshot in the stream's bucket; then every record after the
    /// local journal's end is applied as the stream delivers it.
    ///
    /// # Errors
    ///
    /// As [`Shop::open`], and [`ShopError::Replication`] when the stream
    /// cannot be reached or no longer holds what this standby needs next.
    pub fn standby(shop_config: ShopConfig, config: ReplicationConfig) -> Result<Self, ShopError> {
        let mut shop_config = shop_config;
        let journal_dir = shop_config.journal_dir();
        let fresh = !journal_dir.exists() || crate::journal::verify(&journal_dir)?.segments == 0;
        if fresh {
            if let Some((sequence, state)) = fetch_newest_snapshot(&config.url, &config.stream)? {
                SnapshotStore::open(shop_config.snapshot_dir())?.save(sequence, &state)?;
                shop_config = shop_config.journal_start(sequence);
                tracing::info!(sequence, "standby starts from the stream's newest snapshot");
            }
        }
        let shared = Self::shared(&shop_config, config, false);
        let shop = Shop::open(shared.shop_config.clone())?;
        let from = shop.open_report().journal_end;
        let applier = ShopApplier {
            client: shop.client()?,
            gate: Arc::clone(&shared.gate),
            pending: Vec::with_capacity(APPLY_CHUNK),
            marks: Vec::with_capacity(APPLY_CHUNK),
            next: from,
        };
        let follower_config = FollowerConfig::new(&shared.config.url)
            .stream(&shared.config.stream)
            .consumer(&shared.config.consumer);
        let follower = Follower::start(follower_config, from, applier)?;
        *locked(&shared.follower) = Some(follower.status());
        *locked(&shared.state) = State::Standby(follower);
        Ok(Self {
            shop: Some(shop),
            shared,
        })
    }

    fn shared(shop_config: &ShopConfig, config: ReplicationConfig, primary: bool) -> Arc<Shared> {
        let gate = Arc::new(AckGate::new());
        let nudge = Nudge::new();
        let mut shop_config = shop_config.clone();
        shop_config.replication = Some(Hooks {
            gate: Arc::clone(&gate),
            wait_for_acks: config.ack == AckMode::Replicated,
            nudge: Some(nudge.clone()),
        });
        Arc::new(Shared {
            config,
            shop_config,
            gate,
            nudge,
            state: Mutex::new(State::Neither),
            primary: AtomicBool::new(primary),
            promoting: AtomicBool::new(false),
            replicator: Mutex::new(None),
            follower: Mutex::new(None),
        })
    }

    /// The shop: clients, digest, figures. Writes through it on a standby
    /// would fork its journal from the stream: go through a server, which
    /// refuses them, or promote first.
    ///
    /// # Panics
    ///
    /// Never: the shop is only taken by `close`, which consumes `self`.
    pub fn shop(&self) -> &Shop {
        self.shop.as_ref().expect("shop present until close")
    }

    /// The view a server shares.
    pub fn handle(&self) -> ReplicationHandle {
        ReplicationHandle(Arc::clone(&self.shared))
    }

    /// Stop: a standby stops following, then closes its shop; a primary
    /// closes its shop (every write journaled and, with
    /// [`AckMode::Replicated`], acknowledged), then publishes the rest of
    /// its journal and stops replicating.
    ///
    /// # Errors
    ///
    /// The shop's, the follower's or the replicator's error.
    pub fn close(mut self) -> Result<CloseReport, ShopError> {
        let state = std::mem::replace(&mut *locked(&self.shared.state), State::Neither);
        let shop = self.shop.take().ok_or(ShopError::Closed)?;
        match state {
            State::Standby(follower) => {
                let stopped = follower.stop().map(drop);
                let closed = shop.close();
                stopped?;
                closed
            }
            State::Primary(replicator) => {
                // Replies waiting on the stream get errors if it does not
                // answer within the replicator's stop timeout: closing
                // never hangs on a server that is gone.
                let (done, waiting) = std::sync::mpsc::channel::<()>();
                let gate = Arc::clone(&self.shared.gate);
                let watchdog = std::thread::spawn(move || {
                    if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                        waiting.recv_timeout(CLOSE_TIMEOUT)
                    {
                        gate.abandon();
                    }
                });
                let closed = shop.close();
                drop(done);
                let _ = watchdog.join();
                let stopped = replicator.stop().map(drop);
                let closed = closed?;
                stopped?;
                Ok(closed)
            }
            State::Neither => shop.close(),
        }
    }
}

impl Drop for ReplicatedShop {
    fn drop(&mut self) {
        if let Some(shop) = self.shop.take() {
            let state = std::mem::replace(&mut *locked(&self.shared.state), State::Neither);
            // A standby's follower goes first (it holds a client); a
            // primary's replicator last (write replies may wait on it).
            if let State::Standby(follower) = state {
                drop(follower);
                drop(shop);
            } else {
                drop(shop);
                drop(state);
            }
        }
    }
}

/// How long closing a primary waits for the stream's acknowledgements.
const CLOSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Commands submitted to the ring per publish.
const APPLY_CHUNK: usize = 1024;

/// A standby's applier: each record from the stream goes into the shop's
/// ring as the write it was, through a client, so the standby journals,
/// applies and indexes it exactly as the primary did, under the same
/// journal sequence.
#[derive(Debug)]
struct ShopApplier {
    client: Client,
    gate: Arc<AckGate>,
    pending: Vec<Command>,
    /// Each pending command's transaction mark, kept so the standby's
    /// stages and journal apply transactions by the same rule.
    marks: Vec<TxnMark>,
    /// The journal sequence the next record must have.
    next: u64,
}

impl ShopApplier {
    fn submit(&mut self) -> Result<(), String> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let window = 1 << 14;
        while self.client.in_flight() + self.pending.len() as u64 > window {
            self.client.next_completion().map_err(|e| e.to_string())?;
        }
        // Records from the stream are replicated already: a gate (for
        // after a promotion) lets them through.
        self.gate.advance(self.next);
        self.client
            .submit_marked(&self.pending, &self.marks)
            .map_err(|e| e.to_string())?;
        self.pending.clear();
        self.marks.clear();
        Ok(())
    }
}

impl Applier for ShopApplier {
    fn apply(&mut self, sequence: u64, event: &[u8]) -> Result<(), String> {
        if sequence != self.next {
            return Err(format!("expected journal sequence {}", self.next));
        }
        if event.len() != std::mem::size_of::<ProductEvent>() {
            return Err(format!(
                "a {}-byte record; the shop's are {}",
                event.len(),
                std::mem::size_of::<ProductEvent>()
            ));
        }
        let event: ProductEvent = bytemuck::pod_read_unaligned(event);
        let command = event.decode().map_err(|e| e.to_string())?;
        if !command.is_write() {
            return Err(format!("not a write: {command:?}"));
        }
        self.pending.push(command);
        self.marks.push(event.txn_mark());
        self.next += 1;
        if self.pending.len() >= APPLY_CHUNK {
            self.submit()?;
        }
        Ok(())
    }

    /// Into the ring; the replies that are back are collected, the rest
    /// come back while the follower fetches the next batch.
    fn flush(&mut self) -> Result<(), String> {
        self.submit()?;
        while self.client.try_completion().is_some() {}
        if self.client.is_halted() {
            return Err("the standby's engine stopped".into());
        }
        Ok(())
    }

    fn settle(&mut self) -> Result<(), String> {
        self.submit()?;
        while self.client.in_flight() > 0 {
            self.client.next_completion().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
