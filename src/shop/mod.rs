//! The online shop on the engine: product commands as fixed-size events,
//! and the modules that handle them as decoupled consumers of one stream.
//!
//! The domain ([`Command`], [`ProductEvent`], [`Catalog`], [`SearchIndex`],
//! [`Reply`]) is pure and deterministic: no threads, no I/O, no unsafe.
//! [`Shop`] runs it on the engine:
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

mod catalog;
mod command;
mod error;
mod event;
mod id_table;
mod name;
mod order_index;
mod posting;
mod product;
mod reply;
mod search;

pub use crate::engine::{
    Client, CloseReport, OpenReport, Shop, ShopConfig, StageLatency, StageThreads,
};
pub use catalog::{Catalog, SnapshotDecodeError};
pub use command::{Command, MAX_LIST_LIMIT, MAX_SEARCH_LIMIT};
pub use error::{Rejection, ShopError, ValidationError};
pub use event::ProductEvent;
pub use name::{Name, MAX_NAME_LEN};
pub use product::{Product, SearchHit};
pub use reply::{Completion, Reply};
pub use search::{tokenize, SearchIndex};
