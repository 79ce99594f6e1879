//! [`Reply`] and [`Completion`]: what comes back for each command.

use super::error::{Rejection, ValidationError};
use super::product::{Product, SearchHit};

/// The answer to one [`Command`](super::Command).
///
/// Business refusals are replies ([`Reply::Rejected`]) that leave the
/// state unchanged, not errors of the engine.
///
/// # Examples
///
/// ```
/// use ringmaster::shop::{Rejection, Reply};
/// let r = Reply::Rejected(Rejection::NotFound { id: 4 });
/// assert!(!r.is_ok());
/// assert!(Reply::Deleted { id: 4 }.is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `Add` succeeded: the new product (version 1).
    Added(Product),
    /// `Update` succeeded: the product as it is now.
    Updated(Product),
    /// `Delete` succeeded.
    Deleted {
        /// The id removed.
        id: u64,
    },
    /// `Get`: the product, or `None` when there is no such id.
    Found(Option<Product>),
    /// `List`: a page of products in id order.
    Page(Vec<Product>),
    /// `Search`: matching products in id order.
    Hits(Vec<SearchHit>),
    /// `Count`: how many products exist.
    Count(u64),
    /// `Digest`: the catalog's order-independent digest.
    Digest(u64),
    /// `Snapshot`: the state up to this journal sequence was handed to the
    /// snapshot writer (it is on disk when the shop is closed, or sooner).
    SnapshotQueued {
        /// Journal records the snapshot covers.
        sequence: u64,
    },
    /// The catalog refused the command; nothing changed.
    Rejected(Rejection),
    /// The event did not decode. Only reachable by publishing raw events
    /// that bypassed [`Command`](super::Command)'s validation.
    Invalid(ValidationError),
}

impl Reply {
    /// Whether the command did what it asked (not rejected or invalid).
    pub fn is_ok(&self) -> bool {
        !matches!(self, Self::Rejected(_) | Self::Invalid(_))
    }
}

/// A reply with the request id it answers.
///
/// # Examples
///
/// ```
/// use ringmaster::shop::{Completion, Reply};
/// let c = Completion { request_id: 5, reply: Reply::Count(0) };
/// assert_eq!(c.request_id, 5);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The id [`Client::submit`](crate::shop::Client::submit) returned.
    pub request_id: u64,
    /// The answer.
    pub reply: Reply,
}
