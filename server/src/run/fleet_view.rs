//! The fleet view's thread (PostgreSQL only): every [`REFRESH`] it reads the live servers, the
//! presence leases and the leader from its own lease connection and puts them on the page's
//! [`FleetBoard`], so that `/api/nodes`, `/api/fleet` and the page show every node of the fleet
//! without a request ever waiting on the database. With SQLite it does not exist.

use cliser_common::core_thread::OnPanic;
use cliser_store::fleet::{FleetError, FleetSettings, PgFleet, ServerIdentity};
use cliser_web::fleet_view::{FleetBoard, FleetSnapshot, LeaderView, LeaseView, ServerView, LEADER_DUTY};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the snapshot is read again: a lease that expires shows within this of its expiry.
pub const REFRESH: Duration = Duration::from_secs(1);

/// The running thread; [`stop`](Self::stop) ends it.
pub struct FleetViewThread {
    stop: Sender<()>,
    thread: JoinHandle<()>,
}

impl FleetViewThread {
    /// Starts reading the fleet of the store at `url` as `identity` (this server) into `board`.
    /// The connection is made on the thread (and made again after a failure), so a database that
    /// is down at the start delays the view, not the server.
    pub fn start(
        url: &str,
        identity: ServerIdentity,
        board: FleetBoard,
        on_panic: &OnPanic,
    ) -> std::io::Result<FleetViewThread> {
        let (stop, stopped) = channel();
        let url = url.to_owned();
        let thread = cliser_common::core_thread::spawn("fleet-view", Some(on_panic.clone()), move || {
            let mut reader = Reader { url, identity, fleet: None, failing: false };
            loop {
                let started = Instant::now();
                reader.refresh(&board);
                match stopped.recv_timeout(REFRESH.saturating_sub(started.elapsed())) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
            }
        })?;
        Ok(FleetViewThread { stop, thread })
    }

    /// Ends the thread (after the statement under way, bounded by the lease connection's
    /// statement timeout). `Err` if it panicked.
    pub fn stop(self) -> Result<(), &'static str> {
        let _ = self.stop.send(());
        self.thread.join().map_err(|_| "fleet-view")
    }
}

/// The thread's state: its connection, made when first needed.
struct Reader {
    url: String,
    identity: ServerIdentity,
    fleet: Option<PgFleet>,
    /// The last refresh failed (said once, and once when it works again).
    failing: bool,
}

impl Reader {
    fn refresh(&mut self, board: &FleetBoard) {
        match self.read() {
            Ok(snapshot) => {
                if std::mem::take(&mut self.failing) {
                    log::info!("fleet view: reading the fleet again");
                }
                board.publish(snapshot);
            }
            Err(e) => {
                if !std::mem::replace(&mut self.failing, true) {
                    log::warn!("fleet view: cannot read the fleet ({e}); the page shows it as stale");
                }
                if !e.is_transient() {
                    // Anything else (a schema or a setting) is tried again on a new connection.
                    self.fleet = None;
                }
            }
        }
    }

    fn read(&mut self) -> Result<FleetSnapshot, FleetError> {
        if self.fleet.is_none() {
            self.fleet = Some(PgFleet::connect(&self.url, self.identity.clone(), FleetSettings::default())?);
        }
        let fleet = self.fleet.as_mut().expect("connected above");
        let servers = fleet.servers()?;
        let leases = fleet.presence()?;
        let duties = fleet.who_leads()?;
        let leader = duties
            .into_iter()
            .find(|d| d.duty == LEADER_DUTY && d.live)
            .and_then(|d| Some(LeaderView { name: d.holder_name?, epoch: d.epoch.0, since_ms: d.since_ms }));
        Ok(FleetSnapshot {
            this_id: self.identity.id().to_owned(),
            servers: servers
                .into_iter()
                .map(|s| ServerView { id: s.id, name: s.name, started_ms: s.started_ms, clients: s.clients })
                .collect(),
            leases: leases
                .into_iter()
                .filter(|l| l.live)
                .map(|l| {
                    let lease = LeaseView {
                        server_id: l.server_id,
                        server_name: l.server_name,
                        since_ms: l.since_ms,
                    };
                    (l.cid, lease)
                })
                .collect(),
            leader,
            taken: Instant::now(),
        })
    }
}
