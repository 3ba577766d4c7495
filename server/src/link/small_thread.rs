//! Per-connection threads started through pthread directly.
//!
//! At 10,000 clients the server runs 30,000 connection threads, and every mapping counts against
//! `vm.max_map_count` (65,530 by default). A `std::thread` costs four mappings: its stack and guard
//! page, plus the signal stack and guard that std maps in every thread it starts to report stack
//! overflows. A plain pthread costs the first two only, which is what lets 10,000 clients fit. The
//! stack keeps glibc's guard page, so an overflow still faults instead of corrupting memory.
//!
//! If the thread cannot start (no pid or mapping left), this returns the error and the caller refuses
//! the connection: nothing can fail later inside the new thread and abort the process.

use std::ffi::{c_void, CString};
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What the new thread takes over. Generic, not a `Box<dyn FnOnce>`: calling a boxed closure
/// frees its box only when the call returns, so what the closure captured (a session's context:
/// half a KiB) would stay on the heap, unused, for the connection's life; the thread moves it out
/// and frees the box before it runs the body.
struct Start<F> {
    name: CString,
    body: F,
}

/// Starts a detached thread named `name` (cut to the kernel's 15 bytes) with a `stack`-byte stack.
/// A panic in `f` is caught and logged; it ends only that thread.
pub fn spawn_detached<F: FnOnce() + Send + 'static>(name: &str, stack: usize, f: F) -> io::Result<()> {
    let mut short: Vec<u8> = name.bytes().filter(|&b| b != 0).take(15).collect();
    short.shrink_to_fit();
    let name = CString::new(short).unwrap_or_default();
    let start = Box::into_raw(Box::new(Start { name, body: f }));
    // SAFETY: the attr is initialised before use and destroyed after; `start` is handed to exactly
    // one owner: the new thread on success, this function (which frees it) on failure.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        let rc = libc::pthread_attr_init(&mut attr);
        if rc != 0 {
            drop(Box::from_raw(start));
            return Err(io::Error::from_raw_os_error(rc));
        }
        let mut rc = libc::pthread_attr_setstacksize(&mut attr, stack.max(libc::PTHREAD_STACK_MIN));
        if rc == 0 {
            rc = libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        }
        if rc == 0 {
            let mut tid: libc::pthread_t = std::mem::zeroed();
            rc = libc::pthread_create(&mut tid, &attr, thread_main::<F>, start.cast::<c_void>());
        }
        libc::pthread_attr_destroy(&mut attr);
        if rc != 0 {
            drop(Box::from_raw(start));
            return Err(io::Error::from_raw_os_error(rc));
        }
    }
    Ok(())
}

/// Gives the kernel back the pages of the calling thread's stack below where it is now, keeping
/// `keep` bytes below the current frame for what it calls next. A session's handshake goes deep
/// (logging formats a time stamp, the credential check) and its keep-alive loop stays shallow:
/// without this, each of 10,000 sessions keeps a page or two it touched once, for the connection's
/// life. A page given back reads as zeros when touched again, which is all a stack below its
/// pointer may hold: this is no more than what the kernel does to a fresh stack.
///
/// Returns how many bytes were given back (0 if nothing could be, e.g. on the main thread, whose
/// stack grows on demand).
pub fn release_unused_stack(keep: usize) -> usize {
    let here = std::hint::black_box(0u8);
    let sp = std::ptr::addr_of!(here) as usize;
    // SAFETY: the attr is filled by pthread_getattr_np for the calling thread and destroyed after.
    let (low, size) = unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return 0;
        }
        let mut addr: *mut c_void = std::ptr::null_mut();
        let mut size = 0usize;
        let rc = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        if rc != 0 {
            return 0;
        }
        (addr as usize, size)
    };
    let page = 4096usize;
    // The lowest usable address (glibc reports it above the guard page) up to the page below
    // `keep` bytes under this frame: nothing live is there, the stack grows down.
    let end = sp.saturating_sub(keep) & !(page - 1);
    if low == 0 || end <= low || sp >= low + size {
        return 0;
    }
    // SAFETY: [low, end) is part of this thread's own stack mapping, below its stack pointer by
    // more than `keep` bytes (x86_64's red zone is 128): no frame lives there. MADV_DONTNEED on a
    // private anonymous mapping only drops pages, which come back zeroed when touched.
    let rc = unsafe { libc::madvise(low as *mut c_void, end - low, libc::MADV_DONTNEED) };
    if rc == 0 {
        end - low
    } else {
        0
    }
}

extern "C" fn thread_main<F: FnOnce()>(arg: *mut c_void) -> *mut c_void {
    // SAFETY: `arg` is the `Start<F>` leaked by `spawn_detached` for this thread alone.
    let start = unsafe { Box::from_raw(arg.cast::<Start<F>>()) };
    // SAFETY: naming the calling thread with a NUL-terminated string of at most 15 bytes.
    unsafe {
        libc::pthread_setname_np(libc::pthread_self(), start.name.as_ptr());
    }
    // Moved into the block, the box is freed at its end, before the body runs.
    let Start { name, body } = {
        let start = start;
        *start
    };
    if let Err(panic) = catch_unwind(AssertUnwindSafe(body)) {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        log::error!("thread {} panicked: {why}", name.to_string_lossy());
    }
    std::ptr::null_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn runs_the_body_with_its_name_and_survives_a_panic() {
        let (tx, rx) = channel();
        let t = tx.clone();
        spawn_detached("tcp_reader-42-and-more", 64 * 1024, move || {
            let name = std::fs::read_to_string("/proc/thread-self/comm").unwrap_or_default();
            t.send(name.trim().to_owned()).unwrap();
        })
        .unwrap();
        assert_eq!(rx.recv().unwrap(), "tcp_reader-42-a");
        spawn_detached("boom", 64 * 1024, || panic!("intentional: spawn_detached must survive this"))
            .unwrap();
        spawn_detached("after", 64 * 1024, move || tx.send("still here".to_owned()).unwrap()).unwrap();
        assert_eq!(rx.recv().unwrap(), "still here");
    }

    /// Touches `n` KiB of stack below the caller, so that a release has pages to give back.
    #[inline(never)]
    fn go_deep(n: usize) -> u8 {
        let buf = std::hint::black_box([n as u8; 1024]);
        if n == 0 {
            buf[0]
        } else {
            buf[1].wrapping_add(go_deep(n - 1))
        }
    }

    /// Resident KiB of the mapping holding `addr` (from /proc/self/smaps).
    fn resident_kib(addr: usize) -> Option<usize> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ') {
                if let Some((a, b)) = range.split_once('-') {
                    if let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) {
                        inside = (a..b).contains(&addr);
                        continue;
                    }
                }
            }
            if inside && line.starts_with("Rss:") {
                return line.split_whitespace().nth(1)?.parse().ok();
            }
        }
        None
    }

    #[test]
    fn the_stack_a_thread_no_longer_uses_is_given_back_and_works_when_used_again() {
        let (tx, rx) = channel();
        spawn_detached("deep", 512 * 1024, move || {
            let here = std::hint::black_box(0u8);
            let at = std::ptr::addr_of!(here) as usize;
            go_deep(40);
            let before = resident_kib(at).unwrap_or(0);
            let released = release_unused_stack(1024);
            let after = resident_kib(at).unwrap_or(0);
            // Deep again after the release: the pages come back, zeroed, and the calls work.
            let again = go_deep(40);
            tx.send((before, released, after, again, go_deep(40))).unwrap();
        })
        .unwrap();
        let (before, released, after, again, once_more) = rx.recv().unwrap();
        assert!(before >= 40, "40 KiB of frames were touched: {before} KiB resident");
        assert!(released >= 36 * 1024, "{released} bytes released");
        assert!(after + 36 <= before, "resident {before} -> {after} KiB");
        assert_eq!(again, once_more);
        assert_eq!(release_unused_stack(1024) % 4096, 0);
    }
}
