//! A partitioned stage: account balances updated by four threads, each
//! account's orders applied in order by one of them, then a ledger stage
//! that sees an order only once its partition applied it. Runnable with
//! `cargo run --release --example partitioned`.
//!
//! ```text
//!                      +--> balances/0 (accounts -> 0) --+
//! producer --> ring ---+--> balances/1 (accounts -> 1) --+--> ledger
//!                      +--> balances/2 (accounts -> 2) --+
//!                      +--> balances/3 (accounts -> 3) --+
//! ```

use ringmaster::{partition_of, EventHandler, GraphBuilder, RingConfig, WaitStrategy};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// One order against an account: plain data, written in place in the ring.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Order {
    account: u64,
    amount_cents: i64,
    id: u64,
}

/// One partition: the balances of the accounts that map to it.
struct Balances {
    partition: u32,
    balances: HashMap<u64, i64>,
    /// The last order id seen per account, to show per-account order.
    last_id: HashMap<u64, u64>,
}

impl EventHandler<Order> for Balances {
    fn on_event(&mut self, order: &Order, _sequence: u64, _end_of_batch: bool) {
        *self.balances.entry(order.account).or_default() += order.amount_cents;
        let previous = self.last_id.insert(order.account, order.id);
        assert!(
            previous.is_none_or(|p| p < order.id),
            "an account's orders in order"
        );
    }

    fn on_shutdown(&mut self) {
        println!(
            "balances/{}: {} accounts",
            self.partition,
            self.balances.len()
        );
    }
}

/// After every partition: counts what was applied.
struct Ledger {
    orders: Arc<AtomicU64>,
}

impl EventHandler<Order> for Ledger {
    fn on_event(&mut self, _order: &Order, _sequence: u64, _end_of_batch: bool) {
        // Relaxed: a count read after shutdown joins this thread.
        self.orders.fetch_add(1, Ordering::Relaxed);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let partitions = 4;
    let mut builder =
        GraphBuilder::<Order>::new(RingConfig::new(1024).wait_strategy(WaitStrategy::Yielding));
    let balances = builder
        .partitioned(
            "balances",
            partitions,
            |order: &Order| order.account,
            |partition| Balances {
                partition,
                balances: HashMap::new(),
                last_id: HashMap::new(),
            },
        )
        .add();
    let orders = Arc::new(AtomicU64::new(0));
    builder
        .handler(
            "ledger",
            Ledger {
                orders: Arc::clone(&orders),
            },
        )
        .after(balances.ids())
        .add();
    let (mut producer, graph) = builder.build_single_producer()?;
    for id in 0..100_000u64 {
        let account = id % 97;
        producer.publish(Order {
            account,
            amount_cents: if id % 3 == 0 { -50 } else { 100 },
            id,
        })?;
    }
    graph.shutdown()?;
    println!(
        "ledger: {} orders; account 7 is handled by balances/{}",
        orders.load(Ordering::Relaxed),
        partition_of(7, partitions)
    );
    Ok(())
}
