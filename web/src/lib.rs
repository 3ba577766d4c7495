//! cliser's web side: the dashboard page, a JSON API, live events and Prometheus metrics.
//!
//! It is a leaf of the server: the server binds the listener, feeds a [`LiveEvent`] mailbox (node
//! up and down from its Manager, what the sink stored), and hands [`start`] a [`LoginBrake`] and a
//! password check. Nothing here is on the path from a Pi to its ack: the live thread only reads
//! its mailbox, and the request threads read the live view and the store (their own connections,
//! [`store_pool`]).
//!
//! - [`http`]: HTTP/1.1 on threads, with the limits a server on a LAN needs (slow heads, idle
//!   connections, oversized requests);
//! - `live`: the fleet as the page shows it, and the pushes to the viewers;
//! - `/` and its files (`assets/`, compiled in by `build.rs`: gzip-compressed and content-hashed);
//! - `/api/nodes`, `/api/readings`, `/api/events`, `/api/alerts`, `/api/alerts/history`,
//!   `/api/silences`, `/api/exporters`, `/api/fleet`, `/api/health` (docs/HTTP-API.md) and `/metrics`;
//! - [`fleet_view`]: with PostgreSQL, every node of the fleet from the presence leases the server
//!   reads into a [`FleetBoard`];
//! - the page's admin actions (`POST`: acknowledge, silence, forget), behind a guard against
//!   other sites.
#![deny(missing_docs)]

mod admin;
mod api;
mod assets;
mod body;
mod compress;
mod events;
pub mod fleet_view;
mod guard;
mod health;
mod history;
pub mod http;
mod json;
mod live;
pub mod login;
mod metrics;
pub mod readings;
mod routes;
pub mod store_pool;

pub use fleet_view::{FleetBoard, FleetSnapshot, FleetSource};
pub use live::{
    AckView, AlertView, ExporterView, ExportersFn, Fleet, LiveEvent, NodeState, SensorState, Stored,
};
pub use login::{LoginBrake, PasswordCheck};

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// What the web side needs from the server.
pub struct WebConfig {
    /// The store's URL (the request threads open their own connections).
    pub store_url: String,
    /// What each of the pool's connections may hold (its share of the server's store memory).
    pub store_options: cliser_store::OpenOptions,
    /// The admin password's check; with one, every request needs it (HTTP Basic auth).
    pub password: Option<Arc<PasswordCheck>>,
    /// The server's brake on failed logins.
    pub brake: Arc<dyn LoginBrake>,
    /// The server's keep-alive interval (the page's idea of "recent").
    pub keepalive: Duration,
    /// Names and calibration (reloaded by the server), applied to what is shown.
    pub settings: cliser_common::sensors::SharedSettings,
    /// Serve HTTPS with this configuration (the server's certificate), instead of HTTP.
    pub tls: Option<Arc<cliser_tls::rustls::ServerConfig>>,
    /// The exporters' status (`/api/exporters`, `cliser_export_*` in `/metrics`).
    pub exporters: Arc<ExportersFn>,
    /// This server's name and, on PostgreSQL, the fleet's board (`/api/fleet`, every node of the
    /// fleet in `/api/nodes` and on the page).
    pub fleet: FleetSource,
    /// Told if the acceptor or the live thread panics (the server stops then).
    pub on_panic: Option<cliser_common::core_thread::OnPanic>,
}

/// Why the web side did not start.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The store could not be opened.
    #[error("the web page cannot open the store: {0}")]
    Open(#[source] store_pool::PoolError),
    /// Reading the nodes and sensors the store knows failed.
    #[error("the web page cannot read the store: {0}")]
    Store(#[from] cliser_store::StoreError),
    /// A thread could not start.
    #[error("cannot start the web threads: {0}")]
    Start(#[from] std::io::Error),
}

/// The running web side.
pub struct Web {
    addr: SocketAddr,
    closed: Arc<AtomicBool>,
    /// The acceptor's listener, to stop it without a connection (which needs a free descriptor).
    listener: Arc<TcpListener>,
    shared: Arc<live::Shared>,
    acceptor: JoinHandle<()>,
    live: JoinHandle<()>,
}

/// Loads what the store knows, then starts the live thread (fed by `events`) and the acceptor on
/// `listener`.
pub fn start(listener: TcpListener, config: WebConfig, events: Receiver<LiveEvent>) -> Result<Web, WebError> {
    let addr = listener.local_addr()?;
    let shared = Arc::new(live::Shared::new(config.settings.clone(), config.fleet));
    let pool = store_pool::StorePool::new(&config.store_url, config.store_options);
    {
        let mut store = pool.get().map_err(WebError::Open)?;
        live::load(&shared, &mut *store)?;
    }
    let closed = Arc::new(AtomicBool::new(false));
    let (live_shared, live_closed, stop_shared) = (shared.clone(), closed.clone(), shared.clone());
    let on_panic = config.on_panic;
    let live = cliser_common::core_thread::spawn("web-live", on_panic.clone(), move || {
        live::run(live_shared, events, live_closed)
    })?;
    let routes = routes::Routes {
        shared,
        pool,
        password: config.password,
        brake: config.brake,
        keepalive_ms: config.keepalive.as_millis() as u64,
        exporters: config.exporters,
        tls: config.tls.is_some(),
    };
    let handler: Arc<http::Handler> = Arc::new(move |req: &http::Request| routes.handle(req));
    let allow: Arc<http::Allow> = Arc::new(routes::allow);
    let (acc_closed, tls) = (closed.clone(), config.tls);
    let listener = Arc::new(listener);
    let accepting = listener.clone();
    let acceptor = cliser_common::core_thread::spawn("web-accept", on_panic, move || {
        http::serve(&accepting, handler, allow, acc_closed, tls)
    })?;
    Ok(Web { addr, closed, listener, shared: stop_shared, acceptor, live })
}

impl Web {
    /// The server is about to stop: the viewers are told at once (an SSE `stopping`), and the
    /// sessions it ends from now on are not shown as nodes going offline (they are not: the server
    /// is). Call it before the Manager ends the sessions.
    pub fn stopping(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
    }

    /// Where the page is served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting and ends the live thread (which ends the live streams). Requests under way
    /// finish on their own threads. `Err` names a thread that panicked.
    pub fn stop(self) -> Result<(), &'static str> {
        self.closed.store(true, Ordering::SeqCst);
        if let Err(e) = cliser_common::listener::stop_accepting(&self.listener) {
            log::warn!("web: cannot stop the listener: {e}");
        }
        let acceptor = self.acceptor.join();
        let live = self.live.join();
        acceptor.map_err(|_| "web-accept")?;
        live.map_err(|_| "web-live")?;
        Ok(())
    }
}
