//! The `tcp` and `tcp-latency` scenarios: the shop served over loopback by
//! `ringmaster serve`'s server (in this process, `Periodic` durability,
//! flushed every second) against `redis-server` (a child process,
//! `appendonly yes`, `appendfsync everysec`) when it is installed, both
//! driven by the same generator: 50 connections, pipelines of 16, half
//! writes (ADD against SET), half reads (GET against GET); the paced runs
//! use 10 connections, one request in flight each, 20,000 requests/s.

use crate::harness::params::{Outcome, Params};
use crate::harness::tcp_load::{self, Dialect, TcpLoad};
use crate::ingress::{Server, ServerConfig};
use crate::journal::Durability;
use crate::shop::{Shop, ShopConfig};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Most requests one throughput run sends.
pub const MAX_TCP_REQUESTS: u64 = 1_000_000;
/// Rate of the paced latency runs (requests per second, all connections).
pub const PACED_RATE: u64 = 20_000;
/// Connections of the throughput runs.
pub const CONNECTIONS: usize = 50;
/// Connections of the paced runs (one request in flight on each).
pub const PACED_CONNECTIONS: usize = 10;
/// Pipeline depth.
pub const PIPELINE: usize = 16;
/// Ids drawn from `1..=KEYSPACE`.
const KEYSPACE: u64 = 1_000_000;

/// The shop a server contender runs on, in `dir`: a flush every second
/// (the promise of Redis's `appendfsync everysec`), the batch limit
/// `ringmaster serve` takes for that durability
/// ([`server_max_batch`](crate::ingress::server_max_batch)), no snapshot
/// on close.
pub(super) fn serve_shop_config(dir: impl Into<std::path::PathBuf>) -> ShopConfig {
    let durability = Durability::Periodic(Duration::from_secs(1));
    ShopConfig::new(dir)
        .durability(durability)
        .max_batch(crate::ingress::server_max_batch(durability))
        .snapshot_on_close(false)
}

pub(crate) fn load(addr: SocketAddr, p: &Params, dialect: Dialect, paced: bool) -> TcpLoad {
    TcpLoad {
        addr,
        connections: if paced {
            PACED_CONNECTIONS
        } else {
            CONNECTIONS
        },
        pipeline: if paced { 1 } else { PIPELINE },
        requests: p.events,
        write_percent: 50,
        keyspace: KEYSPACE,
        rate: paced.then_some(p.rate.min(PACED_RATE)),
        dialect,
    }
}

pub(crate) fn outcome(report: tcp_load::TcpLoadReport) -> Result<Outcome, String> {
    if report.errors > 0 {
        return Err(format!("{} error replies", report.errors));
    }
    let n = report.requests;
    Ok(Outcome {
        received: n,
        checksum: n.wrapping_mul(n.wrapping_sub(1)) / 2,
        elapsed_ns: report.elapsed_ns,
        batches: 0,
        histogram: Some(report.latency_ns),
        batch_sizes: None,
    })
}

/// The client-memory limit of the `tcp-flood` runs.
pub const FLOOD_LIMIT: usize = 64 << 20;

/// How a run's server is treated besides the measured load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Others {
    /// Nobody else (the server's default limits).
    None,
    /// Nobody else, under the flood runs' memory limit.
    Quiet,
    /// Hostile clients flood it, under the flood runs' memory limit.
    Flood,
}

fn ringmaster(p: &Params, paced: bool) -> Result<Outcome, String> {
    ringmaster_with(p, paced, Others::None)
}

fn ringmaster_with(p: &Params, paced: bool, others: Others) -> Result<Outcome, String> {
    let dir = std::env::temp_dir().join(format!("ringmaster-bench-tcp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let shop = Shop::open(serve_shop_config(&dir)).map_err(|x| e(&x))?;
    let mut config = ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    if others != Others::None {
        config.max_client_memory = FLOOD_LIMIT;
    }
    let server = Server::bind(&shop, config).map_err(|x| e(&x))?;
    let (addr, handle) = (server.local_addr(), server.handle());
    let serving = std::thread::spawn(move || server.run());
    let stop = Arc::new(AtomicBool::new(false));
    let closed = Arc::new(AtomicU64::new(0));
    let flood = (others == Others::Flood).then(|| {
        let (stop, closed) = (Arc::clone(&stop), Arc::clone(&closed));
        std::thread::spawn(move || crate::harness::tcp_flood::run(addr, &stop, &closed))
    });
    // The load is measured under pressure from its start: the flood has
    // gone over the limit once (a client was closed) before it begins.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while flood.is_some()
        && closed.load(Ordering::Relaxed) == 0
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let pressed = flood.is_none() || closed.load(Ordering::Relaxed) > 0;
    let report = pressed.then(|| tcp_load::run(&load(addr, p, Dialect::Shop, paced)));
    stop.store(true, Ordering::Relaxed);
    if let Some(flood) = flood {
        flood
            .join()
            .map_err(|_| "flood thread panicked".to_string())?;
    }
    handle.stop();
    let served = serving
        .join()
        .map_err(|_| "server thread panicked".to_string())?;
    shop.close().map_err(|x| e(&x))?;
    let _ = std::fs::remove_dir_all(&dir);
    served.map_err(|x| e(&x))?;
    let Some(report) = report else {
        return Err("the flood never went over the limit in 30 s: no client was closed".into());
    };
    outcome(report.map_err(|x| e(&x))?)
}

/// `ringmaster serve`'s server, unpaced.
pub fn ringmaster_tcp(p: &Params) -> Result<Outcome, String> {
    ringmaster(p, false)
}

/// `ringmaster serve`'s server, paced (latency).
pub fn ringmaster_tcp_paced(p: &Params) -> Result<Outcome, String> {
    ringmaster(p, true)
}

/// The paced load while hostile clients flood the server (`tcp-flood`).
pub fn ringmaster_tcp_flooded(p: &Params) -> Result<Outcome, String> {
    ringmaster_with(p, true, Others::Flood)
}

/// The paced load on a quiet server with the flood runs' memory limit.
pub fn ringmaster_tcp_quiet(p: &Params) -> Result<Outcome, String> {
    ringmaster_with(p, true, Others::Quiet)
}

/// Whether `redis-server` can be run.
pub fn redis_available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A `redis-server` child (AOF, fsync every second, no RDB), killed and
/// its directory removed on drop.
pub(crate) struct RedisServer {
    child: Child,
    pub(crate) addr: SocketAddr,
    dir: std::path::PathBuf,
}

impl RedisServer {
    fn start() -> Result<Self, String> {
        Self::start_with("primary", &[])
    }

    /// One more, named `tag` (its directory), with `extra` arguments
    /// (`--replicaof HOST PORT`, say).
    pub(crate) fn start_with(tag: &str, extra: &[&str]) -> Result<Self, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let dir = std::env::temp_dir().join(format!(
            "ringmaster-bench-redis-{tag}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(&dir)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("redis-server: {e}"))?;
        let server = Self {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
        };
        for _ in 0..100 {
            if let Ok(mut tcp) = TcpStream::connect(server.addr) {
                let mut pong = [0u8; 7];
                if tcp.write_all(b"PING\r\n").is_ok() && tcp.read_exact(&mut pong).is_ok() {
                    return Ok(server);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err("redis-server did not answer PING".into())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn redis(p: &Params, paced: bool) -> Result<Outcome, String> {
    let server = RedisServer::start()?;
    let report = tcp_load::run(&load(server.addr, p, Dialect::Redis, paced));
    drop(server);
    outcome(report.map_err(|e| e.to_string())?)
}

/// `redis-server`, unpaced.
pub fn redis_tcp(p: &Params) -> Result<Outcome, String> {
    redis(p, false)
}

/// `redis-server`, paced (latency).
pub fn redis_tcp_paced(p: &Params) -> Result<Outcome, String> {
    redis(p, true)
}
