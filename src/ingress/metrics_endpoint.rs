//! `serve --metrics-addr`: the server's figures in the Prometheus text
//! exposition format at `GET /metrics`, on a thread of its own (a slow or
//! hostile scraper never touches the event loop). The text is written by
//! the `prometheus` crate's encoder from metric families built at each
//! scrape: server counters, per-stage latency summaries and batch sizes,
//! journal figures and, on a replicated node, the replication figures.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `ringmaster_uptime_seconds` | gauge | |
//! | `ringmaster_connected_clients` | gauge | |
//! | `ringmaster_connections_received_total`, `ringmaster_connections_rejected_total` | counter | |
//! | `ringmaster_commands_processed_total`, `ringmaster_commands_published_total`, `ringmaster_bad_requests_total` | counter | |
//! | `ringmaster_commands_in_flight`, `ringmaster_client_buffers_bytes` | gauge | |
//! | `ringmaster_auth_failures_total`, `ringmaster_evicted_clients_total`, `ringmaster_tls_handshake_timeouts_total`, `ringmaster_orphaned_replies_total` | counter | |
//! | `ringmaster_stage_latency_seconds` | summary (0.5, 0.9, 0.99, 0.999) | `stage` |
//! | `ringmaster_stage_batch_size_mean` | gauge | `stage` |
//! | `ringmaster_journal_records_total`, `_commits_total`, `_syncs_total`, `_segment_rolls_total` | counter | |
//! | `ringmaster_journal_next_sequence`, `ringmaster_journal_durable_sequence`, `ringmaster_journal_undurable_records` | gauge | |
//! | `ringmaster_replication_*` | as the role says | |

use super::figures::ServerCounters;
use super::role::{RoleFigure, ServerRole};
use crate::shop::{LiveJournal, LiveStages};
use prometheus::proto::{
    Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType, Quantile, Summary,
};
use prometheus::{Encoder as _, TextEncoder};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Everything a scrape reads.
#[derive(Debug, Clone)]
pub(crate) struct MetricsSource {
    pub(crate) counters: Arc<ServerCounters>,
    pub(crate) stages: Arc<LiveStages>,
    pub(crate) journal: Arc<LiveJournal>,
    pub(crate) role: Option<Arc<dyn ServerRole>>,
    pub(crate) started: Instant,
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_owned());
    f.set_help(help.to_owned());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

fn gauge(value: f64) -> Metric {
    let mut g = Gauge::default();
    g.set_value(value);
    Metric::from_gauge(g)
}

fn counter(value: f64) -> Metric {
    let mut c = Counter::default();
    c.set_value(value);
    let mut m = Metric::default();
    m.set_counter(c);
    m
}

fn labelled(mut metric: Metric, name: &str, value: &str) -> Metric {
    let mut label = LabelPair::default();
    label.set_name(name.to_owned());
    label.set_value(value.to_owned());
    metric.set_label(vec![label]);
    metric
}

/// The metric families of one scrape.
pub(crate) fn families(source: &MetricsSource) -> Vec<MetricFamily> {
    let c = &source.counters;
    let get = ServerCounters::get;
    let mut out = vec![family(
        "ringmaster_uptime_seconds",
        "Seconds since the server started.",
        MetricType::GAUGE,
        vec![gauge(source.started.elapsed().as_secs_f64())],
    )];
    for (name, help, field) in [
        (
            "ringmaster_connected_clients",
            "Open client connections.",
            &c.connections,
        ),
        (
            "ringmaster_commands_in_flight",
            "Shop commands published and not yet answered.",
            &c.commands_in_flight,
        ),
        (
            "ringmaster_client_buffers_bytes",
            "Bytes all client buffers hold.",
            &c.client_buffers_bytes,
        ),
    ] {
        out.push(family(
            name,
            help,
            MetricType::GAUGE,
            vec![gauge(get(field) as f64)],
        ));
    }
    for (name, help, field) in [
        (
            "ringmaster_connections_received_total",
            "Connections accepted.",
            &c.accepted,
        ),
        (
            "ringmaster_connections_rejected_total",
            "Connections refused (limit or protected mode).",
            &c.refused,
        ),
        (
            "ringmaster_commands_processed_total",
            "Requests parsed.",
            &c.requests,
        ),
        (
            "ringmaster_commands_published_total",
            "Shop commands published into the ring.",
            &c.published,
        ),
        (
            "ringmaster_bad_requests_total",
            "Requests answered with an error before the ring.",
            &c.bad_requests,
        ),
        (
            "ringmaster_auth_failures_total",
            "Failed AUTH attempts.",
            &c.failed_auth,
        ),
        (
            "ringmaster_evicted_clients_total",
            "Clients closed for the client memory limit.",
            &c.evicted_for_memory,
        ),
        (
            "ringmaster_tls_handshake_timeouts_total",
            "TLS handshakes closed unfinished.",
            &c.handshake_timeouts,
        ),
        (
            "ringmaster_orphaned_replies_total",
            "Replies whose client had gone.",
            &c.orphaned_replies,
        ),
    ] {
        out.push(family(
            name,
            help,
            MetricType::COUNTER,
            vec![counter(get(field) as f64)],
        ));
    }
    let (mut latency, mut batches) = (Vec::new(), Vec::new());
    for stage in source.stages.snapshot() {
        let h = &stage.latency_ns;
        let mut summary = Summary::default();
        summary.set_sample_count(h.len());
        summary.set_sample_sum(h.mean() * h.len() as f64 / 1e9);
        summary.set_quantile(
            [0.5, 0.9, 0.99, 0.999]
                .into_iter()
                .map(|q| {
                    let mut quantile = Quantile::default();
                    quantile.set_quantile(q);
                    quantile.set_value(h.value_at_quantile(q) as f64 / 1e9);
                    quantile
                })
                .collect(),
        );
        let mut m = Metric::default();
        m.set_summary(summary);
        latency.push(labelled(m, "stage", stage.name));
        batches.push(labelled(
            gauge(stage.batch_sizes.mean()),
            "stage",
            stage.name,
        ));
    }
    out.push(family(
        "ringmaster_stage_latency_seconds",
        "Publish to the end of the stage's batch, per command, since open.",
        MetricType::SUMMARY,
        latency,
    ));
    out.push(family(
        "ringmaster_stage_batch_size_mean",
        "Mean commands per batch, since open.",
        MetricType::GAUGE,
        batches,
    ));
    let j = source.journal.snapshot();
    for (name, help, value) in [
        (
            "ringmaster_journal_records_total",
            "Journal records appended since open.",
            j.records,
        ),
        (
            "ringmaster_journal_commits_total",
            "Journal commits since open.",
            j.commits,
        ),
        (
            "ringmaster_journal_syncs_total",
            "Journal durable flushes since open.",
            j.syncs,
        ),
        (
            "ringmaster_journal_segment_rolls_total",
            "Journal segments rolled over since open.",
            j.rolls,
        ),
    ] {
        out.push(family(
            name,
            help,
            MetricType::COUNTER,
            vec![counter(value as f64)],
        ));
    }
    for (name, help, value) in [
        (
            "ringmaster_journal_next_sequence",
            "Journal sequence of the next record.",
            j.next_sequence,
        ),
        (
            "ringmaster_journal_durable_sequence",
            "Every journal record below this is durable.",
            j.durable_sequence,
        ),
        (
            "ringmaster_journal_undurable_records",
            "Journal records written and not yet durable.",
            j.next_sequence.saturating_sub(j.durable_sequence),
        ),
    ] {
        out.push(family(
            name,
            help,
            MetricType::GAUGE,
            vec![gauge(value as f64)],
        ));
    }
    if let Some(role) = &source.role {
        for RoleFigure {
            name,
            help,
            value,
            counter: is_counter,
        } in role.figures()
        {
            let (kind, metric) = if is_counter {
                (MetricType::COUNTER, counter(value))
            } else {
                (MetricType::GAUGE, gauge(value))
            };
            out.push(family(
                &format!("ringmaster_replication_{name}"),
                help,
                kind,
                vec![metric],
            ));
        }
    }
    out
}

/// The text of one scrape.
pub(crate) fn render(source: &MetricsSource) -> Vec<u8> {
    let mut body = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&families(source), &mut body) {
        tracing::warn!(error = %e, "encoding the metrics");
    }
    body
}

/// The endpoint's thread; stopped when dropped.
#[derive(Debug)]
pub(crate) struct MetricsEndpoint {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// How long one scraper may take to send its request or read the reply.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// Most bytes of a request read (headers included).
const MAX_REQUEST: usize = 8 * 1024;

impl MetricsEndpoint {
    /// Serve `source` on `listener` until dropped.
    pub(crate) fn start(listener: TcpListener, source: MetricsSource) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    // Acquire: pairs with the Release store in `drop`.
                    if stopping.load(Ordering::Acquire) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        if let Err(e) = answer(stream, &source) {
                            tracing::debug!(error = %e, "a metrics scrape failed");
                        }
                    }
                }
            })?;
        Ok(Self {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsEndpoint {
    fn drop(&mut self) {
        // Release: pairs with the Acquire load after the next accept.
        self.stop.store(true, Ordering::Release);
        // Wake the blocking accept.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Read one HTTP request (bounded in size and time) and answer it.
fn answer(mut stream: TcpStream, source: &MetricsSource) -> std::io::Result<()> {
    stream.set_read_timeout(Some(SCRAPE_TIMEOUT))?;
    stream.set_write_timeout(Some(SCRAPE_TIMEOUT))?;
    let mut request = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        request.extend_from_slice(&chunk[..n]);
        if request.len() > MAX_REQUEST {
            respond(
                &mut stream,
                "431 Request Header Fields Too Large",
                "text/plain",
                b"too large\n",
            )?;
            // Read (and drop) what the client is still sending, so closing
            // does not reset the connection before it reads the answer.
            stream.shutdown(std::net::Shutdown::Write)?;
            let _ = std::io::copy(&mut (&stream).take(1 << 20), &mut std::io::sink());
            return Ok(());
        }
    }
    let line = request.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut words = line.split(|&b| b == b' ');
    let (method, target) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let path = target.split(|&b| b == b'?').next().unwrap_or_default();
    match (method, path) {
        (b"GET", b"/metrics") => respond(
            &mut stream,
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            &render(source),
        ),
        (b"GET", _) => respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            b"try /metrics\n",
        ),
        _ => respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"GET only\n",
        ),
    }
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    stream.flush()
}
