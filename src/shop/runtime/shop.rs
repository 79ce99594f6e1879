//! [`Shop`]: the product catalog running on the engine.

use super::client::Client;
use super::config::{ShopConfig, StageThreads};
use super::error::ShopError;
use super::journal_figures::{JournalFigures, LiveJournal};
use super::outcome::outcome_channel;
use super::recovery::{recover, OpenReport};
use super::registry::Registry;
use super::ring_file;
use super::snapshotter::Snapshotter;
use super::stage_latency::{LiveStages, StageLatency, StageRecorder};
use super::stages::catalog::CatalogStage;
use super::stages::journal::JournalStage;
#[cfg(all(feature = "replication", not(loom)))]
use super::stages::replication_gate::ReplicationGate;
use super::stages::responder::Responder;
use super::stages::search::SearchStage;
use crate::journal::JournalError;
use crate::shop::domain::ProductEvent;
use crate::{EventHandler, Graph, MultiProducer, PanicPolicy, RingConfig, StageBuilder, StageId};
use std::sync::{Arc, Mutex, PoisonError};

/// Type fingerprint of the shop's ring: `ProductEvent`, layout 1.
const RING_FINGERPRINT: u64 = 0x5348_4f50_4556_0001;

/// The shop's stages, in graph order.
const STAGES: [&str; 4] = ["journal", "catalog", "search", "responder"];

/// An open shop: a journal, a catalog, a search index and a responder as
/// the stages of one consumer graph, fed by any number of [`Client`]s.
///
/// ```text
///                    +-> catalog ------+
/// clients -> journal |                 +-> responder -> clients
///                    +-> search index -+
/// ```
///
/// Writes are journaled (group commit per batch, durable per the
/// configured [`Durability`](crate::journal::Durability)) before the
/// catalog and the index apply them; reads skip the journal but still
/// travel the ring, so every read sees every write submitted before it.
///
/// `Send` and `Sync`: share it by reference, and give each thread its own
/// [`Client`].
///
/// # Examples
///
/// ```
/// use ringmaster::shop::{Shop, ShopConfig};
///
/// # let dir = std::env::temp_dir().join(format!("rm-doc-shop-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let shop = Shop::open(ShopConfig::new(&dir))?;
/// let mut client = shop.client()?;
/// client.add(1, "Linen Tea Towel", 850, 40)?;
/// client.update(1, Some(799), None, None)?;
/// let digest = shop.digest()?;
/// drop(client);
/// shop.close()?;
///
/// // Reopen: the state comes back from the snapshot and journal.
/// let shop = Shop::open(ShopConfig::new(&dir))?;
/// assert_eq!(shop.digest()?, digest);
/// assert_eq!(shop.client()?.get(1)?.unwrap().price_cents, 799);
/// shop.close()?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Shop {
    graph: Option<Graph<ProductEvent>>,
    producer: MultiProducer<ProductEvent>,
    registry: Arc<Registry>,
    control: Mutex<Option<Client>>,
    snapshotter: Option<Snapshotter>,
    latency: Arc<LiveStages>,
    journal: Arc<LiveJournal>,
    report: OpenReport,
    config: ShopConfig,
    /// The ring's file, when `ShopConfig::ring_file` put it in one.
    ring_file: Option<ring_file::RingFile>,
}

/// What closing a shop did.
///
/// # Examples
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("rm-doc-close-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let shop = ringmaster::shop::Shop::open(ringmaster::shop::ShopConfig::new(&dir))?;
/// shop.client()?.add(5, "Cedar Hanger", 300, 100)?;
/// let closed = shop.close()?;
/// assert_eq!(closed.newest_snapshot, Some(1));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct CloseReport {
    /// Snapshots written while open (including the one on close).
    pub snapshots_written: u64,
    /// The newest snapshot written, as journal records covered.
    pub newest_snapshot: Option<u64>,
    /// Journal segments removed as older than every kept snapshot.
    pub segments_removed: usize,
    /// The last snapshot failure, if any: not data loss (the journal holds
    /// every write), but the next open replays more.
    pub snapshot_error: Option<JournalError>,
    /// Each stage's latency and batch sizes since open, in graph order:
    /// journal, catalog, search, responder.
    pub stages: Vec<StageLatency>,
}

impl Shop {
    /// Open (creating if needed) the shop in `config.data_dir()`: recover
    /// the journal, load the newest snapshot, replay the journal after it,
    /// rebuild the search index, and start the stages.
    ///
    /// # Errors
    ///
    /// [`ShopError::Journal`] (another process holds the directory,
    /// corruption, I/O), [`ShopError::CorruptSnapshot`],
    /// [`ShopError::CorruptRecord`], [`ShopError::SnapshotAheadOfJournal`],
    /// [`ShopError::Build`] for a bad ring capacity or pinning,
    /// [`ShopError::Io`].
    pub fn open(config: ShopConfig) -> Result<Self, ShopError> {
        if config.max_in_flight == 0 {
            return Err(ShopError::Config {
                what: "max_in_flight",
                value: 0,
                rule: "at least 1",
            });
        }
        let recovered = recover(&config)?;
        #[cfg(all(feature = "replication", not(loom)))]
        let hold = config.replication.as_ref().map(|h| {
            let gate = Arc::clone(&h.gate);
            Arc::new(move || gate.acked()) as super::snapshotter::RetentionHold
        });
        #[cfg(not(all(feature = "replication", not(loom))))]
        let hold = None;
        let (snapshotter, snapshots) = Snapshotter::start(
            recovered.store,
            config.journal_config(),
            config.keep_snapshots,
            hold,
        )
        .map_err(|source| ShopError::Io {
            what: "starting the snapshot writer for",
            path: config.snapshot_dir(),
            source,
        })?;
        let report = recovered.report;
        let (catalog_out, catalog_in) = outcome_channel();
        let (search_out, search_in) = outcome_channel();
        let (registry, registrations) = Registry::new();

        let ring = RingConfig::new(config.ring_capacity)
            .wait_strategy(config.wait_strategy)
            .fingerprint(RING_FINGERPRINT);
        let shared = ring_file::create(&config, &ring)?;
        let builder = ring_file::builder(shared.as_ref(), ring);
        let mut builder = builder.panic_policy(PanicPolicy::Halt);
        let cores = if config.pin {
            crate::graph::available_cores()
        } else {
            Vec::new()
        };
        let latency = LiveStages::new(&STAGES);
        let recorder = |name| StageRecorder::new(name, Arc::clone(&latency));
        #[cfg(all(feature = "replication", not(loom)))]
        let hooks = config.replication.clone();
        let journal_figures = Arc::new(LiveJournal::default());
        let journal_stage = JournalStage::new(
            recovered.writer,
            recorder("journal"),
            Arc::clone(&journal_figures),
        );
        #[cfg(all(feature = "replication", not(loom)))]
        let journal_stage = journal_stage.nudging(hooks.as_ref().and_then(|h| h.nudge.clone()));
        let journal = place(
            builder.handler("journal", journal_stage),
            0,
            None,
            &cores,
            config.max_batch,
        )
        .add();
        // Shared: the later stages join the journal's thread.
        let thread = (config.stage_threads == StageThreads::Shared).then_some(journal);
        let catalog = builder
            .handler(
                "catalog",
                CatalogStage::new(
                    recovered.catalog,
                    report.journal_end,
                    report.snapshot.unwrap_or(0),
                    config.snapshot_every,
                    config.snapshot_on_close,
                    snapshots,
                    catalog_out,
                    recorder("catalog"),
                ),
            )
            .after(&[journal]);
        let catalog = place(catalog, 1, thread, &cores, config.max_batch).add();
        let search = builder
            .handler(
                "search",
                SearchStage::new(recovered.index, search_out, recorder("search")),
            )
            .after(&[journal]);
        let search = place(search, 2, thread, &cores, config.max_batch).add();
        #[allow(unused_mut)]
        let mut before_replies = vec![catalog, search];
        #[allow(unused_mut)]
        let mut responder_thread = thread;
        // The gate waits on the network: a thread of its own, never
        // shared with the journal's.
        #[cfg(all(feature = "replication", not(loom)))]
        if let Some(gate) = hooks.filter(|h| h.wait_for_acks).map(|h| h.gate) {
            let stage = ReplicationGate::new(gate, report.journal_end);
            let gate = builder
                .handler("replication", stage)
                .after(&[journal])
                .max_batch(config.max_batch)
                .add();
            before_replies.push(gate);
            // It depends on two threads now: a thread of its own too.
            responder_thread = None;
        }
        let responder = builder
            .handler(
                "responder",
                Responder::new(catalog_in, search_in, registrations, recorder("responder")),
            )
            .after(&before_replies);
        place(responder, 3, responder_thread, &cores, config.max_batch).add();
        let (producer, graph) = ring_file::build(shared.as_ref(), builder)?;
        let registry = Arc::new(registry);
        let control = Client::connect(producer.clone(), Arc::clone(&registry), 1)?;
        Ok(Self {
            graph: Some(graph),
            producer,
            registry,
            control: Mutex::new(Some(control)),
            snapshotter: Some(snapshotter),
            latency,
            journal: journal_figures,
            report,
            config,
            ring_file: shared,
        })
    }

    /// A new client.
    ///
    /// # Errors
    ///
    /// [`ShopError::Closed`] when the engine has stopped.
    pub fn client(&self) -> Result<Client, ShopError> {
        Client::connect(
            self.producer.clone(),
            Arc::clone(&self.registry),
            self.config.max_in_flight,
        )
    }

    /// A client whose `wake` is called, on the responder's thread, each
    /// time replies for it have been delivered (once per responder batch
    /// with replies for it). For event loops that sleep in a poller: `wake`
    /// typically sets a flag and nudges a `mio::Waker`. It must be cheap
    /// and must not block. It runs *after* the replies are handed over, so
    /// a woken loop always finds them; the other way round, a client may
    /// see a reply before the matching `wake` has run.
    ///
    /// # Errors
    ///
    /// [`ShopError::Closed`] when the shop is closed.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("rm-doc-wake-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// use ringmaster::shop::{Command, Shop, ShopConfig};
    /// use std::sync::mpsc;
    /// let shop = Shop::open(ShopConfig::new(&dir))?;
    /// let (woken, wakes) = mpsc::channel();
    /// let mut client = shop.client_with_wake(move || {
    ///     let _ = woken.send(());
    /// })?;
    /// client.call(&Command::Count)?;
    /// // The reply may arrive before its wake runs: wait for the wake.
    /// wakes.recv()?;
    /// # drop(client);
    /// # shop.close()?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn client_with_wake(
        &self,
        wake: impl Fn() + Send + Sync + 'static,
    ) -> Result<Client, ShopError> {
        Client::connect_with_wake(
            self.producer.clone(),
            Arc::clone(&self.registry),
            self.config.max_in_flight,
            Some(Arc::new(wake)),
        )
    }

    /// Every stage's latency and batch-size figures, cumulative since
    /// open, taken while the stages run (each adds its figures about every
    /// 50 ms, so the newest samples may not be in yet).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("rm-doc-live-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// use ringmaster::shop::{Shop, ShopConfig};
    /// let shop = Shop::open(ShopConfig::new(&dir))?;
    /// let names: Vec<_> = shop.stage_latency().iter().map(|s| s.name).collect();
    /// assert_eq!(names, ["journal", "catalog", "search", "responder"]);
    /// # shop.close()?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stage_latency(&self) -> Vec<StageLatency> {
        self.latency.snapshot()
    }

    /// The journal's figures since open (records, commits, syncs, segment
    /// rolls, the next and the durable sequence), as the journal stage last
    /// stored them (after each commit).
    pub fn journal_figures(&self) -> JournalFigures {
        self.journal.snapshot()
    }

    /// The live journal figures, for the network server.
    pub(crate) fn live_journal(&self) -> Arc<LiveJournal> {
        Arc::clone(&self.journal)
    }

    /// The live figures themselves, for the network server's `INFO`.
    pub(crate) fn live_stages(&self) -> Arc<LiveStages> {
        Arc::clone(&self.latency)
    }

    fn with_control<T>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, ShopError>,
    ) -> Result<T, ShopError> {
        let mut guard = self.control.lock().unwrap_or_else(PoisonError::into_inner);
        f(guard.as_mut().ok_or(ShopError::Closed)?)
    }

    /// The catalog's digest after every write submitted before this call.
    ///
    /// # Errors
    ///
    /// [`ShopError::Closed`].
    pub fn digest(&self) -> Result<u64, ShopError> {
        self.with_control(Client::digest)
    }

    /// Snapshot the catalog now (written in the background); returns the
    /// journal records it covers.
    ///
    /// # Errors
    ///
    /// [`ShopError::Closed`].
    pub fn snapshot(&self) -> Result<u64, ShopError> {
        self.with_control(Client::snapshot)
    }

    /// What opening found: snapshot, records replayed, torn tail.
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    /// The configuration it was opened with.
    pub fn config(&self) -> &ShopConfig {
        &self.config
    }

    /// The running graph (stage sequences, topology).
    ///
    /// # Panics
    ///
    /// Never: the graph is only taken by `close`, which consumes the shop.
    pub fn graph(&self) -> &Graph<ProductEvent> {
        self.graph.as_ref().expect("graph present until close")
    }

    /// Stop accepting work once every submitted command is processed, flush
    /// the journal, write the closing snapshot and wait for it. Clients
    /// left open get [`ShopError::Closed`] afterwards.
    ///
    /// # Errors
    ///
    /// [`ShopError::Stopped`] when a stage failed (for example a journal
    /// write error); what was acknowledged before is durable.
    pub fn close(mut self) -> Result<CloseReport, ShopError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<CloseReport, ShopError> {
        self.control
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let stopped = match self.graph.take() {
            Some(graph) => graph.shutdown().map_err(ShopError::from),
            None => Ok(()),
        };
        let outcome = self.snapshotter.take().map(Snapshotter::finish);
        if let Some(file) = self.ring_file.take() {
            ring_file::remove(file);
        }
        stopped?;
        let outcome = outcome.unwrap_or_default();
        let stages = self.latency.snapshot();
        Ok(CloseReport {
            snapshots_written: outcome.written,
            newest_snapshot: outcome.newest,
            segments_removed: outcome.segments_removed,
            snapshot_error: outcome.error,
            stages,
        })
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        if self.graph.is_some() {
            if let Err(e) = self.stop() {
                tracing::error!(error = %e, "shop dropped without close; stopping failed");
            }
        }
    }
}

/// Where the shop puts its stage number `index` (0 = journal): on the
/// thread of `shared_with` (which carries that stage's pin), or on a
/// thread of its own, pinned round robin over `cores` (none: unpinned);
/// its batches hold at most `max_batch` commands.
fn place<'a, H: EventHandler<ProductEvent>>(
    stage: StageBuilder<'a, ProductEvent, H>,
    index: usize,
    shared_with: Option<StageId>,
    cores: &[usize],
    max_batch: u64,
) -> StageBuilder<'a, ProductEvent, H> {
    let stage = stage.max_batch(max_batch);
    match shared_with {
        Some(thread) => stage.same_thread_as(thread),
        None if cores.is_empty() => stage,
        None => stage.pin(cores[index % cores.len()]),
    }
}
