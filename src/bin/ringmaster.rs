//! The `ringmaster` command: a demo of the engine (the default) and the
//! benchmark harness that measures it against its peers.

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ringmaster::harness::{self, report, BenchOptions, Scenario};
use ringmaster::{handler_fn, GraphBuilder, RingConfig, WaitStrategy};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

#[derive(Parser, Debug)]
#[command(
    name = "ringmaster",
    version,
    about = "A disruptor-style event engine in a memory-mapped ring"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the built-in demo: unicast and a three-stage pipeline (default).
    Demo {
        /// Events per topology.
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
    },
    /// Benchmark ringmaster against its peers, side by side in one run.
    Bench(Box<BenchArgs>),
    /// Inspect a journal directory (never modifies it unless asked to repair).
    Journal {
        #[command(subcommand)]
        action: JournalAction,
    },
}

#[derive(Subcommand, Debug)]
enum JournalAction {
    /// Check every segment and record; exit non-zero on corruption.
    Verify {
        /// Journal directory (or a data directory holding `journal/`).
        dir: PathBuf,
        /// Truncate a torn tail in place (the only modifying action).
        #[arg(long)]
        repair: bool,
    },
    /// Print each segment: first sequence, records, capacity.
    Inspect {
        /// Journal directory (or a data directory holding `journal/`).
        dir: PathBuf,
    },
    /// Print records from a sequence (hex payload), following new ones.
    Tail {
        /// Journal directory (or a data directory holding `journal/`).
        dir: PathBuf,
        /// First sequence to print.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Keep waiting for new records.
        #[arg(long, short)]
        follow: bool,
        /// Stop after this many records.
        #[arg(long)]
        limit: Option<u64>,
    },
}

#[derive(clap::Args, Debug)]
struct BenchArgs {
    /// Scenarios to run (default: all).
    #[arg(value_enum)]
    scenarios: Vec<Scenario>,
    /// Short run: fewer events and repetitions (every scenario in < 2 min).
    #[arg(long)]
    quick: bool,
    /// Events per throughput run.
    #[arg(long)]
    events: Option<u64>,
    /// Round trips per pingpong run.
    #[arg(long)]
    round_trips: Option<u64>,
    /// Event size in bytes for throughput scenarios.
    #[arg(long, value_parser = ["8", "64"])]
    event_size: Option<String>,
    /// Repetitions per peer, interleaved.
    #[arg(long)]
    reps: Option<usize>,
    /// Ring / channel capacity (a power of two).
    #[arg(long)]
    capacity: Option<u64>,
    /// Batch size for unicast-batch.
    #[arg(long)]
    batch: Option<u64>,
    /// Paced rate for the latency scenario, events per second.
    #[arg(long)]
    rate: Option<u64>,
    /// Measured seconds per latency run.
    #[arg(long)]
    duration: Option<f64>,
    /// ringmaster's wait strategy where threads fit the cores.
    #[arg(long, value_enum)]
    wait: Option<Wait>,
    /// Do not pin threads to cores.
    #[arg(long)]
    no_pin: bool,
    /// Only these peers besides ringmaster (disruptor, crossbeam, std, rtrb).
    #[arg(long, value_delimiter = ',')]
    peers: Vec<String>,
    /// Write the report as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write one .hgrm latency file per latency row into this directory.
    #[arg(long)]
    hgrm: Option<PathBuf>,
    /// Write latency-by-percentile and throughput charts as SVG.
    #[arg(long)]
    plot: Option<PathBuf>,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum Wait {
    BusySpin,
    Yielding,
    Backoff,
    Blocking,
}

impl From<Wait> for WaitStrategy {
    fn from(w: Wait) -> Self {
        match w {
            Wait::BusySpin => Self::BusySpin,
            Wait::Yielding => Self::Yielding,
            Wait::Backoff => Self::Backoff,
            Wait::Blocking => Self::Blocking,
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Demo { events: 10_000_000 }) {
        Command::Demo { events } => demo(events),
        Command::Bench(args) => bench(*args),
        Command::Journal { action } => journal(action),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Order {
    id: u64,
    price_cents: u64,
    quantity: u64,
    payload: [u64; 5],
}

fn demo(events: u64) -> Result<(), Box<dyn std::error::Error>> {
    let cores = core_affinity::get_core_ids().unwrap_or_default().len();
    let strategy = if cores >= 2 {
        WaitStrategy::BusySpin
    } else {
        WaitStrategy::Yielding
    };
    println!(
        "ringmaster demo: {events} events of {} bytes per topology, {cores} cores\n",
        std::mem::size_of::<Order>()
    );

    // Unicast: producer -> sum.
    let total = Arc::new(AtomicU64::new(0));
    let t = total.clone();
    let mut sum = 0u64;
    let mut b = GraphBuilder::<Order>::new(RingConfig::new(1 << 16).wait_strategy(strategy));
    let sink = b.handler(
        "sum",
        handler_fn(move |o: &Order, _, eob| {
            sum = sum.wrapping_add(o.price_cents * o.quantity);
            if eob {
                t.store(sum, Ordering::Relaxed);
            }
        }),
    );
    if cores >= 2 {
        sink.pin(1).add();
    } else {
        sink.add();
    }
    let (mut producer, graph) = b.build_single_producer()?;
    if cores >= 2 {
        ringmaster::pin_current_thread(0)?;
    }
    let start = Instant::now();
    for id in 0..events {
        producer.publish_with(|o| {
            o.id = id;
            o.price_cents = id % 1000;
            o.quantity = 1;
        })?;
    }
    println!("unicast   {}", graph.topology());
    graph.shutdown()?;
    let secs = start.elapsed().as_secs_f64();
    let expected: u64 = (0..events).map(|i| i % 1000).sum();
    println!(
        "          {:.1} M events/s, checksum {}",
        events as f64 / secs / 1e6,
        if total.load(Ordering::Relaxed) == expected {
            "ok"
        } else {
            "MISMATCH"
        }
    );

    // Pipeline: producer -> validate -> price -> book (threads > cores on
    // a two-core machine: Yielding).
    let booked = Arc::new(AtomicU64::new(0));
    let bk = booked.clone();
    let mut count = 0u64;
    let mut b =
        GraphBuilder::<Order>::new(RingConfig::new(1 << 16).wait_strategy(WaitStrategy::Yielding));
    let validate = b
        .handler(
            "validate",
            handler_fn(|o: &Order, _, _| {
                std::hint::black_box(o.quantity > 0);
            }),
        )
        .add();
    let price = b
        .handler(
            "price",
            handler_fn(|o: &Order, _, _| {
                std::hint::black_box(o.price_cents * o.quantity);
            }),
        )
        .after(&[validate])
        .add();
    b.handler(
        "book",
        handler_fn(move |_: &Order, _, eob| {
            count += 1;
            if eob {
                bk.store(count, Ordering::Relaxed);
            }
        }),
    )
    .after(&[price])
    .add();
    let (mut producer, graph) = b.build_single_producer()?;
    let start = Instant::now();
    let mut id = 0;
    while id < events {
        let n = 64.min(events - id);
        producer.publish_batch_with(n, |k, o| {
            o.id = id + k;
            o.price_cents = 100;
            o.quantity = 2;
        })?;
        id += n;
    }
    println!("\npipeline  {}", graph.topology());
    graph.shutdown()?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "          {:.1} M events/s through 3 stages (batches of 64), {} booked",
        events as f64 / secs / 1e6,
        booked.load(Ordering::Relaxed)
    );
    println!("\nnext: `cargo run --release -- bench --quick` compares ringmaster with its peers");
    Ok(())
}

fn bench(a: BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut o = if a.quick {
        BenchOptions::quick()
    } else {
        BenchOptions::full()
    };
    if !a.scenarios.is_empty() {
        o.scenarios = a.scenarios;
    }
    if let Some(v) = a.events {
        o.events = v;
    }
    if let Some(v) = a.round_trips {
        o.round_trips = v;
    }
    if let Some(v) = a.event_size {
        o.event_size = v.parse()?;
    }
    if let Some(v) = a.reps {
        o.repetitions = v.max(1);
    }
    if let Some(v) = a.capacity {
        RingConfig::new(v).validate::<u64>()?;
        o.capacity = v;
    }
    if let Some(v) = a.batch {
        o.batch = v.clamp(1, o.capacity);
    }
    if let Some(v) = a.rate {
        o.rate = v.max(1);
    }
    if let Some(v) = a.duration {
        o.latency_secs = v;
    }
    if let Some(w) = a.wait {
        o.strategy = w.into();
    }
    o.pin = !a.no_pin;
    o.peers = a.peers;
    let total = harness::total_runs(&o);
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let report = harness::run(&o, |what| {
        bar.set_message(what.to_owned());
        bar.inc(1);
    });
    bar.finish_and_clear();
    print!("{}", report::table(&report));
    if let Some(path) = &a.json {
        report::write_json(&report, path)?;
        println!("json:  {}", path.display());
    }
    if let Some(dir) = &a.hgrm {
        let files = report::write_hgrm(&report, dir)?;
        println!("hgrm:  {} files in {}", files.len(), dir.display());
    }
    if let Some(path) = &a.plot {
        report::write_svg(&report, path)?;
        println!("plot:  {}", path.display());
    }
    if report.rows.iter().any(|r| !r.valid) {
        return Err("some runs failed their self-check (see warnings)".into());
    }
    Ok(())
}

fn journal_dir(dir: PathBuf) -> PathBuf {
    let nested = dir.join("journal");
    if nested.is_dir() {
        nested
    } else {
        dir
    }
}

fn journal(action: JournalAction) -> Result<(), Box<dyn std::error::Error>> {
    use ringmaster::journal::{self, JournalConfig, JournalReader, JournalWriter, RecoveryMode};
    match action {
        JournalAction::Verify { dir, repair } => {
            let dir = journal_dir(dir);
            let report = match journal::verify(&dir) {
                Ok(r) => r,
                Err(e) => return Err(format!("{}: CORRUPT: {e}", dir.display()).into()),
            };
            println!(
                "{}: {} segments, {} records, sequences {}..{}, event size {}",
                dir.display(),
                report.segments,
                report.records,
                report.first_sequence.unwrap_or(report.next_sequence),
                report.next_sequence,
                report.event_size.map_or("-".into(), |s| s.to_string())
            );
            match (report.truncation, repair) {
                (None, _) => println!("ok"),
                (Some(t), false) => {
                    return Err(format!(
                        "torn tail in {} at offset {}: {} (run with --repair to truncate it)",
                        t.segment, t.offset, t.reason
                    )
                    .into())
                }
                (Some(t), true) => {
                    let size = report.event_size.unwrap_or(1);
                    let config =
                        JournalConfig::new(&dir).recovery_mode(RecoveryMode::TruncateTornTail);
                    let (w, _) = JournalWriter::open(&config, size)?;
                    w.close()?;
                    println!(
                        "repaired: truncated {} at offset {} ({})",
                        t.segment, t.offset, t.reason
                    );
                }
            }
            Ok(())
        }
        JournalAction::Inspect { dir } => {
            let dir = journal_dir(dir);
            let (report, segments) = journal::inspect(&dir)?;
            println!(
                "{:<28} {:>14} {:>10} {:>10} {:>6}",
                "segment", "first", "records", "capacity", "bytes"
            );
            for s in &segments {
                let name = s
                    .path
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                println!(
                    "{name:<28} {:>14} {:>10} {:>10} {:>6}",
                    s.first_sequence, s.records, s.capacity, s.event_size
                );
            }
            println!(
                "total: {} records, next sequence {}{}",
                report.records,
                report.next_sequence,
                report
                    .truncation
                    .map(|t| format!(
                        ", torn tail in {} at offset {}: {}",
                        t.segment, t.offset, t.reason
                    ))
                    .unwrap_or_default()
            );
            Ok(())
        }
        JournalAction::Tail {
            dir,
            from,
            follow,
            limit,
        } => {
            let dir = journal_dir(dir);
            let mut reader = JournalReader::open(&dir, from)?;
            let mut printed = 0u64;
            loop {
                if limit.is_some_and(|l| printed >= l) {
                    return Ok(());
                }
                match reader.next_record()? {
                    Some((seq, bytes)) => {
                        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                        println!("{seq} {hex}");
                        printed += 1;
                    }
                    None if follow => std::thread::sleep(std::time::Duration::from_millis(50)),
                    None => return Ok(()),
                }
            }
        }
    }
}
