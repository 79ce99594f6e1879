//! Arbitrary claims, batch claims, try-claims, publishes and consumer
//! advances on a small ring with two producers and two consumers,
//! interleaved deterministically from the input, checked against a model:
//! no lost, duplicated, reordered or torn event, and `try_` results that
//! match the model's fullness.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ringmaster::{GraphBuilder, PollState, RingConfig, TryClaimError};

#[derive(Debug, Arbitrary)]
struct Input {
    capacity_log: u8,
    multi: bool,
    pipeline: bool,
    ops: Vec<Op>,
}

#[derive(Debug, Arbitrary)]
enum Op {
    TryClaim { producer: bool, n: u8 },
    Poll { consumer: bool, max: u8 },
}

/// A 32-byte event whose words must agree: a torn write shows.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Ev([u64; 4]);

fn ev(v: u64) -> Ev {
    Ev([v, !v, v.rotate_left(17), v ^ 0x5555])
}

fuzz_target!(|input: Input| {
    let capacity = 1u64 << (input.capacity_log % 5);
    let mut b = GraphBuilder::<Ev>::new(RingConfig::new(capacity));
    let c0 = b.poller("c0").add();
    let c1 = if input.pipeline {
        b.poller("c1").after(&[c0]).add()
    } else {
        b.poller("c1").add()
    };
    let (mut single, mut multi, mut graph) = if input.multi {
        let (p, g) = b.build_multi_producer().unwrap();
        (None, Some((p.clone(), p)), g)
    } else {
        let (p, g) = b.build_single_producer().unwrap();
        (Some(p), None, g)
    };
    let mut pollers = [
        graph.take_poller(c0).unwrap(),
        graph.take_poller(c1).unwrap(),
    ];
    let mut published = 0u64;
    let mut consumed = [0u64; 2];
    for op in input.ops.iter().take(512) {
        match *op {
            Op::TryClaim { producer, n } => {
                let n = u64::from(n % (capacity as u8 + 2));
                let gating = if input.pipeline {
                    consumed[1]
                } else {
                    consumed[0].min(consumed[1])
                };
                let room = capacity - (published - gating);
                let start = published;
                let fill = |i: u64, slot: &mut Ev| *slot = ev(start + i);
                let got = match (&mut single, &mut multi) {
                    (Some(p), _) => p.try_claim(n).map(|mut c| {
                        c.fill_with(fill);
                        c.publish();
                    }),
                    (_, Some((a, b))) => {
                        let p = if producer { a } else { b };
                        p.try_claim(n).map(|mut c| {
                            c.fill_with(fill);
                            c.publish();
                        })
                    }
                    _ => unreachable!(),
                };
                match got {
                    Ok(()) => {
                        assert!(n >= 1 && n <= room, "claimed {n} with room {room}");
                        published += n;
                    }
                    Err(TryClaimError::Full) => assert!(n >= 1 && n <= capacity && n > room),
                    Err(TryClaimError::TooLarge { .. }) => assert!(n == 0 || n > capacity),
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
            Op::Poll { consumer, max } => {
                let c = usize::from(consumer);
                let limit = if input.pipeline && c == 1 {
                    consumed[0]
                } else {
                    published
                };
                let readable = limit - consumed[c];
                let max = u64::from(max % (capacity as u8 + 1)).max(1);
                let mut taken = 0u64;
                let state = pollers[c].poll(|e, seq, _| {
                    assert_eq!(seq, consumed[c] + taken, "order");
                    assert_eq!(e.0, ev(seq).0, "torn or wrong event at {seq}");
                    taken += 1;
                    taken < max
                });
                assert_eq!(taken, readable.min(max));
                if readable > 0 {
                    assert_eq!(state, PollState::Processing);
                } else {
                    assert_ne!(state, PollState::Processing);
                }
                consumed[c] += taken;
            }
        }
    }
    drop(pollers);
    graph.halt().unwrap();
});
