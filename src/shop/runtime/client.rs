//! [`Client`]: a handle that sends commands into the shop's ring and
//! receives their replies, blocking or pipelined.

use super::error::ShopError;
use super::registry::{Delivery, Registry, Wake};
use crate::clock;
use crate::shop::domain::{Command, Completion, Product, ProductEvent, Reply, SearchHit, TxnMark};
use crate::wait::Waiter;
use crate::{ClaimError, MultiProducer};
use crossbeam_channel::{Receiver, TryRecvError};
use std::collections::VecDeque;
use std::sync::Arc;

/// A connection to a [`Shop`](super::Shop): blocking calls (`add`, `get`,
/// `search`, ...) and a pipelined form ([`Client::submit`] then
/// [`Client::next_completion`]) that keeps many requests in flight.
///
/// `Send` but not `Sync`: one thread at a time. For several threads,
/// [`Clone`] it: each clone is a new client with its own reply channel.
/// A client's replies arrive in the order of its requests.
///
/// # Examples
///
/// ```
/// use ringmaster::shop::{Command, Reply, Shop, ShopConfig, ShopError, Rejection};
///
/// # let dir = std::env::temp_dir().join(format!("rm-doc-client-{}", std::process::id()));
/// # let _ = std::fs::remove_dir_all(&dir);
/// let shop = Shop::open(ShopConfig::new(&dir))?;
/// let mut client = shop.client()?;
///
/// // Blocking calls.
/// client.add(1, "Walnut Chopping Board", 3_900, 25)?;
/// assert!(matches!(client.add(1, "Again", 1, 1), Err(ShopError::Rejected(Rejection::AlreadyExists { id: 1 }))));
/// assert_eq!(client.search("walnut ch", 10)?[0].id, 1);
///
/// // Pipelined: submit many, then collect the completions in order.
/// for id in 2..=1000 {
///     client.submit(&Command::add(id, &format!("Board {id}"), 100, 1)?)?;
/// }
/// let mut added = 0;
/// while let Some(done) = client.next_completion()? {
///     assert!(matches!(done.reply, Reply::Added(_)));
///     added += 1;
/// }
/// assert_eq!(added, 999);
/// assert_eq!(client.count()?, 1000);
/// drop(client);
/// shop.close()?;
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Client {
    id: u32,
    producer: MultiProducer<ProductEvent>,
    replies: Receiver<Delivery>,
    buffered: VecDeque<Completion>,
    registry: Arc<Registry>,
    next_request: u64,
    in_flight: u64,
    max_in_flight: u64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("in_flight", &self.in_flight)
            .finish_non_exhaustive()
    }
}

fn closed(_: ClaimError) -> ShopError {
    ShopError::Closed
}

impl Client {
    pub(crate) fn connect(
        producer: MultiProducer<ProductEvent>,
        registry: Arc<Registry>,
        max_in_flight: u64,
    ) -> Result<Self, ShopError> {
        Self::connect_with_wake(producer, registry, max_in_flight, None)
    }

    pub(crate) fn connect_with_wake(
        producer: MultiProducer<ProductEvent>,
        registry: Arc<Registry>,
        max_in_flight: u64,
        wake: Option<Wake>,
    ) -> Result<Self, ShopError> {
        let (id, replies) = registry.register(wake).ok_or(ShopError::Closed)?;
        Ok(Self {
            id,
            producer,
            replies,
            buffered: VecDeque::new(),
            registry,
            next_request: 1,
            in_flight: 0,
            max_in_flight,
        })
    }

    /// A new client on the same shop (its own id and replies).
    ///
    /// # Errors
    ///
    /// [`ShopError::Closed`] when the shop is closed.
    pub fn try_clone(&self) -> Result<Self, ShopError> {
        Self::connect(
            self.producer.clone(),
            Arc::clone(&self.registry),
            self.max_in_flight,
        )
    }

    /// This client's id (the `client` field of its events).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Requests submitted whose completions were not yet taken.
    pub fn in_flight(&self) -> u64 {
        self.in_flight
    }

    fn check_window(&self, more: u64) -> Result<(), ShopError> {
        if self.in_flight + more > self.max_in_flight {
            return Err(ShopError::InFlightLimit {
                in_flight: self.in_flight,
                limit: self.max_in_flight,
            });
        }
        Ok(())
    }

    /// Publish `command` without waiting for its reply; returns the request
    /// id its [`Completion`] will carry. Blocks only while the ring is full.
    ///
    /// # Errors
    ///
    /// [`ShopError::InFlightLimit`], [`ShopError::Closed`].
    pub fn submit(&mut self, command: &Command) -> Result<u64, ShopError> {
        self.check_window(1)?;
        let request = self.next_request;
        let client = self.id;
        let now = clock::now_ns();
        self.producer
            .publish_with(|slot| {
                slot.set(command, request, client);
                slot.stamp(now);
            })
            .map_err(closed)?;
        self.next_request += 1;
        self.in_flight += 1;
        Ok(request)
    }

    /// Publish several commands as one batch (claimed together, one
    /// publish); returns the first request id, the others follow in order.
    ///
    /// # Errors
    ///
    /// [`ShopError::InFlightLimit`], [`ShopError::Closed`].
    pub fn submit_batch(&mut self, commands: &[Command]) -> Result<u64, ShopError> {
        self.submit_marked(commands, &[])
    }

    /// Publish `commands` as a transaction: one contiguous claim, so the
    /// stages apply them with nothing in between, and journaled so that
    /// recovery (and a standby) applies all of its writes or, if a crash cut
    /// it short, none. None of its replies is delivered before every one of
    /// its writes is committed. Returns the first request id.
    ///
    /// Business outcomes do not roll a transaction back (as in Redis): an
    /// `ADD` of a taken id inside one is answered with its rejection and the
    /// others still apply.
    ///
    /// # Errors
    ///
    /// [`ShopError::InFlightLimit`], [`ShopError::Closed`], and
    /// [`ShopError::Config`] for a transaction larger than the ring.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::shop::{Command, Reply, Shop, ShopConfig};
    /// # let dir = std::env::temp_dir().join(format!("rm-doc-txn-{}", std::process::id()));
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// let shop = Shop::open(ShopConfig::new(&dir))?;
    /// let mut client = shop.client()?;
    /// client.submit_transaction(&[
    ///     Command::add(1, "Mug", 900, 4)?,
    ///     Command::update(1, None, Some(3), None)?,
    ///     Command::Count,
    /// ])?;
    /// let replies: Vec<Reply> = std::iter::from_fn(|| client.next_completion().unwrap())
    ///     .map(|c| c.reply)
    ///     .collect();
    /// assert!(matches!(replies[..], [Reply::Added(_), Reply::Updated(_), Reply::Count(1)]));
    /// # drop(client);
    /// # shop.close()?;
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit_transaction(&mut self, commands: &[Command]) -> Result<u64, ShopError> {
        if commands.len() as u64 > self.producer.ring().capacity() {
            return Err(ShopError::Config {
                what: "transaction size",
                value: commands.len() as u64,
                rule: "a transaction fits in the ring",
            });
        }
        let marks = self.transaction_marks(commands);
        self.submit_marked(commands, &marks)
    }

    /// The marks of `commands` as one transaction: each write's place among
    /// its writes under a fresh tag, reads unmarked.
    pub(crate) fn transaction_marks(&self, commands: &[Command]) -> Vec<TxnMark> {
        let writes = commands.iter().filter(|c| c.is_write()).count() as u32;
        let tag = if writes > 1 {
            self.registry.txn_tag()
        } else {
            0
        };
        let mut marks = TxnMark::for_writes(tag, writes);
        commands
            .iter()
            .map(|c| {
                if c.is_write() {
                    marks.next().unwrap_or(TxnMark::NONE)
                } else {
                    TxnMark::NONE
                }
            })
            .collect()
    }

    /// Publish `commands` as one batch, each write with its mark from
    /// `marks` (none when `marks` is empty), in claims of at most the
    /// ring's capacity (a batch that fits is one claim).
    pub(crate) fn submit_marked(
        &mut self,
        commands: &[Command],
        marks: &[TxnMark],
    ) -> Result<u64, ShopError> {
        self.check_window(commands.len() as u64)?;
        let capacity = self.producer.ring().capacity() as usize;
        let first = self.next_request;
        let client = self.id;
        for (at, chunk) in (0..).step_by(capacity).zip(commands.chunks(capacity)) {
            let base = self.next_request;
            let now = clock::now_ns();
            self.producer
                .publish_batch_with(chunk.len() as u64, |i, slot| {
                    slot.set(&chunk[i as usize], base + i, client);
                    if let Some(&mark) = marks.get(at + i as usize) {
                        slot.set_txn_mark(mark);
                    }
                    slot.stamp(now);
                })
                .map_err(closed)?;
            self.next_request += chunk.len() as u64;
            self.in_flight += chunk.len() as u64;
        }
        Ok(first)
    }

    /// Wait for the next batch of replies the way the shop's stages wait
    /// for events: `Blocking` sleeps on the channel; the other strategies
    /// poll it, spinning or yielding as the stages do, because a parked
    /// thread takes a futex wake-up to answer (tens of microseconds on a
    /// virtual machine), the hop a spinning or yielding client skips.
    fn receive(&mut self) -> Result<(), ShopError> {
        let ring = self.producer.ring();
        let mut polled = None;
        if !matches!(ring.waiter(), Waiter::Blocking(_)) {
            let replies = &self.replies;
            // Whatever the outcome, `polled` says it: a batch, or `None`
            // for a closed channel. A halted ring ends the polling too,
            // and the blocking receive below settles it.
            let _ = ring.waiter().wait_until(
                || match replies.try_recv() {
                    Ok(batch) => {
                        polled = Some(Some(batch));
                        Ok(0)
                    }
                    Err(TryRecvError::Disconnected) => {
                        polled = Some(None);
                        Ok(0)
                    }
                    Err(TryRecvError::Empty) => Err(crate::wait::CURSOR),
                },
                ring.alerted(),
                None,
            );
        }
        let batch = match polled {
            Some(batch) => batch,
            None => self.replies.recv().ok(),
        }
        .ok_or(ShopError::Closed)?;
        self.buffered.extend(batch);
        Ok(())
    }

    /// The next completion in request order, waiting for it; `None` when
    /// nothing is in flight.
    ///
    /// # Errors
    ///
    /// [`ShopError::Closed`] when the engine stopped before replying.
    pub fn next_completion(&mut self) -> Result<Option<Completion>, ShopError> {
        if self.in_flight == 0 {
            return Ok(None);
        }
        if self.buffered.is_empty() {
            self.receive()?;
        }
        self.in_flight -= 1;
        Ok(self.buffered.pop_front())
    }

    /// Whether the shop's engine stopped (a stage failed, or the shop is
    /// closing): no reply will come for requests still in flight.
    pub fn is_halted(&self) -> bool {
        self.producer.ring().is_halted()
    }

    /// The next completion if one has arrived, without waiting.
    pub fn try_completion(&mut self) -> Option<Completion> {
        if self.buffered.is_empty() {
            self.buffered.extend(self.replies.try_iter().flatten());
        }
        let done = self.buffered.pop_front()?;
        self.in_flight -= 1;
        Some(done)
    }

    /// Submit `command` and wait for its reply. Completions of earlier
    /// pipelined requests stay queued for [`Client::next_completion`].
    ///
    /// # Errors
    ///
    /// [`ShopError::InFlightLimit`], [`ShopError::Closed`].
    pub fn call(&mut self, command: &Command) -> Result<Reply, ShopError> {
        let request = self.submit(command)?;
        loop {
            // Replies come in request order and nothing was submitted
            // after this one, so it is the newest completion to arrive.
            if self
                .buffered
                .back()
                .is_some_and(|c| c.request_id == request)
            {
                let done = self.buffered.pop_back().map(|c| c.reply);
                self.in_flight -= 1;
                return done.ok_or(ShopError::Closed);
            }
            self.receive()?;
        }
    }

    fn expect<T>(
        &mut self,
        command: Command,
        pick: impl FnOnce(Reply) -> Result<T, Reply>,
    ) -> Result<T, ShopError> {
        let request = self.next_request;
        match pick(self.call(&command)?) {
            Ok(v) => Ok(v),
            Err(Reply::Rejected(r)) => Err(ShopError::Rejected(r)),
            Err(Reply::Invalid(e)) => Err(ShopError::Invalid(e)),
            Err(other) => Err(ShopError::UnexpectedReply {
                request_id: request,
                reply: format!("{other:?}"),
            }),
        }
    }

    /// Add a product; returns it (version 1).
    ///
    /// # Errors
    ///
    /// [`ShopError::Invalid`] (zero id, bad name, negative price or stock),
    /// [`ShopError::Rejected`] with `AlreadyExists`, [`ShopError::Closed`].
    pub fn add(
        &mut self,
        id: u64,
        name: &str,
        price_cents: i64,
        stock: i64,
    ) -> Result<Product, ShopError> {
        let command = Command::add(id, name, price_cents, stock)?;
        self.expect(command, |r| match r {
            Reply::Added(p) => Ok(p),
            r => Err(r),
        })
    }

    /// Change any of price, stock and name; returns the updated product.
    ///
    /// # Errors
    ///
    /// [`ShopError::Invalid`], [`ShopError::Rejected`] with `NotFound`,
    /// [`ShopError::Closed`].
    pub fn update(
        &mut self,
        id: u64,
        price_cents: Option<i64>,
        stock: Option<i64>,
        name: Option<&str>,
    ) -> Result<Product, ShopError> {
        let command = Command::update(id, price_cents, stock, name)?;
        self.expect(command, |r| match r {
            Reply::Updated(p) => Ok(p),
            r => Err(r),
        })
    }

    /// Delete a product.
    ///
    /// # Errors
    ///
    /// [`ShopError::Invalid`], [`ShopError::Rejected`] with `NotFound`,
    /// [`ShopError::Closed`].
    pub fn delete(&mut self, id: u64) -> Result<(), ShopError> {
        let command = Command::delete(id)?;
        self.expect(command, |r| match r {
            Reply::Deleted { .. } => Ok(()),
            r => Err(r),
        })
    }

    /// Read a product (`None` if there is none with this id).
    ///
    /// # Errors
    ///
    /// [`ShopError::Invalid`] for id 0, [`ShopError::Closed`].
    pub fn get(&mut self, id: u64) -> Result<Option<Product>, ShopError> {
        let command = Command::get(id)?;
        self.expect(command, |r| match r {
            Reply::Found(p) => Ok(p),
            r => Err(r),
        })
    }

    /// A page of products in id order.
    ///
    /// # Errors
    ///
    /// [`ShopError::Invalid`] for a limit outside 1..=1000,
    /// [`ShopError::Closed`].
    pub fn list(&mut self, offset: u64, limit: u64) -> Result<Vec<Product>, ShopError> {
        let command = Command::list(offset, limit)?;
        self.expect(command, |r| match r {
            Reply::Page(p) => Ok(p),
            r => Err(r),
        })
    }

    /// Products matching `query` (every word, the last as a prefix), in id
    /// order.
    ///
    /// # Errors
    ///
    /// [`ShopError::Invalid`] for an empty or over-long query or a limit
    /// outside 1..=100, [`ShopError::Closed`].
    pub fn search(&mut self, query: &str, limit: u64) -> Result<Vec<SearchHit>, ShopError> {
        let command = Command::search(query, limit)?;
        self.expect(command, |r| match r {
            Reply::Hits(h) => Ok(h),
            r => Err(r),
        })
    }

    /// How many products exist.
    ///
    /// # Errors
    ///
    /// [`ShopError::Closed`].
    pub fn count(&mut self) -> Result<u64, ShopError> {
        self.expect(Command::Count, |r| match r {
            Reply::Count(n) => Ok(n),
            r => Err(r),
        })
    }

    /// The catalog's digest, after every earlier write.
    ///
    /// # Errors
    ///
    /// [`ShopError::Closed`].
    pub fn digest(&mut self) -> Result<u64, ShopError> {
        self.expect(Command::Digest, |r| match r {
            Reply::Digest(d) => Ok(d),
            r => Err(r),
        })
    }

    /// Snapshot the catalog now; returns the journal records it covers.
    /// The file is written in the background (and surely by `close`).
    ///
    /// # Errors
    ///
    /// [`ShopError::Closed`].
    pub fn snapshot(&mut self) -> Result<u64, ShopError> {
        self.expect(Command::Snapshot, |r| match r {
            Reply::SnapshotQueued { sequence } => Ok(sequence),
            r => Err(r),
        })
    }
}
