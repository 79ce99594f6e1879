//! The `server_session` fuzz target's check, shared by the target
//! (`fuzz/fuzz_targets/server_session.rs`) and its corpus replay under
//! `cargo test` (`tests/fuzz_corpus.rs`).
//!
//! Arbitrary bytes sent on one connection to a real server (in this
//! process, on a loopback port, with a password): the first byte chooses a
//! preamble (authenticate or not, `HELLO 3`, `MULTI`) so the fuzzer starts
//! inside each state of a session; the rest is sent as it is. Whatever the
//! bytes (RESP3 frames sent as requests, transactions, AUTH, HELLO
//! options, ...): every byte the server sends back is well-formed RESP2
//! or RESP3, the connection ends, and the server still answers another
//! client afterwards.

use ringmaster::ingress::{Password, Server, ServerConfig, ServerHandle};
use ringmaster::journal::Durability;
use ringmaster::shop::{Shop, ShopConfig};
use ringmaster::WaitStrategy;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

struct Running {
    addr: SocketAddr,
    _handle: ServerHandle,
    _shop: Shop,
}

/// One server for the whole run (a connection per input).
fn server() -> SocketAddr {
    static SERVER: OnceLock<Mutex<Running>> = OnceLock::new();
    let running = SERVER.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rm-fuzz-server-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let shop = Shop::open(
            ShopConfig::new(&dir)
                .durability(Durability::None)
                .segment_size(1 << 20)
                .ring_capacity(64)
                .snapshot_every(10_000)
                .wait_strategy(WaitStrategy::Yielding),
        )
        .expect("open the fuzz shop");
        let mut config = ServerConfig::new("127.0.0.1:0".parse().expect("address"));
        config.password = Some(Password::new(b"pw".to_vec()).expect("password"));
        config.max_pending = 64;
        let server = Server::bind(&shop, config).expect("bind");
        let (addr, handle) = (server.local_addr(), server.handle());
        std::thread::spawn(move || server.run());
        Mutex::new(Running {
            addr,
            _handle: handle,
            _shop: shop,
        })
    });
    running.lock().unwrap_or_else(|e| e.into_inner()).addr
}

/// Parse one RESP2/RESP3 reply at the front of `buf`; its length, `None`
/// if incomplete. Panics on bytes that are not a reply.
fn reply_len(buf: &[u8]) -> Option<usize> {
    let nl = buf.iter().position(|&b| b == b'\n')?;
    assert!(
        nl >= 1 && buf[nl - 1] == b'\r',
        "a reply line without CRLF: {buf:?}"
    );
    let line = std::str::from_utf8(&buf[1..nl - 1]).expect("a UTF-8 reply header");
    let head = nl + 1;
    let number = || {
        line.parse::<i64>()
            .unwrap_or_else(|_| panic!("bad length {line:?}"))
    };
    match buf[0] {
        b'+' | b'-' => {
            assert!(!line.contains('\r'), "CR inside a line");
            Some(head)
        }
        b':' => {
            number();
            Some(head)
        }
        b'_' => {
            assert!(line.is_empty());
            Some(head)
        }
        b',' => {
            line.parse::<f64>()
                .unwrap_or_else(|_| panic!("bad double {line:?}"));
            Some(head)
        }
        b'$' | b'=' => {
            let n = number();
            if n == -1 && buf[0] == b'$' {
                return Some(head);
            }
            let n = usize::try_from(n).expect("a non-negative length");
            let end = head + n;
            let tail = buf.get(end..end + 2)?;
            assert_eq!(tail, b"\r\n", "a bulk string without its CRLF");
            if buf[0] == b'=' {
                assert!(n >= 4 && buf[head + 3] == b':', "verbatim without a format");
            }
            Some(end + 2)
        }
        b'*' | b'%' => {
            let n = usize::try_from(number()).expect("a non-negative count");
            let items = if buf[0] == b'%' { 2 * n } else { n };
            let mut at = head;
            for _ in 0..items {
                at += reply_len(&buf[at..])?;
            }
            Some(at)
        }
        other => panic!("not a reply type: {:?}", char::from(other)),
    }
}

/// Send `data` (after the preamble its first byte chooses) and check the
/// replies, and that the server still serves.
pub(crate) fn check(data: &[u8]) {
    let addr = server();
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut sent = Vec::new();
    if flags & 1 != 0 {
        sent.extend_from_slice(b"AUTH pw\r\n");
    }
    if flags & 2 != 0 {
        sent.extend_from_slice(b"HELLO 3\r\n");
    }
    if flags & 4 != 0 {
        sent.extend_from_slice(b"MULTI\r\n");
    }
    sent.extend_from_slice(rest);
    let tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let writer = {
        let mut w = tcp.try_clone().expect("clone");
        std::thread::spawn(move || {
            let _ = w.write_all(&sent);
            let _ = w.shutdown(Shutdown::Write);
        })
    };
    let mut got = Vec::new();
    let mut r = &tcp;
    r.read_to_end(&mut got)
        .expect("the server ends the connection after the client's end");
    let _ = writer.join();
    let mut at = 0;
    while at < got.len() {
        match reply_len(&got[at..]) {
            Some(n) => at += n,
            None => panic!("a truncated reply at byte {at} of {}", got.len()),
        }
    }
    // The server still serves.
    let mut probe = TcpStream::connect(addr).expect("connect again");
    probe
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    probe.write_all(b"AUTH pw\r\nPING\r\n").expect("write");
    let mut answer = [0u8; 12];
    probe.read_exact(&mut answer).expect("the server answers");
    assert_eq!(&answer, b"+OK\r\n+PONG\r\n");
}
