//! Transactions in the journal: how a run of writes that must be applied
//! all or not at all is marked, and the rule every reader of the journal
//! (recovery, a standby) uses to apply it.
//!
//! A transaction's commands are published as one contiguous claim, so its
//! writes are contiguous in the journal (reads are not journaled). Each
//! write carries a [`TxnMark`]: the transaction's tag, and how many of its
//! writes follow. A run is complete when a write with the same tag and
//! `remaining == 0` closes it; a run cut short (the process died between
//! two of its writes reaching the disk, so what follows is the end of the
//! journal or a write that does not continue it) was never acknowledged and
//! is not applied.
//!
//! ```text
//!  seq:   10        11        12        13        14
//!        (0,0)    (7,2)     (7,1)     (7,0)     (0,0)     applied: all
//!        (0,0)    (7,2)     (7,1)  | crash, restart
//!                                     (0,0)               applied: 10, 13
//! ```

/// Where a write stands in a transaction: the transaction's tag (non-zero,
/// shared by its writes) and how many of its writes come after this one.
/// [`TxnMark::NONE`] for a write outside any transaction.
///
/// # Examples
///
/// ```
/// use ringmaster::shop::TxnMark;
/// let marks = TxnMark::for_writes(7, 3);
/// assert_eq!(marks.map(|m| m.remaining).collect::<Vec<_>>(), [2, 1, 0]);
/// assert!(TxnMark::for_writes(7, 1).all(|m| m == TxnMark::NONE));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TxnMark {
    /// The transaction's tag; 0 outside a transaction.
    pub tag: u32,
    /// Writes of the same transaction after this one.
    pub remaining: u32,
}

impl TxnMark {
    /// A write outside any transaction.
    pub const NONE: Self = Self {
        tag: 0,
        remaining: 0,
    };

    /// The marks for a transaction of `writes` writes tagged `tag`, in
    /// order. A transaction of one write needs no mark (a lone record is
    /// applied whole), so it gets [`TxnMark::NONE`].
    ///
    /// # Panics
    ///
    /// If `tag` is 0 and `writes > 1` (0 means "no transaction").
    pub fn for_writes(tag: u32, writes: u32) -> impl Iterator<Item = TxnMark> {
        assert!(tag != 0 || writes <= 1, "a transaction's tag is never 0");
        (0..writes).map(move |i| {
            if writes <= 1 {
                Self::NONE
            } else {
                Self {
                    tag,
                    remaining: writes - 1 - i,
                }
            }
        })
    }
}

/// The transaction rule, for every reader of the command stream (recovery,
/// the catalog and search stages, the responder): writes outside a
/// transaction are released at once; once a transaction's first write has
/// come, its writes and its owner's reads after it are held until its last
/// write has come, then released in order; if a write that does not
/// continue it comes instead (a transaction cut short), the held writes are
/// released as discarded (never applied) and the held reads as usual.
/// Other owners' reads are released at once: they see the state before the
/// transaction until all of it is applied. (A transaction is published as
/// one contiguous claim, so on a primary nothing else comes between its
/// events; on a standby the writes come from the stream and the reads from
/// its clients.)
///
/// Each released item comes with `true` (apply or answer it) or `false`
/// (a write of a transaction cut short: do not apply it).
///
/// # Examples
///
/// ```
/// use ringmaster::shop::{TxnAssembler, TxnMark};
/// let (mut applied, mut dropped) = (Vec::new(), Vec::new());
/// let mut txn = TxnAssembler::default();
/// let mut release = |id: u64, apply: bool| if apply { applied.push(id) } else { dropped.push(id) };
/// let (owner, other) = (1, 2);
/// txn.feed_write(TxnMark::NONE, owner, 1, &mut release);
/// txn.feed_write(TxnMark { tag: 7, remaining: 1 }, owner, 2, &mut release); // held
/// txn.feed_read(owner, 3, &mut release); // held behind it
/// txn.feed_read(other, 4, &mut release); // answered at once
/// txn.feed_write(TxnMark::NONE, owner, 5, &mut release); // does not continue tag 7
/// assert_eq!((applied, dropped), (vec![1, 4, 3, 5], vec![2]));
/// assert_eq!(txn.discarded(), 1);
/// ```
#[derive(Debug)]
pub struct TxnAssembler<T> {
    /// The open transaction's tag, the `remaining` its next write must
    /// carry, and its owner.
    open: Option<(u32, u32, u32)>,
    /// Held items, each with whether it is a write.
    held: Vec<(T, bool)>,
    discarded: u64,
}

impl<T> Default for TxnAssembler<T> {
    fn default() -> Self {
        Self {
            open: None,
            held: Vec::new(),
            discarded: 0,
        }
    }
}

impl<T> TxnAssembler<T> {
    /// The next write, with its mark and owner (the client that published
    /// it; any constant where there are none, as in recovery).
    pub fn feed_write(
        &mut self,
        mark: TxnMark,
        owner: u32,
        item: T,
        mut release: impl FnMut(T, bool),
    ) {
        if let Some((tag, expected, _)) = self.open {
            if mark.tag == tag && mark.remaining == expected {
                self.held.push((item, true));
                if expected == 0 {
                    self.open = None;
                    for (item, _) in self.held.drain(..) {
                        release(item, true);
                    }
                } else {
                    self.open = Some((tag, expected - 1, owner));
                }
                return;
            }
            self.cut(&mut release);
        }
        if mark.tag == 0 || mark.remaining == 0 {
            release(item, true);
        } else {
            self.open = Some((mark.tag, mark.remaining - 1, owner));
            self.held.push((item, true));
        }
    }

    /// Whether `event` is the rule's business: a transaction is open, or
    /// it is a write that opens one. Everything else is handled at once,
    /// without the assembler (the common case: one load of the mark).
    #[inline]
    pub fn involves(&self, event: &ProductEvent) -> bool {
        self.open.is_some() || (event.is_write() && event.txn_mark().tag != 0)
    }

    /// The next event from the ring, with `item` for it: a write with its
    /// mark, anything else as a read, owned by the event's client.
    pub fn feed_event(&mut self, event: &ProductEvent, item: T, release: impl FnMut(T, bool)) {
        if event.is_write() {
            self.feed_write(event.txn_mark(), event.client(), item, release);
        } else {
            self.feed_read(event.client(), item, release);
        }
    }

    /// The next read (or any event that is not a write) of `owner`: held
    /// while `owner`'s transaction is open, so it is answered after the
    /// writes before it; released at once otherwise.
    pub fn feed_read(&mut self, owner: u32, item: T, mut release: impl FnMut(T, bool)) {
        if self.open.is_some_and(|(_, _, o)| o == owner) {
            self.held.push((item, false));
        } else {
            release(item, true);
        }
    }

    /// The open transaction was cut short: its writes are released as
    /// discarded, the reads held behind them as usual.
    fn cut(&mut self, release: &mut impl FnMut(T, bool)) {
        self.open = None;
        for (item, is_write) in self.held.drain(..) {
            if is_write {
                self.discarded += 1;
            }
            release(item, !is_write);
        }
    }

    /// The stream ended inside a transaction (recovery reached the end of
    /// the journal): release what is held as [`feed_write`](Self::feed_write)
    /// does for a transaction cut short.
    pub fn end(&mut self, mut release: impl FnMut(T, bool)) {
        self.cut(&mut release);
    }

    /// Whether a transaction has begun and not ended: items are held.
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Writes of transactions cut short, discarded so far.
    pub fn discarded(&self) -> u64 {
        self.discarded
    }
}

use super::event::ProductEvent;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shop::domain::command::Command;
    use proptest::prelude::*;

    fn add(id: u64) -> Command {
        Command::add(id, "Mug", 100, 1).unwrap()
    }

    fn run(records: &[(TxnMark, u64)], close: bool) -> (Vec<u64>, u64) {
        let mut applied = Vec::new();
        let mut txn = TxnAssembler::default();
        let mut release = |c: Command, apply: bool| {
            if let (Command::Add { id, .. }, true) = (c, apply) {
                applied.push(id);
            }
        };
        for &(mark, id) in records {
            txn.feed_write(mark, 1, add(id), &mut release);
        }
        if close {
            txn.end(&mut release);
        }
        (applied, txn.discarded())
    }

    #[test]
    fn a_whole_transaction_is_applied_in_order() {
        let marks: Vec<_> = TxnMark::for_writes(5, 3).collect();
        let records = [
            (TxnMark::NONE, 1),
            (marks[0], 2),
            (marks[1], 3),
            (marks[2], 4),
            (TxnMark::NONE, 5),
        ];
        assert_eq!(run(&records, true), (vec![1, 2, 3, 4, 5], 0));
    }

    #[test]
    fn a_transaction_cut_short_is_discarded_whatever_follows() {
        let m: Vec<_> = TxnMark::for_writes(5, 3).collect();
        // Journal ends inside it.
        assert_eq!(run(&[(m[0], 1), (m[1], 2)], true), (vec![], 2));
        // A restarted writer appended a lone write after it.
        assert_eq!(
            run(&[(m[0], 1), (m[1], 2), (TxnMark::NONE, 3)], true),
            (vec![3], 2)
        );
        // Or another transaction, even one whose marks would fit the count.
        let n: Vec<_> = TxnMark::for_writes(6, 2).collect();
        assert_eq!(
            run(&[(m[0], 1), (m[1], 2), (n[0], 3), (n[1], 4)], true),
            (vec![3, 4], 2)
        );
        // A lone write that happens to carry the expected count but no tag.
        assert_eq!(
            run(&[(m[0], 1), (m[1], 2), (TxnMark::NONE, 3)], false),
            (vec![3], 2)
        );
    }

    #[test]
    fn reads_inside_a_transaction_wait_for_its_writes() {
        let m: Vec<_> = TxnMark::for_writes(5, 2).collect();
        let mut order = Vec::new();
        let mut txn = TxnAssembler::default();
        let mut release = |i: u32, apply: bool| order.push((i, apply));
        txn.feed_read(9, 1, &mut release);
        txn.feed_write(m[0], 9, 2, &mut release);
        txn.feed_read(9, 3, &mut release);
        txn.feed_read(8, 4, &mut release);
        assert!(txn.is_open());
        txn.feed_write(m[1], 9, 5, &mut release);
        txn.feed_read(9, 6, &mut release);
        assert_eq!(
            order,
            [
                (1, true),
                (4, true),
                (2, true),
                (3, true),
                (5, true),
                (6, true)
            ],
            "the owner's read waits for the transaction, another's does not"
        );
    }

    proptest! {
        /// Against a model: transactions of random sizes, some cut short
        /// (as a crash leaves them), in random order with lone writes: every
        /// complete transaction and lone write is applied in order, nothing
        /// of a cut one.
        #[test]
        fn matches_the_model(
            groups in proptest::collection::vec((1u32..6, any::<bool>(), 0u32..5), 0..20),
        ) {
            let (mut records, mut expected, mut discarded) = (Vec::new(), Vec::new(), 0);
            let mut id = 0;
            for (i, &(size, cut, keep)) in groups.iter().enumerate() {
                let tag = i as u32 + 1;
                let marks: Vec<_> = TxnMark::for_writes(tag, size).collect();
                let kept = if cut && size > 1 { keep.min(size - 1) as usize } else { size as usize };
                let ids: Vec<u64> = (0..kept).map(|_| { id += 1; id }).collect();
                for (m, &i) in marks.iter().zip(&ids) {
                    records.push((*m, i));
                }
                if kept == size as usize {
                    expected.extend(&ids);
                } else {
                    discarded += kept as u64;
                }
            }
            prop_assert_eq!(run(&records, true), (expected, discarded));
        }
    }
}
