//! Pinning threads to cores with `core_affinity`.

use crate::error::BuildError;

/// The core ids this process may run on, in the OS's order.
///
/// The OS reports the *calling thread's* affinity, which shrinks to one
/// core once a thread pins itself (a pinned producer building a second
/// graph, say). The first answer is remembered and merged with the
/// current one, so pinning never hides cores from later checks.
pub(crate) fn available_cores() -> Vec<usize> {
    static FIRST_SEEN: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    let current: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    let first = FIRST_SEEN.get_or_init(|| current.clone());
    let mut all: Vec<usize> = first.iter().chain(&current).copied().collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// Check that `core` exists for `stage`.
pub(crate) fn check_core(stage: &str, core: usize, cores: &[usize]) -> Result<(), BuildError> {
    if cores.contains(&core) {
        Ok(())
    } else {
        Err(BuildError::NoSuchCore {
            stage: stage.to_owned(),
            core,
            available: cores.len(),
        })
    }
}

/// Pin the calling thread; a refusal is logged, not fatal (containers may
/// forbid affinity changes).
pub(crate) fn pin_current(stage: &str, core: usize) {
    if cfg!(loom) {
        return;
    }
    if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
        tracing::warn!(
            stage,
            core,
            "could not pin thread to core; running unpinned"
        );
    }
}

/// Pin the calling thread (a producer, say) to `core`.
///
/// # Errors
///
/// [`BuildError::NoSuchCore`] when the core does not exist.
///
/// # Examples
///
/// ```
/// use ringmaster::{pin_current_thread, BuildError};
/// assert!(matches!(pin_current_thread(100_000), Err(BuildError::NoSuchCore { .. })));
/// ```
pub fn pin_current_thread(core: usize) -> Result<(), BuildError> {
    check_core("producer", core, &available_cores())?;
    pin_current("producer", core);
    Ok(())
}

/// The core of thread `index` of a set pinned to `cores` round-robin
/// (`None` when no cores were given): partitions and pool workers.
pub(super) fn round_robin(cores: &[usize], index: u32) -> Option<usize> {
    (!cores.is_empty()).then(|| cores[index as usize % cores.len()])
}
