//! Rebuilding the shop's state on open: the newest snapshot, then every
//! journal record after it.

use super::config::ShopConfig;
use super::error::ShopError;
use crate::journal::{JournalReader, JournalWriter, RecoveryReport, SnapshotStore};
use crate::shop::domain::{Catalog, Command, ProductEvent, SearchIndex, TxnAssembler};
use std::time::{Duration, Instant};

/// What opening a shop found and did.
///
/// # Examples
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("rm-doc-open-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let shop = ringmaster::shop::Shop::open(ringmaster::shop::ShopConfig::new(&dir))?;
/// let report = shop.open_report();
/// assert_eq!((report.snapshot, report.replayed, report.products), (None, 0, 0));
/// shop.close()?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct OpenReport {
    /// The snapshot loaded (the journal records it covers), if any.
    pub snapshot: Option<u64>,
    /// Journal records replayed after the snapshot.
    pub replayed: u64,
    /// Of those, writes of transactions cut short by a crash (their
    /// transaction never completed, so was never acknowledged): read and
    /// not applied.
    pub discarded: u64,
    /// Journal records in total (the next write's journal sequence).
    pub journal_end: u64,
    /// Products in the rebuilt catalog.
    pub products: usize,
    /// The rebuilt catalog's digest.
    pub digest: u64,
    /// What journal recovery found (a truncated torn tail, if any).
    pub journal: RecoveryReport,
    /// Time to rebuild.
    pub elapsed: Duration,
}

pub(crate) struct Recovered {
    pub(crate) catalog: Catalog,
    pub(crate) index: SearchIndex,
    pub(crate) writer: JournalWriter,
    pub(crate) store: SnapshotStore,
    pub(crate) report: OpenReport,
}

pub(crate) fn recover(config: &ShopConfig) -> Result<Recovered, ShopError> {
    let started = Instant::now();
    let journal_config = config.journal_config();
    let journal_dir = config.journal_dir();
    let (writer, journal_report) = JournalWriter::open_at(
        &journal_config,
        std::mem::size_of::<ProductEvent>(),
        config.journal_start,
    )?;
    let journal_end = writer.next_sequence();

    let store = SnapshotStore::open_with(config.snapshot_dir(), journal_config.ops())?;
    let (mut catalog, snapshot) = match store.load_latest()? {
        Some(snap) => {
            let catalog =
                Catalog::from_snapshot(&snap.state).map_err(|e| ShopError::CorruptSnapshot {
                    sequence: snap.sequence,
                    offset: e.offset,
                    what: e.what,
                })?;
            (catalog, Some(snap.sequence))
        }
        None => (Catalog::default(), None),
    };
    let from = snapshot.unwrap_or(0);
    if from > journal_end {
        return Err(ShopError::SnapshotAheadOfJournal {
            snapshot: from,
            journal_end,
        });
    }
    let reserve = usize::try_from(config.reserve_products).unwrap_or(usize::MAX);
    let too_many = |_| ShopError::Config {
        what: "reserve_products",
        value: config.reserve_products,
        rule: "no more products than memory holds",
    };
    catalog
        .try_reserve(reserve.saturating_sub(catalog.len()))
        .map_err(too_many)?;
    let mut index = SearchIndex::default();
    index
        .try_reserve(reserve.max(catalog.len()))
        .map_err(too_many)?;
    for p in catalog.page(0, u32::MAX) {
        index.apply(&Command::Add {
            id: p.id,
            name: p.name,
            price_cents: p.price_cents,
            stock: p.stock,
        });
    }
    let mut replayed = 0;
    let mut txn = TxnAssembler::default();
    if from < journal_end {
        let mut reader = JournalReader::open(&journal_dir, from)?;
        while let Some((sequence, event)) = reader.next_event::<ProductEvent>()? {
            if sequence >= journal_end {
                break;
            }
            let command = event
                .decode()
                .map_err(|error| ShopError::CorruptRecord { sequence, error })?;
            txn.feed_write(event.txn_mark(), 0, command, |command, apply| {
                if apply {
                    catalog.apply(&command);
                    index.apply(&command);
                }
            });
            replayed += 1;
        }
        txn.end(|_, _| {});
        if from + replayed != journal_end {
            return Err(ShopError::Journal(
                crate::journal::JournalError::SequenceUnavailable {
                    requested: from + replayed,
                    first: from,
                    next: journal_end,
                },
            ));
        }
    }
    let report = OpenReport {
        snapshot,
        replayed,
        discarded: txn.discarded(),
        journal_end,
        products: catalog.len(),
        digest: catalog.digest(),
        journal: journal_report,
        elapsed: started.elapsed(),
    };
    Ok(Recovered {
        catalog,
        index,
        writer,
        store,
        report,
    })
}
