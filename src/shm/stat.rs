//! [`RingStat`]: a running shared ring's progress, read from its file by any
//! process without attaching (no slot is taken, nothing is written), like
//! Aeron's counters tool. `ringmaster stat FILE` prints it.

use super::liveness::{self, Status};
use super::shared_ring::{io, read_header};
use super::ShmError;
use crate::region::token::pid_of;
use crate::region::{ControlView, RegionHeader, MAX_CONSUMERS, MAX_PRODUCERS};
use crate::sync::Ordering;
use std::fmt;
use std::path::Path;

/// A process named in a ring's header, and whether it still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessStat {
    /// Its pid.
    pub pid: u32,
    /// Whether it is alive (same pid and start time, not a zombie).
    pub alive: bool,
}

/// One allocated consumer slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumerStat {
    /// Slot in the header.
    pub slot: usize,
    /// Events it has processed.
    pub sequence: u64,
    /// Cursor minus its sequence: events published (or claimed) that it
    /// has not processed yet.
    pub lag: u64,
    /// Whether producers wait for it.
    pub gating: bool,
    /// The process that owns it (`None` for a slot of a private ring).
    pub owner: Option<ProcessStat>,
}

/// A snapshot of a shared ring's counters.
///
/// # Examples
///
/// ```
/// use ringmaster::shm::{RingStat, SharedOptions, SharedRing};
/// use ringmaster::{NoopHandler, RingConfig};
///
/// let path = std::env::temp_dir().join(format!("doc-stat-{}", std::process::id()));
/// let ring = SharedRing::<u64>::create(&path, &RingConfig::new(64), &SharedOptions::default())?;
/// let mut consumers = ring.consumers();
/// consumers.handler("sink", NoopHandler).add();
/// let graph = consumers.build_consumers()?;
/// let mut producer = ring.single_producer()?;
/// for i in 0..10 {
///     producer.publish(i)?;
/// }
/// graph.shutdown()?; // drained: the sink processed all ten
///
/// let stat = RingStat::read(&path)?;
/// assert_eq!(stat.cursor, 10);
/// assert_eq!(stat.header.capacity, 64);
/// assert_eq!(stat.producers.len(), 1);
/// assert!(stat.producers[0].alive);
/// println!("{stat}");
/// ring.remove()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingStat {
    /// The validated header.
    pub header: RegionHeader,
    /// Events published (one producer) or claimed (several).
    pub cursor: u64,
    /// Every allocated consumer slot, in slot order.
    pub consumers: Vec<ConsumerStat>,
    /// Every registered producer, in slot order.
    pub producers: Vec<ProcessStat>,
    /// The process that created the ring.
    pub creator: Option<ProcessStat>,
    /// Claims unblocked after their producer died.
    pub unblocked: u64,
    /// Consumers evicted after their process died.
    pub evicted: u64,
    /// Producer processes found dead.
    pub producer_deaths: u64,
    /// Whether the creator removed the ring.
    pub removed: bool,
}

fn process(token: u64) -> Option<ProcessStat> {
    (token != 0).then(|| ProcessStat {
        pid: pid_of(token),
        alive: liveness::status(token) == Status::Alive,
    })
}

impl RingStat {
    /// Read the ring at `path`: the header with plain reads (validated as
    /// by `attach`, without the type checks), the counters through a
    /// read-only mapping with atomic loads.
    ///
    /// # Errors
    ///
    /// [`ShmError::NotFound`], [`ShmError::Header`],
    /// [`ShmError::FileLength`], [`ShmError::Io`].
    pub fn read(path: impl AsRef<Path>) -> Result<Self, ShmError> {
        let path = path.as_ref();
        let mut file = std::fs::File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ShmError::NotFound {
                path: path.to_path_buf(),
            },
            _ => io("open", path, e),
        })?;
        let header = read_header(&mut file, path)?;
        let file_len = file.metadata().map_err(|e| io("inspect", path, e))?.len();
        if file_len != header.region_len {
            return Err(ShmError::FileLength {
                path: path.to_path_buf(),
                file_len,
                region_len: header.region_len,
            });
        }
        let view = ControlView::map(&file).map_err(|e| io("map", path, e))?;
        let control = view.control();
        let cursor = control.cursor.get_relaxed();
        // Relaxed throughout: a snapshot for display; no data is read on
        // the strength of these values.
        let allocated = control.shared.allocated_mask.load(Ordering::Relaxed);
        let gating = control.shared.gating_mask.load(Ordering::Relaxed);
        let consumers = (0..MAX_CONSUMERS)
            .filter(|slot| allocated & (1 << slot) != 0)
            .map(|slot| {
                let sequence = control.consumers[slot].get_relaxed();
                ConsumerStat {
                    slot,
                    sequence,
                    lag: cursor.saturating_sub(sequence),
                    gating: gating & (1 << slot) != 0,
                    owner: process(control.consumer_owners[slot].load(Ordering::Relaxed)),
                }
            })
            .collect();
        let producers = (0..MAX_PRODUCERS)
            .filter_map(|slot| process(control.producer_owners[slot].load(Ordering::Relaxed)))
            .collect();
        Ok(Self {
            header,
            cursor,
            consumers,
            producers,
            creator: process(control.state.creator.load(Ordering::Relaxed)),
            unblocked: control.state.unblocked.load(Ordering::Relaxed),
            evicted: control.state.evicted.load(Ordering::Relaxed),
            producer_deaths: control.state.producer_deaths.load(Ordering::Relaxed),
            removed: control.state.removed.load(Ordering::Relaxed) != 0,
        })
    }

    /// Slots between the cursor and the slowest gating consumer: how full
    /// the ring is.
    pub fn occupancy(&self) -> u64 {
        self.consumers
            .iter()
            .filter(|c| c.gating)
            .map(|c| c.lag)
            .max()
            .unwrap_or(0)
            .min(self.header.capacity)
    }
}

impl fmt::Display for RingStat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = |p: Option<ProcessStat>| match p {
            Some(p) if p.alive => format!("pid {}", p.pid),
            Some(p) => format!("pid {} (dead)", p.pid),
            None => "-".to_owned(),
        };
        let h = &self.header;
        writeln!(
            f,
            "ring: {} producer, capacity {}, {}-byte events, fingerprint {:#x}, created by {}{}",
            if h.multi_producer { "multi" } else { "single" },
            h.capacity,
            h.event_size,
            h.fingerprint,
            who(self.creator),
            if self.removed { ", removed" } else { "" }
        )?;
        writeln!(
            f,
            "cursor: {}  occupancy: {}/{}  unblocked claims: {}  evicted consumers: {}  dead producers: {}",
            self.cursor,
            self.occupancy(),
            h.capacity,
            self.unblocked,
            self.evicted,
            self.producer_deaths
        )?;
        let producers: Vec<String> = self.producers.iter().map(|p| who(Some(*p))).collect();
        writeln!(
            f,
            "producers: {}",
            if producers.is_empty() {
                "none".to_owned()
            } else {
                producers.join(", ")
            }
        )?;
        writeln!(
            f,
            "{:>4}  {:>14}  {:>10}  {:<6}  owner",
            "slot", "sequence", "lag", "gating"
        )?;
        for c in &self.consumers {
            writeln!(
                f,
                "{:>4}  {:>14}  {:>10}  {:<6}  {}",
                c.slot,
                c.sequence,
                c.lag,
                if c.gating { "yes" } else { "no" },
                who(c.owner)
            )?;
        }
        Ok(())
    }
}
