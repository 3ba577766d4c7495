//! This process's own resource use and limits (getrusage, RLIMIT_NOFILE) and the kernel's clock tick.

use std::time::Duration;

fn rusage() -> libc::rusage {
    // SAFETY: an all-zero rusage is a valid value; getrusage only writes into the struct we pass.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    }
}

fn tv(t: libc::timeval) -> Duration {
    Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1000)
}

/// User plus system CPU time this process has used.
pub fn own_cpu() -> Duration {
    let ru = rusage();
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// This process's peak resident set, KiB.
pub fn own_max_rss_kib() -> u64 {
    rusage().ru_maxrss as u64
}

/// Clock ticks per second, the unit of `/proc/<pid>/stat`'s utime and stime.
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}
