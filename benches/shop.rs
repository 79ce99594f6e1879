//! Criterion micro-benchmarks of the shop's domain, one thread, no engine:
//! a search on a 100,000-product catalog (the generated names of the demo
//! and the `search` scenario), a price update, and decoding an event; and
//! batches of random `Get`s on a million-product catalog (far larger than
//! the cache), plain and with the catalog stage's look-ahead prefetch;
//! and the snapshot writer's work on a million products added under
//! random ids.
//!
//! ```text
//! cargo bench --bench shop
//! ```

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ringmaster::harness::shop_load::{product_name, search_query, Rng};
use ringmaster::shop::{Catalog, Command, ProductEvent, SearchIndex};
use std::hint::black_box;
use std::time::Duration;

const PRODUCTS: u64 = 100_000;

fn catalog_and_index() -> (Catalog, SearchIndex) {
    let mut rng = Rng::new(42);
    let (mut catalog, mut index) = (Catalog::default(), SearchIndex::default());
    for id in 1..=PRODUCTS {
        let c = Command::add(id, &product_name(&mut rng), 100, 1).expect("valid");
        catalog.apply(&c);
        index.apply(&c);
    }
    (catalog, index)
}

fn shop(c: &mut Criterion) {
    let (mut catalog, index) = catalog_and_index();
    let mut rng = Rng::new(7);
    let queries: Vec<String> = (0..20_000).map(|_| search_query(&mut rng)).collect();

    let mut g = c.benchmark_group("shop_100k");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    let mut i = 0;
    g.bench_function("search_limit10", |b| {
        b.iter(|| {
            i = (i + 1) % queries.len();
            black_box(index.search(&queries[i], 10))
        })
    });
    let mut rng = Rng::new(9);
    g.bench_function("update_price", |b| {
        b.iter(|| {
            let id = 1 + rng.below(PRODUCTS);
            let c = Command::update(id, Some(rng.below(10_000) as i64), None, None).expect("valid");
            black_box(catalog.apply(&c))
        })
    });
    let event = ProductEvent::encode(
        &Command::add(7, "Kestrel Navy Merino Sweater XL", 8_900, 12).expect("valid"),
        1,
        1,
    );
    g.bench_function("event_decode_add", |b| {
        b.iter(|| black_box(black_box(&event).decode()))
    });
    g.finish();
}

/// A catalog of 1,000,000 products: batches of 512 random `Get`s as the
/// catalog stage sees them, one lookup after another or prefetched in two
/// steps as the stage's `look_ahead` does (`Catalog::prefetch` 8 commands
/// ahead, `Catalog::prefetch_product` 4 ahead); and adds then deletes
/// under random ids.
fn catalog_gets(c: &mut Criterion) {
    const MILLION: u64 = 1_000_000;
    const BATCH: usize = 512;
    const AHEAD: usize = 8;
    let mut catalog = Catalog::default();
    for id in 1..=MILLION {
        catalog.apply(&Command::add(id, "Blue Mug", 1_250, 3).expect("valid"));
    }
    let mut rng = Rng::new(11);
    let batches: Vec<Vec<Command>> = (0..256)
        .map(|_| {
            (0..BATCH)
                .map(|_| Command::Get {
                    id: 1 + rng.below(MILLION),
                })
                .collect()
        })
        .collect();
    let mut g = c.benchmark_group("catalog_1m");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(3));
    let mut i = 0;
    g.bench_function("get_batch", |b| {
        b.iter(|| {
            i = (i + 1) % batches.len();
            for command in &batches[i] {
                black_box(catalog.apply(command));
            }
        })
    });
    // As the catalog stage does: each command's index entry 8 commands
    // ahead, its product 4 commands ahead.
    g.bench_function("get_batch_look_ahead_8", |b| {
        b.iter(|| {
            i = (i + 1) % batches.len();
            let batch = &batches[i];
            batch[..AHEAD].iter().for_each(|c| prefetch(&catalog, c));
            batch[..AHEAD / 2]
                .iter()
                .for_each(|c| prefetch_product(&catalog, c));
            for (k, command) in batch.iter().enumerate() {
                if let Some(ahead) = batch.get(k + AHEAD) {
                    prefetch(&catalog, ahead);
                }
                if let Some(ahead) = batch.get(k + AHEAD / 2) {
                    prefetch_product(&catalog, ahead);
                }
                black_box(catalog.apply(command));
            }
        })
    });
    // Writes at random positions: a product added under a random new id,
    // then deleted, on a catalog of a million (ids even, additions odd),
    // whose size so stays put: the id index, the dense table and the
    // ordered index insert and remove at random places.
    let mut evens = Catalog::default();
    for id in 1..=MILLION {
        evens.apply(&Command::add(2 * id, "Blue Mug", 1_250, 3).expect("valid"));
    }
    let add = Command::add(1, "Blue Mug", 1_250, 3).expect("valid");
    g.throughput(Throughput::Elements(1));
    g.bench_function("add_delete_random", |b| {
        b.iter(|| {
            // A fresh random id each time: no working set to cache.
            let id = 2 * rng.below(MILLION) + 1;
            let mut add = add;
            if let Command::Add { id: at, .. } = &mut add {
                *at = id;
            }
            black_box(evens.apply(&add));
            black_box(evens.apply(&Command::Delete { id }));
        })
    });
    g.finish();
}

fn prefetch(catalog: &Catalog, command: &Command) {
    if let Command::Get { id } = command {
        catalog.prefetch(*id);
    }
}

fn prefetch_product(catalog: &Catalog, command: &Command) {
    if let Command::Get { id } = command {
        catalog.prefetch_product(*id);
    }
}

/// What the snapshot writer does with a frozen catalog of a million
/// products added under random ids (as a server's clients add them):
/// copy them out, put them in id order and encode them.
fn snapshots(c: &mut Criterion) {
    const MILLION: usize = 1_000_000;
    let mut catalog = Catalog::default();
    let mut rng = Rng::new(13);
    while catalog.len() < MILLION {
        let id = 1 + rng.below(u64::MAX >> 1);
        catalog.apply(&Command::add(id, "Blue Mug", 1_250, 3).expect("valid"));
    }
    let mut out = Vec::new();
    let mut g = c.benchmark_group("snapshot_1m");
    g.throughput(Throughput::Elements(MILLION as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("frozen_random_ids", |b| {
        b.iter(|| {
            catalog.freeze().to_snapshot(&mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, shop, catalog_gets, snapshots);
criterion_main!(benches);
