//! Pipeline, multicast and diamond graphs: every event reaches every
//! handler exactly once and in order, and no stage runs ahead of the
//! stages it depends on.

mod util;

use ringmaster::{GraphBuilder, RingConfig, WaitStrategy};
use std::thread;
use util::{assert_exactly_once_in_order, assert_per_producer_order, Recorder, Tagged};

const N: u64 = 100_000;

fn strategies() -> [WaitStrategy; 3] {
    [
        WaitStrategy::Yielding,
        WaitStrategy::Blocking,
        WaitStrategy::Backoff,
    ]
}

#[test]
fn pipeline_of_three() {
    for strategy in strategies() {
        let mut b = GraphBuilder::<u64>::new(RingConfig::new(256).wait_strategy(strategy));
        let (r1, l1, p1) = Recorder::new();
        let (r2, l2, p2) = Recorder::new();
        let (r3, l3, _) = Recorder::new();
        let s1 = b.handler("one", r1).add();
        let s2 = b.handler("two", r2.following(&[p1])).after(&[s1]).add();
        b.handler("three", r3.following(&[p2])).after(&[s2]).add();
        let (mut producer, graph) = b.build_single_producer().unwrap();
        for i in 0..N {
            producer.publish(i).unwrap();
        }
        graph.shutdown().unwrap();
        for log in [l1, l2, l3] {
            assert_exactly_once_in_order(&log.lock().unwrap(), N, |s| s);
        }
    }
}

#[test]
fn multicast_to_three() {
    for strategy in strategies() {
        let mut b = GraphBuilder::<u64>::new(RingConfig::new(256).wait_strategy(strategy));
        let logs: Vec<_> = (0..3)
            .map(|i| {
                let (r, l, _) = Recorder::new();
                b.handler(format!("h{i}"), r).add();
                l
            })
            .collect();
        let (mut producer, graph) = b.build_single_producer().unwrap();
        for i in 0..N {
            producer.publish_with(|s| *s = i + 1).unwrap();
        }
        graph.shutdown().unwrap();
        for log in logs {
            assert_exactly_once_in_order(&log.lock().unwrap(), N, |s| s + 1);
        }
    }
}

#[test]
fn diamond() {
    for strategy in strategies() {
        let mut b = GraphBuilder::<u64>::new(RingConfig::new(256).wait_strategy(strategy));
        let (ra, la, pa) = Recorder::new();
        let (rb, lb, pb) = Recorder::new();
        let (rc, lc, _) = Recorder::new();
        let a = b.handler("a", ra).add();
        let bb = b.handler("b", rb).add();
        b.handler("c", rc.following(&[pa, pb]))
            .after(&[a, bb])
            .add();
        let (mut producer, graph) = b.build_single_producer().unwrap();
        let mut i = 0;
        while i < N {
            let k = 1 + i % 37;
            let k = k.min(N - i);
            producer.publish_batch_with(k, |j, s| *s = i + j).unwrap();
            i += k;
        }
        graph.shutdown().unwrap();
        for log in [la, lb, lc] {
            assert_exactly_once_in_order(&log.lock().unwrap(), N, |s| s);
        }
    }
}

#[test]
fn three_producers_into_a_diamond() {
    let mut b =
        GraphBuilder::<Tagged>::new(RingConfig::new(64).wait_strategy(WaitStrategy::Yielding));
    let (ra, la, pa) = Recorder::new();
    let (rb, lb, pb) = Recorder::new();
    let (rc, lc, _) = Recorder::new();
    let a = b.handler("a", ra).add();
    let bb = b.handler("b", rb).add();
    b.handler("c", rc.following(&[pa, pb]))
        .after(&[a, bb])
        .add();
    let (producer, graph) = b.build_multi_producer().unwrap();
    let per = 20_000;
    thread::scope(|s| {
        for p in 0..3 {
            let mut producer = producer.clone();
            s.spawn(move || {
                for n in 0..per {
                    producer.publish(Tagged { producer: p, n }).unwrap();
                }
            });
        }
    });
    graph.shutdown().unwrap();
    let a_log = la.lock().unwrap().clone();
    assert_per_producer_order(&a_log, 3, per);
    // Every stage saw the same sequence -> event mapping.
    assert_eq!(*lb.lock().unwrap(), a_log);
    assert_eq!(*lc.lock().unwrap(), a_log);
}

#[test]
fn pollers_take_part_in_the_graph() {
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(32));
    let (ra, la, _) = Recorder::new();
    let a = b.handler("a", ra).add();
    let pid = b.poller("after-a").after(&[a]).add();
    let (mut producer, mut graph) = b.build_single_producer().unwrap();
    let mut poller = graph.take_poller(pid).unwrap();
    let consumer = thread::spawn(move || {
        let mut seen = Vec::new();
        while seen.len() < 1000 {
            let _ = poller.poll_timeout(std::time::Duration::from_secs(10), |e, _, _| {
                seen.push(*e);
                true
            });
        }
        seen
    });
    for i in 0..1000 {
        producer.publish(i).unwrap();
    }
    let seen = consumer.join().unwrap();
    assert_eq!(seen, (0..1000).collect::<Vec<_>>());
    graph.shutdown().unwrap();
    assert_eq!(la.lock().unwrap().len(), 1000);
}

#[test]
fn stages_report_topology_and_progress() {
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(16));
    let (ra, _, _) = Recorder::new();
    let (rb, _, _) = Recorder::new();
    let a = b.handler("parse", ra).add();
    let c = b.handler("apply", rb).after(&[a]).add();
    let (mut producer, graph) = b.build_single_producer().unwrap();
    for i in 0..10 {
        producer.publish(i).unwrap();
    }
    assert_eq!(graph.stages().len(), 2);
    assert!(!graph.stages()[0].gating);
    assert!(graph.stages()[1].gating);
    assert_eq!(
        graph.topology(),
        "producer -> parse, parse -> apply [gating]"
    );
    while graph.sequence(c) < 10 {
        thread::yield_now();
    }
    assert_eq!(graph.sequence(a), 10);
    graph.shutdown().unwrap();
}
