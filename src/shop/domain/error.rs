//! The shop domain's typed errors: invalid input at the edge and business
//! rejections (which are replies, not failures). They know nothing of I/O.

/// A command that was refused before it entered the ring, or a record that
/// does not decode to a command.
///
/// # Examples
///
/// ```
/// use ringmaster::shop::{Command, ValidationError};
/// assert_eq!(Command::add(0, "Mug", 500, 3).unwrap_err(), ValidationError::ZeroId);
/// assert_eq!(Command::add(1, "Mug", -1, 3).unwrap_err(), ValidationError::NegativePrice(-1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// A name or query with no bytes.
    #[error("name is empty")]
    EmptyName,
    /// A name or query over the limit.
    #[error("name is {len} bytes; the limit is {max}")]
    NameTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// Bytes that are not UTF-8.
    #[error("name is not valid UTF-8 (first bad byte at offset {valid_up_to})")]
    InvalidUtf8 {
        /// How many leading bytes are valid.
        valid_up_to: usize,
    },
    /// A price below zero.
    #[error("price {0} is negative")]
    NegativePrice(i64),
    /// A stock level below zero.
    #[error("stock {0} is negative")]
    NegativeStock(i64),
    /// Product id 0, which is reserved.
    #[error("product id 0 is reserved; ids start at 1")]
    ZeroId,
    /// A list or search limit outside its range.
    #[error("limit {limit} is out of range 1..={max}")]
    LimitOutOfRange {
        /// The limit asked for.
        limit: u64,
        /// The largest allowed.
        max: u64,
    },
    /// A list offset too large to represent.
    #[error("offset {offset} is out of range 0..={max}")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: u64,
        /// The largest allowed.
        max: u64,
    },
    /// A search query without a single word in it.
    #[error("search query has no words (letters or digits)")]
    EmptyQuery,
    /// An update that changes nothing.
    #[error("update names no field to change")]
    EmptyUpdate,
    /// An event whose command code is unknown.
    #[error("unknown command code {0}")]
    UnknownCommand(u8),
    /// An event with bits set where the layout requires zero.
    #[error("event field {field} holds {value}, which its command does not allow")]
    BadField {
        /// The field's name.
        field: &'static str,
        /// What it holds.
        value: u64,
    },
}

/// A well-formed command the catalog refused; the state is unchanged.
///
/// # Examples
///
/// ```
/// use ringmaster::shop::Rejection;
/// assert_eq!(Rejection::NotFound { id: 7 }.to_string(), "no product with id 7");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// `Add` of an id that exists.
    #[error("product {id} already exists")]
    AlreadyExists {
        /// The id.
        id: u64,
    },
    /// `Update` or `Delete` of an id that does not exist.
    #[error("no product with id {id}")]
    NotFound {
        /// The id.
        id: u64,
    },
    /// A write of a transaction that was cut short (the primary stopped
    /// between two of its writes): not applied, as none of the
    /// transaction's writes are. Seen only by a standby's applier.
    #[error("part of transaction {tag} that did not complete: not applied")]
    IncompleteTransaction {
        /// The transaction's tag.
        tag: u32,
    },
}
