//! The shop's domain: commands as fixed-size events, the catalog and the
//! search index that apply them, and the replies they produce. Pure and
//! deterministic: no threads, no I/O, no unsafe, so every rule here is
//! tested without an engine.

mod catalog;
mod chunked;
mod command;
mod error;
mod event;
mod frozen_catalog;
mod id_table;
mod name;
mod order_index;
mod posting;
mod product;
mod reply;
mod search;
mod transaction;

pub use catalog::{Catalog, SnapshotDecodeError};
pub use command::{Command, MAX_LIST_LIMIT, MAX_SEARCH_LIMIT};
pub use error::{Rejection, ValidationError};
pub use event::ProductEvent;
pub use frozen_catalog::FrozenCatalog;
pub use name::{Name, MAX_NAME_LEN};
pub use product::{Product, SearchHit};
pub use reply::{Completion, Reply};
pub use search::{tokenize, SearchIndex};
pub use transaction::{TxnAssembler, TxnMark};

// The benchmark harness sets the hand-written structures beside the
// crates they replace (`benches/structures.rs`).
#[cfg(feature = "cli")]
pub(crate) use {id_table::IdTable, order_index::OrderIndex, posting::Posting, search::intersect};
