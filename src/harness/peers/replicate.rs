//! The `replicate` scenario: replicated write throughput and the
//! standby's lag, ringmaster against Redis, driven by the same load.
//!
//! - ringmaster: `serve --replicate` (in this process, `Periodic`
//!   durability flushed every second) into a nats-server with JetStream (a
//!   child process), and a standby (`ringmaster standby`, a child process)
//!   following the stream and serving reads; once with replies after the local commit
//!   (`ringmaster`, asynchronous replication as Redis does it) and once
//!   with replies after the stream's acknowledgement (`acked`).
//! - redis: a primary and a replica (`replicaof`), both `appendonly yes`,
//!   `appendfsync everysec`.
//!
//! The load is the `tcp` scenario's generator with writes only (ADD
//! against SET, 50 connections, pipelines of 16). Meanwhile a prober
//! writes a timestamp to the primary every 10 ms and polls the standby
//! until it shows it: the latency columns are that lag, from the primary's
//! acknowledgement to the value being readable on the standby, measured the
//! same way for both. Each run also prints the lag as each system reports
//! it: the standby's records behind the stream, Redis's replica offset
//! behind the primary's in bytes.

use super::tcp::{load, outcome, serve_shop_config, RedisServer};
use crate::harness::event::new_histogram;
use crate::harness::params::{Outcome, Params};
use crate::harness::tcp_load::{self, Dialect, RespConn};
use crate::ingress::{Server, ServerConfig, ServerRole};
use crate::shop::{AckMode, ReplicatedShop, ReplicationConfig};
use hdrhistogram::Histogram;
use std::io::{self, BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The id (shop) of the prober's product, outside the load's keyspace.
const PROBE_ID: u64 = 2_000_000_000;
/// How often the prober writes.
const PROBE_EVERY: Duration = Duration::from_millis(10);
/// A probe not seen on the standby within this counts as this.
const PROBE_GIVE_UP: Duration = Duration::from_secs(10);

/// The nats-server binary, where installed.
pub fn nats_binary() -> Option<PathBuf> {
    [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
    .or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("nats-server"))
                .find(|p| p.exists())
        })
    })
}

/// A nats-server child with JetStream on a free loopback port, killed and
/// its storage removed on drop.
#[derive(Debug)]
pub struct Nats {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Nats {
    /// Start one (the binary must be installed: [`nats_binary`]).
    ///
    /// # Errors
    ///
    /// Not installed, or not listening within 5 s.
    pub fn start() -> Result<Self, String> {
        let binary = nats_binary().ok_or("nats-server is not installed")?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let dir =
            std::env::temp_dir().join(format!("ringmaster-bench-nats-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let child = Command::new(binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("nats-server: {e}"))?;
        let nats = Self {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            dir,
        };
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(nats);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Err("nats-server did not start".into())
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// How the prober writes a timestamp and reads it back.
#[derive(Clone, Copy)]
enum Probe {
    Shop,
    Redis,
}

impl Probe {
    fn write(self, c: &mut RespConn, value: u64) -> io::Result<()> {
        match self {
            Probe::Shop => c.call(&["UPDATE", &PROBE_ID.to_string(), "PRICE", &value.to_string()]),
            Probe::Redis => c.call(&["SET", "rm:probe", &value.to_string()]),
        }
        .map(drop)
    }

    fn read(self, c: &mut RespConn) -> io::Result<u64> {
        let id = PROBE_ID.to_string();
        let (command, field) = match self {
            Probe::Shop => (["GET", id.as_str()], 2),
            Probe::Redis => (["GET", "rm:probe"], 0),
        };
        let reply = c.call(&command)?;
        Ok(reply.get(field).and_then(|v| v.parse().ok()).unwrap_or(0))
    }
}

/// Until `stop`: write a timestamp to the primary, poll the replica until
/// it shows it, record the time from the write's acknowledgement to then;
/// and `sample` the system's own lag figure once per probe.
fn probe(
    probe: Probe,
    primary: SocketAddr,
    replica: SocketAddr,
    stop: &AtomicBool,
    mut sample: impl FnMut() -> Option<u64>,
) -> io::Result<(Histogram<u64>, Histogram<u64>)> {
    let (mut to, mut from) = (RespConn::open(primary)?, RespConn::open(replica)?);
    let mut lag = new_histogram();
    let mut own = new_histogram();
    let mut value = 0u64;
    while !stop.load(Ordering::Relaxed) {
        value += 1;
        probe.write(&mut to, value)?;
        let acked = Instant::now();
        while probe.read(&mut from)? < value && acked.elapsed() < PROBE_GIVE_UP {
            std::thread::sleep(Duration::from_micros(200));
        }
        let _ = lag.record(acked.elapsed().as_nanos() as u64);
        if let Some(v) = sample() {
            let _ = own.record(v);
        }
        std::thread::sleep(PROBE_EVERY);
    }
    Ok((lag, own))
}

fn show(what: &str, h: &Histogram<u64>, unit: &str) {
    if !h.is_empty() {
        eprintln!(
            "  replicate/{what}: p50 {} {unit}, p99 {} {unit}, max {} {unit} ({} samples)",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.max(),
            h.len()
        );
    }
}

/// Writes only: the `tcp` load with every request a write.
fn write_load(addr: SocketAddr, p: &Params, dialect: Dialect) -> tcp_load::TcpLoad {
    let mut l = load(addr, p, dialect, false);
    l.write_percent = 100;
    l
}

/// A `ringmaster standby` child process, killed on drop.
struct StandbyProcess {
    child: Child,
    addr: SocketAddr,
}

impl StandbyProcess {
    fn start(url: &str, dir: &std::path::Path) -> Result<Self, String> {
        let binary = super::shm::ringmaster_binary().ok_or("the ringmaster binary is not built")?;
        let mut child = Command::new(binary)
            .args(["standby", "--addr", "127.0.0.1:0", "--from", url])
            .args(["--stream", "bench", "--consumer", "bench"])
            .args(["--durability", "periodic", "--flush-ms", "1000"])
            .arg("--data")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("ringmaster standby: {e}"))?;
        let mut stderr = BufReader::new(child.stderr.take().ok_or("no stderr")?);
        let mut line = String::new();
        let addr = loop {
            line.clear();
            if stderr.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                let _ = child.kill();
                let _ = child.wait();
                return Err("ringmaster standby exited before serving".into());
            }
            if let Some(rest) = line.split("serving the shop on ").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .and_then(|a| a.parse().ok())
                    .ok_or("no address in the standby's banner")?;
            }
        };
        // Drain its stderr so it never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Ok(Self { child, addr })
    }

    /// The records the standby reports itself behind the stream.
    fn lag_records(&self, conn: &mut Option<RespConn>) -> Option<u64> {
        if conn.is_none() {
            *conn = RespConn::open(self.addr).ok();
        }
        let info = conn.as_mut()?.call(&["INFO"]).ok()?.first()?.clone();
        info.lines()
            .find_map(|l| l.strip_prefix("repl_lag_records:"))?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for StandbyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ringmaster(p: &Params, ack: AckMode) -> Result<Outcome, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let nats = Nats::start()?;
    let base = std::env::temp_dir().join(format!("ringmaster-bench-repl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let repl = ReplicationConfig::new(&nats.url).stream("bench").ack(ack);
    let primary = ReplicatedShop::primary(serve_shop_config(base.join("primary")), repl)
        .map_err(|x| e(&x))?;
    let mut config = ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.role = Some(Arc::new(primary.handle()) as Arc<dyn ServerRole>);
    let server = Server::bind(primary.shop(), config).map_err(|x| e(&x))?;
    let (p_addr, p_handle) = (server.local_addr(), server.handle());
    let p_thread = std::thread::spawn(move || server.run());
    // The standby in a process of its own, as Redis's replica is.
    let measured = StandbyProcess::start(&nats.url, &base.join("standby")).and_then(|standby| {
        RespConn::open(p_addr)
            .and_then(|mut c| {
                c.call(&["ADD", &PROBE_ID.to_string(), "0", "0", "probe"])
                    .map(drop)
            })
            .map_err(|x| e(&x))?;
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            let prober = s.spawn(|| {
                let mut info = None;
                probe(Probe::Shop, p_addr, standby.addr, &stop, || {
                    standby.lag_records(&mut info)
                })
            });
            let report = tcp_load::run(&write_load(p_addr, p, Dialect::Shop));
            stop.store(true, Ordering::Relaxed);
            let lag = prober.join().map_err(|_| "prober panicked".to_string())?;
            Ok((report.map_err(|x| e(&x))?, lag.map_err(|x| e(&x))?))
        })
    });
    p_handle.stop();
    let _ = p_thread.join();
    if let crate::shop::ReplicationInfo::Primary {
        acked, messages, ..
    } = primary.handle().info()
    {
        eprintln!(
            "  replicate/{}: {acked} records in {messages} messages ({:.0} per message)",
            if ack == AckMode::Local {
                "ringmaster"
            } else {
                "acked"
            },
            acked as f64 / messages.max(1) as f64
        );
    }
    let closed = primary.close();
    drop(nats);
    let _ = std::fs::remove_dir_all(&base);
    closed.map_err(|x| e(&x))?;
    let (report, (lag, records)) = measured?;
    show(
        "standby lag as it reports it (records behind the stream)",
        &records,
        "records",
    );
    let mut out = outcome(report)?;
    out.histogram = Some(lag);
    Ok(out)
}

/// ringmaster replicating, replies after the local commit.
pub fn ringmaster_replicated(p: &Params) -> Result<Outcome, String> {
    ringmaster(p, AckMode::Local)
}

/// ringmaster replicating, replies after the stream's acknowledgement.
pub fn ringmaster_acked(p: &Params) -> Result<Outcome, String> {
    ringmaster(p, AckMode::Replicated)
}

/// Redis's replica offset behind its primary's, in bytes.
fn redis_offset_lag(primary: SocketAddr) -> Option<u64> {
    let mut c = RespConn::open(primary).ok()?;
    let info = c.call(&["INFO", "replication"]).ok()?.first()?.clone();
    let master: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("master_repl_offset:"))?
        .trim()
        .parse()
        .ok()?;
    let replica: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("slave0:"))?
        .split(',')
        .find_map(|kv| kv.strip_prefix("offset="))?
        .parse()
        .ok()?;
    Some(master.saturating_sub(replica))
}

/// redis-server with a replica.
pub fn redis_replicated(p: &Params) -> Result<Outcome, String> {
    let primary = RedisServer::start_with("primary", &[])?;
    let port = primary.addr.port().to_string();
    let replica = RedisServer::start_with("replica", &["--replicaof", "127.0.0.1", &port])?;
    let started = Instant::now();
    loop {
        let up = RespConn::open(replica.addr)
            .and_then(|mut c| c.call(&["INFO", "replication"]).map(|r| r.join("\n")))
            .is_ok_and(|info| info.contains("master_link_status:up"));
        if up {
            break;
        }
        if started.elapsed() > Duration::from_secs(20) {
            return Err("the Redis replica did not connect to its primary".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let stop = AtomicBool::new(false);
    let (report, lag) = std::thread::scope(|s| {
        let prober = s.spawn(|| {
            probe(Probe::Redis, primary.addr, replica.addr, &stop, || {
                redis_offset_lag(primary.addr)
            })
        });
        let report = tcp_load::run(&write_load(primary.addr, p, Dialect::Redis));
        stop.store(true, Ordering::Relaxed);
        (report, prober.join())
    });
    drop(replica);
    drop(primary);
    let (lag, offsets) = lag
        .map_err(|_| "prober panicked".to_string())?
        .map_err(|e| e.to_string())?;
    show(
        "redis replica offset lag as it reports it (bytes)",
        &offsets,
        "bytes",
    );
    let mut out = outcome(report.map_err(|e| e.to_string())?)?;
    out.histogram = Some(lag);
    Ok(out)
}
