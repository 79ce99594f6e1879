//! The online shop on the engine: product commands as fixed-size events,
//! and the modules that handle them as decoupled consumers of one stream.
//!
//! The domain ([`Command`], [`ProductEvent`], [`Catalog`], [`SearchIndex`],
//! [`Reply`], in `domain/`) is pure and deterministic: no threads, no I/O,
//! no unsafe. [`Shop`] runs it on the engine (`runtime/`, its stages in
//! `runtime/stages/`):
//!
//! ```text
//!                    +-> catalog ------+
//! clients -> journal |                 +-> responder -> clients
//!                    +-> search index -+
//! ```
//!
//! # Examples
//!
//! ```
//! use ringmaster::shop::{Shop, ShopConfig};
//!
//! # let dir = std::env::temp_dir().join(format!("rm-doc-shopmod-{}", std::process::id()));
//! # let _ = std::fs::remove_dir_all(&dir);
//! let shop = Shop::open(ShopConfig::new(&dir))?;
//! let mut client = shop.client()?;
//! client.add(1, "Blue Cotton Shirt", 1_999, 10)?;
//! client.add(2, "Blue Wool Scarf", 2_499, 4)?;
//! let hits = client.search("blue s", 10)?;
//! assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [1, 2]);
//! drop(client);
//! shop.close()?;
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod domain;
mod runtime;

#[cfg(feature = "cli")]
pub(crate) use domain::{intersect, IdTable, OrderIndex, Posting};
pub use domain::{
    tokenize, Catalog, Command, Completion, FrozenCatalog, Name, Product, ProductEvent, Rejection,
    Reply, SearchHit, SearchIndex, SnapshotDecodeError, TxnAssembler, TxnMark, ValidationError,
    MAX_LIST_LIMIT, MAX_NAME_LEN, MAX_SEARCH_LIMIT,
};
#[cfg(all(feature = "replication", not(loom)))]
pub use runtime::{
    AckMode, ReplicatedShop, ReplicationConfig, ReplicationHandle, ReplicationInfo, Role,
};
pub use runtime::{
    Client, CloseReport, JournalFigures, OpenReport, Shop, ShopConfig, ShopError, StageLatency,
    StageThreads,
};
pub(crate) use runtime::{LiveJournal, LiveStages};
