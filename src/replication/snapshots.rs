//! Snapshots off the machine: the primary's snapshots uploaded to the
//! stream's object store bucket, and the newest fetched by a new standby.

use super::error::ReplicationError;
use super::status::ReplicatorStatus;
use super::stream::{self, Link};
use crate::journal::SnapshotStore;
use async_nats::jetstream::object_store::{self, ObjectStore};
use futures_util::StreamExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;

/// An object's name for the snapshot covering `sequence` records.
fn object_name(sequence: u64) -> String {
    format!("snap-{sequence:020}")
}

fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("snap-")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

async fn bucket(link: &Link) -> Result<ObjectStore, ReplicationError> {
    let name = stream::bucket(&link.name);
    if let Ok(store) = link.js.get_object_store(&name).await {
        return Ok(store);
    }
    link.js
        .create_object_store(object_store::Config {
            bucket: name,
            storage: async_nats::jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| (link.nats("opening the snapshot bucket"))(e.to_string()))
}

/// The snapshots in the bucket, oldest first.
async fn listed(link: &Link, store: &ObjectStore) -> Result<Vec<u64>, ReplicationError> {
    let mut list = store
        .list()
        .await
        .map_err(|e| (link.nats("listing the snapshot bucket"))(e.to_string()))?;
    let mut out = Vec::new();
    while let Some(info) = list.next().await {
        let info = info.map_err(|e| (link.nats("listing the snapshot bucket"))(e.to_string()))?;
        if info.deleted {
            continue;
        }
        if let Some(seq) = parse_name(&info.name) {
            out.push(seq);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Uploads the primary's snapshots as they appear, keeps the newest few
/// in the bucket, and purges the stream up to the oldest kept one.
pub(crate) struct SnapshotUploader {
    link: Link,
    store: ObjectStore,
    local: SnapshotStore,
    keep: usize,
    status: Arc<ReplicatorStatus>,
    newest: u64,
    /// The oldest snapshot kept in the bucket: the stream keeps the
    /// message holding its sequence and everything after.
    oldest_kept: Option<u64>,
    /// The snapshot the stream was last purged up to.
    purged_for: Option<u64>,
}

impl SnapshotUploader {
    pub(crate) async fn open(
        link: &Link,
        dir: &Path,
        keep: usize,
        status: Arc<ReplicatorStatus>,
    ) -> Result<Self, ReplicationError> {
        let store = bucket(link).await?;
        let held = listed(link, &store).await?;
        let newest = held.last().copied().unwrap_or(0);
        let oldest_kept = held
            .len()
            .checked_sub(keep.min(held.len()))
            .and_then(|cut| held.get(cut).copied());
        status.newest_snapshot.store(newest, Ordering::Relaxed);
        Ok(Self {
            link: link.clone(),
            store,
            local: SnapshotStore::open(dir)?,
            keep,
            status,
            newest,
            oldest_kept,
            purged_for: None,
        })
    }

    /// Look for a new snapshot every 500 ms, for as long as the runtime
    /// runs; failures are reported and retried at the next look.
    pub(crate) async fn run(mut self) {
        loop {
            if let Err(e) = self.once().await {
                tracing::warn!(error = %e, "snapshot upload failed; retrying");
                self.status.set_error(e.to_string());
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Upload the newest local snapshot if the stream already holds what
    /// it covers and the bucket does not have it; purge the stream up to
    /// the oldest kept snapshot once the stream has a message past it.
    async fn once(&mut self) -> Result<(), ReplicationError> {
        self.upload().await?;
        let Some(oldest_kept) = self.oldest_kept else {
            return Ok(());
        };
        if self.purged_for >= Some(oldest_kept) {
            return Ok(());
        }
        let mut stream = self.link.existing_stream().await?;
        let at = match stream::locate(&self.link, &mut stream, oldest_kept).await {
            Ok(at) => at,
            // Dropped already.
            Err(ReplicationError::Gap { .. }) => {
                self.purged_for = Some(oldest_kept);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        // `None`: the snapshot covers the whole stream; the last message
        // stays (it says where the stream ends), so wait for one past it.
        if let Some(seq) = at {
            stream
                .purge()
                .sequence(seq)
                .await
                .map_err(|e| (self.link.nats("dropping what a snapshot covers"))(e.to_string()))?;
            self.purged_for = Some(oldest_kept);
        }
        Ok(())
    }

    async fn upload(&mut self) -> Result<(), ReplicationError> {
        let acked = self.status.acked();
        let Some(&newest) = self.local.list()?.iter().rev().find(|&&s| s <= acked) else {
            return Ok(());
        };
        if newest <= self.newest {
            return Ok(());
        }
        let snapshot = self.local.load(newest)?;
        self.store
            .put(object_name(newest).as_str(), &mut snapshot.state.as_slice())
            .await
            .map_err(|e| (self.link.nats("uploading a snapshot"))(e.to_string()))?;
        self.newest = newest;
        self.status.newest_snapshot.store(newest, Ordering::Relaxed);
        self.status.snapshots.fetch_add(1, Ordering::Relaxed);
        tracing::info!(sequence = newest, "snapshot uploaded");
        // Keep the newest few; the stream keeps what the oldest of them
        // needs after it, so a standby a little behind still finds its
        // place.
        let held = listed(&self.link, &self.store).await?;
        let cut = held.len().saturating_sub(self.keep);
        for &old in &held[..cut] {
            self.store
                .delete(object_name(old).as_str())
                .await
                .map_err(|e| (self.link.nats("deleting an old snapshot"))(e.to_string()))?;
        }
        self.oldest_kept = held.get(cut).copied();
        Ok(())
    }
}

/// The newest snapshot in the stream's bucket: the journal records it
/// covers and its state, or `None` for an empty bucket.
///
/// # Errors
///
/// [`ReplicationError::Nats`] when the server cannot be reached or the
/// object not read.
pub fn fetch_newest_snapshot(
    url: &str,
    stream_name: &str,
) -> Result<Option<(u64, Vec<u8>)>, ReplicationError> {
    let rt = stream::runtime("snapshot fetch")?;
    rt.block_on(async {
        let link = Link::connect(url, stream_name).await?;
        let store = bucket(&link).await?;
        let Some(&newest) = listed(&link, &store).await?.last() else {
            return Ok(None);
        };
        let mut object = store
            .get(object_name(newest).as_str())
            .await
            .map_err(|e| (link.nats("fetching a snapshot"))(e.to_string()))?;
        let mut state = Vec::new();
        object
            .read_to_end(&mut state)
            .await
            .map_err(|e| (link.nats("fetching a snapshot"))(e.to_string()))?;
        Ok(Some((newest, state)))
    })
}

/// Delete a stream and its snapshot bucket, if they exist: a fresh start
/// for a stream name (the demo's, a test's). Everything in them is lost.
///
/// # Errors
///
/// [`ReplicationError::Nats`] when the server cannot be reached or
/// refuses.
pub fn delete_stream(url: &str, stream_name: &str) -> Result<(), ReplicationError> {
    let rt = stream::runtime("stream deletion")?;
    rt.block_on(async {
        let link = Link::connect(url, stream_name).await?;
        let _ = link
            .js
            .delete_object_store(stream::bucket(stream_name))
            .await;
        match link.js.delete_stream(stream_name).await {
            Ok(_) => Ok(()),
            Err(e) if e.to_string().contains("not found") => Ok(()),
            Err(e) => Err((link.nats("deleting the stream"))(e.to_string())),
        }
    })
}
