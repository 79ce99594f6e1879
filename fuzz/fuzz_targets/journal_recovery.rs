//! Arbitrary bytes as one or two journal segment files; the check is in
//! `fuzz/checks/journal_recovery.rs`, shared with the corpus replay in
//! `tests/fuzz_corpus.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../checks/journal_recovery.rs"]
mod check;

fuzz_target!(|data: &[u8]| check::check(data));
