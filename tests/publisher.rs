//! `SingleProducer::publisher`: a loop-owned publisher delivers every
//! event once and in order, and hands the producer back in a consistent
//! state, even when it is leaked instead of dropped.

use ringmaster::{EventHandler, GraphBuilder, RingConfig, WaitStrategy};
use std::sync::{Arc, Mutex};

struct Collect(Arc<Mutex<Vec<u64>>>);

impl EventHandler<u64> for Collect {
    fn on_event(&mut self, event: &u64, _: u64, _: bool) {
        self.0.lock().unwrap().push(*event);
    }
}

/// A small ring (it wraps many times and the producer waits for room),
/// with a collecting consumer.
fn build() -> (
    ringmaster::SingleProducer<u64>,
    ringmaster::Graph<u64>,
    Arc<Mutex<Vec<u64>>>,
) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut builder =
        GraphBuilder::<u64>::new(RingConfig::new(64).wait_strategy(WaitStrategy::Blocking));
    builder.handler("collect", Collect(seen.clone())).add();
    let (producer, graph) = builder.build_single_producer().unwrap();
    (producer, graph, seen)
}

#[test]
fn events_arrive_once_in_order_and_the_producer_carries_on() {
    let (mut producer, graph, seen) = build();
    producer.publish(0).unwrap();
    {
        let mut publisher = producer.publisher();
        for i in 1..5_000 {
            if i % 2 == 0 {
                publisher.publish(i).unwrap();
            } else {
                publisher.publish_with(|slot| *slot = i).unwrap();
            }
        }
    }
    producer.publish_batch(&[5_000, 5_001]).unwrap();
    let mut publisher = producer.publisher();
    for i in 5_002..10_000 {
        // `try_` never waits: retry until the consumer makes room.
        while publisher.try_publish_with(|slot| *slot = i).is_err() {
            std::thread::yield_now();
        }
    }
    drop(publisher);
    assert_eq!(producer.ring().cursor(), 10_000);
    graph.shutdown().unwrap();
    assert_eq!(*seen.lock().unwrap(), (0..10_000).collect::<Vec<_>>());
}

#[test]
fn a_leaked_publisher_leaves_the_producer_consistent() {
    let (mut producer, graph, seen) = build();
    let mut publisher = producer.publisher();
    for i in 0..1_000 {
        publisher.publish(i).unwrap();
    }
    // Its state never goes back: the producer must pick up from the ring,
    // not claim sequences already published.
    std::mem::forget(publisher);
    for i in 1_000..2_000 {
        producer.publish(i).unwrap();
    }
    assert_eq!(producer.ring().cursor(), 2_000);
    graph.shutdown().unwrap();
    assert_eq!(*seen.lock().unwrap(), (0..2_000).collect::<Vec<_>>());
}
