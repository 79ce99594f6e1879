//! Transactions (`Client::submit_transaction`, the server's `MULTI`/`EXEC`)
//! are journaled all or nothing: a transaction cut short by a crash is
//! never applied, not at the next open and not after later writes, and
//! one that completed is always there once acknowledged. Through a real
//! journal, and through a real process SIGKILLed mid-stream.

mod util;

use ringmaster::journal::{Durability, JournalWriter};
use ringmaster::shop::{Command, ProductEvent, Reply, Shop, ShopConfig, TxnMark};
use ringmaster::WaitStrategy;
use std::path::Path;
use std::time::Duration;

fn config(dir: &Path) -> ShopConfig {
    ShopConfig::new(dir)
        .durability(Durability::Sync)
        .segment_size(1 << 20)
        .ring_capacity(64)
        .wait_strategy(WaitStrategy::Yielding)
}

fn add(id: u64) -> Command {
    Command::add(id, &format!("Item {id}"), id as i64, 1).unwrap()
}

/// Append `commands` to the shop's journal as records with `marks`, as a
/// process that died before the rest of its transaction reached the disk
/// would leave them.
fn append_raw(config: &ShopConfig, records: &[(Command, TxnMark)]) {
    let (mut writer, _) = JournalWriter::open(
        &config.journal_config(),
        std::mem::size_of::<ProductEvent>(),
    )
    .unwrap();
    for (command, mark) in records {
        let mut event = ProductEvent::encode(command, 0, 0);
        event.set_txn_mark(*mark);
        writer.append(bytemuck::bytes_of(&event)).unwrap();
    }
    writer.commit().unwrap();
    writer.close().unwrap();
}

#[test]
fn a_transaction_cut_short_is_never_applied() {
    let dir = util::tempdir("transactions", "cut");
    // No snapshots: every open replays the whole journal, through the cut
    // transaction in its middle.
    let config = config(dir.path()).snapshot_on_close(false);
    let shop = Shop::open(config.clone()).unwrap();
    shop.client().unwrap().add(1, "Kept", 1, 1).unwrap();
    shop.close().unwrap();
    // Two writes of a three-write transaction reached the journal.
    let marks: Vec<TxnMark> = TxnMark::for_writes(77, 3).collect();
    append_raw(&config, &[(add(2), marks[0]), (add(3), marks[1])]);

    let shop = Shop::open(config.clone()).unwrap();
    let report = shop.open_report();
    assert_eq!((report.replayed, report.discarded), (3, 2));
    let mut client = shop.client().unwrap();
    assert_eq!(client.count().unwrap(), 1);
    assert!(client.get(2).unwrap().is_none());
    // Writes after it, a whole transaction among them, do not revive it.
    client.add(4, "After", 1, 1).unwrap();
    client
        .submit_transaction(&[add(5), Command::Count, add(6)])
        .unwrap();
    let replies: Vec<Reply> = std::iter::from_fn(|| client.next_completion().unwrap())
        .map(|c| c.reply)
        .collect();
    assert!(
        matches!(
            replies[..],
            [Reply::Added(_), Reply::Count(3), Reply::Added(_)]
        ),
        "{replies:?}"
    );
    let digest = client.digest().unwrap();
    drop(client);
    shop.close().unwrap();

    let shop = Shop::open(config).unwrap();
    assert_eq!(
        (shop.open_report().replayed, shop.open_report().discarded),
        (6, 2)
    );
    assert_eq!(shop.open_report().digest, digest);
    let mut client = shop.client().unwrap();
    assert_eq!(client.count().unwrap(), 4);
    assert!(client.get(2).unwrap().is_none() && client.get(3).unwrap().is_none());
    drop(client);
    shop.close().unwrap();
}

// ---- crash: a real process, SIGKILLed ------------------------------------

const CHILD_ENV: &str = "RINGMASTER_TXN_CRASH_CHILD";

/// Writes per transaction; a batch limit below it makes the journal
/// commit in the middle of transactions.
const TXN_WRITES: u64 = 4;

fn child_config(dir: &Path) -> ShopConfig {
    config(dir).max_batch(3).snapshot_every(50)
}

/// The child: transactions of `TXN_WRITES` adds, block `b` adding ids
/// `b * TXN_WRITES + 1 ..`, from where the catalog ends; prints `ack b`
/// once all of a transaction's replies are in.
#[test]
#[ignore = "a child process of the tests here, started by them"]
fn txn_crash_child() {
    use std::io::Write;
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let shop = Shop::open(child_config(Path::new(&dir))).unwrap();
    let mut client = shop.client().unwrap();
    let mut out = std::io::stdout();
    for block in client.count().unwrap() / TXN_WRITES.. {
        let commands: Vec<Command> = (1..=TXN_WRITES)
            .map(|i| add(block * TXN_WRITES + i))
            .collect();
        client.submit_transaction(&commands).unwrap();
        for _ in 0..TXN_WRITES {
            let done = client.next_completion().unwrap().unwrap();
            assert!(matches!(done.reply, Reply::Added(_)), "{:?}", done.reply);
        }
        let _ = writeln!(out, "ack {block}");
        let _ = out.flush();
    }
}

#[test]
fn sigkill_leaves_every_transaction_whole_or_absent() {
    let dir = util::tempdir("transactions", "crash");
    let mut rng = 0x5eed_u64;
    let mut discarded = 0;
    for round in 0..6 {
        let delay = Duration::from_millis(20 + util::xorshift(&mut rng) % 150);
        let acked = util::run_and_kill("txn_crash_child", CHILD_ENV, dir.path(), delay);
        let shop = Shop::open(child_config(dir.path())).unwrap();
        discarded += shop.open_report().discarded;
        let mut client = shop.client().unwrap();
        let count = client.count().unwrap();
        assert_eq!(count % TXN_WRITES, 0, "round {round}: {count} products");
        let blocks = count / TXN_WRITES;
        if let Some(acked) = acked {
            assert!(
                blocks > acked,
                "round {round}: block {acked} acknowledged, {blocks} kept"
            );
        }
        for id in 1..=count {
            assert!(
                client.get(id).unwrap().is_some(),
                "round {round}: {id} missing"
            );
        }
        assert!(client.get(count + 1).unwrap().is_none());
        drop(client);
        shop.close().unwrap();
    }
    util::say(
        "transactions",
        &format!("6 SIGKILL rounds: {discarded} writes of cut transactions discarded on open"),
    );
}
