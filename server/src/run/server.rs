//! Starts the server's subsystems in order and hands back a [`Handle`]; the server thread
//! ([`Core`]) stops them in the reverse order.

use crate::auth::brake::Brake;
use crate::config::Config;
use crate::fleet::duties::Leadership;
use crate::link::manager::{Fleetwide, Transport};
use crate::readings::watchers::Watchers;
use crate::run::alerts::AlertsThread;
use crate::run::console::{ConsoleMailboxes, ConsoleThread};
use crate::run::control::{Control, Reloader, StopReason, Stopper};
pub use crate::run::core::SHUTDOWN_BOUND;
use crate::run::core::{Core, ReloadFrom};
use crate::run::error::RunError;
use crate::run::export::Exporters;
use crate::run::listeners::Listeners;
use crate::run::spawn::stop_on_panic;
use crate::run::store::Opened;
use crate::run::threads::{ManagerParts, ManagerThread, RetentionThread, SinkThread};
use crate::run::web::{PageParts, WebPage};
use cliser_common::core_thread::OnPanic;
use cliser_common::sensors::SharedSettings;
use cliser_store::fleet::ServerIdentity;
use cliser_web::LiveEvent;
use std::net::SocketAddr;
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A running server. Dropping it leaves the server running, as dropping a thread's handle does.
#[derive(Debug)]
pub struct Handle {
    client_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    console_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    stopper: Stopper,
    control: ServerThread,
}

/// The server thread: it ends with how the stop went.
type ServerThread = JoinHandle<Result<(), RunError>>;

impl Handle {
    fn new(
        bound: &crate::run::ready_file::Bound,
        stopper: Stopper,
        control: JoinHandle<Result<(), RunError>>,
    ) -> Handle {
        Handle {
            client_addr: bound.listen,
            tls_addr: bound.listen_tls,
            console_addr: bound.console,
            http_addr: bound.http,
            stopper,
            control,
        }
    }

    /// Where clients connect in clear (the bound address: the real port when started on port 0);
    /// `None` with `--listen off`.
    pub fn client_addr(&self) -> Option<SocketAddr> {
        self.client_addr
    }

    /// Where clients connect inside TLS, with `--listen-tls`.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// Where the admin console listens.
    pub fn console_addr(&self) -> SocketAddr {
        self.console_addr
    }

    /// Where the web page is served, unless `--http off`.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// Stops the server as SIGTERM or the console's `Q` do. Returns at once; [`join`](Self::join)
    /// waits for the end.
    pub fn stop(&self) {
        self.stopper.stop(StopReason::Requested);
    }

    /// A reloader for another thread (SIGHUP).
    pub fn reloader(&self) -> Reloader {
        Reloader(self.stopper.0.clone())
    }

    /// A stopper for another thread.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Waits until the server has stopped (after [`stop`](Self::stop), a signal handed to a
    /// [`Stopper`], or the console's `Q`). A core thread that panicked surfaces here.
    pub fn join(self) -> Result<(), RunError> {
        let Handle { control, stopper, .. } = self;
        let result = control.join().unwrap_or(Err(RunError::Panicked("server")));
        // Held until here: its sender keeps the stop mailbox open while the server runs.
        drop(stopper);
        result
    }
}

/// Binds every port, opens the store, starts the subsystems in order and returns. Signals are the
/// caller's business: hand them to [`Handle::stopper`].
pub fn start(mut config: Config) -> Result<Handle, RunError> {
    // A file left by a server that was killed says nothing true: gone until this one is ready.
    if let Some(path) = &config.ready_file {
        let _ = std::fs::remove_file(path);
    }
    let (stop_tx, stop_rx) = channel();
    let on_panic = stop_on_panic(&stop_tx);
    let mut listeners = Listeners::bind(&config)?;
    // Only once every port is ours: a start that fails leaves no store behind. What fails after
    // this (the ready file, a thread) removes what it made when `made` drops.
    let (made, opened) = crate::run::store::open(&config)?;
    // Every part of the server (the Manager first) takes no more clients than the machine holds.
    config.max_clients = crate::link::capacity::hold_max_clients(config.max_clients);
    let brake = Arc::new(Brake::new(config.brake.clone()));
    let settings = SharedSettings::new(config.sensors.clone());
    let export_status = cliser_export::StatusBoard::default();
    let (live_tx, live_rx) = channel();
    let web_listener = listeners.web.take();
    let identity =
        crate::run::fleet::identity(&config, listeners.bound.listen.or(listeners.bound.listen_tls));
    let page = PageParts { settings: &settings, events: live_rx, board: &export_status, on_panic: &on_panic };
    let web = WebPage::start(web_listener, &config, &brake, (&identity, opened.backend), page)?;
    crate::run::start_log::say(&config, &listeners.bound);
    let fleet_identity = crate::run::fleet::in_fleet(&identity, opened.backend);
    let (leadership, duties) = crate::run::fleet::start_duties(&config, fleet_identity)?.unzip();
    let live = web.is_on().then_some(live_tx);
    let alerts = AlertsThread::start(&config, &settings, live.clone(), leadership.as_ref(), &on_panic)?;
    let exporters = Exporters::start(&config, &settings, &export_status, leadership.as_ref(), &on_panic)?;
    let config = Arc::new(config);
    let (core_tx, control) = spawn_server_thread(stop_rx)?;
    let mut core = Core::new(web, alerts, exporters, export_status, ReloadFrom::new(&config, settings));
    core.duties = duties;
    let bound = listeners.bound;
    let (stop, identity, leadership) = (&stop_tx, fleet_identity, leadership.as_ref());
    let shared = Shared { config: &config, brake, live, stop, on_panic: &on_panic, identity, leadership };
    let started = start_threads(&mut core, listeners, opened, &shared);
    // Last, once every thread runs: whoever waits for the file finds a server that does its job.
    if let Err(e) = started.and_then(|()| write_ready_file(&mut core, &config, &bound)) {
        return Err(core.abandon(e));
    }
    if let Err(std::sync::mpsc::SendError(core)) = core_tx.send(core) {
        return Err(core.abandon(RunError::Panicked("server")));
    }
    made.keep();
    Ok(Handle::new(&bound, Stopper(stop_tx), control))
}

/// The server thread, first of the threads: once it runs, nothing that starts later can be left
/// without an owner. It waits for the [`Core`] `start` hands it (none: `start` failed and has
/// ended what it had started). Its own panic surfaces in [`Handle::join`].
fn spawn_server_thread(
    stop_rx: std::sync::mpsc::Receiver<Control>,
) -> Result<(Sender<Core>, ServerThread), RunError> {
    let (core_tx, core_rx) = channel::<Core>();
    let control = cliser_common::core_thread::spawn("server", None, move || match core_rx.recv() {
        Ok(core) => core.run_until_stopped(stop_rx),
        Err(_) => Ok(()),
    })
    .map_err(RunError::Start)?;
    Ok((core_tx, control))
}

/// What the threads started after the server thread share.
struct Shared<'a> {
    config: &'a Arc<Config>,
    brake: Arc<Brake>,
    live: Option<Sender<LiveEvent>>,
    /// The server thread's mailbox (the console's `Q` and `R` go there).
    stop: &'a Sender<Control>,
    on_panic: &'a OnPanic,
    /// With PostgreSQL: who this server is in the fleet.
    identity: Option<&'a ServerIdentity>,
    /// With PostgreSQL: whether this server leads (runs retention and the exporters).
    leadership: Option<&'a Leadership>,
}

/// The threads started once the server thread runs, in order: the console, the sink, retention,
/// presence (PostgreSQL), the Manager, the acceptors. Each is put in `core` as it starts, so a failure stops those that
/// run (and returning drops the mailboxes held here, so the sink ends without a Manager).
fn start_threads(core: &mut Core, ports: Listeners, opened: Opened, shared: &Shared) -> Result<(), RunError> {
    let Shared { config, brake, live, stop, on_panic, identity, leadership } = shared;
    let (manager_tx, manager_rx) = channel();
    let (sink_tx, sink_rx) = crate::readings::sink::mailbox();
    let to = ConsoleMailboxes { manager: manager_tx.clone(), server: (*stop).clone(), live: live.clone() };
    core.console = Some(ConsoleThread::start(ports.console, config, brake, to, on_panic)?);
    // In a fleet every server's alerts and exporters hear of every reading and lease; the
    // leader's act on them.
    let duties = (core.alerts.mailbox(), core.exporters.watcher());
    let news = crate::run::fleet::start_news(config, *identity, live.clone(), duties)?;
    let (fleet, news) = news.unzip();
    core.news = news;
    let watchers = Watchers {
        live: live.clone(),
        alerts: core.alerts.mailbox(),
        export: core.exporters.watcher(),
        fleet,
    };
    let settings = &core.reload.settings;
    let sink = SinkThread::start(
        opened.store,
        opened.high_water,
        settings,
        config.keepalive,
        watchers.clone(),
        sink_rx,
        on_panic,
    )?;
    let (sink, acks) = sink;
    core.sink = Some(sink);
    core.retention = Some(RetentionThread::start(config, *leadership, on_panic)?);
    let presence = crate::run::fleet::start_presence(config, *identity, &manager_tx)?;
    let (presence, presence_thread) = presence.unzip();
    core.presence = presence_thread;
    let fleetwide = Fleetwide { registrations: opened.registrations, presence };
    let parts = ManagerParts { sink: sink_tx, acks, fleetwide, brake: brake.clone(), watchers };
    let manager = ManagerThread::start(
        config,
        (manager_tx.clone(), manager_rx),
        parts,
        &core.reload.settings,
        on_panic,
    );
    core.manager = Some(manager?);
    core.acceptors.start(ports.clients, Transport::Plain, &manager_tx, on_panic)?;
    core.acceptors.start(ports.tls, Transport::Tls, &manager_tx, on_panic)?;
    Ok(())
}

/// Writes the `--ready-file`, if asked, with where the server listens.
fn write_ready_file(
    core: &mut Core,
    config: &Config,
    bound: &crate::run::ready_file::Bound,
) -> Result<(), RunError> {
    if let Some(path) = &config.ready_file {
        if let Err(source) = crate::run::ready_file::write(path, bound) {
            return Err(RunError::ReadyFile { path: path.clone(), source });
        }
        core.ready_file = Some(path.clone());
    }
    Ok(())
}
