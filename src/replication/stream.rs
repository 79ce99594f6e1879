//! The JetStream side shared by the replicator and the follower: one
//! runtime per replication thread, the connection, the stream, and finding
//! records in it by journal sequence.

use super::error::ReplicationError;
use super::wire::{self, Run};
use async_nats::jetstream::{self, stream};
use std::time::Duration;

/// How long one JetStream request may take before it counts as failed.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The subject a stream's records are published on.
pub(crate) fn subject(stream: &str) -> String {
    format!("{stream}.journal")
}

/// The object store bucket that holds a stream's snapshots.
pub(crate) fn bucket(stream: &str) -> String {
    format!("{stream}-snapshots")
}

/// A single-threaded runtime for one replication thread.
pub(crate) fn runtime(what: &'static str) -> Result<tokio::runtime::Runtime, ReplicationError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| ReplicationError::Thread { what, source })
}

/// A connected stream handle and what it needs to name errors.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    pub(crate) url: String,
    pub(crate) name: String,
    pub(crate) js: jetstream::Context,
}

impl Link {
    /// Connect to `url` (the client reconnects by itself afterwards).
    pub(crate) async fn connect(url: &str, name: &str) -> Result<Self, ReplicationError> {
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(REQUEST_TIMEOUT)
            .request_timeout(Some(REQUEST_TIMEOUT))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .name("ringmaster")
            .connect(url)
            .await
            .map_err(|e| ReplicationError::Nats {
                url: url.to_owned(),
                what: "connecting",
                detail: e.to_string(),
            })?;
        // Wait for the first connection, bounded: an address with nothing
        // listening is an error at start, not a silent retry loop.
        let deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
        while client.connection_state() != async_nats::connection::State::Connected {
            if tokio::time::Instant::now() >= deadline {
                return Err(ReplicationError::Nats {
                    url: url.to_owned(),
                    what: "connecting",
                    detail: format!("no connection within {REQUEST_TIMEOUT:?}"),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Self {
            url: url.to_owned(),
            name: name.to_owned(),
            js: jetstream::new(client),
        })
    }

    pub(crate) fn nats(&self, what: &'static str) -> impl FnOnce(String) -> ReplicationError + '_ {
        move |detail| ReplicationError::Nats {
            url: self.url.clone(),
            what,
            detail,
        }
    }

    pub(crate) fn bad(&self, stream_sequence: u64, what: String) -> ReplicationError {
        ReplicationError::BadMessage {
            stream: self.name.clone(),
            stream_sequence,
            what,
        }
    }

    /// The stream, created if missing (file storage, deduplication over
    /// two minutes).
    pub(crate) async fn stream(
        &self,
        description: Option<String>,
    ) -> Result<stream::Stream, ReplicationError> {
        let config = stream::Config {
            name: self.name.clone(),
            subjects: vec![subject(&self.name)],
            storage: stream::StorageType::File,
            duplicate_window: Duration::from_secs(120),
            description: description.clone(),
            ..Default::default()
        };
        let mut found = self
            .js
            .get_or_create_stream(config.clone())
            .await
            .map_err(|e| (self.nats("opening the stream"))(e.to_string()))?;
        if let Some(description) = description {
            let info = found
                .info()
                .await
                .map_err(|e| (self.nats("reading the stream's configuration"))(e.to_string()))?;
            if info.config.description.as_deref() != Some(description.as_str()) {
                let mut updated = info.config.clone();
                updated.description = Some(description);
                self.js
                    .update_stream(updated)
                    .await
                    .map_err(|e| (self.nats("naming the primary in the stream"))(e.to_string()))?;
            }
        }
        Ok(found)
    }

    /// The stream, which must exist.
    pub(crate) async fn existing_stream(&self) -> Result<stream::Stream, ReplicationError> {
        self.js
            .get_stream(&self.name)
            .await
            .map_err(|e| (self.nats("opening the stream"))(e.to_string()))
    }

    /// Message `seq` of the stream, checked; its payload and publish time
    /// (Unix nanoseconds).
    pub(crate) async fn message(
        &self,
        stream: &stream::Stream,
        seq: u64,
    ) -> Result<(bytes::Bytes, i128), ReplicationError> {
        let raw = stream
            .get_raw_message(seq)
            .await
            .map_err(|e| (self.nats("reading a stream message"))(format!("message {seq}: {e}")))?;
        wire::decode(&raw.payload).map_err(|what| self.bad(seq, what))?;
        Ok((raw.payload, raw.time.unix_timestamp_nanos()))
    }
}

/// First and last stream sequence (`last == 0`: never written).
pub(crate) async fn bounds(
    link: &Link,
    stream: &mut stream::Stream,
) -> Result<(u64, u64), ReplicationError> {
    let info = stream
        .info()
        .await
        .map_err(|e| (link.nats("reading the stream's state"))(e.to_string()))?;
    Ok((info.state.first_sequence, info.state.last_sequence))
}

/// The stream's last run, if it holds any message.
pub(crate) async fn last_run(
    link: &Link,
    stream: &mut stream::Stream,
) -> Result<Option<(u64, bytes::Bytes)>, ReplicationError> {
    let (first, last) = bounds(link, stream).await?;
    if last == 0 {
        return Ok(None);
    }
    if first > last {
        return Err(ReplicationError::Gap {
            stream: link.name.clone(),
            needed: 0,
            why: format!("every message up to {last} was purged, so where it ends is unknown"),
        });
    }
    let (payload, _) = link.message(stream, last).await?;
    Ok(Some((last, payload)))
}

/// The stream sequence of the message holding journal sequence `target`,
/// or of the first message after it; `None` when `target` is at or past
/// the stream's end. A stream whose first message starts after `target`
/// is a [`ReplicationError::Gap`].
pub(crate) async fn locate(
    link: &Link,
    stream: &mut stream::Stream,
    target: u64,
) -> Result<Option<u64>, ReplicationError> {
    let (mut lo, mut hi) = bounds(link, stream).await?;
    if hi == 0 || lo > hi {
        return Ok(None);
    }
    let run_at = |seq: u64, payload: &bytes::Bytes| -> Result<(u64, u64), ReplicationError> {
        let run: Run<'_> = wire::decode(payload).map_err(|what| link.bad(seq, what))?;
        Ok((run.first, run.end()))
    };
    let (first_payload, _) = link.message(stream, lo).await?;
    let (first_start, _) = run_at(lo, &first_payload)?;
    if first_start > target {
        return Err(ReplicationError::Gap {
            stream: link.name.clone(),
            needed: target,
            why: format!("its oldest message starts at journal sequence {first_start}"),
        });
    }
    let (last_payload, _) = link.message(stream, hi).await?;
    if run_at(hi, &last_payload)?.1 <= target {
        return Ok(None);
    }
    // Invariant: message `lo` starts at or before `target`, message `hi`
    // ends after it; find the last message starting at or before it.
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        let (payload, _) = link.message(stream, mid).await?;
        if run_at(mid, &payload)?.0 <= target {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(Some(lo))
}
