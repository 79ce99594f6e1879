//! The network edge of the shop: the RESP codec (RESP2 and RESP3), request
//! parsing, sessions (authentication, transactions) and the `mio` TCP
//! [`Server`] (`ringmaster serve`). The codec and the parser are
//! pure, safe code on untrusted bytes (fuzz target `resp_codec`).

mod auth;
mod connection;
mod dispatch;
#[cfg(feature = "prometheus")]
mod figures;
#[cfg(feature = "prometheus")]
mod metrics_endpoint;
mod protocol;
mod request;
mod role;
mod server;
mod session;
mod shop_reply;
#[cfg(feature = "tls")]
mod tls;

pub use auth::{Password, PasswordError};
pub use protocol::{decode_request, encode_request, FrameError, Limits, Protocol, Reply};
pub use request::{parse_request, ClientRequest, Credentials, Request, RequestError};
pub use role::{RoleFigure, ServerRole};
pub use server::{
    default_max_client_memory, ServeReport, Server, ServerConfig, ServerError, ServerHandle,
};
pub use shop_reply::encode_shop_reply;
#[cfg(feature = "tls")]
pub use tls::{TlsAcceptor, TlsConfig, TlsError};

use crate::journal::Durability;

/// The batch limit for a shop behind a [`Server`] whose journal commits
/// without a sync per batch ([`ShopConfig::max_batch`](crate::shop::ShopConfig::max_batch);
/// see [`server_max_batch`]). Network clients wait for replies before they
/// send more, so a stage should not hold a burst's first replies until its
/// last command is handled; 32 to 128 measured alike (docs/benchmarks.md,
/// the shop over TCP).
///
/// # Examples
///
/// ```
/// use ringmaster::ingress::SERVER_MAX_BATCH;
/// use ringmaster::shop::ShopConfig;
/// let config = ShopConfig::new("/var/lib/shop").max_batch(SERVER_MAX_BATCH);
/// # let _ = config;
/// ```
pub const SERVER_MAX_BATCH: u64 = 64;

/// The batch limit for a shop with `durability` behind a [`Server`] (what
/// `ringmaster serve` uses unless told otherwise):
/// [`SERVER_MAX_BATCH`], except under [`Durability::Sync`], where none.
///
/// A sync-per-batch journal replies to no command of a batch before the
/// batch's `msync`, so a limit releases no reply sooner; and the clients,
/// answered in small batches, send their next commands in small batches,
/// each then paying an `msync` of its own: the limit would cut the group
/// commit down to its own size.
///
/// # Examples
///
/// ```
/// use ringmaster::ingress::{server_max_batch, SERVER_MAX_BATCH};
/// use ringmaster::journal::Durability;
/// use std::time::Duration;
/// assert_eq!(server_max_batch(Durability::Sync), u64::MAX);
/// let periodic = Durability::Periodic(Duration::from_millis(10));
/// assert_eq!(server_max_batch(periodic), SERVER_MAX_BATCH);
/// assert_eq!(server_max_batch(Durability::None), SERVER_MAX_BATCH);
/// ```
pub fn server_max_batch(durability: Durability) -> u64 {
    match durability {
        Durability::Sync => u64::MAX,
        Durability::None | Durability::Periodic(_) => SERVER_MAX_BATCH,
    }
}
