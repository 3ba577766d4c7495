//! Duties that run on one server of the fleet at a time (retention, the exporters): this server
//! leads while it holds the fleet's one duty lease, [`LEADER`], with its fencing epoch.
//!
//! One thread ("duties") owns a lease connection ([`PgFleet`]): every renew period it renews the
//! lease while it holds it, and a little more often tries to acquire it while another server
//! holds it (free or expired: taken, with a new epoch). It publishes the state in a
//! [`Leadership`], which the duties' threads look at before they work and which hands them the
//! [`Fence`] their store connection checks every write against.
//!
//! Two guards, so that a server that lost the lease writes nothing after the survivor took over:
//! - Local: this server stops acting as leader once `last successful renewal start + TTL -
//!   margin` has passed on its own monotonic clock, even if the database never answers (a
//!   partition, a stuck statement): PostgreSQL extended the lease after that start, so the
//!   lease cannot have expired before then. [`Leadership::current`] checks the time itself, so
//!   the bound holds even while this thread waits on the database.
//! - In the store: every write is fenced (`Described::set_fence`); a write under an epoch that
//!   is no longer the holder's is refused by PostgreSQL ([`cliser_store::StoreError::Fenced`]),
//!   which covers a process paused between the check and the write (SIGSTOP, a long GC).
//!
//! At stop the lease is released, so a survivor takes the duties at once.

use cliser_store::fleet::{DutyLease, Epoch, Fence, FleetError, FleetServer, PgFleet};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, UNIX_EPOCH};

/// The one duty lease: its holder runs every duty that must run once.
pub const LEADER: &str = "leader";

/// How long before the lease could expire this server stops acting as leader without a
/// successful renewal: room for the duties to notice and for clocks that run a little apart.
const MARGIN: Duration = Duration::from_secs(1);

/// How long a stop waits for the lease to be given up.
const RELEASE_WAIT: Duration = Duration::from_secs(3);

/// Whether this server leads now, shared with the duties' threads; clone it freely.
#[derive(Debug, Clone, Default)]
pub struct Leadership(Arc<Mutex<Lead>>);

#[derive(Debug, Default)]
struct Lead {
    fence: Option<Fence>,
    /// Past this (monotonic), the lease may have expired: not leading any more.
    valid_until: Option<Instant>,
}

impl Leadership {
    /// The fence to write under while this server leads; `None` while another server leads, or
    /// once the lease may have expired without a successful renewal.
    pub fn current(&self) -> Option<Fence> {
        let lead = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match lead.valid_until {
            Some(until) if Instant::now() < until => lead.fence.clone(),
            _ => None,
        }
    }

    /// [`current`](Self::current) as a closure, for the threads that take a gate (the
    /// exporters, retention) without knowing this type.
    pub fn gate(&self) -> impl Fn() -> Option<Fence> + Send + Sync + 'static {
        let lead = self.clone();
        move || lead.current()
    }

    fn set(&self, fence: Option<Fence>, valid_until: Option<Instant>) {
        let mut lead = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lead.fence = fence;
        lead.valid_until = valid_until;
    }
}

enum Ask {
    /// The console's `F`: the fleet as text.
    Fleet(Sender<String>),
    Stop(Sender<()>),
}

/// The duties thread, to ask about the fleet and to stop.
pub struct DutiesThread {
    tx: Sender<Ask>,
    thread: Option<JoinHandle<()>>,
}

impl DutiesThread {
    /// Starts the thread on `fleet` (a lease connection of its own); its state goes to the
    /// [`Leadership`] returned.
    pub fn start(fleet: PgFleet) -> std::io::Result<(Leadership, DutiesThread)> {
        let leadership = Leadership::default();
        let (tx, rx) = channel();
        let on_thread = leadership.clone();
        let thread = std::thread::Builder::new()
            .name("duties".into())
            .spawn(move || Duties { fleet, lead: on_thread, held: None, failing: false }.run(rx))?;
        Ok((leadership, DutiesThread { tx, thread: Some(thread) }))
    }

    /// Asks for the fleet as the console's `F` shows it; the answer goes to `reply`.
    pub fn ask_fleet(&self, reply: Sender<String>) {
        if let Err(std::sync::mpsc::SendError(Ask::Fleet(reply))) = self.tx.send(Ask::Fleet(reply)) {
            let _ = reply.send("error: the duties thread has stopped".into());
        }
    }

    /// Gives the lease up (waiting at most [`RELEASE_WAIT`]) and ends the thread. Called once the
    /// duties' threads have stopped. A thread stuck on the database is left behind: the lease
    /// expires on its own.
    pub fn stop(mut self) {
        let (done, released) = channel();
        if self.tx.send(Ask::Stop(done)).is_ok() && released.recv_timeout(RELEASE_WAIT).is_ok() {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for DutiesThread {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let (done, _) = channel();
            let _ = self.tx.send(Ask::Stop(done));
        }
    }
}

/// The held lease: its epoch, since when (for `F`) and until when it surely holds.
struct Held {
    epoch: Epoch,
    valid_until: Instant,
}

struct Duties {
    fleet: PgFleet,
    lead: Leadership,
    held: Option<Held>,
    /// Whether the last database call failed (one line per outage, not one per call).
    failing: bool,
}

impl Duties {
    fn run(mut self, asks: Receiver<Ask>) {
        let renew = self.fleet.settings().renew_period();
        // A follower asks twice as often: a dead leader's duties are taken within TTL + renew/2.
        let follow = renew / 2;
        let mut next = Instant::now();
        loop {
            match asks.recv_timeout(next.saturating_duration_since(Instant::now())) {
                Ok(Ask::Fleet(reply)) => {
                    let _ = reply.send(self.fleet_text());
                    continue;
                }
                Ok(Ask::Stop(done)) => {
                    self.release();
                    let _ = done.send(());
                    return;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.release();
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            self.tick();
            next = Instant::now() + if self.held.is_some() { renew } else { follow };
        }
    }

    /// Renews the lease if held, else tries to take it; publishes the outcome.
    fn tick(&mut self) {
        let ttl = self.fleet.settings().ttl;
        let started = Instant::now();
        let bound = started + ttl.saturating_sub(MARGIN);
        match self.held.as_ref().map(|h| h.epoch) {
            Some(epoch) => match self.fleet.renew_duty(LEADER, epoch) {
                Ok(true) => {
                    self.answered();
                    if let Some(h) = &mut self.held {
                        h.valid_until = bound;
                    }
                    self.lead.set(Some(self.fleet.fence(LEADER, epoch)), Some(bound));
                }
                Ok(false) => {
                    self.answered();
                    self.lost(epoch, "another server took the lease after it expired");
                }
                Err(e) => {
                    self.failed(&e, "renew the duty lease");
                    if self.held.as_ref().is_some_and(|h| Instant::now() >= h.valid_until) {
                        self.lost(epoch, "it could not be renewed before it might have expired");
                    }
                }
            },
            None => match self.fleet.acquire_duty(LEADER) {
                Ok(Some(epoch)) => {
                    self.answered();
                    self.held = Some(Held { epoch, valid_until: bound });
                    self.lead.set(Some(self.fleet.fence(LEADER, epoch)), Some(bound));
                    log::info!(
                        "fleet: this server leads (epoch {epoch}): retention and the exporters run here"
                    );
                }
                Ok(None) => self.answered(),
                Err(e) => self.failed(&e, "ask for the duty lease"),
            },
        }
    }

    /// Stops leading: the duties' threads see it at their next look; their writes under `epoch`
    /// are refused by the store from now on anyway.
    fn lost(&mut self, epoch: Epoch, why: &str) {
        self.held = None;
        self.lead.set(None, None);
        log::warn!("fleet: this server no longer leads (epoch {epoch}): {why}; its duties stop here");
    }

    fn release(&mut self) {
        self.lead.set(None, None);
        if let Some(h) = self.held.take() {
            match self.fleet.release_duty(LEADER, h.epoch) {
                Ok(()) => log::info!("fleet: duty lease (epoch {}) given up", h.epoch),
                Err(e) => log::warn!("fleet: cannot give the duty lease up: {e}; it expires on its own"),
            }
        }
    }

    fn answered(&mut self) {
        if std::mem::take(&mut self.failing) {
            log::info!("fleet: the database answers again (duties)");
        }
    }

    fn failed(&mut self, e: &FleetError, what: &str) {
        if !std::mem::replace(&mut self.failing, true) {
            log::error!("fleet: cannot {what}: {e}");
        }
    }

    /// The console's `F`: this server, the leader, the live servers with their clients.
    fn fleet_text(&mut self) -> String {
        let me = self.fleet.identity().clone();
        let leads = self.fleet.who_leads();
        let servers = self.fleet.servers();
        match (leads, servers) {
            (Ok(leads), Ok(servers)) => fleet_text(me.name(), me.id(), &leads, &servers),
            (Err(e), _) | (_, Err(e)) => format!("error: {e}"),
        }
    }
}

/// The text of `F`.
fn fleet_text(my_name: &str, my_id: &str, leads: &[DutyLease], servers: &[FleetServer]) -> String {
    let mut out = format!("this server: {my_name}\n");
    match leads.iter().find(|d| d.duty == LEADER && d.live) {
        Some(d) => {
            let name = d.holder_name.as_deref().unwrap_or("?");
            let here = if d.holder_id.as_deref() == Some(my_id) { " (this server)" } else { "" };
            out.push_str(&format!("leader: {name}{here}, epoch {}, since {}\n", d.epoch, utc(d.since_ms)));
        }
        None => out.push_str("leader: none (being chosen)\n"),
    }
    out.push_str(&format!("servers: {}", servers.len()));
    for s in servers {
        let here = if s.id == my_id { " (this server)" } else { "" };
        out.push_str(&format!(
            "\n  {}{here}: up since {}, {} client{}",
            s.name,
            utc(s.started_ms),
            s.clients,
            if s.clients == 1 { "" } else { "s" }
        ));
    }
    out
}

/// `2026-12-01T08:00:00Z`.
fn utc(at_ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(at_ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// What `F` says on an SQLite store.
pub const ONE_SERVER: &str = "one server (SQLite): every duty runs here";
