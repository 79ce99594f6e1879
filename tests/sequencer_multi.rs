//! The multi-producer sequencer: concurrent producers, per-producer order,
//! and consumers never seeing a slot before it is published.

mod util;

use ringmaster::{GraphBuilder, PollState, RingConfig, WaitStrategy};
use std::sync::mpsc;
use std::thread;
use util::{assert_per_producer_order, Recorder, Tagged};

fn run_producers(strategy: WaitStrategy, producers: u64, per: u64, batch: u64) {
    let mut builder = GraphBuilder::<Tagged>::new(RingConfig::new(128).wait_strategy(strategy));
    let (rec, log, _) = Recorder::new();
    builder.handler("rec", rec).add();
    let (producer, graph) = builder.build_multi_producer().unwrap();
    thread::scope(|s| {
        for p in 0..producers {
            let mut producer = producer.clone();
            s.spawn(move || {
                let mut n = 0;
                while n < per {
                    let k = batch.min(per - n);
                    producer
                        .publish_batch_with(k, |i, slot| {
                            *slot = Tagged {
                                producer: p,
                                n: n + i,
                            }
                        })
                        .unwrap();
                    n += k;
                }
            });
        }
    });
    drop(producer);
    graph.shutdown().unwrap();
    assert_per_producer_order(&log.lock().unwrap(), producers, per);
}

#[test]
fn three_producers_single_events() {
    run_producers(WaitStrategy::Yielding, 3, 50_000, 1);
}

#[test]
fn three_producers_batches_blocking() {
    run_producers(WaitStrategy::Blocking, 3, 50_000, 16);
}

#[test]
fn four_producers_backoff() {
    run_producers(WaitStrategy::Backoff, 4, 20_000, 5);
}

#[test]
fn try_publish_from_many_threads_loses_nothing() {
    let mut builder = GraphBuilder::<Tagged>::new(RingConfig::new(16));
    let (rec, log, _) = Recorder::new();
    builder.handler("rec", rec).add();
    let (producer, graph) = builder.build_multi_producer().unwrap();
    let per = 20_000;
    thread::scope(|s| {
        for p in 0..3 {
            let mut producer = producer.clone();
            s.spawn(move || {
                for n in 0..per {
                    let mut e = Tagged { producer: p, n };
                    loop {
                        match producer.try_publish(e) {
                            Ok(()) => break,
                            Err(err) => {
                                e = err.into_inner();
                                thread::yield_now();
                            }
                        }
                    }
                }
            });
        }
    });
    graph.shutdown().unwrap();
    assert_per_producer_order(&log.lock().unwrap(), 3, per);
}

/// Producer A claims slot 0, producer B claims and publishes slot 1: a
/// consumer must see nothing until A publishes, then both in order.
#[test]
fn out_of_order_publish_stays_hidden_until_the_prefix_is_published() {
    let mut builder = GraphBuilder::<u64>::new(RingConfig::new(8));
    let id = builder.poller("p").add();
    let (producer, mut graph) = builder.build_multi_producer().unwrap();
    let mut poller = graph.take_poller(id).unwrap();
    let (claimed_tx, claimed_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let mut a = producer.clone();
    let a_thread = thread::spawn(move || {
        let mut claim = a.claim(1).unwrap();
        *claim.get_mut(0) = 100;
        claimed_tx.send(claim.sequences()).unwrap();
        go_rx.recv().unwrap();
        claim.publish();
    });
    assert_eq!(claimed_rx.recv().unwrap(), 0..1);
    let mut b = producer.clone();
    b.publish(200).unwrap();
    assert_eq!(graph.ring().cursor(), 2);
    assert_eq!(
        poller.poll(|_, _, _| panic!("slot 0 is not published")),
        PollState::Gating
    );
    go_tx.send(()).unwrap();
    a_thread.join().unwrap();
    let mut seen = Vec::new();
    poller.poll(|e, seq, _| {
        seen.push((seq, *e));
        true
    });
    assert_eq!(seen, [(0, 100), (1, 200)]);
    graph.shutdown().unwrap();
}
