//! Queue peers: `crossbeam-channel` (bounded), `std::sync::mpsc::sync_channel`
//! and `rtrb` (single-producer single-consumer).

use crate::harness::event::{new_histogram, now_ns, BenchEvent, Counter, Tally};
use crate::harness::params::{spin_until, Outcome, Params};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// Spawn a final consumer on thread slot `slot` that feeds `recv` results
/// into a counter until `recv` returns `None` (disconnected).
fn spawn_sink<E: BenchEvent>(
    p: &Params,
    slot: usize,
    expected: u64,
    latency: bool,
    tally: &Arc<Tally>,
    mut recv: impl FnMut() -> Option<E> + Send + 'static,
) -> (JoinHandle<()>, Arc<AtomicU64>) {
    let mut counter = Counter::new(expected, latency, p.warmup).with_work(p.handler_work);
    let progress = counter.progress.clone();
    let tally = tally.clone();
    let p = p.clone();
    let handle = thread::spawn(move || {
        p.pin(slot);
        while let Some(e) = recv() {
            let last = counter.on(&e);
            if counter.received.is_multiple_of(1024) {
                // Progress only: channels deliver one event at a time.
                counter.progress.store(counter.received, Ordering::Relaxed);
            }
            if last {
                break;
            }
        }
        counter.finish(&tally);
    });
    (handle, progress)
}

fn produce<E: BenchEvent>(p: &Params, latency: bool, mut send: impl FnMut(E)) -> u64 {
    p.pin(0);
    let start = now_ns();
    for i in 0..p.events {
        if latency {
            let at = p.intended_ns(start, i);
            spin_until(at);
            send(E::new(i, p.send_stamp(at)));
        } else {
            send(E::new(i, 0));
        }
    }
    start
}

fn outcome(
    p: &Params,
    tally: &Tally,
    start: u64,
    progress: &[Arc<AtomicU64>],
    handles: Vec<JoinHandle<()>>,
) -> Result<Outcome, String> {
    let sum = || {
        progress
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let complete = tally.wait(p.stall, sum);
    for h in handles {
        h.join().map_err(|_| "consumer panicked")?;
    }
    let (received, checksum) = tally.totals();
    Ok(Outcome {
        received: if complete {
            received
        } else {
            received.max(sum())
        },
        checksum,
        elapsed_ns: tally.end_ns().saturating_sub(start),
        batches: tally.batches(),
        histogram: tally.take_histogram(),
        batch_sizes: None,
    })
}

/// A bounded channel family, so one function drives both channel peers.
trait Channel<E: Send + 'static> {
    type Tx: Clone + Send;
    type Rx: Send + 'static;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx);
    fn send(tx: &Self::Tx, e: E) -> bool;
    fn recv(rx: &Self::Rx) -> Option<E>;
}

/// `crossbeam_channel::bounded`.
struct Crossbeam;
/// `std::sync::mpsc::sync_channel`.
struct StdMpsc;

impl<E: Send + 'static> Channel<E> for Crossbeam {
    type Tx = crossbeam_channel::Sender<E>;
    type Rx = crossbeam_channel::Receiver<E>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        crossbeam_channel::bounded(capacity)
    }
    fn send(tx: &Self::Tx, e: E) -> bool {
        tx.send(e).is_ok()
    }
    fn recv(rx: &Self::Rx) -> Option<E> {
        rx.recv().ok()
    }
}

impl<E: Send + 'static> Channel<E> for StdMpsc {
    type Tx = std::sync::mpsc::SyncSender<E>;
    type Rx = std::sync::mpsc::Receiver<E>;
    fn bounded(capacity: usize) -> (Self::Tx, Self::Rx) {
        std::sync::mpsc::sync_channel(capacity)
    }
    fn send(tx: &Self::Tx, e: E) -> bool {
        tx.send(e).is_ok()
    }
    fn recv(rx: &Self::Rx) -> Option<E> {
        rx.recv().ok()
    }
}

/// 1P-1C over channel family `C`, paced when `latency`.
fn single<E: BenchEvent, C: Channel<E>>(p: &Params, latency: bool) -> Result<Outcome, String> {
    let (tx, rx) = C::bounded(p.capacity as usize);
    let tally = Tally::new(1);
    let (h, prog) = spawn_sink(p, 1, p.events, latency, &tally, move || C::recv(&rx));
    let start = produce(p, latency, |e| assert!(C::send(&tx, e), "receiver alive"));
    drop(tx);
    outcome(p, &tally, start, &[prog], vec![h])
}

/// 3P -> 1C over channel family `C`: three senders on one channel.
fn three_to_one<E: BenchEvent, C: Channel<E>>(p: &Params) -> Result<Outcome, String> {
    let per = p.events / 3;
    let (tx, rx) = C::bounded(p.capacity as usize);
    let tally = Tally::new(1);
    let (h, prog) = spawn_sink(p, 3, per * 3, false, &tally, move || C::recv(&rx));
    let start = now_ns();
    thread::scope(|s| {
        for t in 0..3u64 {
            let tx = tx.clone();
            s.spawn(move || {
                p.pin(t as usize);
                for i in 0..per {
                    assert!(C::send(&tx, E::new(t * per + i, 0)), "consumer alive");
                }
            });
        }
    });
    drop(tx);
    outcome(p, &tally, start, &[prog], vec![h])
}

/// 1P -> `p.partitions` workers taking events from one crossbeam channel,
/// whichever is free (a work queue: each event once, no order).
pub fn crossbeam_work_queue<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    let workers = p.partitions.max(1) as usize;
    let (tx, rx) = crossbeam_channel::bounded::<E>(p.capacity as usize);
    let tally = Tally::new(workers as u64);
    let mut handles = Vec::new();
    let mut progress = Vec::new();
    for w in 0..workers {
        let rx = rx.clone();
        // Each counts until the channel closes: its share is not known.
        let (h, prog) = spawn_sink(p, w + 1, u64::MAX, false, &tally, move || rx.recv().ok());
        handles.push(h);
        progress.push(prog);
    }
    drop(rx);
    let start = produce(p, false, |e| tx.send(e).expect("workers alive"));
    drop(tx);
    outcome(p, &tally, start, &progress, handles)
}

/// crossbeam 1P-1C, blocking send/recv.
pub fn crossbeam_unicast<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    single::<E, Crossbeam>(p, false)
}

/// crossbeam paced latency.
pub fn crossbeam_latency<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    single::<E, Crossbeam>(p, true)
}

/// crossbeam 1P -> a -> b -> c: three chained channels.
pub fn crossbeam_pipeline<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    let cap = p.capacity as usize;
    let (tx0, rx0) = crossbeam_channel::bounded::<E>(cap);
    let (tx1, rx1) = crossbeam_channel::bounded::<E>(cap);
    let (tx2, rx2) = crossbeam_channel::bounded::<E>(cap);
    let mut handles = Vec::new();
    for (slot, (rx, tx)) in [(rx0, tx1), (rx1, tx2)].into_iter().enumerate() {
        let p = p.clone();
        handles.push(thread::spawn(move || {
            p.pin(slot + 1);
            for e in rx.iter() {
                black_box(e.value());
                if tx.send(e).is_err() {
                    break;
                }
            }
        }));
    }
    let tally = Tally::new(1);
    let (h, prog) = spawn_sink(p, 3, p.events, false, &tally, move || rx2.recv().ok());
    handles.push(h);
    let start = produce(p, false, |e| tx0.send(e).expect("stage alive"));
    drop(tx0);
    outcome(p, &tally, start, &[prog], handles)
}

/// crossbeam 1P -> (a, b, c): the producer sends each event to three channels.
pub fn crossbeam_multicast<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    let tally = Tally::new(3);
    let mut txs = Vec::new();
    let mut handles = Vec::new();
    let mut progress = Vec::new();
    for slot in 1..=3 {
        let (tx, rx) = crossbeam_channel::bounded::<E>(p.capacity as usize);
        let (h, prog) = spawn_sink(p, slot, p.events, false, &tally, move || rx.recv().ok());
        txs.push(tx);
        handles.push(h);
        progress.push(prog);
    }
    let start = produce(p, false, |e| {
        for tx in &txs {
            tx.send(e).expect("consumer alive");
        }
    });
    drop(txs);
    outcome(p, &tally, start, &progress, handles)
}

/// crossbeam 3P -> 1C: three senders on one channel.
pub fn crossbeam_sequencer<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    three_to_one::<E, Crossbeam>(p)
}

/// crossbeam round trips, blocking.
pub fn crossbeam_pingpong<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    let (ping_tx, ping_rx) = crossbeam_channel::bounded::<E>(p.capacity as usize);
    let (pong_tx, pong_rx) = crossbeam_channel::bounded::<E>(p.capacity as usize);
    let echo = {
        let p = p.clone();
        thread::spawn(move || {
            p.pin(1);
            for e in ping_rx.iter() {
                if pong_tx.send(e).is_err() {
                    break;
                }
            }
        })
    };
    let out = round_trips(p, |e| ping_tx.send(e).is_ok(), || pong_rx.recv().ok());
    drop(ping_tx);
    echo.join().map_err(|_| "echo panicked")?;
    out
}

/// The ping side of every ping-pong contender: send event `i` stamped
/// now, wait for its echo, record the round trip (after the warm-up).
pub(super) fn round_trips<E: BenchEvent>(
    p: &Params,
    mut send: impl FnMut(E) -> bool,
    mut recv: impl FnMut() -> Option<E>,
) -> Result<Outcome, String> {
    p.pin(0);
    let mut counter = Counter::new(p.events, false, 0);
    let mut histogram = new_histogram();
    let start = now_ns();
    for i in 0..p.events {
        let sent = now_ns();
        if !send(E::new(i, sent)) {
            break;
        }
        let Some(e) = recv() else { break };
        counter.on(&e);
        if i >= p.warmup {
            histogram.saturating_record((now_ns() - sent).max(1));
        }
    }
    Ok(Outcome {
        received: counter.received,
        checksum: counter.checksum,
        elapsed_ns: now_ns() - start,
        batches: 0,
        histogram: Some(histogram),
        batch_sizes: None,
    })
}

/// std 1P-1C.
pub fn std_unicast<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    single::<E, StdMpsc>(p, false)
}

/// std paced latency.
pub fn std_latency<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    single::<E, StdMpsc>(p, true)
}

/// std 3P -> 1C.
pub fn std_sequencer<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    three_to_one::<E, StdMpsc>(p)
}

/// Spin (or yield, when threads outnumber cores) until `f` succeeds or
/// `stop` is set.
#[inline(always)]
fn retry<T>(spin: bool, stop: &AtomicBool, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if stop.load(Ordering::Relaxed) {
            return f();
        }
        super::ringmaster::pause(spin);
    }
}

fn rtrb_single<E: BenchEvent>(p: &Params, latency: bool) -> Result<Outcome, String> {
    let (mut tx, mut rx) = rtrb::RingBuffer::<E>::new(p.capacity as usize);
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    let spin = p.spin;
    let tally = Tally::new(1);
    let (h, prog) = spawn_sink(p, 1, p.events, latency, &tally, move || {
        retry(spin, &stop, || rx.pop().ok())
    });
    let never = AtomicBool::new(false);
    let start = produce(p, latency, |e| {
        let _ = retry(spin, &never, || tx.push(e).ok());
    });
    // Release: the pushes above are visible once `done` is seen.
    done.store(true, Ordering::Release);
    outcome(p, &tally, start, &[prog], vec![h])
}

/// rtrb 1P-1C, spinning.
pub fn rtrb_unicast<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    rtrb_single::<E>(p, false)
}

/// rtrb paced latency.
pub fn rtrb_latency<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    rtrb_single::<E>(p, true)
}

/// rtrb round trips, spinning.
pub fn rtrb_pingpong<E: BenchEvent>(p: &Params) -> Result<Outcome, String> {
    let (mut ping_tx, mut ping_rx) = rtrb::RingBuffer::<E>::new(p.capacity as usize);
    let (mut pong_tx, mut pong_rx) = rtrb::RingBuffer::<E>::new(p.capacity as usize);
    let stop = Arc::new(AtomicBool::new(false));
    let spin = p.spin;
    let n = p.events;
    let echo = {
        let p = p.clone();
        let stop = stop.clone();
        thread::spawn(move || {
            p.pin(1);
            for _ in 0..n {
                let Some(e) = retry(spin, &stop, || ping_rx.pop().ok()) else {
                    return;
                };
                let never = AtomicBool::new(false);
                let _ = retry(spin, &never, || pong_tx.push(e).ok());
            }
        })
    };
    let never = AtomicBool::new(false);
    let out = round_trips(
        p,
        |e| retry(spin, &never, || ping_tx.push(e).ok()).is_some(),
        || retry(spin, &never, || pong_rx.pop().ok()),
    );
    stop.store(true, Ordering::Relaxed);
    echo.join().map_err(|_| "echo panicked")?;
    out
}
