//! The shop's TCP server over real sockets: pipelining, many connections,
//! requests split at every byte, every kind of bad input, a client that
//! does not read, shutdown with commands in flight, and the same through
//! an independent client library (the `redis` crate).

mod util;

use ringmaster::ingress::{encode_request, ServeReport, Server, ServerConfig};
use ringmaster::journal::Durability;
use ringmaster::shop::Shop;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;
use util::server::shop_config;

fn tempdir(tag: &str) -> util::TempDir {
    util::tempdir("tcp", tag)
}

struct Running(util::server::Running);

impl std::ops::Deref for Running {
    type Target = util::server::Running;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Running {
    fn start(tag: &str, tune: impl FnOnce(&mut ServerConfig)) -> Self {
        Self(util::server::Running::start("tcp", tag, tune))
    }

    fn start_in(dir: &Path, tune: impl FnOnce(&mut ServerConfig)) -> Self {
        Self(util::server::Running::start_in(dir, tune))
    }

    fn stop(self) -> (ServeReport, PathBuf) {
        self.0.stop()
    }
}

/// A RESP2 reply, as a test reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Vec<Resp>),
}

fn read_reply(r: &mut impl BufRead) -> std::io::Result<Resp> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at(1);
    Ok(match kind {
        "+" => Resp::Simple(rest.into()),
        "-" => Resp::Error(rest.into()),
        ":" => Resp::Int(rest.parse().unwrap()),
        "$" => {
            let len: i64 = rest.parse().unwrap();
            if len < 0 {
                Resp::Bulk(None)
            } else {
                let mut buf = vec![0; len as usize + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(len as usize);
                Resp::Bulk(Some(buf))
            }
        }
        "*" => {
            let n: usize = rest.parse().unwrap();
            Resp::Array((0..n).map(|_| read_reply(r)).collect::<Result<_, _>>()?)
        }
        other => panic!("not a RESP reply: {other:?}{rest}"),
    })
}

fn product(id: i64, name: &str, price: i64, stock: i64, version: i64) -> Resp {
    Resp::Array(vec![
        Resp::Int(id),
        Resp::Bulk(Some(name.as_bytes().to_vec())),
        Resp::Int(price),
        Resp::Int(stock),
        Resp::Int(version),
    ])
}

fn command(args: &[&str]) -> Vec<u8> {
    let words: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let mut out = Vec::new();
    encode_request(&mut out, &words);
    out
}

fn err_starts(reply: &Resp, prefix: &str) -> bool {
    matches!(reply, Resp::Error(e) if e.starts_with(prefix))
}

#[test]
fn every_command_has_its_documented_reply() {
    let server = Running::start("shapes", |_| {});
    let (mut w, mut r) = server.open();
    let mut ask = |bytes: &[u8]| {
        w.write_all(bytes).unwrap();
        read_reply(&mut r).unwrap()
    };
    assert_eq!(ask(b"PING\r\n"), Resp::Simple("PONG".into()));
    assert_eq!(
        ask(&command(&["PING", "hi"])),
        Resp::Bulk(Some(b"hi".to_vec()))
    );
    assert_eq!(
        ask(b"ADD 7 1250 3 Blue   Mug\r\n"),
        product(7, "Blue Mug", 1250, 3, 1)
    );
    assert_eq!(
        ask(&command(&["ADD", "7", "1", "1", "Again"])),
        Resp::Bulk(None)
    );
    assert_eq!(
        ask(b"ADD 8 99 0 Red Mug\r\n"),
        product(8, "Red Mug", 99, 0, 1)
    );
    assert_eq!(
        ask(b"UPDATE 7 PRICE 1300 NAME Teal\r\n"),
        product(7, "Teal", 1300, 3, 2)
    );
    assert_eq!(ask(b"UPDATE 9 STOCK 1\r\n"), Resp::Bulk(None));
    assert_eq!(ask(b"GET 7\r\n"), product(7, "Teal", 1300, 3, 2));
    assert_eq!(ask(b"GET 9\r\n"), Resp::Bulk(None));
    assert_eq!(
        ask(b"LIST 0 10\r\n"),
        Resp::Array(vec![
            product(7, "Teal", 1300, 3, 2),
            product(8, "Red Mug", 99, 0, 1)
        ])
    );
    assert_eq!(
        ask(b"SEARCH mu LIMIT 5\r\n"),
        Resp::Array(vec![Resp::Array(vec![
            Resp::Int(8),
            Resp::Bulk(Some(b"Red Mug".to_vec()))
        ])])
    );
    assert_eq!(ask(b"COUNT\r\n"), Resp::Int(2));
    assert_eq!(ask(b"DEL 8\r\n"), Resp::Int(1));
    assert_eq!(ask(b"DEL 8\r\n"), Resp::Int(0));
    assert_eq!(ask(b"COUNT\r\n"), Resp::Int(1));
    assert!(matches!(ask(b"HELLO 2\r\n"), Resp::Array(a) if a.len() == 14));
    assert!(err_starts(&ask(b"HELLO 4\r\n"), "NOPROTO"));
    assert_eq!(ask(b"COMMAND DOCS\r\n"), Resp::Array(vec![]));
    assert_eq!(ask(b"CLIENT SETNAME me\r\n"), Resp::Simple("OK".into()));
    assert_eq!(ask(b"SELECT 0\r\n"), Resp::Simple("OK".into()));
    assert_eq!(ask(b"CONFIG GET save\r\n"), Resp::Array(vec![]));
    let Resp::Bulk(Some(info)) = ask(b"INFO\r\n") else {
        panic!("INFO is a bulk string")
    };
    let info = String::from_utf8(info).unwrap();
    for key in [
        "connected_clients:1",
        "stage_journal:",
        "stage_responder:",
        "durability:",
    ] {
        assert!(info.contains(key), "INFO lacks {key}:\n{info}");
    }
    assert_eq!(ask(b"QUIT\r\n"), Resp::Simple("OK".into()));
    assert!(read_reply(&mut r).is_err(), "closed after QUIT");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = Running::start("pipeline", |_| {});
    let (mut w, mut r) = server.open();
    // More than the window (the ring, 256): the server must stop reading
    // and resume, never reorder or drop.
    let n = 3_000;
    let mut all = Vec::new();
    for id in 1..=n {
        all.extend(command(&[
            "ADD",
            &id.to_string(),
            "100",
            "1",
            &format!("Item {id}"),
        ]));
        if id % 3 == 0 {
            all.extend_from_slice(b"PING\r\n");
        }
        if id % 7 == 0 {
            all.extend_from_slice(b"FROB\r\n");
        }
        all.extend(command(&["GET", &id.to_string()]));
    }
    let writer = std::thread::spawn(move || w.write_all(&all).unwrap());
    for id in 1..=n {
        assert_eq!(
            read_reply(&mut r).unwrap(),
            product(id, &format!("Item {id}"), 100, 1, 1)
        );
        if id % 3 == 0 {
            assert_eq!(read_reply(&mut r).unwrap(), Resp::Simple("PONG".into()));
        }
        if id % 7 == 0 {
            assert!(err_starts(
                &read_reply(&mut r).unwrap(),
                "ERR unknown command 'FROB'"
            ));
        }
        assert_eq!(
            read_reply(&mut r).unwrap(),
            product(id, &format!("Item {id}"), 100, 1, 1)
        );
    }
    writer.join().unwrap();
}

#[test]
fn many_concurrent_connections_each_get_their_own_replies() {
    let server = Running::start("many", |_| {});
    let threads: Vec<_> = (0..32i64)
        .map(|t| {
            let (mut w, mut r) = server.open();
            std::thread::spawn(move || {
                for k in 0..50i64 {
                    let id = t * 1000 + k + 1;
                    let mut batch = command(&[
                        "ADD",
                        &id.to_string(),
                        &k.to_string(),
                        "2",
                        &format!("Conn {t} item {k}"),
                    ]);
                    batch.extend(command(&["UPDATE", &id.to_string(), "STOCK", "5"]));
                    w.write_all(&batch).unwrap();
                    let name = format!("Conn {t} item {k}");
                    assert_eq!(read_reply(&mut r).unwrap(), product(id, &name, k, 2, 1));
                    assert_eq!(read_reply(&mut r).unwrap(), product(id, &name, k, 5, 2));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let (mut w, mut r) = server.open();
    w.write_all(b"COUNT\r\n").unwrap();
    assert_eq!(read_reply(&mut r).unwrap(), Resp::Int(32 * 50));
    let (report, _) = server.stop();
    assert_eq!(report.accepted, 33);
}

#[test]
fn requests_split_at_every_byte_are_parsed_whole() {
    let server = Running::start("split", |_| {});
    let mut stream = command(&["ADD", "1", "500", "9", "Split Kettle"]);
    stream.extend_from_slice(b"GET 1\r\n");
    stream.extend(command(&["SEARCH", "split ke"]));
    stream.extend_from_slice(b"COUNT\r\n");
    for cut in 1..stream.len() {
        let (mut w, mut r) = server.open();
        w.write_all(&stream[..cut]).unwrap();
        w.flush().unwrap();
        std::thread::sleep(Duration::from_millis(2));
        w.write_all(&stream[cut..]).unwrap();
        let first = read_reply(&mut r).unwrap();
        // The first connection adds; the others find the id taken.
        assert!(
            first == product(1, "Split Kettle", 500, 9, 1) || first == Resp::Bulk(None),
            "cut {cut}: {first:?}"
        );
        assert_eq!(
            read_reply(&mut r).unwrap(),
            product(1, "Split Kettle", 500, 9, 1),
            "cut {cut}"
        );
        assert_eq!(
            read_reply(&mut r).unwrap(),
            Resp::Array(vec![Resp::Array(vec![
                Resp::Int(1),
                Resp::Bulk(Some(b"Split Kettle".to_vec()))
            ])]),
            "cut {cut}"
        );
        assert_eq!(read_reply(&mut r).unwrap(), Resp::Int(1), "cut {cut}");
    }
}

#[test]
fn each_bad_request_gets_an_error_and_the_connection_stays_usable() {
    let server = Running::start("bad", |_| {});
    let (mut w, mut r) = server.open();
    let cases: &[(&[u8], &str)] = &[
        (b"FROB 1\r\n", "ERR unknown command 'FROB'"),
        (b"GET\r\n", "ERR wrong number of arguments for 'GET'"),
        (b"GET 1 2\r\n", "ERR wrong number of arguments for 'GET'"),
        (
            b"ADD 1 cheap 3 Mug\r\n",
            "ERR ADD: price is not an integer: 'cheap'",
        ),
        (
            b"ADD 1 99999999999999999999 3 Mug\r\n",
            "ERR ADD: price is not an integer",
        ),
        (b"ADD 1 -5 3 Mug\r\n", "ERR ADD: price -5 is negative"),
        (b"ADD 1 5 -3 Mug\r\n", "ERR ADD: stock -3 is negative"),
        (b"GET 0\r\n", "ERR GET: product id 0 is reserved"),
        (b"GET -5\r\n", "ERR GET: id -5 is negative"),
        (b"LIST -1 10\r\n", "ERR LIST: offset -1 is negative"),
        (b"LIST 0 -3\r\n", "ERR LIST: count -3 is negative"),
        (
            b"SEARCH mug LIMIT -2\r\n",
            "ERR SEARCH: limit -2 is negative",
        ),
        (
            b"UPDATE 1 COLOR red\r\n",
            "ERR UPDATE: unexpected argument 'COLOR'",
        ),
        (
            b"UPDATE 1 PRICE 1 PRICE 2\r\n",
            "ERR UPDATE: unexpected argument 'PRICE'",
        ),
        (
            b"LIST 0 5000\r\n",
            "ERR LIST: limit 5000 is out of range 1..=1000",
        ),
        (b"LIST 0 0\r\n", "ERR LIST: limit 0 is out of range"),
        (b"SEARCH --- \r\n", "ERR SEARCH: search query has no words"),
        (
            b"SEARCH mug LIMIT 1000\r\n",
            "ERR SEARCH: limit 1000 is out of range",
        ),
        (
            b"ADD 1 5 3 0123456789012345678901234567890123456789012345678901234567890123456789\r\n",
            "ERR ADD: name is 70 bytes; the limit is 64",
        ),
        (
            b"*5\r\n$3\r\nADD\r\n$1\r\n1\r\n$1\r\n5\r\n$1\r\n3\r\n$2\r\n\xff\xfe\r\n",
            "ERR ADD: name is not valid UTF-8",
        ),
        (b"SELECT 3\r\n", "ERR SELECT: unexpected argument '3'"),
    ];
    for (request, expected) in cases {
        w.write_all(request).unwrap();
        let reply = read_reply(&mut r).unwrap();
        assert!(
            err_starts(&reply, expected),
            "{:?}: {reply:?}",
            String::from_utf8_lossy(request)
        );
        // Still usable.
        w.write_all(b"PING\r\n").unwrap();
        assert_eq!(read_reply(&mut r).unwrap(), Resp::Simple("PONG".into()));
    }
    assert_eq!(
        {
            w.write_all(b"COUNT\r\n").unwrap();
            read_reply(&mut r).unwrap()
        },
        Resp::Int(0),
        "no bad request changed anything"
    );
}

#[test]
fn framing_errors_get_an_error_then_a_close() {
    let server = Running::start("framing", |c| c.max_request = 4096);
    let cases: &[(&[u8], &str)] = &[
        (
            b"*1\r\n$999999\r\n",
            "ERR Protocol error: bulk string of 999999 bytes",
        ),
        (
            b"*5000\r\n",
            "ERR Protocol error: request has 5000 arguments",
        ),
        (b"*1\r\n:12\r\n", "ERR Protocol error: expected '$'"),
        (b"*1\r\n$2\r\nabcd\r\n", "ERR Protocol error"),
        (b"*x\r\n", "ERR Protocol error"),
    ];
    for (request, expected) in cases {
        let (mut w, mut r) = server.open();
        w.write_all(b"PING\r\n").unwrap();
        w.write_all(request).unwrap();
        assert_eq!(read_reply(&mut r).unwrap(), Resp::Simple("PONG".into()));
        let reply = read_reply(&mut r).unwrap();
        assert!(
            err_starts(&reply, expected),
            "{:?}: {reply:?}",
            String::from_utf8_lossy(request)
        );
        assert!(read_reply(&mut r).is_err(), "closed after a framing error");
    }
    // An incomplete request over the server's limit: refused, not buffered.
    let (mut w, mut r) = server.open();
    let mut big = b"*2\r\n$3\r\nGET\r\n$60000\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'1', 10_000));
    let _ = w.write_all(&big);
    assert!(err_starts(
        &read_reply(&mut r).unwrap(),
        "ERR Protocol error: request over"
    ));
}

#[test]
fn a_client_that_does_not_read_is_bounded_and_does_not_stall_others() {
    let server = Running::start("slow", |c| {
        c.max_output = 64 * 1024;
        c.max_pending = 16;
    });
    {
        let (mut w, mut r) = server.open();
        let mut adds = Vec::new();
        for id in 1..=1000 {
            adds.extend(command(&[
                "ADD",
                &id.to_string(),
                "1",
                "1",
                "A fairly long product name to fill",
            ]));
        }
        w.write_all(&adds).unwrap();
        for _ in 1..=1000 {
            read_reply(&mut r).unwrap();
        }
    }
    // The slow client asks for 200 pages of 1000 products (about 60 KB
    // each, 12 MB in all) and reads nothing for a while.
    let slow = server.connect();
    let mut slow_w = slow.try_clone().unwrap();
    let pages = 200;
    let writer = std::thread::spawn(move || {
        for _ in 0..pages {
            if slow_w.write_all(b"LIST 0 1000\r\n").is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    // Another client is served meanwhile.
    let other = server.connect();
    let mut ow = other.try_clone().unwrap();
    let mut or = BufReader::new(other);
    for _ in 0..20 {
        ow.write_all(b"COUNT\r\n").unwrap();
        assert_eq!(read_reply(&mut or).unwrap(), Resp::Int(1000));
    }
    // Then the slow client reads everything, complete and in order.
    let mut r = BufReader::new(slow);
    for _ in 0..pages {
        let Resp::Array(page) = read_reply(&mut r).unwrap() else {
            panic!("a page is an array")
        };
        assert_eq!(page.len(), 1000);
        assert_eq!(
            page[999],
            product(1000, "A fairly long product name to fill", 1, 1, 1)
        );
    }
    writer.join().unwrap();
}

/// A client that sends its requests and closes its writing side (as
/// `printf ... | nc -N` does) gets every reply, then the server closes the
/// connection: the end of its input came with its last data, in the same
/// readiness event, and a short read must not hide it.
#[test]
fn a_half_closed_client_gets_its_replies_then_the_close() {
    let server = Running::start("half-close", |_| {});
    for requests in [&b"GET 1\r\n"[..], b"ADD 1 1 1 Mug\r\nCOUNT\r\nPING\r\n"] {
        let tcp = server.connect();
        (&tcp).write_all(requests).unwrap();
        tcp.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut (&tcp), &mut got)
            .expect("the server closes once its replies are written");
        assert!(got.ends_with(b"\r\n") && !got.is_empty(), "{got:?}");
    }
    drop(server);
}

#[test]
fn connection_limit_and_idle_timeout() {
    let server = Running::start("limits", |c| {
        c.max_connections = 2;
        c.idle_timeout = Some(Duration::from_secs(1));
    });
    let a = server.connect();
    let b = server.connect();
    let mut aw = a.try_clone().unwrap();
    aw.write_all(b"PING\r\n").unwrap();
    assert_eq!(
        read_reply(&mut BufReader::new(a.try_clone().unwrap())).unwrap(),
        Resp::Simple("PONG".into())
    );
    let c = server.connect();
    let mut cr = BufReader::new(c);
    assert!(err_starts(
        &read_reply(&mut cr).unwrap(),
        "ERR max number of clients reached"
    ));
    // Idle connections are closed; then there is room again.
    let mut br = BufReader::new(b);
    assert!(read_reply(&mut br).is_err(), "idle connection closed");
    let d = server.connect();
    let mut dw = d.try_clone().unwrap();
    dw.write_all(b"PING\r\n").unwrap();
    assert_eq!(
        read_reply(&mut BufReader::new(d)).unwrap(),
        Resp::Simple("PONG".into())
    );
    let (report, _) = server.stop();
    assert_eq!(report.refused, 1);
}

#[test]
fn shutdown_answers_every_command_in_flight_and_loses_no_acknowledged_write() {
    let dir = tempdir("shutdown");
    let server = Running::start_in(&dir, |_| {});
    let (mut w, r) = server.open();
    let n = 20_000;
    let reader = std::thread::spawn(move || {
        let mut r = r;
        let mut acknowledged = Vec::new();
        while let Ok(reply) = read_reply(&mut r) {
            if let Resp::Array(fields) = reply {
                if let Some(Resp::Int(id)) = fields.first() {
                    acknowledged.push(*id);
                }
            }
        }
        acknowledged
    });
    let writer = std::thread::spawn(move || {
        for id in 1..=n {
            if w.write_all(&command(&["ADD", &id.to_string(), "1", "1", "Inflight"]))
                .is_err()
            {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    let (report, _) = server.stop();
    let acknowledged = reader.join().unwrap();
    writer.join().unwrap();
    assert_eq!(
        report.published as usize,
        acknowledged.len(),
        "every published command was answered"
    );
    assert!(
        (1..=acknowledged.len() as i64).eq(acknowledged.iter().copied()),
        "in order"
    );
    // Reopen: everything acknowledged is there.
    let shop = Shop::open(shop_config(&dir)).unwrap();
    let mut client = shop.client().unwrap();
    assert_eq!(client.count().unwrap(), acknowledged.len() as u64);
    drop(client);
    shop.close().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_independent_client_library_works() {
    let server = Running::start("redis-crate", |_| {});
    let client = redis::Client::open(format!("redis://{}/", server.addr)).unwrap();
    let mut con = client.get_connection().unwrap();
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
    let added: (u64, String, u64, u64, u64) = redis::cmd("ADD")
        .arg(1)
        .arg(1250)
        .arg(3)
        .arg("Walnut Board")
        .query(&mut con)
        .unwrap();
    assert_eq!(added, (1, "Walnut Board".into(), 1250, 3, 1));
    let again: Option<(u64, String, u64, u64, u64)> = redis::cmd("ADD")
        .arg(1)
        .arg(1)
        .arg(1)
        .arg("X")
        .query(&mut con)
        .unwrap();
    assert_eq!(again, None);
    // A pipeline of 500 adds and a count.
    let mut pipe = redis::pipe();
    for id in 2..=501 {
        pipe.cmd("ADD")
            .arg(id)
            .arg(id * 10)
            .arg(1)
            .arg(format!("Board {id}"));
    }
    pipe.cmd("COUNT");
    let replies: Vec<redis::Value> = pipe.query(&mut con).unwrap();
    assert_eq!(replies.len(), 501);
    assert_eq!(replies[500], redis::Value::Int(501));
    let hits: Vec<(u64, String)> = redis::cmd("SEARCH")
        .arg("board 2")
        .arg("LIMIT")
        .arg(3)
        .query(&mut con)
        .unwrap();
    // The last word is a prefix: ids 2, 20, 21, ... match "2".
    assert_eq!(
        hits,
        vec![
            (2, "Board 2".into()),
            (20, "Board 20".into()),
            (21, "Board 21".into())
        ]
    );
    let page: Vec<(u64, String, u64, u64, u64)> =
        redis::cmd("LIST").arg(10).arg(2).query(&mut con).unwrap();
    assert_eq!(page.iter().map(|p| p.0).collect::<Vec<_>>(), [11, 12]);
    let missing: Option<(u64, String, u64, u64, u64)> =
        redis::cmd("GET").arg(9999).query(&mut con).unwrap();
    assert_eq!(missing, None);
    let deleted: u64 = redis::cmd("DEL").arg(2).query(&mut con).unwrap();
    assert_eq!(deleted, 1);
    // A bad request is an error reply; the connection goes on.
    let err = redis::cmd("ADD")
        .arg(3)
        .arg("cheap")
        .arg(1)
        .arg("X")
        .query::<redis::Value>(&mut con)
        .unwrap_err();
    assert!(err.to_string().contains("price is not an integer"), "{err}");
    let count: u64 = redis::cmd("COUNT").query(&mut con).unwrap();
    assert_eq!(count, 500);
    // Several connections at once.
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let client = client.clone();
            std::thread::spawn(move || {
                let mut con = client.get_connection().unwrap();
                for k in 0..100u64 {
                    let id = 10_000 + t * 100 + k;
                    let p: (u64, String, u64, u64, u64) = redis::cmd("ADD")
                        .arg(id)
                        .arg(k)
                        .arg(t)
                        .arg(format!("T{t} k{k}"))
                        .query(&mut con)
                        .unwrap();
                    assert_eq!(p.0, id);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let count: u64 = redis::cmd("COUNT").query(&mut con).unwrap();
    assert_eq!(count, 1300);
}

/// Fails every journal sync after the first `after`.
#[derive(Debug)]
struct FailSyncsAfter(std::sync::atomic::AtomicU64);

impl ringmaster::journal::IoHook for FailSyncsAfter {
    fn before(&self, op: &ringmaster::journal::FileOpInfo<'_>) -> std::io::Result<()> {
        use std::sync::atomic::Ordering;
        if op.op == ringmaster::journal::FileOp::Sync
            // Relaxed: a countdown; nothing else is published through it.
            && self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_err()
        {
            return Err(std::io::Error::from_raw_os_error(5)); // EIO
        }
        Ok(())
    }
}

/// The journal failing under the server: every command in flight gets an
/// error reply (never a success after the failure), the connection is
/// then closed, `run` says the engine stopped, and the shop reopens with
/// every write that was acknowledged. Writes answered with the error may
/// be there too: their records can reach the file (and stay in the page
/// cache this process reopens from) although their sync failed; what is
/// never allowed is an acknowledged write missing.
#[test]
fn a_journal_failure_answers_every_command_in_flight_with_an_error() {
    let dir = tempdir("journal-fault");
    let hook = std::sync::Arc::new(FailSyncsAfter(std::sync::atomic::AtomicU64::new(40)));
    let shop = Shop::open(
        shop_config(&dir)
            .durability(Durability::Sync)
            .journal_io_hook(hook),
    )
    .unwrap();
    let server = Server::bind(&shop, ServerConfig::new("127.0.0.1:0".parse().unwrap())).unwrap();
    let addr = server.local_addr();
    let thread = std::thread::spawn(move || server.run());
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let (mut w, mut r) = (tcp.try_clone().unwrap(), BufReader::new(tcp));
    let mut acked = 0u64;
    let mut errors = 0u64;
    let mut id = 1u64;
    'outer: for _ in 0..1000 {
        // A pipeline of 20 writes.
        let mut out = Vec::new();
        for _ in 0..20 {
            let (ids, name) = (id.to_string(), format!("Item {id}"));
            encode_request(
                &mut out,
                &[b"ADD", ids.as_bytes(), b"100", b"1", name.as_bytes()],
            );
            id += 1;
        }
        if w.write_all(&out).is_err() {
            break;
        }
        for _ in 0..20 {
            match read_reply(&mut r) {
                Ok(Resp::Error(e)) => {
                    assert!(e.contains("engine stopped"), "{e}");
                    errors += 1;
                }
                Ok(_) => {
                    assert_eq!(errors, 0, "a success after an error reply");
                    acked += 1;
                }
                Err(_) => break 'outer,
            }
        }
    }
    assert!(errors > 0, "the failure never reached the client");
    // The connection is closed after the error replies.
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut r, &mut rest);
    assert!(matches!(
        thread.join().unwrap(),
        Err(ringmaster::ingress::ServerError::EngineStopped)
    ));
    assert!(matches!(
        shop.close(),
        Err(ringmaster::shop::ShopError::Stopped(
            ringmaster::ShutdownError::StageFailed { .. }
        ))
    ));
    let shop = Shop::open(shop_config(&dir)).unwrap();
    let mut client = shop.client().unwrap();
    let count = client.count().unwrap();
    assert!(
        (acked..id).contains(&count),
        "{count} products after reopening; {acked} acknowledged, {} sent",
        id - 1
    );
    for product in 1..=acked {
        assert!(
            client.get(product).unwrap().is_some(),
            "acknowledged {product} lost"
        );
    }
    drop(client);
    shop.close().unwrap();
}
