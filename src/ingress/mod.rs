//! The network edge of the shop: the RESP2 codec and request parsing.
//! Pure, safe code on untrusted bytes (fuzz target `resp_codec`). The
//! `mio` server that uses them is not built yet (issue 7).

mod protocol;
mod request;

pub use protocol::{decode_request, FrameError, Limits, Reply};
pub use request::{parse_request, Request, RequestError};
