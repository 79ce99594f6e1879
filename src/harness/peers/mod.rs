//! The contenders: ringmaster and its peers, one file per family.

pub mod channels;
pub mod disruptor;
pub mod journal;
#[cfg(not(loom))]
pub mod replicate;
/// Under `--cfg loom` there is no replication (its client stack is not
/// built): the `replicate` contenders drop out.
#[cfg(loom)]
pub mod replicate {
    use crate::harness::params::{Outcome, Params};

    /// Never found under loom.
    pub fn nats_binary() -> Option<std::path::PathBuf> {
        None
    }
    /// Unavailable under loom.
    pub fn ringmaster_replicated(_: &Params) -> Result<Outcome, String> {
        Err("no replication under loom".into())
    }
    /// Unavailable under loom.
    pub fn ringmaster_acked(_: &Params) -> Result<Outcome, String> {
        Err("no replication under loom".into())
    }
    /// Unavailable under loom.
    pub fn redis_replicated(_: &Params) -> Result<Outcome, String> {
        Err("no replication under loom".into())
    }
}
pub mod ringmaster;
#[cfg(not(loom))]
pub mod shm;
/// Under `--cfg loom` (model checking the ring) there are no shared rings
/// and no producer processes: the cross-process contenders drop out.
#[cfg(loom)]
pub mod shm {
    use crate::harness::params::{Outcome, Params};
    use crate::WaitStrategy;

    /// Never found under loom.
    pub fn ringmaster_binary() -> Option<std::path::PathBuf> {
        None
    }
    /// Unavailable under loom.
    pub fn latency(_: &Params) -> Result<Outcome, String> {
        Err("no shared rings under loom".into())
    }
    /// Unavailable under loom.
    pub fn throughput(_: &Params) -> Result<Outcome, String> {
        Err("no shared rings under loom".into())
    }
    /// Unavailable under loom.
    pub fn producer_main(
        _: &std::path::Path,
        _: u64,
        _: u64,
        _: u64,
        _: WaitStrategy,
        _: Option<usize>,
    ) -> Result<(), String> {
        Err("no shared rings under loom".into())
    }
}
pub mod shop;
pub mod tcp;
