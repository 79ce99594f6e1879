//! The `region_header` fuzz target's check, shared by the target
//! (`fuzz/fuzz_targets/region_header.rs`) and its corpus replay under
//! `cargo test` (`tests/fuzz_corpus.rs`).
//!
//! Arbitrary bytes as a shared ring file: `SharedRing::attach` returns a
//! typed error or a ring whose header describes a region inside the file,
//! never a panic or an out-of-bounds read; an attached ring can take a
//! consumer slot and be polled whatever its counters hold.
//!
//! The attaching process expects the capacity, fingerprint and producer
//! kind the bytes themselves claim, so inputs get past the expectation
//! checks into the mapping and slot allocation.

use ringmaster::shm::{SharedOptions, SharedRing};
use ringmaster::{RegionHeader, RingConfig, WaitStrategy};

/// Run the check on one input; true when the bytes attached as a ring.
pub(crate) fn check(data: &[u8]) -> bool {
    if let Ok(h) = RegionHeader::decode(data) {
        assert!(h.capacity.is_power_of_two());
        assert!(h.event_size > 0 && h.event_size % h.event_align == 0);
        assert!(h.slots_offset.is_multiple_of(128));
        assert!(h.slots_offset >= h.availability_offset);
        if h.stamp_every != 0 {
            assert!(h.stamp_every.is_power_of_two());
            let entries = (h.capacity / u64::from(h.stamp_every)).max(1);
            assert!(h.stamps_offset >= h.availability_offset);
            assert!(h.stamps_offset + entries * 8 <= h.slots_offset);
        } else {
            assert_eq!(h.stamps_offset, 0);
        }
        assert!(h.slots_offset + h.capacity * u64::from(h.event_size) <= h.region_len);
    }
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        std::path::PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("rm-fuzz-region-{}", std::process::id()));
    std::fs::write(&path, data).expect("write the input file");
    let word = |at: usize| {
        data.get(at..at + 8)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    };
    let config = RingConfig::new(word(24))
        .fingerprint(word(48))
        .wait_strategy(WaitStrategy::Yielding);
    let multi = data.get(12).is_some_and(|b| b & 1 == 1);
    let options = SharedOptions::default().multi_producer(multi);
    let attached = match SharedRing::<[u64; 8]>::attach(&path, &config, &options) {
        Ok(ring) => {
            let h = ring.header();
            assert_eq!(h.region_len, data.len() as u64);
            assert_eq!(h.event_size, 64);
            let mut consumers = ring.consumers();
            let id = consumers.poller("fuzz").add();
            if let Ok(mut graph) = consumers.build_consumers() {
                let mut poller = graph.take_poller(id).expect("declared above");
                let _ = poller.poll(|_, _, _| true);
            }
            true
        }
        Err(e) => {
            let _ = e.to_string();
            false
        }
    };
    let _ = std::fs::remove_file(&path);
    attached
}
