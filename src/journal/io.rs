//! The journal's file operations, and the seam through which tests (or an
//! operator's wrapper) see each one and can make it fail: [`IoHook`].
//!
//! Every create, allocation, sync (msync or fdatasync), directory sync,
//! rename and removal the journal makes goes through [`FileOps`], which
//! asks the hook first. An error from the hook is returned exactly as the
//! operating system's would be, so the paths that handle a full disk or a
//! failing device are the ones tests exercise.

use super::error::JournalError;
use std::fmt;
use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::sync::Arc;

/// A kind of file operation the journal makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileOp {
    /// Creating a file (a new segment's temporary file, a snapshot's).
    Create,
    /// Giving a file its blocks (`fallocate`).
    Allocate,
    /// Making a range of a file durable (`msync`, `fdatasync`, `fsync`).
    Sync,
    /// Making a directory's entries durable (`fsync` on the directory).
    SyncDir,
    /// Renaming a file (a segment or snapshot into place, a segment
    /// recycled).
    Rename,
    /// Removing a file (retention, a failed creation's leftovers).
    Remove,
    /// Creating a directory.
    CreateDir,
}

/// One operation, as the hook sees it.
#[derive(Debug, Clone, Copy)]
pub struct FileOpInfo<'a> {
    /// What is done.
    pub op: FileOp,
    /// The file or directory (for a rename, the source).
    pub path: &'a Path,
    /// For a rename, where to; else `None`.
    pub to: Option<&'a Path>,
    /// For a sync or an allocation, the byte range's start (page-aligned
    /// for a sync); else 0.
    pub offset: u64,
    /// For a sync or an allocation, the range's length; else 0.
    pub len: u64,
}

/// Sees every file operation of a journal, before and after it happens,
/// and may fail it: a fault-injection seam.
///
/// [`before`](IoHook::before) returning an error makes the journal behave
/// as if the operating system had returned that error (the operation is
/// not performed); [`after`](IoHook::after) is told of each operation that
/// succeeded. Both run on whichever thread makes the operation (the
/// writer's, the segment preallocator's, the periodic flusher's), so they
/// must be cheap and thread-safe.
///
/// # Examples
///
/// A hook that fails the third sync with `EIO`:
///
/// ```
/// use ringmaster::journal::{FileOp, FileOpInfo, IoHook};
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// #[derive(Debug, Default)]
/// struct FailThirdSync(AtomicU64);
///
/// impl IoHook for FailThirdSync {
///     fn before(&self, op: &FileOpInfo<'_>) -> std::io::Result<()> {
///         // Relaxed: a counter; nothing else is published through it.
///         if op.op == FileOp::Sync && self.0.fetch_add(1, Ordering::Relaxed) == 2 {
///             return Err(std::io::Error::from_raw_os_error(5)); // EIO
///         }
///         Ok(())
///     }
/// }
///
/// let hook = FailThirdSync::default();
/// let op = FileOpInfo { op: FileOp::Sync, path: "x".as_ref(), to: None, offset: 0, len: 4096 };
/// assert!(hook.before(&op).is_ok() && hook.before(&op).is_ok());
/// assert!(hook.before(&op).is_err());
/// ```
pub trait IoHook: Send + Sync + fmt::Debug {
    /// Called before `op`; an error fails it.
    ///
    /// # Errors
    ///
    /// The error to return in place of the operation's outcome.
    fn before(&self, op: &FileOpInfo<'_>) -> std::io::Result<()> {
        let _ = op;
        Ok(())
    }

    /// Called after `op` succeeded.
    fn after(&self, op: &FileOpInfo<'_>) {
        let _ = op;
    }
}

/// The journal's file operations, each passed by the hook (if any).
#[derive(Debug, Clone)]
pub(crate) struct FileOps {
    hook: Option<Arc<dyn IoHook>>,
    /// Permissions of the files created (directories get the matching
    /// search bits), before the process's umask.
    file_mode: u32,
}

/// Files the journal and snapshots create: readable and writable by their
/// owner only.
pub const DEFAULT_FILE_MODE: u32 = 0o600;

/// The mode of a directory holding files of `file_mode`: search (`x`)
/// wherever reading is allowed.
pub(crate) fn dir_mode(file_mode: u32) -> u32 {
    file_mode | ((file_mode & 0o444) >> 2)
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_owned(),
        source,
    }
}

impl Default for FileOps {
    fn default() -> Self {
        Self::new(None, DEFAULT_FILE_MODE)
    }
}

impl FileOps {
    pub(crate) fn new(hook: Option<Arc<dyn IoHook>>, file_mode: u32) -> Self {
        Self { hook, file_mode }
    }

    /// Run `f` as the operation `info`: the hook's `before` first (its
    /// error instead of `f`), its `after` on success.
    pub(crate) fn run<T>(
        &self,
        info: FileOpInfo<'_>,
        f: impl FnOnce() -> std::io::Result<T>,
    ) -> Result<T, JournalError> {
        if let Some(hook) = &self.hook {
            hook.before(&info).map_err(io_error(info.path))?;
        }
        let out = f().map_err(io_error(info.path))?;
        if let Some(hook) = &self.hook {
            hook.after(&info);
        }
        Ok(out)
    }

    fn info<'a>(op: FileOp, path: &'a Path) -> FileOpInfo<'a> {
        FileOpInfo {
            op,
            path,
            to: None,
            offset: 0,
            len: 0,
        }
    }

    /// Create (or truncate) `path` for reading and writing.
    pub(crate) fn create(&self, path: &Path) -> Result<File, JournalError> {
        self.run(Self::info(FileOp::Create, path), || {
            File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .mode(self.file_mode)
                .open(path)
        })
    }

    /// Give `file` (at `path`) `len` bytes of real blocks.
    pub(crate) fn allocate(&self, file: &File, path: &Path, len: u64) -> Result<(), JournalError> {
        let info = FileOpInfo {
            len,
            ..Self::info(FileOp::Allocate, path)
        };
        self.run(info, || crate::preallocate::preallocate(file, len))
    }

    /// Make `[offset, offset + len)` of the file at `path` durable with
    /// `f` (an msync of a mapping, or an fdatasync).
    pub(crate) fn sync(
        &self,
        path: &Path,
        offset: u64,
        len: u64,
        f: impl FnOnce() -> std::io::Result<()>,
    ) -> Result<(), JournalError> {
        let info = FileOpInfo {
            offset,
            len,
            ..Self::info(FileOp::Sync, path)
        };
        self.run(info, f)
    }

    /// fsync the directory `dir`, so a create, rename or removal in it is
    /// durable.
    pub(crate) fn sync_dir(&self, dir: &Path) -> Result<(), JournalError> {
        self.run(Self::info(FileOp::SyncDir, dir), || {
            File::open(dir).and_then(|d| d.sync_all())
        })
    }

    pub(crate) fn rename(&self, from: &Path, to: &Path) -> Result<(), JournalError> {
        let info = FileOpInfo {
            to: Some(to),
            ..Self::info(FileOp::Rename, from)
        };
        self.run(info, || std::fs::rename(from, to))
    }

    pub(crate) fn remove(&self, path: &Path) -> Result<(), JournalError> {
        self.run(Self::info(FileOp::Remove, path), || {
            std::fs::remove_file(path)
        })
    }

    /// Create `dir` and any missing parents, each made durable in its
    /// parent (an fsync of the parent after each directory created), so a
    /// power cut cannot take away a directory files were synced into.
    pub(crate) fn create_dir_all(&self, dir: &Path) -> Result<(), JournalError> {
        if dir.is_dir() {
            return Ok(());
        }
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(parent) = parent {
            self.create_dir_all(parent)?;
        }
        let created = self.run(Self::info(FileOp::CreateDir, dir), || {
            match std::fs::DirBuilder::new()
                .mode(dir_mode(self.file_mode))
                .create(dir)
            {
                Ok(()) => Ok(true),
                // Another thread or process created it meanwhile.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => {
                    Ok(false)
                }
                Err(e) => Err(e),
            }
        })?;
        if created {
            self.sync_dir(parent.unwrap_or_else(|| Path::new(".")))?;
        }
        Ok(())
    }
}
