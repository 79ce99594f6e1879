//! Property test: random sequences of claims, publishes and consumes,
//! checked step by step against a `VecDeque` model of the ring.

use proptest::prelude::*;
use ringmaster::{GraphBuilder, PollState, RingConfig, TryClaimError};
use std::collections::VecDeque;

#[derive(Debug, Clone)]
enum Op {
    /// `try_claim(n)` on producer `p`, fill, publish.
    Publish { p: usize, n: u64 },
    /// Consumer `c` takes at most `max` events.
    Poll { c: usize, max: u64 },
}

fn op(capacity: u64) -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, 0..=capacity + 1).prop_map(|(p, n)| Op::Publish { p, n }),
        (0..2usize, 0..=capacity).prop_map(|(c, max)| Op::Poll { c, max }),
    ]
}

/// Model: the values published and, per consumer, how many it consumed.
struct Model {
    capacity: u64,
    published: Vec<u64>,
    consumed: [u64; 2],
    /// Consumer 1 runs after consumer 0 (pipeline) rather than beside it.
    pipeline: bool,
}

impl Model {
    fn gating_min(&self) -> u64 {
        if self.pipeline {
            self.consumed[1]
        } else {
            self.consumed[0].min(self.consumed[1])
        }
    }
    fn room(&self) -> u64 {
        self.capacity - (self.published.len() as u64 - self.gating_min())
    }
    fn readable(&self, c: usize) -> u64 {
        let limit = if self.pipeline && c == 1 {
            self.consumed[0]
        } else {
            self.published.len() as u64
        };
        limit - self.consumed[c]
    }
}

fn run(capacity: u64, pipeline: bool, multi: bool, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut b = GraphBuilder::<u64>::new(RingConfig::new(capacity));
    let c0 = b.poller("c0").add();
    let c1 = if pipeline {
        b.poller("c1").after(&[c0]).add()
    } else {
        b.poller("c1").add()
    };
    // Two producer handles; for a single-producer ring both are the same.
    let (mut producers, mut graph) = if multi {
        let (p, g) = b.build_multi_producer().unwrap();
        (Producers::Multi(p.clone(), p), g)
    } else {
        let (p, g) = b.build_single_producer().unwrap();
        (Producers::Single(p), g)
    };
    let mut pollers = [
        graph.take_poller(c0).unwrap(),
        graph.take_poller(c1).unwrap(),
    ];
    let mut model = Model {
        capacity,
        published: Vec::new(),
        consumed: [0, 0],
        pipeline,
    };
    let mut queues: [VecDeque<u64>; 2] = [VecDeque::new(), VecDeque::new()];
    let mut next_value = 1000u64;
    for op in ops {
        match op {
            Op::Publish { p, n } => {
                let expect = if n == 0 || n > capacity {
                    Err(TryClaimError::TooLarge {
                        requested: n,
                        capacity,
                    })
                } else if n > model.room() {
                    Err(TryClaimError::Full)
                } else {
                    Ok(())
                };
                let start = next_value;
                let got = producers.try_publish_batch(p, n, start);
                prop_assert_eq!(got, expect, "publish {} with room {}", n, model.room());
                if got.is_ok() {
                    for v in start..start + n {
                        model.published.push(v);
                        queues[0].push_back(v);
                        queues[1].push_back(v);
                    }
                    next_value += n;
                }
            }
            Op::Poll { c, max } => {
                let readable = model.readable(c);
                let expected_state = if max == 0 {
                    None
                } else if readable > 0 {
                    Some(PollState::Processing)
                } else if model.published.len() as u64 > model.consumed[c] {
                    Some(PollState::Gating)
                } else {
                    Some(PollState::Idle)
                };
                let Some(expected_state) = expected_state else {
                    continue;
                };
                let mut got = Vec::new();
                let state = pollers[c].poll(|e, seq, _| {
                    got.push((seq, *e));
                    (got.len() as u64) < max
                });
                prop_assert_eq!(state, expected_state);
                let take = readable.min(max);
                prop_assert_eq!(got.len() as u64, take);
                for (seq, e) in got {
                    prop_assert_eq!(seq, model.consumed[c]);
                    prop_assert_eq!(Some(e), queues[c].pop_front());
                    model.consumed[c] += 1;
                }
            }
        }
    }
    drop(producers);
    graph.halt().unwrap();
    Ok(())
}

enum Producers {
    Single(ringmaster::SingleProducer<u64>),
    Multi(
        ringmaster::MultiProducer<u64>,
        ringmaster::MultiProducer<u64>,
    ),
}

impl Producers {
    fn try_publish_batch(&mut self, p: usize, n: u64, start: u64) -> Result<(), TryClaimError> {
        match self {
            Self::Single(s) => s.try_claim(n).map(|mut c| {
                c.fill_with(|i, slot| *slot = start + i);
                c.publish();
            }),
            Self::Multi(a, b) => {
                let producer = if p == 0 { a } else { b };
                producer.try_claim(n).map(|mut c| {
                    c.fill_with(|i, slot| *slot = start + i);
                    c.publish();
                })
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(256)
    ))]

    #[test]
    fn ring_matches_model(
        capacity_log in 0u32..5,
        pipeline in any::<bool>(),
        multi in any::<bool>(),
        ops in prop::collection::vec(op(16), 1..200),
    ) {
        let capacity = 1u64 << capacity_log;
        let ops = ops
            .into_iter()
            .map(|op| match op {
                Op::Publish { p, n } => Op::Publish { p, n: n.min(capacity + 1) },
                Op::Poll { c, max } => Op::Poll { c, max: max.min(capacity) },
            })
            .collect();
        run(capacity, pipeline, multi, ops)?;
    }
}
