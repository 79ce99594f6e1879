//! Replays the committed fuzz corpora under plain `cargo test`, so the
//! fuzz targets' checks do not depend on the fuzzing toolchain.

use ringmaster::RegionHeader;
use std::path::Path;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let path = entry.expect("entry").path();
        out.push((
            path.display().to_string(),
            std::fs::read(&path).expect("readable"),
        ));
    }
    assert!(!out.is_empty(), "no corpus in {}", dir.display());
    out
}

/// The `region_header` target's property on every corpus file.
#[test]
fn region_header_corpus_replays() {
    for (name, data) in corpus("region_header") {
        if let Ok(h) = RegionHeader::decode(&data) {
            assert!(h.capacity.is_power_of_two(), "{name}");
            assert!(
                h.event_size > 0 && h.event_size % h.event_align == 0,
                "{name}"
            );
            assert!(h.slots_offset.is_multiple_of(128), "{name}");
            assert!(
                h.slots_offset + h.capacity * u64::from(h.event_size) <= h.region_len,
                "{name}"
            );
        }
    }
}
