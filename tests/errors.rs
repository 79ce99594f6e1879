//! Every bad input gives a typed error naming what was wrong.

use ringmaster::{BuildError, ConfigError, GraphBuilder, NoopHandler, RingConfig, WaitStrategy};

fn build<E: bytemuck::Pod + Send>(capacity: u64) -> Result<(), BuildError> {
    let mut b = GraphBuilder::<E>::new(RingConfig::new(capacity));
    b.handler("h", NoopHandler).add();
    b.build_single_producer().map(|(_, g)| g.halt().unwrap())
}

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(256))]
struct OverAligned([u8; 256]);

#[test]
fn capacity_errors() {
    let err = build::<u64>(0).unwrap_err();
    assert!(matches!(err, BuildError::Config(ConfigError::CapacityZero)));
    let err = build::<u64>(1000).unwrap_err();
    assert!(matches!(
        err,
        BuildError::Config(ConfigError::CapacityNotPowerOfTwo { capacity: 1000 })
    ));
    assert!(
        err.to_string().contains("1024"),
        "suggests the next power: {err}"
    );
    assert!(matches!(
        build::<u64>(1 << 40).unwrap_err(),
        BuildError::Config(ConfigError::CapacityTooLarge { .. })
    ));
    assert!(matches!(
        build::<[u8; 65536]>(1 << 30).unwrap_err(),
        BuildError::Config(ConfigError::RegionTooLarge { .. })
    ));
}

#[test]
fn event_type_errors() {
    assert!(matches!(
        build::<[u8; 70_000]>(2).unwrap_err(),
        BuildError::Config(ConfigError::EventTooLarge { size: 70_000, .. })
    ));
    assert!(matches!(
        build::<OverAligned>(2).unwrap_err(),
        BuildError::Config(ConfigError::EventAlignmentTooLarge {
            align: 256,
            max: 128
        })
    ));
    assert!(matches!(
        build::<()>(2).unwrap_err(),
        BuildError::Config(ConfigError::EventZeroSized)
    ));
}

#[test]
fn graph_errors() {
    let b = GraphBuilder::<u64>::new(RingConfig::new(8));
    assert!(matches!(
        b.build_single_producer().unwrap_err(),
        BuildError::NoConsumers
    ));

    let mut other = GraphBuilder::<u64>::new(RingConfig::new(8));
    other.poller("x").add();
    let foreign = other.poller("y").add();
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(8));
    b.handler("h", NoopHandler).after(&[foreign]).add();
    match b.build_single_producer().unwrap_err() {
        BuildError::UnknownStage { stage, dependency } => {
            assert_eq!((stage.as_str(), dependency), ("h", 1));
        }
        other => panic!("{other:?}"),
    }

    let mut b = GraphBuilder::<u64>::new(RingConfig::new(8));
    for i in 0..=ringmaster::MAX_CONSUMERS {
        b.poller(format!("p{i}")).add();
    }
    assert!(matches!(
        b.build_single_producer().unwrap_err(),
        BuildError::TooManyConsumers { count: 65, max: 64 }
    ));

    let mut b = GraphBuilder::<u64>::new(RingConfig::new(8));
    b.handler("fine", NoopHandler).max_batch(1).add();
    b.handler("capped", NoopHandler).max_batch(0).add();
    match b.build_single_producer().unwrap_err() {
        BuildError::ZeroMaxBatch { stage } => assert_eq!(stage, "capped"),
        other => panic!("{other:?}"),
    }

    let mut b = GraphBuilder::<u64>::new(RingConfig::new(8));
    b.handler("pinned", NoopHandler).pin(10_000).add();
    match b.build_single_producer().unwrap_err() {
        BuildError::NoSuchCore { stage, core, .. } => {
            assert_eq!((stage.as_str(), core), ("pinned", 10_000))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn busy_spin_with_more_threads_than_cores_is_allowed() {
    // A warning, not an error: it works, slowly.
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(64).wait_strategy(WaitStrategy::BusySpin));
    for i in 0..4 {
        b.handler(format!("h{i}"), NoopHandler).add();
    }
    let (mut p, graph) = b.build_single_producer().unwrap();
    for i in 0..1000 {
        p.publish(i).unwrap();
    }
    graph.shutdown().unwrap();
}

#[test]
fn pinning_to_an_existing_core_works() {
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(64));
    b.handler("pinned", NoopHandler).pin(0).add();
    let (mut p, graph) = b.build_single_producer().unwrap();
    p.publish(1).unwrap();
    graph.shutdown().unwrap();
}
