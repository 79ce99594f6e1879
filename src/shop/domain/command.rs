//! [`Command`]: what a client asks of the shop, validated at the edge.

use super::error::ValidationError;
use super::name::Name;
use super::search::has_words;

/// The largest `limit` of a [`Command::List`].
pub const MAX_LIST_LIMIT: u32 = 1000;
/// The largest `limit` of a [`Command::Search`].
pub const MAX_SEARCH_LIMIT: u32 = 100;

/// One request to the shop. Build it with the validating constructors
/// ([`Command::add`], [`Command::update`], ...): a `Command` that exists
/// is valid, so the engine never sees bad input.
///
/// Writes (`Add`, `Update`, `Delete`) are journaled; everything else is a
/// read that goes through the ring only to see every earlier write.
///
/// # Examples
///
/// ```
/// use ringmaster::shop::{Command, ValidationError};
///
/// let add = Command::add(42, "Red Wool Scarf", 1999, 12)?;
/// assert!(add.is_write());
/// let search = Command::search("wool sc", 10)?;
/// assert!(!search.is_write());
/// assert_eq!(Command::search("  ", 10).unwrap_err(), ValidationError::EmptyQuery);
/// assert_eq!(
///     Command::list(0, 5000).unwrap_err(),
///     ValidationError::LimitOutOfRange { limit: 5000, max: 1000 }
/// );
/// # Ok::<(), ValidationError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Create a product; rejected if the id exists.
    Add {
        /// Product id (never 0).
        id: u64,
        /// Its name.
        name: Name,
        /// Price in cents.
        price_cents: u64,
        /// Units in stock.
        stock: u64,
    },
    /// Change any non-empty subset of a product's fields; rejected if the
    /// id does not exist. Bumps the product's version.
    Update {
        /// Product id.
        id: u64,
        /// New price in cents.
        price_cents: Option<u64>,
        /// New stock.
        stock: Option<u64>,
        /// New name.
        name: Option<Name>,
    },
    /// Remove a product; rejected if the id does not exist.
    Delete {
        /// Product id.
        id: u64,
    },
    /// Read one product.
    Get {
        /// Product id.
        id: u64,
    },
    /// Read a page of products in id order.
    List {
        /// Products to skip.
        offset: u32,
        /// Page size, 1 to [`MAX_LIST_LIMIT`].
        limit: u32,
    },
    /// Find products whose names contain every word of the query, the last
    /// word as a prefix unless the query ends in a separator.
    Search {
        /// The query.
        query: Name,
        /// Most hits to return, 1 to [`MAX_SEARCH_LIMIT`].
        limit: u32,
    },
    /// How many products there are.
    Count,
    /// The catalog's order-independent digest.
    Digest,
    /// Write a snapshot of the catalog now.
    Snapshot,
}

fn id(id: u64) -> Result<u64, ValidationError> {
    if id == 0 {
        Err(ValidationError::ZeroId)
    } else {
        Ok(id)
    }
}

fn price(p: i64) -> Result<u64, ValidationError> {
    u64::try_from(p).map_err(|_| ValidationError::NegativePrice(p))
}

fn stock(s: i64) -> Result<u64, ValidationError> {
    u64::try_from(s).map_err(|_| ValidationError::NegativeStock(s))
}

fn limit(limit: u64, max: u32) -> Result<u32, ValidationError> {
    if limit == 0 || limit > u64::from(max) {
        Err(ValidationError::LimitOutOfRange {
            limit,
            max: u64::from(max),
        })
    } else {
        Ok(limit as u32)
    }
}

impl Command {
    /// An `Add`.
    ///
    /// # Errors
    ///
    /// `ZeroId`, a bad name, `NegativePrice`, `NegativeStock`.
    pub fn add(
        product_id: u64,
        name: &str,
        price_cents: i64,
        units: i64,
    ) -> Result<Self, ValidationError> {
        Ok(Self::Add {
            id: id(product_id)?,
            name: Name::new(name)?,
            price_cents: price(price_cents)?,
            stock: stock(units)?,
        })
    }

    /// An `Update` of the fields given as `Some`.
    ///
    /// # Errors
    ///
    /// `ZeroId`, `EmptyUpdate` when every field is `None`, a bad name,
    /// `NegativePrice`, `NegativeStock`.
    pub fn update(
        product_id: u64,
        price_cents: Option<i64>,
        units: Option<i64>,
        name: Option<&str>,
    ) -> Result<Self, ValidationError> {
        let product_id = id(product_id)?;
        if price_cents.is_none() && units.is_none() && name.is_none() {
            return Err(ValidationError::EmptyUpdate);
        }
        Ok(Self::Update {
            id: product_id,
            price_cents: price_cents.map(price).transpose()?,
            stock: units.map(stock).transpose()?,
            name: name.map(Name::new).transpose()?,
        })
    }

    /// A `Delete`.
    ///
    /// # Errors
    ///
    /// `ZeroId`.
    pub fn delete(product_id: u64) -> Result<Self, ValidationError> {
        Ok(Self::Delete {
            id: id(product_id)?,
        })
    }

    /// A `Get`.
    ///
    /// # Errors
    ///
    /// `ZeroId`.
    pub fn get(product_id: u64) -> Result<Self, ValidationError> {
        Ok(Self::Get {
            id: id(product_id)?,
        })
    }

    /// A `List` page.
    ///
    /// # Errors
    ///
    /// `OffsetOutOfRange` above `u32::MAX`, `LimitOutOfRange`.
    pub fn list(offset: u64, page: u64) -> Result<Self, ValidationError> {
        let offset = u32::try_from(offset).map_err(|_| ValidationError::OffsetOutOfRange {
            offset,
            max: u64::from(u32::MAX),
        })?;
        Ok(Self::List {
            offset,
            limit: limit(page, MAX_LIST_LIMIT)?,
        })
    }

    /// A `Search`.
    ///
    /// # Errors
    ///
    /// A bad name, `EmptyQuery` when the query has no letters or digits,
    /// `LimitOutOfRange`.
    pub fn search(query: &str, hits: u64) -> Result<Self, ValidationError> {
        let query = Name::new(query).map_err(|e| match e {
            ValidationError::EmptyName => ValidationError::EmptyQuery,
            e => e,
        })?;
        if !has_words(query.as_str()) {
            return Err(ValidationError::EmptyQuery);
        }
        Ok(Self::Search {
            query,
            limit: limit(hits, MAX_SEARCH_LIMIT)?,
        })
    }

    /// Whether the command changes the catalog (and so is journaled).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Self::Add { .. } | Self::Update { .. } | Self::Delete { .. }
        )
    }
}
