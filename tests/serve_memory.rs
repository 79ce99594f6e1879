//! `ringmaster serve`'s memory stays bounded whatever its clients do:
//! idle connections holding half a request cost about what they hold, and
//! nothing accumulates as they come and go; clients that together hold more
//! than `--max-client-memory` are closed, the biggest first, while an
//! ordinary client gets every reply.
//!
//! The server runs as its own process so that its resident memory is its
//! own (read from `/proc/<pid>/status`); all traffic is on loopback.
#![cfg(feature = "cli")]

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Child;
use std::time::{Duration, Instant};

/// The tests run one at a time: each measures its own server's memory and
/// opens thousands of sockets, and two at once on two cores would make
/// each slow to accept the other's connections.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The server's resident memory, in bytes.
fn rss(child: &Child) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).expect("status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib * 1024
}

/// One `INFO` field, as a number.
fn info(addr: &str, field: &str) -> u64 {
    let mut tcp = TcpStream::connect(addr).expect("connect for INFO");
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    tcp.write_all(b"INFO\r\n").unwrap();
    let mut reader = BufReader::new(tcp);
    let mut header = String::new();
    reader.read_line(&mut header).unwrap();
    let len: usize = header
        .trim()
        .trim_start_matches('$')
        .parse()
        .expect("bulk length");
    let mut body = vec![0; len + 2];
    reader.read_exact(&mut body).unwrap();
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in INFO:\n{text}"))
}

/// Wait (bounded) until `INFO`'s `field` satisfies `ok`; returns its value.
fn wait_info(addr: &str, field: &str, ok: impl Fn(u64) -> bool) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = info(addr, field);
        if ok(v) || Instant::now() > deadline {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A request cut in the middle: its client then sends nothing more.
const HALF: &[u8] = b"*3\r\n$3\r\nADD\r\n$2\r\n1";

fn open_idle(addr: &str, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| {
            let mut tcp = TcpStream::connect(addr).expect("connect");
            tcp.write_all(HALF).expect("half a request");
            tcp
        })
        .collect()
}

#[test]
fn idle_connections_cost_what_they_hold_and_nothing_accumulates() {
    const CONNECTIONS: usize = 10_000;
    const MIB: u64 = 1 << 20;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let data = util::tempdir("serve-memory", "idle");
    let (mut child, addr) = util::serve_process(&data, &["--max-connections", "10100"]);
    assert_eq!(info(&addr, "connected_clients"), 1);
    let before = rss(&child);
    let mut after = Vec::new();
    for round in 0..3 {
        let idle = open_idle(&addr, CONNECTIONS);
        // Every half request read and held by the server.
        let held = wait_info(&addr, "client_buffers_bytes", |b| {
            b >= (CONNECTIONS * HALF.len()) as u64
        });
        assert!(
            held >= (CONNECTIONS * HALF.len()) as u64,
            "round {round}: the server holds {held} bytes of client buffers"
        );
        // Itself and every idle one (an earlier INFO's connection may not
        // be closed yet).
        let clients = info(&addr, "connected_clients");
        assert!(
            clients > CONNECTIONS as u64,
            "round {round}: {clients} clients"
        );
        after.push(rss(&child));
        drop(idle);
        wait_info(&addr, "connected_clients", |n| n == 1);
    }
    let _ = child.kill();
    let _ = child.wait();
    for (round, rss) in after.iter().enumerate() {
        let grew = rss.saturating_sub(before);
        util::say(
            "serve_memory",
            &format!(
                "round {round}: {CONNECTIONS} idle connections: resident {} MiB -> {} MiB (+{} KiB, {} B each)",
                before / MIB,
                rss / MIB,
                grew / 1024,
                grew / CONNECTIONS as u64
            ),
        );
        assert!(
            grew < 100 * MIB,
            "round {round}: {CONNECTIONS} idle connections took the server from {before} to {rss} bytes"
        );
    }
}

#[test]
fn clients_over_the_memory_limit_are_closed_biggest_first() {
    const LIMIT: u64 = 32 << 20;
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let data = util::tempdir("serve-memory", "flood");
    let (mut child, addr) = util::serve_process(
        &data,
        &["--max-client-memory", "32M", "--durability", "none"],
    );
    // A catalog whose LIST pages are large replies.
    let mut loader = TcpStream::connect(&addr).unwrap();
    let mut commands = Vec::new();
    for id in 1..=1000 {
        commands.extend_from_slice(
            format!("ADD {id} 100 1 A product name of some length number {id}\r\n").as_bytes(),
        );
    }
    commands.extend_from_slice(b"PING loaded\r\n");
    loader.write_all(&commands).unwrap();
    let mut replies = BufReader::new(loader.try_clone().unwrap());
    let mut line = String::new();
    while line.trim() != "loaded" {
        line.clear();
        assert!(replies.read_line(&mut line).unwrap() > 0, "loader closed");
    }
    assert_eq!(info(&addr, "commands_published"), 1000);
    let before = rss(&child);

    // Idle clients, each with half a request.
    let idle = open_idle(&addr, 500);
    // Clients that send most of a huge request and stop: 40 x 900 KiB,
    // each under the 1 MiB request limit, together over the memory limit.
    let mut huge = Vec::new();
    for _ in 0..40 {
        let mut tcp = TcpStream::connect(&addr).unwrap();
        // 1024 arguments announced, 14 of 64 KiB sent: each within the
        // framing limits, the whole under the 1 MiB request limit.
        let mut request = b"*1024\r\n$4\r\nECHO\r\n".to_vec();
        for _ in 0..14 {
            request.extend_from_slice(b"$65536\r\n");
            request.resize(request.len() + 65536, b'x');
            request.extend_from_slice(b"\r\n");
        }
        tcp.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        // The server may close it before all of it is written.
        let _ = tcp.write_all(&request);
        huge.push(tcp);
    }
    // Clients that pipeline large replies and never read them.
    let mut greedy = Vec::new();
    for _ in 0..10 {
        let mut tcp = TcpStream::connect(&addr).unwrap();
        tcp.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        let page = b"LIST 0 1000\r\n".repeat(200);
        let _ = tcp.write_all(&page);
        greedy.push(tcp);
    }
    // An ordinary client meanwhile: every request answered.
    let mut ordinary = TcpStream::connect(&addr).unwrap();
    ordinary
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut answers = BufReader::new(ordinary.try_clone().unwrap());
    for i in 0..2000u64 {
        let id = 5000 + i;
        ordinary
            .write_all(format!("COUNT\r\nADD {id} 1 1 Ordinary\r\nPING done-{i}\r\n").as_bytes())
            .unwrap();
        // COUNT, then ADD's product (5 fields, one line each but the
        // name's two), then the PING's bulk string.
        let mut got = Vec::new();
        while got.last().map(String::as_str) != Some(&format!("done-{i}")) {
            line.clear();
            assert!(
                answers.read_line(&mut line).unwrap() > 0,
                "request {i}: closed"
            );
            got.push(line.trim().to_owned());
        }
        assert!(got[0].starts_with(':'), "request {i}: COUNT gave {got:?}");
        assert_eq!(got[1], "*5", "request {i}: ADD gave {got:?}");
        assert_eq!(got[2], format!(":{id}"), "request {i}: ADD gave {got:?}");
    }

    let evicted = wait_info(&addr, "evicted_clients", |n| n > 0);
    let held = info(&addr, "client_buffers_bytes");
    let resident = rss(&child);
    util::say(
        "serve_memory",
        &format!(
            "flood: {evicted} clients closed, {held} bytes of client buffers held; resident {} MiB -> {} MiB (limit {} MiB)",
            before >> 20,
            resident >> 20,
            LIMIT >> 20
        ),
    );
    assert!(evicted > 0, "no client was closed");
    assert!(held <= LIMIT, "client buffers hold {held} bytes");
    // The limit plus a stated overhead: the allocator's free lists and
    // the kernel's view of pages freed but not yet returned.
    assert!(
        resident.saturating_sub(before) <= LIMIT + (64 << 20),
        "resident memory grew from {before} to {resident} bytes"
    );
    // The biggest offenders were the ones closed: some huge request's
    // connection is gone, and the idle ones are not.
    assert!(
        huge.iter_mut().any(is_closed),
        "no huge request's connection was closed"
    );
    assert!(
        !idle.into_iter().take(5).any(|mut t| is_closed(&mut t)),
        "an idle client was closed"
    );
    drop(greedy);
    let _ = child.kill();
    let _ = child.wait();
}

/// Whether the server closed this connection (after any reply it sent).
fn is_closed(tcp: &mut TcpStream) -> bool {
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}
