//! [`Follower`]: reads a stream with a durable consumer and hands its
//! records, in journal order, to an [`Applier`].

use super::error::ReplicationError;
use super::status::FollowerStatus;
use super::stream::{self, Link};
use super::wire;
use async_nats::jetstream::consumer::{self, pull};
use futures_util::StreamExt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What a follower does with the records it reads: the embedder's own
/// event type lives here.
///
/// `apply` is called once per record, in journal sequence order, with no
/// gap and no repeat; `flush` after each fetched batch, to hand over what
/// the applier holds (it may still be taking effect, in a pipeline of its
/// own); `settle` before the follower stops, to wait until everything
/// applied has taken effect.
pub trait Applier: Send + 'static {
    /// Apply record `sequence`.
    ///
    /// # Errors
    ///
    /// Whatever stops the follower: it reports the error and stops.
    fn apply(&mut self, sequence: u64, event: &[u8]) -> Result<(), String>;

    /// Hand over what `apply` gathered.
    ///
    /// # Errors
    ///
    /// As `apply`.
    fn flush(&mut self) -> Result<(), String>;

    /// Wait until everything applied has taken effect (default: `flush`).
    ///
    /// # Errors
    ///
    /// As `apply`.
    fn settle(&mut self) -> Result<(), String> {
        self.flush()
    }
}

/// Where and how a [`Follower`] reads.
///
/// # Examples
///
/// ```
/// use ringmaster::replication::FollowerConfig;
/// let config = FollowerConfig::new("nats://127.0.0.1:4222").stream("shop").consumer("standby-b");
/// assert_eq!(config.consumer_name(), "standby-b");
/// ```
#[derive(Debug, Clone)]
pub struct FollowerConfig {
    url: String,
    stream: String,
    consumer: String,
    batch: usize,
}

impl FollowerConfig {
    /// Follow the stream `ringmaster` on the NATS server at `url`, with the
    /// durable consumer `standby`.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            stream: "ringmaster".into(),
            consumer: "standby".into(),
            batch: 64,
        }
    }

    /// The stream's name (default `ringmaster`).
    pub fn stream(mut self, name: impl Into<String>) -> Self {
        self.stream = name.into();
        self
    }

    /// The durable consumer's name (default `standby`); one per standby.
    /// The server shows its position as the consumer's ack floor.
    pub fn consumer(mut self, name: impl Into<String>) -> Self {
        self.consumer = name.into();
        self
    }

    /// The durable consumer's name.
    pub fn consumer_name(&self) -> &str {
        &self.consumer
    }

    /// The NATS server's address.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The stream's name.
    pub fn stream_name(&self) -> &str {
        &self.stream
    }

    /// Messages fetched per request (default 64).
    pub fn batch(mut self, messages: usize) -> Self {
        self.batch = messages.max(1);
        self
    }
}

const RUN: u8 = 0;
const STOP: u8 = 1;
const CATCH_UP: u8 = 2;

/// Reads a stream from a journal sequence on with a durable pull consumer,
/// on its own thread, and applies its records in order.
///
/// Killed and restarted, it continues from the sequence it is given (the
/// applier's own durable end: a standby's journal), not from what the
/// server thinks was delivered, so a record is never skipped for having
/// been delivered before a crash.
#[derive(Debug)]
pub struct Follower<A: Applier> {
    status: Arc<FollowerStatus>,
    mode: Arc<AtomicU8>,
    thread: Option<JoinHandle<(A, Result<(), ReplicationError>)>>,
}

impl<A: Applier> Follower<A> {
    /// Connect, check that the stream holds journal sequence `from` (or
    /// ends there), and apply from there on a thread named `follower`.
    ///
    /// # Errors
    ///
    /// [`ReplicationError::Nats`]; [`ReplicationError::Gap`] when the
    /// stream no longer holds `from`, or `from` is past its end.
    pub fn start(config: FollowerConfig, from: u64, applier: A) -> Result<Self, ReplicationError> {
        let status = Arc::new(FollowerStatus::default());
        status.applied.store(from, Ordering::Relaxed);
        let mode = Arc::new(AtomicU8::new(RUN));
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let thread = {
            let (status, mode) = (Arc::clone(&status), Arc::clone(&mode));
            std::thread::Builder::new()
                .name("follower".into())
                .spawn(move || {
                    let mut applier = applier;
                    let outcome = stream::runtime("follower").and_then(|rt| {
                        rt.block_on(run(&config, from, &mut applier, &status, &mode, started_tx))
                    });
                    if let Err(e) = &outcome {
                        status.set_error(e.to_string());
                        tracing::error!(error = %e, "follower stopped");
                    }
                    (applier, outcome)
                })
                .map_err(|source| ReplicationError::Thread {
                    what: "follower",
                    source,
                })?
        };
        match started_rx.recv() {
            Ok(()) => Ok(Self {
                status,
                mode,
                thread: Some(thread),
            }),
            Err(_) => Err(match thread.join() {
                Ok((_, Err(e))) => e,
                _ => ReplicationError::Stopped { what: "follower" },
            }),
        }
    }

    /// The live figures.
    pub fn status(&self) -> Arc<FollowerStatus> {
        Arc::clone(&self.status)
    }

    /// Whether the thread still runs.
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stop after the batch in hand; the applier comes back flushed.
    ///
    /// # Errors
    ///
    /// The error that stopped the thread, if one did (the applier is lost
    /// with it only if the thread panicked).
    pub fn stop(self) -> Result<(A, u64), ReplicationError> {
        self.end(STOP)
    }

    /// Apply everything the stream holds (until a fetch finds nothing new
    /// and the stream's end is reached), then stop: what a promotion
    /// needs before the node accepts writes.
    ///
    /// # Errors
    ///
    /// As [`stop`](Follower::stop).
    pub fn catch_up_and_stop(self) -> Result<(A, u64), ReplicationError> {
        self.end(CATCH_UP)
    }

    fn end(mut self, how: u8) -> Result<(A, u64), ReplicationError> {
        // Release: pairs with the loop's Acquire load.
        self.mode.store(how, Ordering::Release);
        let thread = self
            .thread
            .take()
            .ok_or(ReplicationError::Stopped { what: "follower" })?;
        let (applier, outcome) = thread
            .join()
            .map_err(|_| ReplicationError::Stopped { what: "follower" })?;
        outcome?;
        Ok((applier, self.status.applied()))
    }
}

impl<A: Applier> Drop for Follower<A> {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.mode.store(STOP, Ordering::Release);
            let _ = thread.join();
        }
    }
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// Recreate the durable consumer to deliver from the message holding
/// journal sequence `next`.
async fn subscribe(
    link: &Link,
    config: &FollowerConfig,
    next: u64,
) -> Result<consumer::PullConsumer, ReplicationError> {
    let mut stream = link.existing_stream().await?;
    let (_, last) = stream::bounds(link, &mut stream).await?;
    let start = match stream::locate(link, &mut stream, next).await? {
        Some(seq) => seq,
        None => {
            // At or past the end: past it is a standby ahead of the stream.
            if let Some((_, payload)) = stream::last_run(link, &mut stream).await? {
                let run = wire::decode(&payload).map_err(|what| link.bad(last, what))?;
                if run.end() < next {
                    return Err(ReplicationError::Gap {
                        stream: link.name.clone(),
                        needed: next,
                        why: format!(
                            "it ends at journal sequence {}: this standby holds records it does not",
                            run.end()
                        ),
                    });
                }
            }
            last + 1
        }
    };
    let _ = stream.delete_consumer(&config.consumer).await;
    stream
        .create_consumer(pull::Config {
            durable_name: Some(config.consumer.clone()),
            deliver_policy: consumer::DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ack_policy: consumer::AckPolicy::All,
            ..Default::default()
        })
        .await
        .map_err(|e| (link.nats("creating the durable consumer"))(e.to_string()))
}

async fn run<A: Applier>(
    config: &FollowerConfig,
    from: u64,
    applier: &mut A,
    status: &FollowerStatus,
    mode: &AtomicU8,
    started: std::sync::mpsc::Sender<()>,
) -> Result<(), ReplicationError> {
    let link = Link::connect(&config.url, &config.stream).await?;
    let mut stream = link.existing_stream().await?;
    let info = stream
        .info()
        .await
        .map_err(|e| (link.nats("reading the stream"))(e.to_string()))?;
    status.set_primary(info.config.description.clone().unwrap_or_default());
    let mut next = from;
    let mut consumer = subscribe(&link, config, next).await?;
    let _ = started.send(());
    let mut pause = Duration::from_millis(50);
    let mut checked_end = tokio::time::Instant::now() - Duration::from_secs(1);
    loop {
        // Acquire: pairs with `end`'s Release store.
        let how = mode.load(Ordering::Acquire);
        if how == STOP {
            settle(applier, next)?;
            return Ok(());
        }
        if checked_end.elapsed() > Duration::from_millis(100) {
            if let Ok(Some((_, payload))) = stream::last_run(&link, &mut stream).await {
                if let Ok(run) = wire::decode(&payload) {
                    status.stream_end.store(run.end(), Ordering::Relaxed);
                }
            }
            checked_end = tokio::time::Instant::now();
        }
        // What is there, at once; with nothing there, the server holds
        // the request until a message comes (or 200 ms pass).
        let fetched = consumer
            .fetch()
            .max_messages(config.batch)
            .expires(Duration::from_millis(200))
            .messages()
            .await;
        let mut batch = match fetched {
            Ok(batch) => batch,
            Err(e) => {
                resync(
                    &link,
                    config,
                    next,
                    status,
                    &mut consumer,
                    &mut pause,
                    e.to_string(),
                )
                .await?;
                continue;
            }
        };
        let mut got = 0usize;
        let mut last_message = None;
        let mut failed = None;
        while let Some(message) = batch.next().await {
            let message = match message {
                Ok(m) => m,
                Err(e) => {
                    failed = Some(e.to_string());
                    break;
                }
            };
            let (stream_seq, published, pending) = match message.info() {
                Ok(info) => (
                    info.stream_sequence,
                    info.published.unix_timestamp_nanos(),
                    info.pending,
                ),
                Err(e) => {
                    failed = Some(e.to_string());
                    break;
                }
            };
            let run = wire::decode(&message.payload).map_err(|what| link.bad(stream_seq, what))?;
            if run.first > next {
                return Err(ReplicationError::Gap {
                    stream: link.name.clone(),
                    needed: next,
                    why: format!(
                        "message {stream_seq} starts at journal sequence {}",
                        run.first
                    ),
                });
            }
            for i in 0..run.count {
                let seq = run.first + i;
                if seq < next {
                    continue;
                }
                applier
                    .apply(seq, run.event(i))
                    .map_err(|detail| ReplicationError::Apply {
                        sequence: seq,
                        detail,
                    })?;
            }
            next = next.max(run.end());
            got += 1;
            let lag = if pending == 0 {
                0
            } else {
                now_ns() - published
            };
            status
                .lag_ms
                .store((lag.max(0) / 1_000_000) as u64, Ordering::Relaxed);
            status.stream_end.fetch_max(next, Ordering::Relaxed);
            last_message = Some(message);
        }
        if got > 0 {
            applier.flush().map_err(|detail| ReplicationError::Apply {
                sequence: next,
                detail,
            })?;
            status.applied.store(next, Ordering::Relaxed);
            status.messages.fetch_add(got as u64, Ordering::Relaxed);
            pause = Duration::from_millis(50);
        }
        if let Some(message) = last_message {
            // Cumulative: acknowledges every message up to this one, so
            // the server shows this standby's position.
            if let Err(e) = message.ack().await {
                tracing::debug!(error = %e, "acknowledging a batch failed");
            }
        }
        if let Some(why) = failed {
            resync(&link, config, next, status, &mut consumer, &mut pause, why).await?;
            continue;
        }
        if got == 0 && how == CATCH_UP {
            // Nothing new: done once the stream's end is reached.
            match stream::last_run(&link, &mut stream).await? {
                Some((seq, payload)) => {
                    let run = wire::decode(&payload).map_err(|what| link.bad(seq, what))?;
                    status.stream_end.store(run.end(), Ordering::Relaxed);
                    if run.end() <= next {
                        settle(applier, next)?;
                        return Ok(());
                    }
                }
                None => return Ok(()),
            }
        }
    }
}

fn settle<A: Applier>(applier: &mut A, next: u64) -> Result<(), ReplicationError> {
    applier
        .flush()
        .and_then(|()| applier.settle())
        .map_err(|detail| ReplicationError::Apply {
            sequence: next,
            detail,
        })
}

/// After a failed fetch: wait, and subscribe again from `next`.
async fn resync(
    link: &Link,
    config: &FollowerConfig,
    next: u64,
    status: &FollowerStatus,
    consumer: &mut consumer::PullConsumer,
    pause: &mut Duration,
    why: String,
) -> Result<(), ReplicationError> {
    tracing::warn!(error = %why, "follower fetch failed; resubscribing");
    status.set_error(why);
    status.resyncs.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(*pause).await;
    *pause = (*pause * 2).min(Duration::from_secs(1));
    match subscribe(link, config, next).await {
        Ok(c) => {
            *consumer = c;
            Ok(())
        }
        Err(e @ ReplicationError::Nats { .. }) => {
            status.set_error(e.to_string());
            Ok(())
        }
        Err(e) => Err(e),
    }
}
