//! [`Reporter`]: a thread that takes a snapshot every interval and hands
//! it to a callback (or prints its summary).

use super::snapshot::{Metrics, MetricsSnapshot};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Takes a [`MetricsSnapshot`] every interval on its own thread and hands
/// it to a callback; one last snapshot when stopped. Stops (and joins) on
/// [`Reporter::stop`] or drop.
///
/// # Examples
///
/// ```
/// use ringmaster::metrics::Reporter;
/// use ringmaster::{GraphBuilder, NoopHandler, RingConfig};
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// let mut builder = GraphBuilder::<u64>::new(RingConfig::new(1024));
/// builder.handler("sink", NoopHandler).add();
/// let (mut producer, graph) = builder.build_single_producer()?;
/// let lines = Arc::new(Mutex::new(Vec::new()));
/// let sink = Arc::clone(&lines);
/// let reporter = Reporter::spawn(graph.metrics_handle(), Duration::from_millis(10), move |s| {
///     sink.lock().unwrap().push(s.summary());
/// })?;
/// for i in 0..1000 {
///     producer.publish(i)?;
/// }
/// graph.shutdown()?;
/// reporter.stop();
/// assert!(!lines.lock().unwrap().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Reporter {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Reporter {
    /// Start reporting `metrics` every `every` to `sink`.
    ///
    /// # Errors
    ///
    /// The OS error when the thread cannot be spawned.
    pub fn spawn(
        mut metrics: Metrics,
        every: Duration,
        mut sink: impl FnMut(&MetricsSnapshot) + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("rm-metrics".into())
            .spawn(move || {
                let (lock, wake) = &*flag;
                let mut next = Instant::now() + every;
                loop {
                    let mut stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    while !*stopped {
                        let now = Instant::now();
                        if now >= next {
                            break;
                        }
                        stopped = wake
                            .wait_timeout(stopped, next - now)
                            .unwrap_or_else(PoisonError::into_inner)
                            .0;
                    }
                    let last = *stopped;
                    drop(stopped);
                    sink(&metrics.snapshot());
                    if last {
                        return;
                    }
                    // Fixed cadence; after a stall, resume from now.
                    next = (next + every).max(Instant::now());
                }
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Print [`MetricsSnapshot::summary`] to standard output every `every`.
    ///
    /// # Errors
    ///
    /// The OS error when the thread cannot be spawned.
    pub fn print(metrics: Metrics, every: Duration) -> std::io::Result<Self> {
        Self::spawn(metrics, every, |s| print!("{}", s.summary()))
    }

    /// Deliver one last snapshot, then stop the thread and wait for it.
    pub fn stop(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        let (lock, wake) = &*self.stop;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // A panicking sink ends only its own thread.
            let _ = thread.join();
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.shut();
    }
}
