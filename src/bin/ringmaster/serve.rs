//! `ringmaster serve`: the shop over TCP (RESP2) until SIGINT or SIGTERM.

use ringmaster::ingress::{Server, ServerConfig, ServerError};
use ringmaster::journal::Durability;
use ringmaster::shop::{Shop, ShopConfig, StageThreads};
use ringmaster::WaitStrategy;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    pub(crate) ring_file: Option<PathBuf>,
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
    let shop = Shop::open(config)?;
    let opened = shop.open_report();
    eprintln!(
        "ringmaster: data {} ({} products restored: snapshot {:?}, {} journal records replayed)",
        o.data.display(),
        opened.products,
        opened.snapshot,
        opened.replayed,
    );
    let mut server_config = ServerConfig::new(o.addr);
    server_config.max_connections = o.max_connections;
    server_config.idle_timeout = o.idle_timeout;
    server_config.max_client_memory = o.max_client_memory;
    let server = Server::bind(&shop, server_config)?;
    let handle = server.handle();
    let mut signals = Signals::new([SIGINT, SIGTERM])?;
    let signal_handle = signals.handle();
    let watcher = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Some(signal) = signals.forever().next() {
                eprintln!("ringmaster: signal {signal}: finishing in-flight commands");
                handle.stop();
            }
        })?;
    eprintln!(
        "ringmaster: serving the shop on {} (durability {:?}); Ctrl-C stops",
        server.local_addr(),
        o.durability
    );
    let served = server.run();
    signal_handle.close();
    let _ = watcher.join();
    let report = match served {
        Err(ServerError::EngineStopped) => {
            // The shop says which stage failed and why.
            let why = shop
                .close()
                .err()
                .map_or_else(|| "unknown".to_owned(), |e| e.to_string());
            return Err(format!("the shop's engine stopped: {why}").into());
        }
        other => other?,
    };
    let closed = shop.close()?;
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
