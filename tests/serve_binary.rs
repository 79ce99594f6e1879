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
