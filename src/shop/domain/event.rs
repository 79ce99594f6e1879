//! [`ProductEvent`]: the fixed-size record a [`Command`] travels in, through
//! the ring and into the journal.
//!
//! # Layout (128 bytes, two cache lines, little-endian)
//!
//! | offset | size | field | meaning |
//! |---:|---:|---|---|
//! | 0 | 8 | `request_id` | the client's correlation id (0 in the journal) |
//! | 8 | 8 | `product_id` | `Add`/`Update`/`Delete`/`Get`; else 0 |
//! | 16 | 8 | `price_cents` | `Add`, `Update` with the price bit; at most `i64::MAX` |
//! | 24 | 8 | `stock` | `Add`, `Update` with the stock bit; at most `i64::MAX` |
//! | 32 | 4 | `offset` | `List` |
//! | 36 | 4 | `limit` | `List` (1..=1000), `Search` (1..=100) |
//! | 40 | 4 | `client` | which client gets the reply (0 in the journal) |
//! | 44 | 1 | `command` | 1 Add, 2 Update, 3 Delete, 4 Get, 5 List, 6 Search, 7 Count, 8 Digest, 9 Snapshot |
//! | 45 | 1 | `fields` | `Update`: bit 0 price, bit 1 stock, bit 2 name (at least one) |
//! | 46 | 1 | `name_len` | bytes of `name` used: `Add`, `Update` with the name bit, `Search` |
//! | 47 | 1 | reserved | zero |
//! | 48 | 8 | `published_ns` | when a client published it (the shop's clock, ns); 0 in the journal; any value decodes |
//! | 56 | 4 | `txn_tag` | a write inside a transaction: its transaction's tag (non-zero); else 0 |
//! | 60 | 4 | `txn_remaining` | writes of the same transaction after this one; 0 without a tag |
//! | 64 | 64 | `name` | UTF-8 name or query, zero-padded |
//!
//! Decoding is strict: every field a command does not use must be zero, so
//! one command has exactly one encoding and a journal record that passed
//! its checksum but came from elsewhere is refused. Only writes carry a
//! transaction mark ([`TxnMark`]); records written before marks existed
//! hold zeros there and read as writes outside any transaction.

use super::command::{Command, MAX_LIST_LIMIT, MAX_SEARCH_LIMIT};
use super::error::ValidationError;
use super::name::{Name, MAX_NAME_LEN};
use super::search::has_words;
use super::transaction::TxnMark;

const ADD: u8 = 1;
const UPDATE: u8 = 2;
const DELETE: u8 = 3;
const GET: u8 = 4;
const LIST: u8 = 5;
const SEARCH: u8 = 6;
const COUNT: u8 = 7;
const DIGEST: u8 = 8;
const SNAPSHOT: u8 = 9;

const PRICE_BIT: u8 = 1;
const STOCK_BIT: u8 = 2;
const NAME_BIT: u8 = 4;

/// A [`Command`] in its fixed-size ring and journal form.
///
/// `Copy` and [`bytemuck::Pod`]: written in place into a ring slot and
/// copied byte for byte into the journal.
///
/// # Examples
///
/// ```
/// use ringmaster::shop::{Command, ProductEvent};
///
/// let cmd = Command::add(7, "Steel Water Bottle", 2450, 40)?;
/// let event = ProductEvent::encode(&cmd, 99, 3);
/// assert_eq!(std::mem::size_of::<ProductEvent>(), 128);
/// assert_eq!((event.request_id(), event.client()), (99, 3));
/// assert_eq!(event.decode()?, cmd);
/// # Ok::<(), ringmaster::shop::ValidationError>(())
/// ```
#[repr(C, align(64))]
#[derive(Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct ProductEvent {
    request_id: u64,
    product_id: u64,
    price_cents: u64,
    stock: u64,
    offset: u32,
    limit: u32,
    client: u32,
    command: u8,
    fields: u8,
    name_len: u8,
    reserved: u8,
    published_ns: u64,
    txn_tag: u32,
    txn_remaining: u32,
    name: [u8; MAX_NAME_LEN],
}

const _: () = assert!(std::mem::size_of::<ProductEvent>() == 128);

impl Default for ProductEvent {
    fn default() -> Self {
        bytemuck::Zeroable::zeroed()
    }
}

impl std::fmt::Debug for ProductEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProductEvent")
            .field("request_id", &self.request_id)
            .field("client", &self.client)
            .field("command", &self.decode())
            .finish()
    }
}

fn must_be_zero(field: &'static str, value: u64) -> Result<(), ValidationError> {
    if value == 0 {
        Ok(())
    } else {
        Err(ValidationError::BadField { field, value })
    }
}

fn amount(field: &'static str, value: u64) -> Result<u64, ValidationError> {
    if value > i64::MAX as u64 {
        Err(ValidationError::BadField { field, value })
    } else {
        Ok(value)
    }
}

fn bounded(field: &'static str, value: u32, max: u32) -> Result<u32, ValidationError> {
    if value == 0 || value > max {
        Err(ValidationError::BadField {
            field,
            value: u64::from(value),
        })
    } else {
        Ok(value)
    }
}

impl ProductEvent {
    /// Encode `command` for `client`, correlated by `request_id`.
    pub fn encode(command: &Command, request_id: u64, client: u32) -> Self {
        let mut e = Self {
            request_id,
            client,
            ..Self::default()
        };
        e.write(command);
        e
    }

    /// Overwrite this event in place (e.g. a ring slot) with `command`.
    pub fn set(&mut self, command: &Command, request_id: u64, client: u32) {
        *self = Self::default();
        self.request_id = request_id;
        self.client = client;
        self.write(command);
    }

    fn set_name(&mut self, name: &Name) {
        self.name_len = name.len() as u8;
        self.name[..name.len()].copy_from_slice(name.as_bytes());
    }

    fn write(&mut self, command: &Command) {
        match *command {
            Command::Add {
                id,
                name,
                price_cents,
                stock,
            } => {
                self.command = ADD;
                self.product_id = id;
                self.price_cents = price_cents;
                self.stock = stock;
                self.set_name(&name);
            }
            Command::Update {
                id,
                price_cents,
                stock,
                name,
            } => {
                self.command = UPDATE;
                self.product_id = id;
                if let Some(p) = price_cents {
                    self.fields |= PRICE_BIT;
                    self.price_cents = p;
                }
                if let Some(s) = stock {
                    self.fields |= STOCK_BIT;
                    self.stock = s;
                }
                if let Some(n) = name {
                    self.fields |= NAME_BIT;
                    self.set_name(&n);
                }
            }
            Command::Delete { id } => {
                self.command = DELETE;
                self.product_id = id;
            }
            Command::Get { id } => {
                self.command = GET;
                self.product_id = id;
            }
            Command::List { offset, limit } => {
                self.command = LIST;
                self.offset = offset;
                self.limit = limit;
            }
            Command::Search { query, limit } => {
                self.command = SEARCH;
                self.limit = limit;
                self.set_name(&query);
            }
            Command::Count => self.command = COUNT,
            Command::Digest => self.command = DIGEST,
            Command::Snapshot => self.command = SNAPSHOT,
        }
    }

    /// The client's correlation id.
    pub fn request_id(&self) -> u64 {
        self.request_id
    }

    /// The client the reply goes to.
    pub fn client(&self) -> u32 {
        self.client
    }

    /// The product the command names (`Add`, `Update`, `Delete`, `Get`),
    /// reading only the command byte and the id: what a stage looking
    /// ahead needs to prefetch.
    ///
    /// ```
    /// use ringmaster::shop::{Command, ProductEvent};
    /// let get = ProductEvent::encode(&Command::Get { id: 42 }, 1, 1);
    /// assert_eq!(get.product_id(), Some(42));
    /// assert_eq!(ProductEvent::encode(&Command::Count, 2, 1).product_id(), None);
    /// ```
    #[inline]
    pub fn product_id(&self) -> Option<u64> {
        matches!(self.command, ADD | UPDATE | DELETE | GET).then_some(self.product_id)
    }

    /// Whether this is a write (`Add`, `Update`, `Delete`): the journal
    /// keeps these and skips the rest. Reads only the command byte.
    #[inline]
    pub fn is_write(&self) -> bool {
        matches!(self.command, ADD | UPDATE | DELETE)
    }

    /// Whether the search index has anything to do with it: `Add`,
    /// `Delete`, an `Update` that renames, or a `Search`. Reads only the
    /// command and fields bytes (price and stock updates, the most common
    /// writes, are skipped without decoding).
    #[inline]
    pub fn concerns_index(&self) -> bool {
        match self.command {
            ADD | DELETE | SEARCH => true,
            UPDATE => self.fields & NAME_BIT != 0,
            _ => false,
        }
    }

    /// Whether this is a `Search` (answered by the search index, not the
    /// catalog). Reads only the command byte.
    #[inline]
    pub fn is_search(&self) -> bool {
        self.command == SEARCH
    }

    /// This event with the routing fields (request id, client) and the
    /// publish time zeroed: what the journal stores, so a record depends
    /// only on the command.
    pub fn for_journal(&self) -> Self {
        Self {
            request_id: 0,
            client: 0,
            published_ns: 0,
            ..*self
        }
    }

    /// Where this write stands in a transaction ([`TxnMark::NONE`] outside
    /// one). Any value reads; [`decode`](Self::decode) checks it.
    #[inline]
    pub fn txn_mark(&self) -> TxnMark {
        TxnMark {
            tag: self.txn_tag,
            remaining: self.txn_remaining,
        }
    }

    /// Mark this event (a write) as part of a transaction.
    pub fn set_txn_mark(&mut self, mark: TxnMark) {
        self.txn_tag = mark.tag;
        self.txn_remaining = mark.remaining;
    }

    /// When the client published it, in the shop's clock (0: not stamped).
    pub fn published_ns(&self) -> u64 {
        self.published_ns
    }

    /// Set the publish time in place (a ring slot).
    pub fn stamp(&mut self, published_ns: u64) {
        self.published_ns = published_ns;
    }

    /// This event stamped with a publish time (the stages measure their
    /// latency from it).
    pub fn stamped(self, published_ns: u64) -> Self {
        Self {
            published_ns,
            ..self
        }
    }

    fn name_field(&self, required: bool) -> Result<Option<Name>, ValidationError> {
        let len = self.name_len as usize;
        if len > MAX_NAME_LEN {
            return Err(ValidationError::NameTooLong {
                len,
                max: MAX_NAME_LEN,
            });
        }
        if !all_zero(&self.name[len..]) {
            let i = self.name[len..].iter().position(|&b| b != 0).unwrap_or(0);
            return Err(ValidationError::BadField {
                field: "name padding",
                value: (len + i) as u64,
            });
        }
        if !required {
            must_be_zero("name_len", len as u64)?;
            return Ok(None);
        }
        Name::from_bytes(&self.name[..len]).map(Some)
    }

    fn required_name(&self) -> Result<Name, ValidationError> {
        self.name_field(true)?.ok_or(ValidationError::EmptyName)
    }

    /// Decode and validate; never panics, whatever the bytes.
    ///
    /// # Errors
    ///
    /// `UnknownCommand`, `BadField` for a field the command does not use
    /// that is not zero or a value out of range, and the name errors.
    pub fn decode(&self) -> Result<Command, ValidationError> {
        must_be_zero("reserved", u64::from(self.reserved))?;
        if !self.is_write() || self.txn_tag == 0 {
            must_be_zero("txn_tag", u64::from(self.txn_tag))?;
            must_be_zero("txn_remaining", u64::from(self.txn_remaining))?;
        }
        let uses_id = matches!(self.command, ADD | UPDATE | DELETE | GET);
        if uses_id && self.product_id == 0 {
            return Err(ValidationError::ZeroId);
        }
        if !uses_id {
            must_be_zero("product_id", self.product_id)?;
        }
        if self.command != UPDATE {
            must_be_zero("fields", u64::from(self.fields))?;
        }
        if self.command != ADD && self.command != UPDATE {
            must_be_zero("price_cents", self.price_cents)?;
            must_be_zero("stock", self.stock)?;
        }
        if self.command != LIST {
            must_be_zero("offset", u64::from(self.offset))?;
        }
        if self.command != LIST && self.command != SEARCH {
            must_be_zero("limit", u64::from(self.limit))?;
        }
        let command = match self.command {
            ADD => Command::Add {
                id: self.product_id,
                name: self.required_name()?,
                price_cents: amount("price_cents", self.price_cents)?,
                stock: amount("stock", self.stock)?,
            },
            UPDATE => {
                if self.fields == 0 || self.fields & !(PRICE_BIT | STOCK_BIT | NAME_BIT) != 0 {
                    return Err(ValidationError::BadField {
                        field: "fields",
                        value: u64::from(self.fields),
                    });
                }
                let has = |bit: u8| self.fields & bit != 0;
                if !has(PRICE_BIT) {
                    must_be_zero("price_cents", self.price_cents)?;
                }
                if !has(STOCK_BIT) {
                    must_be_zero("stock", self.stock)?;
                }
                Command::Update {
                    id: self.product_id,
                    price_cents: has(PRICE_BIT)
                        .then(|| amount("price_cents", self.price_cents))
                        .transpose()?,
                    stock: has(STOCK_BIT)
                        .then(|| amount("stock", self.stock))
                        .transpose()?,
                    name: self.name_field(has(NAME_BIT))?,
                }
            }
            DELETE | GET | COUNT | DIGEST | SNAPSHOT | LIST => {
                self.name_field(false)?;
                match self.command {
                    DELETE => Command::Delete {
                        id: self.product_id,
                    },
                    GET => Command::Get {
                        id: self.product_id,
                    },
                    COUNT => Command::Count,
                    DIGEST => Command::Digest,
                    SNAPSHOT => Command::Snapshot,
                    _ => Command::List {
                        offset: self.offset,
                        limit: bounded("limit", self.limit, MAX_LIST_LIMIT)?,
                    },
                }
            }
            SEARCH => {
                let query = self.required_name()?;
                if !has_words(query.as_str()) {
                    return Err(ValidationError::EmptyQuery);
                }
                Command::Search {
                    query,
                    limit: bounded("limit", self.limit, MAX_SEARCH_LIMIT)?,
                }
            }
            code => return Err(ValidationError::UnknownCommand(code)),
        };
        Ok(command)
    }
}

/// Whether every byte is zero: one OR over the bytes, which the compiler
/// turns into a few vector instructions (a search for the first non-zero
/// byte goes byte by byte); the position is looked for only on failure.
#[inline]
fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |acc, &b| acc | b) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_round_trips() {
        let cmds = [
            Command::add(1, "A b", 0, i64::MAX).unwrap(),
            Command::update(2, Some(5), None, None).unwrap(),
            Command::update(2, None, Some(0), Some("Ünïcode")).unwrap(),
            Command::delete(3).unwrap(),
            Command::get(u64::MAX).unwrap(),
            Command::list(u64::from(u32::MAX), 1000).unwrap(),
            Command::search("blue sh", 100).unwrap(),
            Command::Count,
            Command::Digest,
            Command::Snapshot,
        ];
        for (i, c) in cmds.iter().enumerate() {
            let e = ProductEvent::encode(c, i as u64, 9);
            assert_eq!(e.decode().unwrap(), *c, "{c:?}");
            assert_eq!(e.is_write(), c.is_write());
            let renames = matches!(c, Command::Update { name: Some(_), .. });
            assert_eq!(
                e.concerns_index(),
                matches!(
                    c,
                    Command::Add { .. } | Command::Delete { .. } | Command::Search { .. }
                ) || renames
            );
            let mut slot = ProductEvent::encode(&Command::Count, 1, 1);
            slot.set(c, i as u64, 9);
            assert_eq!(slot, e);
        }
    }

    #[test]
    fn strict_decoding() {
        let mut e = ProductEvent::encode(&Command::get(5).unwrap(), 1, 1);
        e.price_cents = 3;
        assert!(matches!(
            e.decode(),
            Err(ValidationError::BadField {
                field: "price_cents",
                ..
            })
        ));
        let mut e = ProductEvent::encode(&Command::add(5, "x", 1, 1).unwrap(), 1, 1);
        e.name[10] = 1;
        assert!(matches!(
            e.decode(),
            Err(ValidationError::BadField {
                field: "name padding",
                ..
            })
        ));
        e.name[10] = 0;
        e.name_len = 200;
        assert!(e.decode().is_err());
        e.name_len = 0;
        assert!(matches!(
            e.decode(),
            Err(ValidationError::BadField {
                field: "name padding",
                value: 0
            })
        ));
        e.name[0] = 0;
        assert_eq!(e.decode(), Err(ValidationError::EmptyName));
        let stamped = ProductEvent::encode(&Command::Count, 1, 1).stamped(12345);
        assert_eq!(
            stamped.decode(),
            Ok(Command::Count),
            "any publish time decodes"
        );
        assert_eq!(stamped.for_journal().published_ns(), 0);
        let e = ProductEvent {
            txn_remaining: 1,
            command: 7,
            ..ProductEvent::default()
        };
        assert!(
            matches!(
                e.decode(),
                Err(ValidationError::BadField {
                    field: "txn_tag",
                    ..
                } | ValidationError::BadField {
                    field: "txn_remaining",
                    ..
                })
            ),
            "a read carries no transaction mark"
        );
        let mut add = ProductEvent::encode(&Command::add(5, "x", 1, 1).unwrap(), 1, 1);
        add.set_txn_mark(TxnMark {
            tag: 0,
            remaining: 2,
        });
        assert!(add.decode().is_err(), "a count without a tag");
        add.set_txn_mark(TxnMark {
            tag: 9,
            remaining: 2,
        });
        assert_eq!(add.decode(), Ok(Command::add(5, "x", 1, 1).unwrap()));
        assert_eq!(
            add.for_journal().txn_mark(),
            TxnMark {
                tag: 9,
                remaining: 2
            }
        );
        let mut e = ProductEvent::default();
        assert_eq!(e.decode(), Err(ValidationError::UnknownCommand(0)));
        e.command = 77;
        assert_eq!(e.decode(), Err(ValidationError::UnknownCommand(77)));
        let mut e = ProductEvent::encode(&Command::add(5, "x", 1, 1).unwrap(), 1, 1);
        e.stock = u64::MAX;
        assert!(e.decode().is_err());
    }
}
