//! Arbitrary bytes as a shared ring file; the check is in
//! `fuzz/checks/region_header.rs`, shared with the corpus replay in
//! `tests/fuzz_corpus.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/region_header.rs"]
mod check;

fuzz_target!(|data: &[u8]| {
    check::check(data);
});
