//! Retention: dropping segments that a snapshot made unnecessary, and
//! keeping some of them as spares for the writer to reuse.
//!
//! A spare is a whole segment file renamed to `{first:020}.spare` (a name
//! recovery and readers ignore). The writer's preallocator takes the
//! oldest spare, renames it to the next segment's name with a new header
//! (`Segment::recycle`), and so writes into a file whose blocks exist and
//! whose pages are often still in memory, instead of zeroing fresh ones.

use super::error::JournalError;
use super::format::{record_size, segment_file_name, SEGMENT_HEADER_LEN};
use super::io::{io_error, FileOps};
use super::recovery::list_segments;
use super::writer::JournalConfig;
use std::path::{Path, PathBuf};

/// File name suffix of spare segments.
const SPARE_SUFFIX: &str = "spare";

/// What [`release_segments_before`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Released {
    /// Segments kept as spares for reuse.
    pub spared: usize,
    /// Segments deleted.
    pub removed: usize,
}

/// Segments of `dir` whose every record precedes `sequence`: each holds
/// `[first_i, first_{i+1})`, and the segment holding `sequence` and every
/// later one are kept.
fn releasable(dir: &Path, sequence: u64) -> Result<Vec<PathBuf>, JournalError> {
    let files = list_segments(dir)?;
    Ok(files
        .windows(2)
        .filter(|pair| pair[1].0 <= sequence)
        .map(|pair| pair[0].1.clone())
        .collect())
}

/// Spare segment files in `dir`, oldest first.
fn spares(dir: &Path) -> Result<Vec<PathBuf>, JournalError> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_error(dir))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == SPARE_SUFFIX))
        .collect();
    out.sort();
    Ok(out)
}

/// Delete journal segments in `dir` whose every record precedes `sequence`
/// (typically the newest snapshot's); returns how many were deleted.
/// The segment holding `sequence`, and all after it, are kept.
///
/// # Errors
///
/// I/O errors.
pub fn remove_segments_before(dir: &Path, sequence: u64) -> Result<usize, JournalError> {
    let ops = FileOps::default();
    let mut removed = 0;
    for path in releasable(dir, sequence)? {
        ops.remove(&path)?;
        removed += 1;
    }
    if removed > 0 {
        ops.sync_dir(dir)?;
        tracing::info!(removed, before = %segment_file_name(sequence), "journal: retention removed segments");
    }
    Ok(removed)
}

/// Release the segments of `config`'s journal whose every record precedes
/// `sequence`: keep up to [`JournalConfig::spare_segments`] of them (the
/// newest) as spares for the writer to reuse, delete the rest. Safe to
/// call while the writer runs, from any thread or process: it never
/// touches the segment being written or any after it, and the writer only
/// takes spares.
///
/// # Errors
///
/// I/O errors (through the config's [`IoHook`](super::IoHook), if any).
///
/// # Examples
///
/// ```
/// use ringmaster::journal::{release_segments_before, JournalConfig, JournalWriter};
///
/// let dir = std::env::temp_dir().join(format!("rm-doc-release-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let config = JournalConfig::new(&dir).segment_size(8192).spare_segments(1);
/// let (mut writer, _) = JournalWriter::open(&config, 8)?;
/// for i in 0..2000u64 {
///     writer.append(&i.to_le_bytes())?; // 24-byte slots: 168 per segment
/// }
/// writer.commit()?;
/// // Segments from 0 to 1176 hold only records before 1500.
/// let released = release_segments_before(&config, 1500)?;
/// assert_eq!((released.spared, released.removed), (1, 7));
/// # drop(writer);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn release_segments_before(
    config: &JournalConfig,
    sequence: u64,
) -> Result<Released, JournalError> {
    let dir = config.dir();
    let ops = config.ops();
    let mut released = Released::default();
    let mut room = config.spare_count().saturating_sub(spares(dir)?.len());
    // Newest first: their pages are the likeliest to still be in memory.
    for path in releasable(dir, sequence)?.into_iter().rev() {
        if room > 0 {
            ops.rename(&path, &path.with_extension(SPARE_SUFFIX))?;
            room -= 1;
            released.spared += 1;
        } else {
            ops.remove(&path)?;
            released.removed += 1;
        }
    }
    if released != Released::default() {
        ops.sync_dir(dir)?;
        tracing::info!(
            spared = released.spared,
            removed = released.removed,
            before = %segment_file_name(sequence),
            "journal: retention released segments"
        );
    }
    Ok(released)
}

/// Make every record of `config`'s journal before `sequence` durable,
/// from any thread or process: an fdatasync of each segment file holding
/// any. What a snapshot at `sequence` needs before it is saved, so that a
/// power cut never leaves a snapshot ahead of its journal (under
/// `Durability::Sync` the segments are clean already and this is cheap).
///
/// # Errors
///
/// I/O errors (through the config's [`IoHook`](super::IoHook), if any).
pub fn sync_segments_before(config: &JournalConfig, sequence: u64) -> Result<(), JournalError> {
    let ops = config.ops();
    for (first, path) in list_segments(config.dir())? {
        if first >= sequence {
            break;
        }
        let file = std::fs::File::open(&path).map_err(io_error(&path))?;
        let len = file.metadata().map_err(io_error(&path))?.len();
        ops.sync(&path, 0, len, || file.sync_data())?;
    }
    Ok(())
}

/// Take the oldest usable spare of `dir` for events of `event_size`: its
/// path and length. Spares too small or misshapen to hold a segment are
/// deleted on the way.
pub(crate) fn take_spare(
    dir: &Path,
    ops: &FileOps,
    event_size: usize,
) -> Result<Option<(PathBuf, u64)>, JournalError> {
    for path in spares(dir)? {
        let len = std::fs::metadata(&path).map_err(io_error(&path))?.len();
        let usable = len.is_multiple_of(4096)
            && len >= (SEGMENT_HEADER_LEN + record_size(event_size)) as u64
            && usize::try_from(len).is_ok();
        if usable {
            return Ok(Some((path, len)));
        }
        ops.remove(&path)?;
    }
    Ok(None)
}
