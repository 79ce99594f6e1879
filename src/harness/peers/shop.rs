//! The `shop` and `shop-sync` scenarios (a write-heavy command mix through
//! the shop) and `search` (query latency on a 100,000-product catalog).
//!
//! The peer is what one would write without the engine: the same catalog,
//! index and journal behind one mutex, each client thread applying its own
//! commands and committing the journal per command before replying (the
//! same guarantee: a reply means the write is as durable as asked).

use crate::harness::event::{new_histogram, now_ns};
use crate::harness::params::{Outcome, Params};
use crate::harness::shop_load::{self, Mix, Rng};
use crate::journal::{Durability, JournalConfig, JournalWriter};
use crate::shop::{Catalog, Command, ProductEvent, Reply, SearchIndex, Shop, ShopConfig};
use crate::WaitStrategy;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

/// Products in the catalog every run starts from.
pub const PRODUCTS: u64 = 100_000;
/// Most commands one run sends.
pub const MAX_COMMANDS: u64 = 2_000_000;
/// Most commands the mutex peer sends under `Sync` (one msync each).
pub const MAX_LOCKED_SYNC_COMMANDS: u64 = 20_000;
/// Most queries one search run sends.
pub const MAX_QUERIES: u64 = 50_000;
/// Client threads.
const CLIENTS: u64 = 2;
/// Commands each client keeps in flight.
const WINDOW: usize = 8192;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ringmaster-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Threads outnumber cores: the stages and the clients back off (spin,
/// yield, then sleep) rather than spin. Not `Yielding`: two clients
/// yielding in a loop while their windows are full take turns on the
/// cores with the stage thread that would empty them.
fn strategy(p: &Params) -> WaitStrategy {
    if p.spin {
        p.strategy
    } else {
        WaitStrategy::Backoff
    }
}

/// Each client's commands (client `k` sends global commands `k`, `k + C`,
/// ...), generated before the clock starts so both contenders get the
/// same work.
fn commands(n: u64) -> Result<Vec<Vec<Command>>, String> {
    let next_id = AtomicU64::new(PRODUCTS + 1);
    let mut rng = Rng::new(2024);
    let mut per_client = vec![Vec::with_capacity((n / CLIENTS + 1) as usize); CLIENTS as usize];
    for g in 0..n {
        let (_, c) = shop_load::next_command(&mut rng, Mix::WRITE_HEAVY, PRODUCTS, &next_id)
            .map_err(|e| e.to_string())?;
        per_client[(g % CLIENTS) as usize].push(c);
    }
    Ok(per_client)
}

/// The most products a run of `n` commands can hold: the catalog, the
/// adds the mix draws on average, and 1% of the commands for the draw's
/// spread around that average. Both contenders size their catalog and index
/// for it, as a shop that knows its catalog would, so neither rehashes a
/// table of hundreds of thousands of products in the middle of a run.
fn capacity(n: u64) -> u64 {
    let mix = Mix::WRITE_HEAVY;
    let total = mix.get + mix.list + mix.search + mix.update + mix.add + mix.delete;
    PRODUCTS + n * u64::from(mix.add) / u64::from(total.max(1)) + n / 100
}

/// Sum of the global indexes of the commands whose replies came back: the
/// scenario's self-check (each exactly once).
fn global(client: u64, nth: u64) -> u64 {
    nth * CLIENTS + client
}

fn run_shop(p: &Params, durability: Durability) -> Result<Outcome, String> {
    let n = p.events.min(MAX_COMMANDS);
    let work = commands(n)?;
    let dir = temp_dir("shop");
    let config = ShopConfig::new(&dir)
        .durability(durability)
        .wait_strategy(strategy(p))
        .ring_capacity(p.capacity.clamp(1024, 1 << 16))
        .snapshot_every(0)
        .snapshot_on_close(false)
        .reserve_products(capacity(n));
    let e = |e: crate::shop::ShopError| e.to_string();
    let shop = Shop::open(config).map_err(e)?;
    let mut loader = shop.client().map_err(e)?;
    shop_load::load_catalog(&mut loader, PRODUCTS, 42, |_| {}).map_err(e)?;
    drop(loader);
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(shop.client().map_err(e)?);
    }
    let start = now_ns();
    let results: Vec<Result<(u64, u64), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = clients
            .into_iter()
            .zip(&work)
            .enumerate()
            .map(|(k, (mut client, cmds))| {
                s.spawn(move || -> Result<(u64, u64), String> {
                    let (mut received, mut checksum) = (0u64, 0u64);
                    let first_request = 1u64;
                    let mut take = |c: crate::shop::Completion| {
                        let nth = c.request_id - first_request;
                        received += 1;
                        checksum = checksum.wrapping_add(global(k as u64, nth));
                    };
                    for chunk in cmds.chunks(WINDOW / 2) {
                        client.submit_batch(chunk).map_err(e)?;
                        while client.in_flight() > WINDOW as u64 / 2 {
                            match client.next_completion().map_err(e)? {
                                Some(c) => take(c),
                                None => break,
                            }
                        }
                        while let Some(c) = client.try_completion() {
                            take(c);
                        }
                    }
                    while let Some(c) = client.next_completion().map_err(e)? {
                        take(c);
                    }
                    Ok((received, checksum))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("client panicked".into())))
            .collect()
    });
    let elapsed_ns = now_ns() - start;
    shop.close().map_err(e)?;
    let _ = std::fs::remove_dir_all(&dir);
    totals(results, elapsed_ns)
}

/// Sum the clients' (replies, checksum) into the run's outcome.
fn totals(results: Vec<Result<(u64, u64), String>>, elapsed_ns: u64) -> Result<Outcome, String> {
    let (mut received, mut checksum) = (0u64, 0u64);
    for r in results {
        let (n, c) = r?;
        received += n;
        checksum = checksum.wrapping_add(c);
    }
    Ok(Outcome {
        received,
        checksum,
        elapsed_ns,
        batches: 0,
        histogram: None,
        batch_sizes: None,
    })
}

struct Locked {
    catalog: Catalog,
    index: SearchIndex,
    journal: JournalWriter,
}

impl Locked {
    fn apply(&mut self, command: &Command) -> Result<Option<Reply>, String> {
        if command.is_write() {
            let record = ProductEvent::encode(command, 0, 0);
            self.journal
                .append(bytemuck::bytes_of(&record))
                .map_err(|e| e.to_string())?;
            self.journal.commit().map_err(|e| e.to_string())?;
            self.index.apply(command);
        }
        Ok(match command {
            Command::Search { query, limit } => Some(Reply::Hits(
                self.index.search(query.as_str(), *limit as usize),
            )),
            c => self.catalog.apply(c),
        })
    }
}

fn run_locked(p: &Params, durability: Durability) -> Result<Outcome, String> {
    let n = p.events.min(MAX_COMMANDS);
    let work = commands(n)?;
    let dir = temp_dir("locked");
    let config = JournalConfig::new(&dir).durability(durability);
    let (journal, _) = JournalWriter::open(&config, std::mem::size_of::<ProductEvent>())
        .map_err(|e| e.to_string())?;
    let mut state = Locked {
        catalog: Catalog::default(),
        index: SearchIndex::default(),
        journal,
    };
    let reserve = usize::try_from(capacity(n)).map_err(|e| e.to_string())?;
    state
        .catalog
        .try_reserve(reserve)
        .map_err(|e| e.to_string())?;
    state
        .index
        .try_reserve(reserve)
        .map_err(|e| e.to_string())?;
    let mut rng = Rng::new(42);
    for id in 1..=PRODUCTS {
        let price = 100 + rng.below(100_000) as i64;
        let stock = rng.below(500) as i64;
        let c = Command::add(id, &shop_load::product_name(&mut rng), price, stock)
            .map_err(|e| e.to_string())?;
        state.apply(&c)?;
    }
    let state = Mutex::new(state);
    let start = now_ns();
    let results: Vec<Result<(u64, u64), String>> = std::thread::scope(|s| {
        let handles: Vec<_> = work
            .iter()
            .enumerate()
            .map(|(k, cmds)| {
                let state = &state;
                s.spawn(move || -> Result<(u64, u64), String> {
                    let (mut received, mut checksum) = (0u64, 0u64);
                    for (nth, c) in cmds.iter().enumerate() {
                        let reply = state.lock().map_err(|_| "poisoned".to_string())?.apply(c)?;
                        std::hint::black_box(reply);
                        received += 1;
                        checksum = checksum.wrapping_add(global(k as u64, nth as u64));
                    }
                    Ok((received, checksum))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("client panicked".into())))
            .collect()
    });
    let elapsed_ns = now_ns() - start;
    let state = state.into_inner().map_err(|_| "poisoned".to_string())?;
    state.journal.close().map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&dir);
    totals(results, elapsed_ns)
}

/// The shop, `Durability::None`.
pub fn shop_none(p: &Params) -> Result<Outcome, String> {
    run_shop(p, Durability::None)
}

/// The shop, `Durability::Sync` (msync per batch).
pub fn shop_sync(p: &Params) -> Result<Outcome, String> {
    run_shop(p, Durability::Sync)
}

/// The mutex peer, page cache only.
pub fn locked_none(p: &Params) -> Result<Outcome, String> {
    run_locked(p, Durability::None)
}

/// The mutex peer, msync per command.
pub fn locked_sync(p: &Params) -> Result<Outcome, String> {
    run_locked(p, Durability::Sync)
}

fn queries(n: u64) -> Vec<String> {
    let mut rng = Rng::new(7);
    (0..n).map(|_| shop_load::search_query(&mut rng)).collect()
}

/// Search round trips through the shop, one at a time (the ingress path).
pub fn search_shop(p: &Params) -> Result<Outcome, String> {
    let n = p.events.min(MAX_QUERIES);
    let qs = queries(n);
    let dir = temp_dir("search");
    let config = ShopConfig::new(&dir)
        .durability(Durability::None)
        .wait_strategy(strategy(p))
        .snapshot_every(0)
        .snapshot_on_close(false);
    let e = |e: crate::shop::ShopError| e.to_string();
    let shop = Shop::open(config).map_err(e)?;
    let mut client = shop.client().map_err(e)?;
    shop_load::load_catalog(&mut client, PRODUCTS, 42, |_| {}).map_err(e)?;
    let mut h = new_histogram();
    let (mut checksum, start) = (0u64, now_ns());
    for (i, q) in qs.iter().enumerate() {
        let t = now_ns();
        let hits = client.search(q, 10).map_err(e)?;
        h.saturating_record((now_ns() - t).max(1));
        std::hint::black_box(hits);
        checksum = checksum.wrapping_add(i as u64);
    }
    let elapsed_ns = now_ns() - start;
    drop(client);
    shop.close().map_err(e)?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Outcome {
        received: n,
        checksum,
        elapsed_ns,
        batches: 0,
        histogram: Some(h),
        batch_sizes: None,
    })
}

/// The same queries called directly on an index in this thread: the
/// index's own service time, the floor under any round trip.
pub fn search_direct(p: &Params) -> Result<Outcome, String> {
    let n = p.events.min(MAX_QUERIES);
    let qs = queries(n);
    let mut index = SearchIndex::default();
    let mut rng = Rng::new(42);
    for id in 1..=PRODUCTS {
        let _ = (rng.below(100_000), rng.below(500));
        let c = Command::add(id, &shop_load::product_name(&mut rng), 1, 1)
            .map_err(|e| e.to_string())?;
        index.apply(&c);
    }
    let mut h = new_histogram();
    let (mut checksum, start) = (0u64, now_ns());
    for (i, q) in qs.iter().enumerate() {
        let t = now_ns();
        let hits = index.search(q, 10);
        h.saturating_record((now_ns() - t).max(1));
        std::hint::black_box(hits);
        checksum = checksum.wrapping_add(i as u64);
    }
    Ok(Outcome {
        received: n,
        checksum,
        elapsed_ns: now_ns() - start,
        batches: 0,
        histogram: Some(h),
        batch_sizes: None,
    })
}
