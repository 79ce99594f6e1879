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

/// The batch limit for a shop behind a [`Server`]
/// ([`ShopConfig::max_batch`](crate::shop::ShopConfig::max_batch); what
/// `ringmaster serve` uses unless told otherwise). Network clients wait
/// for replies before they send more, so a stage should not hold a
/// burst's first replies until its last command is handled; 32 to 128
/// measured alike (docs/benchmarks.md, the shop over TCP).
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
