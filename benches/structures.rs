//! The shop's hand-written data structures against the well-kept crates
//! they stand in for, in one run, on the shop's access patterns at a
//! million products:
//!
//! - `ids`: the catalog's product table (`IdTable`) against
//!   `hashbrown::HashMap` and `indexmap::IndexMap` (both with the same
//!   `foldhash` hasher): random lookups, in-place updates, a delete and an
//!   add per step at a steady size, and a table grown from empty; for ids
//!   in one dense range (a shop's usual ids) and for random 64-bit ids.
//! - `posting`: the ids of one frequent word (`Posting`, an eighth of the
//!   catalog) against `roaring::RoaringTreemap` and `BTreeSet`: the word
//!   built from empty, membership, a delete and an add per step, two words
//!   intersected; for dense and for random 64-bit ids.
//! - `order`: the ordered ids behind paged listing (`OrderIndex`) against
//!   `BTreeSet`: the index built from empty, a delete and an add per step,
//!   and a page of 10 at a random offset; for sequential and random ids.
//!
//! ```text
//! cargo bench --bench structures
//! ```
//!
//! Each lookup batch is 512 operations on ids drawn before the timing, so
//! the figure is per operation: time / 512.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hashbrown::HashMap;
use indexmap::IndexMap;
use ringmaster::harness::shop_load::Rng;
use ringmaster::harness::structures::{OrderedIds, ProductTable, WordPosting};
use ringmaster::shop::{Name, Product};
use roaring::RoaringTreemap;
use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::Duration;

const PRODUCTS: u64 = 1_000_000;
/// Operations per timed batch.
const BATCH: usize = 512;

type Hasher = foldhash::fast::RandomState;

fn product(id: u64) -> Product {
    Product {
        id,
        name: Name::new("Kestrel Navy Merino Sweater XL").expect("valid"),
        price_cents: 8_900,
        stock: 12,
        version: 1,
    }
}

/// The product tables under test, behind one face.
trait Table: Default {
    const NAME: &'static str;
    fn insert(&mut self, p: Product);
    fn get(&self, id: u64) -> Option<&Product>;
    fn get_mut(&mut self, id: u64) -> Option<&mut Product>;
    fn remove(&mut self, id: u64) -> Option<Product>;
    /// Bytes allocated, where the type says.
    fn heap_bytes(&self) -> Option<usize>;
}

impl Table for ProductTable {
    const NAME: &'static str = "ringmaster";
    fn insert(&mut self, p: Product) {
        assert!(ProductTable::insert(self, p));
    }
    fn get(&self, id: u64) -> Option<&Product> {
        ProductTable::get(self, id)
    }
    fn get_mut(&mut self, id: u64) -> Option<&mut Product> {
        ProductTable::get_mut(self, id)
    }
    fn remove(&mut self, id: u64) -> Option<Product> {
        ProductTable::remove(self, id)
    }
    fn heap_bytes(&self) -> Option<usize> {
        Some(ProductTable::heap_bytes(self))
    }
}

impl Table for HashMap<u64, Product, Hasher> {
    const NAME: &'static str = "hashbrown";
    fn insert(&mut self, p: Product) {
        assert!(HashMap::insert(self, p.id, p).is_none());
    }
    fn get(&self, id: u64) -> Option<&Product> {
        HashMap::get(self, &id)
    }
    fn get_mut(&mut self, id: u64) -> Option<&mut Product> {
        HashMap::get_mut(self, &id)
    }
    fn remove(&mut self, id: u64) -> Option<Product> {
        HashMap::remove(self, &id)
    }
    fn heap_bytes(&self) -> Option<usize> {
        Some(self.allocation_size())
    }
}

impl Table for IndexMap<u64, Product, Hasher> {
    const NAME: &'static str = "indexmap";
    fn insert(&mut self, p: Product) {
        assert!(IndexMap::insert(self, p.id, p).is_none());
    }
    fn get(&self, id: u64) -> Option<&Product> {
        IndexMap::get(self, &id)
    }
    fn get_mut(&mut self, id: u64) -> Option<&mut Product> {
        IndexMap::get_mut(self, &id)
    }
    fn remove(&mut self, id: u64) -> Option<Product> {
        // Dense values, the last moved into the hole: what the catalog does.
        IndexMap::swap_remove(self, &id)
    }
    fn heap_bytes(&self) -> Option<usize> {
        None
    }
}

/// `n` ids: `1..=n` (dense) or random nonzero 64-bit ids.
fn ids(n: u64, dense: bool, rng: &mut Rng) -> Vec<u64> {
    if dense {
        (1..=n).collect()
    } else {
        let mut seen = BTreeSet::new();
        while (seen.len() as u64) < n {
            seen.insert(rng.next_u64() | 1);
        }
        let mut v: Vec<u64> = seen.into_iter().collect();
        // Insertion order random, as clients would add them.
        for i in (1..v.len()).rev() {
            v.swap(i, rng.below(i as u64 + 1) as usize);
        }
        v
    }
}

fn picks(from: &[u64], rng: &mut Rng, n: usize) -> Vec<u64> {
    (0..n)
        .map(|_| from[rng.below(from.len() as u64) as usize])
        .collect()
}

fn table_cases<T: Table>(c: &mut Criterion, dense: bool) {
    let kind = if dense { "dense" } else { "random" };
    let mut rng = Rng::new(42);
    let all = ids(PRODUCTS, dense, &mut rng);
    let mut table = T::default();
    for &id in &all {
        table.insert(product(id));
    }
    if let Some(bytes) = table.heap_bytes() {
        eprintln!(
            "ids_1m_{kind}/{}: {} bytes per product allocated ({} B a product)",
            T::NAME,
            bytes / PRODUCTS as usize,
            std::mem::size_of::<Product>()
        );
    }
    let mut g = c.benchmark_group(format!("ids_1m_{kind}"));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(BATCH as u64));
    let batches: Vec<Vec<u64>> = (0..64).map(|_| picks(&all, &mut rng, BATCH)).collect();
    let mut b_i = 0;
    g.bench_function(format!("get/{}", T::NAME), |b| {
        b.iter(|| {
            b_i = (b_i + 1) % batches.len();
            let mut sum = 0u64;
            for &id in &batches[b_i] {
                sum = sum.wrapping_add(table.get(id).map_or(0, |p| p.price_cents));
            }
            black_box(sum)
        })
    });
    g.bench_function(format!("update/{}", T::NAME), |b| {
        b.iter(|| {
            b_i = (b_i + 1) % batches.len();
            for &id in &batches[b_i] {
                if let Some(p) = table.get_mut(id) {
                    p.price_cents += 1;
                    p.version += 1;
                }
            }
        })
    });
    // Delete a present id, add a new one: the size stays at a million.
    let mut present = all.clone();
    let mut fresh = if dense { PRODUCTS + 1 } else { 0 };
    g.bench_function(format!("delete_add/{}", T::NAME), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let at = rng.below(present.len() as u64) as usize;
                let gone = present[at];
                black_box(table.remove(gone));
                let id = if dense {
                    fresh += 1;
                    fresh
                } else {
                    loop {
                        let id = rng.next_u64() | 1;
                        if table.get(id).is_none() {
                            break id;
                        }
                    }
                };
                table.insert(product(id));
                present[at] = id;
            }
        })
    });
    g.finish();
}

/// A command's other work: `WORK` dependent steps on the product found,
/// so lookups cannot all be in flight at once (as in a tight loop of
/// gets, where the core overlaps the misses of many).
const WORK: u32 = 100;

#[inline(always)]
fn work(mut x: u64) -> u64 {
    for _ in 0..WORK {
        x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(7);
    }
    x
}

/// Lookups the way the catalog stage makes them: each followed by the
/// command's other work. `ringmaster` also starts each lookup's two loads
/// ahead, as the stage does (the index slot 8 commands ahead, the product
/// 4 ahead); the crates have no call that starts a lookup's loads without
/// waiting for them.
fn table_with_work(c: &mut Criterion, dense: bool) {
    let kind = if dense { "dense" } else { "random" };
    let mut rng = Rng::new(42);
    let all = ids(PRODUCTS, dense, &mut rng);
    let mut ours = ProductTable::default();
    let mut theirs = HashMap::<u64, Product, Hasher>::default();
    for &id in &all {
        assert!(ours.insert(product(id)));
        theirs.insert(id, product(id));
    }
    let mut g = c.benchmark_group(format!("ids_1m_{kind}"));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(BATCH as u64));
    let batches: Vec<Vec<u64>> = (0..64).map(|_| picks(&all, &mut rng, BATCH)).collect();
    let mut b_i = 0;
    g.bench_function("get_and_work/ringmaster", |b| {
        b.iter(|| {
            b_i = (b_i + 1) % batches.len();
            let ids = &batches[b_i];
            let mut x = 0u64;
            for (i, &id) in ids.iter().enumerate() {
                if let Some(&ahead) = ids.get(i + 8) {
                    ours.prefetch(ahead);
                }
                if let Some(&ahead) = ids.get(i + 4) {
                    ours.prefetch_value(ahead);
                }
                x = work(x ^ ours.get(id).map_or(0, |p| p.price_cents));
            }
            black_box(x)
        })
    });
    g.bench_function("get_and_work/hashbrown", |b| {
        b.iter(|| {
            b_i = (b_i + 1) % batches.len();
            let mut x = 0u64;
            for &id in &batches[b_i] {
                x = work(x ^ theirs.get(&id).map_or(0, |p| p.price_cents));
            }
            black_box(x)
        })
    });
    g.bench_function("work_alone", |b| {
        b.iter(|| {
            b_i = (b_i + 1) % batches.len();
            let mut x = 0u64;
            for &id in &batches[b_i] {
                x = work(x ^ id);
            }
            black_box(x)
        })
    });
    g.finish();
}

fn table_growth<T: Table>(c: &mut Criterion) {
    let mut g = c.benchmark_group("ids_grow_to_1m_dense");
    g.sample_size(10);
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(PRODUCTS));
    g.bench_function(format!("add/{}", T::NAME), |b| {
        b.iter_batched(
            T::default,
            |mut t| {
                for id in 1..=PRODUCTS {
                    t.insert(product(id));
                }
                t
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn ids_bench(c: &mut Criterion) {
    for dense in [true, false] {
        table_cases::<ProductTable>(c, dense);
        table_with_work(c, dense);
        table_cases::<HashMap<u64, Product, Hasher>>(c, dense);
        table_cases::<IndexMap<u64, Product, Hasher>>(c, dense);
    }
    table_growth::<ProductTable>(c);
    table_growth::<HashMap<u64, Product, Hasher>>(c);
    table_growth::<IndexMap<u64, Product, Hasher>>(c);
}

/// The id sets under test, behind one face.
trait IdSet: Default {
    const NAME: &'static str;
    fn insert(&mut self, id: u64);
    fn remove(&mut self, id: u64);
    fn contains(&self, id: u64) -> bool;
    fn intersection_len(&self, other: &Self) -> u64;
    /// The first `n` ids of both, ascending (a search with a limit).
    fn intersection_first(&self, other: &Self, n: usize, out: &mut Vec<u64>);
}

impl IdSet for WordPosting {
    const NAME: &'static str = "ringmaster";
    fn insert(&mut self, id: u64) {
        WordPosting::insert(self, id);
    }
    fn remove(&mut self, id: u64) {
        WordPosting::remove(self, id);
    }
    fn contains(&self, id: u64) -> bool {
        WordPosting::contains(self, id)
    }
    fn intersection_len(&self, other: &Self) -> u64 {
        WordPosting::intersection_len(self, other)
    }
    fn intersection_first(&self, other: &Self, n: usize, out: &mut Vec<u64>) {
        WordPosting::intersection_first(self, other, n, out);
    }
}

impl IdSet for RoaringTreemap {
    const NAME: &'static str = "roaring";
    fn insert(&mut self, id: u64) {
        RoaringTreemap::insert(self, id);
    }
    fn remove(&mut self, id: u64) {
        RoaringTreemap::remove(self, id);
    }
    fn contains(&self, id: u64) -> bool {
        RoaringTreemap::contains(self, id)
    }
    fn intersection_len(&self, other: &Self) -> u64 {
        RoaringTreemap::intersection_len(self, other)
    }
    fn intersection_first(&self, other: &Self, n: usize, out: &mut Vec<u64>) {
        out.extend(self.iter().filter(|&id| other.contains(id)).take(n));
    }
}

impl IdSet for BTreeSet<u64> {
    const NAME: &'static str = "btreeset";
    fn insert(&mut self, id: u64) {
        BTreeSet::insert(self, id);
    }
    fn remove(&mut self, id: u64) {
        BTreeSet::remove(self, &id);
    }
    fn contains(&self, id: u64) -> bool {
        BTreeSet::contains(self, &id)
    }
    fn intersection_len(&self, other: &Self) -> u64 {
        self.intersection(other).count() as u64
    }
    fn intersection_first(&self, other: &Self, n: usize, out: &mut Vec<u64>) {
        out.extend(self.intersection(other).take(n));
    }
}

fn posting_cases<S: IdSet>(c: &mut Criterion, dense: bool) {
    // Two frequent words, each in an eighth of a million products' ids
    // (dense: `1..=1M` in order; random: 64-bit ids in random order).
    let kind = if dense { "dense" } else { "random" };
    let mut rng = Rng::new(7);
    let catalog = ids(PRODUCTS, dense, &mut rng);
    let word = |rng: &mut Rng| -> Vec<u64> {
        catalog
            .iter()
            .copied()
            .filter(|_| rng.below(8) == 0)
            .collect()
    };
    let (wa, wb) = (word(&mut rng), word(&mut rng));
    let (mut a, mut b) = (S::default(), S::default());
    wa.iter().for_each(|&id| a.insert(id));
    wb.iter().for_each(|&id| b.insert(id));
    let mut g = c.benchmark_group(format!("posting_125k_of_1m_{kind}"));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    // The word built from empty, its ids in the catalog's order (the
    // order the products were added in).
    g.throughput(Throughput::Elements(wa.len() as u64));
    g.sample_size(10);
    g.bench_function(format!("build/{}", S::NAME), |bch| {
        bch.iter(|| {
            let mut built = S::default();
            wa.iter().for_each(|&id| built.insert(id));
            built
        })
    });
    g.sample_size(100);
    g.throughput(Throughput::Elements(BATCH as u64));
    let probes = picks(&catalog, &mut rng, BATCH);
    g.bench_function(format!("contains/{}", S::NAME), |bch| {
        bch.iter(|| probes.iter().filter(|&&id| a.contains(id)).count())
    });
    // A product leaves the word and another (anywhere in the catalog)
    // joins it: the posting's size stays put.
    let mut present = wa.clone();
    g.bench_function(format!("delete_add/{}", S::NAME), |bch| {
        bch.iter(|| {
            for _ in 0..BATCH {
                let at = rng.below(present.len() as u64) as usize;
                a.remove(present[at]);
                let id = loop {
                    let id = catalog[rng.below(PRODUCTS) as usize];
                    if !a.contains(id) {
                        break id;
                    }
                };
                a.insert(id);
                present[at] = id;
            }
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function(format!("intersect/{}", S::NAME), |bch| {
        bch.iter(|| black_box(a.intersection_len(&b)))
    });
    let mut out = Vec::with_capacity(10);
    g.bench_function(format!("intersect_first10/{}", S::NAME), |bch| {
        bch.iter(|| {
            out.clear();
            a.intersection_first(&b, 10, &mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

fn posting_bench(c: &mut Criterion) {
    for dense in [true, false] {
        posting_cases::<WordPosting>(c, dense);
        posting_cases::<RoaringTreemap>(c, dense);
        posting_cases::<BTreeSet<u64>>(c, dense);
    }
}

/// A set built from empty by inserting `ids` one by one, in their order
/// (not a bulk build from sorted input).
fn build<S: Default>(ids: &[u64], insert: impl Fn(&mut S, u64) -> bool) -> S {
    let mut built = S::default();
    for &id in ids {
        insert(&mut built, id);
    }
    built
}

fn order_cases(c: &mut Criterion, dense: bool) {
    let kind = if dense { "sequential" } else { "random" };
    let mut rng = Rng::new(11);
    let all = ids(PRODUCTS, dense, &mut rng);
    let mut g = c.benchmark_group(format!("order_1m_{kind}"));
    g.warm_up_time(Duration::from_millis(500));
    g.measurement_time(Duration::from_secs(2));
    // The whole index built from empty in the order the products came
    // (ascending ids for sequential, as a shop's allocator hands them out).
    g.throughput(Throughput::Elements(PRODUCTS));
    g.sample_size(10);
    g.bench_function("build/ringmaster", |b| {
        b.iter(|| build(&all, |s: &mut OrderedIds, id| s.insert(id)))
    });
    g.bench_function("build/btreeset", |b| {
        b.iter(|| build(&all, |s: &mut BTreeSet<u64>, id| s.insert(id)))
    });
    g.sample_size(100);
    let mut ours = OrderedIds::default();
    let mut std_set = BTreeSet::new();
    for &id in &all {
        ours.insert(id);
        std_set.insert(id);
    }
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut present = all.clone();
    // A present id leaves and a new one comes: with sequential ids the
    // next id above all others (a shop adding products), with random ids
    // a random one (a collision with a present id has odds of 1 in 2^43
    // per step).
    let next = std::cell::Cell::new(PRODUCTS + 1);
    let step = |rng: &mut Rng, present: &mut Vec<u64>| {
        let at = rng.below(present.len() as u64) as usize;
        let id = if dense {
            next.replace(next.get() + 1)
        } else {
            rng.next_u64() | 1
        };
        (std::mem::replace(&mut present[at], id), id)
    };
    g.bench_function("delete_add/ringmaster", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let (gone, id) = step(&mut rng, &mut present);
                ours.remove(gone);
                ours.insert(id);
            }
        })
    });
    let mut present = all.clone();
    g.bench_function("delete_add/btreeset", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                let (gone, id) = step(&mut rng, &mut present);
                std_set.remove(&gone);
                std_set.insert(id);
            }
        })
    });
    g.throughput(Throughput::Elements(1));
    let len = ours.len() as u64;
    g.bench_function("page10_random_offset/ringmaster", |b| {
        b.iter(|| {
            let offset = rng.below(len) as usize;
            ours.page(offset, 10).fold(0u64, u64::wrapping_add)
        })
    });
    let len = std_set.len() as u64;
    g.bench_function("page10_random_offset/btreeset", |b| {
        b.iter(|| {
            let offset = rng.below(len) as usize;
            std_set
                .iter()
                .skip(offset)
                .take(10)
                .fold(0u64, |s, &id| s.wrapping_add(id))
        })
    });
    g.finish();
}

fn order_bench(c: &mut Criterion) {
    order_cases(c, true);
    order_cases(c, false);
}

criterion_group!(benches, ids_bench, posting_bench, order_bench);
criterion_main!(benches);
