//! News between the servers of a fleet (PostgreSQL `NOTIFY`/`LISTEN`): what this server
//! committed and which of its clients came and went goes out to the others, and theirs comes in,
//! so every server's page shows the whole fleet live.
//!
//! Two threads, each with a connection of its own. The sender is one more watcher of the sink and
//! the Manager (an unbounded mailbox that never blocks them); it publishes whatever has gathered
//! in one transaction, so a burst of commits costs one round trip. The listener hands what it
//! hears to a callback. News is best-effort: while the database is down it is dropped (counted in
//! one log line), since the store, which every view reads at load, has the readings anyway.

use cliser_store::fleet::{Heard, News, PgFleet, PresenceLease};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How long the listener waits for news before it looks whether it should stop.
const LISTEN_WAIT: Duration = Duration::from_millis(500);

/// How long the sender gathers from the first news of a batch: a commit's news and those of the
/// next few go out together, in one transaction.
const GATHER: Duration = Duration::from_millis(20);

/// Called on the listener's thread with each server's news.
pub type OnHeard = Box<dyn Fn(Heard) + Send>;

/// How often the listener looks at the fleet's presence leases.
const LEASES_EVERY: Duration = Duration::from_secs(2);

/// A client's lease as the listener saw it change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseSeen {
    /// Registered on some server of the fleet (first seen live).
    Up(String),
    /// No longer registered anywhere: its lease ran out at `at_ms` (its server died or was cut
    /// off), or was given up.
    Down {
        /// The client.
        cid: String,
        /// When (Unix ms, PostgreSQL's clock): the lease's expiry, or when it was seen gone.
        at_ms: i64,
    },
}

/// Called on the listener's thread with the leases that changed (the alerts' view of who is
/// online: a server that dies says nothing, its leases just run out).
pub type OnLeases = Box<dyn Fn(Vec<LeaseSeen>) + Send>;

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
    on_leases: OnLeases,
) -> std::io::Result<(Sender<News>, NewsThreads)> {
    let (tx, rx) = channel();
    let stop = Arc::new(AtomicBool::new(false));
    std::thread::Builder::new().name("fleet-news-out".into()).spawn(move || publish(out, rx))?;
    let stopping = stop.clone();
    let (done_tx, done) = channel();
    let listener = std::thread::Builder::new().name("fleet-news-in".into()).spawn(move || {
        listen(inbound, on_heard, on_leases, &stopping);
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
        let batch = gather(&mailbox, first, GATHER);
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

/// `first` and what comes within `within` of it: then out, however busy the sink. Waiting for a
/// quiet moment instead would hold news back for as long as commits keep coming.
fn gather(mailbox: &Receiver<News>, first: News, within: Duration) -> Vec<News> {
    let mut batch = vec![first];
    let until = std::time::Instant::now() + within;
    while let Ok(more) = mailbox.recv_timeout(until.saturating_duration_since(std::time::Instant::now())) {
        batch.push(more);
    }
    batch
}

fn listen(mut fleet: PgFleet, on_heard: OnHeard, on_leases: OnLeases, stop: &AtomicBool) {
    let mut failing = false;
    let mut listening = false;
    let mut leases = Leases::default();
    let mut next_look = std::time::Instant::now();
    while !stop.load(Ordering::SeqCst) {
        if std::time::Instant::now() >= next_look {
            next_look = std::time::Instant::now() + LEASES_EVERY;
            if let Ok(now) = fleet.presence() {
                let changed = leases.changes(&now, now_ms());
                if !changed.is_empty() {
                    on_leases(changed);
                }
            }
        }
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

/// The live leases as last seen.
#[derive(Debug, Default)]
struct Leases {
    /// Live clients, with their lease's expiry (Unix ms).
    live: std::collections::HashMap<String, i64>,
}

impl Leases {
    /// What changed since the last look, given the fleet's leases `now` (at `now_ms`).
    fn changes(&mut self, now: &[PresenceLease], now_ms: i64) -> Vec<LeaseSeen> {
        let mut out = Vec::new();
        let mut live = std::collections::HashMap::new();
        for l in now.iter().filter(|l| l.live) {
            if !self.live.contains_key(&l.cid) {
                out.push(LeaseSeen::Up(l.cid.clone()));
            }
            live.insert(l.cid.clone(), l.expires_ms);
        }
        for (cid, expired) in &self.live {
            if !live.contains_key(cid) {
                let at_ms = match now.iter().find(|l| &l.cid == cid) {
                    Some(l) => l.expires_ms,
                    None => now_ms.min(*expired),
                };
                out.push(LeaseSeen::Down { cid: cid.clone(), at_ms });
            }
        }
        self.live = live;
        out
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(cid: &str, expires_ms: i64, live: bool) -> PresenceLease {
        PresenceLease {
            cid: cid.into(),
            server_id: "s".into(),
            server_name: "a".into(),
            since_ms: 0,
            expires_ms,
            live,
        }
    }

    #[test]
    fn a_batch_goes_out_while_news_keeps_coming() {
        let (tx, rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let producing = stop.clone();
        let producer = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !producing.load(Ordering::SeqCst) && std::time::Instant::now() < deadline {
                let _ = tx.send(News::NodeDown { cid: "pi".parse().unwrap(), at_ms: 0 });
                std::thread::sleep(Duration::from_millis(1));
            }
            std::time::Instant::now() < deadline
        });
        let first = rx.recv().unwrap();
        let batch = gather(&rx, first, Duration::from_millis(20));
        stop.store(true, Ordering::SeqCst);
        assert!(producer.join().unwrap(), "the batch came only once the news stopped");
        assert!(!batch.is_empty());
    }

    #[test]
    fn a_lease_seen_live_is_up_and_one_that_ran_out_is_down_since_its_expiry() {
        let mut l = Leases::default();
        let up = l.changes(&[lease("pi-a", 100, true), lease("pi-old", 5, false)], 50);
        assert_eq!(up, [LeaseSeen::Up("pi-a".into())], "an expired lease at the first look says nothing");
        assert!(l.changes(&[lease("pi-a", 200, true)], 150).is_empty(), "renewed: no change");
        assert_eq!(
            l.changes(&[lease("pi-a", 200, false)], 260),
            [LeaseSeen::Down { cid: "pi-a".into(), at_ms: 200 }],
            "offline since the lease ran out, not since it was seen"
        );
        l.changes(&[lease("pi-a", 300, true)], 270);
        assert_eq!(l.changes(&[], 280), [LeaseSeen::Down { cid: "pi-a".into(), at_ms: 280 }], "given up");
    }
}
