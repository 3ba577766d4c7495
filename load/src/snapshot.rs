//! The figures taken at each phase change: the run's counters, this process's CPU, and the watched
//! process's /proc figures.

use crate::stats::Stats;
use crate::usage;
use cliser_testkit::ProcStats;
use std::time::{Duration, Instant};

/// One moment of the run.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    /// When.
    pub at: Instant,
    /// Readings sent so far.
    pub sent: u64,
    /// Readings acknowledged so far.
    pub acked: u64,
    /// This process's CPU so far.
    pub own_cpu: Duration,
    /// The watched process, if any and still alive.
    pub watched: Option<ProcStats>,
}

impl Snapshot {
    /// Takes one now.
    pub fn take(stats: &Stats, watch_pid: Option<u32>) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            sent: stats.sent,
            acked: stats.acked,
            own_cpu: usage::own_cpu(),
            watched: watch_pid.and_then(|pid| ProcStats::read(pid).ok()),
        }
    }
}
