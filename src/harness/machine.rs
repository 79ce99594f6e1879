//! What the harness knows about the machine: identity for reports, the
//! core-to-core hop (the vCPUs of this VM move between near and far
//! placements), and load from other processes during a run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A hop above this many nanoseconds means the cores were placed far apart.
pub const FAR_HOP_NS: f64 = 100.0;
/// Other processes using more than this fraction of all CPUs flags a run.
pub const LOAD_LIMIT: f64 = 0.02;

/// Identity of the machine and build, printed with every report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Cores this process may use.
    pub cores: usize,
    /// Kernel release.
    pub kernel: String,
    /// Compiler that built the harness.
    pub rustc: String,
    /// Build profile and optimisation level.
    pub build: String,
    /// Git commit of the working tree, if any.
    pub commit: String,
}

impl Machine {
    /// Detect the current machine.
    pub fn detect() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".into());
        let commit = std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .map(|c| {
                let dirty = std::process::Command::new("git")
                    .args(["status", "--porcelain", "--untracked-files=no"])
                    .output()
                    .is_ok_and(|o| !o.stdout.is_empty());
                if dirty {
                    format!("{c}-dirty")
                } else {
                    c
                }
            })
            .unwrap_or_else(|| "unknown".into());
        Self {
            cpu,
            cores: available_cores().len(),
            kernel,
            rustc: env!("RINGMASTER_RUSTC_VERSION").to_owned(),
            build: env!("RINGMASTER_BUILD_PROFILE").to_owned(),
            commit,
        }
    }
}

/// One-way cache-line hop between cores `a` and `b`, in ns (median of
/// 7 rounds of 2,000 round trips). `None` with fewer than two cores.
pub fn measure_hop(cores: &[usize]) -> Option<f64> {
    let (&a, &b) = (cores.first()?, cores.get(1)?);
    // Both sides on threads of their own: the caller's affinity is left alone.
    std::thread::spawn(move || hop_between(a, b)).join().ok()
}

fn hop_between(a: usize, b: usize) -> f64 {
    const TRIPS: u64 = 2_000;
    let flag = Arc::new(AtomicU64::new(0));
    let other = flag.clone();
    let echo = std::thread::spawn(move || {
        let _ = core_affinity::set_for_current(core_affinity::CoreId { id: b });
        for i in 0..TRIPS * 7 {
            // Acquire/Release: a ping-pong on one line; the orderings
            // only keep the exchange honest.
            while other.load(Ordering::Acquire) != 2 * i + 1 {
                std::hint::spin_loop();
            }
            other.store(2 * i + 2, Ordering::Release);
        }
    });
    let _ = core_affinity::set_for_current(core_affinity::CoreId { id: a });
    let mut rounds = Vec::new();
    for r in 0..7 {
        let start = Instant::now();
        for i in r * TRIPS..(r + 1) * TRIPS {
            flag.store(2 * i + 1, Ordering::Release);
            while flag.load(Ordering::Acquire) != 2 * i + 2 {
                std::hint::spin_loop();
            }
        }
        rounds.push(start.elapsed().as_nanos() as f64 / (2 * TRIPS) as f64);
    }
    let _ = echo.join();
    rounds.sort_by(f64::total_cmp);
    rounds[3]
}

/// CPU time used by other processes while a run was going.
#[derive(Debug)]
pub struct LoadSampler {
    total: u64,
    busy: u64,
    own: u64,
}

fn proc_stat() -> Option<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let line = s.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((total, total - idle))
}

/// CPU ticks of this process and of its children it has reaped (a
/// contender's own server or producer process is not "other" load).
fn own_ticks() -> Option<u64> {
    let text = std::fs::read("/proc/self/stat").ok()?;
    // utime, stime, cutime and cstime: fields 14-17, the 12th-15th after
    // the name (field 3 first).
    let fields = crate::shm::proc_stat::stat_fields(&text)?;
    fields.skip(11).take(4).map(|f| f.parse::<u64>().ok()).sum()
}

impl LoadSampler {
    /// Start sampling.
    pub fn start() -> Self {
        let (total, busy) = proc_stat().unwrap_or((0, 0));
        Self {
            total,
            busy,
            own: own_ticks().unwrap_or(0),
        }
    }

    /// Fraction of all CPUs used by other processes since `start`.
    ///
    /// `/proc/stat` counts 10 ms ticks, so one stray tick in a 100 ms run
    /// reads as several percent: fewer than two ticks of other work count
    /// as none.
    pub fn stop(self) -> f64 {
        let (total, busy) = proc_stat().unwrap_or((self.total, self.busy));
        let own = own_ticks().unwrap_or(self.own);
        let dt = total.saturating_sub(self.total);
        if dt == 0 {
            return 0.0;
        }
        let other = busy
            .saturating_sub(self.busy)
            .saturating_sub(own.saturating_sub(self.own));
        if other < 2 {
            return 0.0;
        }
        other as f64 / dt as f64
    }
}

/// Core ids this process may run on (asked once, before any pinning).
pub fn available_cores() -> Vec<usize> {
    static CORES: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
    CORES
        .get_or_init(|| {
            core_affinity::get_core_ids()
                .unwrap_or_default()
                .into_iter()
                .map(|c| c.id)
                .collect()
        })
        .clone()
}
