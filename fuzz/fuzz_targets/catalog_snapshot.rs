//! Arbitrary bytes as a catalog snapshot: decoding returns a typed error
//! or a catalog that encodes back to the same bytes, with a consistent
//! digest, never a panic or a huge allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringmaster::shop::Catalog;

fuzz_target!(|data: &[u8]| {
    if let Ok(catalog) = Catalog::from_snapshot(data) {
        let mut again = Vec::new();
        catalog.to_snapshot(&mut again);
        assert_eq!(again, data, "snapshot does not round-trip");
        assert_eq!(catalog.digest(), catalog.recompute_digest());
    }
});
