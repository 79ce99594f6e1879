//! [`OrderIndex`]: product ids in order, with fast insert, remove and
//! "skip `offset` ids" for paged listing.
//!
//! A B+-tree of fixed height: sorted leaves of at most `2 * LEAF` ids,
//! grouped in order into groups of at most `2 * GROUP` leaves. Each level
//! keeps its children's last ids in a contiguous array, so finding a leaf
//! is two binary searches over small arrays (the top one cache resident),
//! not a pointer per probe. Within a leaf, an id is found by counting the
//! ids below it (see [`find`]). An insert or remove moves at most a leaf's
//! worth of ids (1 KiB), and a leaf split at most a group's worth of leaf
//! handles. Skipping an offset sums group lengths, then leaf lengths in
//! one group: a page deep into a million-product catalog costs a few
//! hundred additions, not a million steps of a `BTreeMap` iterator.
//!
//! At a million ids, random inserts miss the cache in the leaf whatever
//! the layout; what the layout decides is how many misses wait on each
//! other, which is why leaves are small and scanned rather than searched.
//! `cargo bench --bench shop -- catalog_1m/add_delete_random` measures it
//! (a product added under a random id, then deleted).

/// Ids per leaf: between 1 and `2 * LEAF`.
const LEAF: usize = 64;
/// Leaves per group: between 1 and `2 * GROUP`.
const GROUP: usize = 32;

/// Ordered set of `u64` ids with positional access.
///
/// `L` and `G` are the leaf and group sizes (tests shrink them so that
/// small inputs split and merge at every level).
#[derive(Debug, Clone)]
pub(crate) struct OrderIndex<const L: usize = LEAF, const G: usize = GROUP> {
    /// Non-empty groups in order; every id of group i is below every id
    /// of group i + 1.
    groups: Vec<Group>,
    /// `lasts[i]` is `groups[i]`'s last id.
    lasts: Vec<u64>,
    len: usize,
}

/// Sorted, non-empty leaves; every id of leaf i is below every id of leaf
/// i + 1.
#[derive(Debug, Clone, Default)]
struct Group {
    leaves: Vec<Vec<u64>>,
    /// `lasts[i]` is `leaves[i]`'s last id.
    lasts: Vec<u64>,
    len: usize,
}

impl<const L: usize, const G: usize> Default for OrderIndex<L, G> {
    fn default() -> Self {
        Self {
            groups: Vec::new(),
            lasts: Vec::new(),
            len: 0,
        }
    }
}

/// The child holding `id` or where it would go, by the children's last ids
/// (`lasts` not empty).
#[inline]
fn child_for(lasts: &[u64], id: u64) -> usize {
    lasts
        .partition_point(|&last| last < id)
        .min(lasts.len() - 1)
}

/// `id`'s position in the sorted `leaf` (`Err`: where it would go), as
/// `binary_search` answers, by counting the ids below it: a leaf is a few
/// cache lines, usually not in cache, and a scan reads them in order (the
/// hardware prefetcher streams them, and the count vectorises), where a
/// binary search waits for one line after another.
#[inline]
fn find(leaf: &[u64], id: u64) -> Result<usize, usize> {
    let pos = leaf.iter().map(|&x| usize::from(x < id)).sum();
    match leaf.get(pos) {
        Some(&x) if x == id => Ok(pos),
        _ => Err(pos),
    }
}

impl Group {
    /// Insert `id`; false if it was present. `L` as in [`OrderIndex`].
    fn insert<const L: usize>(&mut self, id: u64) -> bool {
        // Above every id here: it goes at the end of the last leaf.
        let appends = self.lasts.last().is_none_or(|&last| id > last);
        if self.leaves.is_empty() {
            self.leaves.push(Vec::with_capacity(2 * L));
            self.lasts.push(id);
        }
        let b = child_for(&self.lasts, id);
        let leaf = &mut self.leaves[b];
        match find(leaf, id) {
            Ok(_) => return false,
            Err(pos) => leaf.insert(pos, id),
        }
        self.lasts[b] = self.lasts[b].max(id);
        if leaf.len() >= 2 * L {
            // In half, unless ids are being appended: then the full leaf
            // stays full and the new one starts with the new id, so ids
            // that only ascend fill their leaves instead of halving each.
            let at = if appends { 2 * L - 1 } else { L };
            let mut tail = Vec::with_capacity(2 * L);
            tail.extend_from_slice(&leaf[at..]);
            leaf.truncate(at);
            self.lasts[b] = leaf[at - 1];
            self.lasts.insert(b + 1, tail[tail.len() - 1]);
            self.leaves.insert(b + 1, tail);
        }
        self.len += 1;
        true
    }

    /// Remove `id`; false if it was absent. May leave the group empty.
    fn remove<const L: usize>(&mut self, id: u64) -> bool {
        if self.leaves.is_empty() {
            return false;
        }
        let b = child_for(&self.lasts, id);
        let leaf = &mut self.leaves[b];
        let Ok(pos) = find(leaf, id) else {
            return false;
        };
        leaf.remove(pos);
        let left = leaf.len();
        if let Some(&last) = leaf.last() {
            self.lasts[b] = last;
        }
        self.len -= 1;
        if left == 0 {
            self.leaves.remove(b);
            self.lasts.remove(b);
        } else if b + 1 < self.leaves.len() && left + self.leaves[b + 1].len() <= L {
            let next = self.leaves.remove(b + 1);
            self.lasts.remove(b);
            self.leaves[b].extend_from_slice(&next);
        }
        true
    }

    /// Split off the leaves from `at` on into a new group.
    fn split_off(&mut self, at: usize) -> Group {
        let leaves = self.leaves.split_off(at);
        let lasts = self.lasts.split_off(at);
        let len = leaves.iter().map(Vec::len).sum();
        self.len -= len;
        Group { leaves, lasts, len }
    }

    /// Append `other`'s leaves (all its ids above this group's).
    fn append(&mut self, mut other: Group) {
        self.leaves.append(&mut other.leaves);
        self.lasts.append(&mut other.lasts);
        self.len += other.len;
    }
}

impl<const L: usize, const G: usize> OrderIndex<L, G> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Insert `id`; false if it was present.
    pub(crate) fn insert(&mut self, id: u64) -> bool {
        // Above every id: it goes at the end of the last group.
        let appends = self.lasts.last().is_none_or(|&last| id > last);
        if self.groups.is_empty() {
            self.groups.push(Group::default());
            self.lasts.push(id);
        }
        let g = child_for(&self.lasts, id);
        let group = &mut self.groups[g];
        if !group.insert::<L>(id) {
            return false;
        }
        self.lasts[g] = self.lasts[g].max(id);
        if group.leaves.len() >= 2 * G {
            // As a leaf splits (see `Group::insert`).
            let at = if appends { 2 * G - 1 } else { G };
            let tail = group.split_off(at);
            self.lasts[g] = group.lasts[at - 1];
            self.lasts.insert(g + 1, tail.lasts[tail.lasts.len() - 1]);
            self.groups.insert(g + 1, tail);
        }
        self.len += 1;
        true
    }

    /// Remove `id`; false if it was absent.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        if self.groups.is_empty() {
            return false;
        }
        let g = child_for(&self.lasts, id);
        let group = &mut self.groups[g];
        if !group.remove::<L>(id) {
            return false;
        }
        self.len -= 1;
        if let Some(&last) = group.lasts.last() {
            self.lasts[g] = last;
        }
        let left = group.leaves.len();
        if left == 0 {
            self.groups.remove(g);
            self.lasts.remove(g);
        } else if g + 1 < self.groups.len() && left + self.groups[g + 1].leaves.len() <= G {
            let next = self.groups.remove(g + 1);
            self.lasts.remove(g);
            self.groups[g].append(next);
        }
        true
    }

    /// Up to `limit` ids in order, skipping the first `offset`.
    pub(crate) fn page(&self, offset: usize, limit: usize) -> impl Iterator<Item = u64> + '_ {
        let mut skip = offset;
        // The group, then the leaf in it, where the page starts.
        let mut first = (self.groups.len(), 0);
        'find: for (g, group) in self.groups.iter().enumerate() {
            if skip >= group.len {
                skip -= group.len;
                continue;
            }
            for (b, leaf) in group.leaves.iter().enumerate() {
                if skip < leaf.len() {
                    first = (g, b);
                    break 'find;
                }
                skip -= leaf.len();
            }
        }
        let (g, b) = first;
        self.groups[g..]
            .iter()
            .enumerate()
            .flat_map(move |(k, group)| &group.leaves[if k == 0 { b } else { 0 }..])
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
            // Leaves of 2 to 3 ids and groups of 2 to 3 leaves: every
            // split and merge at both levels happens within a few ids.
            let mut model = BTreeSet::new();
            let mut index = OrderIndex::<2, 2>::default();
            for (insert, id) in ops {
                if insert {
                    prop_assert_eq!(index.insert(id), model.insert(id));
                } else {
                    prop_assert_eq!(index.remove(id), model.remove(&id));
                }
                prop_assert_eq!(index.len(), model.len());
            }
            check(&index);
            let got: Vec<u64> = index.page(offset, limit).collect();
            let want: Vec<u64> = model.iter().skip(offset).take(limit).copied().collect();
            prop_assert_eq!(got, want);
        }
    }

    /// Every node non-empty, within its size, in order, with its last id
    /// and length recorded above it.
    fn check<const L: usize, const G: usize>(index: &OrderIndex<L, G>) {
        assert_eq!(index.groups.len(), index.lasts.len());
        let mut all = Vec::new();
        for (group, &last) in index.groups.iter().zip(&index.lasts) {
            assert!(!group.leaves.is_empty() && group.leaves.len() < 2 * G);
            assert_eq!(group.leaves.len(), group.lasts.len());
            assert_eq!(group.lasts.last(), Some(&last));
            assert_eq!(group.len, group.leaves.iter().map(Vec::len).sum::<usize>());
            for (leaf, &last) in group.leaves.iter().zip(&group.lasts) {
                assert!(!leaf.is_empty() && leaf.len() < 2 * L);
                assert_eq!(leaf.last(), Some(&last));
                all.extend_from_slice(leaf);
            }
        }
        assert_eq!(all.len(), index.len());
        assert!(all.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn random_ids_at_full_size() {
        let mut index: OrderIndex = OrderIndex::default();
        let mut model = BTreeSet::new();
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = x % 1_000_000;
            assert_eq!(index.insert(id), model.insert(id));
        }
        assert!(index.groups.len() > 2, "groups split");
        for id in (0..1_000_000).step_by(3) {
            assert_eq!(index.remove(id), model.remove(&id));
        }
        check(&index);
        let want: Vec<u64> = model.iter().skip(50_000).take(300).copied().collect();
        assert_eq!(index.page(50_000, 300).collect::<Vec<_>>(), want);
        assert_eq!(index.page(0, usize::MAX).count(), model.len());
    }

    #[test]
    fn ascending_inserts_split_leaves_and_groups() {
        let mut index: OrderIndex = OrderIndex::default();
        for id in 1..=100_000 {
            assert!(index.insert(id));
        }
        assert!(index.groups.len() > 10);
        check(&index);
        // Appends keep leaves and groups full, not half full.
        let leaves: usize = index.groups.iter().map(|g| g.leaves.len()).sum();
        assert!(leaves <= 100_000 / (2 * LEAF - 1) + 1, "{leaves} leaves");
        assert!(
            index.groups.len() <= leaves / (2 * GROUP - 1) + 1,
            "{} groups",
            index.groups.len()
        );
        assert_eq!(
            index.page(99_990, 100).collect::<Vec<_>>(),
            (99_991..=100_000).collect::<Vec<_>>()
        );
        assert_eq!(index.page(200_000, 10).count(), 0);
        for id in 1..=100_000 {
            assert!(index.remove(id));
        }
        assert_eq!(index.len(), 0);
        assert!(index.groups.is_empty());
        assert_eq!(index.page(0, 10).count(), 0);
    }
}
