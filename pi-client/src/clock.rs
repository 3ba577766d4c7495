//! The clocks a sample is stamped with: the boot it was taken in, `CLOCK_BOOTTIME` (counts on
//! through suspend, never jumps), the wall clock, and whether the wall clock was synchronised.
//!
//! A Pi without a battery-backed RTC boots with the wall clock at the last saved time (or 1970) and
//! steps it when NTP answers. An age measured on `CLOCK_BOOTTIME` is right whatever the wall clock
//! says, so a reading of the current boot is sent as its age (`~ms`); one from an earlier boot can
//! only carry its wall-clock time, marked `?` when that clock was not synchronised (`@ms?`).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// What the clocks said at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Moment {
    /// `CLOCK_BOOTTIME` in milliseconds.
    pub boottime_ms: u64,
    /// Unix time in milliseconds by the wall clock.
    pub wall_ms: u64,
    /// Whether the kernel says the wall clock is synchronised (`adjtimex`).
    pub synced: bool,
}

/// The clocks; a trait so that tests can set the boot id and the time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// This boot's id (`/proc/sys/kernel/random/boot_id`); the same for the life of the process.
    fn boot_id(&self) -> Arc<str>;
    /// The clocks now.
    fn now(&self) -> Moment;
    /// `CLOCK_BOOTTIME` now in milliseconds: what ages and spill deadlines need, without the wall
    /// clock's `adjtimex` (a system call that also stirs the kernel's entropy pool, once per
    /// keep-alive otherwise).
    fn boottime_ms(&self) -> u64 {
        self.now().boottime_ms
    }
}

/// The system's clocks.
#[derive(Debug)]
pub struct SystemClock {
    boot_id: Arc<str>,
}

/// Where Linux says which boot this is.
pub const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

impl SystemClock {
    /// Reads the boot id once. Without `/proc` (not Linux, a sandbox) the boot id is this process's
    /// start time: readings then count as from an earlier boot after a restart, which only means
    /// they are sent with their wall-clock time, as before stamps had ages.
    pub fn new() -> SystemClock {
        let id = std::fs::read_to_string(BOOT_ID_PATH)
            .map(|s| s.trim().to_owned())
            .ok()
            .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace))
            .unwrap_or_else(|| format!("process-{}-{}", std::process::id(), wall_ms()));
        SystemClock { boot_id: id.into() }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn boot_id(&self) -> Arc<str> {
        self.boot_id.clone()
    }

    fn now(&self) -> Moment {
        Moment { boottime_ms: boottime_ms(), wall_ms: wall_ms(), synced: wall_clock_synced() }
    }

    fn boottime_ms(&self) -> u64 {
        boottime_ms()
    }
}

/// Milliseconds since the Unix epoch by the wall clock.
pub fn wall_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `CLOCK_BOOTTIME` in milliseconds.
pub fn boottime_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into a valid, owned struct.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Whether the kernel considers the wall clock synchronised: `adjtimex` neither returns
/// `TIME_ERROR` nor has `STA_UNSYNC` set (what `timedatectl` reports as "System clock
/// synchronized"). A failing call counts as not synchronised.
pub fn wall_clock_synced() -> bool {
    // SAFETY: timex is plain data; all-zero is a valid value (modes 0: read only).
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: adjtimex with modes 0 only reads the kernel's state into the struct we own.
    let state = unsafe { libc::adjtimex(&mut tx) };
    state >= 0 && state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_clock_reads_all_three() {
        let c = SystemClock::new();
        let a = c.now();
        let b = c.now();
        assert!(b.boottime_ms >= a.boottime_ms && a.boottime_ms > 0);
        assert!(Clock::boottime_ms(&c) >= b.boottime_ms);
        assert!(a.wall_ms > 1_600_000_000_000);
        assert_eq!(c.boot_id(), SystemClock::new().boot_id());
        assert!(!c.boot_id().is_empty());
    }
}
