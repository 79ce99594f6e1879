//! Arbitrary bytes as a ring region's header: decoding returns a typed
//! error or a header whose parts lie inside the region, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringmaster::RegionHeader;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = RegionHeader::decode(data) {
        assert!(h.capacity.is_power_of_two());
        assert!(h.event_size > 0 && h.event_size % h.event_align == 0);
        assert!(h.slots_offset % 128 == 0);
        assert!(h.slots_offset >= h.availability_offset);
        assert!(h.slots_offset + h.capacity * u64::from(h.event_size) <= h.region_len);
    }
});
