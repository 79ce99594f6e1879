//! Criterion micro-benchmarks of the journal's hot path: appending a
//! 64-byte event (word stores into the mapping) and a commit (seal: one
//! CRC over the group) per batch of 64 under `Durability::None` and
//! `Durability::Sync`; and the CPU parts alone: encoding a slot, sealing
//! a group, and a CRC per record for comparison.
//!
//! ```text
//! cargo bench --bench journal
//! ```
//!
//! Segments are preallocated ahead of the writer; a long measurement can
//! still outrun the preallocator, so measured appends include the page
//! faults of fresh file pages when that happens (see docs/benchmarks.md).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ringmaster::journal::format::{encode_slot, record_size, seal_slots};
use ringmaster::journal::{remove_segments_before, Durability, JournalConfig, JournalWriter};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Duration;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringmaster-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("journal_append_64B");
    g.throughput(Throughput::Elements(64));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    for (name, durability) in [("none", Durability::None), ("sync", Durability::Sync)] {
        let path = dir(name);
        let config = JournalConfig::new(&path).durability(durability);
        let (mut writer, _) = JournalWriter::open(&config, 64).expect("journal");
        let event = [7u8; 64];
        let mut batches = 0u64;
        g.bench_function(format!("batch64_commit_{name}"), |b| {
            b.iter_batched(
                || (),
                |()| {
                    for _ in 0..64 {
                        writer.append(&event).expect("append");
                    }
                    writer.commit().expect("commit");
                    // Keep the disk footprint bounded: drop finished
                    // segments now and then (rarely: inside the timing).
                    batches += 1;
                    if batches.is_multiple_of(100_000) {
                        let _ = remove_segments_before(&path, writer.next_sequence());
                    }
                },
                BatchSize::SmallInput,
            )
        });
        writer.close().expect("close");
        let _ = std::fs::remove_dir_all(&path);
    }
    g.finish();
}

/// The CPU part of an append, without the mapping's page faults or
/// stores: encoding one record slot (sequence, payload, padding) into a
/// buffer; and of a commit: the CRC of a sealed group of 64 records, one
/// checksum for the group, against the CRC of one record on its own (what
/// a checksum per record costs each record).
fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("journal_encode_64B");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    let event = [7u8; 64];
    let mut slot = vec![0u8; record_size(64)];
    let mut sequence = 0u64;
    g.bench_function("encode_slot", |b| {
        b.iter(|| {
            sequence += 1;
            encode_slot(black_box(&mut slot), sequence, black_box(&event));
        })
    });
    let covered = [7u8; 72];
    g.bench_function("crc32_one_record", |b| {
        b.iter(|| crc32fast::hash(black_box(&covered)))
    });
    g.finish();

    let mut g = c.benchmark_group("journal_seal_64x64B");
    g.throughput(Throughput::Elements(64));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    let rec = record_size(64);
    let mut group = vec![0u8; 64 * rec];
    for (k, slot) in group.chunks_exact_mut(rec).enumerate() {
        encode_slot(slot, k as u64, &event);
    }
    g.bench_function("seal_group", |b| {
        b.iter(|| seal_slots(black_box(&mut group), rec, 0))
    });
    g.finish();
}

criterion_group!(benches, append, encode);
criterion_main!(benches);
