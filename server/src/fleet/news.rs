//! News between the servers of a fleet (PostgreSQL `NOTIFY`/`LISTEN`): what this server
//! committed and which of its clients came and went goes out to the others, and theirs comes in,
//! so every server's page shows the whole fleet live.
//!
//! Two threads, each with a connection of its own. The sender is one more watcher of the sink and
//! the Manager (an unbounded mailbox that never blocks them); it publishes whatever has gathered
//! in one transaction, so a burst of commits costs one round trip. The listener hands what it
//! hears to a callback. News is best-effort: while the database is down it is dropped (counted in
//! one log line), since the store, which every view reads at load, has the readings anyway.

use cliser_store::fleet::{Heard, News, PgFleet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the listener waits for news before it looks whether it should stop.
const LISTEN_WAIT: Duration = Duration::from_millis(500);

/// How long the sender gathers after the first news of a batch: a commit's news and the next few
/// go out together.
const GATHER: Duration = Duration::from_millis(20);

/// Called on the listener's thread with each server's news.
pub type OnHeard = Box<dyn Fn(Heard) + Send>;

/// How long a stop waits for the listener (a reconnection in progress may take longer: it is left
/// to end on its own).
const STOP_WAIT: Duration = Duration::from_secs(1);

/// The listener thread, to stop. The sender is not joined: it ends by itself once the sink and
/// the Manager, which hold its mailbox, have dropped it.
pub struct NewsThreads {
    stop: Arc<AtomicBool>,
    listener: Option<(JoinHandle<()>, Receiver<()>)>,
}

/// Starts the sender on `out` and the listener on `inbound`; returns the sender's mailbox (for
/// the watchers) and the threads. The sender ends when every sender of its mailbox is dropped.
pub fn start(
    out: PgFleet,
    inbound: PgFleet,
    on_heard: OnHeard,
) -> std::io::Result<(Sender<News>, NewsThreads)> {
    let (tx, rx) = channel();
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::Builder::new().name("fleet-news-out".into()).spawn(move || publish(out, rx))?;
    let stopping = stop.clone();
    let (done_tx, done) = channel();
    let listener = std::thread::Builder::new().name("fleet-news-in".into()).spawn(move || {
        listen(inbound, on_heard, &stopping);
        let _ = done_tx.send(());
    })?;
    Ok((tx, NewsThreads { stop, listener: Some((listener, done)) }))
}

impl NewsThreads {
    /// Stops the listener, waiting at most [`STOP_WAIT`] for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some((thread, done)) = self.listener.take() {
            if done.recv_timeout(STOP_WAIT).is_ok() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for NewsThreads {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn publish(mut fleet: PgFleet, mailbox: Receiver<News>) {
    let mut dropped = 0u64;
    while let Ok(first) = mailbox.recv() {
        let mut batch = vec![first];
        loop {
            match mailbox.recv_timeout(GATHER) {
                Ok(more) => batch.push(more),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        match fleet.publish(&batch) {
            Ok(()) if dropped > 0 => {
                log::info!("fleet news: publishing again ({dropped} items were not told while the database was away)");
                dropped = 0;
            }
            Ok(()) => {}
            Err(e) => {
                if dropped == 0 {
                    log::warn!("fleet news: cannot publish: {e}; the other servers' pages miss this server's news until it can");
                }
                dropped += batch.len() as u64;
            }
        }
    }
}

fn listen(mut fleet: PgFleet, on_heard: OnHeard, stop: &AtomicBool) {
    let mut failing = false;
    let mut listening = false;
    while !stop.load(Ordering::SeqCst) {
        let heard = match listening {
            true => fleet.next_news(LISTEN_WAIT),
            false => fleet.listen().map(|()| Default::default()),
        };
        match heard {
            Ok(batch) => {
                listening = true;
                if std::mem::take(&mut failing) {
                    log::info!("fleet news: listening again");
                }
                if batch.unreadable > 0 {
                    log::warn!(
                        "fleet news: {} notifications on the channel were not cliser's",
                        batch.unreadable
                    );
                }
                for h in batch.heard {
                    on_heard(h);
                }
            }
            Err(e) => {
                if !std::mem::replace(&mut failing, true) {
                    log::warn!("fleet news: cannot listen: {e}; this page misses the other servers' news until it can");
                }
                // The connection is made again on the next call; not at full speed meanwhile.
                let deadline = std::time::Instant::now() + LISTEN_WAIT;
                while std::time::Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
                    std::thread::park_timeout(deadline - std::time::Instant::now());
                }
            }
        }
    }
}
