//! `ringmaster serve` and `ringmaster standby`: the shop over TCP (RESP2/3)
//! until SIGINT or SIGTERM, alone, as a replicating primary, or as a
//! standby; and `ringmaster promote`.

use ringmaster::harness::tcp_load::RespConn;
use ringmaster::ingress::{Server, ServerConfig, ServerError, ServerRole};
use ringmaster::journal::Durability;
use ringmaster::shop::{
    AckMode, CloseReport, ReplicatedShop, ReplicationConfig, Shop, ShopConfig, ShopError,
    StageThreads,
};
use ringmaster::WaitStrategy;
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What `serve` was asked for.
#[derive(Debug)]
pub(crate) struct ServeOptions {
    pub(crate) addr: SocketAddr,
    pub(crate) data: PathBuf,
    pub(crate) durability: Durability,
    pub(crate) ring_capacity: u64,
    pub(crate) wait: WaitStrategy,
    pub(crate) pin: bool,
    pub(crate) stage_threads: StageThreads,
    pub(crate) reserve_products: u64,
    pub(crate) max_batch: u64,
    pub(crate) max_connections: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_client_memory: usize,
    /// `--requirepass-file` / `--requirepass`.
    pub(crate) password: Option<ringmaster::ingress::Password>,
    pub(crate) protected_mode: bool,
    /// `--tls-cert --tls-key [--tls-ca]`.
    pub(crate) tls: Option<ringmaster::ingress::TlsAcceptor>,
    /// `--metrics-addr`.
    pub(crate) metrics_addr: Option<SocketAddr>,
    pub(crate) ring_file: Option<PathBuf>,
    /// `--replicate`: the NATS server to stream the journal to.
    pub(crate) replicate: Option<String>,
    pub(crate) stream: String,
    pub(crate) ack: AckMode,
    /// `standby --from URL --consumer NAME`.
    pub(crate) standby: Option<(String, String)>,
}

/// The shop, alone or with replication.
enum Node {
    Alone(Shop),
    Replicated(ReplicatedShop),
}

impl Node {
    fn shop(&self) -> &Shop {
        match self {
            Node::Alone(shop) => shop,
            Node::Replicated(node) => node.shop(),
        }
    }

    fn close(self) -> Result<CloseReport, ShopError> {
        match self {
            Node::Alone(shop) => shop.close(),
            Node::Replicated(node) => node.close(),
        }
    }
}

pub(crate) fn run(o: ServeOptions) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = ShopConfig::new(&o.data)
        .durability(o.durability)
        .ring_capacity(o.ring_capacity)
        .wait_strategy(o.wait)
        .pin(o.pin)
        .stage_threads(o.stage_threads)
        .reserve_products(o.reserve_products)
        .max_batch(o.max_batch);
    if let Some(path) = &o.ring_file {
        config = config.ring_file(path);
    }
    let replication = |url: &str| {
        ReplicationConfig::new(url)
            .stream(&o.stream)
            .ack(o.ack)
            .primary_name(format!("{} (pid {})", o.addr, std::process::id()))
    };
    let node = match (&o.standby, &o.replicate) {
        (Some((url, consumer)), _) => Node::Replicated(ReplicatedShop::standby(
            config,
            replication(url).consumer(consumer),
        )?),
        (None, Some(url)) => Node::Replicated(ReplicatedShop::primary(config, replication(url))?),
        (None, None) => Node::Alone(Shop::open(config)?),
    };
    let handle = match &node {
        Node::Replicated(r) => Some(r.handle()),
        Node::Alone(_) => None,
    };
    let opened = node.shop().open_report();
    eprintln!(
        "ringmaster: data {} ({} products restored: snapshot {:?}, {} journal records replayed)",
        o.data.display(),
        opened.products,
        opened.snapshot,
        opened.replayed,
    );
    if opened.discarded > 0 {
        eprintln!(
            "ringmaster: {} writes of a transaction cut short by a crash were not applied \
             (it was never acknowledged)",
            opened.discarded
        );
    }
    let mut server_config = ServerConfig::new(o.addr);
    server_config.max_connections = o.max_connections;
    server_config.idle_timeout = o.idle_timeout;
    server_config.max_client_memory = o.max_client_memory;
    server_config.password = o.password.clone();
    server_config.protected_mode = o.protected_mode;
    server_config.tls = o.tls.clone();
    server_config.metrics_addr = o.metrics_addr;
    server_config.role = handle.clone().map(|h| Arc::new(h) as Arc<dyn ServerRole>);
    let server = Server::bind(node.shop(), server_config)?;
    let stopper = server.handle();
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGUSR1])?;
    let signal_handle = signals.handle();
    let promoter = handle.clone();
    let watcher = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signal == SIGUSR1 {
                    match &promoter {
                        Some(h) => {
                            eprintln!("ringmaster: SIGUSR1: promoting");
                            if let Err(e) = h.request_promotion() {
                                eprintln!("ringmaster: promotion failed: {e}");
                            }
                        }
                        None => eprintln!("ringmaster: SIGUSR1 ignored: not a standby"),
                    }
                    continue;
                }
                eprintln!("ringmaster: signal {signal}: finishing in-flight commands");
                stopper.stop();
                break;
            }
        })?;
    let role = match (&o.standby, &o.replicate) {
        (Some((url, _)), _) => format!("standby of stream {} at {url}", o.stream),
        (None, Some(url)) => format!(
            "primary replicating to stream {} at {url}, ack {:?}",
            o.stream, o.ack
        ),
        (None, None) => "alone".into(),
    };
    let security = match (o.tls.is_some(), o.password.is_some()) {
        (true, true) => "TLS, password",
        (true, false) => "TLS",
        (false, true) => "password",
        (false, false) if o.protected_mode => "no password: loopback clients only",
        (false, false) => "no password, not protected",
    };
    eprintln!(
        "ringmaster: serving the shop on {} (durability {:?}; {role}; {security}); Ctrl-C stops",
        server.local_addr(),
        o.durability
    );
    if let Some(addr) = server.metrics_addr() {
        eprintln!("ringmaster: Prometheus metrics at http://{addr}/metrics");
    }
    let served = server.run();
    signal_handle.close();
    let _ = watcher.join();
    let report = match served {
        Err(ServerError::EngineStopped) => {
            // The shop says which stage failed and why.
            let why = node
                .close()
                .err()
                .map_or_else(|| "unknown".to_owned(), |e| e.to_string());
            return Err(format!("the shop's engine stopped: {why}").into());
        }
        other => other?,
    };
    let closed = node.close()?;
    eprintln!(
        "ringmaster: stopped: {} connections, {} requests ({} published, {} bad), {} snapshots written",
        report.accepted,
        report.requests,
        report.published,
        report.bad_requests,
        closed.snapshots_written,
    );
    Ok(())
}

/// `ringmaster promote`: ask the standby at `addr` to promote itself, and
/// wait until its `INFO` says `role:master`.
pub(crate) fn promote(
    addr: SocketAddr,
    timeout: Duration,
    password_file: Option<&std::path::Path>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut conn = RespConn::open(addr)?;
    if let Some(file) = password_file {
        let password = ringmaster::ingress::Password::from_file(file)?;
        let password = std::str::from_utf8(password.expose())
            .map_err(|_| format!("{}: the password is not UTF-8", file.display()))?;
        conn.call(&["AUTH", password])
            .map_err(|e| format!("{addr}: {e}"))?;
    }
    conn.call(&["PROMOTE"])
        .map_err(|e| format!("{addr}: {e}"))?;
    let started = Instant::now();
    loop {
        let info = conn.call(&["INFO"])?.concat();
        if info.lines().any(|l| l == "role:master") {
            eprintln!("ringmaster: {addr} is the primary");
            return Ok(());
        }
        if let Some(error) = info
            .lines()
            .find_map(|l| l.strip_prefix("repl_last_error:"))
            .filter(|e| !e.is_empty())
        {
            if !info.lines().any(|l| l == "repl_promoting:1") {
                return Err(format!("{addr}: promotion failed: {error}").into());
            }
        }
        if started.elapsed() > timeout {
            return Err(format!("{addr}: still not the primary after {timeout:?}").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
