//! The connection loop's mailbox and the stop signal that reaches every thread.
//!
//! A signal handler may do almost nothing, so a signal-hook thread calls [`Stop::stop`], which both
//! wakes the sampler (a condvar) and puts [`Event::Stop`] in the connection loop's mailbox, so that
//! neither waits out its timeout before stopping.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

/// What the connection loop waits for.
#[derive(Debug)]
pub enum Event {
    /// A line from the server on connection number `conn`.
    Line {
        /// The connection it came on (lines of an old connection are ignored).
        conn: u64,
        /// The line, without its ending.
        line: String,
    },
    /// Connection number `conn` is over.
    Closed {
        /// The connection.
        conn: u64,
        /// Why, for the log.
        why: String,
    },
    /// Stop: finish what is being written and exit.
    Stop,
}

/// A cloneable handle that stops the client.
#[derive(Debug, Clone)]
pub struct Stop {
    flag: Arc<(Mutex<bool>, Condvar)>,
    mailbox: Sender<Event>,
}

impl Stop {
    /// A stop handle and the mailbox it (and the reader threads) post to.
    pub fn new() -> (Stop, Receiver<Event>) {
        let (tx, rx) = mpsc::channel();
        (Stop { flag: Arc::new((Mutex::new(false), Condvar::new())), mailbox: tx }, rx)
    }

    /// Asks every thread to stop.
    pub fn stop(&self) {
        let (lock, cv) = &*self.flag;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
        // The receiver is gone only when the client has already returned.
        let _ = self.mailbox.send(Event::Stop);
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

    /// A sender for the mailbox (for a connection's reader thread).
    pub fn mailbox(&self) -> Sender<Event> {
        self.mailbox.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn stop_wakes_a_sleeper_and_the_mailbox() {
        let (stop, rx) = Stop::new();
        let s = stop.clone();
        let t = std::thread::spawn(move || s.sleep_until(Instant::now() + Duration::from_secs(60)));
        stop.stop();
        assert!(t.join().unwrap());
        assert!(matches!(rx.recv_timeout(Duration::from_secs(5)), Ok(Event::Stop)));
        assert!(stop.is_stopped());
    }

    #[test]
    fn sleep_returns_at_the_deadline() {
        let (stop, _rx) = Stop::new();
        assert!(!stop.sleep_until(Instant::now() + Duration::from_millis(5)));
    }
}
