//! [`Product`] and [`SearchHit`]: what the catalog and the index hold.

use super::name::Name;

/// A product in the catalog.
///
/// # Examples
///
/// ```
/// use ringmaster::shop::{Name, Product};
/// let p = Product { id: 1, name: Name::new("Mug")?, price_cents: 450, stock: 9, version: 1 };
/// assert_eq!(p.name.as_str(), "Mug");
/// # Ok::<(), ringmaster::shop::ValidationError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Product {
    /// Its id (never 0).
    pub id: u64,
    /// Its name.
    pub name: Name,
    /// Price in cents.
    pub price_cents: u64,
    /// Units in stock.
    pub stock: u64,
    /// 1 when added, +1 per update.
    pub version: u64,
}

/// One search result: a product's id and its name at the time of the query.
///
/// # Examples
///
/// ```
/// use ringmaster::shop::{Name, SearchHit};
/// let hit = SearchHit { id: 3, name: Name::new("Blue Mug")? };
/// assert_eq!(hit.id, 3);
/// # Ok::<(), ringmaster::shop::ValidationError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchHit {
    /// The product's id.
    pub id: u64,
    /// Its current name.
    pub name: Name,
}
