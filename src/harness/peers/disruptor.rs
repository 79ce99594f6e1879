//! The `disruptor` crate (4.x, `BusySpin`: its only strategy family).

use crate::harness::event::{now_ns, BenchEvent, Counter, Tally};
use crate::harness::params::{spin_until, Outcome, Params};
use disruptor::{BusySpin, ProcessorSettings, Producer};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

type Handler<E> = Box<dyn FnMut(&E, i64, bool) + Send>;

fn sink<E: BenchEvent>(
    p: &Params,
    tally: &Arc<Tally>,
    latency: bool,
) -> (impl FnMut(&E, i64, bool) + Send + 'static, Arc<AtomicU64>) {
    let mut counter = Counter::new(p.events, latency, p.warmup).with_work(p.handler_work);
    let progress = counter.progress.clone();
    let tally = tally.clone();
    let mut done = false;
    (
        move |e: &E, _seq: i64, eob: bool| {
            if done {
                return;
            }
            if counter.on(e) {
                counter.finish(&tally);
                done = true;
            } else if eob {
                counter.report_progress();
            }
        },
        progress,
    )
}

fn pass<E: BenchEvent>() -> Handler<E> {
    Box::new(|e: &E, _, _| {
        black_box(e.value());
    })
}

fn wait(p: &Params, tally: &Tally, start: u64, progress: &[Arc<AtomicU64>]) -> Outcome {
    let sum = || {
        progress
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let complete = tally.wait(p.stall, sum);
    let (received, checksum) = tally.totals();
    Outcome {
        received: if complete { received } else { sum() },
        checksum,
        elapsed_ns: tally.end_ns().saturating_sub(start),
        batches: tally.batches(),
        histogram: tally.take_histogram(),
        batch_sizes: None,
    }
}

fn pin<T: ProcessorSettings<E, BusySpin>, E>(b: T, p: &Params, thread: usize) -> T {
    match p.core(thread) {
        Some(core) => b.pin_at_core(core),
        None => b,
    }
}

fn drive<E: BenchEvent, P: Producer<E>>(p: &Params, producer: &mut P, latency: bool) -> u64 {
    p.pin(0);
    let start = now_ns();
    if latency {
        for i in 0..p.events {
            let at = p.intended_ns(start, i);
            spin_until(at);
            producer.publish(|e| *e = E::new(i, p.send_stamp(at)));
        }
    } else if p.batch > 1 {
        let mut i = 0;
        while i < p.events {
            let n = p.batch.min(p.events - i) as usize;
            let base = i;
            producer.batch_publish(n, |iter| {
                for (k, e) in iter.enumerate() {
                    *e = E::new(base + k as u64, 0);
                }
            });
            i += n as u64;
        }
    } else {
        for i in 0..p.events {
            producer.publish(|e| *e = E::new(i, 0));
        }
    }
    start
}

fn run_single<E: BenchEvent>(p: &Params, latency: bool) -> Outcome {
    let tally = Tally::new(1);
    let (h, prog) = sink::<E>(p, &tally, latency);
    let b = disruptor::build_single_producer(p.capacity as usize, E::zeroed, BusySpin);
    let mut producer = pin(b, p, 1).handle_events_with(h).build();
    let start = drive(p, &mut producer, latency);
    let out = wait(p, &tally, start, &[prog]);
    drop(producer);
    out
}

/// 1P-1C (single or batch publishing, per `p.batch`).
pub fn unicast<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    Ok(run_single::<E>(p, false))
}

/// Paced one-way latency.
pub fn latency<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    Ok(run_single::<E>(p, true))
}

/// 1P -> a -> b -> c.
pub fn pipeline<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    let tally = Tally::new(1);
    let (h, prog) = sink::<E>(p, &tally, false);
    let b = disruptor::build_single_producer(p.capacity as usize, E::zeroed, BusySpin);
    let b = pin(b, p, 1).handle_events_with(pass::<E>()).and_then();
    let b = pin(b, p, 2).handle_events_with(pass::<E>()).and_then();
    let mut producer = pin(b, p, 3).handle_events_with(h).build();
    let start = drive(p, &mut producer, false);
    let out = wait(p, &tally, start, &[prog]);
    drop(producer);
    Ok(out)
}

/// 1P -> (a, b, c).
pub fn multicast<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    let tally = Tally::new(3);
    let (h1, p1) = sink::<E>(p, &tally, false);
    let (h2, p2) = sink::<E>(p, &tally, false);
    let (h3, p3) = sink::<E>(p, &tally, false);
    let b = disruptor::build_single_producer(p.capacity as usize, E::zeroed, BusySpin);
    let b = pin(b, p, 1).handle_events_with(h1);
    let b = pin(b, p, 2).handle_events_with(h2);
    let mut producer = pin(b, p, 3).handle_events_with(h3).build();
    let start = drive(p, &mut producer, false);
    let out = wait(p, &tally, start, &[p1, p2, p3]);
    drop(producer);
    Ok(out)
}

/// 1P -> (a, b) -> c.
pub fn diamond<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    let tally = Tally::new(1);
    let (h, prog) = sink::<E>(p, &tally, false);
    let b = disruptor::build_single_producer(p.capacity as usize, E::zeroed, BusySpin);
    let b = pin(b, p, 1).handle_events_with(pass::<E>());
    let b = pin(b, p, 2).handle_events_with(pass::<E>()).and_then();
    let mut producer = pin(b, p, 3).handle_events_with(h).build();
    let start = drive(p, &mut producer, false);
    let out = wait(p, &tally, start, &[prog]);
    drop(producer);
    Ok(out)
}

/// 3P -> 1C.
pub fn sequencer<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    let per = p.events / 3;
    let tally = Tally::new(1);
    let mut q = p.clone();
    q.events = per * 3;
    let (h, prog) = sink::<E>(&q, &tally, false);
    let b = disruptor::build_multi_producer(p.capacity as usize, E::zeroed, BusySpin);
    let producer = pin(b, p, 3).handle_events_with(h).build();
    let start = now_ns();
    std::thread::scope(|scope| {
        for t in 0..3u64 {
            let mut producer = producer.clone();
            scope.spawn(move || {
                p.pin(t as usize);
                for i in 0..per {
                    producer.publish(|e| *e = E::new(t * per + i, 0));
                }
            });
        }
    });
    let out = wait(p, &tally, start, &[prog]);
    drop(producer);
    Ok(out)
}

/// Round trips over two disruptors with event pollers.
pub fn pingpong<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    let (mut ping_rx, b) =
        disruptor::build_single_producer(p.capacity as usize, E::zeroed, BusySpin)
            .new_event_poller();
    let mut ping_tx = b.build();
    let (mut pong_rx, b) =
        disruptor::build_single_producer(p.capacity as usize, E::zeroed, BusySpin)
            .new_event_poller();
    let mut pong_tx = b.build();
    let n = p.events;
    let spin = p.spin;
    let echo = std::thread::spawn({
        let p = p.clone();
        move || {
            p.pin(1);
            let mut echoed = 0;
            while echoed < n {
                match ping_rx.poll() {
                    Ok(mut events) => {
                        for e in &mut events {
                            let e = *e;
                            pong_tx.publish(|slot| *slot = e);
                            echoed += 1;
                        }
                    }
                    Err(_) => super::ringmaster::pause(spin),
                }
            }
            drop(ping_rx);
            pong_tx
        }
    });
    let out = super::channels::round_trips(
        p,
        |e| {
            ping_tx.publish(|slot| *slot = e);
            true
        },
        || loop {
            let mut got = None;
            if let Ok(mut events) = pong_rx.poll() {
                for e in &mut events {
                    got = Some(*e);
                }
            }
            if got.is_some() {
                return got;
            }
            super::ringmaster::pause(spin);
        },
    );
    drop(ping_tx);
    let pong_tx = echo.join().map_err(|_| "echo thread panicked")?;
    drop(pong_rx);
    drop(pong_tx);
    out
}
