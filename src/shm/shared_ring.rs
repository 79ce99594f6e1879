//! [`SharedRing`]: create a ring in a file, attach to it, take producers
//! and consumer slots, remove it.

use super::liveness;
use super::proc_stat::current_token;
use super::{RingStat, SharedOptions, ShmError};
use crate::config::RingConfig;
use crate::graph::GraphBuilder;
use crate::producer::{MultiProducer, Producer, SingleProducer};
use crate::region::{Region, RegionHeader, MAX_PRODUCERS};
use crate::ring::Liveness;
use crate::ring::RingBuffer;
use crate::sequencer::{MultiSequencer, Sequencer, SingleSequencer};
use crate::sync::{Arc, Ordering};
use crate::wait::WaitStrategy;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A ring in a file shared between processes.
///
/// `Send + Sync`; producers and graphs made from it share its mapping,
/// which stays valid while any of them lives.
#[derive(Debug)]
pub struct SharedRing<E> {
    ring: Arc<RingBuffer<E>>,
    path: PathBuf,
    creator: bool,
}

impl<E: bytemuck::Pod + Send> SharedRing<E> {
    /// Create a ring of `config.capacity()` events of type `E` in a new
    /// file at `path`, and map it.
    ///
    /// The file is built under a temporary name and linked into place
    /// complete, so a process attaching at the same moment sees either no
    /// file or a whole ring, never a half-written header.
    ///
    /// # Errors
    ///
    /// [`ShmError::InUse`] when a live process uses a ring at `path`,
    /// [`ShmError::Stale`] when a dead run left one (see
    /// [`SharedOptions::replace_stale`]), [`ShmError::NotARing`] for
    /// another kind of file there, [`ShmError::Config`] for an invalid
    /// configuration, [`ShmError::UnsupportedWaitStrategy`] for
    /// `Blocking`, [`ShmError::Io`] when the OS refuses.
    pub fn create(
        path: impl AsRef<Path>,
        config: &RingConfig,
        options: &SharedOptions,
    ) -> Result<Self, ShmError> {
        let path = path.as_ref().to_path_buf();
        check_strategy(config.strategy())?;
        let layout = config
            .layout::<E>(options.multi_producer)
            .map_err(|source| ShmError::Config {
                path: path.clone(),
                source,
            })?;
        match std::fs::symlink_metadata(&path) {
            Ok(_) => clear_existing(&path, options)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(io("inspect", &path, source)),
        }
        let me = current_token();
        let tmp = temp_path(&path);
        let built = (|| {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(options.file_mode)
                .open(&tmp)
                .map_err(|e| io("create", &tmp, e))?;
            // Blocks allocated now: a full filesystem is an error here,
            // not a SIGBUS at the first store into the mapping.
            crate::preallocate::preallocate(&file, layout.region_len)
                .map_err(|e| io("allocate", &tmp, e))?;
            let region = Region::<E>::create_shared(&file, layout, config.type_fingerprint())
                .map_err(|e| io("map", &tmp, e))?;
            // Release: visible with the header to whoever maps the file
            // after the link below.
            region.control().state.creator.store(me, Ordering::Release);
            // Link, not rename: fails if another creator got there first.
            std::fs::hard_link(&tmp, &path).map_err(|e| {
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    ShmError::InUse {
                        path: path.clone(),
                        pid: 0,
                    }
                } else {
                    io("link", &path, e)
                }
            })?;
            Ok(region)
        })();
        let _ = std::fs::remove_file(&tmp);
        let region = built?;
        let ring = RingBuffer::over(region, config, Some(liveness_of(options)));
        Ok(Self {
            ring: Arc::new(ring),
            path,
            creator: true,
        })
    }

    /// Attach to the ring at `path`, which must hold events of type `E`
    /// with `config`'s capacity and fingerprint, and the producer kind of
    /// `options`.
    ///
    /// The header is read with plain file reads and validated before
    /// anything is mapped; a file that is not what this process expects
    /// is refused with the field that differs.
    ///
    /// # Errors
    ///
    /// [`ShmError::NotFound`], [`ShmError::Header`] (garbage, truncated,
    /// not a ring, other layout version), [`ShmError::Mismatch`] (event
    /// size or alignment, fingerprint, capacity, producer kind),
    /// [`ShmError::FileLength`], [`ShmError::Removed`],
    /// [`ShmError::UnsupportedWaitStrategy`], [`ShmError::Io`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ringmaster::shm::{ShmError, SharedOptions, SharedRing};
    /// use ringmaster::RingConfig;
    ///
    /// let path = std::env::temp_dir().join(format!("doc-attach-{}", std::process::id()));
    /// let options = SharedOptions::default();
    /// let ring = SharedRing::<u64>::create(&path, &RingConfig::new(64).fingerprint(1), &options)?;
    ///
    /// let wrong = SharedRing::<u64>::attach(&path, &RingConfig::new(64).fingerprint(2), &options);
    /// assert!(matches!(wrong, Err(ShmError::Mismatch { field: "fingerprint", found: 1, expected: 2, .. })));
    /// let wrong = SharedRing::<[u8; 16]>::attach(&path, &RingConfig::new(64).fingerprint(1), &options);
    /// assert!(matches!(wrong, Err(ShmError::Mismatch { field: "event_size", found: 8, expected: 16, .. })));
    ///
    /// ring.remove()?;
    /// let gone = SharedRing::<u64>::attach(&path, &RingConfig::new(64).fingerprint(1), &options);
    /// assert!(matches!(gone, Err(ShmError::NotFound { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn attach(
        path: impl AsRef<Path>,
        config: &RingConfig,
        options: &SharedOptions,
    ) -> Result<Self, ShmError> {
        let path = path.as_ref().to_path_buf();
        check_strategy(config.strategy())?;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => ShmError::NotFound { path: path.clone() },
                _ => io("open", &path, e),
            })?;
        let file_len = file.metadata().map_err(|e| io("inspect", &path, e))?.len();
        let header = read_header(&mut file, &path)?;
        let expect = |field: &'static str, found: u64, expected: u64| {
            if found == expected {
                Ok(())
            } else {
                Err(ShmError::Mismatch {
                    path: path.clone(),
                    field,
                    found,
                    expected,
                })
            }
        };
        expect(
            "event_size",
            header.event_size.into(),
            core::mem::size_of::<E>() as u64,
        )?;
        expect(
            "event_align",
            header.event_align.into(),
            core::mem::align_of::<E>() as u64,
        )?;
        expect("fingerprint", header.fingerprint, config.type_fingerprint())?;
        expect("capacity", header.capacity, config.capacity())?;
        expect(
            "multi_producer",
            header.multi_producer.into(),
            options.multi_producer.into(),
        )?;
        if file_len != header.region_len {
            return Err(ShmError::FileLength {
                path,
                file_len,
                region_len: header.region_len,
            });
        }
        let region = Region::<E>::attach_shared(&file, header.layout(), header.fingerprint)
            .map_err(|e| io("map", &path, e))?;
        // Acquire: pairs with the Release in `remove`.
        if region.control().state.removed.load(Ordering::Acquire) != 0 {
            return Err(ShmError::Removed { path });
        }
        let ring = RingBuffer::over(region, config, Some(liveness_of(options)));
        Ok(Self {
            ring: Arc::new(ring),
            path,
            creator: false,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The ring (counters, capacity, header).
    pub fn ring(&self) -> &RingBuffer<E> {
        &self.ring
    }

    /// The region header as stored in the file.
    pub fn header(&self) -> RegionHeader {
        self.ring.header()
    }

    /// Whether this process created the ring.
    pub fn is_creator(&self) -> bool {
        self.creator
    }

    /// Consumer stages (of every process) attached and started now.
    pub fn consumer_count(&self) -> usize {
        self.ring.consumer_count()
    }

    /// Claims unblocked after a producer process died, and consumers
    /// evicted after theirs did, over the ring's life.
    pub fn recovery_counts(&self) -> (u64, u64) {
        self.ring.recovery_counts()
    }

    /// Wait until at least `n` consumer stages are attached (a producer
    /// that starts before its consumers would otherwise run ungated:
    /// events published then are not waited for by anyone).
    ///
    /// # Errors
    ///
    /// [`ShmError::ConsumersTimeout`] with the count reached.
    pub fn wait_for_consumers(&self, n: usize, timeout: Duration) -> Result<(), ShmError> {
        let deadline = Instant::now() + timeout;
        loop {
            let attached = self.consumer_count();
            if attached >= n {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ShmError::ConsumersTimeout {
                    path: self.path.clone(),
                    attached,
                    wanted: n,
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The producer of a single-producer ring; one per ring, across all
    /// processes, while it lives (a dead holder's slot is taken over).
    ///
    /// # Errors
    ///
    /// [`ShmError::WrongProducer`] on a multi-producer ring,
    /// [`ShmError::ProducerTaken`] while a live producer holds it.
    pub fn single_producer(&self) -> Result<SingleProducer<E>, ShmError> {
        if self.ring.is_multi_producer() {
            return Err(self.wrong_producer("single"));
        }
        self.producer::<SingleSequencer>()
    }

    /// A producer for a multi-producer ring; clone it for more threads.
    /// Each call registers this process in one more producer slot
    /// (at most 64 across all processes).
    ///
    /// # Errors
    ///
    /// [`ShmError::WrongProducer`] on a single-producer ring,
    /// [`ShmError::ProducerTaken`] when every producer slot is held by a
    /// live process.
    pub fn multi_producer(&self) -> Result<MultiProducer<E>, ShmError> {
        if !self.ring.is_multi_producer() {
            return Err(self.wrong_producer("multi"));
        }
        self.producer::<MultiSequencer>()
    }

    fn producer<S: Sequencer>(&self) -> Result<Producer<E, S>, ShmError> {
        let slot = self
            .ring
            .register_producer()
            .map_err(|holder| ShmError::ProducerTaken {
                path: self.path.clone(),
                reason: match (holder, self.ring.is_multi_producer()) {
                    (Some(pid), false) => format!("process {pid} is the ring's single producer"),
                    _ => format!("all {MAX_PRODUCERS} producer slots are held by live processes"),
                },
            })?;
        Ok(Producer::with_lease(Arc::clone(&self.ring), slot))
    }

    fn wrong_producer(&self, asked: &'static str) -> ShmError {
        ShmError::WrongProducer {
            path: self.path.clone(),
            ring: if self.ring.is_multi_producer() {
                "multi-producer"
            } else {
                "single-producer"
            },
            asked,
        }
    }

    /// A builder for consumer stages on this ring; each stage takes a
    /// consumer slot when built with [`GraphBuilder::build_consumers`] and
    /// gives it back when the graph stops. Stages start at the ring's
    /// current cursor: they see what is published after they attach.
    pub fn consumers(&self) -> GraphBuilder<E> {
        GraphBuilder::on_ring(Arc::clone(&self.ring))
    }

    /// Remove the file (creator or not): nothing new can attach; processes
    /// already attached keep their mapping until they drop it.
    ///
    /// # Errors
    ///
    /// [`ShmError::Io`] when the OS refuses (already removed:
    /// [`ShmError::NotFound`]).
    pub fn remove(&self) -> Result<(), ShmError> {
        // Release: pairs with the Acquire in `attach` (a process that
        // opened the file just before the unlink).
        self.ring
            .region()
            .control()
            .state
            .removed
            .store(1, Ordering::Release);
        std::fs::remove_file(&self.path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ShmError::NotFound {
                path: self.path.clone(),
            },
            _ => io("remove", &self.path, e),
        })
    }
}

fn check_strategy(strategy: WaitStrategy) -> Result<(), ShmError> {
    match strategy {
        WaitStrategy::Blocking => Err(ShmError::UnsupportedWaitStrategy { strategy }),
        _ => Ok(()),
    }
}

fn liveness_of(options: &SharedOptions) -> Liveness {
    liveness::liveness_of(options.liveness_timeout, options.dead_consumer)
}

pub(super) fn io(op: &'static str, path: &Path, source: std::io::Error) -> ShmError {
    ShmError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.creating", std::process::id()))
}

/// Read and validate the header with plain reads (a hostile file cannot
/// make this read out of bounds or fault).
pub(super) fn read_header(file: &mut std::fs::File, path: &Path) -> Result<RegionHeader, ShmError> {
    let mut head = [0u8; 128];
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io("read", path, e)),
        }
    }
    RegionHeader::decode(&head[..filled]).map_err(|source| ShmError::Header {
        path: path.to_path_buf(),
        source,
    })
}

/// A file exists where `create` wants to put a ring: refuse, or remove it
/// when it is a stale ring and the options allow. Who owns it is read as
/// `ringmaster stat` reads it.
fn clear_existing(path: &Path, options: &SharedOptions) -> Result<(), ShmError> {
    let stat = match RingStat::read(path) {
        Ok(stat) => stat,
        Err(ShmError::Header { source, .. }) => {
            return Err(ShmError::NotARing {
                path: path.to_path_buf(),
                reason: source.to_string(),
            })
        }
        Err(e @ ShmError::FileLength { .. }) => {
            return Err(ShmError::NotARing {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        }
        Err(e) => return Err(e),
    };
    let mut owners = stat
        .creator
        .into_iter()
        .chain(stat.consumers.iter().filter_map(|c| c.owner))
        .chain(stat.producers.iter().copied());
    if let Some(live) = owners.find(|p| p.alive) {
        return Err(ShmError::InUse {
            path: path.to_path_buf(),
            pid: live.pid,
        });
    }
    if !options.replace_stale {
        return Err(ShmError::Stale {
            path: path.to_path_buf(),
            pid: stat.creator.map_or(0, |c| c.pid),
        });
    }
    tracing::warn!(path = %path.display(), "replacing a stale ring left by a dead run");
    std::fs::remove_file(path).map_err(|e| io("remove", path, e))
}
