//! [`FrozenCatalog`]: a catalog's products at one moment, serialised while
//! the catalog goes on changing.

use super::catalog::SNAPSHOT_MAGIC;
use super::chunked::FrozenChunks;
use super::product::Product;

/// The products of a [`Catalog`](super::Catalog) as they were when
/// [`Catalog::freeze`](super::Catalog::freeze) took them. `Send`: the
/// shop hands it to its snapshot writer, so the catalog stage never spends
/// the time a large catalog takes to serialise (a tenth of a second
/// and more per million products).
///
/// # Examples
///
/// ```
/// use ringmaster::shop::{Catalog, Command};
/// let mut catalog = Catalog::default();
/// catalog.apply(&Command::add(9, "Kettle", 3_500, 2)?);
/// catalog.apply(&Command::add(4, "Teapot", 2_000, 4)?);
/// let frozen = catalog.freeze();
/// assert_eq!(frozen.len(), 2);
/// let mut bytes = Vec::new();
/// frozen.to_snapshot(&mut bytes);
/// let mut direct = Vec::new();
/// catalog.to_snapshot(&mut direct);
/// assert_eq!(bytes, direct);
/// # Ok::<(), ringmaster::shop::ValidationError>(())
/// ```
#[derive(Debug, Clone)]
pub struct FrozenCatalog {
    products: FrozenChunks<Product>,
}

impl FrozenCatalog {
    pub(super) fn new(products: FrozenChunks<Product>) -> Self {
        Self { products }
    }

    /// Number of products.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::shop::Catalog;
    /// assert_eq!(Catalog::default().freeze().len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.products.len()
    }

    /// Whether there are none.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::shop::Catalog;
    /// assert!(Catalog::default().freeze().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.products.len() == 0
    }

    /// Serialise into `out` (cleared first), in the format of
    /// [`Catalog::to_snapshot`](super::Catalog::to_snapshot): the same
    /// bytes the catalog gave when frozen.
    ///
    /// It first copies the products out block by block, giving each block
    /// back as it goes (the catalog then writes that block without copying
    /// it), and only then sorts them by id and encodes: the catalog shares
    /// its storage with this view only for the length of one copy.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::shop::{Catalog, Command};
    /// let mut catalog = Catalog::default();
    /// catalog.apply(&Command::add(3, "Teapot", 2_000, 4)?);
    /// let mut bytes = Vec::new();
    /// catalog.freeze().to_snapshot(&mut bytes);
    /// assert_eq!(Catalog::from_snapshot(&bytes).unwrap().digest(), catalog.digest());
    /// # Ok::<(), ringmaster::shop::ValidationError>(())
    /// ```
    pub fn to_snapshot(self, out: &mut Vec<u8>) {
        let len = self.products.len();
        let mut products = Vec::with_capacity(len);
        for chunk in self.products.into_chunks() {
            products.extend_from_slice(&chunk);
        }
        // The ids with their positions, 16 bytes each, are what gets
        // sorted, not the products themselves (over a hundred bytes
        // each). Ids are unique, so an unstable sort gives the one order.
        let mut order: Vec<(u64, usize)> = products
            .iter()
            .enumerate()
            .map(|(at, p)| (p.id, at))
            .collect();
        order.sort_unstable();
        encode(len, order.iter().map(|&(_, at)| &products[at]), out);
    }
}

/// The snapshot encoding of the products given in id order (see
/// [`Catalog::to_snapshot`](super::Catalog::to_snapshot)), into `out`
/// (cleared first). `expected` (how many there should be) only sizes the
/// buffer: the header counts the products actually encoded, so the bytes
/// always decode, whatever the caller's count.
pub(super) fn encode<'a>(
    expected: usize,
    in_id_order: impl Iterator<Item = &'a Product>,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.reserve(16 + expected * (33 + 32));
    out.extend_from_slice(&SNAPSHOT_MAGIC);
    let count_at = out.len();
    out.extend_from_slice(&0u64.to_le_bytes());
    let mut count = 0u64;
    for p in in_id_order {
        for v in [p.id, p.price_cents, p.stock, p.version] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.push(p.name.len() as u8);
        out.extend_from_slice(p.name.as_bytes());
        count += 1;
    }
    debug_assert_eq!(
        count, expected as u64,
        "the id order and the products agree"
    );
    out[count_at..count_at + 8].copy_from_slice(&count.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use crate::shop::domain::{Catalog, Command};

    /// Enough products to span the doubling chunks and several fixed ones.
    const PRODUCTS: u64 = 20_000;

    #[test]
    fn a_frozen_catalog_is_the_catalog_of_its_moment() {
        let mut catalog = Catalog::default();
        for id in 1..=PRODUCTS {
            // Ids out of insertion order, so the encoding must sort.
            let id = (id * 7_919) % 1_000_003 + 1;
            catalog.apply(&Command::add(id, &format!("Item {id}"), id as i64, 3).unwrap());
        }
        let mut then = Vec::new();
        catalog.to_snapshot(&mut then);
        let frozen = catalog.freeze();
        assert_eq!(frozen.len(), catalog.len());
        // Change every block the view shares: updates, deletes (each
        // moves the last product into the hole) and adds.
        for k in 1..=PRODUCTS / 2 {
            let id = (k * 2 * 7_919) % 1_000_003 + 1;
            catalog.apply(&Command::update(id, Some(1), Some(1), Some("Renamed")).unwrap());
            let gone = ((k * 2 - 1) * 7_919) % 1_000_003 + 1;
            catalog.apply(&Command::Delete { id: gone });
            catalog.apply(&Command::add(2_000_000 + k, "New", 1, 1).unwrap());
        }
        let mut saved = Vec::new();
        frozen.to_snapshot(&mut saved);
        assert!(saved == then, "the view kept its moment's products");
        let mut now = Vec::new();
        catalog.to_snapshot(&mut now);
        assert!(now != then);
        let back = Catalog::from_snapshot(&now).unwrap();
        assert_eq!(back.digest(), catalog.digest());
        assert_eq!(back.digest(), back.recompute_digest());
    }
}
