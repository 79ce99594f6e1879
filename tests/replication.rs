//! Replication on NATS JetStream against a real nats-server started on a
//! free loopback port: digest equality between a primary and its
//! standbys (one rebuilt from a snapshot in the bucket), a stream ahead of
//! the journal or diverged from it refused, the server restarted under
//! load with no gap and no duplicate, and failover without losing an
//! acknowledged write, with real processes killed by SIGKILL.
// The server processes are the `ringmaster` binary: the `cli` feature.
#![cfg(feature = "cli")]

mod util;

use ringmaster::journal::Durability;
use ringmaster::replication::ReplicationError;
use ringmaster::shop::{
    AckMode, Command, ReplicatedShop, ReplicationConfig, ReplicationInfo, Shop, ShopConfig,
    ShopError,
};
use ringmaster::WaitStrategy;
use std::time::{Duration, Instant};
use util::nats::Nats;
use util::{ringmaster_process, tempdir};

const SUITE: &str = "replication";

fn shop_config(dir: &std::path::Path) -> ShopConfig {
    ShopConfig::new(dir)
        .durability(Durability::None)
        .wait_strategy(WaitStrategy::Yielding)
        .ring_capacity(1 << 12)
}

/// A mixed workload on `client`: adds, then updates and deletes of some.
fn mixed_workload(shop: &Shop, from: u64, to: u64) {
    let mut client = shop.client().unwrap();
    let mut commands = Vec::new();
    for id in from..to {
        commands.push(
            Command::add(
                id,
                &format!("Item {id} oak"),
                100 + id as i64,
                (id % 50) as i64,
            )
            .unwrap(),
        );
        if id % 7 == 0 {
            commands.push(Command::update(id, Some(999), None, None).unwrap());
        }
        if id % 11 == 0 {
            commands.push(Command::delete(id).unwrap());
        }
    }
    for chunk in commands.chunks(256) {
        client.submit_batch(chunk).unwrap();
        while client.in_flight() > 0 {
            client.next_completion().unwrap();
        }
    }
}

/// Poll `what` until it holds, for at most `limit`.
fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn applied(node: &ReplicatedShop) -> u64 {
    match node.handle().info() {
        ReplicationInfo::Standby { applied, .. } => applied,
        other => panic!("not a standby: {other:?}"),
    }
}

/// Every message in the stream, as (first journal sequence, records). A
/// scan that a purge overtook (its message gone) starts again.
fn stream_runs(url: &str, stream: &str) -> Vec<(u64, u64)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = async_nats::connect(url).await.unwrap();
        let js = async_nats::jetstream::new(client);
        let mut s = js.get_stream(stream).await.unwrap();
        'scan: for _ in 0..10 {
            let state = s.info().await.unwrap().state.clone();
            let mut runs = Vec::new();
            for seq in state.first_sequence..=state.last_sequence {
                let Ok(m) = s.get_raw_message(seq).await else {
                    continue 'scan;
                };
                let p = &m.payload;
                let first = u64::from_le_bytes(p[8..16].try_into().unwrap());
                let count = u64::from(u32::from_le_bytes(p[16..20].try_into().unwrap()));
                runs.push((first, count));
            }
            return runs;
        }
        panic!("the stream kept changing under ten scans");
    })
}

/// The stream holds journal sequences `from..to`, each exactly once, in
/// order.
fn assert_contiguous(runs: &[(u64, u64)], from: u64, to: u64) {
    let mut next = from;
    for (i, &(first, count)) in runs.iter().enumerate() {
        assert_eq!(
            first, next,
            "message {i}: a gap or a duplicate at {next}: {runs:?}"
        );
        next = first + count;
    }
    assert_eq!(next, to, "the stream ends at {next}, the journal at {to}");
}

#[test]
fn standbys_reach_the_primarys_digest_one_from_a_snapshot() {
    let nats = Nats::start(SUITE);
    let repl = ReplicationConfig::new(nats.url()).stream("digest");
    let (p, a, b) = (
        tempdir(SUITE, "p"),
        tempdir(SUITE, "a"),
        tempdir(SUITE, "b"),
    );
    let primary = ReplicatedShop::primary(shop_config(&p), repl.clone()).unwrap();
    mixed_workload(primary.shop(), 1, 3_000);
    let standby_a = ReplicatedShop::standby(shop_config(&a), repl.clone().consumer("a")).unwrap();
    assert_eq!(standby_a.shop().open_report().snapshot, None);
    mixed_workload(primary.shop(), 3_000, 4_000);
    // A snapshot reaches the bucket; the stream drops what it covers.
    let covered = primary.shop().snapshot().unwrap();
    eventually(
        Duration::from_secs(20),
        "snapshot uploaded",
        || matches!(primary.handle().info(), ReplicationInfo::Primary { snapshots, .. } if snapshots >= 1),
    );
    mixed_workload(primary.shop(), 4_000, 5_000);
    eventually(
        Duration::from_secs(20),
        "stream purged up to the snapshot",
        || stream_runs(&nats.url(), "digest")[0].0 > 0,
    );
    assert!(stream_runs(&nats.url(), "digest")[0].0 <= covered);
    let standby_b = ReplicatedShop::standby(shop_config(&b), repl.clone().consumer("b")).unwrap();
    assert_eq!(standby_b.shop().open_report().snapshot, Some(covered));

    let digest = primary.shop().digest().unwrap();
    for (name, standby) in [("a", &standby_a), ("b", &standby_b)] {
        eventually(Duration::from_secs(30), name, || {
            standby.shop().digest().unwrap() == digest
        });
    }
    // Writes are refused on a standby, naming the primary.
    let refusal = standby_a.handle().refuse_writes().unwrap();
    assert!(
        refusal.starts_with("READONLY") && refusal.contains("pid"),
        "{refusal}"
    );
    let runs = stream_runs(&nats.url(), "digest");
    let end = runs.last().map(|&(f, c)| f + c).unwrap();
    assert_contiguous(&runs, runs[0].0, end);
    assert_eq!(applied(&standby_a), end);
    standby_a.close().unwrap();
    standby_b.close().unwrap();
    primary.close().unwrap();
}

#[test]
fn a_stream_ahead_of_the_journal_or_diverged_from_it_is_refused() {
    let nats = Nats::start(SUITE);
    let repl = ReplicationConfig::new(nats.url()).stream("ahead");
    let (p, empty, other) = (
        tempdir(SUITE, "p"),
        tempdir(SUITE, "empty"),
        tempdir(SUITE, "other"),
    );
    let primary = ReplicatedShop::primary(shop_config(&p), repl.clone()).unwrap();
    mixed_workload(primary.shop(), 1, 10);
    primary.close().unwrap();

    match ReplicatedShop::primary(shop_config(&empty), repl.clone()) {
        Err(ShopError::Replication(ReplicationError::StreamAhead {
            stream_end,
            journal_end: 0,
            ..
        })) => assert!(stream_end > 0),
        other => panic!("expected StreamAhead, got {other:?}"),
    }
    // As long, but other records: a diverged history.
    let alone = Shop::open(shop_config(&other).snapshot_on_close(false)).unwrap();
    let mut client = alone.client().unwrap();
    let mut commands = Vec::new();
    for id in 1..10 {
        commands.push(Command::add(id, "Something else", 1, 1).unwrap());
        if id % 7 == 0 {
            commands.push(Command::update(id, Some(1), None, None).unwrap());
        }
    }
    commands.push(Command::delete(8).unwrap());
    for c in &commands {
        client.call(c).unwrap();
    }
    drop(client);
    alone.close().unwrap();
    match ReplicatedShop::primary(shop_config(&other), repl) {
        Err(ShopError::Replication(ReplicationError::Diverged { .. })) => {}
        other => panic!("expected Diverged, got {other:?}"),
    }
}

#[test]
fn nats_restarted_under_replicated_acks_leaves_no_gap_and_no_duplicate() {
    let mut nats = Nats::start(SUITE);
    let repl = ReplicationConfig::new(nats.url())
        .stream("restart")
        .ack(AckMode::Replicated);
    let (p, s) = (tempdir(SUITE, "p"), tempdir(SUITE, "s"));
    let primary = ReplicatedShop::primary(shop_config(&p), repl.clone()).unwrap();
    let shop = primary.shop();
    // Writes in rounds of 500 products before, during and after the
    // restart: at least three rounds on each side of it.
    let rounds = std::sync::atomic::AtomicU64::new(0);
    let restarted_at = std::sync::atomic::AtomicU64::new(u64::MAX);
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for round in 0.. {
                let done = restarted_at.load(std::sync::atomic::Ordering::SeqCst);
                if round >= done.saturating_add(3) {
                    break;
                }
                mixed_workload(shop, 1 + round * 500, 1 + (round + 1) * 500);
                rounds.store(round + 1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        eventually(Duration::from_secs(60), "three rounds", || {
            rounds.load(std::sync::atomic::Ordering::SeqCst) >= 3
        });
        // Frozen until writes wait on it (published into its socket, not
        // acknowledged), then killed, losing them, and started again on
        // the same port and storage: the replicator must notice the lost
        // messages and publish them again, once.
        nats.freeze();
        eventually(
            Duration::from_secs(20),
            "writes waiting on the stream",
            || {
                matches!(primary.handle().info(),
                ReplicationInfo::Primary { published, acked, .. } if published > acked)
            },
        );
        std::thread::sleep(Duration::from_millis(200));
        nats.restart();
        restarted_at.store(
            rounds.load(std::sync::atomic::Ordering::SeqCst),
            std::sync::atomic::Ordering::SeqCst,
        );
        writer.join().unwrap();
    });
    let (published, acked, resyncs) = match primary.handle().info() {
        ReplicationInfo::Primary {
            published,
            acked,
            resyncs,
            ..
        } => (published, acked, resyncs),
        other => panic!("{other:?}"),
    };
    // Every write was answered, so every write is acknowledged.
    assert_eq!(acked, published);
    assert!(
        resyncs >= 1,
        "the messages lost with the server were never noticed"
    );
    let runs = stream_runs(&nats.url(), "restart");
    assert_contiguous(&runs, 0, acked);
    util::say(
        SUITE,
        &format!(
            "{acked} records, {} messages, {resyncs} resyncs",
            runs.len()
        ),
    );
    let standby = ReplicatedShop::standby(shop_config(&s), repl.consumer("s")).unwrap();
    let digest = primary.shop().digest().unwrap();
    eventually(Duration::from_secs(30), "standby digest", || {
        standby.shop().digest().unwrap() == digest
    });
    standby.close().unwrap();
    primary.close().unwrap();
}

/// A RESP connection to a server process.
fn connect(addr: &str) -> redis::Connection {
    let client = redis::Client::open(format!("redis://{addr}/")).unwrap();
    client.get_connection().unwrap()
}

fn digest_of(addr: &str) -> String {
    redis::cmd("DIGEST").query(&mut connect(addr)).unwrap()
}

#[test]
fn failover_loses_no_acknowledged_write() {
    let nats = Nats::start(SUITE);
    let (p, s) = (tempdir(SUITE, "p"), tempdir(SUITE, "s"));
    let url = nats.url();
    let (mut primary, primary_addr) = ringmaster_process(
        "serve",
        &p,
        &[
            "--replicate",
            &url,
            "--stream",
            "failover",
            "--ack",
            "replicated",
        ],
    );
    let (_standby, standby_addr) =
        ringmaster_process("standby", &s, &["--from", &url, "--stream", "failover"]);
    // Write in pipelines of 50 until the primary dies under us.
    let writer = {
        let addr = primary_addr.clone();
        std::thread::spawn(move || {
            let mut con = connect(&addr);
            let mut acked = Vec::new();
            for round in 0u64.. {
                let mut pipe = redis::pipe();
                for i in 0..50 {
                    let id = round * 50 + i + 1;
                    pipe.cmd("ADD")
                        .arg(id)
                        .arg(100)
                        .arg(1)
                        .arg(format!("Item {id}"));
                }
                match pipe.query::<Vec<redis::Value>>(&mut con) {
                    Ok(replies) => {
                        assert_eq!(replies.len(), 50);
                        acked.extend((0..50).map(|i| round * 50 + i + 1));
                    }
                    Err(_) => return acked,
                }
            }
            acked
        })
    };
    std::thread::sleep(Duration::from_millis(800));
    primary.kill().unwrap();
    let acked = writer.join().unwrap();
    assert!(
        !acked.is_empty(),
        "nothing was acknowledged before the kill"
    );
    // A standby says so, in HELLO as in INFO.
    let hello: Vec<redis::Value> = redis::cmd("HELLO")
        .arg(2)
        .query(&mut connect(&standby_addr))
        .unwrap();
    assert!(
        hello.contains(&redis::Value::BulkString(b"slave".to_vec())),
        "{hello:?}"
    );
    let promoted = std::process::Command::new(env!("CARGO_BIN_EXE_ringmaster"))
        .args(["promote", "--addr", &standby_addr])
        .output()
        .unwrap();
    assert!(
        promoted.status.success(),
        "{}",
        String::from_utf8_lossy(&promoted.stderr)
    );
    let mut con = connect(&standby_addr);
    for id in &acked {
        let got: Option<(u64, String, u64, u64, u64)> =
            redis::cmd("GET").arg(id).query(&mut con).unwrap();
        assert!(
            got.is_some(),
            "acknowledged product {id} lost in the failover"
        );
    }
    let added: Option<(u64, String, u64, u64, u64)> = redis::cmd("ADD")
        .arg(1_000_000)
        .arg(5)
        .arg(5)
        .arg("After failover")
        .query(&mut con)
        .unwrap();
    assert!(added.is_some(), "the promoted node refused a write");
    util::say(
        SUITE,
        &format!("{} acknowledged writes survived the failover", acked.len()),
    );
}

#[test]
fn replicator_and_standby_killed_and_restarted_resume() {
    let nats = Nats::start(SUITE);
    let (p, s) = (tempdir(SUITE, "p"), tempdir(SUITE, "s"));
    let url = nats.url();
    let primary_args = ["--replicate", url.as_str(), "--stream", "resume"];
    let standby_args = ["--from", url.as_str(), "--stream", "resume"];
    let write = |addr: &str, from: u64, to: u64| {
        let mut con = connect(addr);
        let mut pipe = redis::pipe();
        for id in from..to {
            pipe.cmd("ADD")
                .arg(id)
                .arg(100)
                .arg(1)
                .arg(format!("Item {id}"));
            if id % 5 == 0 {
                pipe.cmd("UPDATE").arg(id).arg("PRICE").arg(7);
            }
        }
        pipe.query::<Vec<redis::Value>>(&mut con).unwrap();
    };
    let (mut primary, addr) = ringmaster_process("serve", &p, &primary_args);
    let (mut standby, standby_addr) = ringmaster_process("standby", &s, &standby_args);
    write(&addr, 1, 2_000);
    // Both killed mid-stream, both restarted on the same data.
    primary.kill().unwrap();
    primary.wait().unwrap();
    standby.kill().unwrap();
    standby.wait().unwrap();
    let (_primary, addr) = ringmaster_process("serve", &p, &primary_args);
    write(&addr, 2_000, 3_000);
    let (_standby, standby_addr2) = ringmaster_process("standby", &s, &standby_args);
    assert_ne!(standby_addr, "");
    let digest = digest_of(&addr);
    eventually(
        Duration::from_secs(30),
        "restarted standby's digest",
        || digest_of(&standby_addr2) == digest,
    );
    let runs = stream_runs(&url, "resume");
    let end = runs.last().map(|&(f, c)| f + c).unwrap();
    assert_contiguous(&runs, 0, end);
}

#[test]
fn segments_not_yet_replicated_outlive_the_snapshots_that_cover_them() {
    let mut nats = Nats::start(SUITE);
    let repl = ReplicationConfig::new(nats.url()).stream("hold");
    let (p, s) = (tempdir(SUITE, "p"), tempdir(SUITE, "s"));
    // Small segments and frequent snapshots: retention would drop most of
    // the journal while the stream is away.
    let config = shop_config(&p)
        .segment_size(256 << 10)
        .snapshot_every(2_000);
    let primary = ReplicatedShop::primary(config, repl.clone()).unwrap();
    mixed_workload(primary.shop(), 1, 1_000);
    nats.stop();
    mixed_workload(primary.shop(), 1_000, 20_000);
    for _ in 0..3 {
        primary.shop().snapshot().unwrap();
        mixed_workload(primary.shop(), 20_000, 20_010);
    }
    nats.restart();
    eventually(Duration::from_secs(60), "the stream caught up", || {
        matches!(primary.handle().info(),
            ReplicationInfo::Primary { published, acked, running: true, .. }
                if acked == published && acked > 20_000)
    });
    let standby = ReplicatedShop::standby(shop_config(&s), repl.consumer("s")).unwrap();
    let digest = primary.shop().digest().unwrap();
    eventually(Duration::from_secs(30), "standby digest", || {
        standby.shop().digest().unwrap() == digest
    });
    let runs = stream_runs(&nats.url(), "hold");
    let end = runs.last().map(|&(f, c)| f + c).unwrap();
    assert_contiguous(&runs, runs[0].0, end);
    standby.close().unwrap();
    primary.close().unwrap();
}
