//! `ringmaster serve` as a process: SIGTERM with commands in flight
//! answers them, flushes and exits 0; a restart serves the same state.
#![cfg(feature = "cli")]

mod util;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

/// Start the server on a free port; its address from its banner.
fn serve(data: &Path, durability: &str) -> (util::ChildGuard, String) {
    util::serve_process(data, &["--durability", durability])
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
}

fn count(addr: &str) -> i64 {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.write_all(b"COUNT\r\n").unwrap();
    let mut line = String::new();
    BufReader::new(tcp).read_line(&mut line).unwrap();
    line.trim().trim_start_matches(':').parse().unwrap()
}

#[test]
fn sigterm_answers_in_flight_commands_and_a_restart_serves_the_same_state() {
    let data = util::tempdir("serve-bin", "data");
    let (child, addr) = serve(&data, "sync");

    let tcp = TcpStream::connect(&addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut w = tcp.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for id in 1..=50_000u64 {
            let line = format!("ADD {id} 100 1 Item number {id}\r\n");
            if w.write_all(line.as_bytes()).is_err() {
                break;
            }
        }
    });
    // Count acknowledgements (each product reply starts with "*5").
    let mut r = BufReader::new(tcp);
    let mut acknowledged = 0i64;
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if line == "*5\r\n" {
                    acknowledged += 1;
                    if acknowledged == 1000 {
                        signal(&child, "-TERM");
                    }
                }
            }
        }
    }
    let _ = writer.join();
    let mut child = child;
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    assert!(acknowledged >= 1000);

    let (mut again, addr) = serve(&data, "sync");
    assert_eq!(
        count(&addr),
        acknowledged,
        "every acknowledged add survived the restart"
    );
    signal(&again, "-INT");
    assert!(again.wait().unwrap().success());
}

/// The `journal_syncs` figure of `INFO`.
fn journal_syncs(addr: &str) -> u64 {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    tcp.write_all(b"INFO\r\n").unwrap();
    let mut line = String::new();
    let mut r = BufReader::new(tcp);
    loop {
        line.clear();
        assert!(r.read_line(&mut line).unwrap() > 0, "INFO ended early");
        if let Some(n) = line.trim().strip_prefix("journal_syncs:") {
            return n.parse().unwrap();
        }
    }
}

/// Under `--durability sync` a reply waits for its batch's msync, so a
/// batch limit would release no reply sooner and only multiply the
/// syncs: `serve` sets none by default there. A pipelined burst then
/// commits in batches as large as the ring allows, not 64 at a time.
#[test]
fn serve_under_sync_commits_a_pipelined_burst_in_batches_larger_than_the_network_limit() {
    const BURST: u64 = 12_800;
    let data = util::tempdir("serve-bin", "sync-batches");
    let (child, addr) = serve(&data, "sync");
    let before = journal_syncs(&addr);

    let tcp = TcpStream::connect(&addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut w = tcp.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let burst: String = (1..=BURST)
            .map(|id| format!("ADD {id} 100 1 Item {id}\r\n"))
            .collect();
        w.write_all(burst.as_bytes()).unwrap();
    });
    let mut r = BufReader::new(tcp);
    let (mut added, mut line) = (0u64, String::new());
    while added < BURST {
        line.clear();
        assert!(r.read_line(&mut line).unwrap() > 0, "server closed");
        if line == "*5\r\n" {
            added += 1;
        }
    }
    writer.join().unwrap();

    let syncs = journal_syncs(&addr) - before;
    // A limit of 64 (`SERVER_MAX_BATCH`) would need at least BURST / 64
    // = 200 commits, each with its sync; batches bounded only by the ring
    // (1,024 slots here) need 13 or so.
    assert!(
        syncs < BURST / ringmaster::ingress::SERVER_MAX_BATCH / 2,
        "{syncs} syncs for {BURST} pipelined adds"
    );
    signal(&child, "-INT");
    let mut child = child;
    assert!(child.wait().unwrap().success());
}
