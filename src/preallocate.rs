//! Giving a file its blocks up front, for files that are then written
//! through a mapping (journal segments, shared ring files).

use std::fs::File;

/// Give `file` `len` bytes of allocated blocks, not a sparse hole: a store
/// through a mapping into a hole the filesystem cannot fill (disk or tmpfs
/// full, quota) is a SIGBUS that kills the process, whereas `fallocate`
/// says ENOSPC here, as an error, before anything is mapped. Filesystems
/// without `fallocate` get a sparse file (and keep that risk).
pub(crate) fn preallocate(file: &File, len: u64) -> std::io::Result<()> {
    match rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::OPNOTSUPP => file.set_len(len),
        Err(e) => Err(e.into()),
    }
}
