//! A shop workload: a generated catalog of realistic product names and
//! client threads sending a mix of commands, timing each round trip.
//! Shared by the demo (`cargo run --release`) and the `shop` scenario.

use crate::harness::event::new_histogram;
use crate::shop::{Client, Command, Reply, ShopError};
use hdrhistogram::Histogram;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// A small, fast, seedable generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[self.below(words.len() as u64) as usize]
    }
}

const BRANDS: &[&str] = &[
    "Acme", "Nordwind", "Kestrel", "Bluebird", "Ironwood", "Solace", "Harbor", "Zenith", "Maple",
    "Orion", "Copper", "Fjord", "Tundra", "Juniper", "Atlas", "Vela",
];
const COLORS: &[&str] = &[
    "Black",
    "White",
    "Navy",
    "Red",
    "Forest Green",
    "Sky Blue",
    "Charcoal",
    "Sand",
    "Olive",
    "Burgundy",
    "Grey",
    "Mustard",
    "Teal",
    "Ivory",
    "Rose",
    "Slate",
];
const MATERIALS: &[&str] = &[
    "Cotton", "Wool", "Linen", "Leather", "Steel", "Bamboo", "Oak", "Walnut", "Ceramic", "Glass",
    "Silk", "Denim", "Merino", "Canvas", "Copper", "Cork",
];
const ITEMS: &[&str] = &[
    "T-Shirt",
    "Sweater",
    "Scarf",
    "Jacket",
    "Socks",
    "Backpack",
    "Water Bottle",
    "Mug",
    "Chopping Board",
    "Desk Lamp",
    "Notebook",
    "Wallet",
    "Sneakers",
    "Beanie",
    "Tote Bag",
    "Frying Pan",
    "Teapot",
    "Blanket",
    "Pillow",
    "Umbrella",
    "Watch Strap",
    "Plant Pot",
    "Candle",
    "Headphones",
    "Phone Case",
    "Belt",
    "Gloves",
    "Apron",
    "Towel",
    "Vase",
];
const SIZES: &[&str] = &[
    "XS", "S", "M", "L", "XL", "500ml", "1L", "Small", "Large", "Set of 2",
];

/// A realistic multi-word product name, at most 64 bytes.
pub fn product_name(rng: &mut Rng) -> String {
    let mut name = format!(
        "{} {} {} {}",
        rng.pick(BRANDS),
        rng.pick(COLORS),
        rng.pick(MATERIALS),
        rng.pick(ITEMS)
    );
    if rng.below(2) == 0 {
        name.push(' ');
        name.push_str(rng.pick(SIZES));
    }
    name.truncate(64);
    name
}

/// A search query as a user types it: one or two whole words, then a
/// prefix of the next.
pub fn search_query(rng: &mut Rng) -> String {
    let word = |rng: &mut Rng| match rng.below(4) {
        0 => rng.pick(BRANDS),
        1 => rng.pick(COLORS),
        2 => rng.pick(MATERIALS),
        _ => rng.pick(ITEMS),
    };
    let mut q = String::new();
    for _ in 0..rng.below(2) + 1 {
        q.push_str(word(rng));
        q.push(' ');
    }
    let last = word(rng);
    let cut = (1 + rng.below(last.len() as u64) as usize).min(last.len());
    let cut = (cut..=last.len())
        .find(|&i| last.is_char_boundary(i))
        .unwrap_or(last.len());
    q.push_str(&last[..cut]);
    q
}

/// Add products `1..=n` with generated names, pipelined in batches.
/// Calls `progress(done)` now and then.
pub fn load_catalog(
    client: &mut Client,
    n: u64,
    seed: u64,
    mut progress: impl FnMut(u64),
) -> Result<(), ShopError> {
    let mut rng = Rng::new(seed);
    let mut batch = Vec::with_capacity(1024);
    let mut id = 1;
    while id <= n {
        batch.clear();
        while batch.len() < 1024 && id <= n {
            let price = 100 + rng.below(100_000) as i64;
            let stock = rng.below(500) as i64;
            batch.push(Command::add(id, &product_name(&mut rng), price, stock)?);
            id += 1;
        }
        client.submit_batch(&batch)?;
        while client.in_flight() > 4096 {
            check(client.next_completion()?)?;
        }
        progress(id - 1);
    }
    while let Some(done) = client.next_completion()? {
        check(Some(done))?;
    }
    Ok(())
}

fn check(done: Option<crate::shop::Completion>) -> Result<(), ShopError> {
    match done.map(|c| c.reply) {
        Some(Reply::Rejected(r)) => Err(ShopError::Rejected(r)),
        _ => Ok(()),
    }
}

/// What a client sends, in percent.
#[derive(Debug, Clone, Copy)]
pub struct Mix {
    /// Get.
    pub get: u32,
    /// List (offset random, 20 per page).
    pub list: u32,
    /// Search (limit 10).
    pub search: u32,
    /// Update price and stock (the most common write).
    pub update: u32,
    /// Add of a new id.
    pub add: u32,
    /// Delete of an existing or missing id.
    pub delete: u32,
}

impl Mix {
    /// The demo's storefront: mostly reads, a steady stream of writes.
    pub const STOREFRONT: Mix = Mix {
        get: 40,
        list: 5,
        search: 15,
        update: 30,
        add: 8,
        delete: 2,
    };
    /// The write-heavy mix of the `shop` benchmark: 90% writes.
    pub const WRITE_HEAVY: Mix = Mix {
        get: 10,
        list: 0,
        search: 0,
        update: 70,
        add: 15,
        delete: 5,
    };
}

/// Command kinds, for per-kind figures.
pub const KINDS: [&str; 6] = ["get", "list", "search", "update", "add", "delete"];

/// One client's figures.
#[derive(Debug)]
pub struct ClientStats {
    /// Round-trip latency (submit to completion) per kind, in ns.
    pub latency: Vec<Histogram<u64>>,
    /// Commands completed.
    pub completed: u64,
    /// Business rejections (update/delete of a deleted id, ...).
    pub rejected: u64,
}

impl ClientStats {
    fn new() -> Self {
        Self {
            latency: KINDS.iter().map(|_| new_histogram()).collect(),
            completed: 0,
            rejected: 0,
        }
    }

    /// Fold another client's figures in.
    pub fn merge(&mut self, other: &ClientStats) {
        for (a, b) in self.latency.iter_mut().zip(&other.latency) {
            // Same bounds: cannot fail.
            let _ = a.add(b);
        }
        self.completed += other.completed;
        self.rejected += other.rejected;
    }
}

/// One command drawn from `mix` and its kind (an index into [`KINDS`]).
///
/// # Errors
///
/// Never in practice: every generated command is valid.
pub fn next_command(
    rng: &mut Rng,
    mix: Mix,
    products: u64,
    next_id: &AtomicU64,
) -> Result<(usize, Command), ShopError> {
    let total = mix.get + mix.list + mix.search + mix.update + mix.add + mix.delete;
    let mut r = rng.below(u64::from(total.max(1))) as u32;
    let id = 1 + rng.below(products.max(1));
    let mut kind = 5;
    for (k, share) in [mix.get, mix.list, mix.search, mix.update, mix.add]
        .into_iter()
        .enumerate()
    {
        if r < share {
            kind = k;
            break;
        }
        r -= share;
    }
    let command = match kind {
        0 => Command::get(id)?,
        1 => Command::list(rng.below(products), 20)?,
        2 => Command::search(&search_query(rng), 10)?,
        3 => Command::update(
            id,
            Some(100 + rng.below(100_000) as i64),
            Some(rng.below(500) as i64),
            None,
        )?,
        4 => {
            // Relaxed: a unique-id counter.
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            Command::add(id, &product_name(rng), 999, 10)?
        }
        _ => Command::delete(id)?,
    };
    Ok((kind, command))
}

/// Send `mix` until `stop`, keeping `window` requests in flight; product
/// ids for updates and reads are drawn from `1..=products`, new ids from
/// the shared `next_id` (as a shop's id allocator would hand them out).
/// Adds each completion to `completed`.
#[allow(clippy::too_many_arguments)] // reason: a benchmark driver's knobs
pub fn run_client(
    client: &mut Client,
    mix: Mix,
    products: u64,
    window: usize,
    seed: u64,
    next_id: &AtomicU64,
    stop: &AtomicBool,
    completed: &AtomicU64,
) -> Result<ClientStats, ShopError> {
    let mut rng = Rng::new(seed);
    let mut stats = ClientStats::new();
    let mut started: VecDeque<(Instant, usize)> = VecDeque::with_capacity(window);
    let mut batch = Vec::with_capacity(window);
    let mut kinds = Vec::with_capacity(window);
    // Relaxed: a stop request, polled.
    while !stop.load(Ordering::Relaxed) {
        batch.clear();
        kinds.clear();
        while started.len() + batch.len() < window {
            let (kind, command) = next_command(&mut rng, mix, products, next_id)?;
            batch.push(command);
            kinds.push(kind);
        }
        if !batch.is_empty() {
            client.submit_batch(&batch)?;
            let now = Instant::now();
            started.extend(kinds.iter().map(|&k| (now, k)));
        }
        // Take at least one completion, then whatever else has arrived.
        let mut first = true;
        loop {
            let done = if first {
                client.next_completion()?
            } else {
                client.try_completion()
            };
            first = false;
            let Some(done) = done else { break };
            let (at, kind) = started.pop_front().unwrap_or((Instant::now(), 0));
            let ns = at.elapsed().as_nanos() as u64;
            stats.latency[kind].saturating_record(ns.max(1));
            stats.completed += 1;
            if !done.reply.is_ok() {
                stats.rejected += 1;
            }
            // Relaxed: a progress counter.
            completed.fetch_add(1, Ordering::Relaxed);
        }
    }
    while let Some(done) = client.next_completion()? {
        let (at, kind) = started.pop_front().unwrap_or((Instant::now(), 0));
        stats.latency[kind].saturating_record((at.elapsed().as_nanos() as u64).max(1));
        stats.completed += 1;
        if !done.reply.is_ok() {
            stats.rejected += 1;
        }
        completed.fetch_add(1, Ordering::Relaxed);
    }
    Ok(stats)
}

/// Time `n` blocking searches on an otherwise idle shop (ns per query).
pub fn time_searches(client: &mut Client, n: u64, seed: u64) -> Result<Histogram<u64>, ShopError> {
    let mut rng = Rng::new(seed);
    let mut h = new_histogram();
    for _ in 0..n {
        let q = search_query(&mut rng);
        let t = Instant::now();
        client.search(&q, 10)?;
        h.saturating_record((t.elapsed().as_nanos() as u64).max(1));
    }
    Ok(h)
}

/// Figures for the whole run: commands per second over `elapsed`.
pub fn throughput(stats: &ClientStats, elapsed: std::time::Duration) -> f64 {
    stats.completed as f64 / elapsed.as_secs_f64()
}
