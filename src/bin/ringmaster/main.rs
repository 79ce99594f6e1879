//! The `ringmaster` command: a demo of the engine (the default) and the
//! benchmark harness that measures it against its peers.

// The shop's replication (and so the demo and the servers) is not built
// under `--cfg loom`, which model-checks the ring only.
#[cfg(not(loom))]
mod demo;
#[cfg(not(loom))]
mod serve;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use ringmaster::harness::{self, report, BenchOptions, Scenario};
use ringmaster::journal::Durability;
use ringmaster::{RingConfig, WaitStrategy};
use std::path::PathBuf;
use std::process::ExitCode;

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
    /// Run the shop end to end (the default): load a catalog, run a mixed
    /// workload from several clients, report, then reopen and verify.
    Demo(DemoArgs),
    /// Benchmark ringmaster against its peers, side by side in one run.
    Bench(Box<BenchArgs>),
    /// Serve the shop over TCP (RESP2 and RESP3, so redis-cli and Redis
    /// clients work) until SIGINT or SIGTERM.
    Serve(ServeArgs),
    /// Serve the shop read-only as a standby: build its journal, catalog
    /// and search index from a NATS JetStream stream that a primary
    /// (`serve --replicate`) writes, and keep following it; `promote` (or
    /// SIGUSR1) makes it the primary.
    Standby(StandbyArgs),
    /// Promote the standby serving at --addr: it applies the rest of the
    /// stream, then accepts writes and replicates onward.
    Promote {
        /// The standby's address.
        #[arg(long, default_value = "127.0.0.1:7878")]
        addr: std::net::SocketAddr,
        /// Give up waiting for `role:master` after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// The standby's password file (its --requirepass-file), if it has
        /// one.
        #[arg(long)]
        requirepass_file: Option<PathBuf>,
    },
    /// Inspect a journal directory (never modifies it unless asked to repair).
    Journal {
        #[command(subcommand)]
        action: JournalAction,
    },
    /// Show a shared ring's progress from its file: cursor, each consumer's
    /// sequence and lag, producers and their liveness. Read-only: takes no
    /// slot and writes nothing.
    Stat {
        /// The ring file (e.g. under /dev/shm).
        path: PathBuf,
        /// Print again every this many seconds, with rates, until
        /// interrupted.
        #[arg(long)]
        watch: Option<f64>,
    },
    /// The producer process of the `shm` benchmarks (started by `bench`).
    #[command(name = "shm-producer", hide = true)]
    ShmProducer {
        /// The ring file.
        path: PathBuf,
        /// Events to publish.
        events: u64,
        /// Events per second (0: flat out).
        rate: u64,
        /// The ring's capacity.
        capacity: u64,
        /// Wait strategy.
        strategy: Wait,
        /// Core to pin to, or `-`.
        core: String,
    },
}

#[derive(Subcommand, Debug)]
enum JournalAction {
    /// Check every segment and group; exit non-zero on corruption. Safe
    /// on a journal a writer is appending to.
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
    /// Convert a version-1 journal to the current format in place (the
    /// old segments are kept in `DIR.v1-backup`). Stop the writer first.
    Migrate {
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

#[derive(clap::Args, Debug, Clone)]
struct DemoArgs {
    /// Data directory (default: <temp>/ringmaster-demo). The demo wipes it
    /// first only if an earlier demo created it.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Seconds of mixed workload.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Products in the generated catalog.
    #[arg(long, default_value_t = 100_000)]
    products: u64,
    /// Client threads.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// When a write counts as done.
    #[arg(long, value_enum, default_value_t = DurabilityArg::Sync)]
    durability: DurabilityArg,
    /// Requests each client keeps in flight.
    #[arg(long, default_value_t = 256)]
    window: usize,
    /// Replicate the journal into NATS JetStream (at URL, or "local": a
    /// nats-server started for the run), with a standby following in this
    /// process; prints both digests once it caught up. The stream
    /// `ringmaster-demo` is reset first.
    #[arg(long, num_args = 0..=1, default_missing_value = "local")]
    replicate: Option<String>,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self {
            data: None,
            duration: 10,
            products: 100_000,
            clients: 4,
            durability: DurabilityArg::Sync,
            window: 256,
            replicate: None,
        }
    }
}

/// `--durability` values.
#[derive(ValueEnum, Clone, Copy, Debug)]
enum DurabilityArg {
    /// Page cache only; flushed on close.
    None,
    /// Flushed in the background every 10 ms.
    Periodic,
    /// msync per batch before any reply.
    Sync,
}

impl From<DurabilityArg> for Durability {
    fn from(d: DurabilityArg) -> Self {
        match d {
            DurabilityArg::None => Durability::None,
            DurabilityArg::Periodic => Durability::Periodic(std::time::Duration::from_millis(10)),
            DurabilityArg::Sync => Durability::Sync,
        }
    }
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:7878")]
    addr: std::net::SocketAddr,
    /// Data directory (journal and snapshots); created if missing.
    #[arg(long, default_value = "ringmaster-data")]
    data: PathBuf,
    /// When a write is acknowledged: after the page cache (none), after a
    /// background flush every --flush-ms (periodic), or after msync (sync).
    #[arg(long, value_enum, default_value_t = DurabilityArg::Sync)]
    durability: DurabilityArg,
    /// Interval of the periodic flush, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    flush_ms: u64,
    /// Ring capacity (a power of two); also the most commands in flight.
    #[arg(long, default_value_t = 16384)]
    ring: u64,
    /// How the engine's stages wait for work (default: blocking; backoff
    /// with --ring-file, whose ring other processes read).
    #[arg(long, value_enum)]
    wait: Option<Wait>,
    /// Pin the engine's stages to cores.
    #[arg(long)]
    pin: bool,
    /// The four stages on one thread (shared) or a thread each
    /// (dedicated); default: shared on machines with fewer than 8 cores.
    #[arg(long, value_enum)]
    stage_threads: Option<StageThreadsArg>,
    /// Size the catalog and search index for this many products at start
    /// (no table growth, and its stall, until the catalog outgrows it;
    /// 240 to 290 bytes of memory per product up front).
    #[arg(long, default_value_t = 0)]
    reserve_products: u64,
    /// Most commands a stage takes per batch: replies leave, and the
    /// journal commits, once per batch, so a limit lets replies to the
    /// first commands of a burst go while the rest is worked through
    /// [default: 64; none with --durability sync, whose replies wait for
    /// the batch's msync anyway]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    max_batch: Option<u64>,
    /// Put the engine's ring in this file (e.g. /dev/shm/ringmaster), so
    /// `ringmaster stat FILE` shows each stage's progress and lag from
    /// another terminal. Removed when the server stops.
    #[arg(long)]
    ring_file: Option<PathBuf>,
    /// Most open connections.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// Close connections idle this many seconds (0: never).
    #[arg(long, default_value_t = 0)]
    idle_timeout: u64,
    /// Most memory all client buffers together may hold, in bytes, with an
    /// optional K, M or G suffix (binary); above it the client holding the
    /// most is closed. Default: an eighth of the machine's memory.
    #[arg(long, value_parser = parse_bytes)]
    max_client_memory: Option<usize>,
    /// Replicate the journal into NATS JetStream at this address
    /// (nats://HOST:PORT), with snapshots in the stream's object store.
    #[arg(long)]
    replicate: Option<String>,
    /// The JetStream stream's name.
    #[arg(long, default_value = "ringmaster")]
    stream: String,
    /// When a write is acknowledged with --replicate: after the local
    /// journal commit (local), or once JetStream holds it (replicated).
    #[arg(long, value_enum, default_value_t = AckArg::Local)]
    ack: AckArg,
    /// A file whose first line is the password clients must give (AUTH)
    /// before any other command. The recommended form: keep the file
    /// readable by the server's user only.
    #[arg(long, conflicts_with = "requirepass")]
    requirepass_file: Option<PathBuf>,
    /// The password clients must give (AUTH). Visible to every user of the
    /// machine in `ps`: prefer --requirepass-file.
    #[arg(long)]
    requirepass: Option<String>,
    /// Accept clients from other machines without a password. By default
    /// (protected mode), a server with no password accepts only clients on
    /// the loopback interface.
    #[arg(long)]
    no_protected_mode: bool,
    /// Speak TLS: the server's certificate chain (PEM). Needs --tls-key.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require client certificates signed by the CA(s) in this PEM file.
    #[arg(long, requires = "tls_cert")]
    tls_ca: Option<PathBuf>,
    /// Serve the server's figures for Prometheus at http://ADDR/metrics
    /// (e.g. 127.0.0.1:9121).
    #[arg(long)]
    metrics_addr: Option<std::net::SocketAddr>,
}

#[derive(clap::Args, Debug)]
struct StandbyArgs {
    /// The NATS server the primary replicates to (nats://HOST:PORT).
    #[arg(long)]
    from: String,
    /// This standby's durable consumer name (one per standby).
    #[arg(long, default_value = "standby")]
    consumer: String,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum AckArg {
    Local,
    Replicated,
}

/// A byte count: digits with an optional K, M or G suffix (powers of 1024).
fn parse_bytes(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (digits, shift) = match text.char_indices().last() {
        Some((at, 'k' | 'K')) => (&text[..at], 10),
        Some((at, 'm' | 'M')) => (&text[..at], 20),
        Some((at, 'g' | 'G')) => (&text[..at], 30),
        _ => (text, 0),
    };
    let n: usize = digits
        .trim()
        .parse()
        .map_err(|e| format!("{text:?} is not a byte count: {e}"))?;
    n.checked_mul(1 << shift)
        .ok_or_else(|| format!("{text:?} is too large"))
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
    /// Coordinated-omission guard of the paced in-process latency runs.
    #[arg(long, value_enum)]
    co: Option<ringmaster::harness::params::CoCorrection>,
    /// ringmaster's wait strategy where threads fit the cores.
    #[arg(long, value_enum)]
    wait: Option<Wait>,
    /// Extra dependent operations (~1 ns each) per event in every
    /// contender's counting handler, the same for all: shows how a
    /// throughput ratio depends on the consumer's cost per event.
    #[arg(long, default_value_t = 0)]
    handler_work: u32,
    /// Partitions in `partitioned` (and workers of its work-queue peer); a
    /// list runs the scenario once per count (e.g. 1,2,4,8). Default 2.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=64))]
    partitions: Vec<u32>,
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

#[derive(ValueEnum, Clone, Copy, Debug)]
enum StageThreadsArg {
    Shared,
    Dedicated,
}

impl From<StageThreadsArg> for ringmaster::shop::StageThreads {
    fn from(t: StageThreadsArg) -> Self {
        match t {
            StageThreadsArg::Shared => Self::Shared,
            StageThreadsArg::Dedicated => Self::Dedicated,
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
    let result = match cli.command.unwrap_or(Command::Demo(DemoArgs::default())) {
        #[cfg(loom)]
        Command::Demo(_) | Command::Serve(_) | Command::Standby(_) | Command::Promote { .. } => {
            Err("built with --cfg loom (model checking): no shop".into())
        }
        #[cfg(not(loom))]
        Command::Demo(a) => demo::run(demo::DemoOptions {
            data: a.data,
            duration_s: a.duration,
            products: a.products,
            clients: a.clients.max(1),
            durability: a.durability.into(),
            window: a.window.max(1),
            replicate: a.replicate,
        }),
        Command::Bench(args) => bench(*args),
        #[cfg(not(loom))]
        Command::Serve(a) => serve_options(a, None).and_then(serve::run),
        #[cfg(not(loom))]
        Command::Standby(a) => {
            if a.serve.replicate.is_some() {
                Err(
                    "a standby replicates to the stream it follows (--from); drop --replicate"
                        .into(),
                )
            } else {
                serve_options(a.serve, Some((a.from, a.consumer))).and_then(serve::run)
            }
        }
        #[cfg(not(loom))]
        Command::Promote {
            addr,
            timeout,
            requirepass_file,
        } => serve::promote(
            addr,
            std::time::Duration::from_secs(timeout),
            requirepass_file.as_deref(),
        ),
        Command::Journal { action } => journal(action),
        Command::Stat { path, watch } => stat(&path, watch),
        Command::ShmProducer {
            path,
            events,
            rate,
            capacity,
            strategy,
            core,
        } => harness::peers::shm::producer_main(
            &path,
            events,
            rate,
            capacity,
            strategy.into(),
            core.parse().ok(),
        )
        .map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `serve`'s and `standby`'s options from their arguments.
#[cfg(not(loom))]
fn serve_options(
    a: ServeArgs,
    standby: Option<(String, String)>,
) -> Result<serve::ServeOptions, Box<dyn std::error::Error>> {
    let durability = match a.durability {
        DurabilityArg::Periodic => {
            Durability::Periodic(std::time::Duration::from_millis(a.flush_ms.max(1)))
        }
        other => other.into(),
    };
    Ok(serve::ServeOptions {
        replicate: a.replicate,
        stream: a.stream,
        ack: match a.ack {
            AckArg::Local => ringmaster::shop::AckMode::Local,
            AckArg::Replicated => ringmaster::shop::AckMode::Replicated,
        },
        standby,
        addr: a.addr,
        data: a.data,
        durability,
        ring_capacity: a.ring,
        wait: match (a.wait, &a.ring_file) {
            (Some(w), _) => w.into(),
            (None, Some(_)) => WaitStrategy::Backoff,
            (None, None) => WaitStrategy::Blocking,
        },
        ring_file: a.ring_file,
        pin: a.pin,
        stage_threads: a
            .stage_threads
            .map_or_else(ringmaster::shop::StageThreads::for_this_machine, Into::into),
        reserve_products: a.reserve_products,
        max_batch: a
            .max_batch
            .unwrap_or_else(|| ringmaster::ingress::server_max_batch(durability)),
        max_connections: a.max_connections.max(1),
        idle_timeout: (a.idle_timeout > 0).then(|| std::time::Duration::from_secs(a.idle_timeout)),
        max_client_memory: a
            .max_client_memory
            .unwrap_or_else(ringmaster::ingress::default_max_client_memory),
        password: match (a.requirepass_file, a.requirepass) {
            (Some(file), _) => Some(ringmaster::ingress::Password::from_file(&file)?),
            (None, Some(password)) => {
                eprintln!(
                    "ringmaster: warning: a password given with --requirepass is visible to \
                     every user of this machine (ps); prefer --requirepass-file"
                );
                Some(ringmaster::ingress::Password::new(password.into_bytes())?)
            }
            (None, None) => None,
        },
        protected_mode: !a.no_protected_mode,
        tls: match (a.tls_cert, a.tls_key) {
            (Some(cert), Some(key)) => {
                let mut tls = ringmaster::ingress::TlsConfig::new(cert, key);
                if let Some(ca) = a.tls_ca {
                    tls = tls.client_ca(ca);
                }
                Some(tls.load()?)
            }
            _ => None,
        },
        metrics_addr: a.metrics_addr,
    })
}

/// Where a bench run writes its files.
struct BenchOutputs {
    json: Option<PathBuf>,
    hgrm: Option<PathBuf>,
    plot: Option<PathBuf>,
}

fn bench(a: BenchArgs) -> Result<(), Box<dyn std::error::Error>> {
    let outputs = BenchOutputs {
        json: a.json.clone(),
        hgrm: a.hgrm.clone(),
        plot: a.plot.clone(),
    };
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
    if let Some(v) = a.co {
        o.co = v;
    }
    if let Some(w) = a.wait {
        o.strategy = w.into();
    }
    o.pin = !a.no_pin;
    o.peers = a.peers;
    o.handler_work = a.handler_work;
    let counts = if a.partitions.is_empty() {
        vec![o.partitions]
    } else {
        a.partitions.clone()
    };
    let several = counts.len() > 1;
    for (i, &count) in counts.iter().enumerate() {
        o.partitions = count;
        if i > 0 {
            // Only the scenario the list is for runs again.
            o.scenarios.retain(|s| *s == harness::Scenario::Partitioned);
            if o.scenarios.is_empty() {
                break;
            }
        }
        if several {
            println!("partitions: {count}");
        }
        let suffix = several.then(|| format!("-p{count}"));
        bench_once(&o, &outputs, suffix.as_deref())?;
    }
    Ok(())
}

/// One harness run with `o`, its table printed and its files written (with
/// `suffix` before each file's extension).
fn bench_once(
    o: &BenchOptions,
    a: &BenchOutputs,
    suffix: Option<&str>,
) -> Result<(), Box<dyn std::error::Error>> {
    let with_suffix = |path: &std::path::Path| match suffix {
        None => path.to_path_buf(),
        Some(s) => {
            let stem = path.file_stem().unwrap_or_default().to_string_lossy();
            let ext = path
                .extension()
                .map(|e| format!(".{}", e.to_string_lossy()))
                .unwrap_or_default();
            path.with_file_name(format!("{stem}{s}{ext}"))
        }
    };
    let o = o.clone();
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
        let path = &with_suffix(path);
        report::write_json(&report, path)?;
        println!("json:  {}", path.display());
    }
    if let Some(dir) = &a.hgrm {
        let dir = &with_suffix(dir);
        let files = report::write_hgrm(&report, dir)?;
        println!("hgrm:  {} files in {}", files.len(), dir.display());
    }
    if let Some(path) = &a.plot {
        let path = &with_suffix(path);
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
            println!(
                "durable point: {} (every record before it is proven on disk)",
                report.durable_point
            );
            match (report.truncation, repair) {
                (None, _) => println!("ok"),
                (Some(t), false) => {
                    println!(
                        "unacknowledged tail: {} records ({} bytes) after sequence {}, from {} \
                         offset {} ({}): a crash's last batch, or a live writer's batch in \
                         progress; the next open truncates it (--repair: now)",
                        t.records, t.bytes, report.next_sequence, t.segment, t.offset, t.reason
                    );
                    println!("ok");
                }
                (Some(t), true) => {
                    let size = report.event_size.unwrap_or(1);
                    let config =
                        JournalConfig::new(&dir).recovery_mode(RecoveryMode::TruncateTornTail);
                    let (w, _) = JournalWriter::open(&config, size)?;
                    w.close()?;
                    println!(
                        "repaired: truncated {} records ({} bytes) from {} offset {} ({})",
                        t.records, t.bytes, t.segment, t.offset, t.reason
                    );
                }
            }
            Ok(())
        }
        JournalAction::Migrate { dir } => {
            let dir = journal_dir(dir);
            let done = journal::migrate(&dir, &JournalConfig::new(&dir))?;
            match done.backup {
                None => println!("{}: already in the current format", dir.display()),
                Some(backup) => println!(
                    "{}: {} records from sequence {} converted; the old segments are in {}{}",
                    dir.display(),
                    done.records,
                    done.first_sequence,
                    backup.display(),
                    done.dropped_tail
                        .map(|(s, o, k)| format!(
                            "; a torn tail in {s} at offset {o} ({k}) was left out"
                        ))
                        .unwrap_or_default()
                ),
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
                        ", unacknowledged tail of {} records in {} at offset {}: {}",
                        t.records, t.segment, t.offset, t.reason
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

#[cfg(loom)]
fn stat(_: &std::path::Path, _: Option<f64>) -> Result<(), Box<dyn std::error::Error>> {
    Err("no shared rings under loom".into())
}

#[cfg(not(loom))]
fn stat(path: &std::path::Path, watch: Option<f64>) -> Result<(), Box<dyn std::error::Error>> {
    use ringmaster::shm::RingStat;
    let mut last = RingStat::read(path)?;
    print!("{last}");
    let Some(every) = watch else {
        return Ok(());
    };
    let every = std::time::Duration::from_secs_f64(every.max(0.05));
    loop {
        std::thread::sleep(every);
        let now = RingStat::read(path)?;
        let per_s = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / every.as_secs_f64();
        println!();
        print!("{now}");
        let rates: Vec<String> = now
            .consumers
            .iter()
            .map(|c| {
                let before = last
                    .consumers
                    .iter()
                    .find(|p| p.slot == c.slot)
                    .map_or(c.sequence, |p| p.sequence);
                format!("slot {} {:.0}/s", c.slot, per_s(before, c.sequence))
            })
            .collect();
        println!(
            "rates: published {:.0}/s; {}",
            per_s(last.cursor, now.cursor),
            rates.join(", ")
        );
        last = now;
    }
}
