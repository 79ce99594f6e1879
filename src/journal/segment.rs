//! One segment file, memory-mapped; the only code in the journal that
//! touches mappings (`unsafe`).
//!
//! The mapping is viewed as `&[AtomicU64]`. A record's words are stored
//! with Relaxed stores (its sequence word with Release when it opens a
//! group), and a group's seal last, with Release; readers load a seal with
//! Acquire before they read the group, so a group seen sealed is seen
//! whole. Only one process writes a journal directory (the writer holds an
//! exclusive lock on its `LOCK` file, see `writer.rs`), which is what makes
//! mapping the files read-write sound, and in that process only one thread
//! at a time stores into a segment: the writer's, the preallocator's while
//! it prepares one no one else has yet, or recovery's before the writer
//! exists. That is the invariant `Segment::written` rests on when the
//! storing thread reads a group back as bytes to checksum it.
#![allow(clippy::disallowed_methods)] // reason: this module owns the journal's mappings (see clippy.toml)

use super::error::JournalError;
use super::format::{group_crc, Seal, SegmentHeader, SEGMENT_HEADER_LEN};
use super::io::FileOps;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const PAGE: usize = 4096;

/// A mapped segment file.
#[derive(Debug)]
pub(crate) struct Segment {
    path: PathBuf,
    map: memmap2::MmapRaw,
    writable: bool,
    /// Kept open for `sync_data` and for the mapping's lifetime.
    file: File,
}

/// A segment's file without its mapping: what the periodic flusher makes
/// durable for a segment the writer has rolled past.
#[derive(Debug)]
pub(crate) struct SegmentFile {
    path: PathBuf,
    file: File,
    len: u64,
}

impl SegmentFile {
    /// Make the whole file durable (fdatasync).
    pub(crate) fn sync(&self, ops: &FileOps) -> Result<(), JournalError> {
        ops.sync(&self.path, 0, self.len, || self.file.sync_data())
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    super::io::io_error(path)
}

impl Segment {
    /// Create `path` holding `header`: written as a temporary file, given
    /// its blocks, faulted in, given its header (made durable), renamed
    /// into place, and the directory synced. A failure at any step removes
    /// the temporary file before returning the error.
    pub(crate) fn create(
        path: &Path,
        header: &SegmentHeader,
        ops: &FileOps,
    ) -> Result<Self, JournalError> {
        let tmp = path.with_extension("tmp");
        let file = ops.create(&tmp)?;
        let built = ops
            .allocate(&file, &tmp, header.segment_size)
            .and_then(|()| Self::map(tmp.clone(), file, true))
            .and_then(|segment| segment.install(path, header, ops));
        if built.is_err() {
            // Best effort: the next open removes leftovers anyway.
            if let Err(e) = ops.remove(&tmp) {
                tracing::warn!(error = %e, "journal: removing a failed segment's temporary file");
            }
        }
        built
    }

    /// Reuse the spare segment file `spare` (a whole segment released by
    /// retention) as `path` holding `header`: renamed to a temporary name,
    /// mapped and faulted in, given the new header (made durable), renamed
    /// into place, and the directory synced. Its pages are usually still
    /// in the page cache, so the writer finds them resident. The records
    /// of its earlier lap stay until overwritten; they have lower
    /// sequences than the new header's first, which is how recovery and
    /// readers tell them from this lap's.
    pub(crate) fn recycle(
        spare: &Path,
        path: &Path,
        header: &SegmentHeader,
        ops: &FileOps,
        mapped: Option<Segment>,
    ) -> Result<Self, JournalError> {
        let tmp = path.with_extension("tmp");
        ops.rename(spare, &tmp)?;
        let segment = match mapped {
            // The same file (renamed): its mapping, with its pages mapped.
            Some(segment) => Ok(Self {
                path: tmp.clone(),
                ..segment
            }),
            None => OpenOptions::new()
                .read(true)
                .write(true)
                .open(&tmp)
                .map_err(io(&tmp))
                .and_then(|file| Self::map(tmp.clone(), file, true)),
        };
        let built = segment.and_then(|segment| {
            if segment.len() as u64 == header.segment_size {
                segment.install(path, header, ops)
            } else {
                Err(JournalError::BadSegmentLength {
                    path: tmp.clone(),
                    len: segment.len() as u64,
                })
            }
        });
        if built.is_err() {
            if let Err(e) = ops.remove(&tmp) {
                tracing::warn!(error = %e, "journal: removing a failed recycled segment");
            }
        }
        built
    }

    /// Fault a new (temporary) segment in, write `header`, make it durable
    /// and rename the file to `path`.
    fn install(
        mut self,
        path: &Path,
        header: &SegmentHeader,
        ops: &FileOps,
    ) -> Result<Self, JournalError> {
        // Fault every page in off the writer's hot path.
        self.populate();
        let words = self.words();
        let encoded = header.encode();
        for (i, chunk) in encoded.chunks_exact(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            // Relaxed: published by the rename, after the flush below.
            words[i].store(u64::from_le_bytes(b), Ordering::Relaxed);
        }
        // A recycled file's mark is an earlier lap's: clear it (a stale
        // one that reached the disk anyway only claims sequences below
        // every record the journal still holds).
        let mark = header.mark_offset() / 8;
        for w in &words[mark..mark + 2] {
            // Relaxed: as above.
            w.store(0, Ordering::Relaxed);
        }
        self.flush(0, SEGMENT_HEADER_LEN, ops)?;
        ops.rename(&self.path, path)?;
        if let Some(dir) = path.parent() {
            ops.sync_dir(dir)?;
        }
        self.path = path.to_owned();
        Ok(self)
    }

    /// Map an existing segment file.
    pub(crate) fn open(path: &Path, writable: bool) -> Result<Self, JournalError> {
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(path)
            .map_err(io(path))?;
        Self::map(path.to_owned(), file, writable)
    }

    fn map(path: PathBuf, file: File, writable: bool) -> Result<Self, JournalError> {
        let len = file.metadata().map_err(io(&path))?.len();
        if len < SEGMENT_HEADER_LEN as u64 || len % 8 != 0 || usize::try_from(len).is_err() {
            return Err(JournalError::BadSegmentLength { path, len });
        }
        // `MmapRaw` hands out only a raw pointer; the obligations of mapping
        // a file are discharged where that pointer is dereferenced, in
        // `words` and `written`.
        let map = if writable {
            memmap2::MmapOptions::new().map_raw(&file)
        } else {
            memmap2::MmapOptions::new().map_raw_read_only(&file)
        }
        .map_err(io(&path))?;
        Ok(Self {
            path,
            map,
            writable,
            file,
        })
    }

    /// Map every page writable: one `madvise` call where the kernel has
    /// `MADV_POPULATE_WRITE` (Linux 5.14), which spares the trap per page
    /// of faulting them in by hand; else a load and store of one word per
    /// page (the word keeps its value: a recycled segment's bytes matter).
    fn populate(&self) {
        self.populate_from(0);
    }

    /// Map every page from byte `offset` on writable (see `populate`): for
    /// a segment the writer opens where it already holds records, before
    /// the writer's stores would take the faults.
    pub(crate) fn populate_from(&self, offset: usize) {
        let start = offset / PAGE * PAGE;
        #[cfg(target_os = "linux")]
        if self
            .map
            .advise_range(memmap2::Advice::PopulateWrite, start, self.len() - start)
            .is_ok()
        {
            return;
        }
        let words = self.words();
        for w in (start / 8..words.len()).step_by(PAGE / 8) {
            // Relaxed: a no-op store that only faults the page in; the
            // writer is this thread's, or not started.
            words[w].fetch_add(0, Ordering::Relaxed);
        }
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Its header, if it decodes.
    pub(crate) fn header(&self) -> Option<SegmentHeader> {
        let mut head = [0u8; SEGMENT_HEADER_LEN];
        self.load(0, &mut head);
        SegmentHeader::decode(&head).ok()
    }

    /// The first sequence its header names, if the header decodes.
    pub(crate) fn first_sequence(&self) -> Option<u64> {
        self.header().map(|h| h.first_sequence)
    }

    /// How far into the segment its records before `sequence` reach (the
    /// whole segment when its header does not decode).
    pub(crate) fn bytes_before(&self, sequence: u64) -> usize {
        self.header().map_or(self.len(), |h| {
            h.slot_offset(sequence.saturating_sub(h.first_sequence).min(h.capacity()))
                .min(self.len())
        })
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The mapping as 64-bit words.
    fn words(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is page-aligned (so 8-aligned) and its length
        // a multiple of 8 (checked in `map`); AtomicU64 has the size and
        // alignment of u64 and every bit pattern is valid; the mapping lives
        // as long as `self`. All access in this process goes through these
        // atomics (or, for the one storing thread, through `written`'s borrow of
        // bytes no thread stores to meanwhile), so a reader thread never
        // races the writer; only one process writes a journal directory
        // (the writer holds the exclusive lock on `LOCK`). A read-only
        // mapping is only loaded from: every store checks `writable`. A
        // file truncated by an outside program while mapped is outside this
        // contract, as for any mapping.
        unsafe {
            core::slice::from_raw_parts(self.map.as_ptr().cast::<AtomicU64>(), self.map.len() / 8)
        }
    }

    /// The word at byte offset `offset` (a multiple of 8).
    pub(crate) fn load_word(&self, offset: usize, order: Ordering) -> u64 {
        self.words()[offset / 8].load(order)
    }

    /// Copy `out.len()` bytes (a multiple of 8) from byte offset `offset`
    /// (a multiple of 8) with Relaxed loads: callers that need the copy
    /// ordered after a seal load the seal with Acquire first.
    pub(crate) fn load(&self, offset: usize, out: &mut [u8]) {
        debug_assert!(offset.is_multiple_of(8) && out.len().is_multiple_of(8));
        let words = &self.words()[offset / 8..(offset + out.len()) / 8];
        for (w, chunk) in words.iter().zip(out.chunks_exact_mut(8)) {
            // Relaxed: see above.
            chunk.copy_from_slice(&w.load(Ordering::Relaxed).to_le_bytes());
        }
    }

    /// Store `value` at byte offset `offset` (a multiple of 8).
    pub(crate) fn store_word(&self, offset: usize, value: u64, order: Ordering) {
        assert!(self.writable, "store into a read-only segment");
        self.words()[offset / 8].store(value, order);
    }

    /// Store one record slot at `offset`: a zero seal word, the sequence,
    /// the payload and zero padding to `slot_len`. A group's first record
    /// (`opens_group`) clears its seal word before storing its sequence
    /// with Release, so a reader that sees the new sequence sees the old
    /// seal gone (see `JournalReader`).
    #[inline(always)]
    pub(crate) fn store_record(
        &self,
        offset: usize,
        slot_len: usize,
        sequence: u64,
        payload: &[u8],
        opens_group: bool,
    ) {
        assert!(self.writable, "store into a read-only segment");
        let words = &self.words()[offset / 8..(offset + slot_len) / 8];
        // Relaxed: the seal word is published by the group's seal (Release).
        words[0].store(0, Ordering::Relaxed);
        // Release when opening a group: orders the clear above before it;
        // pairs with the Acquire load of the sequence in JournalReader.
        let order = if opens_group {
            Ordering::Release
        } else {
            Ordering::Relaxed
        };
        words[1].store(sequence, order);
        let body = &words[2..];
        let mut chunks = payload.chunks_exact(8);
        for (w, chunk) in body.iter().zip(&mut chunks) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            // Relaxed: published by the group's seal (Release).
            w.store(u64::from_le_bytes(b), Ordering::Relaxed);
        }
        let full = payload.len() / 8;
        let rest = chunks.remainder();
        if let Some(w) = body.get(full).filter(|_| !rest.is_empty()) {
            let mut b = [0u8; 8];
            b[..rest.len()].copy_from_slice(rest);
            // Relaxed: as above.
            w.store(u64::from_le_bytes(b), Ordering::Relaxed);
        }
        for w in body.iter().skip(payload.len().div_ceil(8)) {
            // Relaxed: as above (padding past the payload's last word).
            w.store(0, Ordering::Relaxed);
        }
    }

    /// The bytes a seal of `count` records at `offset` covers, borrowed
    /// from the mapping: only for the thread that stores into this
    /// segment (a writable one: the journal's writer, or recovery before
    /// it starts).
    fn covered(&self, offset: usize, count: u64, record_size: usize) -> &[u8] {
        let start = offset + 8;
        self.written(start, start + Seal::covered_len(count, record_size))
    }

    /// Bytes `start..end`, borrowed from the mapping: only for the thread
    /// that stores into this segment (a writable one: the journal's
    /// writer, or recovery before it starts).
    pub(crate) fn written(&self, start: usize, end: usize) -> &[u8] {
        assert!(
            self.writable,
            "borrow the bytes of a segment this thread does not write"
        );
        assert!(start <= end && end <= self.len(), "bytes past the segment");
        // SAFETY: `start..end` lies inside the mapping (checked above),
        // which lives as long as the borrow of `self`. A writable segment
        // belongs to the process holding the directory's exclusive lock,
        // where only one thread at a time stores into segments (the
        // module's invariant) and that thread is the caller: nothing
        // stores to these bytes while the borrow lives, and other threads
        // only load them (atomically), which a shared borrow allows. Every
        // byte of a mapped file is initialised (zero, or the file's).
        unsafe { core::slice::from_raw_parts(self.map.as_ptr().add(start), end - start) }
    }

    /// Seal the group of `count` records (0: a mark) whose first slot is
    /// at `offset`, with claim code `claim`: checksum the covered bytes and
    /// store the seal word. Only the journal's one writing thread calls it.
    pub(crate) fn seal_group(
        &self,
        offset: usize,
        count: u64,
        claim: u8,
        record_size: usize,
    ) -> u64 {
        let crc = group_crc(count, claim, self.covered(offset, count, record_size));
        self.store_seal(offset, count, claim, crc)
    }

    /// Store the seal word of the group of `count` records at `offset`,
    /// whose checksum the caller took (`crc`: `group_crc` of the covered
    /// bytes), with Release (pairs with the Acquire seal loads in
    /// JournalReader and recovery). Only the journal's one writing thread
    /// calls it.
    pub(crate) fn store_seal(&self, offset: usize, count: u64, claim: u8, crc: u32) -> u64 {
        assert!(self.writable, "store into a read-only segment");
        let seal = Seal::word(count, claim, crc);
        // Release: publishes the group's words; pairs with the Acquire
        // seal loads in JournalReader and recovery.
        self.words()[offset / 8].store(seal, Ordering::Release);
        seal
    }

    /// The CRC a seal of `count` records with claim code `claim` at
    /// `offset` must carry: from the mapping's bytes for the segment's
    /// writer (recovery), else from Relaxed loads (a reader or a scan that
    /// does not own the journal; call after an Acquire seal load).
    pub(crate) fn group_crc(
        &self,
        offset: usize,
        count: u64,
        claim: u8,
        record_size: usize,
        scratch: &mut Vec<u8>,
    ) -> u32 {
        const CHUNK: usize = 64 << 10;
        if self.writable {
            return group_crc(count, claim, self.covered(offset, count, record_size));
        }
        let covered = Seal::covered_len(count, record_size);
        let mut h = crc32fast::Hasher::new();
        h.update(&Seal::upper(count, claim));
        let mut at = offset + 8;
        let end = at + covered;
        while at < end {
            let n = CHUNK.min(end - at);
            scratch.resize(n, 0);
            self.load(at, scratch);
            h.update(scratch);
            at += n;
        }
        h.finalize()
    }

    /// Zero `[from, to)` (multiples of 8): how recovery truncates a torn
    /// tail, and a failed commit unseals its groups.
    pub(crate) fn zero_range(&self, from: usize, to: usize) {
        assert!(self.writable, "zero a read-only segment");
        for w in &self.words()[from / 8..to / 8] {
            // Relaxed: recovery runs before any reader or writer starts; a
            // failed writer's unsealing needs no order (see writer.rs).
            w.store(0, Ordering::Relaxed);
        }
    }

    /// Make bytes `[offset, offset + len)` durable (msync), page-aligned.
    pub(crate) fn flush(
        &self,
        offset: usize,
        len: usize,
        ops: &FileOps,
    ) -> Result<(), JournalError> {
        if len == 0 {
            return Ok(());
        }
        let start = offset / PAGE * PAGE;
        let end = (offset + len).min(self.map.len());
        ops.sync(&self.path, start as u64, (end - start) as u64, || {
            self.map.flush_range(start, end - start)
        })
    }

    /// Make the whole file durable (fdatasync): what the writer does to
    /// every segment it keeps on open, whichever process wrote it.
    pub(crate) fn sync_file(&self, ops: &FileOps) -> Result<(), JournalError> {
        ops.sync(&self.path, 0, self.len() as u64, || self.file.sync_data())
    }

    /// A second handle on this segment's file, through which another
    /// thread can make it durable while the segment (and its mapping)
    /// stays with the writer.
    pub(crate) fn file_handle(&self) -> Result<SegmentFile, JournalError> {
        Ok(SegmentFile {
            file: self.file.try_clone().map_err(io(&self.path))?,
            path: self.path.clone(),
            len: self.len() as u64,
        })
    }

    /// Unmap the segment, then make the file durable through its
    /// descriptor: how a finished segment is synced in the background.
    /// Writing back pages that a process still maps write-protects each
    /// one in every mapping, a TLB shootdown on every core that ran the
    /// process (the writer's, in the middle of its next segment); with
    /// the mapping gone first there is nothing to protect.
    pub(crate) fn unmap_and_sync(self, ops: &FileOps) -> Result<(), JournalError> {
        let Self {
            path, map, file, ..
        } = self;
        let len = map.len() as u64;
        drop(map);
        ops.sync(&path, 0, len, || file.sync_data())
    }
}
