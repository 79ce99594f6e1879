//! Arbitrary bytes as a shop event (from the ring or a journal record):
//! decoding returns a typed error or a command whose encoding (with the
//! event's transaction mark) is exactly these bytes (one command, one
//! encoding), never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringmaster::shop::ProductEvent;

fuzz_target!(|data: &[u8]| {
    let mut bytes = [0u8; 128];
    let n = data.len().min(128);
    bytes[..n].copy_from_slice(&data[..n]);
    let event: ProductEvent = bytemuck::pod_read_unaligned(&bytes);
    if let Ok(command) = event.decode() {
        let mut again = ProductEvent::encode(&command, event.request_id(), event.client())
            .stamped(event.published_ns());
        // Only a write may carry a transaction mark, and then a whole one.
        let mark = event.txn_mark();
        assert!(mark.tag == 0 && mark.remaining == 0 || command.is_write() && mark.tag != 0);
        again.set_txn_mark(mark);
        assert_eq!(
            bytemuck::bytes_of(&again),
            &bytes[..],
            "non-canonical encoding accepted"
        );
    }
});
