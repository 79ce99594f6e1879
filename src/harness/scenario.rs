//! The benchmark scenarios: shapes, what they must deliver, who runs them.

use super::event::{BenchEvent, Event64, Event8};
use super::params::{Outcome, Params};
use super::peers::{channels, disruptor, journal, replicate, ringmaster, shm, shop, tcp};

/// A benchmark shape.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum, serde::Serialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// 1 producer, 1 consumer, one event per publish.
    Unicast,
    /// 1 producer, 1 consumer, batches of `--batch` events.
    UnicastBatch,
    /// Unicast with instrumentation on by default (1 in 1024 sampled)
    /// against the same with it off and with every event sampled.
    MetricsOverhead,
    /// 1 producer -> a -> b -> c.
    Pipeline,
    /// 1 producer -> (a, b, c), each sees every event.
    Multicast,
    /// 1 producer -> (a, b) -> c.
    Diamond,
    /// 3 producers -> 1 consumer.
    Sequencer,
    /// 1 producer -> a stage of `--partitions` partitions (per-key order,
    /// 1,024 keys), against one thread doing the same work and a crossbeam
    /// work queue with as many workers (no order).
    Partitioned,
    /// Round trips between two threads over two queues.
    Pingpong,
    /// One-way latency at a paced rate (coordinated-omission aware).
    Latency,
    /// Unicast through a journal stage (None, Periodic and Sync durability), in
    /// steady state (recycled segments) and on a first lap (new files),
    /// against plain unicast and the memory floor (`slot-copy`: the
    /// journal's stores alone, into memory no cache holds).
    Journal,
    /// The shop: a write-heavy command mix from 2 pipelined clients,
    /// `Durability::None`, against a mutex-guarded catalog.
    Shop,
    /// The same with `Durability::Sync` (the peer commits per command).
    ShopSync,
    /// Search latency on a 100,000-product catalog: a round trip through
    /// the shop against the index called directly.
    Search,
    /// The shop over TCP (`ringmaster serve`, `Periodic` durability)
    /// against `redis-server` (AOF, fsync every second) when installed: 50
    /// connections, pipelines of 16, half ADD/SET, half GET.
    Tcp,
    /// The same mix at a paced 20,000 requests/s over 10 connections, one
    /// request per round trip: end-to-end latency, coordinated-omission
    /// corrected.
    TcpLatency,
    /// The `tcp-latency` load while hostile clients flood the server
    /// (80 incomplete 900 KiB requests, 10 connections pipelining large
    /// replies without reading, 500 idle ones, reopened when closed) over a
    /// 64 MiB client-memory limit, against the same load on a quiet server
    /// with the same limit.
    TcpFlood,
    /// Replicated writes over TCP (50 connections, pipelines of 16, ADD
    /// against SET) with a standby following: `ringmaster serve
    /// --replicate` into nats-server with JetStream (replies after the
    /// local commit, and `acked`: after the stream's acknowledgement)
    /// against a Redis primary with a replica, AOF every second on all;
    /// the latency columns are the standby's lag (a probe written every
    /// 10 ms, from its acknowledgement to its visibility on the standby).
    /// Needs nats-server (and redis-server for the peer).
    Replicate,
    /// Paced one-way latency from a producer process to a consumer process
    /// through a ring in `/dev/shm`, against the same in one process.
    Shm,
    /// 1P-1C throughput from a producer process to a consumer process,
    /// against the same in one process.
    ShmThroughput,
}

/// How a scenario's figures are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Events per second; higher is better.
    Throughput,
    /// Latency percentiles; lower is better.
    Latency,
}

/// Something that runs a scenario: ringmaster or a peer.
#[derive(Clone, Copy)]
pub struct Contender {
    /// Peer name in reports (`ringmaster`, `disruptor`, `crossbeam`, `std`, `rtrb`).
    pub peer: &'static str,
    /// Run once.
    pub run: fn(&Params) -> Result<Outcome, String>,
    /// At most this many events per run, for a peer so much slower that
    /// the scenario's count would take minutes (its rate still compares).
    pub max_events: Option<u64>,
}

impl std::fmt::Debug for Contender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.peer)
    }
}

impl Scenario {
    /// Every scenario, in report order.
    pub const ALL: [Scenario; 20] = [
        Self::Unicast,
        Self::UnicastBatch,
        Self::MetricsOverhead,
        Self::Pipeline,
        Self::Multicast,
        Self::Diamond,
        Self::Sequencer,
        Self::Partitioned,
        Self::Pingpong,
        Self::Latency,
        Self::Journal,
        Self::Shop,
        Self::ShopSync,
        Self::Search,
        Self::Tcp,
        Self::TcpLatency,
        Self::TcpFlood,
        Self::Replicate,
        Self::Shm,
        Self::ShmThroughput,
    ];

    /// Name used in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Unicast => "unicast",
            Self::UnicastBatch => "unicast-batch",
            Self::MetricsOverhead => "metrics-overhead",
            Self::Pipeline => "pipeline",
            Self::Multicast => "multicast",
            Self::Diamond => "diamond",
            Self::Sequencer => "sequencer",
            Self::Partitioned => "partitioned",
            Self::Pingpong => "pingpong",
            Self::Latency => "latency",
            Self::Journal => "journal",
            Self::Shop => "shop",
            Self::ShopSync => "shop-sync",
            Self::Search => "search",
            Self::Tcp => "tcp",
            Self::TcpLatency => "tcp-latency",
            Self::TcpFlood => "tcp-flood",
            Self::Replicate => "replicate",
            Self::Shm => "shm",
            Self::ShmThroughput => "shm-throughput",
        }
    }

    /// Threads the shape uses (producers + consumers).
    ///
    /// The shop scenarios run the shop's default stage threads for this
    /// machine (`StageThreads::for_this_machine`).
    pub fn threads(self) -> usize {
        match self {
            Self::Unicast
            | Self::UnicastBatch
            | Self::MetricsOverhead
            | Self::Pingpong
            | Self::Latency
            | Self::Journal
            | Self::Shm
            | Self::ShmThroughput => 2,
            Self::Pipeline | Self::Multicast | Self::Diamond | Self::Sequencer => 4,
            // The producer and two partitions (the default; see
            // `Params::partitions` for the count a run uses).
            Self::Partitioned => 3,
            // The shop's stage threads and two clients, or one.
            Self::Shop | Self::ShopSync => {
                crate::shop::StageThreads::for_this_machine().threads() + 2
            }
            Self::Search => crate::shop::StageThreads::for_this_machine().threads() + 1,
            // The event loop, the stages, and the generator's connections.
            Self::Tcp => {
                1 + crate::shop::StageThreads::for_this_machine().threads()
                    + super::peers::tcp::CONNECTIONS
            }
            Self::TcpLatency => {
                1 + crate::shop::StageThreads::for_this_machine().threads()
                    + super::peers::tcp::PACED_CONNECTIONS
            }
            Self::TcpFlood => {
                2 + crate::shop::StageThreads::for_this_machine().threads()
                    + super::peers::tcp::PACED_CONNECTIONS
            }
            // Two nodes' loops and stages, the replication threads, the
            // generator's connections and the prober.
            Self::Replicate => {
                5 + 2 * crate::shop::StageThreads::for_this_machine().threads()
                    + super::peers::tcp::CONNECTIONS
            }
        }
    }

    /// How its figures are read.
    pub fn kind(self) -> Kind {
        match self {
            Self::Pingpong
            | Self::Latency
            | Self::Search
            | Self::TcpLatency
            | Self::TcpFlood
            | Self::Shm => Kind::Latency,
            _ => Kind::Throughput,
        }
    }

    /// What the final consumers must have received, summed: (count, checksum).
    pub fn expected(self, events: u64) -> (u64, u64) {
        let sum = |n: u64| (n.wrapping_mul(n.wrapping_sub(1)) / 2, n);
        match self {
            Self::Multicast => {
                let (s, n) = sum(events);
                (3 * n, s.wrapping_mul(3))
            }
            Self::Sequencer => {
                let (s, n) = sum(events / 3 * 3);
                (n, s)
            }
            _ => {
                let (s, n) = sum(events);
                (n, s)
            }
        }
    }

    /// The contenders for this shape, ringmaster first.
    pub fn contenders(self, event_size: usize) -> Vec<Contender> {
        match event_size {
            8 => self.contenders_for::<Event8>(),
            _ => self.contenders_for::<Event64>(),
        }
    }

    fn contenders_for<E: BenchEvent>(self) -> Vec<Contender> {
        let c = |peer, run| Contender {
            peer,
            run,
            max_events: None,
        };
        match self {
            Self::Unicast => vec![
                c("ringmaster", ringmaster::unicast::<E>),
                c("disruptor", disruptor::unicast::<E>),
                c("crossbeam", channels::crossbeam_unicast::<E>),
                c("std", channels::std_unicast::<E>),
                c("rtrb", channels::rtrb_unicast::<E>),
            ],
            Self::UnicastBatch => vec![
                c("ringmaster", ringmaster::unicast::<E>),
                c("disruptor", disruptor::unicast::<E>),
            ],
            Self::MetricsOverhead => vec![
                c("ringmaster", ringmaster::unicast::<E>),
                c("uninstrumented", ringmaster::unicast_uninstrumented::<E>),
                c("every-event", ringmaster::unicast_every_event::<E>),
            ],
            Self::Pipeline => vec![
                c("ringmaster", ringmaster::pipeline::<E>),
                c("disruptor", disruptor::pipeline::<E>),
                c("crossbeam", channels::crossbeam_pipeline::<E>),
            ],
            Self::Multicast => vec![
                c("ringmaster", ringmaster::multicast::<E>),
                c("disruptor", disruptor::multicast::<E>),
                c("crossbeam", channels::crossbeam_multicast::<E>),
            ],
            Self::Diamond => vec![
                c("ringmaster", ringmaster::diamond::<E>),
                c("disruptor", disruptor::diamond::<E>),
            ],
            Self::Sequencer => vec![
                c("ringmaster", ringmaster::sequencer::<E>),
                c("disruptor", disruptor::sequencer::<E>),
                c("crossbeam", channels::crossbeam_sequencer::<E>),
                c("std", channels::std_sequencer::<E>),
            ],
            // Round trips and paced latency carry a timestamp: 64-byte
            // events whatever --event-size says.
            Self::Partitioned => vec![
                c("ringmaster", ringmaster::partitioned::<E>),
                c("work-pool", ringmaster::work_pool::<E>),
                c("one-thread", ringmaster::unicast::<E>),
                c("crossbeam", channels::crossbeam_work_queue::<E>),
            ],
            Self::Pingpong => vec![
                c("ringmaster", ringmaster::pingpong::<Event64>),
                c("disruptor", disruptor::pingpong::<Event64>),
                c("crossbeam", channels::crossbeam_pingpong::<Event64>),
                c("rtrb", channels::rtrb_pingpong::<Event64>),
            ],
            Self::Journal => vec![
                c("ringmaster", journal::plain::<E>),
                c("slot-copy", journal::slot_copy::<E>),
                c("journal-none", journal::journal_none::<E>),
                c("journal-periodic", journal::journal_periodic::<E>),
                c("journal-sync", journal::journal_sync::<E>),
                c("journal-none-fresh", journal::journal_none_fresh::<E>),
                c(
                    "journal-periodic-fresh",
                    journal::journal_periodic_fresh::<E>,
                ),
                c("journal-sync-fresh", journal::journal_sync_fresh::<E>),
            ],
            Self::Shop => vec![
                c("ringmaster", shop::shop_none),
                c("locked", shop::locked_none),
            ],
            Self::ShopSync => vec![
                c("ringmaster", shop::shop_sync),
                // One msync per command: ~3 k/s here; 20 k commands are
                // enough to measure that.
                Contender {
                    max_events: Some(shop::MAX_LOCKED_SYNC_COMMANDS),
                    ..c("locked", shop::locked_sync)
                },
            ],
            Self::Search => vec![
                c("ringmaster", shop::search_shop),
                c("direct-index", shop::search_direct),
            ],
            Self::Latency => vec![
                c("ringmaster", ringmaster::latency::<Event64>),
                c(
                    "uninstrumented",
                    ringmaster::latency_uninstrumented::<Event64>,
                ),
                c("disruptor", disruptor::latency::<Event64>),
                c("crossbeam", channels::crossbeam_latency::<Event64>),
                c("rtrb", channels::rtrb_latency::<Event64>),
                c("std", channels::std_latency::<Event64>),
            ],
            // Redis only where it is installed (the tests must not need it).
            Self::Tcp => std::iter::once(c("ringmaster", tcp::ringmaster_tcp))
                .chain(tcp::redis_available().then(|| c("redis", tcp::redis_tcp)))
                .collect(),
            Self::TcpLatency => std::iter::once(c("ringmaster", tcp::ringmaster_tcp_paced))
                .chain(tcp::redis_available().then(|| c("redis", tcp::redis_tcp_paced)))
                .collect(),
            // The ordinary client's latency under the flood, against the
            // same on a quiet server.
            Self::TcpFlood => vec![
                c("flooded", tcp::ringmaster_tcp_flooded),
                c("quiet", tcp::ringmaster_tcp_quiet),
            ],
            // Only where nats-server is installed; Redis only where it is.
            // The standby runs as the ringmaster binary: where it is built.
            Self::Replicate => (replicate::nats_binary().is_some()
                && shm::ringmaster_binary().is_some())
            .then(|| {
                [
                    c("ringmaster", replicate::ringmaster_replicated),
                    c("acked", replicate::ringmaster_acked),
                ]
            })
            .into_iter()
            .flatten()
            .chain(tcp::redis_available().then(|| c("redis", replicate::redis_replicated)))
            .collect(),
            // The process boundary is what is measured: the same ring and
            // shape in one process is the reference.
            Self::Shm => shm_pair(shm::latency, ringmaster::latency::<Event64>),
            Self::ShmThroughput => shm_pair(shm::throughput, ringmaster::unicast::<Event64>),
        }
    }

    /// Event size actually used.
    pub fn event_size(self, requested: usize) -> usize {
        match self {
            Self::Pingpong | Self::Latency | Self::Shm | Self::ShmThroughput => 64,
            Self::Shop | Self::ShopSync | Self::Search => 128,
            // Requests on the wire, not events; the shop's events are 128.
            Self::Tcp | Self::TcpLatency | Self::TcpFlood | Self::Replicate => 128,
            _ if requested == 8 => 8,
            _ => 64,
        }
    }
}

type Run = fn(&Params) -> Result<Outcome, String>;

/// A producer process against the same shape in one process; the
/// cross-process contender needs the ringmaster binary as its producer and
/// drops out where it is not found.
fn shm_pair(cross: Run, local: Run) -> Vec<Contender> {
    let c = |peer, run| Contender {
        peer,
        run,
        max_events: None,
    };
    shm::ringmaster_binary()
        .map(|_| c("shm-process", cross))
        .into_iter()
        .chain([c("in-process", local)])
        .collect()
}
