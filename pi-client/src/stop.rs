//! The stop signal that reaches every thread, and the connection loop's way of waiting for it.
//!
//! A signal handler may do almost nothing, so a signal-hook thread calls [`Stop::stop`], which both
//! wakes the sampler (a condvar) and rings a doorbell (a byte written to a pipe) that the connection
//! loop `poll(2)`s together with its socket, so that neither waits out its timeout before stopping.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// What [`Stop::wait`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The file descriptor waited on is readable (or closed, or in error: a read tells which).
    Ready,
    /// [`Stop::stop`] was called.
    Stopped,
    /// The deadline passed.
    Timeout,
}

/// The read and write ends of a non-blocking pipe; readable once stopped, and from then on.
#[derive(Debug)]
struct Doorbell {
    read: OwnedFd,
    write: OwnedFd,
}

/// A cloneable handle that stops the client.
#[derive(Debug, Clone)]
pub struct Stop {
    flag: Arc<(Mutex<bool>, Condvar)>,
    bell: Arc<Doorbell>,
}

impl Stop {
    /// A stop handle; fails only if the process cannot make a pipe (out of file descriptors).
    pub fn new() -> io::Result<Stop> {
        let mut fds: [RawFd; 2] = [-1; 2];
        // SAFETY: pipe2 fills the two descriptors it creates, which we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both were just created by pipe2 and are owned by nothing else.
        let bell =
            unsafe { Doorbell { read: OwnedFd::from_raw_fd(fds[0]), write: OwnedFd::from_raw_fd(fds[1]) } };
        Ok(Stop { flag: Arc::new((Mutex::new(false), Condvar::new())), bell: Arc::new(bell) })
    }

    /// Asks every thread to stop.
    pub fn stop(&self) {
        let (lock, cv) = &*self.flag;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        // The byte is never read: the pipe stays readable, so every later wait sees the stop too. A
        // full pipe (EAGAIN) is just as readable.
        // SAFETY: writes one byte from a valid buffer to a descriptor we own.
        let _ = unsafe { libc::write(self.bell.write.as_raw_fd(), b"s".as_ptr().cast(), 1) };
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        *self.flag.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps until `deadline` or until stopped; returns whether stopped.
    pub fn sleep_until(&self, deadline: Instant) -> bool {
        let (lock, cv) = &*self.flag;
        let mut stopped = lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if *stopped {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            stopped = cv.wait_timeout(stopped, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// Waits until `fd` (if any) is readable, the client is stopped, or `deadline` passes, whichever
    /// comes first; a stop wins over a readable `fd`.
    pub fn wait(&self, fd: Option<BorrowedFd<'_>>, deadline: Instant) -> io::Result<Wake> {
        loop {
            let mut fds = [
                libc::pollfd { fd: self.bell.read.as_raw_fd(), events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: fd.map_or(-1, |f| f.as_raw_fd()), events: libc::POLLIN, revents: 0 },
            ];
            let left = deadline.saturating_duration_since(Instant::now());
            // Rounded up, so that a wait never returns early and spins.
            let ms = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int;
            // SAFETY: polls two pollfds in a live array (a negative fd is ignored by poll).
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if fds[0].revents != 0 || self.is_stopped() {
                return Ok(Wake::Stopped);
            }
            if fds[1].revents != 0 {
                return Ok(Wake::Ready);
            }
            if Instant::now() >= deadline {
                return Ok(Wake::Timeout);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;
    use std::time::Duration;

    #[test]
    fn stop_wakes_a_sleeper_and_a_waiter() {
        let stop = Stop::new().unwrap();
        let (s1, s2) = (stop.clone(), stop.clone());
        let sleeper = std::thread::spawn(move || s1.sleep_until(Instant::now() + Duration::from_secs(60)));
        let waiter =
            std::thread::spawn(move || s2.wait(None, Instant::now() + Duration::from_secs(60)).unwrap());
        std::thread::sleep(Duration::from_millis(20));
        stop.stop();
        assert!(sleeper.join().unwrap());
        assert_eq!(waiter.join().unwrap(), Wake::Stopped);
        assert!(stop.is_stopped());
        // And from then on, at once.
        assert_eq!(stop.wait(None, Instant::now() + Duration::from_secs(60)).unwrap(), Wake::Stopped);
    }

    #[test]
    fn waits_return_at_the_deadline_or_when_readable() {
        let stop = Stop::new().unwrap();
        assert!(!stop.sleep_until(Instant::now() + Duration::from_millis(5)));
        let start = Instant::now();
        assert_eq!(stop.wait(None, start + Duration::from_millis(30)).unwrap(), Wake::Timeout);
        assert!(start.elapsed() >= Duration::from_millis(30));
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        std::io::Write::write_all(&mut b, b"x").unwrap();
        assert_eq!(stop.wait(Some(a.as_fd()), deadline).unwrap(), Wake::Ready);
    }
}
