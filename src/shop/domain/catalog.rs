//! [`Catalog`]: the products, their id order and the state digest; applies
//! commands deterministically, so replaying the journal rebuilds it.

use super::command::Command;
use super::error::Rejection;
use super::frozen_catalog::{self, FrozenCatalog};
use super::id_table::IdTable;
use super::name::{Name, MAX_NAME_LEN};
use super::order_index::OrderIndex;
use super::product::Product;
use super::reply::Reply;
pub(super) const SNAPSHOT_MAGIC: [u8; 8] = *b"RMSHOPC1";

/// The hash of one product that [`Catalog::digest`] sums, in two parts
/// summed alike: [`fields_hash`] (id, price, stock, version) and
/// [`name_hash`] (id, name). Both include the id, so products that swap
/// names or prices still change the digest; the split lets a price or
/// stock update, the most common write, rehash four words instead of the
/// name too. Fixed (no random seed), so digests compare across processes
/// and restarts.
#[inline]
fn product_hash(p: &Product) -> u64 {
    fields_hash(p).wrapping_add(name_hash(p))
}

#[inline(always)]
fn mix(h: u64, v: u64) -> u64 {
    let h = (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^ (h >> 29)
}

/// splitmix64's finalizer.
#[inline(always)]
fn finish(mut h: u64) -> u64 {
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Each of id, price, stock and version mixed in as a word.
#[inline]
fn fields_hash(p: &Product) -> u64 {
    let mut h = 0x243f_6a88_85a3_08d3u64;
    for v in [p.id, p.price_cents, p.stock, p.version] {
        h = mix(h, v);
    }
    finish(h)
}

/// The id, the name's length and each 8 bytes of the name mixed in as a
/// little-endian word, from a different seed than [`fields_hash`].
#[inline]
fn name_hash(p: &Product) -> u64 {
    let mut h = 0x1319_8a2e_0370_7344u64;
    for v in [p.id, p.name.len() as u64] {
        h = mix(h, v);
    }
    for chunk in p.name.as_bytes().chunks(8) {
        let mut word = [0u8; 8];
        word[..chunk.len()].copy_from_slice(chunk);
        h = mix(h, u64::from_le_bytes(word));
    }
    finish(h)
}

/// Where and why a catalog snapshot does not decode.
///
/// # Examples
///
/// ```
/// use ringmaster::shop::Catalog;
/// let err = Catalog::from_snapshot(b"not a catalog").unwrap_err();
/// assert_eq!((err.offset, err.what), (0, "magic is not RMSHOPC1"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("catalog snapshot corrupt at byte {offset}: {what}")]
pub struct SnapshotDecodeError {
    /// Byte offset of the problem in the state.
    pub offset: usize,
    /// What is wrong there.
    pub what: &'static str,
}

/// Products by id, in id order, with an order-independent digest kept up
/// to date on every change.
///
/// `Send`, not shared: owned by the catalog stage's thread.
///
/// # Examples
///
/// ```
/// use ringmaster::shop::{Catalog, Command, Reply};
///
/// let mut catalog = Catalog::default();
/// let added = catalog.apply(&Command::add(1, "Oak Desk", 25_000, 3)?);
/// assert!(matches!(added, Some(Reply::Added(p)) if p.version == 1));
/// let again = catalog.apply(&Command::add(1, "Pine Desk", 9_000, 1)?);
/// assert!(matches!(again, Some(Reply::Rejected(_))));
/// assert_eq!(catalog.get(1).unwrap().name.as_str(), "Oak Desk");
/// assert_eq!(catalog.digest(), catalog.recompute_digest());
/// # Ok::<(), ringmaster::shop::ValidationError>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct Catalog {
    products: IdTable<Product>,
    order: OrderIndex,
    digest: u64,
}

impl Catalog {
    /// Apply one command. `None` for the commands the catalog does not
    /// answer (`Search`, answered by the index; `Snapshot`, by its stage).
    pub fn apply(&mut self, command: &Command) -> Option<Reply> {
        let reply = match *command {
            Command::Add {
                id,
                name,
                price_cents,
                stock,
            } => {
                let p = Product {
                    id,
                    name,
                    price_cents,
                    stock,
                    version: 1,
                };
                // One probe says whether the id is taken and inserts if not.
                if !self.products.insert_new(p) {
                    return Some(Reply::Rejected(Rejection::AlreadyExists { id }));
                }
                self.order.insert(id);
                self.digest = self.digest.wrapping_add(product_hash(&p));
                Reply::Added(p)
            }
            Command::Update {
                id,
                price_cents,
                stock,
                name,
            } => {
                let Some(p) = self.products.get_mut(id) else {
                    return Some(Reply::Rejected(Rejection::NotFound { id }));
                };
                // A rename rehashes the name; a price or stock update
                // only the fields.
                let hash = |p: &Product| match name {
                    Some(_) => product_hash(p),
                    None => fields_hash(p),
                };
                let before = hash(p);
                if let Some(v) = price_cents {
                    p.price_cents = v;
                }
                if let Some(v) = stock {
                    p.stock = v;
                }
                if let Some(v) = name {
                    p.name = v;
                }
                p.version += 1;
                self.digest = self.digest.wrapping_sub(before).wrapping_add(hash(p));
                Reply::Updated(*p)
            }
            Command::Delete { id } => {
                let Some(p) = self.products.remove(id) else {
                    return Some(Reply::Rejected(Rejection::NotFound { id }));
                };
                self.order.remove(id);
                self.digest = self.digest.wrapping_sub(product_hash(&p));
                Reply::Deleted { id }
            }
            Command::Get { id } => Reply::Found(self.products.get(id).copied()),
            Command::List { offset, limit } => Reply::Page(self.page(offset, limit)),
            Command::Count => Reply::Count(self.len() as u64),
            Command::Digest => Reply::Digest(self.digest),
            Command::Search { .. } | Command::Snapshot => return None,
        };
        Some(reply)
    }

    /// The product with `id`.
    pub fn get(&self, id: u64) -> Option<&Product> {
        self.products.get(id)
    }

    /// Start loading where product `id` is kept, so that a command on it
    /// handled a little later finds it in cache: a hint for stages that
    /// look ahead in their batch (see
    /// [`EventHandler::look_ahead`](crate::EventHandler::look_ahead)). No
    /// effect on the catalog.
    ///
    /// ```
    /// use ringmaster::shop::{Catalog, Command};
    /// let mut catalog = Catalog::default();
    /// catalog.apply(&Command::add(9, "Clay Pot", 700, 3)?);
    /// catalog.prefetch(9);
    /// assert_eq!(catalog.get(9).map(|p| p.stock), Some(3));
    /// # Ok::<(), ringmaster::shop::ValidationError>(())
    /// ```
    #[inline]
    pub fn prefetch(&self, id: u64) {
        self.products.prefetch(id);
    }

    /// The second step of a prefetch: start loading product `id` itself.
    /// Finding where it is reads the index entry that
    /// [`prefetch`](Self::prefetch) loads, so call this a few commands
    /// after that, when the entry has arrived (the shop's catalog stage,
    /// [looking ahead](crate::EventHandler::look_ahead) 8 commands in its
    /// batch, calls it 4 commands after). A hint: no effect on the catalog.
    ///
    /// ```
    /// use ringmaster::shop::{Catalog, Command};
    /// let mut catalog = Catalog::default();
    /// catalog.apply(&Command::add(9, "Clay Pot", 700, 3)?);
    /// catalog.prefetch(9);
    /// catalog.prefetch_product(9);
    /// assert_eq!(catalog.get(9).map(|p| p.stock), Some(3));
    /// # Ok::<(), ringmaster::shop::ValidationError>(())
    /// ```
    #[inline]
    pub fn prefetch_product(&self, id: u64) {
        self.products.prefetch_value(id);
    }

    /// Up to `limit` products in id order after skipping `offset`.
    pub fn page(&self, offset: u32, limit: u32) -> Vec<Product> {
        self.order
            .page(offset as usize, limit as usize)
            .filter_map(|id| self.products.get(id).copied())
            .collect()
    }

    /// Make room for `additional` more products, so that adding them does
    /// not grow (rehash) the table.
    ///
    /// # Errors
    ///
    /// When the memory cannot be allocated, or the count is beyond any
    /// table; the catalog is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::shop::Catalog;
    /// let mut catalog = Catalog::default();
    /// catalog.try_reserve(1_000)?;
    /// assert!(catalog.try_reserve(usize::MAX).is_err());
    /// # Ok::<(), std::collections::TryReserveError>(())
    /// ```
    pub fn try_reserve(
        &mut self,
        additional: usize,
    ) -> Result<(), std::collections::TryReserveError> {
        self.products.try_reserve(additional)
    }

    /// Number of products.
    pub fn len(&self) -> usize {
        debug_assert_eq!(self.order.len(), self.products.len());
        self.products.len()
    }

    /// Whether there are no products.
    pub fn is_empty(&self) -> bool {
        self.products.is_empty()
    }

    /// Every product, in no particular order.
    pub fn products(&self) -> impl Iterator<Item = &Product> + '_ {
        self.products.iter()
    }

    /// The order-independent digest of every product's id, name, price,
    /// stock and version (a wrapping sum of per-product hashes), kept
    /// current on every change: equal catalogs have equal digests however
    /// they were built.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The digest computed from scratch (to check [`Catalog::digest`]).
    pub fn recompute_digest(&self) -> u64 {
        self.products
            .iter()
            .fold(0u64, |d, p| d.wrapping_add(product_hash(p)))
    }

    /// Serialise for a snapshot into `out` (cleared first): magic
    /// `RMSHOPC1`, product count (u64), then per product in id order: id,
    /// price, stock, version (u64 each), name length (u8) and name bytes.
    /// Little-endian. One catalog has exactly one encoding, the one
    /// [`freeze`](Self::freeze) and then [`FrozenCatalog::to_snapshot`]
    /// give; this walks the catalog's own id order instead of copying and
    /// sorting.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::shop::{Catalog, Command};
    /// let mut catalog = Catalog::default();
    /// catalog.apply(&Command::add(3, "Teapot", 2_000, 4)?);
    /// let mut bytes = Vec::new();
    /// catalog.to_snapshot(&mut bytes);
    /// let back = Catalog::from_snapshot(&bytes).unwrap();
    /// assert_eq!(back.digest(), catalog.digest());
    /// # Ok::<(), ringmaster::shop::ValidationError>(())
    /// ```
    pub fn to_snapshot(&self, out: &mut Vec<u8>) {
        let in_id_order = self
            .order
            .page(0, usize::MAX)
            .filter_map(|id| self.products.get(id));
        frozen_catalog::encode(self.len(), in_id_order, out);
    }

    /// The catalog's products as they are now, to serialise elsewhere
    /// (another thread) while this catalog goes on applying commands.
    /// Nothing is copied here: the view shares the storage of the
    /// products, and the catalog copies a block of them (4,096 products,
    /// about 400 KiB) the first time it writes one the view still holds. So a
    /// snapshot of a catalog of any size holds its writer up for
    /// microseconds, not for the whole serialisation.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::shop::{Catalog, Command};
    /// let mut catalog = Catalog::default();
    /// catalog.apply(&Command::add(3, "Teapot", 2_000, 4)?);
    /// let frozen = catalog.freeze();
    /// catalog.apply(&Command::Delete { id: 3 });
    /// let saved = std::thread::spawn(move || {
    ///     let mut bytes = Vec::new();
    ///     frozen.to_snapshot(&mut bytes);
    ///     bytes
    /// });
    /// let back = Catalog::from_snapshot(&saved.join().unwrap()).unwrap();
    /// assert_eq!(back.len(), 1, "the teapot, as it was when frozen");
    /// # Ok::<(), ringmaster::shop::ValidationError>(())
    /// ```
    pub fn freeze(&self) -> FrozenCatalog {
        FrozenCatalog::new(self.products.freeze())
    }

    /// Rebuild from [`Catalog::to_snapshot`]'s bytes. Every field is
    /// checked (ids ascending and non-zero, amounts in range, names UTF-8,
    /// no trailing bytes), so damaged or hostile bytes give an error with
    /// its offset, never a panic.
    ///
    /// # Errors
    ///
    /// [`SnapshotDecodeError`] naming the offset and the problem.
    pub fn from_snapshot(bytes: &[u8]) -> Result<Self, SnapshotDecodeError> {
        let mut at = 0usize;
        let err = |offset, what| SnapshotDecodeError { offset, what };
        let take = |at: &mut usize, n: usize, what| -> Result<&[u8], SnapshotDecodeError> {
            let s = bytes
                .get(*at..*at + n)
                .ok_or(SnapshotDecodeError { offset: *at, what })?;
            *at += n;
            Ok(s)
        };
        let u64_at = |at: &mut usize, what| -> Result<u64, SnapshotDecodeError> {
            let s = take(at, 8, what)?;
            let mut b = [0u8; 8];
            b.copy_from_slice(s);
            Ok(u64::from_le_bytes(b))
        };
        if take(&mut at, 8, "magic")? != SNAPSHOT_MAGIC {
            return Err(err(0, "magic is not RMSHOPC1"));
        }
        let count = u64_at(&mut at, "product count")?;
        // Each product takes at least 34 bytes: bound the count by the
        // bytes present before allocating for it.
        if count > (bytes.len() / 34) as u64 {
            return Err(err(8, "product count larger than the snapshot"));
        }
        let mut catalog = Catalog::default();
        catalog
            .products
            .try_reserve(count as usize)
            .map_err(|_| err(8, "no memory for the product count"))?;
        let mut last = 0u64;
        for _ in 0..count {
            let start = at;
            let id = u64_at(&mut at, "product id")?;
            let price_cents = u64_at(&mut at, "price")?;
            let stock = u64_at(&mut at, "stock")?;
            let version = u64_at(&mut at, "version")?;
            let len = take(&mut at, 1, "name length")?[0] as usize;
            if id <= last {
                return Err(err(start, "product ids not ascending or zero"));
            }
            if price_cents > i64::MAX as u64 || stock > i64::MAX as u64 {
                return Err(err(start + 8, "price or stock out of range"));
            }
            if version == 0 {
                return Err(err(start + 24, "version 0"));
            }
            if len == 0 || len > MAX_NAME_LEN {
                return Err(err(start + 32, "name length out of range"));
            }
            let name = Name::from_bytes(take(&mut at, len, "name")?)
                .map_err(|_| err(start + 33, "name is not UTF-8"))?;
            last = id;
            let p = Product {
                id,
                name,
                price_cents,
                stock,
                version,
            };
            catalog.products.insert_new(p);
            catalog.order.insert(id);
            catalog.digest = catalog.digest.wrapping_add(product_hash(&p));
        }
        if at != bytes.len() {
            return Err(err(at, "trailing bytes after the last product"));
        }
        Ok(catalog)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Catalog {
        let mut c = Catalog::default();
        for id in 1..=500u64 {
            c.apply(&Command::add(id * 3, &format!("Item {id} Größe"), id as i64, 7).unwrap());
        }
        c.apply(&Command::update(9, Some(1), None, Some("Renamed")).unwrap());
        c.apply(&Command::delete(12).unwrap());
        c
    }

    #[test]
    fn snapshot_round_trip_keeps_the_digest() {
        let c = sample();
        let mut bytes = Vec::new();
        c.to_snapshot(&mut bytes);
        let d = Catalog::from_snapshot(&bytes).unwrap();
        assert_eq!(d.digest(), c.digest());
        assert_eq!(d.recompute_digest(), c.recompute_digest());
        assert_eq!(d.len(), c.len());
        assert_eq!(d.page(0, 1000), c.page(0, 1000));
    }

    #[test]
    fn damaged_snapshots_are_errors() {
        let c = sample();
        let mut bytes = Vec::new();
        c.to_snapshot(&mut bytes);
        for cut in [0, 7, 8, 15, 16, 40, bytes.len() - 1] {
            assert!(
                Catalog::from_snapshot(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert!(Catalog::from_snapshot(&long).is_err());
        for i in (0..bytes.len()).step_by(7) {
            let mut b = bytes.clone();
            b[i] ^= 0x80;
            // Must not panic; may or may not decode (a price bit flip is valid).
            let _ = Catalog::from_snapshot(&b);
        }
        let mut huge = bytes.clone();
        huge[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Catalog::from_snapshot(&huge).is_err());
    }

    #[test]
    fn digest_is_order_independent() {
        let mut a = Catalog::default();
        let mut b = Catalog::default();
        for id in 1..50u64 {
            a.apply(&Command::add(id, "x", 1, 1).unwrap());
            b.apply(&Command::add(50 - id, "x", 1, 1).unwrap());
        }
        assert_eq!(a.digest(), b.digest());
        b.apply(&Command::update(3, Some(2), None, None).unwrap());
        assert_ne!(a.digest(), b.digest());
        assert_eq!(b.digest(), b.recompute_digest());
    }

    #[test]
    fn digest_follows_updates_and_tells_swapped_fields_apart() {
        let mut c = Catalog::default();
        c.apply(&Command::add(1, "Oak Shelf", 100, 5).unwrap());
        c.apply(&Command::add(2, "Pine Stool", 200, 7).unwrap());
        let start = c.digest();
        // Price and stock only, then a rename, then both back.
        c.apply(&Command::update(1, Some(150), Some(4), None).unwrap());
        assert_eq!(c.digest(), c.recompute_digest());
        c.apply(&Command::update(2, None, None, Some("Pine Bench")).unwrap());
        assert_eq!(c.digest(), c.recompute_digest());
        assert_ne!(c.digest(), start);

        // Same products but with names (or prices) swapped between ids.
        let mut a = Catalog::default();
        let mut b = Catalog::default();
        a.apply(&Command::add(1, "Oak Shelf", 100, 5).unwrap());
        a.apply(&Command::add(2, "Pine Stool", 200, 5).unwrap());
        b.apply(&Command::add(1, "Pine Stool", 100, 5).unwrap());
        b.apply(&Command::add(2, "Oak Shelf", 200, 5).unwrap());
        assert_ne!(a.digest(), b.digest());
        let mut d = Catalog::default();
        d.apply(&Command::add(1, "Oak Shelf", 200, 5).unwrap());
        d.apply(&Command::add(2, "Pine Stool", 100, 5).unwrap());
        assert_ne!(a.digest(), d.digest());
    }
}
