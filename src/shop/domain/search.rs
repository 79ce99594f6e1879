//! [`SearchIndex`]: an inverted index of product-name words, answering
//! "every word, the last as a prefix" queries in id order.
//!
//! Words are maximal runs of alphanumeric characters (Unicode
//! `char::is_alphanumeric`), lowercased with Unicode rules
//! (`str::to_lowercase`): "Grüne T-Shirts" has the words `grüne`, `t`,
//! `shirts`. A query matches a product when every query word is one of the
//! product's words, except the last query word, which only has to start
//! one (search as you type), unless the query ends in a separator
//! ("shirt " asks for the whole word).
//!
//! Each word has a posting list (sorted ids). A query walks the shortest
//! list and checks the others by a forward-moving binary search, or, with
//! only a prefix, merges the prefix's lists in id order; either way it
//! stops at `limit` hits, so a query costs about its result size, not the
//! catalog's.

use super::command::Command;
use super::id_table::IdTable;
use super::name::Name;
use super::posting::Posting;
use super::product::SearchHit;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::ops::Bound;

/// Whether `text` has at least one word (an alphanumeric character).
pub(crate) fn has_words(text: &str) -> bool {
    text.chars().any(char::is_alphanumeric)
}

/// Append `text`'s words, lowercased, to `out`.
///
/// # Examples
///
/// ```
/// let mut words = Vec::new();
/// ringmaster::shop::tokenize("Grüne T-Shirts, ÄRMEL", &mut words);
/// assert_eq!(words, ["grüne", "t", "shirts", "ärmel"]);
/// ```
pub fn tokenize(text: &str, out: &mut Vec<String>) {
    let mut buf = String::new();
    for_each_word(text, &mut buf, |w| out.push(w.to_owned()));
}

/// Call `f` with each word of `text`, lowercased into `buf` (reused, so
/// indexing allocates nothing per word; ASCII words skip Unicode rules).
fn for_each_word(text: &str, buf: &mut String, mut f: impl FnMut(&str)) {
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        buf.clear();
        if word.is_ascii() {
            buf.push_str(word);
            buf.make_ascii_lowercase();
        } else {
            buf.extend(word.chars().flat_map(char::to_lowercase));
        }
        f(buf);
    }
}

type WordId = u32;

/// The search index: words to sorted product ids, and each product's name
/// and words (to unindex it on rename or delete).
///
/// `Send`, not shared: owned by the search stage's thread. It applies the
/// same writes as the [`Catalog`](super::Catalog) and reaches the same
/// decisions (an `Add` of an existing id is ignored, as the catalog
/// rejects it), so the two never need to talk.
///
/// # Examples
///
/// ```
/// use ringmaster::shop::{Command, SearchIndex};
///
/// let mut index = SearchIndex::default();
/// index.apply(&Command::add(1, "Blue Cotton Shirt", 1999, 5)?);
/// index.apply(&Command::add(2, "Blue Silk Scarf", 2999, 5)?);
/// index.apply(&Command::add(3, "Red Cotton Socks", 599, 5)?);
/// let ids = |q: &str| index.search(q, 10).iter().map(|h| h.id).collect::<Vec<_>>();
/// assert_eq!(ids("blue"), [1, 2]);
/// assert_eq!(ids("cotton s"), [1, 3]);   // last word as a prefix
/// assert_eq!(ids("BLUE SC"), [2]);
/// assert_eq!(ids("blue s "), Vec::<u64>::new()); // "s" as a whole word
/// # Ok::<(), ringmaster::shop::ValidationError>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct SearchIndex {
    /// Words in order, for prefix ranges.
    vocabulary: BTreeMap<Box<str>, WordId>,
    /// The same words hashed, for exact lookups.
    lookup: HashMap<Box<str>, WordId, foldhash::fast::RandomState>,
    /// Indexed by word id; a freed id's entry is empty until reused.
    words: Vec<Box<str>>,
    postings: Vec<Posting>,
    free: Vec<WordId>,
    /// Each product's name: for hits, and to find its words again when it
    /// is renamed or deleted (tokenizing again is cheaper than keeping a
    /// list of word ids, an allocation, per product).
    docs: IdTable<SearchHit>,
    scratch: String,
}

impl SearchIndex {
    /// Apply a write (`Add`, `Update` with a name, `Delete`); everything
    /// else is ignored.
    pub fn apply(&mut self, command: &Command) {
        match *command {
            Command::Add { id, name, .. } => {
                // One probe: insert the name only if the id is free.
                let fresh = self.docs.insert_new(SearchHit { id, name });
                if fresh {
                    self.index(id, name);
                }
            }
            Command::Update {
                id, name: Some(n), ..
            } => {
                if let Some(doc) = self.docs.get_mut(id) {
                    let old = std::mem::replace(&mut doc.name, n);
                    self.unindex_words(id, old);
                    self.index(id, n);
                }
            }
            Command::Delete { id } => self.unindex(id),
            _ => {}
        }
    }

    /// Make room for `additional` more products, so that indexing them
    /// does not grow (rehash) the index's table of names.
    ///
    /// # Errors
    ///
    /// When the memory cannot be allocated; the index is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::shop::SearchIndex;
    /// let mut index = SearchIndex::default();
    /// index.try_reserve(1_000)?;
    /// assert!(index.try_reserve(usize::MAX).is_err());
    /// # Ok::<(), std::collections::TryReserveError>(())
    /// ```
    pub fn try_reserve(
        &mut self,
        additional: usize,
    ) -> Result<(), std::collections::TryReserveError> {
        self.docs.try_reserve(additional)
    }

    /// Start loading where product `id`'s entry in the index's table of
    /// names is (or would go): the probe an `Add`, a rename or a `Delete`
    /// of `id` makes first. A hint: no effect on the index.
    ///
    /// ```
    /// use ringmaster::shop::{Command, SearchIndex};
    /// let mut index = SearchIndex::default();
    /// index.prefetch(7);
    /// index.apply(&Command::add(7, "Wool Scarf", 1500, 2)?);
    /// index.prefetch(7);
    /// index.prefetch_name(7);
    /// assert_eq!(index.search("scarf", 10)[0].id, 7);
    /// # Ok::<(), ringmaster::shop::ValidationError>(())
    /// ```
    #[inline]
    pub fn prefetch(&self, id: u64) {
        self.docs.prefetch(id);
    }

    /// The second step of a prefetch: start loading product `id`'s name,
    /// which a rename or a `Delete` reads to unindex its words. Finding it
    /// reads the entry [`prefetch`](Self::prefetch) loads, so call this a
    /// few commands after that. A hint: no effect on the index.
    #[inline]
    pub fn prefetch_name(&self, id: u64) {
        self.docs.prefetch_value(id);
    }

    /// Number of products indexed.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Whether nothing is indexed.
    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Number of distinct words indexed.
    pub fn vocabulary_len(&self) -> usize {
        self.vocabulary.len()
    }

    fn word_id(&mut self, word: &str) -> WordId {
        if let Some(&w) = self.lookup.get(word) {
            return w;
        }
        let w = match self.free.pop() {
            Some(w) => {
                self.words[w as usize] = word.into();
                w
            }
            None => {
                self.words.push(word.into());
                self.postings.push(Posting::default());
                (self.words.len() - 1) as WordId
            }
        };
        self.vocabulary.insert(word.into(), w);
        self.lookup.insert(word.into(), w);
        w
    }

    /// Add `id` to the postings of `name`'s words (its name is already in
    /// `docs`).
    fn index(&mut self, id: u64, name: Name) {
        let mut buf = std::mem::take(&mut self.scratch);
        for_each_word(name.as_str(), &mut buf, |w| {
            let w = self.word_id(w);
            // A word repeated in a name is inserted twice: a no-op.
            self.postings[w as usize].insert(id);
        });
        self.scratch = buf;
    }

    fn unindex(&mut self, id: u64) {
        if let Some(doc) = self.docs.remove(id) {
            self.unindex_words(id, doc.name);
        }
    }

    /// Remove `id` from the postings of `name`'s words; free words left
    /// with no product.
    fn unindex_words(&mut self, id: u64, name: Name) {
        let mut buf = std::mem::take(&mut self.scratch);
        for_each_word(name.as_str(), &mut buf, |word| {
            let Some(&w) = self.lookup.get(word) else {
                return; // a repeated word, already freed
            };
            let posting = &mut self.postings[w as usize];
            posting.remove(id);
            if posting.is_empty() {
                let word = std::mem::take(&mut self.words[w as usize]);
                self.vocabulary.remove(&word);
                self.lookup.remove(&word);
                self.free.push(w);
                *posting = Posting::default();
            }
        });
        self.scratch = buf;
    }

    /// Up to `limit` products matching `query`, in id order.
    pub fn search(&self, query: &str, limit: usize) -> Vec<SearchHit> {
        let mut words = Vec::new();
        tokenize(query, &mut words);
        let ends_in_word = query.chars().last().is_some_and(char::is_alphanumeric);
        let prefix = if ends_in_word { words.pop() } else { None };
        words.sort_unstable();
        words.dedup();

        let mut required: Vec<&Posting> = Vec::with_capacity(words.len() + 1);
        for w in &words {
            match self.lookup.get(w.as_str()) {
                Some(&id) => required.push(&self.postings[id as usize]),
                None => return Vec::new(),
            }
        }
        let mut prefix_words: Vec<WordId> = Vec::new();
        if let Some(p) = &prefix {
            prefix_words.extend(
                self.vocabulary
                    .range::<str, _>((Bound::Included(p.as_str()), Bound::Unbounded))
                    .take_while(|(w, _)| w.starts_with(p.as_str()))
                    .map(|(_, &id)| id),
            );
            if prefix_words.is_empty() {
                return Vec::new();
            }
        }
        let mut ids = Vec::with_capacity(limit.min(128));
        if required.is_empty() {
            self.merge_prefix(&prefix_words, limit, &mut ids);
        } else {
            let mut any: Vec<&Posting> = prefix_words
                .iter()
                .map(|&w| &self.postings[w as usize])
                .collect();
            if any.len() == 1 {
                // One word has the prefix: it is simply required.
                required.append(&mut any);
            }
            intersect(&required, &any, limit, &mut ids);
        }
        ids.into_iter()
            .filter_map(|id| self.docs.get(id).copied())
            .collect()
    }

    /// Ids present in any of `lists`, in order, deduplicated, up to `limit`.
    fn merge_prefix(&self, lists: &[WordId], limit: usize, out: &mut Vec<u64>) {
        if let [only] = lists {
            out.extend(self.postings[*only as usize].iter().take(limit));
            return;
        }
        let mut iters: Vec<_> = lists
            .iter()
            .map(|&w| self.postings[w as usize].iter())
            .collect();
        let mut heap: BinaryHeap<Reverse<(u64, usize)>> = iters
            .iter_mut()
            .enumerate()
            .filter_map(|(i, it)| it.next().map(|id| Reverse((id, i))))
            .collect();
        while let Some(Reverse((id, i))) = heap.pop() {
            if out.last() != Some(&id) {
                if out.len() == limit {
                    break;
                }
                out.push(id);
            }
            if let Some(next) = iters[i].next() {
                heap.push(Reverse((next, i)));
            }
        }
    }
}

/// Ids in every posting of `required` (not empty) and, unless `any` is
/// empty, in at least one of `any`: up to `limit`, in id order.
///
/// In the words every posting's bitmap covers, ids are found by AND-ing
/// (and OR-ing, for `any`) bitmap words, 64 ids per step. Below and above
/// that range, the shortest required posting drives and each candidate is
/// tested against the others (a bit test, or a B-tree lookup). All stop
/// at `limit` (`out` comes in empty).
pub(crate) fn intersect(required: &[&Posting], any: &[&Posting], limit: usize, out: &mut Vec<u64>) {
    // The loops below check for `limit` after each push.
    if limit == 0 {
        return;
    }
    let Some(driver) = required.iter().min_by_key(|p| p.len()) else {
        return;
    };
    let accept = |id: u64| {
        required
            .iter()
            .all(|p| std::ptr::eq(*p, *driver) || p.contains(id))
            && (any.is_empty() || any.iter().any(|p| p.contains(id)))
    };
    let common = required
        .iter()
        .chain(any)
        .map(|p| p.word_range())
        .reduce(|a, b| a.start.max(b.start)..a.end.min(b.end))
        .filter(|r| !r.is_empty());
    let Some(words) = common else {
        out.extend(driver.iter().filter(|&id| accept(id)).take(limit));
        return;
    };
    let (lo, hi) = (words.start * 64, words.end * 64);
    for id in driver.iter().take_while(|&id| id < lo) {
        if accept(id) {
            out.push(id);
            if out.len() == limit {
                return;
            }
        }
    }
    for w in words {
        let mut m = required.iter().fold(!0u64, |m, p| m & p.word(w));
        if m != 0 && !any.is_empty() {
            m &= any.iter().fold(0u64, |m, p| m | p.word(w));
        }
        while m != 0 {
            out.push(w * 64 + u64::from(m.trailing_zeros()));
            if out.len() == limit {
                return;
            }
            m &= m - 1;
        }
    }
    let room = limit - out.len();
    out.extend(driver.iter_from(hi).filter(|&id| accept(id)).take(room));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_of_zero_finds_nothing() {
        // Enough products for the postings to keep bitmaps, so the words'
        // intersection runs over bitmap words.
        let names: Vec<(u64, &str)> = (1..=200).map(|id| (id, "Blue Mug")).collect();
        let ix = index(&names);
        for q in ["blue mug", "blue mug ", "blue", "blu"] {
            assert!(ix.search(q, 0).is_empty(), "{q:?}");
            assert_eq!(ix.search(q, 3).len(), 3, "{q:?}");
        }
    }

    fn index(names: &[(u64, &str)]) -> SearchIndex {
        let mut ix = SearchIndex::default();
        for &(id, n) in names {
            ix.apply(&Command::add(id, n, 1, 1).unwrap());
        }
        ix
    }

    fn ids(ix: &SearchIndex, q: &str, limit: usize) -> Vec<u64> {
        ix.search(q, limit).iter().map(|h| h.id).collect()
    }

    /// The definition, by brute force.
    fn model(names: &HashMap<u64, String>, q: &str, limit: usize) -> Vec<u64> {
        let mut words = Vec::new();
        tokenize(q, &mut words);
        let ends_in_word = q.chars().last().is_some_and(char::is_alphanumeric);
        let prefix = if ends_in_word { words.pop() } else { None };
        let mut out: Vec<u64> = names
            .iter()
            .filter(|(_, n)| {
                let mut nw = Vec::new();
                tokenize(n, &mut nw);
                words.iter().all(|w| nw.contains(w))
                    && prefix
                        .as_ref()
                        .is_none_or(|p| nw.iter().any(|w| w.starts_with(p.as_str())))
            })
            .map(|(&id, _)| id)
            .collect();
        out.sort_unstable();
        out.truncate(limit);
        out
    }

    #[test]
    fn semantics() {
        let ix = index(&[
            (1, "Blue Cotton Shirt"),
            (2, "blue-cotton SOCKS"),
            (3, "Grüne Tasse"),
            (4, "GRÜNER Tee"),
            (5, "shirt shirt shirt"),
        ]);
        assert_eq!(ids(&ix, "blue cotton", 10), [1, 2]);
        assert_eq!(ids(&ix, "grün", 10), [3, 4]);
        assert_eq!(ids(&ix, "GRÜNE ", 10), [3]);
        assert_eq!(ids(&ix, "shirt", 1), [1]);
        assert_eq!(ids(&ix, "shirt", 10), [1, 5]);
        assert_eq!(ids(&ix, "nothing", 10), Vec::<u64>::new());
        assert_eq!(ids(&ix, "cotton zz", 10), Vec::<u64>::new());
        assert_eq!(ids(&ix, "s", 10), [1, 2, 5]);
    }

    #[test]
    fn renames_and_deletes_move_results() {
        let mut ix = index(&[(1, "Old Lamp"), (2, "Old Chair")]);
        ix.apply(&Command::update(1, None, None, Some("New Lamp")).unwrap());
        assert_eq!(ids(&ix, "old", 10), [2]);
        assert_eq!(ids(&ix, "new", 10), [1]);
        ix.apply(&Command::delete(2).unwrap());
        assert_eq!(ids(&ix, "old", 10), Vec::<u64>::new());
        assert_eq!(ix.vocabulary_len(), 2, "freed words leave the vocabulary");
        ix.apply(&Command::add(1, "Duplicate", 1, 1).unwrap());
        assert_eq!(
            ids(&ix, "duplicate", 10),
            Vec::<u64>::new(),
            "add of an existing id is ignored"
        );
        ix.apply(&Command::update(9, None, None, Some("Ghost")).unwrap());
        assert_eq!(ids(&ix, "ghost", 10), Vec::<u64>::new());
    }

    #[test]
    fn agrees_with_brute_force() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};
        const WORDS: [&str; 10] = [
            "red", "read", "blue", "bl", "shirt", "shirts", "ärmel", "Ärger", "x1", "x",
        ];
        let name = proptest::collection::vec(proptest::sample::select(&WORDS[..]), 1..5)
            .prop_map(|w| w.join(" "));
        // Small id ranges make long lists (bitmaps); a second dense range
        // far from zero gives other words' bitmaps other windows; a few
        // huge ids land outside any window; ids anywhere in `u64` are too
        // sparse for a bitmap and stay listed.
        let id = prop_oneof![
            8 => 1u64..40,
            8 => 1u64..700,
            6 => (1u64 << 40)..(1u64 << 40) + 700,
            1 => (u64::MAX - 20)..=u64::MAX,
            6 => 1u64..=u64::MAX,
        ];
        let ops = proptest::collection::vec((id, name.clone(), any::<u8>()), 1..1500);
        let mut runner = TestRunner::new(Config::with_cases(48));
        runner
            .run(
                &(
                    ops,
                    name,
                    any::<bool>(),
                    prop_oneof![1usize..8, 8usize..2000],
                ),
                |(ops, q, space, limit)| {
                    let mut ix = SearchIndex::default();
                    let mut names = HashMap::new();
                    for (id, n, op) in ops {
                        match op % 4 {
                            0 => {
                                ix.apply(&Command::add(id, &n, 1, 1).unwrap());
                                names.entry(id).or_insert(n);
                            }
                            1 => {
                                ix.apply(&Command::update(id, None, None, Some(&n)).unwrap());
                                if let Some(old) = names.get_mut(&id) {
                                    *old = n;
                                }
                            }
                            _ => {
                                ix.apply(&Command::delete(id).unwrap());
                                names.remove(&id);
                            }
                        }
                    }
                    let q = if space { format!("{q} ") } else { q };
                    prop_assert_eq!(ids(&ix, &q, limit), model(&names, &q, limit));
                    Ok(())
                },
            )
            .unwrap();
    }
}
