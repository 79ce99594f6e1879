//! The driver: interleaved repetitions, self-check, machine checks, and
//! one summary row per (scenario, peer).

use super::machine::{available_cores, measure_hop, LoadSampler, Machine, FAR_HOP_NS, LOAD_LIMIT};
use super::params::{Outcome, Params};
use super::scenario::{Contender, Kind, Scenario};
use super::stats::{median, paired_ratio, range};
use crate::WaitStrategy;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Scenarios, in order.
    pub scenarios: Vec<Scenario>,
    /// Events per throughput run.
    pub events: u64,
    /// Round trips per ping-pong run.
    pub round_trips: u64,
    /// Event size in bytes for throughput scenarios (8 or 64).
    pub event_size: usize,
    /// Repetitions per contender (interleaved).
    pub repetitions: usize,
    /// Ring and channel capacity.
    pub capacity: u64,
    /// Events per batch in `unicast-batch`.
    pub batch: u64,
    /// Paced rate for `latency`, events per second.
    pub rate: u64,
    /// Measured seconds of a latency run (after warm-up).
    pub latency_secs: f64,
    /// Warm-up seconds of a latency run.
    pub warmup_secs: f64,
    /// ringmaster's wait strategy when threads fit the cores.
    pub strategy: WaitStrategy,
    /// Pin threads to cores.
    pub pin: bool,
    /// Re-run a repetition once when the cores were far apart or the
    /// machine was loaded.
    pub retry_flagged: bool,
    /// Only these peers (empty: all).
    pub peers: Vec<String>,
    /// Coordinated-omission guard of the paced in-process scenarios.
    pub co: super::params::CoCorrection,
    /// Extra dependent operations per event in every contender's counting
    /// handler (see `Params::handler_work`).
    pub handler_work: u32,
    /// Partitions in `partitioned` (and workers of its work-queue peer).
    pub partitions: u32,
}

impl BenchOptions {
    /// The full run: 20 M events, 10 repetitions, 5 s latency runs.
    pub fn full() -> Self {
        Self {
            scenarios: Scenario::ALL.to_vec(),
            events: 20_000_000,
            round_trips: 2_000_000,
            event_size: 64,
            repetitions: 10,
            capacity: 1 << 16,
            batch: 64,
            rate: 1_000_000,
            latency_secs: 5.0,
            warmup_secs: 1.0,
            strategy: WaitStrategy::BusySpin,
            pin: true,
            retry_flagged: true,
            peers: Vec::new(),
            co: super::params::CoCorrection::IntendedTime,
            handler_work: 0,
            partitions: 2,
        }
    }

    /// The quick run: every scenario and peer in under two minutes.
    pub fn quick() -> Self {
        Self {
            events: 1_000_000,
            round_trips: 100_000,
            repetitions: 3,
            latency_secs: 0.5,
            warmup_secs: 0.1,
            retry_flagged: false,
            ..Self::full()
        }
    }

    /// Threads `scenario` uses with these options (`partitioned`: the
    /// producer and its partitions).
    pub fn threads(&self, scenario: Scenario) -> usize {
        match scenario {
            Scenario::Partitioned => 1 + self.partitions.max(1) as usize,
            _ => scenario.threads(),
        }
    }

    fn params(&self, scenario: Scenario, cores: &[usize]) -> Params {
        let pinned: Vec<usize> = if self.pin && cores.len() >= 2 {
            cores.to_vec()
        } else {
            Vec::new()
        };
        let spin = self.threads(scenario) <= cores.len();
        let (events, warmup) = match scenario {
            Scenario::Latency | Scenario::Shm => {
                let warm = (self.rate as f64 * self.warmup_secs) as u64;
                (warm + (self.rate as f64 * self.latency_secs) as u64, warm)
            }
            Scenario::Pingpong => (self.round_trips, self.round_trips / 10),
            Scenario::Journal => (
                self.events.min(super::peers::journal::MAX_JOURNAL_EVENTS),
                0,
            ),
            Scenario::Shop | Scenario::ShopSync => {
                (self.events.min(super::peers::shop::MAX_COMMANDS), 0)
            }
            Scenario::Search => (self.events.min(super::peers::shop::MAX_QUERIES), 0),
            Scenario::Tcp | Scenario::Replicate => {
                (self.events.min(super::peers::tcp::MAX_TCP_REQUESTS), 0)
            }
            Scenario::TcpLatency | Scenario::TcpFlood => {
                let rate = self.rate.min(super::peers::tcp::PACED_RATE) as f64;
                ((rate * (self.latency_secs + self.warmup_secs)) as u64, 0)
            }
            _ => (self.events, 0),
        };
        Params {
            events,
            capacity: self.capacity,
            strategy: self.strategy,
            cores: pinned,
            batch: if scenario == Scenario::UnicastBatch {
                self.batch
            } else {
                1
            },
            rate: self.rate,
            warmup,
            spin,
            stall: Duration::from_secs(10),
            // Only the in-process paced scenario stamps send times (the shm
            // producer process and the TCP generator stamp intended times).
            co: if scenario == Scenario::Latency {
                self.co
            } else {
                super::params::CoCorrection::IntendedTime
            },
            handler_work: self.handler_work,
            partitions: self.partitions.max(1),
        }
    }
}

/// Latency percentiles in nanoseconds.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th.
    pub p99: u64,
    /// 99.9th.
    pub p99_9: u64,
    /// 99.99th.
    pub p99_99: u64,
    /// Largest sample.
    pub max: u64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        Self {
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p99_9: h.value_at_quantile(0.999),
            p99_99: h.value_at_quantile(0.9999),
            max: h.max(),
        }
    }

    /// For counts (batch sizes): each figure the lowest value of its
    /// histogram bucket, so a full-ring batch of 65,536 reads 65536, not
    /// the bucket's top (3 significant digits).
    fn of_counts(h: &Histogram<u64>) -> Self {
        let at = |q| h.lowest_equivalent(h.value_at_quantile(q));
        Self {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p99_9: at(0.999),
            p99_99: at(0.9999),
            max: h.lowest_equivalent(h.max()),
        }
    }

    fn median_of(all: &[Percentiles]) -> Option<Self> {
        let m = |f: fn(&Percentiles) -> u64| {
            median(&all.iter().map(|p| f(p) as f64).collect::<Vec<_>>()).map(|v| v as u64)
        };
        Some(Self {
            p50: m(|p| p.p50)?,
            p90: m(|p| p.p90)?,
            p99: m(|p| p.p99)?,
            p99_9: m(|p| p.p99_9)?,
            p99_99: m(|p| p.p99_99)?,
            max: m(|p| p.max)?,
        })
    }
}

/// One repetition of one contender.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Repetition {
    /// Events (or round trips) per second; `None` when the self-check failed.
    pub events_per_sec: Option<f64>,
    /// Wall time of the run.
    pub elapsed_ns: u64,
    /// Mean events per batch seen by the final consumers (peers that batch).
    pub mean_batch: Option<f64>,
    /// Latency percentiles of this repetition, for latency scenarios.
    pub latency_ns: Option<Percentiles>,
    /// Core-to-core hop before the run, ns.
    pub hop_ns_before: Option<f64>,
    /// Core-to-core hop after the run, ns.
    pub hop_ns_after: Option<f64>,
    /// Fraction of all CPUs used by other processes during the run.
    pub other_load: f64,
    /// Cores far apart or machine loaded during this repetition.
    pub flagged: bool,
    /// Cores far apart (hop above the limit) before or after the run.
    pub far: bool,
    /// Why the run is invalid, if it is.
    pub error: Option<String>,
    #[serde(skip)]
    histogram: Option<Histogram<u64>>,
    #[serde(skip)]
    batch_sizes: Option<Histogram<u64>>,
}

/// The summary of one (scenario, peer).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// Scenario name, e.g. `unicast`.
    pub scenario: &'static str,
    /// Peer name, e.g. `ringmaster`.
    pub peer: &'static str,
    /// Bytes per event.
    pub event_size: usize,
    /// Threads the shape uses.
    pub threads: usize,
    /// More threads than cores: figures reflect time slicing.
    pub oversubscribed: bool,
    /// Every repetition passed its self-check.
    pub valid: bool,
    /// Repetitions run.
    pub repetitions: usize,
    /// Median events (or round trips) per second over valid repetitions.
    pub events_per_sec: Option<f64>,
    /// Slowest valid repetition.
    pub events_per_sec_min: Option<f64>,
    /// Fastest valid repetition.
    pub events_per_sec_max: Option<f64>,
    /// Medians over repetitions of each percentile (latency scenarios).
    pub latency_ns: Option<Percentiles>,
    /// Events per batch at the final ringmaster stage, all valid
    /// repetitions merged (instrumented ringmaster rows).
    pub batch_size: Option<Percentiles>,
    /// On ringmaster's row: median paired ratio against each peer,
    /// > 1 meaning ringmaster is better (more events/s, or lower p50).
    pub ratio_vs: BTreeMap<&'static str, f64>,
    /// Flagged repetitions (far cores or a loaded machine).
    pub flagged: usize,
    /// Each repetition.
    pub runs: Vec<Repetition>,
    #[serde(skip)]
    merged: Option<Histogram<u64>>,
}

impl Row {
    /// All valid repetitions' latency samples merged.
    pub fn merged_histogram(&self) -> Option<&Histogram<u64>> {
        self.merged.as_ref()
    }
}

/// A full report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Schema of the JSON form.
    pub schema: &'static str,
    /// Where it ran.
    pub machine: Machine,
    /// How the paced in-process scenarios guarded against coordinated
    /// omission.
    pub co: super::params::CoCorrection,
    /// Extra dependent operations per event in every contender's counting
    /// handler (`--handler-work`; 0 by default).
    pub handler_work: u32,
    /// Summary rows.
    pub rows: Vec<Row>,
    /// Warnings worth reading next to the numbers.
    pub warnings: Vec<String>,
}

/// Check an outcome against what the scenario must deliver.
pub fn verify(expected: (u64, u64), outcome: &Outcome) -> Result<(), String> {
    if outcome.received != expected.0 {
        return Err(format!(
            "self-check failed: received {} events, expected {}",
            outcome.received, expected.0
        ));
    }
    if outcome.checksum != expected.1 {
        return Err(format!(
            "self-check failed: checksum {:#x}, expected {:#x} (events corrupted or duplicated)",
            outcome.checksum, expected.1
        ));
    }
    Ok(())
}

fn one_run(c: &Contender, params: &Params, expected: (u64, u64)) -> Repetition {
    let hop_ns_before = measure_hop(&params.cores);
    let load = LoadSampler::start();
    // A fresh driver thread per run: contenders pin "their" producer thread,
    // and the harness's own thread must keep every core.
    let run = c.run;
    let outcome = std::thread::scope(|s| {
        s.spawn(|| run(params))
            .join()
            .unwrap_or_else(|_| Err("contender panicked".to_owned()))
    });
    let other_load = load.stop();
    let hop_ns_after = measure_hop(&params.cores);
    let far = [hop_ns_before, hop_ns_after]
        .iter()
        .any(|h| h.is_some_and(|h| h > FAR_HOP_NS));
    let flagged = far || other_load > LOAD_LIMIT;
    match outcome.and_then(|o| verify(expected, &o).map(|()| o)) {
        Ok(mut o) => {
            let secs = o.elapsed_ns.max(1) as f64 / 1e9;
            let histogram = o.histogram.take().map(|h| params.corrected(h));
            Repetition {
                events_per_sec: Some(o.received as f64 / secs),
                elapsed_ns: o.elapsed_ns,
                mean_batch: (o.batches > 0).then(|| o.received as f64 / o.batches as f64),
                latency_ns: histogram.as_ref().map(Percentiles::of),
                hop_ns_before,
                hop_ns_after,
                other_load,
                flagged,
                far,
                error: None,
                histogram,
                batch_sizes: o.batch_sizes,
            }
        }
        Err(error) => Repetition {
            events_per_sec: None,
            elapsed_ns: 0,
            mean_batch: None,
            latency_ns: None,
            hop_ns_before,
            hop_ns_after,
            other_load,
            flagged,
            far,
            error: Some(error),
            histogram: None,
            batch_sizes: None,
        },
    }
}

/// Run `contenders` through `scenario`, interleaved, and summarise.
pub fn run_scenario(
    opts: &BenchOptions,
    scenario: Scenario,
    contenders: &[Contender],
    mut tick: impl FnMut(&str),
) -> Vec<Row> {
    let cores = available_cores();
    let params = opts.params(scenario, &cores);
    let expected = scenario.expected(params.events);
    let mut runs: Vec<Vec<Repetition>> = vec![Vec::new(); contenders.len()];
    for repetition in 0..opts.repetitions {
        // The order rotates (A B C, B C A, C A B ...): no contender always
        // runs first, or always right after the same peer, whose leftovers
        // (the allocator's state, cache, frequency) it would inherit.
        for k in 0..contenders.len() {
            let i = (repetition + k) % contenders.len();
            let c = &contenders[i];
            tick(&format!("{} / {}", scenario.name(), c.peer));
            let (params, expected) = match c.max_events {
                Some(max) if max < params.events => {
                    let capped = Params {
                        events: max,
                        ..params.clone()
                    };
                    (capped, scenario.expected(max))
                }
                _ => (params.clone(), expected),
            };
            let mut rep = one_run(c, &params, expected);
            if rep.flagged && opts.retry_flagged {
                rep = one_run(c, &params, expected);
            }
            runs[i].push(rep);
        }
    }
    summarise(opts, scenario, contenders, runs, &cores)
}

fn summarise(
    opts: &BenchOptions,
    scenario: Scenario,
    contenders: &[Contender],
    runs: Vec<Vec<Repetition>>,
    cores: &[usize],
) -> Vec<Row> {
    let figure = |r: &Repetition| -> Option<f64> {
        match scenario.kind() {
            Kind::Throughput => r.events_per_sec,
            // Lower latency is better: compare inverted p50s.
            Kind::Latency => r.latency_ns.map(|l| 1.0 / l.p50.max(1) as f64),
        }
    };
    let ours: Vec<Option<f64>> = runs[0].iter().map(figure).collect();
    let mut rows = Vec::new();
    for (c, reps) in contenders.iter().zip(runs) {
        let rates: Vec<f64> = reps.iter().filter_map(|r| r.events_per_sec).collect();
        let lat: Vec<Percentiles> = reps.iter().filter_map(|r| r.latency_ns).collect();
        let mut merged: Option<Histogram<u64>> = None;
        for h in reps.iter().filter_map(|r| r.histogram.as_ref()) {
            match merged.as_mut() {
                Some(m) => m.add(h).expect("same bounds"),
                None => merged = Some(h.clone()),
            }
        }
        let mut batches: Option<Histogram<u64>> = None;
        for h in reps.iter().filter_map(|r| r.batch_sizes.as_ref()) {
            match batches.as_mut() {
                // Same bounds (metrics figures), so adding cannot fail.
                Some(m) => {
                    let _ = m.add(h);
                }
                None => batches = Some(h.clone()),
            }
        }
        let mut ratio_vs = BTreeMap::new();
        let theirs: Vec<Option<f64>> = reps.iter().map(figure).collect();
        if c.peer != contenders[0].peer {
            if let Some(r) = paired_ratio(&ours, &theirs) {
                ratio_vs.insert(c.peer, r);
            }
        }
        let range = range(&rates);
        rows.push(Row {
            scenario: scenario.name(),
            peer: c.peer,
            event_size: scenario.event_size(opts.event_size),
            threads: opts.threads(scenario),
            oversubscribed: opts.threads(scenario) > cores.len(),
            valid: reps.iter().all(|r| r.error.is_none()),
            repetitions: reps.len(),
            events_per_sec: median(&rates),
            events_per_sec_min: range.map(|r| r.0),
            events_per_sec_max: range.map(|r| r.1),
            latency_ns: Percentiles::median_of(&lat),
            batch_size: batches.as_ref().map(Percentiles::of_counts),
            ratio_vs,
            flagged: reps.iter().filter(|r| r.flagged).count(),
            runs: reps,
            merged,
        });
    }
    // ringmaster's row carries every ratio; peers' rows carry their own.
    let all: BTreeMap<&'static str, f64> = rows
        .iter()
        .skip(1)
        .filter_map(|r| r.ratio_vs.get(r.peer).map(|v| (r.peer, *v)))
        .collect();
    if let Some(first) = rows.first_mut() {
        first.ratio_vs = all;
    }
    rows
}

/// Run everything `opts` asks for.
pub fn run(opts: &BenchOptions, mut tick: impl FnMut(&str)) -> Report {
    let machine = Machine::detect();
    let mut warnings = Vec::new();
    let mut rows = Vec::new();
    for &scenario in &opts.scenarios {
        let contenders: Vec<Contender> = scenario
            .contenders(opts.event_size)
            .into_iter()
            .enumerate()
            .filter(|(i, c)| {
                *i == 0 || opts.peers.is_empty() || opts.peers.iter().any(|p| p == c.peer)
            })
            .map(|(_, c)| c)
            .collect();
        if opts.threads(scenario) > machine.cores {
            warnings.push(format!(
                "{}: {} threads on {} cores: oversubscribed, threads time-slice (ringmaster yields or backs off; disruptor can only spin)",
                scenario.name(),
                opts.threads(scenario),
                machine.cores
            ));
        }
        rows.extend(run_scenario(opts, scenario, &contenders, &mut tick));
    }
    for row in &rows {
        if !row.valid {
            for e in row.runs.iter().filter_map(|r| r.error.as_ref()) {
                warnings.push(format!("{} / {}: {e}", row.scenario, row.peer));
            }
        }
    }
    for &scenario in &opts.scenarios {
        let runs: Vec<&Repetition> = rows
            .iter()
            .filter(|r| r.scenario == scenario.name())
            .flat_map(|r| &r.runs)
            .collect();
        let far = runs.iter().filter(|r| r.far).count();
        let loaded = runs.iter().filter(|r| r.other_load > LOAD_LIMIT).count();
        if far + loaded > 0 {
            warnings.push(format!(
                "{}: of {} runs, {far} had the cores far apart (hop > {FAR_HOP_NS} ns) and {loaded} saw other processes above {:.0}% CPU",
                scenario.name(),
                runs.len(),
                LOAD_LIMIT * 100.0
            ));
        }
    }
    Report {
        co: opts.co,
        handler_work: opts.handler_work,
        schema: "ringmaster-bench/1",
        machine,
        rows,
        warnings,
    }
}

/// Total runs `opts` implies (for progress bars).
pub fn total_runs(opts: &BenchOptions) -> u64 {
    opts.scenarios
        .iter()
        .map(|s| {
            s.contenders(opts.event_size)
                .iter()
                .enumerate()
                .filter(|(i, c)| {
                    *i == 0 || opts.peers.is_empty() || opts.peers.iter().any(|p| p == c.peer)
                })
                .count() as u64
        })
        .sum::<u64>()
        * opts.repetitions as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::event::Event64;
    use crate::harness::peers::channels;

    /// A peer that loses one event in a thousand.
    fn lossy(p: &Params) -> Result<Outcome, String> {
        let mut q = p.clone();
        q.events = p.events - p.events / 1000;
        let mut o = channels::crossbeam_unicast::<Event64>(&q)?;
        o.elapsed_ns = 1; // and claims to be infinitely fast
        Ok(o)
    }

    /// A peer that delivers the right count with corrupted values.
    fn corrupt(p: &Params) -> Result<Outcome, String> {
        let mut o = channels::crossbeam_unicast::<Event64>(p)?;
        o.checksum ^= 1;
        Ok(o)
    }

    fn tiny() -> BenchOptions {
        BenchOptions {
            events: 20_000,
            repetitions: 2,
            pin: false,
            strategy: WaitStrategy::Yielding,
            ..BenchOptions::quick()
        }
    }

    #[test]
    fn the_order_of_contenders_rotates_each_repetition() {
        let contenders = ["a", "b", "c"].map(|peer| Contender {
            peer,
            run: lossy,
            max_events: None,
        });
        let options = BenchOptions {
            repetitions: 4,
            ..tiny()
        };
        let mut order = Vec::new();
        run_scenario(&options, Scenario::Unicast, &contenders, |what| {
            order.push(what.trim_start_matches("unicast / ").to_string());
        });
        assert_eq!(
            order.join(" "),
            "a b c b c a c a b a b c",
            "each repetition starts one contender later"
        );
    }

    #[test]
    fn a_broken_peer_is_caught_and_posts_no_number() {
        let contenders = [
            Contender {
                peer: "ringmaster",
                run: crate::harness::peers::ringmaster::unicast::<Event64>,
                max_events: None,
            },
            Contender {
                peer: "lossy",
                run: lossy,
                max_events: None,
            },
            Contender {
                peer: "corrupt",
                run: corrupt,
                max_events: None,
            },
        ];
        let rows = run_scenario(&tiny(), Scenario::Unicast, &contenders, |_| {});
        assert!(rows[0].valid, "{:?}", rows[0].runs);
        assert!(rows[0].events_per_sec.is_some());
        for row in &rows[1..] {
            assert!(!row.valid, "{} must fail its self-check", row.peer);
            assert_eq!(row.events_per_sec, None);
            assert!(row
                .runs
                .iter()
                .all(|r| r.error.as_deref().unwrap().contains("self-check")));
            assert!(!rows[0].ratio_vs.contains_key(row.peer));
        }
    }

    #[test]
    fn every_shape_passes_its_own_self_check() {
        let opts = BenchOptions {
            events: 30_000,
            round_trips: 2_000,
            rate: 200_000,
            latency_secs: 0.05,
            warmup_secs: 0.01,
            repetitions: 1,
            ..tiny()
        };
        for scenario in Scenario::ALL {
            let contenders = scenario.contenders(64);
            let rows = run_scenario(&opts, scenario, &contenders, |_| {});
            for row in rows {
                assert!(
                    row.valid,
                    "{} / {}: {:?}",
                    row.scenario, row.peer, row.runs[0].error
                );
                if scenario.kind() == Kind::Latency {
                    assert!(row.latency_ns.is_some());
                }
            }
        }
    }

    #[test]
    fn expected_totals() {
        assert_eq!(Scenario::Unicast.expected(4), (4, 6));
        assert_eq!(Scenario::Multicast.expected(4), (12, 18));
        assert_eq!(Scenario::Sequencer.expected(10), (9, 36));
    }
}
