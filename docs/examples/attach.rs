//! Stages that join and leave a running graph, and a work pool: orders flow
//! through a pool of three pricing workers into a store; while the producer
//! keeps publishing, an audit tap joins after the store, counts what it
//! sees, and leaves, handing back its handler. Runnable with
//! `cargo run --release --example attach`.
//!
//! ```text
//!                  +--> price/0 --+
//! producer -> ring +--> price/1 --+--> store [gating]
//!                  +--> price/2 --+        \--> audit [gating]  (joins, then leaves)
//! ```

use ringmaster::{handler_fn, EventHandler, GraphBuilder, RingConfig, WaitStrategy};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// One order: plain data, written in place in the ring.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Order {
    id: u64,
    amount_cents: u64,
}

/// The tap: what it saw, handed back when it leaves.
#[derive(Debug, Default)]
struct Audit {
    orders: u64,
    total_cents: u64,
}

impl EventHandler<Order> for Audit {
    fn on_event(&mut self, order: &Order, _sequence: u64, _end_of_batch: bool) {
        self.orders += 1;
        self.total_cents += order.amount_cents;
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder =
        GraphBuilder::<Order>::new(RingConfig::new(1024).wait_strategy(WaitStrategy::Yielding));
    // Independent events: any free worker takes the next ones.
    let price = builder
        .work_pool("price", 3, |_worker| {
            handler_fn(|order: &Order, _, _| {
                std::hint::black_box(order.amount_cents * 21 / 20);
            })
        })
        .add();
    let stored = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&stored);
    let store = builder
        .handler(
            "store",
            handler_fn(move |_: &Order, _, _| {
                // Relaxed: a count read after shutdown joins this thread.
                counter.fetch_add(1, Ordering::Relaxed);
            }),
        )
        .after(price.ids())
        .add();
    let (mut producer, mut graph) = builder.build_single_producer()?;

    let stop = Arc::new(AtomicBool::new(false));
    let stop_producing = Arc::clone(&stop);
    let producing = std::thread::spawn(move || {
        let mut id = 0;
        // Relaxed: a stop request; the count comes back through join.
        while !stop_producing.load(Ordering::Relaxed) {
            let order = Order {
                id,
                amount_cents: 100 + id % 50,
            };
            if producer.publish(order).is_err() {
                break;
            }
            id += 1;
        }
        id
    });

    // Join at the cursor, after the store; leave a little later.
    let audit = graph
        .attach("audit", Audit::default())
        .after(&[store])
        .start()?;
    std::thread::sleep(std::time::Duration::from_millis(50));
    let left = graph.detach(audit)?;
    println!(
        "audit saw orders {}..{}: {} orders, {} cents",
        left.start, left.end, left.handler.orders, left.handler.total_cents
    );
    assert_eq!(left.handler.orders, left.end - left.start);

    stop.store(true, Ordering::Relaxed);
    let published = producing.join().expect("producer thread");
    graph.shutdown()?;
    println!(
        "published {published}, stored {}",
        stored.load(Ordering::Relaxed)
    );
    Ok(())
}
