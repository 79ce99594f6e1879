//! The shop's stages, in the order events reach them: the journal, then the
//! catalog and the search index side by side, then the responder that
//! answers clients once both have replied.

pub(super) mod catalog;
pub(super) mod journal;
mod prefetch_ring;
#[cfg(all(feature = "replication", not(loom)))]
pub(super) mod replication_gate;
pub(super) mod responder;
pub(super) mod search;
