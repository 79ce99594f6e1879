//! The main job: the shop on embedded defaults, end to end. Open, load a
//! generated catalog, run a mixed workload from several clients, report,
//! close, reopen and check that the state came back identical.

use indicatif::{ProgressBar, ProgressStyle};
use ringmaster::harness::peers::replicate::Nats;
use ringmaster::harness::report::ns;
use ringmaster::harness::shop_load::{self, ClientStats, Mix, KINDS};
use ringmaster::journal::Durability;
use ringmaster::shop::{ReplicatedShop, ReplicationConfig, ReplicationInfo, Shop, ShopConfig};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A file the demo leaves in its data directory, so a later run knows it
/// may wipe the directory (and never wipes anything else).
const MARKER: &str = ".ringmaster-demo";

#[derive(Debug, Clone)]
pub(crate) struct DemoOptions {
    pub(crate) data: Option<PathBuf>,
    pub(crate) duration_s: u64,
    pub(crate) products: u64,
    pub(crate) clients: usize,
    pub(crate) durability: Durability,
    pub(crate) window: usize,
    /// Replicate to this NATS server ("local": start one), with a standby
    /// following in this process.
    pub(crate) replicate: Option<String>,
}

/// The stream the replicated demo resets and uses.
const DEMO_STREAM: &str = "ringmaster-demo";

fn prepare(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir)?.next().is_none();
        if !empty && !dir.join(MARKER).exists() {
            return Err(format!(
                "{} holds data the demo did not create; pass another --data DIR",
                dir.display()
            )
            .into());
        }
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join(MARKER),
        b"created by `ringmaster demo`; safe to delete\n",
    )?;
    Ok(())
}

pub(crate) fn run(o: DemoOptions) -> Result<(), Box<dyn std::error::Error>> {
    let dir = o
        .data
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("ringmaster-demo"));
    prepare(&dir)?;
    // Room for the catalog it loads and the adds of a run: no table
    // growth in the middle of the timed workload.
    let config = ShopConfig::new(&dir)
        .durability(o.durability)
        .reserve_products(o.products.saturating_mul(3) / 2);
    println!("ringmaster demo: an online shop on the event engine");
    println!(
        "  data {}  durability {:?}  {} products  {} clients x {} in flight  {} s\n",
        dir.display(),
        o.durability,
        o.products,
        o.clients,
        o.window,
        o.duration_s
    );

    // Replicated: a primary streaming into NATS and a standby following.
    let mut local_nats = None;
    let replication = match o.replicate.as_deref() {
        None => None,
        Some(url) => {
            let url = if url == "local" {
                let nats = Nats::start()?;
                let url = nats.url().to_owned();
                local_nats = Some(nats);
                url
            } else {
                url.to_owned()
            };
            ringmaster::replication::delete_stream(&url, DEMO_STREAM)?;
            Some(ReplicationConfig::new(url).stream(DEMO_STREAM))
        }
    };
    let (plain, primary, standby) = match &replication {
        None => (Some(Shop::open(config.clone())?), None, None),
        Some(repl) => {
            let primary = ReplicatedShop::primary(config.clone(), repl.clone())?;
            let standby = ReplicatedShop::standby(
                ShopConfig::new(dir.join("standby"))
                    .durability(o.durability)
                    .reserve_products(o.products.saturating_mul(3) / 2),
                repl.clone().consumer("demo-standby"),
            )?;
            (None, Some(primary), Some(standby))
        }
    };
    let shop: &Shop = match (&plain, &primary) {
        (Some(shop), _) => shop,
        (None, Some(primary)) => primary.shop(),
        (None, None) => unreachable!("one of the two is open"),
    };
    println!("[1/4] opened: {}", shop.graph().topology());
    if let Some(repl) = &replication {
        println!(
            "      replicating to stream {} at {}; a standby follows it in {}",
            repl.stream_name(),
            repl.url(),
            dir.join("standby").display()
        );
    }

    // Load the catalog.
    let bar = ProgressBar::new(o.products).with_style(ProgressStyle::with_template(
        "[2/4] loading  {bar:40} {pos}/{len} products  {per_sec}",
    )?);
    let started = Instant::now();
    let mut loader = shop.client()?;
    shop_load::load_catalog(&mut loader, o.products, 42, |done| bar.set_position(done))?;
    bar.finish();
    let load_s = started.elapsed().as_secs_f64();
    println!(
        "      {} products in {:.2} s ({:.0} adds/s, each journaled and {:?})",
        o.products,
        load_s,
        o.products as f64 / load_s,
        o.durability
    );

    // The mixed workload.
    let stop = AtomicBool::new(false);
    let completed = AtomicU64::new(0);
    let next_id = AtomicU64::new(o.products + 1);
    let bar = ProgressBar::new(o.duration_s * 10).with_style(ProgressStyle::with_template(
        "[3/4] workload {bar:40} {msg}",
    )?);
    let mut clients = Vec::new();
    for _ in 0..o.clients {
        clients.push(shop.client()?);
    }
    let started = Instant::now();
    let (stats, elapsed) = std::thread::scope(|s| {
        let workers: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(i, mut client)| {
                let (stop, completed, next_id) = (&stop, &completed, &next_id);
                let products = o.products;
                let window = o.window;
                std::thread::Builder::new()
                    .name(format!("demo-client-{i}"))
                    .spawn_scoped(s, move || {
                        shop_load::run_client(
                            &mut client,
                            Mix::STOREFRONT,
                            products,
                            window,
                            1000 + i as u64,
                            next_id,
                            stop,
                            completed,
                        )
                    })
            })
            .collect();
        let deadline = started + Duration::from_secs(o.duration_s);
        let mut last = (Instant::now(), 0u64);
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
            // Relaxed: a progress counter.
            let done = completed.load(Ordering::Relaxed);
            let rate = (done - last.1) as f64 / last.0.elapsed().as_secs_f64();
            last = (Instant::now(), done);
            bar.set_message(format!("{done} commands, {:.0}k/s", rate / 1e3));
            bar.inc(1);
        }
        // Relaxed: a stop request, polled.
        stop.store(true, Ordering::Relaxed);
        let mut total: Option<ClientStats> = None;
        let mut failure = None;
        for w in workers {
            match w.map(|h| h.join()) {
                Ok(Ok(Ok(st))) => match &mut total {
                    Some(t) => t.merge(&st),
                    None => total = Some(st),
                },
                Ok(Ok(Err(e))) => failure = Some(e.to_string()),
                Ok(Err(_)) => failure = Some("client thread panicked".into()),
                Err(e) => failure = Some(e.to_string()),
            }
        }
        let elapsed = started.elapsed();
        match (failure, total) {
            (None, Some(t)) => Ok((t, elapsed)),
            (Some(f), _) => Err(f),
            (None, None) => Err("no clients ran".to_string()),
        }
    })?;
    bar.finish();
    println!(
        "      {} commands in {:.1} s: {:.0} commands/s ({} rejected by business rules, e.g. update of a deleted id)",
        stats.completed,
        elapsed.as_secs_f64(),
        shop_load::throughput(&stats, elapsed),
        stats.rejected
    );
    println!(
        "      round trip per command (client-observed, {} in flight per client):",
        o.window
    );
    println!(
        "      {:<8} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "command", "count", "p50", "p99", "p99.9", "max"
    );
    for (kind, h) in KINDS.iter().zip(&stats.latency) {
        if h.is_empty() {
            continue;
        }
        println!(
            "      {:<8} {:>9} {:>9} {:>9} {:>9} {:>9}",
            kind,
            h.len(),
            ns(h.value_at_quantile(0.5)),
            ns(h.value_at_quantile(0.99)),
            ns(h.value_at_quantile(0.999)),
            ns(h.max())
        );
    }
    let mut probe = shop.client()?;
    let searches = shop_load::time_searches(&mut probe, 2000, 7)?;
    println!(
        "      search on an idle shop, one at a time: p50 {}  p99 {}  max {}",
        ns(searches.value_at_quantile(0.5)),
        ns(searches.value_at_quantile(0.99)),
        ns(searches.max())
    );
    let products = probe.count()?;
    drop(probe);

    // The standby catches up to the same state.
    let digest = shop.digest()?;
    let mut standby_ok = true;
    if let Some(standby) = standby {
        let started = Instant::now();
        let mut standby_digest = standby.shop().digest()?;
        while standby_digest != digest && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(20));
            standby_digest = standby.shop().digest()?;
        }
        let applied = match standby.handle().info() {
            ReplicationInfo::Standby { applied, .. } => applied,
            _ => 0,
        };
        standby_ok = standby_digest == digest;
        println!(
            "      standby: {applied} journal records applied, caught up {:.2} s after the workload; \
             digest primary {digest:#018x}, standby {standby_digest:#018x}: {}",
            started.elapsed().as_secs_f64(),
            if standby_ok { "match" } else { "MISMATCH" }
        );
        standby.close()?;
    }
    // Restart to the same state.
    let closed = match (plain, primary) {
        (Some(shop), _) => shop.close()?,
        (None, Some(primary)) => primary.close()?,
        (None, None) => unreachable!("one of the two is open"),
    };
    drop(local_nats);
    println!("      per stage, publish to the end of the stage's batch (journal: committed; responder: reply handed over),");
    println!("      every command since open, load included:");
    println!(
        "      {:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11}",
        "stage", "commands", "p50", "p99", "p99.9", "max", "mean batch"
    );
    for st in &closed.stages {
        let h = &st.latency_ns;
        println!(
            "      {:<10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11.1}",
            st.name,
            h.len(),
            ns(h.value_at_quantile(0.5)),
            ns(h.value_at_quantile(0.99)),
            ns(h.value_at_quantile(0.999)),
            ns(h.max()),
            st.batch_sizes.mean()
        );
    }
    let started = Instant::now();
    let shop = Shop::open(config)?;
    let report = shop.open_report().clone();
    let after = shop.digest()?;
    let count = shop.client()?.count()?;
    shop.close()?;
    println!(
        "[4/4] closed (snapshot at journal record {}), reopened in {:.2} s: snapshot {}, {} records replayed, {} products",
        closed.newest_snapshot.unwrap_or(0),
        started.elapsed().as_secs_f64(),
        report.snapshot.map_or("none".to_string(), |s| s.to_string()),
        report.replayed,
        count
    );
    let ok = after == digest && count == products;
    println!(
        "      digest before {digest:#018x}, after {after:#018x}: {}",
        if ok { "match" } else { "MISMATCH" }
    );
    println!(
        "\nData: {} (journal/, snapshots/). Remove it with: rm -rf {}",
        dir.display(),
        dir.display()
    );
    if !ok {
        return Err("the reopened shop does not match the one closed".into());
    }
    if !standby_ok {
        return Err("the standby's catalog does not match the primary's".into());
    }
    Ok(())
}
