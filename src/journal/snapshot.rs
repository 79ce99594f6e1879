//! Snapshots of a handler's state at a sequence, and retention of the
//! journal segments they make unnecessary.
//!
//! # Snapshot file
//!
//! `snap-{sequence:020}.snap` in the snapshot directory, written to a
//! `.tmp` file, fsynced, renamed, and the directory fsynced: a snapshot is
//! either whole or absent. Layout (little-endian):
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `b"RMSNAPSH"` |
//! | 8 | 4 | version `1` |
//! | 12 | 4 | CRC-32 of bytes 16.. (sequence, length, state) |
//! | 16 | 8 | sequence: the state includes every event before it |
//! | 24 | 8 | state length in bytes |
//! | 32 | length | state |

use super::error::JournalError;
use super::io::FileOps;
use std::io::Write as _;
use std::path::{Path, PathBuf};

const MAGIC: [u8; 8] = *b"RMSNAPSH";
const HEADER: usize = 32;

/// A loaded snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The state covers every event with a sequence below this.
    pub sequence: u64,
    /// The handler's serialised state.
    pub state: Vec<u8>,
}

/// Snapshots in one directory.
///
/// # Examples
///
/// ```
/// use ringmaster::journal::SnapshotStore;
///
/// let dir = std::env::temp_dir().join(format!("rm-doc-snap-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let store = SnapshotStore::open(&dir)?;
/// store.save(100, b"state at 100")?;
/// store.save(200, b"state at 200")?;
/// let latest = store.load_latest()?.expect("two saved");
/// assert_eq!((latest.sequence, latest.state.as_slice()), (200, &b"state at 200"[..]));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
    ops: FileOps,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source,
    }
}

fn name(sequence: u64) -> String {
    format!("snap-{sequence:020}.snap")
}

fn parse(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("snap-")?.strip_suffix(".snap")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

impl SnapshotStore {
    /// Use (and create, durably) `dir` for snapshots.
    ///
    /// # Errors
    ///
    /// I/O errors creating the directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, JournalError> {
        Self::open_with(dir, FileOps::default())
    }

    /// As [`open`](SnapshotStore::open), with every file operation going
    /// through `ops`.
    pub(crate) fn open_with(dir: impl Into<PathBuf>, ops: FileOps) -> Result<Self, JournalError> {
        let dir = dir.into();
        ops.create_dir_all(&dir)?;
        Ok(Self { dir, ops })
    }

    /// Atomically write a snapshot of `state` taken at `sequence`.
    ///
    /// # Errors
    ///
    /// I/O errors; nothing is left half-written.
    pub fn save(&self, sequence: u64, state: &[u8]) -> Result<PathBuf, JournalError> {
        let path = self.dir.join(name(sequence));
        let tmp = path.with_extension("tmp");
        let mut body = Vec::with_capacity(16 + state.len());
        body.extend_from_slice(&sequence.to_le_bytes());
        body.extend_from_slice(&(state.len() as u64).to_le_bytes());
        body.extend_from_slice(state);
        let written = self.write_tmp(&tmp, &body).and_then(|()| {
            self.ops.rename(&tmp, &path)?;
            self.ops.sync_dir(&self.dir)
        });
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
        Ok(path)
    }

    fn write_tmp(&self, tmp: &Path, body: &[u8]) -> Result<(), JournalError> {
        let mut f = self.ops.create(tmp)?;
        f.write_all(&MAGIC).map_err(io(tmp))?;
        f.write_all(&1u32.to_le_bytes()).map_err(io(tmp))?;
        f.write_all(&crc32fast::hash(body).to_le_bytes())
            .map_err(io(tmp))?;
        f.write_all(body).map_err(io(tmp))?;
        let len = (HEADER + body.len() - 16) as u64;
        self.ops.sync(tmp, 0, len, || f.sync_all())
    }

    /// Snapshot sequences present, newest first.
    ///
    /// # Errors
    ///
    /// I/O errors listing the directory.
    pub fn list(&self) -> Result<Vec<u64>, JournalError> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(&self.dir).map_err(io(&self.dir))? {
            let e = e.map_err(io(&self.dir))?;
            if let Some(seq) = e.file_name().to_str().and_then(parse) {
                out.push(seq);
            }
        }
        out.sort_unstable_by(|a, b| b.cmp(a));
        Ok(out)
    }

    /// Read and validate the snapshot taken at `sequence`.
    ///
    /// # Errors
    ///
    /// [`JournalError::CorruptSnapshot`] naming what is wrong; I/O errors.
    pub fn load(&self, sequence: u64) -> Result<Snapshot, JournalError> {
        let path = self.dir.join(name(sequence));
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        let bad = |reason| JournalError::CorruptSnapshot {
            path: path.clone(),
            reason,
        };
        if bytes.len() < HEADER {
            return Err(bad("shorter than its header"));
        }
        if bytes[0..8] != MAGIC {
            return Err(bad("bad magic"));
        }
        if bytes[8..12] != 1u32.to_le_bytes() {
            return Err(bad("unsupported version"));
        }
        let mut crc = [0u8; 4];
        crc.copy_from_slice(&bytes[12..16]);
        if crc32fast::hash(&bytes[16..]) != u32::from_le_bytes(crc) {
            return Err(bad("checksum mismatch"));
        }
        let mut w = [0u8; 8];
        w.copy_from_slice(&bytes[16..24]);
        let seq = u64::from_le_bytes(w);
        w.copy_from_slice(&bytes[24..32]);
        let len = u64::from_le_bytes(w);
        if seq != sequence {
            return Err(bad("sequence disagrees with the file name"));
        }
        if len != (bytes.len() - HEADER) as u64 {
            return Err(bad("length disagrees with the file size"));
        }
        Ok(Snapshot {
            sequence,
            state: bytes[HEADER..].to_vec(),
        })
    }

    /// The newest valid snapshot; damaged newer ones are skipped with a
    /// warning. `None` when there is no valid snapshot (replay everything).
    ///
    /// # Errors
    ///
    /// I/O errors listing the directory.
    pub fn load_latest(&self) -> Result<Option<Snapshot>, JournalError> {
        for seq in self.list()? {
            match self.load(seq) {
                Ok(s) => return Ok(Some(s)),
                Err(e) => {
                    tracing::warn!(error = %e, "snapshot skipped; falling back to an older one")
                }
            }
        }
        Ok(None)
    }

    /// Delete all but the newest `keep` snapshots.
    ///
    /// # Errors
    ///
    /// I/O errors.
    pub fn retain(&self, keep: usize) -> Result<usize, JournalError> {
        let mut removed = 0;
        for seq in self.list()?.into_iter().skip(keep.max(1)) {
            let p = self.dir.join(name(seq));
            self.ops.remove(&p)?;
            removed += 1;
        }
        Ok(removed)
    }
}
