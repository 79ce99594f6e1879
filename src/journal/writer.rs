//! [`JournalWriter`]: appends records to the current segment's mapping,
//! makes them durable per batch (group commit), rolls to a segment that a
//! background thread created and faulted in ahead of time.

use super::error::JournalError;
use super::format::{
    encode_record, record_size, segment_file_name, SegmentHeader, MAX_JOURNAL_EVENT,
    MAX_UNSYNCED_BYTES, SEGMENT_HEADER_LEN,
};
use super::recovery::{scan, RecoveryMode, RecoveryReport};
use super::segment::{sync_dir, Segment};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How durable a committed batch is before the journal stage's sequence
/// advances (and so before any downstream stage or acknowledgement sees it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// In the page cache: survives a process crash, not a power loss.
    /// Flushed on close.
    #[default]
    None,
    /// In the page cache, and flushed to disk by a background thread every
    /// interval: a power loss loses at most about one interval.
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
///     .recovery_mode(RecoveryMode::Strict);
/// assert_eq!(config.segment_bytes(), 16 << 20);
/// ```
#[derive(Debug, Clone)]
pub struct JournalConfig {
    dir: PathBuf,
    segment_size: u64,
    durability: Durability,
    mode: RecoveryMode,
}

/// How long `open` waits for a lock held by a just-forked child to go.
const LOCK_GRACE: Duration = Duration::from_millis(200);

/// Default segment size: 64 MiB.
pub const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;

impl JournalConfig {
    /// A journal in `dir` (created if missing), 64 MiB segments,
    /// `Durability::None`, `RecoveryMode::TruncateTornTail`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            segment_size: DEFAULT_SEGMENT_SIZE,
            durability: Durability::None,
            mode: RecoveryMode::TruncateTornTail,
        }
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

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The segment size.
    pub fn segment_bytes(&self) -> u64 {
        self.segment_size
    }

    /// The durability.
    pub fn durability_policy(&self) -> Durability {
        self.durability
    }
}

/// Counters a writer keeps (cheap: plain integers on the writer's thread).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Records appended.
    pub records: u64,
    /// Commits (batches).
    pub commits: u64,
    /// Durable flushes (msync) performed by commits.
    pub syncs: u64,
    /// Segments rolled over.
    pub rolls: u64,
}

/// The single writer of a journal directory.
///
/// Holds an exclusive lock on `DIR/LOCK` for its lifetime; a second writer
/// gets [`JournalError::Locked`]. `Send`, not `Sync`: one writer thread.
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
    event_size: usize,
    record: Vec<u8>,
    segment_size: u64,
    durability: Durability,
    /// The segment being written (the writer's own handle: no lock to append).
    seg: Arc<Segment>,
    /// The same segment, shared with the periodic flusher; updated on roll.
    current: Arc<Mutex<Arc<Segment>>>,
    header: SegmentHeader,
    /// Next record slot in the current segment.
    index: u64,
    next_sequence: u64,
    /// Byte offset in the current segment from which nothing is durable yet.
    dirty_from: usize,
    /// Byte offset up to which records were written.
    written_to: usize,
    prealloc: Option<JoinHandle<Result<Segment, JournalError>>>,
    flusher: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
    stats: WriterStats,
}

impl JournalWriter {
    /// Open (or create) the journal in `config.dir()` for events of
    /// `event_size` bytes: lock the directory, recover, and position after
    /// the last valid record.
    ///
    /// # Errors
    ///
    /// [`JournalError::Locked`] when another writer holds the directory
    /// (after a 200 ms grace for a lock inherited by a child process between
    /// fork and exec);
    /// recovery errors (corruption, gaps, a torn tail in `Strict` mode,
    /// foreign or mismatched files); I/O errors; `Config` for an unusable
    /// segment size or event size.
    pub fn open(
        config: &JournalConfig,
        event_size: usize,
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
            || seg < SEGMENT_HEADER_LEN as u64 + rec
            || usize::try_from(seg).is_err()
        {
            return Err(JournalError::Config {
                what: "segment size",
                value: seg,
                rule: "a multiple of 4096, at least 8192 and one record",
            });
        }
        let dir = config.dir.clone();
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| JournalError::Io { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let lock_path = dir.join("LOCK");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        // A lock can outlive its writer briefly: a process forked by any
        // thread of the writer's program holds a copy of every descriptor
        // until it execs (which closes them, O_CLOEXEC). Such a lock is
        // gone within milliseconds; a second writer's is not.
        let mut waited = Duration::ZERO;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) if waited < LOCK_GRACE => {
                    std::thread::sleep(Duration::from_millis(5));
                    waited += Duration::from_millis(5);
                }
                Err(std::fs::TryLockError::WouldBlock) => return Err(JournalError::Locked { dir }),
                Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
            }
        }
        // Leftovers of a crash while preallocating.
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                if e.path().extension().is_some_and(|x| x == "tmp") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let (report, found) = scan(&dir, Some(event_size), config.mode, true)?;
        let next = report.next_sequence;
        // Position: the segment holding `next`, or a new one.
        let (segment, header) = match found.iter().rev().find(|f| {
            f.header.first_sequence <= next && next < f.header.first_sequence + f.header.capacity()
        }) {
            Some(f) if f.header.segment_size == seg || f.records > 0 => {
                (Segment::open(&f.path, true)?, f.header)
            }
            _ => {
                let header = SegmentHeader::new(event_size, next, seg);
                let path = dir.join(segment_file_name(next));
                (Segment::create(&path, &header)?, header)
            }
        };
        let segment = Arc::new(segment);
        let index = next - header.first_sequence;
        let offset = SEGMENT_HEADER_LEN + (index * rec) as usize;
        let mut writer = Self {
            dir,
            _lock: lock,
            event_size,
            record: vec![0u8; rec as usize],
            segment_size: seg,
            durability: config.durability,
            current: Arc::new(Mutex::new(Arc::clone(&segment))),
            seg: segment,
            header,
            index,
            next_sequence: next,
            dirty_from: offset,
            written_to: offset,
            prealloc: None,
            flusher: None,
            stats: WriterStats::default(),
        };
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

    /// Append one record; it is durable after the next [`commit`].
    ///
    /// [`commit`]: JournalWriter::commit
    ///
    /// # Errors
    ///
    /// `Config` when `payload` is not `event_size` bytes; I/O errors while
    /// rolling to the next segment.
    ///
    /// # Panics
    ///
    /// Never on input; see the errors.
    #[inline]
    pub fn append(&mut self, payload: &[u8]) -> Result<u64, JournalError> {
        if payload.len() != self.event_size {
            return Err(JournalError::Config {
                what: "payload length",
                value: payload.len() as u64,
                rule: "equal to the journal's event size",
            });
        }
        if self.index == self.header.capacity() {
            self.roll()?;
        }
        let seq = self.next_sequence;
        encode_record(&mut self.record, seq, payload);
        let offset = SEGMENT_HEADER_LEN + (self.index as usize) * self.record.len();
        self.seg.store_words(offset, &self.record);
        self.index += 1;
        self.next_sequence += 1;
        self.written_to = offset + self.record.len();
        self.stats.records += 1;
        if self.durability == Durability::Sync
            && self.written_to - self.dirty_from >= MAX_UNSYNCED_BYTES
        {
            // Bound what a power cut can tear (recovery's torn window); the
            // batch is still acknowledged only by `commit`.
            self.seg
                .flush(self.dirty_from, self.written_to - self.dirty_from)?;
            self.stats.syncs += 1;
            self.dirty_from = self.written_to;
        }
        Ok(seq)
    }

    /// Make everything appended so far as durable as the policy asks: one
    /// msync for the whole batch under `Sync` (group commit).
    ///
    /// # Errors
    ///
    /// I/O errors from msync: the batch must not be acknowledged.
    pub fn commit(&mut self) -> Result<(), JournalError> {
        self.stats.commits += 1;
        if self.durability == Durability::Sync && self.written_to > self.dirty_from {
            self.seg
                .flush(self.dirty_from, self.written_to - self.dirty_from)?;
            self.stats.syncs += 1;
            self.dirty_from = self.written_to;
        }
        Ok(())
    }

    fn roll(&mut self) -> Result<(), JournalError> {
        // The finished segment: durable now under Sync/Periodic, written
        // back soon under None.
        let old = Arc::clone(&self.seg);
        match self.durability {
            Durability::None => {
                old.flush_async(self.dirty_from, self.written_to - self.dirty_from)?
            }
            _ => old.flush(self.dirty_from, self.written_to - self.dirty_from)?,
        }
        let next_first = self.header.first_sequence + self.header.capacity();
        let segment = match self.prealloc.take().map(JoinHandle::join) {
            Some(Ok(Ok(s))) => s,
            Some(Ok(Err(e))) => return Err(e),
            _ => {
                let header = SegmentHeader::new(self.event_size, next_first, self.segment_size);
                Segment::create(&self.dir.join(segment_file_name(next_first)), &header)?
            }
        };
        self.header = SegmentHeader::new(self.event_size, next_first, self.segment_size);
        self.seg = Arc::new(segment);
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&self.seg);
        self.index = 0;
        self.dirty_from = SEGMENT_HEADER_LEN;
        self.written_to = SEGMENT_HEADER_LEN;
        self.stats.rolls += 1;
        self.start_prealloc();
        Ok(())
    }

    /// Create and fault in the segment after the current one on a
    /// background thread, so rolling over never waits for page faults.
    fn start_prealloc(&mut self) {
        let first = self.header.first_sequence + self.header.capacity();
        let path = self.dir.join(segment_file_name(first));
        if path.exists() {
            let p = path.clone();
            self.prealloc = Some(std::thread::spawn(move || Segment::open(&p, true)));
            return;
        }
        let header = SegmentHeader::new(self.event_size, first, self.segment_size);
        self.prealloc = std::thread::Builder::new()
            .name("rm-journal-pre".into())
            .spawn(move || Segment::create(&path, &header))
            .ok();
    }

    fn start_flusher(&mut self, every: Duration) {
        let stop = Arc::new(AtomicBool::new(false));
        let current = Arc::clone(&self.current);
        let stopping = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("rm-journal-sync".into())
            .spawn(move || {
                // Relaxed: a stop request; nothing else is published by it.
                while !stopping.load(Ordering::Relaxed) {
                    std::thread::park_timeout(every);
                    let seg = Arc::clone(&current.lock().unwrap_or_else(PoisonError::into_inner));
                    if let Err(e) = seg.flush(0, seg.len()) {
                        tracing::error!(error = %e, "journal: periodic flush failed");
                    }
                }
            });
        if let Ok(h) = handle {
            self.flusher = Some((stop, h));
        }
    }

    /// Flush everything and release the directory.
    ///
    /// # Errors
    ///
    /// I/O errors from the final flush.
    pub fn close(mut self) -> Result<(), JournalError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), JournalError> {
        if let Some((stop, h)) = self.flusher.take() {
            stop.store(true, Ordering::Relaxed);
            h.thread().unpark();
            let _ = h.join();
        }
        if let Some(h) = self.prealloc.take() {
            let _ = h.join();
        }
        self.seg.flush(
            self.dirty_from,
            self.written_to.saturating_sub(self.dirty_from),
        )?;
        self.dirty_from = self.written_to;
        sync_dir(&self.dir)
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::error!(error = %e, "journal: flush on drop failed");
        }
    }
}
