//! The ring through the public API: claims, batches, try/timeout forms,
//! fullness and capacity limits.

mod util;

use ringmaster::{
    ClaimError, GraphBuilder, PollState, RingConfig, TryClaimError, TryPublishError, WaitStrategy,
};
use std::time::Duration;
use util::{assert_exactly_once_in_order, Recorder};

#[test]
fn unicast_delivers_every_event_once_in_order() {
    for strategy in [
        WaitStrategy::Yielding,
        WaitStrategy::Backoff,
        WaitStrategy::Blocking,
        WaitStrategy::BusySpin,
    ] {
        let n = if strategy == WaitStrategy::BusySpin {
            20_000
        } else {
            200_000
        };
        let mut builder = GraphBuilder::<u64>::new(RingConfig::new(256).wait_strategy(strategy));
        let (rec, log, _) = Recorder::new();
        builder.handler("rec", rec).add();
        let (mut producer, graph) = builder.build_single_producer().unwrap();
        for i in 0..n {
            producer.publish(i * 3).unwrap();
        }
        graph.shutdown().unwrap();
        assert_exactly_once_in_order(&log.lock().unwrap(), n, |s| s * 3);
    }
}

#[test]
fn batches_of_every_size_wrap_the_ring_correctly() {
    let mut builder = GraphBuilder::<u64>::new(RingConfig::new(64));
    let (rec, log, _) = Recorder::new();
    builder.handler("rec", rec).add();
    let (mut producer, graph) = builder.build_single_producer().unwrap();
    let mut next = 0u64;
    for round in 0..2_000u64 {
        let n = round % 64 + 1;
        producer
            .publish_batch_with(n, |i, slot| *slot = next + i)
            .unwrap();
        next += n;
    }
    let tail: Vec<u64> = (next..next + 300).collect();
    producer.publish_batch(&tail).unwrap();
    next += 300;
    graph.shutdown().unwrap();
    assert_exactly_once_in_order(&log.lock().unwrap(), next, |s| s);
}

#[test]
fn try_claim_reports_full_exactly_when_the_ring_is_full() {
    let mut builder = GraphBuilder::<u32>::new(RingConfig::new(8));
    let id = builder.poller("slow").add();
    let (mut producer, mut graph) = builder.build_single_producer().unwrap();
    let mut poller = graph.take_poller(id).unwrap();
    for i in 0..8 {
        producer.try_publish(i).unwrap();
    }
    assert!(matches!(
        producer.try_publish(99),
        Err(TryPublishError::Full(99))
    ));
    assert!(matches!(producer.try_claim(1), Err(TryClaimError::Full)));
    assert!(matches!(
        producer.claim_timeout(1, Duration::from_millis(20)),
        Err(TryClaimError::Full)
    ));
    // Consume three: exactly three slots free up.
    let mut taken = 0;
    poller.poll(|_, _, _| {
        taken += 1;
        taken < 3
    });
    assert_eq!(taken, 3);
    producer.try_claim(3).unwrap().publish();
    assert!(matches!(producer.try_claim(1), Err(TryClaimError::Full)));
    let mut seen = Vec::new();
    assert_eq!(
        poller.poll(|e, seq, _| {
            seen.push((seq, *e));
            true
        }),
        PollState::Processing
    );
    assert_eq!(seen.len(), 8);
    assert_eq!(seen[0], (3, 3));
    graph.shutdown().unwrap();
}

#[test]
fn claims_larger_than_the_ring_are_refused() {
    let mut builder = GraphBuilder::<u8>::new(RingConfig::new(16));
    builder.poller("p").add();
    let (mut producer, graph) = builder.build_single_producer().unwrap();
    assert_eq!(
        producer.claim(17).unwrap_err(),
        ClaimError::TooLarge {
            requested: 17,
            capacity: 16
        }
    );
    assert!(matches!(
        producer.try_claim(0),
        Err(TryClaimError::TooLarge { .. })
    ));
    assert!(producer.claim(16).is_ok());
    graph.halt().unwrap();
}

#[test]
fn a_dropped_claim_is_still_published() {
    let mut builder = GraphBuilder::<u64>::new(RingConfig::new(16));
    let id = builder.poller("p").add();
    let (mut producer, mut graph) = builder.build_single_producer().unwrap();
    let mut poller = graph.take_poller(id).unwrap();
    {
        let mut claim = producer.claim(2).unwrap();
        *claim.get_mut(0) = 10;
        *claim.get_mut(1) = 11;
    }
    let mut seen = Vec::new();
    poller.poll(|e, _, _| {
        seen.push(*e);
        true
    });
    assert_eq!(seen, [10, 11]);
    graph.shutdown().unwrap();
}

#[test]
fn end_of_batch_marks_the_last_available_event() {
    let mut builder = GraphBuilder::<u64>::new(RingConfig::new(64));
    let id = builder.poller("p").add();
    let (mut producer, mut graph) = builder.build_single_producer().unwrap();
    let mut poller = graph.take_poller(id).unwrap();
    producer.publish_batch(&[1, 2, 3]).unwrap();
    let mut flags = Vec::new();
    poller.poll(|_, _, eob| {
        flags.push(eob);
        true
    });
    assert_eq!(flags, [false, false, true]);
    graph.shutdown().unwrap();
}

#[test]
fn header_describes_the_region() {
    let mut builder = GraphBuilder::<[u64; 8]>::new(RingConfig::new(4096).fingerprint(0xabc));
    builder.poller("p").add();
    let (_producer, graph) = builder.build_multi_producer().unwrap();
    let h = graph.ring().header();
    assert_eq!(h.capacity, 4096);
    assert_eq!(h.event_size, 64);
    assert!(h.multi_producer);
    assert_eq!(h.fingerprint, 0xabc);
    assert_eq!(h.slots_offset % 128, 0);
    assert!(h.region_len >= h.slots_offset + 4096 * 64);
    graph.halt().unwrap();
}
