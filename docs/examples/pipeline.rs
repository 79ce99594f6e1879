//! A three-stage order pipeline with a diamond at the end: the example from
//! the README, runnable with `cargo run --release --example pipeline`.
//!
//! ```text
//!                      +--> risk ----+
//! producer --> parse --+             +--> book
//!                      +--> audit ---+
//! ```
//!
//! `parse` sees every order first; `risk` and `audit` each see every order
//! after `parse`, in parallel; `book` sees an order only once both have.

use ringmaster::{handler_fn, EventHandler, GraphBuilder, RingConfig, WaitStrategy};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// One order: 32 bytes of plain data, written in place in the ring.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Order {
    id: u64,
    account: u64,
    price_cents: u64,
    quantity: u64,
}

/// The last stage: books orders and reports the total notional.
struct Book {
    notional_cents: u64,
    orders: u64,
    total: Arc<AtomicU64>,
}

impl EventHandler<Order> for Book {
    fn on_event(&mut self, order: &Order, _sequence: u64, end_of_batch: bool) {
        self.notional_cents += order.price_cents * order.quantity;
        self.orders += 1;
        if end_of_batch {
            // Relaxed: a progress figure read after shutdown joins us.
            self.total.store(self.notional_cents, Ordering::Relaxed);
        }
    }

    fn on_shutdown(&mut self) {
        println!("book: {} orders booked", self.orders);
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let total = Arc::new(AtomicU64::new(0));
    // Five threads on what may be a two-core machine: yield while idle.
    let mut builder =
        GraphBuilder::<Order>::new(RingConfig::new(1 << 14).wait_strategy(WaitStrategy::Yielding));
    let parse = builder
        .handler(
            "parse",
            handler_fn(|o: &Order, _, _| assert!(o.quantity > 0)),
        )
        .add();
    let risk = builder
        .handler(
            "risk",
            handler_fn(|o: &Order, _, _| assert!(o.price_cents < 1_000_000)),
        )
        .after(&[parse])
        .add();
    let audit = builder
        .handler(
            "audit",
            handler_fn(|o: &Order, _, _| {
                std::hint::black_box(o.account);
            }),
        )
        .after(&[parse])
        .add();
    builder
        .handler(
            "book",
            Book {
                notional_cents: 0,
                orders: 0,
                total: total.clone(),
            },
        )
        .after(&[risk, audit])
        .add();
    let (mut producer, graph) = builder.build_single_producer()?;
    println!("topology: {}", graph.topology());
    // A handle that outlives the graph: its snapshot after shutdown holds
    // every stage's final figures (1 order in 1024 sampled, the default).
    let mut metrics = graph.metrics_handle();

    let orders = 1_000_000u64;
    let start = Instant::now();
    for id in 0..orders {
        producer.publish_with(|o| {
            *o = Order {
                id,
                account: id % 97,
                price_cents: 100 + id % 50,
                quantity: 1 + id % 3,
            }
        })?;
    }
    graph.shutdown()?;
    let secs = start.elapsed().as_secs_f64();
    let expected: u64 = (0..orders).map(|i| (100 + i % 50) * (1 + i % 3)).sum();
    assert_eq!(total.load(Ordering::Relaxed), expected);
    println!(
        "{orders} orders through 4 stages in {:.3} s ({:.1} M orders/s); notional {} cents",
        secs,
        orders as f64 / secs / 1e6,
        expected
    );
    println!("\nper stage (publish to end of batch, sampled):");
    print!("{}", metrics.snapshot().summary());
    Ok(())
}
