//! Write a journal of a given size, then time its recovery (the scan a
//! writer runs on open) and a full replay.
//!
//! ```text
//! cargo run --release --example journal_recovery -- [GIB] [DIR]
//! ```
//!
//! Defaults: 1 GiB of 64-byte events (80-byte records) in a temporary
//! directory, removed afterwards.

use ringmaster::journal::{Durability, JournalConfig, JournalReader, JournalWriter};
use std::time::Instant;

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Event {
    id: u64,
    payload: [u64; 7],
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let gib: f64 = args.next().map_or(Ok(1.0), |s| s.parse())?;
    let dir = args.next().map_or_else(
        || std::env::temp_dir().join(format!("ringmaster-recovery-{}", std::process::id())),
        std::path::PathBuf::from,
    );
    let _ = std::fs::remove_dir_all(&dir);
    let records = (gib * (1u64 << 30) as f64 / 80.0) as u64;
    let config = JournalConfig::new(&dir).durability(Durability::None);

    let start = Instant::now();
    let (mut writer, _) = JournalWriter::open(&config, 64)?;
    for id in 0..records {
        let event = Event {
            id,
            payload: [id; 7],
        };
        writer.append(bytemuck::bytes_of(&event))?;
        if id % 4096 == 4095 {
            writer.commit()?;
        }
    }
    writer.close()?;
    let write = start.elapsed();
    println!(
        "wrote {records} records ({:.2} GiB of records) in {:.2} s: {:.1} M records/s",
        records as f64 * 80.0 / (1u64 << 30) as f64,
        write.as_secs_f64(),
        records as f64 / write.as_secs_f64() / 1e6
    );

    let start = Instant::now();
    let (writer, report) = JournalWriter::open(&config, 64)?;
    let recover = start.elapsed();
    drop(writer);
    assert_eq!(report.next_sequence, records);
    println!(
        "recovery (open: lock, scan {} segments, verify every CRC): {:.2} s, {:.0} MB/s",
        report.segments,
        recover.as_secs_f64(),
        records as f64 * 80.0 / recover.as_secs_f64() / 1e6
    );

    let start = Instant::now();
    let mut reader = JournalReader::open(&dir, 0)?;
    let mut n = 0u64;
    while let Some((seq, event)) = reader.next_event::<Event>()? {
        assert_eq!(event.id, seq);
        n += 1;
    }
    let replay = start.elapsed();
    assert_eq!(n, records);
    println!(
        "replay of every record: {:.2} s, {:.1} M records/s",
        replay.as_secs_f64(),
        n as f64 / replay.as_secs_f64() / 1e6
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
