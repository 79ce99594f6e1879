//! Pipeline, multicast and diamond graphs: every event reaches every
//! handler exactly once and in order, and no stage runs ahead of the
//! stages it depends on; each with a thread per stage and with every stage
//! on the first stage's thread (`StageBuilder::same_thread_as`).

mod util;

use ringmaster::{EventHandler, GraphBuilder, RingConfig, StageBuilder, StageId, WaitStrategy};
use std::thread;
use util::{assert_exactly_once_in_order, assert_per_producer_order, Recorder, Tagged};

const N: u64 = 100_000;

/// Where the stages after the first run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Layout {
    /// A thread each.
    OwnThreads,
    /// On the first stage's thread.
    OneThread,
}

const LAYOUTS: [Layout; 2] = [Layout::OwnThreads, Layout::OneThread];

/// `stage`, placed per `layout` relative to the graph's `first` stage.
fn placed<'a, E: bytemuck::Pod + Send, H: EventHandler<E>>(
    stage: StageBuilder<'a, E, H>,
    layout: Layout,
    first: StageId,
) -> StageBuilder<'a, E, H> {
    match layout {
        Layout::OwnThreads => stage,
        Layout::OneThread => stage.same_thread_as(first),
    }
}

/// Every handler stage runs on a thread of its own, or all on one.
fn assert_layout<E: bytemuck::Pod + Send>(graph: &ringmaster::Graph<E>, layout: Layout) {
    let threads: std::collections::BTreeSet<_> =
        graph.stages().iter().map(|s| s.thread.clone()).collect();
    let expected = match layout {
        Layout::OwnThreads => graph.stages().len(),
        Layout::OneThread => 1,
    };
    assert_eq!(threads.len(), expected, "{layout:?}: {}", graph.topology());
}

fn strategies() -> [WaitStrategy; 3] {
    [
        WaitStrategy::Yielding,
        WaitStrategy::Blocking,
        WaitStrategy::Backoff,
    ]
}

#[test]
fn pipeline_of_three() {
    for (layout, strategy) in LAYOUTS
        .into_iter()
        .flat_map(|l| strategies().map(|s| (l, s)))
    {
        let mut b = GraphBuilder::<u64>::new(RingConfig::new(256).wait_strategy(strategy));
        let (r1, l1, p1) = Recorder::new();
        let (r2, l2, p2) = Recorder::new();
        let (r3, l3, _) = Recorder::new();
        let s1 = b.handler("one", r1).add();
        let s2 = placed(b.handler("two", r2.following(&[p1])), layout, s1)
            .after(&[s1])
            .add();
        placed(b.handler("three", r3.following(&[p2])), layout, s1)
            .after(&[s2])
            .add();
        let (mut producer, graph) = b.build_single_producer().unwrap();
        assert_layout(&graph, layout);
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
    for (layout, strategy) in LAYOUTS
        .into_iter()
        .flat_map(|l| strategies().map(|s| (l, s)))
    {
        let mut b = GraphBuilder::<u64>::new(RingConfig::new(256).wait_strategy(strategy));
        let (r0, l0, _) = Recorder::new();
        let first = b.handler("h0", r0).add();
        let mut logs = vec![l0];
        for i in 1..3 {
            let (r, l, _) = Recorder::new();
            placed(b.handler(format!("h{i}"), r), layout, first).add();
            logs.push(l);
        }
        let (mut producer, graph) = b.build_single_producer().unwrap();
        assert_layout(&graph, layout);
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
    for (layout, strategy) in LAYOUTS
        .into_iter()
        .flat_map(|l| strategies().map(|s| (l, s)))
    {
        let mut b = GraphBuilder::<u64>::new(RingConfig::new(256).wait_strategy(strategy));
        let (ra, la, pa) = Recorder::new();
        let (rb, lb, pb) = Recorder::new();
        let (rc, lc, _) = Recorder::new();
        let a = b.handler("a", ra).add();
        let bb = placed(b.handler("b", rb), layout, a).add();
        placed(b.handler("c", rc.following(&[pa, pb])), layout, a)
            .after(&[a, bb])
            .add();
        let (mut producer, graph) = b.build_single_producer().unwrap();
        assert_layout(&graph, layout);
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
    for layout in LAYOUTS {
        three_producers_into_a_diamond_laid_out(layout);
    }
}

fn three_producers_into_a_diamond_laid_out(layout: Layout) {
    let mut b =
        GraphBuilder::<Tagged>::new(RingConfig::new(64).wait_strategy(WaitStrategy::Yielding));
    let (ra, la, pa) = Recorder::new();
    let (rb, lb, pb) = Recorder::new();
    let (rc, lc, _) = Recorder::new();
    let a = b.handler("a", ra).add();
    let bb = placed(b.handler("b", rb), layout, a).add();
    placed(b.handler("c", rc.following(&[pa, pb])), layout, a)
        .after(&[a, bb])
        .add();
    let (producer, graph) = b.build_multi_producer().unwrap();
    assert_layout(&graph, layout);
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
