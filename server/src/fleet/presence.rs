//! Presence for a fleet of servers on one PostgreSQL store: this server's lease on each client
//! registered here, so that a client id is registered on one server at a time, fleet-wide.
//!
//! One thread owns the lease connection ([`PgFleet`]), and keeps this server in the fleet's list
//! of servers (a heartbeat each renew period). A registering session asks it to claim
//! the client's lease and waits a bounded time; the Manager tells it when a client leaves. Every
//! renew period it renews all the leases in one statement, claims again any registered client
//! whose claim could not be made (the database was down), and reports the clients whose lease
//! another server took: their sessions here end. Nothing on the reading path waits for it.
//!
//! Claims and releases carry the session id: when a client reconnects to this server, the old
//! session's release (sent when the Manager notices it ended) must not drop the new session's
//! lease, whatever order the two arrive in.

use cliser_protocol::ClientId;
use cliser_store::fleet::{Claim, PgFleet};
use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a registration waits for the claim's answer before it goes on without one (the
/// claim is still made, and a refusal then ends the session). A healthy database answers in
/// milliseconds.
pub const CLAIM_WAIT: Duration = Duration::from_secs(2);

/// How long a stop waits for the leases to be given up (so the clients may register elsewhere at
/// once, not after the TTL).
const RELEASE_WAIT: Duration = Duration::from_secs(3);

/// Who holds a client's lease after a claim, as the registering session needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// This server holds the client's lease.
    Here,
    /// Another server holds a live lease on the client.
    Elsewhere {
        /// That server's name.
        server: String,
        /// How long that lease has left unless its server renews it.
        expires_in: Duration,
    },
    /// The database did not answer in time: registered all the same; the claim is made later.
    Unknown,
}

/// Told when another server took the lease of a client registered here: its session must end.
pub type OnLost = Box<dyn Fn(ClientId) + Send>;

enum Ask {
    Claim { cid: ClientId, sid: u16, answer: Sender<Holder> },
    Release { cid: ClientId, sid: u16 },
    Stop { done: Sender<()> },
}

/// The presence thread's mailbox; clone it freely (the Manager and every session hold one).
#[derive(Clone)]
pub struct Presence(Sender<Ask>);

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Presence(..)")
    }
}

/// The presence thread, to stop.
pub struct PresenceThread {
    tx: Sender<Ask>,
    thread: Option<JoinHandle<()>>,
}

impl Presence {
    /// Starts the thread on `fleet`; `on_lost` is called (on that thread) with each client whose
    /// lease another server took.
    pub fn start(fleet: PgFleet, on_lost: OnLost) -> std::io::Result<(Presence, PresenceThread)> {
        let (tx, rx) = channel();
        let thread =
            std::thread::Builder::new().name("presence".into()).spawn(move || run(fleet, rx, on_lost))?;
        Ok((Presence(tx.clone()), PresenceThread { tx, thread: Some(thread) }))
    }

    /// Claims `cid` for session `sid`, waiting at most `wait` for the answer.
    pub fn claim(&self, cid: &ClientId, sid: u16, wait: Duration) -> Holder {
        let (answer, answered) = channel();
        if self.0.send(Ask::Claim { cid: cid.clone(), sid, answer }).is_err() {
            return Holder::Unknown;
        }
        answered.recv_timeout(wait).unwrap_or(Holder::Unknown)
    }

    /// Session `sid` of `cid` ended: gives the lease up unless a newer session holds it.
    pub fn release(&self, cid: &ClientId, sid: u16) {
        let _ = self.0.send(Ask::Release { cid: cid.clone(), sid });
    }
}

impl PresenceThread {
    /// Gives every lease up (waiting at most [`RELEASE_WAIT`]) and ends the thread. Called after
    /// the Manager has closed every session. A thread stuck on the database is left behind: its
    /// leases expire on their own.
    pub fn stop(mut self) {
        let (done, released) = channel();
        if self.tx.send(Ask::Stop { done }).is_ok() && released.recv_timeout(RELEASE_WAIT).is_ok() {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for PresenceThread {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let (done, _) = channel();
            let _ = self.tx.send(Ask::Stop { done });
        }
    }
}

/// The thread's state: the clients registered here and the session that registered each.
struct Leases {
    fleet: PgFleet,
    owners: HashMap<ClientId, u16>,
    on_lost: OnLost,
    /// Whether the last database call failed (one line per outage, not one per call).
    failing: bool,
}

fn run(fleet: PgFleet, asks: Receiver<Ask>, on_lost: OnLost) {
    let period = fleet.settings().renew_period();
    let mut leases = Leases { fleet, owners: HashMap::new(), on_lost, failing: false };
    leases.heartbeat();
    let mut next_renewal = Instant::now() + period;
    loop {
        let wait = next_renewal.saturating_duration_since(Instant::now());
        match asks.recv_timeout(wait) {
            Ok(Ask::Claim { cid, sid, answer }) => {
                let verdict = leases.claim(cid, sid);
                let _ = answer.send(verdict);
            }
            Ok(Ask::Release { cid, sid }) => leases.release(&cid, sid),
            Ok(Ask::Stop { done }) => {
                leases.release_all();
                let _ = done.send(());
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                leases.heartbeat();
                leases.renew();
                next_renewal = Instant::now() + period;
            }
            Err(RecvTimeoutError::Disconnected) => {
                leases.release_all();
                return;
            }
        }
    }
}

impl Leases {
    fn claim(&mut self, cid: ClientId, sid: u16) -> Holder {
        let claimed = self.fleet.claim(cid.as_str());
        match self.outcome(claimed, "claim a client's lease") {
            Some(Claim::Claimed) => {
                self.owners.insert(cid, sid);
                Holder::Here
            }
            Some(Claim::HeldBy { server_name, expires_in, .. }) => {
                // A session of this server holding it still is not replaced by one refused.
                if self.owners.get(&cid) == Some(&sid) {
                    self.owners.remove(&cid);
                }
                Holder::Elsewhere { server: server_name, expires_in }
            }
            None => {
                // Registered without a lease: the next renewal claims it.
                self.owners.insert(cid, sid);
                Holder::Unknown
            }
        }
    }

    fn release(&mut self, cid: &ClientId, sid: u16) {
        if self.owners.get(cid) != Some(&sid) {
            return;
        }
        self.owners.remove(cid);
        let released = self.fleet.release(cid.as_str());
        self.outcome(released, "give a client's lease up");
    }

    fn release_all(&mut self) {
        self.owners.clear();
        let released = self.fleet.release_all();
        if self.outcome(released, "give this server's leases up").is_some() {
            log::info!("presence: this server's client leases given up");
        }
        let left = self.fleet.leave();
        self.outcome(left, "leave the fleet's list of servers");
    }

    /// Keeps this server in the fleet's list of servers.
    fn heartbeat(&mut self) {
        let beat = self.fleet.heartbeat();
        self.outcome(beat, "keep this server in the fleet's list");
    }

    /// Renews every lease, claims those a failed claim left out, and ends the sessions of the
    /// clients another server took.
    fn renew(&mut self) {
        let renewed = self.fleet.renew_all();
        let Some(lost) = self.outcome(renewed, "renew the client leases") else { return };
        for cid in lost {
            self.lost(&cid, "its lease expired and another server took it");
        }
        let held: std::collections::HashSet<&str> = self.fleet.held().collect();
        let unclaimed: Vec<ClientId> =
            self.owners.keys().filter(|cid| !held.contains(cid.as_str())).cloned().collect();
        for cid in unclaimed {
            let claimed = self.fleet.claim(cid.as_str());
            match self.outcome(claimed, "claim a client's lease") {
                Some(Claim::HeldBy { server_name, .. }) => {
                    self.lost(cid.as_str(), &format!("server {server_name} holds it"));
                }
                Some(Claim::Claimed) => log::info!("presence: cid={cid}: lease claimed"),
                None => return,
            }
        }
    }

    /// A client registered here is held by another server: its session here ends.
    fn lost(&mut self, cid: &str, why: &str) {
        let Ok(cid) = ClientId::new(cid) else { return };
        if self.owners.remove(&cid).is_some() {
            log::warn!(
                "presence: cid={cid} is registered on another server ({why}); closing its session here"
            );
            (self.on_lost)(cid);
        }
    }

    /// The value of a database call, logging its failure once per outage.
    fn outcome<T>(&mut self, result: Result<T, cliser_store::fleet::FleetError>, what: &str) -> Option<T> {
        match result {
            Ok(v) => {
                if std::mem::take(&mut self.failing) {
                    log::info!("presence: the database answers again");
                }
                Some(v)
            }
            Err(e) => {
                if !std::mem::replace(&mut self.failing, true) {
                    log::error!(
                        "presence: cannot {what}: {e}; registering without leases until the database answers"
                    );
                }
                None
            }
        }
    }
}
