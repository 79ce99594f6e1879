//! [`OrderIndex`]: product ids in order, with fast insert, remove and
//! "skip `offset` ids" for paged listing.
//!
//! A sorted list of sorted blocks of at most `2 * BLOCK` ids (the layout of
//! a B-tree's leaves without the inner nodes): finding a block is a binary
//! search over block ends, an insert or remove moves at most one block's
//! worth of ids, and skipping an offset sums block lengths, so a page deep
//! into a 100,000-product catalog costs about 200 additions, not 100,000
//! steps of a `BTreeMap` iterator.

const BLOCK: usize = 256;

/// Ordered set of `u64` ids with positional access.
#[derive(Debug, Default, Clone)]
pub(crate) struct OrderIndex {
    /// Sorted, non-empty blocks; every id of block i is below every id of
    /// block i + 1.
    blocks: Vec<Vec<u64>>,
    /// `lasts[i]` is `blocks[i]`'s last id: the binary search runs over
    /// this contiguous array, not through a pointer per probe.
    lasts: Vec<u64>,
    len: usize,
}

impl OrderIndex {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The block that holds `id` or where it would go.
    fn block_for(&self, id: u64) -> usize {
        let i = self.lasts.partition_point(|&last| last < id);
        i.min(self.blocks.len().saturating_sub(1))
    }

    /// Insert `id`; false if it was present.
    pub(crate) fn insert(&mut self, id: u64) -> bool {
        if self.blocks.is_empty() {
            self.blocks.push(Vec::with_capacity(2 * BLOCK));
            self.lasts.push(id);
        }
        let b = self.block_for(id);
        let block = &mut self.blocks[b];
        match block.binary_search(&id) {
            Ok(_) => return false,
            Err(pos) => block.insert(pos, id),
        }
        self.lasts[b] = self.lasts[b].max(id);
        if block.len() >= 2 * BLOCK {
            let mut tail = Vec::with_capacity(2 * BLOCK);
            tail.extend_from_slice(&block[BLOCK..]);
            block.truncate(BLOCK);
            self.lasts[b] = block[BLOCK - 1];
            self.lasts.insert(b + 1, tail[tail.len() - 1]);
            self.blocks.insert(b + 1, tail);
        }
        self.len += 1;
        true
    }

    /// Remove `id`; false if it was absent.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        if self.blocks.is_empty() {
            return false;
        }
        let b = self.block_for(id);
        let block = &mut self.blocks[b];
        let Ok(pos) = block.binary_search(&id) else {
            return false;
        };
        block.remove(pos);
        let left = block.len();
        if let Some(&last) = block.last() {
            self.lasts[b] = last;
        }
        self.len -= 1;
        if left == 0 {
            self.blocks.remove(b);
            self.lasts.remove(b);
        } else if b + 1 < self.blocks.len() && left + self.blocks[b + 1].len() <= BLOCK {
            let next = self.blocks.remove(b + 1);
            self.lasts.remove(b);
            self.blocks[b].extend_from_slice(&next);
        }
        true
    }

    /// Up to `limit` ids in order, skipping the first `offset`.
    pub(crate) fn page(&self, offset: usize, limit: usize) -> impl Iterator<Item = u64> + '_ {
        let mut skip = offset;
        let mut first = self.blocks.len();
        for (i, b) in self.blocks.iter().enumerate() {
            if skip < b.len() {
                first = i;
                break;
            }
            skip -= b.len();
        }
        self.blocks[first.min(self.blocks.len())..]
            .iter()
            .flatten()
            .skip(skip)
            .take(limit)
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn matches_a_btreeset(ops in proptest::collection::vec((any::<bool>(), 0u64..2000), 0..3000),
                              offset in 0usize..2500, limit in 1usize..300) {
            let mut model = BTreeSet::new();
            let mut index = OrderIndex::default();
            for (insert, id) in ops {
                if insert {
                    prop_assert_eq!(index.insert(id), model.insert(id));
                } else {
                    prop_assert_eq!(index.remove(id), model.remove(&id));
                }
                prop_assert_eq!(index.len(), model.len());
            }
            let lasts: Vec<u64> = index.blocks.iter().map(|b| b[b.len() - 1]).collect();
            prop_assert_eq!(&index.lasts, &lasts);
            let got: Vec<u64> = index.page(offset, limit).collect();
            let want: Vec<u64> = model.iter().skip(offset).take(limit).copied().collect();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn ascending_inserts_split_blocks() {
        let mut index = OrderIndex::default();
        for id in 1..=10_000 {
            assert!(index.insert(id));
        }
        assert!(index.blocks.len() > 10);
        let lasts: Vec<u64> = index.blocks.iter().map(|b| b[b.len() - 1]).collect();
        assert_eq!(index.lasts, lasts);
        assert_eq!(
            index.page(9_990, 100).collect::<Vec<_>>(),
            (9_991..=10_000).collect::<Vec<_>>()
        );
        assert_eq!(index.page(20_000, 10).count(), 0);
    }
}
