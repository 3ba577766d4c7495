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
