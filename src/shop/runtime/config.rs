//! [`ShopConfig`]: where a shop keeps its data and how its engine runs.

use crate::journal::{Durability, IoHook, JournalConfig, RecoveryMode};
use crate::WaitStrategy;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How a shop's stages (journal, catalog, search index, responder) map
/// onto threads.
///
/// Either way they form the same diamond, each stage with its own sequence
/// and latency figures, and every reply means the same thing.
///
/// # Examples
///
/// ```
/// use ringmaster::shop::{ShopConfig, StageThreads};
/// let config = ShopConfig::new("/var/lib/shop").stage_threads(StageThreads::Dedicated);
/// # drop(config);
/// assert_eq!(StageThreads::Shared.threads(), 1);
/// assert!(matches!(
///     StageThreads::for_this_machine(),
///     StageThreads::Shared | StageThreads::Dedicated
/// ));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageThreads {
    /// A thread per stage: the catalog and the index work on a batch at
    /// the same time, and the journal on the next one. Wants a core per
    /// stage besides the clients' (and the network thread's).
    Dedicated,
    /// One thread runs the four stages in turn, a batch at a time: no
    /// hand-off between threads inside the engine, so nothing waits for
    /// the OS to schedule the next stage. For machines with fewer cores
    /// than threads that want one.
    Shared,
}

impl StageThreads {
    /// Cores below which [`for_this_machine`](Self::for_this_machine)
    /// shares one thread: four stages, a network or client thread, and
    /// room for the rest of the process.
    pub const DEDICATED_FROM_CORES: usize = 8;

    /// Threads the four stages run on.
    pub fn threads(self) -> usize {
        match self {
            Self::Dedicated => 4,
            Self::Shared => 1,
        }
    }

    /// `Shared` on machines with fewer than
    /// [`DEDICATED_FROM_CORES`](Self::DEDICATED_FROM_CORES) cores (as the
    /// process may use them), else `Dedicated`.
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        if cores < Self::DEDICATED_FROM_CORES {
            Self::Shared
        } else {
            Self::Dedicated
        }
    }
}

/// How to open a [`Shop`](super::Shop): a builder with embedded defaults.
///
/// | setting | default |
/// |---|---|
/// | durability | `Sync` (msync per batch before any reply) |
/// | ring capacity | 16,384 events (2 MiB) |
/// | wait strategy | `Blocking` (no CPU while idle) |
/// | pinning | off |
/// | stage threads | `Shared` (one thread for the four stages) on machines with fewer than 8 cores, else `Dedicated` |
/// | automatic snapshot | every 1,000,000 journal records, and on close |
/// | snapshots kept | 2 (older ones, and journal segments before the oldest kept, are removed) |
/// | journal segment | 64 MiB |
/// | recovery | `TruncateTornTail` |
/// | ring file | none (the ring is private to the process) |
/// | reserved products | 0 (the catalog and index grow as needed) |
/// | batch limit | none (each stage takes every command readable) |
///
/// # Examples
///
/// ```
/// use ringmaster::journal::Durability;
/// use ringmaster::shop::ShopConfig;
/// use ringmaster::WaitStrategy;
///
/// let config = ShopConfig::new("/var/lib/shop")
///     .durability(Durability::None)
///     .ring_capacity(1 << 16)
///     .wait_strategy(WaitStrategy::Yielding)
///     .snapshot_every(100_000);
/// assert_eq!(config.data_dir().join("journal"), config.journal_dir());
/// ```
#[derive(Debug, Clone)]
pub struct ShopConfig {
    pub(crate) data_dir: PathBuf,
    pub(crate) durability: Durability,
    pub(crate) ring_capacity: u64,
    pub(crate) wait_strategy: WaitStrategy,
    pub(crate) pin: bool,
    pub(crate) stage_threads: StageThreads,
    pub(crate) snapshot_every: u64,
    pub(crate) snapshot_on_close: bool,
    pub(crate) keep_snapshots: usize,
    pub(crate) segment_size: u64,
    pub(crate) recovery_mode: RecoveryMode,
    pub(crate) max_in_flight: u64,
    pub(crate) ring_file: Option<PathBuf>,
    pub(crate) reserve_products: u64,
    pub(crate) max_batch: u64,
    pub(crate) journal_hook: Option<Arc<dyn IoHook>>,
    pub(crate) journal_start: u64,
    pub(crate) file_mode: u32,
    #[cfg(all(feature = "replication", not(loom)))]
    pub(crate) replication: Option<super::replicated::Hooks>,
}

impl ShopConfig {
    /// Defaults (see the table) with data under `data_dir`, created if
    /// missing: `journal/` and `snapshots/`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            durability: Durability::Sync,
            ring_capacity: 1 << 14,
            wait_strategy: WaitStrategy::Blocking,
            pin: false,
            stage_threads: StageThreads::for_this_machine(),
            snapshot_every: 1_000_000,
            snapshot_on_close: true,
            keep_snapshots: 2,
            segment_size: 64 << 20,
            recovery_mode: RecoveryMode::TruncateTornTail,
            max_in_flight: 1 << 20,
            ring_file: None,
            reserve_products: 0,
            max_batch: u64::MAX,
            journal_hook: None,
            journal_start: 0,
            file_mode: crate::journal::DEFAULT_FILE_MODE,
            #[cfg(all(feature = "replication", not(loom)))]
            replication: None,
        }
    }

    /// See (and possibly fail) every file operation of the journal and
    /// the snapshots: a fault-injection seam for tests (see
    /// [`IoHook`]). A failed journal operation fails the batch it belongs
    /// to: its clients get errors, never replies.
    #[must_use]
    pub fn journal_io_hook(mut self, hook: Arc<dyn IoHook>) -> Self {
        self.journal_hook = Some(hook);
        self
    }

    /// Start a journal that has no segment yet at sequence `start`
    /// (default 0): a standby that begins from a snapshot covering `start`
    /// records numbers its journal as the primary's. An existing journal
    /// keeps its own numbering.
    #[must_use]
    pub fn journal_start(mut self, start: u64) -> Self {
        self.journal_start = start;
        self
    }

    /// The journal's configuration: this shop's directory, segment size,
    /// durability, recovery mode and I/O hook.
    pub fn journal_config(&self) -> JournalConfig {
        let config = JournalConfig::new(self.journal_dir())
            .segment_size(self.segment_size)
            .durability(self.durability)
            .recovery_mode(self.recovery_mode)
            .file_mode(self.file_mode);
        match &self.journal_hook {
            Some(hook) => config.io_hook(Arc::clone(hook)),
            None => config,
        }
    }

    /// Permissions of the files the shop creates (journal segments,
    /// snapshots, the ring file), before the umask; directories get the
    /// matching search bits. Default `0o600` (directories `0o700`): only
    /// the owner reads the shop's data.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::shop::ShopConfig;
    /// let config = ShopConfig::new("/var/lib/shop").file_mode(0o640);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn file_mode(mut self, mode: u32) -> Self {
        self.file_mode = mode & 0o777;
        self
    }

    /// Let each stage take at most `commands` commands per batch (default:
    /// no limit). Replies leave, and the journal commits, once per batch:
    /// under a burst, an unlimited batch holds the burst's first reply
    /// until its last command is handled, while a limit lets replies flow
    /// as the burst is worked through. For front ends that wait on replies
    /// to send more (a network server: `ringmaster serve` uses
    /// [`server_max_batch`](crate::ingress::server_max_batch)); a client
    /// that keeps a deep pipeline full does better without a limit, since
    /// every batch costs a delivery per client. With `Durability::Sync` a
    /// batch also costs an `msync` and no reply leaves before it, so a
    /// limit there only cuts the group commit short. 0 fails at open
    /// ([`BuildError::ZeroMaxBatch`](crate::BuildError::ZeroMaxBatch)).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("rm-doc-max-batch-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// use ringmaster::shop::{Shop, ShopConfig};
    /// let shop = Shop::open(ShopConfig::new(&dir).max_batch(64))?;
    /// shop.client()?.add(1, "Ash Spoon", 450, 12)?;
    /// shop.close()?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_batch(mut self, commands: u64) -> Self {
        self.max_batch = commands;
        self
    }

    /// Size the catalog and the search index for this many products when
    /// the shop opens, and fault their pages in then, so the writes that
    /// fill them pay neither for growing nor for first touching memory on
    /// a stage's thread. Without it the tables grow as needed, without a
    /// stall (the products live in chunks that never move; a doubled index
    /// takes over from the old one a few slots per write), but each new
    /// page is faulted in by the write that first reaches it. Costs that
    /// memory up front: 240 to 290 bytes per product (the indexes are
    /// sized in powers of two). A catalog that outgrows it still grows.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("rm-doc-reserve-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// use ringmaster::shop::{Shop, ShopConfig};
    /// let shop = Shop::open(ShopConfig::new(&dir).reserve_products(10_000))?;
    /// shop.client()?.add(1, "Ash Spoon", 450, 12)?;
    /// shop.close()?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reserve_products(mut self, products: u64) -> Self {
        self.reserve_products = products;
        self
    }

    /// When writes count as done: see [`Durability`].
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Ring slots (a power of two): how many commands can be in the
    /// engine at once.
    pub fn ring_capacity(mut self, capacity: u64) -> Self {
        self.ring_capacity = capacity;
        self
    }

    /// How stages wait for commands, and clients for free slots and for
    /// their replies (`Blocking` sleeps; the others spin or yield, which
    /// answers sooner than a sleeping thread can be woken but takes CPU).
    pub fn wait_strategy(mut self, strategy: WaitStrategy) -> Self {
        self.wait_strategy = strategy;
        self
    }

    /// Pin the four stage threads to the available cores, round robin.
    pub fn pin(mut self, pin: bool) -> Self {
        self.pin = pin;
        self
    }

    /// Snapshot the catalog every `records` journaled writes (0: never
    /// automatically; [`Shop::snapshot`](super::Shop::snapshot) still works).
    pub fn snapshot_every(mut self, records: u64) -> Self {
        self.snapshot_every = records;
        self
    }

    /// Write a snapshot when the shop closes, so the next open replays
    /// nothing (default on).
    pub fn snapshot_on_close(mut self, on: bool) -> Self {
        self.snapshot_on_close = on;
        self
    }

    /// Snapshots to keep (at least 1); journal segments wholly before the
    /// oldest one kept are deleted.
    pub fn keep_snapshots(mut self, keep: usize) -> Self {
        self.keep_snapshots = keep;
        self
    }

    /// Journal segment size in bytes.
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes;
        self
    }

    /// How the four stages map onto threads (default: see the table).
    pub fn stage_threads(mut self, threads: StageThreads) -> Self {
        self.stage_threads = threads;
        self
    }

    /// What to do with a torn journal tail on open.
    pub fn recovery_mode(mut self, mode: RecoveryMode) -> Self {
        self.recovery_mode = mode;
        self
    }

    /// Most pipelined requests one client may have awaiting replies
    /// (default 1,048,576); beyond it `submit` returns `InFlightLimit`.
    pub fn max_in_flight(mut self, requests: u64) -> Self {
        self.max_in_flight = requests;
        self
    }

    /// Put the engine's ring in a shared file (e.g. `/dev/shm/shop`), so
    /// `ringmaster stat FILE` can watch every stage's progress and lag from
    /// another process. The file is created on open (replacing one a
    /// crashed run left; refusing one a live process uses) and removed on
    /// close. Shared rings cannot use `WaitStrategy::Blocking`: pick
    /// `Yielding`, `Backoff` or `BusySpin`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::shop::ShopConfig;
    /// use ringmaster::WaitStrategy;
    ///
    /// let config = ShopConfig::new("/var/lib/shop")
    ///     .ring_file("/dev/shm/shop-ring")
    ///     .wait_strategy(WaitStrategy::Backoff);
    /// assert!(config.ring_path().is_some());
    /// ```
    #[must_use]
    pub fn ring_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ring_file = Some(path.into());
        self
    }

    /// The shared ring file, if the ring is in one.
    pub fn ring_path(&self) -> Option<&Path> {
        self.ring_file.as_deref()
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the journal segments go.
    pub fn journal_dir(&self) -> PathBuf {
        self.data_dir.join("journal")
    }

    /// Where the snapshots go.
    pub fn snapshot_dir(&self) -> PathBuf {
        self.data_dir.join("snapshots")
    }
}
