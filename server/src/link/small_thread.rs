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
}
