//! Arbitrary bytes on a connection to a real server (RESP3, AUTH,
//! MULTI/EXEC): well-formed replies, and the server keeps serving. The
//! check is in `fuzz/checks/server_session.rs`, shared with the corpus
//! replay in `tests/fuzz_corpus.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/server_session.rs"]
mod check;

fuzz_target!(|data: &[u8]| check::check(data));
