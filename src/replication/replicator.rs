//! [`Replicator`]: tails a journal and publishes its records into a
//! JetStream stream, on its own thread.

use super::error::ReplicationError;
use super::snapshots::SnapshotUploader;
use super::status::{AckGate, ReplicatorStatus};
use super::stream::{self, Link};
use super::wire::{self, RunBuilder};
use crate::journal::JournalReader;
use futures_util::stream::{FuturesOrdered, StreamExt};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::Notify;

/// What a [`Replicator`] replicates, where to, and how.
///
/// # Examples
///
/// ```
/// use ringmaster::replication::ReplicatorConfig;
/// let config = ReplicatorConfig::new("nats://127.0.0.1:4222", "/var/lib/shop/journal")
///     .stream("shop")
///     .snapshots("/var/lib/shop/snapshots")
///     .primary("shop-1 at 10.0.0.5:7878");
/// assert_eq!(config.stream_name(), "shop");
/// ```
#[derive(Debug, Clone)]
pub struct ReplicatorConfig {
    url: String,
    stream: String,
    journal_dir: PathBuf,
    snapshot_dir: Option<PathBuf>,
    primary: Option<String>,
    max_message_bytes: usize,
    max_in_flight: usize,
    keep_snapshots: usize,
    gate: Option<Arc<AckGate>>,
    nudge: Nudge,
    stop_timeout: Duration,
}

impl ReplicatorConfig {
    /// Replicate the journal in `journal_dir` to the NATS server at `url`,
    /// into the stream `ringmaster` (see [`stream`](Self::stream)).
    pub fn new(url: impl Into<String>, journal_dir: impl Into<PathBuf>) -> Self {
        Self {
            url: url.into(),
            stream: "ringmaster".into(),
            journal_dir: journal_dir.into(),
            snapshot_dir: None,
            primary: None,
            max_message_bytes: 256 << 10,
            max_in_flight: 32,
            keep_snapshots: 2,
            gate: None,
            nudge: Nudge::new(),
            stop_timeout: Duration::from_secs(10),
        }
    }

    /// The stream's name (default `ringmaster`); records go on subject
    /// `NAME.journal`, snapshots into the bucket `NAME-snapshots`.
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = name.into();
        self
    }

    /// The stream's name.
    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// Upload the snapshots in `dir` (a [`SnapshotStore`](crate::journal::SnapshotStore)'s
    /// directory) to the stream's bucket, and drop from the stream the
    /// messages the oldest kept snapshot covers.
    pub fn snapshots(mut self, dir: impl Into<PathBuf>) -> Self {
        self.snapshot_dir = Some(dir.into());
        self
    }

    /// How the stream names this primary (its description), so standbys
    /// can say where writes go.
    pub fn primary(mut self, description: impl Into<String>) -> Self {
        self.primary = Some(description.into());
        self
    }

    /// Largest message, in bytes (default 256 KiB; the server's
    /// `max_payload` is 1 MiB by default). At least one record.
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// Messages published and not yet acknowledged (default 32).
    pub fn max_in_flight(mut self, messages: usize) -> Self {
        self.max_in_flight = messages.max(1);
        self
    }

    /// Snapshots kept in the bucket (default 2, at least 1).
    pub fn keep_snapshots(mut self, keep: usize) -> Self {
        self.keep_snapshots = keep.max(1);
        self
    }

    /// Advance `gate` as the stream acknowledges records (for replies that
    /// wait for replication).
    pub fn ack_gate(mut self, gate: Arc<AckGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Be woken through `nudge` (default: a new one; see
    /// [`Replicator::nudge`]): a handle made before the journal's writer
    /// starts, so its commits can wake a replicator started after it.
    pub fn nudge(mut self, nudge: Nudge) -> Self {
        self.nudge = nudge;
        self
    }

    /// How long [`Replicator::stop`] keeps publishing what the journal
    /// holds before giving up (default 10 s).
    pub fn stop_timeout(mut self, timeout: Duration) -> Self {
        self.stop_timeout = timeout;
        self
    }
}

/// A handle that wakes the replicator after a journal commit, so a new
/// group is published at once rather than at the next poll. Cheap to
/// clone and to call.
#[derive(Debug, Clone, Default)]
pub struct Nudge(Arc<Notify>);

impl Nudge {
    /// A new handle, not yet tied to a replicator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wake the replicator.
    pub fn nudge(&self) {
        self.0.notify_one();
    }
}

/// Publishes a journal's records into a JetStream stream, on its own
/// thread, as a reader of the journal: it never blocks the writer, and
/// falls behind (see [`ReplicatorStatus`]) rather than slowing it.
///
/// Each message carries a run of consecutive records, its first journal
/// sequence as `Nats-Msg-Id` (a retried publish is deduplicated) and the
/// stream sequence it must follow as `Nats-Expected-Last-Sequence` (nothing
/// lands twice or out of order). On start, and after any failed publish,
/// it asks the stream where it ends and continues from there; a stream
/// ahead of the journal, or whose last message differs from the journal,
/// is an error, never a merge.
///
/// # Examples
///
/// ```no_run
/// use ringmaster::journal::{JournalConfig, JournalWriter};
/// use ringmaster::replication::{Replicator, ReplicatorConfig};
///
/// let (mut writer, _) = JournalWriter::open(&JournalConfig::new("/tmp/j"), 64)?;
/// let replicator = Replicator::start(ReplicatorConfig::new("nats://127.0.0.1:4222", "/tmp/j"))?;
/// let nudge = replicator.nudge();
/// writer.append(&[7u8; 64])?;
/// writer.commit()?;
/// nudge.nudge();
/// let report = replicator.stop()?;
/// assert_eq!(report.acked, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Replicator {
    status: Arc<ReplicatorStatus>,
    stop: Arc<AtomicBool>,
    notify: Arc<Notify>,
    thread: Option<JoinHandle<Result<(), ReplicationError>>>,
}

/// Where a stopped [`Replicator`] left the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicatorReport {
    /// Journal sequence after the last record the stream acknowledged.
    pub acked: u64,
    /// Messages acknowledged.
    pub messages: u64,
    /// Resynchronisations after errors.
    pub resyncs: u64,
}

impl Replicator {
    /// Connect, find where the stream ends, check it against the journal,
    /// and start publishing from there on a thread named `replicator`.
    ///
    /// # Errors
    ///
    /// [`ReplicationError::Nats`] when the server cannot be reached or the
    /// stream opened; [`ReplicationError::StreamAhead`],
    /// [`ReplicationError::Diverged`], [`ReplicationError::EventSize`];
    /// journal errors.
    pub fn start(config: ReplicatorConfig) -> Result<Self, ReplicationError> {
        let status = Arc::new(ReplicatorStatus::default());
        let stop = Arc::new(AtomicBool::new(false));
        let notify = Arc::clone(&config.nudge.0);
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let thread = {
            let (status, stop, notify) =
                (Arc::clone(&status), Arc::clone(&stop), Arc::clone(&notify));
            std::thread::Builder::new()
                .name("replicator".into())
                .spawn(move || {
                    let gate = config.gate.clone();
                    let outcome = stream::runtime("replicator").and_then(|rt| {
                        rt.block_on(run(config, &status, &stop, &notify, started_tx))
                    });
                    if let Err(e) = &outcome {
                        status.set_error(e.to_string());
                        tracing::error!(error = %e, "replicator stopped");
                    }
                    // Writers waiting on acknowledgements that will not
                    // come get errors, never acknowledgements.
                    if let Some(gate) = gate {
                        if outcome.is_err() || stop.load(Ordering::Acquire) {
                            gate.abandon();
                        }
                    }
                    outcome
                })
                .map_err(|source| ReplicationError::Thread {
                    what: "replicator",
                    source,
                })?
        };
        match started_rx.recv() {
            Ok(()) => Ok(Self {
                status,
                stop,
                notify,
                thread: Some(thread),
            }),
            // The thread ended before it started: its error says why.
            Err(_) => Err(thread
                .join()
                .map_err(|_| ReplicationError::Stopped { what: "replicator" })?
                .err()
                .unwrap_or(ReplicationError::Stopped { what: "replicator" })),
        }
    }

    /// The live figures.
    pub fn status(&self) -> Arc<ReplicatorStatus> {
        Arc::clone(&self.status)
    }

    /// A handle to wake the replicator after a commit.
    pub fn nudge(&self) -> Nudge {
        Nudge(Arc::clone(&self.notify))
    }

    /// Whether the thread still runs (it stops on an error it cannot
    /// recover from: see [`ReplicatorStatus::last_error`]).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Publish what the journal holds now (within the configured stop
    /// timeout), then stop.
    ///
    /// # Errors
    ///
    /// The error that stopped the thread, if one did.
    pub fn stop(mut self) -> Result<ReplicatorReport, ReplicationError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<ReplicatorReport, ReplicationError> {
        // Release: pairs with the loop's Acquire load.
        self.stop.store(true, Ordering::Release);
        self.notify.notify_one();
        if let Some(thread) = self.thread.take() {
            thread
                .join()
                .map_err(|_| ReplicationError::Stopped { what: "replicator" })??;
        }
        Ok(ReplicatorReport {
            acked: self.status.acked(),
            messages: self.status.messages(),
            resyncs: self.status.resyncs(),
        })
    }
}

impl Drop for Replicator {
    fn drop(&mut self) {
        if self.thread.is_some() {
            if let Err(e) = self.finish() {
                tracing::error!(error = %e, "replicator dropped; it had stopped on an error");
            }
        }
    }
}

/// Where the stream ends, checked against the journal: the journal
/// sequence to publish next and the stream sequence to follow.
struct Position {
    next: u64,
    last_stream_seq: u64,
}

/// Ask the stream where it ends. `limit` is the most the stream may hold
/// from this journal (its end at start; what was published, later).
async fn sync(
    link: &Link,
    stream: &mut async_nats::jetstream::stream::Stream,
    config: &ReplicatorConfig,
    event_size: usize,
    journal_first: u64,
    limit: u64,
) -> Result<Position, ReplicationError> {
    let Some((last_seq, payload)) = stream::last_run(link, stream).await? else {
        return Ok(Position {
            next: journal_first,
            last_stream_seq: 0,
        });
    };
    let run = wire::decode(&payload).map_err(|what| link.bad(last_seq, what))?;
    if run.event_size != event_size {
        return Err(ReplicationError::EventSize {
            stream: link.name.clone(),
            stream_size: run.event_size,
            journal_size: event_size,
        });
    }
    if run.end() > limit {
        return Err(ReplicationError::StreamAhead {
            stream: link.name.clone(),
            stream_end: run.end(),
            journal_end: limit,
        });
    }
    if run.first >= journal_first {
        // The stream's last message must be what the journal holds there.
        let mut reader = JournalReader::open(&config.journal_dir, run.first)?;
        for i in 0..run.count {
            match reader.next_record()? {
                Some((seq, bytes)) if seq == run.first + i && bytes == run.event(i) => {}
                _ => {
                    return Err(ReplicationError::Diverged {
                        stream: link.name.clone(),
                        first: run.first,
                        end: run.end(),
                    })
                }
            }
        }
    }
    Ok(Position {
        next: run.end(),
        last_stream_seq: last_seq,
    })
}

type AckFuture = std::pin::Pin<
    Box<
        dyn std::future::Future<
            Output = (
                u64,
                Result<async_nats::jetstream::publish::PublishAck, String>,
            ),
        >,
    >,
>;

async fn run(
    config: ReplicatorConfig,
    status: &Arc<ReplicatorStatus>,
    stop: &AtomicBool,
    notify: &Notify,
    started: std::sync::mpsc::Sender<()>,
) -> Result<(), ReplicationError> {
    let link = Link::connect(&config.url, &config.stream).await?;
    let mut stream = link.stream(config.primary.clone()).await?;
    let journal = crate::journal::verify(&config.journal_dir)?;
    let journal_first = journal.first_sequence.unwrap_or(journal.next_sequence);
    let event_size =
        journal
            .event_size
            .ok_or(crate::journal::JournalError::SequenceUnavailable {
                requested: journal_first,
                first: 0,
                next: 0,
            })?;
    let mut at = sync(
        &link,
        &mut stream,
        &config,
        event_size,
        journal_first,
        journal.next_sequence,
    )
    .await?;
    let mut reader = JournalReader::open(&config.journal_dir, at.next)?;
    status.published.store(at.next, Ordering::Relaxed);
    status.acked.store(at.next, Ordering::Relaxed);
    if let Some(gate) = &config.gate {
        gate.advance(at.next);
    }
    if let Some(dir) = &config.snapshot_dir {
        let uploader =
            SnapshotUploader::open(&link, dir, config.keep_snapshots, Arc::clone(status)).await?;
        tokio::task::spawn(uploader.run());
    }
    let _ = started.send(());
    tracing::info!(stream = %config.stream, from = at.next, "replicating");

    let subject = stream::subject(&config.stream);
    let per_message =
        (config.max_message_bytes.saturating_sub(wire::HEADER_LEN) / event_size).max(1);
    let mut run = RunBuilder::new(event_size, per_message);
    let mut in_flight: FuturesOrdered<AckFuture> = FuturesOrdered::new();
    let mut stopping_since: Option<tokio::time::Instant> = None;
    loop {
        // Acquire: pairs with `finish`'s Release store.
        if stopping_since.is_none() && stop.load(Ordering::Acquire) {
            stopping_since = Some(tokio::time::Instant::now());
        }
        if let Some(since) = stopping_since {
            if since.elapsed() > config.stop_timeout {
                return Err(ReplicationError::Nats {
                    url: config.url.clone(),
                    what: "publishing the journal's tail on stop",
                    detail: format!(
                        "gave up after {:?} with journal sequences {}..{} unacknowledged",
                        config.stop_timeout,
                        status.acked(),
                        status.published()
                    ),
                });
            }
        }
        // Fill the pipeline with what the journal has sealed.
        let mut failed: Option<String> = None;
        while in_flight.len() < config.max_in_flight {
            while run.count() < per_message as u64 {
                match reader.next_record() {
                    Ok(Some((seq, bytes))) => run.push(seq, bytes),
                    Ok(None) => break,
                    // Retention removed what was not yet replicated, or
                    // the journal is damaged: nothing to resume from.
                    Err(e) => return Err(e.into()),
                }
            }
            // While messages are in flight, let a small run grow: larger
            // messages cost the server less per record, and an
            // acknowledgement is on its way anyway. An empty pipeline
            // sends at once.
            let linger = !in_flight.is_empty()
                && run.count() < (per_message / 4) as u64
                && stopping_since.is_none();
            if run.count() == 0 || linger {
                break;
            }
            let (first, end) = (run.first(), run.end());
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", first.to_string().as_str());
            headers.insert(
                "Nats-Expected-Last-Sequence",
                at.last_stream_seq.to_string().as_str(),
            );
            let payload = bytes::Bytes::from(run.take());
            match link
                .js
                .publish_with_headers(subject.clone(), headers, payload)
                .await
            {
                Ok(ack) => {
                    at.last_stream_seq += 1;
                    status.published.store(end, Ordering::Relaxed);
                    in_flight.push_back(Box::pin(async move {
                        (end, ack.await.map_err(|e| e.to_string()))
                    }));
                }
                Err(e) => {
                    failed = Some(e.to_string());
                    break;
                }
            }
        }
        if failed.is_none() {
            if in_flight.is_empty() {
                if stopping_since.is_some() {
                    return Ok(());
                }
                tokio::select! {
                    () = notify.notified() => {}
                    () = tokio::time::sleep(Duration::from_millis(5)) => {}
                }
                continue;
            }
            let room = in_flight.len() < config.max_in_flight;
            tokio::select! {
                acked = in_flight.next() => match acked {
                    Some((end, Ok(_))) => {
                        status.acked.store(end, Ordering::Relaxed);
                        status.messages.fetch_add(1, Ordering::Relaxed);
                        if let Some(gate) = &config.gate {
                            gate.advance(end);
                        }
                    }
                    Some((_, Err(e))) => failed = Some(e),
                    None => {}
                },
                () = notify.notified(), if room => {}
                () = tokio::time::sleep(Duration::from_millis(5)), if room => {}
            }
        }
        let Some(why) = failed else { continue };
        // A publish failed: whatever followed it fails too (the expected
        // last sequence no longer matches). Ask the stream where it ends.
        tracing::warn!(error = %why, "replication publish failed; resynchronising");
        status.set_error(why);
        status.resyncs.fetch_add(1, Ordering::Relaxed);
        in_flight = FuturesOrdered::new();
        let limit = status.published();
        let mut pause = Duration::from_millis(50);
        at = loop {
            match sync(
                &link,
                &mut stream,
                &config,
                event_size,
                journal_first,
                limit,
            )
            .await
            {
                Ok(at) => break at,
                Err(e @ ReplicationError::Nats { .. }) => {
                    status.set_error(e.to_string());
                    if let Some(since) = stopping_since {
                        if since.elapsed() > config.stop_timeout {
                            return Err(e);
                        }
                    } else if stop.load(Ordering::Acquire) {
                        stopping_since = Some(tokio::time::Instant::now());
                    }
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(e),
            }
        };
        run.clear();
        reader = JournalReader::open(&config.journal_dir, at.next)?;
        status.published.store(at.next, Ordering::Relaxed);
        status.acked.fetch_max(at.next, Ordering::Relaxed);
        if let Some(gate) = &config.gate {
            gate.advance(at.next);
        }
    }
}
