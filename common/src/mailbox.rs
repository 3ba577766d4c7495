//! A small many-senders, one-receiver mailbox: a `VecDeque` behind a mutex and one condition variable.
//!
//! The server gives every connection two mailboxes (its session's and its writer's), so at 10,000
//! clients there are 20,000 of them. A `std::sync::mpsc` channel costs about 1.6 KiB each once used
//! (the channel's head and tail padded to cache lines, a first block of 31 slots, and a parking
//! context plus a `Thread` handle for each thread that ever blocked in it); this one costs its
//! `Arc` (about 100 bytes) and a queue that grows only as far as messages actually wait.
//!
//! Same semantics as `mpsc` where the server relies on them, with `mpsc`'s error types so callers
//! match on the same variants: `send` fails (and hands the message back) once the receiver is gone;
//! `recv` and friends drain what is queued first and only then report that every sender is gone.
//! A send wakes the receiver only when it is actually waiting: a busy receiver costs its senders no
//! system call.

use std::cell::Cell;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Creates a mailbox: the first sender and the one receiver.
pub fn mailbox<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State { queue: VecDeque::new(), senders: 1, receiver: true, waiting: false }),
        arrived: Condvar::new(),
    });
    (Sender { shared: shared.clone() }, Receiver { shared, one_thread: PhantomData })
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Signalled when a message arrives or the last sender goes, and only while `waiting`.
    arrived: Condvar,
}

struct State<T> {
    queue: VecDeque<T>,
    /// Live senders; the receiver sees the mailbox disconnected once this is 0 and the queue empty.
    senders: usize,
    /// Whether the receiver still exists; sends fail once it is gone.
    receiver: bool,
    /// Whether the receiver is blocked on `arrived` (so a sender must wake it).
    waiting: bool,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding this lock cannot leave the queue half-changed (every change is one
        // VecDeque call or a counter), so a poisoned lock is used as it is.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The sending side; clone it for more senders.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Sender<T> {
    /// Queues `msg` for the receiver; gives it back if the receiver is gone.
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        let mut st = self.shared.lock();
        if !st.receiver {
            return Err(SendError(msg));
        }
        st.queue.push_back(msg);
        let wake = std::mem::take(&mut st.waiting);
        drop(st);
        if wake {
            self.shared.arrived.notify_one();
        }
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        Sender { shared: self.shared.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.senders -= 1;
        let wake = st.senders == 0 && std::mem::take(&mut st.waiting);
        drop(st);
        if wake {
            self.shared.arrived.notify_one();
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("mailbox::Sender")
    }
}

/// The receiving side (one per mailbox). It may move to another thread but not be shared by two:
/// `waiting` speaks for one receiver.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
    one_thread: PhantomData<Cell<()>>,
}

impl<T> Receiver<T> {
    /// The next message, waiting as long as it takes; an error once the queue is empty and every
    /// sender is gone.
    pub fn recv(&self) -> Result<T, RecvError> {
        let mut st = self.shared.lock();
        loop {
            if let Some(msg) = st.queue.pop_front() {
                return Ok(msg);
            }
            if st.senders == 0 {
                return Err(RecvError);
            }
            st.waiting = true;
            st = self.shared.arrived.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The next message, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.recv_deadline(deadline),
            // Too far away to be a point in time: as good as forever.
            None => self.recv().map_err(|RecvError| RecvTimeoutError::Disconnected),
        }
    }

    /// The next message, waiting until `deadline` at the latest.
    pub fn recv_deadline(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        let mut st = self.shared.lock();
        loop {
            if let Some(msg) = st.queue.pop_front() {
                return Ok(msg);
            }
            if st.senders == 0 {
                return Err(RecvTimeoutError::Disconnected);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                st.waiting = false;
                return Err(RecvTimeoutError::Timeout);
            }
            st.waiting = true;
            st = self.shared.arrived.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }

    /// The messages queued now, without waiting.
    pub fn try_iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(|| self.try_recv().ok())
    }

    /// The next message if one is queued, without waiting.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut st = self.shared.lock();
        match st.queue.pop_front() {
            Some(msg) => Ok(msg),
            None if st.senders == 0 => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.receiver = false;
        // Dropped outside the lock: a message's own drop may send to this or another mailbox.
        let queued = std::mem::take(&mut st.queue);
        drop(st);
        drop(queued);
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("mailbox::Receiver")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn messages_come_out_in_the_order_they_went_in() {
        let (tx, rx) = mailbox();
        let tx2 = tx.clone();
        tx.send(1).unwrap();
        tx2.send(2).unwrap();
        tx.send(3).unwrap();
        assert_eq!((rx.recv(), rx.try_recv(), rx.recv_timeout(Duration::ZERO)), (Ok(1), Ok(2), Ok(3)));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    }

    #[test]
    fn what_is_queued_is_received_before_the_disconnection() {
        let (tx, rx) = mailbox();
        let tx2 = tx.clone();
        tx.send("a").unwrap();
        drop(tx);
        tx2.send("b").unwrap();
        assert_eq!(rx.try_recv(), Ok("a"));
        drop(tx2);
        assert_eq!(rx.recv(), Ok("b"));
        assert_eq!(rx.recv(), Err(RecvError));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
        assert_eq!(rx.recv_timeout(Duration::from_secs(60)), Err(RecvTimeoutError::Disconnected));
    }

    #[test]
    fn a_send_fails_and_hands_the_message_back_once_the_receiver_is_gone() {
        let (tx, rx) = mailbox();
        tx.send(String::from("queued")).unwrap();
        drop(rx);
        assert_eq!(tx.send(String::from("late")), Err(SendError(String::from("late"))));
    }

    #[test]
    fn the_receiver_drops_what_was_queued_when_it_goes() {
        let (tx, rx) = mailbox();
        let payload = Arc::new(());
        tx.send(payload.clone()).unwrap();
        assert_eq!(Arc::strong_count(&payload), 2);
        drop(rx);
        assert_eq!(Arc::strong_count(&payload), 1);
    }

    #[test]
    fn recv_timeout_times_out_when_nothing_comes_and_the_senders_live() {
        let (tx, rx) = mailbox::<u8>();
        let start = Instant::now();
        assert_eq!(rx.recv_timeout(Duration::from_millis(30)), Err(RecvTimeoutError::Timeout));
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert_eq!(rx.recv_deadline(Instant::now()), Err(RecvTimeoutError::Timeout));
        // A deadline too far to represent waits like recv, and still sees the message.
        tx.send(7).unwrap();
        assert_eq!(rx.recv_timeout(Duration::MAX), Ok(7));
        drop(tx);
    }

    /// A receiver blocked (with and without a timeout) is woken by a message from another thread,
    /// and by the last sender going. The other thread waits for the receiver to be blocked by
    /// looking at the `waiting` flag, not by sleeping.
    #[test]
    fn a_blocked_receiver_wakes_for_a_message_and_for_the_last_sender_going() {
        for timed in [false, true] {
            let (tx, rx) = mailbox::<u32>();
            let shared = rx.shared.clone();
            let until_blocked = move || {
                while !shared.lock().waiting {
                    thread::yield_now();
                }
            };
            let sender = thread::spawn({
                let until_blocked = until_blocked.clone();
                move || {
                    until_blocked();
                    tx.send(42).unwrap();
                    until_blocked();
                    drop(tx);
                }
            });
            let next = |rx: &Receiver<u32>| {
                if timed {
                    rx.recv_timeout(Duration::from_secs(600)).map_err(|e| format!("{e:?}"))
                } else {
                    rx.recv().map_err(|e| format!("{e:?}"))
                }
            };
            assert_eq!(next(&rx), Ok(42), "timed: {timed}");
            let end = next(&rx);
            assert!(end.is_err(), "timed {timed}: {end:?}");
            assert!(!format!("{end:?}").contains("Timeout"), "timed {timed}: {end:?}");
            sender.join().unwrap();
        }
    }

    #[test]
    fn many_senders_on_many_threads_lose_nothing() {
        let (tx, rx) = mailbox();
        let threads: Vec<_> = (0..4u32)
            .map(|t| {
                let tx = tx.clone();
                thread::spawn(move || (0..10_000u32).for_each(|i| tx.send(t * 100_000 + i).unwrap()))
            })
            .collect();
        drop(tx);
        let mut got = Vec::new();
        while let Ok(v) = rx.recv() {
            got.push(v);
        }
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(got.len(), 40_000);
        for t in 0..4 {
            let mine: Vec<u32> = got.iter().copied().filter(|v| v / 100_000 == t).collect();
            assert!(mine.windows(2).all(|w| w[0] < w[1]), "each sender's messages stay in order");
            assert_eq!(mine.len(), 10_000);
        }
    }

    #[test]
    fn a_mailbox_costs_little_memory() {
        // What the server's per-connection figure counts on (docs/PERFORMANCE.md, item 3).
        assert!(std::mem::size_of::<Shared<[u64; 4]>>() <= 96, "{}", std::mem::size_of::<Shared<[u64; 4]>>());
        assert_eq!(std::mem::size_of::<Sender<u8>>(), std::mem::size_of::<usize>());
    }
}
