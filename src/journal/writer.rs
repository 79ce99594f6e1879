//! [`JournalWriter`]: appends records to the current segment's mapping,
//! seals them as a group and makes them durable per commit (group commit),
//! rolls to a segment that a background thread prepared ahead of time
//! (created and faulted in, or recycled from a spare).

use super::error::JournalError;
use super::format::{
    claim_code, record_size, segment_file_name, SegmentHeader, MARK_AREA_LEN, MAX_GROUP,
    MAX_JOURNAL_EVENT, SEGMENT_HEADER_LEN,
};
use super::group_hasher::GroupHasher;
use super::io::{FileOps, IoHook, DEFAULT_FILE_MODE};
use super::recovery::{open_segment, scan, RecoveryMode, RecoveryReport};
use super::retention::take_spare;
use super::segment::{Segment, SegmentFile};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How durable a committed batch is before the journal stage's sequence
/// advances (and so before any downstream stage or acknowledgement sees it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// In the page cache: survives a process crash, not a power loss.
    /// Made durable on close (and, in the background, the finished
    /// segments the writer stops keeping mapped).
    #[default]
    None,
    /// In the page cache, and flushed to disk by a background thread every
    /// interval: a power loss loses at most about one interval. A failed
    /// flush fails the next commit.
    Periodic(Duration),
    /// Flushed to disk (msync) once per batch before the batch counts as
    /// committed: survives power loss.
    Sync,
}

/// Where and how to keep a journal.
///
/// # Examples
///
/// ```
/// use ringmaster::journal::{Durability, JournalConfig, RecoveryMode};
/// let config = JournalConfig::new("/tmp/my-journal")
///     .segment_size(16 << 20)
///     .durability(Durability::Sync)
///     .recovery_mode(RecoveryMode::Strict)
///     .spare_segments(4);
/// assert_eq!(config.segment_bytes(), 16 << 20);
/// ```
#[derive(Debug, Clone)]
pub struct JournalConfig {
    dir: PathBuf,
    segment_size: u64,
    durability: Durability,
    mode: RecoveryMode,
    spares: usize,
    hook: Option<Arc<dyn IoHook>>,
    file_mode: u32,
}

/// How long `open` waits for a lock held by a just-forked child to go.
const LOCK_GRACE: Duration = Duration::from_millis(200);

/// Default segment size: 64 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;

/// Default number of released segments kept for reuse.
pub const DEFAULT_SPARE_SEGMENTS: usize = 2;

impl JournalConfig {
    /// A journal in `dir` (created if missing), 64 MiB segments,
    /// `Durability::None`, `RecoveryMode::TruncateTornTail`, up to 2 spare
    /// segments kept for reuse.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_size: DEFAULT_SEGMENT_SIZE,
            durability: Durability::None,
            mode: RecoveryMode::TruncateTornTail,
            spares: DEFAULT_SPARE_SEGMENTS,
            hook: None,
            file_mode: DEFAULT_FILE_MODE,
        }
    }

    /// Permissions of the files the journal creates (segments, its lock;
    /// and the snapshot store opened with it), before the umask; its
    /// directories get the matching search bits. Default
    /// [`DEFAULT_FILE_MODE`] (`0o600`, directories `0o700`): only the
    /// owner reads the data.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::journal::JournalConfig;
    /// // Group members may read (a backup user, say): 0640, dirs 0750.
    /// let config = JournalConfig::new("/var/lib/shop/journal").file_mode(0o640);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn file_mode(mut self, mode: u32) -> Self {
        self.file_mode = mode & 0o777;
        self
    }

    /// Segment file size in bytes (a multiple of 4096, at least 8 KiB).
    #[must_use]
    pub fn segment_size(mut self, bytes: u64) -> Self {
        self.segment_size = bytes;
        self
    }

    /// The durability of a committed batch.
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// What to do with a torn tail on open.
    #[must_use]
    pub fn recovery_mode(mut self, mode: RecoveryMode) -> Self {
        self.mode = mode;
        self
    }

    /// How many segments released by retention
    /// ([`release_segments_before`](super::release_segments_before)) to keep
    /// as spares, which the writer reuses for new segments (their pages
    /// often still in memory) instead of creating files; 0 deletes them.
    #[must_use]
    pub fn spare_segments(mut self, count: usize) -> Self {
        self.spares = count;
        self
    }

    /// See (and possibly fail) every file operation: a fault-injection
    /// seam for tests. See [`IoHook`].
    #[must_use]
    pub fn io_hook(mut self, hook: Arc<dyn IoHook>) -> Self {
        self.hook = Some(hook);
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The same settings for another directory.
    pub(crate) fn with_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = dir.into();
        self
    }

    /// The segment size.
    pub fn segment_bytes(&self) -> u64 {
        self.segment_size
    }

    /// The durability.
    pub fn durability_policy(&self) -> Durability {
        self.durability
    }

    /// Spare segments kept.
    pub fn spare_count(&self) -> usize {
        self.spares
    }

    pub(crate) fn ops(&self) -> FileOps {
        FileOps::new(self.hook.clone(), self.file_mode)
    }
}

/// Counters a writer keeps (cheap: plain integers on the writer's thread).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Records appended.
    pub records: u64,
    /// Commits (batches).
    pub commits: u64,
    /// Durable flushes (msync) performed by commits and rolls.
    pub syncs: u64,
    /// Segments rolled over.
    pub rolls: u64,
    /// Segments rolled into that were recycled spares, not new files.
    pub recycled: u64,
}

/// What the writer shares with its periodic flusher.
#[derive(Debug)]
struct Shared {
    /// Every record before this is sealed. Release by the writer after a
    /// seal; Acquire by the flusher before it syncs.
    sealed: AtomicU64,
    /// Every record before this is durable, as the flusher proved. Release
    /// by the flusher after its sync; Acquire by the writer at a seal.
    synced: AtomicU64,
    /// The segment being written, and those rolled past that are not yet
    /// durable.
    current: Mutex<Current>,
    /// The flusher's first failure. Set before `failed` (Release).
    failure: Mutex<Option<(std::io::ErrorKind, String)>>,
    failed: AtomicBool,
}

/// What the periodic flusher makes durable on its next pass. One lock
/// holds both, so that a roll moves the segment it finishes from
/// `segment` to `finished` in one step: a pass that took them together
/// misses no segment holding a record it then claims durable.
#[derive(Debug)]
struct Current {
    /// The segment being written; replaced on roll.
    segment: Arc<Segment>,
    /// Segments the writer rolled past under `Periodic`, not yet synced:
    /// the flusher syncs them (woken by the roll), so a roll never waits
    /// for a whole segment's writeback on the writer's thread.
    finished: Vec<Finished>,
}

/// A segment the writer rolled past under `Periodic`, for the flusher.
#[derive(Debug)]
struct Finished {
    file: SegmentFile,
    /// Its mapping, when the writer held the only handle. Dropped (the
    /// segment unmapped) before the sync: writing back pages that are
    /// still mapped write-protects each one, a TLB shootdown on the
    /// writer's core per page (ten times the shootdowns of a run).
    /// Not kept for recycling either: a spare is mapped again by the
    /// preallocator, off the writer's thread.
    mapping: Option<Segment>,
}

impl Finished {
    fn sync(self, ops: &FileOps) -> Result<(), JournalError> {
        drop(self.mapping);
        self.file.sync(ops)
    }
}

/// A segment made ready by the background thread.
struct Prepared {
    segment: Segment,
    header: SegmentHeader,
    recycled: bool,
}

/// Finished segments kept mapped, oldest first, for the preallocator to
/// reuse when retention releases them as spares: a recycled segment whose
/// mapping is still there has its pages mapped (and, unless written back
/// meanwhile, writable), so its next lap takes no page faults. Under
/// `Periodic` a finished segment goes to the flusher instead ([`Finished`]).
type Retired = Arc<Mutex<std::collections::VecDeque<Segment>>>;

/// The single writer of a journal directory.
///
/// Holds an exclusive lock on `DIR/LOCK` for its lifetime; a second writer
/// gets [`JournalError::Locked`]. `Send`, not `Sync`: one writer thread.
///
/// Appended records form a group that [`commit`](JournalWriter::commit)
/// seals (one checksum over the whole group) and makes as durable as the
/// [`Durability`] asks. After a failed write or sync the writer is
/// poisoned: every later call returns [`JournalError::Poisoned`], and under
/// `Durability::Sync` the groups that were not made durable are unsealed,
/// so reopening the journal discards them.
///
/// # Examples
///
/// ```
/// use ringmaster::journal::{JournalConfig, JournalReader, JournalWriter};
///
/// let dir = std::env::temp_dir().join(format!("rm-doc-writer-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let config = JournalConfig::new(&dir).segment_size(64 << 10);
/// let (mut writer, report) = JournalWriter::open(&config, 8)?;
/// assert_eq!(report.next_sequence, 0);
/// for i in 0..100u64 {
///     writer.append(&i.to_le_bytes())?;
/// }
/// writer.commit()?;
/// writer.close()?;
///
/// let mut reader = JournalReader::open(&dir, 0)?;
/// let mut n = 0;
/// while let Some((seq, bytes)) = reader.next_record()? {
///     assert_eq!(bytes, &seq.to_le_bytes());
///     n += 1;
/// }
/// assert_eq!(n, 100);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct JournalWriter {
    dir: PathBuf,
    _lock: File,
    ops: FileOps,
    event_size: usize,
    slot_len: usize,
    /// Size of segments this writer creates.
    segment_size: u64,
    durability: Durability,
    /// The segment being written (the writer's own handle: no lock to append).
    seg: Arc<Segment>,
    header: SegmentHeader,
    /// `header.capacity()`, kept: a division per append otherwise.
    capacity: u64,
    /// Next record slot in the current segment.
    index: u64,
    next_sequence: u64,
    /// The open group: its first slot, and how many records it holds.
    group_start: u64,
    group_len: u64,
    /// The open group's checksum so far (see `GroupHasher`).
    hasher: GroupHasher,
    /// The group length at which `append` takes its slow path: to
    /// checksum what the group holds so far, or, at `MAX_GROUP`, to seal
    /// it.
    group_due: u64,
    /// Groups sealed since the last successful commit (a roll seals what
    /// it cuts off: part of a batch), as (segment's first sequence, byte
    /// offset of the seal): unsealed again if the batch fails, so that
    /// reopening keeps exactly what was committed.
    batch_seals: Vec<(u64, usize)>,
    /// Byte offset in the current segment from which nothing is durable yet.
    dirty_from: usize,
    /// Byte offset up to which records were written.
    written_to: usize,
    /// Every record before this is durable.
    synced: u64,
    shared: Arc<Shared>,
    prealloc: Option<JoinHandle<Result<Prepared, JournalError>>>,
    /// Finished segments still mapped (see [`Retired`]); at most `keep`.
    retired: Retired,
    keep: usize,
    /// Unmaps (and under `None` syncs) segments that left `retired`;
    /// returns the sequence everything before which it made durable.
    evictor: Option<JoinHandle<Result<Option<u64>, JournalError>>>,
    flusher: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
    poisoned: Option<(std::io::ErrorKind, String)>,
    closed: bool,
    stats: WriterStats,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    super::io::io_error(path)
}

impl JournalWriter {
    /// Open (or create) the journal in `config.dir()` for events of
    /// `event_size` bytes: lock the directory, recover, make everything
    /// kept durable, and position after the last valid record.
    ///
    /// # Errors
    ///
    /// [`JournalError::Locked`] when another writer holds the directory
    /// (after a 200 ms grace for a lock inherited by a child process between
    /// fork and exec);
    /// recovery errors (corruption, gaps, a torn tail in `Strict` mode,
    /// foreign or mismatched files, [`JournalError::LegacyFormat`]); I/O
    /// errors; `Config` for an unusable segment size or event size.
    pub fn open(
        config: &JournalConfig,
        event_size: usize,
    ) -> Result<(Self, RecoveryReport), JournalError> {
        Self::open_at(config, event_size, 0)
    }

    /// As [`open`](JournalWriter::open), with a journal that has no
    /// segment yet starting at sequence `start` (as a migrated one does).
    pub(crate) fn open_at(
        config: &JournalConfig,
        event_size: usize,
        start: u64,
    ) -> Result<(Self, RecoveryReport), JournalError> {
        if event_size == 0 || event_size > MAX_JOURNAL_EVENT {
            return Err(JournalError::Config {
                what: "event size",
                value: event_size as u64,
                rule: "1..=65536 bytes",
            });
        }
        let rec = record_size(event_size) as u64;
        let seg = config.segment_size;
        if !seg.is_multiple_of(4096)
            || seg < 8192
            || seg < (SEGMENT_HEADER_LEN + MARK_AREA_LEN) as u64 + rec
            || usize::try_from(seg).is_err()
        {
            return Err(JournalError::Config {
                what: "segment size",
                value: seg,
                rule: "a multiple of 4096, at least 8192, and room for a header, a mark page and a record",
            });
        }
        let dir = config.dir.clone();
        let ops = config.ops();
        ops.create_dir_all(&dir)?;
        let lock = lock_dir(&dir, config.file_mode)?;
        // Leftovers of a crash while preparing a segment.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "tmp") {
                    ops.remove(&e.path())?;
                }
            }
        }
        let (mut report, found) = scan(&dir, Some(event_size), config.mode, Some(&ops))?;
        if found.is_empty() {
            report.next_sequence = start;
        }
        let next = report.next_sequence;
        // Everything kept is made durable before anything new is written
        // (a crashed writer's last records may be in the page cache only),
        // so every claim this writer makes is true.
        for f in found.iter().filter(|f| f.records > 0) {
            Segment::open(&f.path, true)?.sync_file(&ops)?;
        }
        ops.sync_dir(&dir)?;
        // Position: the segment holding `next`, or a new one.
        let holding = found.iter().rev().find(|f| {
            f.header.first_sequence <= next && next < f.header.first_sequence + f.header.capacity()
        });
        let (segment, header) = match holding {
            Some(f) => {
                let segment = Segment::open(&f.path, true)?;
                segment.populate_from(f.header.slot_offset(next - f.header.first_sequence));
                (segment, f.header)
            }
            None => {
                let prepared = prepare(&dir, &ops, event_size, seg, next, None)?;
                (prepared.segment, prepared.header)
            }
        };
        let segment = Arc::new(segment);
        let index = next - header.first_sequence;
        let offset = header.slot_offset(index);
        let shared = Arc::new(Shared {
            sealed: AtomicU64::new(next),
            synced: AtomicU64::new(next),
            current: Mutex::new(Current {
                segment: Arc::clone(&segment),
                finished: Vec::new(),
            }),
            failure: Mutex::new(None),
            failed: AtomicBool::new(false),
        });
        let hasher = GroupHasher::new(rec as usize);
        let mut writer = Self {
            group_due: hasher.next_due(0).min(MAX_GROUP),
            hasher,
            dir,
            _lock: lock,
            ops,
            event_size,
            slot_len: rec as usize,
            segment_size: seg,
            durability: config.durability,
            seg: segment,
            capacity: header.capacity(),
            header,
            index,
            next_sequence: next,
            group_start: index,
            group_len: 0,
            batch_seals: Vec::new(),
            dirty_from: offset,
            written_to: offset,
            synced: next,
            shared,
            prealloc: None,
            retired: Arc::new(Mutex::new(std::collections::VecDeque::new())),
            keep: config.spares + 2,
            evictor: None,
            flusher: None,
            poisoned: None,
            closed: false,
            stats: WriterStats::default(),
        };
        // The mark: the journal is durable up to here, whatever happens to
        // the records written next.
        writer.write_mark()?;
        writer.start_prealloc();
        if let Durability::Periodic(every) = config.durability {
            writer.start_flusher(every);
        }
        Ok((writer, report))
    }

    /// The sequence the next appended record gets.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// Every record before this sequence is durable (on disk, not only in
    /// the page cache), as far as this writer knows.
    pub fn durable_sequence(&self) -> u64 {
        // Acquire: pairs with the flusher's Release after its sync.
        self.synced.max(self.shared.synced.load(Ordering::Acquire))
    }

    /// Event size in bytes.
    pub fn event_size(&self) -> usize {
        self.event_size
    }

    /// Counters so far.
    pub fn stats(&self) -> WriterStats {
        self.stats
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Append one record; it is sealed, and durable as the policy says,
    /// at the next [`commit`].
    ///
    /// [`commit`]: JournalWriter::commit
    ///
    /// # Errors
    ///
    /// `Config` when `payload` is not `event_size` bytes; I/O errors while
    /// rolling to the next segment; [`JournalError::Poisoned`] after an
    /// earlier failure.
    #[inline]
    pub fn append(&mut self, payload: &[u8]) -> Result<u64, JournalError> {
        // The common case, small enough to inline into a stage's loop: a
        // slot free in the current segment, the group not full, no error.
        if payload.len() == self.event_size
            && self.index < self.capacity
            && self.group_len < self.group_due
            && self.poisoned.is_none()
        {
            return Ok(self.store(payload));
        }
        self.append_slow(payload)
    }

    /// Everything `append` does that is not storing the record.
    #[cold]
    #[inline(never)]
    fn append_slow(&mut self, payload: &[u8]) -> Result<u64, JournalError> {
        if payload.len() != self.event_size {
            return Err(JournalError::Config {
                what: "payload length",
                value: payload.len() as u64,
                rule: "equal to the journal's event size",
            });
        }
        if let Some(p) = &self.poisoned {
            return Err(poisoned(p));
        }
        if self.index == self.capacity {
            self.roll()?;
        } else if self.group_len == MAX_GROUP {
            self.seal_group();
        } else if self.group_len >= self.group_due {
            self.hasher.keep_up(&self.seg, self.written_to);
            self.group_due = self.hasher.next_due(self.group_len).min(MAX_GROUP);
        }
        Ok(self.store(payload))
    }

    /// Store `payload` as the next record (there is room).
    #[inline(always)]
    fn store(&mut self, payload: &[u8]) -> u64 {
        let opens_group = self.group_len == 0;
        // The next slot starts where the last record ended.
        let offset = self.written_to;
        if opens_group {
            self.group_start = self.index;
            self.hasher.open(offset);
        }
        let seq = self.next_sequence;
        debug_assert_eq!(offset, self.header.slot_offset(self.index));
        self.seg
            .store_record(offset, self.slot_len, seq, payload, opens_group);
        self.index += 1;
        self.next_sequence += 1;
        self.group_len += 1;
        self.written_to = offset + self.slot_len;
        self.stats.records += 1;
        seq
    }

    /// Seal what was appended since the last commit and make it as
    /// durable as the policy asks: one checksum and, under `Sync`, one
    /// msync for the whole batch (group commit).
    ///
    /// # Errors
    ///
    /// I/O errors from msync, or the periodic flusher's failure: the batch
    /// must not be acknowledged, and the writer is poisoned.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        if let Some(p) = &self.poisoned {
            return Err(poisoned(p));
        }
        self.stats.commits += 1;
        self.seal_group();
        self.make_durable()?;
        self.batch_seals.clear();
        Ok(())
    }

    /// What a commit does after sealing, per the durability policy.
    fn make_durable(&mut self) -> Result<(), JournalError> {
        match self.durability {
            Durability::Sync => self.sync_current()?,
            Durability::Periodic(_) => {
                // Acquire: pairs with the flusher's Release after it stored
                // its failure.
                if self.shared.failed.load(Ordering::Acquire) {
                    let (kind, message) = self
                        .shared
                        .failure
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone()
                        .unwrap_or((std::io::ErrorKind::Other, "periodic flush failed".into()));
                    let e = JournalError::Io {
                        path: self.dir.clone(),
                        source: std::io::Error::new(kind, message),
                    };
                    return Err(self.fail(e));
                }
            }
            Durability::None => {}
        }
        Ok(())
    }

    /// Seal the open group, claiming what is durable now.
    fn seal_group(&mut self) {
        if self.group_len == 0 {
            return;
        }
        let first = self.header.first_sequence + self.group_start;
        let claim = claim_code(first - self.durable_sequence().min(first));
        let offset = self.header.slot_offset(self.group_start);
        let crc = self
            .hasher
            .finish(&self.seg, self.written_to, self.group_len, claim);
        self.seg.store_seal(offset, self.group_len, claim, crc);
        self.batch_seals.push((self.header.first_sequence, offset));
        self.group_len = 0;
        self.group_due = self.hasher.next_due(0).min(MAX_GROUP);
        // Release: the records before it are sealed; pairs with the
        // flusher's Acquire.
        self.shared
            .sealed
            .store(self.next_sequence, Ordering::Release);
    }

    /// msync what the current segment holds that is not durable yet.
    fn sync_current(&mut self) -> Result<(), JournalError> {
        if self.written_to > self.dirty_from {
            let flushed = self.seg.flush(
                self.dirty_from,
                self.written_to - self.dirty_from,
                &self.ops,
            );
            if let Err(e) = flushed {
                return Err(self.fail(e));
            }
            self.stats.syncs += 1;
            self.dirty_from = self.written_to;
        }
        self.synced = self.next_sequence;
        Ok(())
    }

    /// Stop after `e`: unseal the groups of the batch that failed (no one
    /// was told they were committed, and reopening then discards them),
    /// and refuse everything from now on.
    #[cold]
    fn fail(&mut self, e: JournalError) -> JournalError {
        for (first, offset) in std::mem::take(&mut self.batch_seals) {
            let segment = if first == self.header.first_sequence {
                Ok(Arc::clone(&self.seg))
            } else {
                Segment::open(&self.dir.join(segment_file_name(first)), true).map(Arc::new)
            };
            match segment {
                // Relaxed: the writer is stopping; a reader that already
                // saw the seal saw a group that was never acknowledged.
                Ok(segment) => segment.store_word(offset, 0, Ordering::Relaxed),
                Err(open) => {
                    tracing::error!(error = %open, "journal: could not unseal a failed batch's group")
                }
            }
        }
        let kind = match &e {
            JournalError::Io { source, .. } => source.kind(),
            _ => std::io::ErrorKind::Other,
        };
        tracing::error!(error = %e, "journal writer failed; it accepts nothing more");
        self.poisoned = Some((kind, e.to_string()));
        e
    }

    /// Write the current segment's mark (everything before
    /// `next_sequence` is durable: the caller made it so) and make it
    /// durable.
    fn write_mark(&mut self) -> Result<(), JournalError> {
        let offset = self.header.mark_offset();
        self.seg.store_word(offset, 0, Ordering::Relaxed);
        self.seg
            .store_word(offset + 8, self.next_sequence, Ordering::Relaxed);
        self.seg.seal_group(offset, 0, 0, self.slot_len);
        let flushed = self.seg.flush(offset, 16, &self.ops);
        flushed.map_err(|e| self.fail(e))
    }

    fn roll(&mut self) -> Result<(), JournalError> {
        self.seal_group();
        // The finished segment: durable now under Sync (what is left of
        // the batch: its commits synced the rest); under Periodic, by the
        // flusher, woken below (writing back up to a segment's worth of
        // pages took the writer's thread 20-200 ms); under None, when it
        // leaves the retired pool or on close.
        let file = match self.durability {
            Durability::Sync => {
                self.sync_current()?;
                None
            }
            Durability::Periodic(_) => match self.seg.file_handle() {
                Ok(file) => Some(file),
                Err(e) => return Err(self.fail(e)),
            },
            Durability::None => None,
        };
        let next_first = self.header.first_sequence + self.capacity;
        let prepared = match self.prealloc.take().map(JoinHandle::join) {
            Some(Ok(Ok(p))) => p,
            Some(Ok(Err(e))) => return Err(self.fail(e)),
            _ => match prepare(
                &self.dir,
                &self.ops,
                self.event_size,
                self.segment_size,
                next_first,
                Some(&self.retired),
            ) {
                Ok(p) => p,
                Err(e) => return Err(self.fail(e)),
            },
        };
        let finished_end = next_first;
        let old = std::mem::replace(&mut self.seg, Arc::new(prepared.segment));
        self.header = prepared.header;
        self.capacity = self.header.capacity();
        self.stats.recycled += u64::from(prepared.recycled);
        {
            let mut current = self
                .shared
                .current
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            current.segment = Arc::clone(&self.seg);
            // The flusher may hold the old segment for a moment: then it
            // is not kept (it unmaps when the last handle goes).
            let old = Arc::try_unwrap(old).ok();
            match file {
                Some(file) => current.finished.push(Finished { file, mapping: old }),
                None => self
                    .retired
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(old),
            }
        }
        if let Some((_, flusher)) = &self.flusher {
            flusher.thread().unpark();
        }
        self.index = 0;
        self.dirty_from = SEGMENT_HEADER_LEN;
        self.written_to = SEGMENT_HEADER_LEN;
        self.stats.rolls += 1;
        self.evict(finished_end)?;
        self.start_prealloc();
        Ok(())
    }

    /// Hand the retired segments beyond `keep` to a background thread that
    /// unmaps them and, under `None`, makes them durable; `finished_end` is
    /// where the finished segments end. Never waits for it: a busy evictor
    /// lets the pool grow until it is done.
    fn evict(&mut self, finished_end: u64) -> Result<(), JournalError> {
        if let Some(h) = self.evictor.take_if(|h| h.is_finished()) {
            match h.join() {
                Ok(Ok(Some(to))) => self.synced = self.synced.max(to),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => return Err(self.fail(e)),
                Err(_) => {
                    return Err(self.fail(JournalError::Io {
                        path: self.dir.clone(),
                        source: std::io::Error::other("the segment evictor panicked"),
                    }))
                }
            }
        }
        if self.evictor.is_some() {
            return Ok(());
        }
        let out: Vec<Segment> = {
            let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
            let extra = retired.len().saturating_sub(self.keep);
            retired.drain(..extra).collect()
        };
        let Some(last) = out.last() else {
            return Ok(());
        };
        // Everything before the end of the last one out (and of those
        // before it: they left earlier, synced then).
        let end = last
            .header()
            .map_or(0, |h| h.first_sequence + h.capacity())
            .min(finished_end);
        let (ops, sync) = (self.ops.clone(), self.durability == Durability::None);
        self.evictor = std::thread::Builder::new()
            .name("rm-journal-evict".into())
            .spawn(move || {
                for segment in out {
                    if sync {
                        segment.unmap_and_sync(&ops)?;
                    }
                }
                Ok(sync.then_some(end))
            })
            .ok();
        Ok(())
    }

    /// On a background thread: get the segment after the current one ready
    /// (the existing file, a recycled spare, or a new file, faulted in), so
    /// rolling over takes no page faults on the hot path.
    fn start_prealloc(&mut self) {
        let first = self.header.first_sequence + self.header.capacity();
        let (dir, ops, event_size, size, retired) = (
            self.dir.clone(),
            self.ops.clone(),
            self.event_size,
            self.segment_size,
            Arc::clone(&self.retired),
        );
        self.prealloc = std::thread::Builder::new()
            .name("rm-journal-pre".into())
            .spawn(move || prepare(&dir, &ops, event_size, size, first, Some(&retired)))
            .ok();
    }

    fn start_flusher(&mut self, every: Duration) {
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::clone(&self.shared);
        let ops = self.ops.clone();
        let stopping = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("rm-journal-sync".into())
            .spawn(move || {
                // Relaxed: a stop request; nothing else is published by it.
                while !stopping.load(Ordering::Relaxed) {
                    std::thread::park_timeout(every);
                    // Acquire: pairs with the writer's Release after a seal:
                    // every record before `sealed` is in the current
                    // segment, in one it rolled past since the last pass
                    // (`finished`, taken below in the same lock), or in
                    // one synced by an earlier pass.
                    let sealed = shared.sealed.load(Ordering::Acquire);
                    let (seg, finished) = {
                        let mut current =
                            shared.current.lock().unwrap_or_else(PoisonError::into_inner);
                        let finished = std::mem::take(&mut current.finished);
                        (Arc::clone(&current.segment), finished)
                    };
                    let synced = finished
                        .into_iter()
                        .try_for_each(|finished| finished.sync(&ops))
                        // Only the records sealed: the pages after them
                        // are the preallocator's, faulted in writable and
                        // dirty (zero, or an earlier lap's). Writing them
                        // back too would write-protect every one, and the
                        // writer would take a fault on each as it reached
                        // it (one that waits for the filesystem's journal
                        // when a commit is under way).
                        .and_then(|()| seg.flush(0, seg.bytes_before(sealed), &ops));
                    match synced {
                        // Release: pairs with the writer's Acquire at a seal.
                        Ok(()) => {
                            shared.synced.fetch_max(sealed, Ordering::Release);
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "journal: periodic flush failed; the next commit fails");
                            let kind = match &e {
                                JournalError::Io { source, .. } => source.kind(),
                                _ => std::io::ErrorKind::Other,
                            };
                            *shared.failure.lock().unwrap_or_else(PoisonError::into_inner) =
                                Some((kind, e.to_string()));
                            // Release: publishes the failure stored above.
                            shared.failed.store(true, Ordering::Release);
                            return;
                        }
                    }
                }
            });
        if let Ok(h) = handle {
            self.flusher = Some((stop, h));
        }
    }

    /// Seal and flush everything, leave a mark that says so, and release
    /// the directory.
    ///
    /// # Errors
    ///
    /// I/O errors from the final flush; [`JournalError::Poisoned`] when an
    /// earlier failure stopped the writer (nothing more is written).
    pub fn close(mut self) -> Result<(), JournalError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), JournalError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        if let Some((stop, h)) = self.flusher.take() {
            stop.store(true, Ordering::Relaxed);
            h.thread().unpark();
            let _ = h.join();
        }
        let background = self.prealloc.take().map(JoinHandle::join);
        let evicted = self.evictor.take().map(JoinHandle::join);
        if let Some(p) = &self.poisoned {
            return Err(poisoned(p));
        }
        if let Some(Ok(Err(e))) = background {
            return Err(self.fail(e));
        }
        match evicted {
            Some(Ok(Err(e))) => return Err(self.fail(e)),
            Some(Ok(Ok(Some(to)))) => self.synced = self.synced.max(to),
            _ => {}
        }
        // Under None, the finished segments still mapped were never synced.
        let retired: Vec<Segment> = self
            .retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        if self.durability == Durability::None {
            for segment in retired {
                if let Err(e) = segment.unmap_and_sync(&self.ops) {
                    return Err(self.fail(e));
                }
            }
        }
        if self.durability != Durability::Sync {
            // The periodic flusher's failure, if any, is this close's too.
            self.commit()?;
        }
        // Segments rolled past that the stopped flusher had not synced.
        let finished = std::mem::take(
            &mut self
                .shared
                .current
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .finished,
        );
        for finished in finished {
            if let Err(e) = finished.sync(&self.ops) {
                return Err(self.fail(e));
            }
        }
        self.seal_group();
        self.dirty_from = self.dirty_from.min(self.written_to);
        self.sync_current()?;
        self.write_mark()?;
        self.ops.sync_dir(&self.dir)
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(error = %e, "journal: flush on drop failed");
        }
    }
}

fn poisoned(p: &(std::io::ErrorKind, String)) -> JournalError {
    JournalError::Poisoned {
        kind: p.0,
        message: p.1.clone(),
    }
}

/// Take the directory's writer lock (exclusive `flock` on `DIR/LOCK`).
fn lock_dir(dir: &Path, file_mode: u32) -> Result<File, JournalError> {
    use std::os::unix::fs::OpenOptionsExt;
    let lock_path = dir.join("LOCK");
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(file_mode)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    // A lock can outlive its writer briefly: a process forked by any
    // thread of the writer's program holds a copy of every descriptor
    // until it execs (which closes them, O_CLOEXEC). Such a lock is
    // gone within milliseconds; a second writer's is not.
    let mut waited = Duration::ZERO;
    loop {
        match lock.try_lock() {
            Ok(()) => return Ok(lock),
            Err(std::fs::TryLockError::WouldBlock) if waited < LOCK_GRACE => {
                std::thread::sleep(Duration::from_millis(5));
                waited += Duration::from_millis(5);
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Locked {
                    dir: dir.to_owned(),
                })
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
    }
}

/// The segment starting at `first`, ready to write: the existing file
/// (with its own header's size), else a spare recycled (reusing its
/// mapping when `retired` still holds it), else a new file of `size`
/// bytes.
fn prepare(
    dir: &Path,
    ops: &FileOps,
    event_size: usize,
    size: u64,
    first: u64,
    retired: Option<&Retired>,
) -> Result<Prepared, JournalError> {
    let path = dir.join(segment_file_name(first));
    if path.exists() {
        let (segment, header) = open_segment(&path, first, true)?;
        if header.event_size as usize != event_size {
            return Err(JournalError::EventSizeMismatch {
                path,
                expected: event_size,
                found: header.event_size as usize,
            });
        }
        segment.populate_from(SEGMENT_HEADER_LEN);
        return Ok(Prepared {
            segment,
            header,
            recycled: false,
        });
    }
    if let Some((spare, len)) = take_spare(dir, ops, event_size)? {
        let header = SegmentHeader::new(event_size, first, len);
        // The spare's name is the first sequence it had: its mapping, if
        // the writer still keeps it.
        let old_first = spare
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u64>().ok());
        let mapped = retired.zip(old_first).and_then(|(retired, old)| {
            let mut retired = retired.lock().unwrap_or_else(PoisonError::into_inner);
            let at = retired
                .iter()
                .position(|s| s.first_sequence() == Some(old))?;
            retired.remove(at)
        });
        return Ok(Prepared {
            segment: Segment::recycle(&spare, &path, &header, ops, mapped)?,
            header,
            recycled: true,
        });
    }
    let header = SegmentHeader::new(event_size, first, size);
    Ok(Prepared {
        segment: Segment::create(&path, &header, ops)?,
        header,
        recycled: false,
    })
}
