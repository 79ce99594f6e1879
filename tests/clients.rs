//! Real client libraries against the shop's server, each with its default
//! settings: redis-py 8 (RESP3 by default), redis-rs (RESP2 and RESP3) and
//! redis-cli. Every shop command, pipelining, a transaction, AUTH,
//! protected mode, TLS and the Prometheus endpoint; and the new surface under hostile input: AUTH
//! brute force, malformed RESP3 frames, an `EXEC` larger than the limits,
//! TLS handshakes that never finish.

mod util;

use ringmaster::ingress::{Password, ServerConfig};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use util::server::Running;
use util::tools;

fn start(tag: &str, tune: impl FnOnce(&mut ServerConfig)) -> Running {
    Running::start("clients", tag, tune)
}

fn with_password(password: &str) -> impl FnOnce(&mut ServerConfig) + '_ {
    move |c| c.password = Some(Password::new(password.as_bytes().to_vec()).unwrap())
}

/// Every shop command, a pipeline and a transaction through redis-py with
/// `redis.Redis(port=...)` and nothing else (plus the password when given).
const REDIS_PY_EVERYTHING: &str = r#"
import sys, redis
port = int(sys.argv[1])
password = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
tls = dict(ssl=True, ssl_ca_certs=sys.argv[3]) if len(sys.argv) > 3 else {}
r = redis.Redis(port=port, password=password, **tls)
assert r.ping() is True
hello = r.execute_command("HELLO")
assert hello[b"proto"] == 3 and hello[b"server"] == b"ringmaster", hello
mug = r.execute_command("ADD", 7, 1250, 3, "Blue", "Mug")
assert mug == {b"id": 7, b"name": b"Blue Mug", b"price": 1250, b"stock": 3, b"version": 1}, mug
assert r.execute_command("ADD", 7, 1, 1, "Again") is None
assert r.execute_command("UPDATE", 7, "PRICE", 1300, "NAME", "Teal")[b"price"] == 1300
assert r.execute_command("UPDATE", 99, "STOCK", 1) is None
assert r.execute_command("GET", 7)[b"name"] == b"Teal"
assert r.execute_command("GET", 99) is None
r.execute_command("ADD", 8, 99, 0, "Red Mug")
page = r.execute_command("LIST", 0, 10)
assert [p[b"id"] for p in page] == [7, 8], page
hits = r.execute_command("SEARCH", "mu", "LIMIT", 5)
assert hits == [{b"id": 8, b"name": b"Red Mug"}], hits
assert r.execute_command("COUNT") == 2 and r.dbsize() == 2
assert len(r.execute_command("DIGEST")) == 16
assert r.execute_command("DEL", 8) == 1 and r.execute_command("DEL", 8) == 0
assert r.echo("hi") == b"hi"
assert r.client_setname("shopper") and r.client_getname() in (b"shopper", "shopper")
assert isinstance(r.client_id(), int)
assert "connected_clients" in r.info()
# A pipeline without a transaction: 500 commands, one round trip.
p = r.pipeline(transaction=False)
for i in range(100, 600):
    p.execute_command("ADD", i, i, 1, f"Item {i}")
assert all(x[b"id"] == i for x, i in zip(p.execute(), range(100, 600)))
# A transaction: MULTI ... EXEC, the replies as one list.
p = r.pipeline(transaction=True)
p.execute_command("ADD", 1000, 5, 5, "Kettle")
p.execute_command("UPDATE", 1000, "STOCK", 4)
p.execute_command("GET", 1000)
p.execute_command("COUNT")
added, updated, got, count = p.execute()
assert added[b"version"] == 1 and updated[b"stock"] == 4 and got == updated and count == 502
# A transaction with a command the server refuses is not applied at all.
p = r.pipeline(transaction=True)
p.execute_command("ADD", 2000, 5, 5, "Never")
p.execute_command("GET", "not-a-number")
try:
    p.execute()
    raise AssertionError("EXEC of a refused transaction succeeded")
except redis.exceptions.ResponseError as e:
    assert "EXECABORT" in str(e) or "not an integer" in str(e), e
assert r.execute_command("GET", 2000) is None
# RESP2 on request, as older clients speak.
r2 = redis.Redis(port=port, password=password, protocol=2, **tls)
assert r2.execute_command("GET", 7)[1] == b"Teal"
print("ok")
"#;

#[test]
fn redis_py_with_defaults_runs_every_command_a_pipeline_and_a_transaction() {
    let server = start("redis-py", |_| {});
    let out = tools::python(REDIS_PY_EVERYTHING, &[&server.addr.port().to_string()]);
    assert_eq!(out.trim(), "ok");
}

#[test]
fn redis_py_with_a_password() {
    let server = start("redis-py-auth", with_password("correct horse"));
    let port = server.addr.port().to_string();
    let out = tools::python(REDIS_PY_EVERYTHING, &[&port, "correct horse"]);
    assert_eq!(out.trim(), "ok");
    let refused = tools::python(
        r#"
import sys, redis
port = int(sys.argv[1])
for password in (None, "wrong"):
    try:
        redis.Redis(port=port, password=password).ping()
        raise AssertionError(f"ping with password {password!r} was answered")
    except (redis.exceptions.AuthenticationError, redis.exceptions.ResponseError) as e:
        print(type(e).__name__, e)
"#,
        &[&port],
    );
    assert!(refused.contains("Authentication"), "{refused}");
    let (report, _) = server.stop();
    assert!(report.failed_auth >= 1, "{report:?}");
}

#[test]
fn redis_rs_speaks_both_protocols() {
    let server = start("redis-rs", with_password("pw"));
    for protocol in ["resp2", "resp3"] {
        let url = format!("redis://:pw@{}/?protocol={protocol}", server.addr);
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        let id = if protocol == "resp2" { 1 } else { 2 };
        let added: redis::Value = redis::cmd("ADD")
            .arg(id)
            .arg(100)
            .arg(1)
            .arg("Mug")
            .query(&mut con)
            .unwrap();
        match (protocol, &added) {
            ("resp2", redis::Value::Array(fields)) => assert_eq!(fields.len(), 5),
            ("resp3", redis::Value::Map(pairs)) => assert_eq!(pairs.len(), 5),
            _ => panic!("{protocol}: ADD answered {added:?}"),
        }
        let missing: redis::Value = redis::cmd("GET").arg(99).query(&mut con).unwrap();
        assert_eq!(missing, redis::Value::Nil);
        let (count, echoed): (u64, String) = redis::pipe()
            .atomic()
            .cmd("UPDATE")
            .arg(id)
            .arg("STOCK")
            .arg(0)
            .ignore()
            .cmd("COUNT")
            .cmd("ECHO")
            .arg("x")
            .query(&mut con)
            .unwrap();
        assert_eq!((count, echoed.as_str()), (id, "x"));
    }
}

fn redis_cli(port: u16, args: &[&str], stdin: &str) -> String {
    let mut child = std::process::Command::new(tools::redis_cli())
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("redis-cli");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_in_both_protocols_with_a_transaction_and_a_password() {
    let server = start("redis-cli", with_password("pw"));
    let port = server.addr.port();
    let auth = ["--pass", "pw", "--no-auth-warning"];
    let out = redis_cli(
        port,
        &auth,
        "MULTI\nADD 1 100 2 Blue Mug\nUPDATE 1 STOCK 9\nEXEC\nGET 1\n",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..3], ["OK", "QUEUED", "QUEUED"], "{out}");
    assert_eq!(
        lines.last(),
        Some(&"2"),
        "version 2 after the update: {out}"
    );
    let resp3 = redis_cli(port, &[&auth[..], &["-3"]].concat(), "HELLO 3\nGET 1\n");
    assert!(resp3.contains("proto 3"), "{resp3}");
    assert!(
        resp3.contains("stock 9"),
        "a product is a map in RESP3: {resp3}"
    );
    let refused = redis_cli(port, &[], "GET 1\n");
    assert!(refused.contains("NOAUTH"), "{refused}");
}

/// One connection, raw bytes in, a reader of its replies' lines.
struct Raw {
    w: TcpStream,
    r: BufReader<TcpStream>,
}

impl Raw {
    fn connect(addr: SocketAddr) -> Self {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        Self {
            w: tcp.try_clone().unwrap(),
            r: BufReader::new(tcp),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.w.write_all(bytes).unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.r.read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    }

    /// Read one whole reply (any RESP2 or RESP3 type) and forget it.
    fn skip_reply(&mut self) {
        let line = self.line();
        let (kind, n) = line.split_at(1);
        let n: usize = n.parse().unwrap_or(0);
        match kind {
            "$" | "=" if n > 0 || line != "$-1" => {
                let mut data = vec![0; n + 2];
                self.r.read_exact(&mut data).unwrap();
            }
            "*" | "~" | ">" => (0..n).for_each(|_| self.skip_reply()),
            "%" | "|" => (0..2 * n).for_each(|_| self.skip_reply()),
            _ => {}
        }
    }

    /// Everything until the server closes.
    fn rest(&mut self) -> String {
        let mut rest = String::new();
        let _ = self.r.read_to_string(&mut rest);
        rest
    }
}

#[test]
fn until_auth_only_auth_hello_auth_and_quit_are_served() {
    let server = start("noauth", with_password("pw"));
    let mut c = Raw::connect(server.addr);
    c.send(b"PING\r\nADD 1 1 1 x\r\nMULTI\r\nHELLO 3\r\n");
    for _ in 0..3 {
        assert_eq!(c.line(), "-NOAUTH Authentication required.");
    }
    assert!(c.line().starts_with("-NOAUTH HELLO must be called"));
    c.send(b"AUTH someone pw\r\nAUTH wrong\r\nHELLO 3 AUTH default pw\r\n");
    assert!(c.line().starts_with("-WRONGPASS"), "unknown user");
    assert!(c.line().starts_with("-WRONGPASS"), "wrong password");
    assert_eq!(c.line(), "%7", "HELLO 3's map");
    (0..14).for_each(|_| c.skip_reply());
    c.send(b"COUNT\r\n");
    assert_eq!(c.line(), ":0");
    let mut other = Raw::connect(server.addr);
    other.send(b"AUTH pw\r\nCOUNT\r\nQUIT\r\n");
    assert_eq!(other.line(), "+OK");
    assert_eq!(other.line(), ":0");
    assert_eq!(other.line(), "+OK");
    let (report, _) = server.stop();
    assert_eq!(report.failed_auth, 2);
}

/// A local address that is not loopback (the interface a packet to a
/// documentation address would leave by), if the machine has one.
fn non_loopback_address() -> Option<IpAddr> {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    probe.connect("192.0.2.1:9").ok()?;
    let ip = probe.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

#[test]
fn protected_mode_refuses_remote_clients_until_a_password_is_set() {
    let Some(ip) = non_loopback_address() else {
        util::say(
            "clients",
            "no non-loopback address: protected mode checked by its unit test only",
        );
        return;
    };
    let any = |c: &mut ServerConfig| c.addr = "0.0.0.0:0".parse().unwrap();
    let remote = |server: &Running| SocketAddr::new(ip, server.addr.port());
    // No password: loopback is served, the other address refused.
    let server = start("protected", any);
    let mut local = Raw::connect(SocketAddr::new([127, 0, 0, 1].into(), server.addr.port()));
    local.send(b"PING\r\n");
    assert_eq!(local.line(), "+PONG");
    let mut far = Raw::connect(remote(&server));
    far.send(b"PING\r\n");
    let refusal = far.rest();
    assert!(
        refusal.starts_with("-DENIED") && refusal.contains("--requirepass-file"),
        "{refusal}"
    );
    assert_eq!(server.stop().0.refused, 1);
    // A password: the remote client is served once it authenticates.
    let server = start("protected-pw", |c| {
        any(c);
        with_password("pw")(c);
    });
    let mut far = Raw::connect(remote(&server));
    far.send(b"PING\r\nAUTH pw\r\nPING\r\n");
    assert_eq!(far.line(), "-NOAUTH Authentication required.");
    assert_eq!(far.line(), "+OK");
    assert_eq!(far.line(), "+PONG");
    drop(server);
    // Protected mode off: served without a password.
    let server = start("unprotected", |c| {
        any(c);
        c.protected_mode = false;
    });
    let mut far = Raw::connect(remote(&server));
    far.send(b"PING\r\n");
    assert_eq!(far.line(), "+PONG");
}

#[test]
fn an_auth_brute_force_gets_one_guess_per_turn_and_others_are_served() {
    let server = start("brute", with_password("therealone"));
    let guesses = 20_000;
    let addr = server.addr;
    let attacker = std::thread::spawn(move || {
        let mut c = Raw::connect(addr);
        let mut all = Vec::new();
        for i in 0..guesses {
            all.extend_from_slice(format!("AUTH guess{i}\r\n").as_bytes());
        }
        let writer = {
            let mut w = c.w.try_clone().unwrap();
            std::thread::spawn(move || w.write_all(&all).unwrap())
        };
        let mut refused = 0;
        for _ in 0..guesses {
            if c.line().starts_with("-WRONGPASS") {
                refused += 1;
            }
        }
        writer.join().unwrap();
        refused
    });
    // Meanwhile an ordinary client's round trips are all answered.
    let mut c = Raw::connect(addr);
    c.send(b"AUTH therealone\r\n");
    assert_eq!(c.line(), "+OK");
    let (mut worst, started) = (Duration::ZERO, Instant::now());
    for _ in 0..500 {
        let t = Instant::now();
        c.send(b"PING\r\n");
        assert_eq!(c.line(), "+PONG");
        worst = worst.max(t.elapsed());
    }
    util::say(
        "clients",
        &format!(
            "500 PINGs during a {guesses}-guess AUTH brute force: {:?} in all, slowest {worst:?}",
            started.elapsed()
        ),
    );
    assert_eq!(attacker.join().unwrap(), guesses);
    let (report, _) = server.stop();
    assert_eq!(report.failed_auth, guesses);
}

#[test]
fn malformed_resp3_frames_get_typed_errors_and_close() {
    let server = start("resp3-frames", |_| {});
    for (frame, expected) in [
        (
            &b"%1\r\n$1\r\na\r\n$1\r\nb\r\n"[..],
            "found a '%' frame at byte 0",
        ),
        (b"|1\r\n$3\r\nttl\r\n:1\r\n", "found a '|' frame at byte 0"),
        (b">2\r\n$4\r\nPING\r\n", "found a '>' frame at byte 0"),
        (b"_\r\n", "found a '_' frame at byte 0"),
        (
            b"*2\r\n$4\r\nECHO\r\n%1\r\n",
            "expected '$' at byte 14, found '%'",
        ),
        (b"*1\r\n,1.5\r\n", "expected '$' at byte 4, found ','"),
    ] {
        let mut c = Raw::connect(server.addr);
        c.send(b"HELLO 3\r\n");
        assert_eq!(c.line(), "%7");
        (0..14).for_each(|_| c.skip_reply());
        c.send(frame);
        let rest = c.rest();
        assert!(
            rest.starts_with("-ERR Protocol error:") && rest.contains(expected),
            "{:?}: {rest}",
            String::from_utf8_lossy(frame)
        );
    }
}

#[test]
fn transactions_are_bounded_by_the_existing_limits() {
    // max_pending 1024 (default) caps a transaction; the ring (256, the
    // window) caps what EXEC can publish at once.
    let server = start("exec-limits", |_| {});
    let mut c = Raw::connect(server.addr);
    let mut out = b"MULTI\r\n".to_vec();
    for id in 1..=10_000 {
        out.extend_from_slice(format!("ADD {id} 1 1 Item\r\n").as_bytes());
    }
    out.extend_from_slice(b"EXEC\r\nCOUNT\r\n");
    c.send(&out);
    assert_eq!(c.line(), "+OK");
    let (mut queued, mut refused) = (0, 0);
    for _ in 0..10_000 {
        match c.line().as_str() {
            "+QUEUED" => queued += 1,
            l if l.contains("at most 1024 commands") => refused += 1,
            other => panic!("{other}"),
        }
    }
    assert_eq!((queued, refused), (1024, 8976));
    assert!(c.line().starts_with("-EXECABORT"));
    assert_eq!(c.line(), ":0", "nothing of it applied");
    // Queued within max_pending but larger than the window.
    let mut out = b"MULTI\r\n".to_vec();
    for id in 1..=300 {
        out.extend_from_slice(format!("ADD {id} 1 1 Item\r\n").as_bytes());
    }
    out.extend_from_slice(b"EXEC\r\nCOUNT\r\n");
    c.send(&out);
    for _ in 0..301 {
        c.line();
    }
    let abort = c.line();
    assert!(
        abort.starts_with("-EXECABORT") && abort.contains("256"),
        "{abort}"
    );
    assert_eq!(c.line(), ":0");
    // One that fits: its replies as one array, all applied.
    let mut out = b"MULTI\r\n".to_vec();
    for id in 1..=200 {
        out.extend_from_slice(format!("ADD {id} 1 1 Item\r\n").as_bytes());
    }
    out.extend_from_slice(b"PING\r\nEXEC\r\nCOUNT\r\nEXEC\r\nDISCARD\r\n");
    c.send(&out);
    for _ in 0..202 {
        c.line();
    }
    assert_eq!(c.line(), "*201");
    for _ in 0..200 {
        assert_eq!(c.line(), "*5");
        for _ in 0..6 {
            c.line();
        }
    }
    assert_eq!(c.line(), "+PONG");
    assert_eq!(c.line(), ":200");
    assert_eq!(c.line(), "-ERR EXEC without MULTI");
    assert_eq!(c.line(), "-ERR DISCARD without MULTI");
    // Every request counted once, an EXEC that waited for room included:
    // 10,003 + 303 + 206 sent.
    let (report, _) = server.stop();
    assert_eq!(report.requests, 10_512);
}

// ---- TLS -----------------------------------------------------------------

#[cfg(feature = "tls")]
mod tls {
    use super::*;

    /// A CA, a server certificate for `localhost` and 127.0.0.1 and a client
    /// certificate, both signed by it, as PEM files in `dir`.
    struct Certificates {
        ca: std::path::PathBuf,
        cert: std::path::PathBuf,
        key: std::path::PathBuf,
        client_cert: std::path::PathBuf,
        client_key: std::path::PathBuf,
    }

    fn certificates(dir: &std::path::Path) -> Certificates {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        std::fs::create_dir_all(dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "ringmaster test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let signed = |names: Vec<String>| {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names.clone()).unwrap();
            params
                .distinguished_name
                .push(DnType::CommonName, names[0].as_str());
            let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = signed(vec!["localhost".into(), "127.0.0.1".into()]);
        let (client_cert, client_key) = signed(vec!["shop-client".into()]);
        let write = |name: &str, pem: &str| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };
        Certificates {
            ca: write("ca.pem", &ca.pem()),
            cert: write("cert.pem", &server_cert),
            key: write("key.pem", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client-key.pem", &client_key),
        }
    }

    fn with_tls(certs: &Certificates, client_ca: bool) -> impl FnOnce(&mut ServerConfig) + '_ {
        move |c| {
            let mut tls = ringmaster::ingress::TlsConfig::new(&certs.cert, &certs.key);
            if client_ca {
                tls = tls.client_ca(&certs.ca);
            }
            c.tls = Some(tls.load().unwrap());
        }
    }

    #[test]
    fn redis_py_and_redis_cli_over_tls_with_a_password() {
        let dir = util::tempdir("clients", "tls-certs");
        let certs = certificates(dir.path());
        let server = start("tls", |c| {
            with_tls(&certs, false)(c);
            with_password("pw")(c);
        });
        let port = server.addr.port();
        let ca = certs.ca.to_str().unwrap();
        let out = tools::python(REDIS_PY_EVERYTHING, &[&port.to_string(), "pw", ca]);
        assert_eq!(out.trim(), "ok");
        let tls = ["--tls", "--cacert", ca, "--pass", "pw", "--no-auth-warning"];
        let out = redis_cli(port, &tls, "MULTI\nUPDATE 7 STOCK 1\nEXEC\nDBSIZE\n");
        assert!(out.starts_with("OK\nQUEUED\n"), "{out}");
        assert!(out.trim_end().ends_with("502"), "{out}");
        // A client that does not speak TLS gets nothing it can read as RESP.
        let mut plain = Raw::connect(server.addr);
        plain.send(b"PING\r\n");
        assert!(!plain.rest().starts_with('+'));
    }

    #[test]
    fn client_certificates_are_required_when_a_ca_is_given() {
        let dir = util::tempdir("clients", "tls-mutual");
        let certs = certificates(dir.path());
        let server = start("tls-mutual", with_tls(&certs, true));
        let port = server.addr.port();
        let ca = certs.ca.to_str().unwrap();
        let with_cert = [
            "--tls",
            "--cacert",
            ca,
            "--cert",
            certs.client_cert.to_str().unwrap(),
            "--key",
            certs.client_key.to_str().unwrap(),
        ];
        assert_eq!(redis_cli(port, &with_cert, "PING\n").trim(), "PONG");
        let out = std::process::Command::new(tools::redis_cli())
            .args(["-p", &port.to_string(), "--tls", "--cacert", ca, "PING"])
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !all.contains("PONG"),
            "served without a client certificate: {all}"
        );
    }

    #[test]
    fn a_tls_handshake_that_never_finishes_is_closed_at_its_timeout() {
        let dir = util::tempdir("clients", "tls-stall");
        let certs = certificates(dir.path());
        let server = start("tls-stall", |c| {
            with_tls(&certs, false)(c);
            c.tls_handshake_timeout = Duration::from_millis(300);
        });
        // One says nothing; one sends the first bytes of a ClientHello.
        let mut silent = Raw::connect(server.addr);
        let mut partial = Raw::connect(server.addr);
        partial.send(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]);
        let started = Instant::now();
        assert_eq!(silent.rest(), "", "closed with nothing sent");
        assert_eq!(partial.rest(), "");
        util::say(
            "clients",
            &format!(
                "stalled TLS handshakes closed after {:?} (timeout 300 ms)",
                started.elapsed()
            ),
        );
        // An ordinary TLS client meanwhile is served.
        let ca = certs.ca.to_str().unwrap();
        assert_eq!(
            redis_cli(server.addr.port(), &["--tls", "--cacert", ca], "PING\n").trim(),
            "PONG"
        );
        let (report, _) = server.stop();
        assert_eq!(report.handshake_timeouts, 2);
    }
}

// ---- Prometheus ----------------------------------------------------------

#[cfg(feature = "prometheus")]
mod prometheus {
    use super::*;

    /// `GET path` on the metrics endpoint: the status line and the body.
    fn http_get(addr: SocketAddr, request: &str) -> (String, String) {
        let mut tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        tcp.write_all(request.as_bytes()).unwrap();
        let mut response = String::new();
        tcp.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().to_owned(), body.to_owned())
    }

    fn value(body: &str, series: &str) -> f64 {
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {series} in\n{body}"))
            .parse()
            .unwrap()
    }

    #[test]
    fn the_metrics_endpoint_passes_promtool_and_counts_what_happened() {
        let server = start("metrics", |c| {
            c.metrics_addr = Some("127.0.0.1:0".parse().unwrap());
            with_password("pw")(c);
        });
        let metrics = server.metrics_addr.expect("metrics endpoint");
        let mut c = Raw::connect(server.addr);
        c.send(
            b"AUTH wrong\r\nAUTH pw\r\nADD 1 100 1 Mug\r\nUPDATE 1 STOCK 5\r\nGET 1\r\nFROB\r\n",
        );
        for _ in 0..6 {
            c.skip_reply();
        }
        let (status, body) = http_get(metrics, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(status, "HTTP/1.1 200 OK");
        let mut check = std::process::Command::new(tools::promtool())
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        check
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        let out = check.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}\n{body}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(value(&body, "ringmaster_connected_clients"), 1.0);
        assert_eq!(value(&body, "ringmaster_auth_failures_total"), 1.0);
        assert_eq!(value(&body, "ringmaster_commands_published_total"), 3.0);
        assert_eq!(value(&body, "ringmaster_bad_requests_total"), 1.0);
        assert_eq!(value(&body, "ringmaster_journal_records_total"), 2.0);
        assert_eq!(value(&body, "ringmaster_journal_next_sequence"), 2.0);
        assert!(
            value(
                &body,
                "ringmaster_stage_latency_seconds_count{stage=\"responder\"}"
            ) >= 0.0
        );
        // Anything but GET /metrics is refused; an oversized request too.
        assert!(http_get(metrics, "GET / HTTP/1.1\r\n\r\n")
            .0
            .contains("404"));
        assert!(http_get(metrics, "POST /metrics HTTP/1.1\r\n\r\n")
            .0
            .contains("405"));
        let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
        assert!(http_get(metrics, &huge).0.contains("431"));
        // A scraper that connects and says nothing delays other scrapes by
        // at most its timeout, and the shop not at all.
        let _silent = TcpStream::connect(metrics).unwrap();
        c.send(b"PING\r\n");
        assert_eq!(c.line(), "+PONG");
    }
}
