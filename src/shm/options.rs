//! [`SharedOptions`]: how a process creates or attaches to a shared ring.

use super::DeadConsumerPolicy;
use std::time::Duration;

/// Default for [`SharedOptions::liveness_timeout`].
pub const DEFAULT_LIVENESS_TIMEOUT: Duration = Duration::from_secs(1);

/// How a process creates or attaches to a shared ring, beyond the
/// [`RingConfig`](crate::RingConfig) both sides pass.
///
/// # Examples
///
/// ```
/// use ringmaster::shm::{DeadConsumerPolicy, SharedOptions};
/// use std::time::Duration;
///
/// let options = SharedOptions::default()
///     .multi_producer(true)
///     .liveness_timeout(Duration::from_millis(250))
///     .on_dead_consumer(DeadConsumerPolicy::Evict)
///     .replace_stale(true);
/// assert!(options.is_multi_producer());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedOptions {
    pub(super) multi_producer: bool,
    pub(super) liveness_timeout: Duration,
    pub(super) dead_consumer: DeadConsumerPolicy,
    pub(super) replace_stale: bool,
    pub(super) file_mode: u32,
}

impl Default for SharedOptions {
    fn default() -> Self {
        Self {
            multi_producer: false,
            liveness_timeout: DEFAULT_LIVENESS_TIMEOUT,
            dead_consumer: DeadConsumerPolicy::Evict,
            replace_stale: false,
            file_mode: 0o600,
        }
    }
}

impl SharedOptions {
    /// Permissions of a ring file this creates, before the umask (default
    /// `0o600`: only the owner's processes attach). Processes of other
    /// users that should attach need their bits here (`0o660` for a group).
    #[must_use]
    pub fn file_mode(mut self, mode: u32) -> Self {
        self.file_mode = mode & 0o777;
        self
    }

    /// Create a multi-producer ring (several producer processes or
    /// threads); when attaching, expect one. Default: single producer.
    #[must_use]
    pub fn multi_producer(mut self, multi: bool) -> Self {
        self.multi_producer = multi;
        self
    }

    /// How long a producer waits for room, or a consumer for a claimed
    /// slot, before checking whether the process it waits for died
    /// (default 1 s). Shorter recovers sooner; each check reads `/proc`.
    #[must_use]
    pub fn liveness_timeout(mut self, timeout: Duration) -> Self {
        self.liveness_timeout = timeout;
        self
    }

    /// What this process's producers do about a dead consumer.
    #[must_use]
    pub fn on_dead_consumer(mut self, policy: DeadConsumerPolicy) -> Self {
        self.dead_consumer = policy;
        self
    }

    /// On `create`, replace a file left by a crashed run (a valid ring
    /// whose creator and attached processes are all dead). A ring still in
    /// use and a file that is not a ring are never replaced.
    #[must_use]
    pub fn replace_stale(mut self, replace: bool) -> Self {
        self.replace_stale = replace;
        self
    }

    /// Whether these options ask for a multi-producer ring.
    pub fn is_multi_producer(&self) -> bool {
        self.multi_producer
    }

    /// The dead-consumer policy.
    pub fn dead_consumer_policy(&self) -> DeadConsumerPolicy {
        self.dead_consumer
    }
}
