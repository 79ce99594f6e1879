//! The network edge of the shop: the RESP2 codec, request parsing, and the
//! `mio` TCP [`Server`] (`ringmaster serve`). The codec and the parser are
//! pure, safe code on untrusted bytes (fuzz target `resp_codec`).

mod connection;
mod protocol;
mod request;
mod server;
mod shop_reply;

pub use protocol::{decode_request, encode_request, FrameError, Limits, Reply};
pub use request::{parse_request, Request, RequestError};
pub use server::{ServeReport, Server, ServerConfig, ServerError, ServerHandle};
pub use shop_reply::encode_shop_reply;
