//! Process-wide settings a long-running server needs from the start.

/// Makes a write past a file-size limit fail with an error the sink handles (EFBIG) instead of
/// killing the process with SIGXFSZ.
pub fn ignore_file_size_signal() {
    // SAFETY: setting a signal's disposition to SIG_IGN is async-signal-safe and touches no memory.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// Returns free heap pages to the system (glibc's `malloc_trim`); a no-op elsewhere.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The malloc arenas the server's threads share, unless `MALLOC_ARENA_MAX` says otherwise.
pub const MALLOC_ARENAS: i32 = 2;

/// Limits glibc's malloc to [`MALLOC_ARENAS`] arenas for the whole process; call it before any
/// thread starts. glibc gives every new thread an arena of its own, up to 8 per core, and each keeps
/// what its threads freed: after a fleet's catch-up (600 connections, 6.9 M readings) the server held
/// 238 MiB, 149 MiB with two arenas; the steady state's CPU per reading is the same, a burst such as
/// that catch-up took up to a fifth longer (docs/PERFORMANCE.md). Returns the limit set; `None`
/// where `MALLOC_ARENA_MAX` is in the environment (glibc took it already, and an operator's choice
/// stands) or the allocator is not glibc's.
pub fn limit_malloc_arenas() -> Option<i32> {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return None;
    }
    set_arena_max(MALLOC_ARENAS).then_some(MALLOC_ARENAS)
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set_arena_max(n: i32) -> bool {
    // SAFETY: mallopt only sets a parameter of the allocator; it returns 0 for a value it refuses.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, n) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set_arena_max(_: i32) -> bool {
    false
}

/// Gives the process a futex hash table sized for its threads. Since Linux 6.16 each process gets a
/// private one, sized from the number of CPUs: 16 slots on a 2-core machine. With 30,000 connection
/// threads waiting on their mailboxes, every wake-up then walks a chain of ~2,000 waiters under a
/// lock, and `futex_wake` took 72 % of the server's CPU at 10,000 clients (perf). Returns the slots
/// in use, or `None` on kernels without the setting (they share one global table, which is fine).
pub fn widen_futex_hash() -> Option<i64> {
    #[cfg(target_os = "linux")]
    {
        const PR_FUTEX_HASH: libc::c_int = 78;
        const PR_FUTEX_HASH_SET_SLOTS: libc::c_ulong = 1;
        const PR_FUTEX_HASH_GET_SLOTS: libc::c_ulong = 2;
        for slots in [1 << 16, 1 << 14, 0] {
            // SAFETY: prctl with integer arguments only; unknown options fail with EINVAL.
            let rc =
                unsafe { libc::prctl(PR_FUTEX_HASH, PR_FUTEX_HASH_SET_SLOTS, slots as libc::c_ulong, 0, 0) };
            if rc == 0 {
                // SAFETY: as above.
                let now = unsafe { libc::prctl(PR_FUTEX_HASH, PR_FUTEX_HASH_GET_SLOTS, 0, 0, 0) };
                return Some(i64::from(now));
            }
        }
    }
    None
}

/// Descriptors kept beyond one per client: listeners, the store's files, the console, the page and
/// its viewers, exporters.
pub const DESCRIPTOR_RESERVE: usize = 256;

/// Grows the process's descriptor table to hold `fds` descriptors now, so that accepting clients
/// never grows it later. Linux grows the table by doubling (at 128, 256, 512, 1,024 ... open
/// descriptors), and in a process with more than one thread each growth waits for an RCU grace
/// period with every descriptor allocation of the process held up: a 10-25 ms stall of `accept`
/// that the clients then connecting see as their handshake's slowest 1 % (measured at 1,000
/// clients ramping in at 1,000 a second). The table never shrinks, so one growth at start does it;
/// it costs 8 bytes a descriptor. `fds` is capped below the open-files limit. Returns the size
/// asked for.
pub fn reserve_descriptor_table(fds: usize) -> std::io::Result<usize> {
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit only writes the struct we pass.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let limit = usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX);
        let top = fds.min(limit).saturating_sub(1);
        let top = libc::c_int::try_from(top).unwrap_or(libc::c_int::MAX);
        // F_DUPFD takes the lowest free descriptor at or above `top`, growing the table to hold it;
        // the copy is closed at once (and so is the file, when this returns).
        let probe = std::fs::File::open("/dev/null")?;
        // SAFETY: duplicating a descriptor this function owns; no memory is touched.
        let copy = unsafe { libc::fcntl(probe.as_raw_fd(), libc::F_DUPFD_CLOEXEC, top) };
        if copy < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `copy` was just created here and nothing else holds it.
        unsafe { libc::close(copy) };
        Ok(top as usize + 1)
    }
    #[cfg(not(unix))]
    Ok(fds)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_descriptor_table_holds_what_was_reserved_without_keeping_a_descriptor() {
        let n = super::reserve_descriptor_table(4096).unwrap();
        assert!(n > 0 && n <= 4096, "{n}");
        // The probe took descriptor n - 1 (nothing else in this process opens that many) and closed
        // it again. (Counting /proc/self/fd would race the other tests of this binary.)
        // SAFETY: F_GETFD only asks about the descriptor.
        let flags = unsafe { libc::fcntl((n - 1) as libc::c_int, libc::F_GETFD) };
        assert_eq!(flags, -1, "descriptor {} is still open", n - 1);
        // The kernel reports the table's size as FDSize.
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let size: usize = status
            .lines()
            .find_map(|l| l.strip_prefix("FDSize:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("FDSize in /proc/self/status");
        assert!(size >= n, "FDSize {size} < reserved {n}");
    }
}
