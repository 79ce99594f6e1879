//! One segment file, memory-mapped; the only code in the journal that
//! touches mappings (`unsafe`).
//!
//! The mapping is viewed as `&[AtomicU64]`: the writer stores record words
//! with Relaxed stores and the record's first word (length and CRC) last
//! with Release; readers load that word with Acquire, then the rest. A
//! reader tailing a segment while it is written therefore never races the
//! writer, and sees a record either absent or complete (the CRC checks it
//! anyway). Only one process writes a journal directory: the writer holds
//! an exclusive lock on its `LOCK` file (see `writer.rs`), which is what
//! makes mapping the files read-write sound.

use super::error::JournalError;
use super::format::{SegmentHeader, SEGMENT_HEADER_LEN};
use crate::preallocate::preallocate;
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

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Segment {
    /// Create `path` (via a temporary file and a rename) holding `header`,
    /// preallocated to its segment size and faulted in.
    pub(crate) fn create(path: &Path, header: &SegmentHeader) -> Result<Self, JournalError> {
        let tmp = path.with_extension("tmp");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io(&tmp))?;
        preallocate(&file, header.segment_size).map_err(io(&tmp))?;
        let segment = Self::map(tmp.clone(), file, true)?;
        // Fault every page in off the writer's hot path.
        segment.populate();
        let words = segment.words();
        let encoded = header.encode();
        for (i, chunk) in encoded.chunks_exact(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            // Relaxed: published by the rename, after the flush below.
            words[i].store(u64::from_le_bytes(b), Ordering::Relaxed);
        }
        segment.flush(0, SEGMENT_HEADER_LEN)?;
        std::fs::rename(&tmp, path).map_err(io(path))?;
        if let Some(dir) = path.parent() {
            sync_dir(dir)?;
        }
        Ok(Self {
            path: path.to_owned(),
            ..segment
        })
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
        // `words`.
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

    /// Map every page of a new segment writable: one `madvise` call where
    /// the kernel has `MADV_POPULATE_WRITE` (Linux 5.14), which spares the
    /// trap per page of faulting them in by hand; else a store per page.
    fn populate(&self) {
        #[cfg(target_os = "linux")]
        if self.map.advise(memmap2::Advice::PopulateWrite).is_ok() {
            return;
        }
        let words = self.words();
        for w in (0..words.len()).step_by(PAGE / 8) {
            // Relaxed: not yet visible to anyone; the rename in `create`
            // publishes.
            words[w].store(0, Ordering::Relaxed);
        }
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The mapping as 64-bit words.
    pub(crate) fn words(&self) -> &[AtomicU64] {
        // SAFETY: the mapping is page-aligned (so 8-aligned) and its length
        // a multiple of 8 (checked in `map`); AtomicU64 has the size and
        // alignment of u64 and every bit pattern is valid; the mapping lives
        // as long as `self`. All access in this process goes through these
        // atomics, so a reader thread never races the writer; only one
        // process writes a journal directory (the writer holds the
        // exclusive lock on `LOCK`). A read-only mapping is only loaded
        // from: `store_words` and `zero_from` check `writable`. A file
        // truncated by an outside program while mapped is outside this
        // contract, as for any mapping.
        unsafe {
            core::slice::from_raw_parts(self.map.as_ptr().cast::<AtomicU64>(), self.map.len() / 8)
        }
    }

    /// Copy `out.len()` bytes from byte offset `offset` (a multiple of 8).
    /// The first word is loaded with Acquire: pairs with the Release in
    /// `store_words`, so a record seen as present is seen whole.
    pub(crate) fn load(&self, offset: usize, out: &mut [u8]) {
        debug_assert!(offset.is_multiple_of(8) && out.len().is_multiple_of(8));
        let words = &self.words()[offset / 8..(offset + out.len()) / 8];
        for (i, (w, chunk)) in words.iter().zip(out.chunks_exact_mut(8)).enumerate() {
            let order = if i == 0 {
                Ordering::Acquire
            } else {
                Ordering::Relaxed
            };
            chunk.copy_from_slice(&w.load(order).to_le_bytes());
        }
    }

    /// Store `bytes` at byte offset `offset` (both multiples of 8): every
    /// word but the first Relaxed, then the first with Release.
    pub(crate) fn store_words(&self, offset: usize, bytes: &[u8]) {
        assert!(self.writable, "store into a read-only segment");
        debug_assert!(offset.is_multiple_of(8) && bytes.len().is_multiple_of(8));
        let words = &self.words()[offset / 8..(offset + bytes.len()) / 8];
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[i * 8..i * 8 + 8]);
            u64::from_le_bytes(b)
        };
        for (i, w) in words.iter().enumerate().skip(1) {
            // Relaxed: ordered before the first word's Release store.
            w.store(word(i), Ordering::Relaxed);
        }
        if let Some(first) = words.first() {
            // Release: publishes the words above; pairs with the Acquire in
            // `load`.
            first.store(word(0), Ordering::Release);
        }
    }

    /// Make bytes `[offset, offset + len)` durable (msync), page-aligned.
    pub(crate) fn flush(&self, offset: usize, len: usize) -> Result<(), JournalError> {
        if len == 0 {
            return Ok(());
        }
        let start = offset / PAGE * PAGE;
        let end = (offset + len).min(self.map.len());
        self.map
            .flush_range(start, end - start)
            .map_err(io(&self.path))
    }

    /// Ask the kernel to start writing `[offset, offset + len)` back.
    pub(crate) fn flush_async(&self, offset: usize, len: usize) -> Result<(), JournalError> {
        if len == 0 {
            return Ok(());
        }
        let start = offset / PAGE * PAGE;
        let end = (offset + len).min(self.map.len());
        self.map
            .flush_async_range(start, end - start)
            .map_err(io(&self.path))
    }

    /// Zero everything from `offset` (a multiple of 8) to the end, and make
    /// it durable: how recovery truncates a torn tail in place.
    pub(crate) fn zero_from(&self, offset: usize) -> Result<(), JournalError> {
        assert!(self.writable, "truncate a read-only segment");
        for w in &self.words()[offset / 8..] {
            // Relaxed: recovery runs before any reader or writer starts.
            w.store(0, Ordering::Relaxed);
        }
        self.flush(offset, self.len() - offset)?;
        self.file.sync_data().map_err(io(&self.path))
    }
}

/// fsync a directory, so a create or rename in it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}
