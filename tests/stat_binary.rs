//! `ringmaster stat FILE` on a live shared ring, and on what is not one.
#![cfg(feature = "cli")]

use ringmaster::shm::{SharedOptions, SharedRing};
use ringmaster::{RingConfig, WaitStrategy};
use std::process::Command;

fn stat(path: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringmaster"))
        .arg("stat")
        .arg(path)
        .output()
        .expect("run ringmaster stat");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn stat_shows_a_running_rings_progress_from_another_process() {
    let path = std::env::temp_dir().join(format!("rm-stat-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let config = RingConfig::new(64).wait_strategy(WaitStrategy::Yielding);
    let ring = SharedRing::<[u64; 4]>::create(&path, &config, &SharedOptions::default()).unwrap();
    let mut consumers = ring.consumers();
    let id = consumers.poller("reader").add();
    let mut graph = consumers.build_consumers().unwrap();
    let mut poller = graph.take_poller(id).unwrap();
    let mut producer = ring.single_producer().unwrap();
    for i in 0..10 {
        producer.publish([i; 4]).unwrap();
    }
    let mut read = 0;
    poller.poll(|_, _, _| {
        read += 1;
        read < 4 // stop after four: the reader lags by six
    });

    let (ok, text) = stat(&path);
    assert!(ok, "{text}");
    let me = format!("pid {}", std::process::id());
    assert!(
        text.contains("single producer, capacity 64, 32-byte events"),
        "{text}"
    );
    assert!(text.contains("cursor: 10  occupancy: 6/64"), "{text}");
    assert!(text.contains(&format!("producers: {me}")), "{text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["0", "4", "6", "yes", "pid", &std::process::id().to_string()]),
        "{text}"
    );

    // The ring moves on; another look from outside sees it move.
    for i in 10..20 {
        producer.publish([i; 4]).unwrap();
    }
    while poller.poll(|_, _, _| true) != ringmaster::PollState::Idle {}
    let (ok, text) = stat(&path);
    assert!(ok, "{text}");
    assert!(text.contains("cursor: 20  occupancy: 0/64"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == [
                    "0",
                    "20",
                    "0",
                    "yes",
                    "pid",
                    &std::process::id().to_string()
                ]),
        "{text}"
    );

    ring.remove().unwrap();
    let (ok, text) = stat(&path);
    assert!(!ok);
    assert!(text.contains("does not exist"), "{text}");
    std::fs::write(&path, b"not a ring").unwrap();
    let (ok, text) = stat(&path);
    assert!(!ok);
    assert!(text.contains("is not a usable ring"), "{text}");
    std::fs::remove_file(&path).unwrap();
    drop(poller);
}
