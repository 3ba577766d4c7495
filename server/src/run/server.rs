//! Starts the threads and hands back a [`Handle`]; on a stop request, shuts down in order.

use crate::auth::brake::Brake;
use crate::auth::credentials::SharedClients;
use crate::config::Config;
use crate::console::listener as backdoor;
use crate::console::listener::Ask;
use crate::link::manager::AdminCmd;
use crate::link::manager::{Manager, ManagerEvent, Transport};
use crate::readings::registrations::Registrations;
use crate::readings::sink::Sink;
use crate::readings::watchers::Watchers;
use crate::run::control::{Control, Reloader, StopReason, Stopper};
use crate::run::error::{Listener, RunError};
use cliser_alerts::{Input as AlertInput, Runner};
use cliser_common::core_thread::OnPanic;
use cliser_common::sensors::SharedSettings;
use cliser_web::{AckView, AlertView, LiveEvent, Web, WebConfig};
use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A running server. Dropping it leaves the server running, as dropping a thread's handle does.
#[derive(Debug)]
pub struct Handle {
    client_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    backdoor_addr: SocketAddr,
    http_addr: Option<SocketAddr>,
    stopper: Stopper,
    control: JoinHandle<Result<(), RunError>>,
}

impl Handle {
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
    pub fn backdoor_addr(&self) -> SocketAddr {
        self.backdoor_addr
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

/// Connections the kernel may queue before accept (capped by `net.core.somaxconn`). std's default
/// of 128 drops the SYNs of a burst of Pis reconnecting after an outage, costing each a 1 s retry.
const LISTEN_BACKLOG: i32 = 4096;

fn bind(what: Listener, resolved: SocketAddr) -> Result<TcpListener, RunError> {
    let err = |source| RunError::Bind { what, addr: resolved.to_string(), source };
    let socket = socket2::Socket::new(socket2::Domain::for_address(resolved), socket2::Type::STREAM, None)
        .map_err(err)?;
    // As std does: a restarted server may bind while old connections linger in TIME_WAIT.
    socket.set_reuse_address(true).map_err(err)?;
    socket.bind(&resolved.into()).map_err(err)?;
    socket.listen(LISTEN_BACKLOG).map_err(err)?;
    Ok(socket.into())
}

/// Spawns core thread `name`: if it panics, `on_panic` stops the server (see `core_thread`).
fn spawn<T: Send + 'static>(
    name: &'static str,
    on_panic: &OnPanic,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, RunError> {
    cliser_common::core_thread::spawn(name, Some(on_panic.clone()), f).map_err(RunError::Start)
}

/// A core thread's panic, as a stop request in the server thread's mailbox.
fn stop_on_panic(stop: &Sender<Control>) -> OnPanic {
    let stop = stop.clone();
    Arc::new(move |name| {
        let _ = stop.send(Control::Stop(StopReason::Died(name)));
    })
}

/// How long a stop may take, whatever died first, before the server exits without the threads
/// still running (status 1). A clean stop takes well under a second but for the exporters' last
/// send, which their far side's timeout bounds at 10 s; systemd would SIGKILL at 90 s anyway, and
/// meanwhile the Pis wait for a server that is going. Nothing acknowledged is lost by exiting:
/// an ack only covers a committed reading.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(15);

/// Binds both listeners, opens the ledger, starts the threads and returns. Signals are the
/// caller's business: hand them to [`Handle::stopper`].
pub fn start(mut config: Config) -> Result<Handle, RunError> {
    // A file left by a server that was killed says nothing true: gone until this one is ready.
    if let Some(path) = &config.ready_file {
        let _ = std::fs::remove_file(path);
    }
    let (stop_tx, stop_rx) = channel();
    let on_panic = stop_on_panic(&stop_tx);
    let backdoor = bind(Listener::Console, config.backdoor)?;
    let backdoor_addr = backdoor.local_addr().map_err(RunError::Start)?;
    if !backdoor_addr.ip().is_loopback() && config.admin_password.is_none() {
        return Err(RunError::NoAdminPassword(backdoor_addr));
    }
    let web_listener = config.http.map(|addr| bind(Listener::Web, addr)).transpose()?;
    let listener = config.listen.map(|addr| bind(Listener::Clients, addr)).transpose()?;
    let client_addr = listener.as_ref().map(TcpListener::local_addr).transpose().map_err(RunError::Start)?;
    let tls_listener = config.tls.as_ref().map(|t| bind(Listener::TlsClients, t.listen)).transpose()?;
    let tls_addr = tls_listener.as_ref().map(TcpListener::local_addr).transpose().map_err(RunError::Start)?;
    // Only once every port is ours: a start that fails leaves no store behind. What fails after
    // this (the ready file, a thread) removes what it made when `made` drops.
    let made = config.store.prepare_for_start().map_err(|source| RunError::DataDir {
        path: config.store.data_dir().unwrap_or(Path::new(".")).to_owned(),
        source,
    })?;
    let (store, high_water, registrations) = open_store(&config)?;
    // Every part of the server (the Manager first) takes no more clients than the machine holds.
    config.max_clients = crate::link::capacity::cap_max_clients(config.max_clients);
    match crate::link::process_limits::reserve_descriptor_table(
        config.max_clients.saturating_add(crate::link::process_limits::DESCRIPTOR_RESERVE),
    ) {
        Ok(n) => log::debug!("descriptor table: room for {n}"),
        Err(e) => {
            log::warn!("cannot grow the descriptor table at start ({e}); accepting may pause as it grows")
        }
    }
    let brake = Arc::new(Brake::new(config.brake.clone()));
    let settings = SharedSettings::new(config.sensors.clone());
    let export_status = cliser_export::StatusBoard::default();
    let (live_tx, live_rx) = channel();
    // Beyond loopback, the console and the page use the client link's certificate when there is one.
    let web_tls = web_listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .and_then(|addr| beyond_loopback_tls(&config, addr));
    let web = match web_listener {
        Some(l) => Some(start_web(
            l,
            &config,
            brake.clone(),
            settings.clone(),
            live_rx,
            export_status.clone(),
            on_panic.clone(),
        )?),
        None => None,
    };
    let http_addr = web.as_ref().map(Web::addr);
    match client_addr {
        Some(addr) => log::info!("listening on {addr}"),
        None => log::info!("not listening in clear (--listen off)"),
    }
    if let (Some(addr), Some(tls)) = (tls_addr, &config.tls) {
        log::info!("listening for TLS on {addr} (certificate {})", tls.cert.display());
    }
    let console_tls = beyond_loopback_tls(&config, backdoor_addr);
    match (&console_tls, backdoor_addr.ip().is_loopback()) {
        (Some(_), _) => log::info!("backdoor on {backdoor_addr} (TLS, the certificate of --tls-cert)"),
        (None, true) => log::info!("backdoor on {backdoor_addr}"),
        (None, false) => log::warn!(
            "backdoor on {backdoor_addr}: reachable beyond this machine in clear, its password and commands \
             readable on the network; with --listen-tls it speaks TLS, or reach it through an SSH tunnel"
        ),
    }
    if let Some(addr) = http_addr {
        match (&web_tls, addr.ip().is_loopback()) {
            (Some(_), _) => log::info!("web page on https://{addr}/ (metrics at /metrics; the certificate of --tls-cert)"),
            (None, true) => log::info!("web page on http://{addr}/ (metrics at /metrics)"),
            (None, false) => log::warn!(
                "web page on http://{addr}/: reachable beyond this machine in clear, its password (HTTP Basic) \
                 readable on the network; with --listen-tls it is served over HTTPS, or reach it through an SSH tunnel"
            ),
        }
    }
    log::info!("failed-login brake: {}", config.brake);
    log::info!("{}", config.summary());
    if config.clients.is_on() {
        log::info!("{}", clients_line(&config.clients, config.password.is_some()));
    }

    let live = web.is_some().then_some(live_tx);
    let (alerts_tx, alerts) = start_alerts(&config, &settings, live.clone(), &on_panic)?;
    let exporters = start_exporters(&config, &settings, &export_status, &on_panic)?;
    let notifier = cliser_export::runner::notifier(&exporters);

    let config = Arc::new(config);
    let (manager_tx, manager_rx) = channel();
    let (sink_tx, sink_rx) = channel();

    // The server thread first: once it runs, nothing that starts later can be left without an owner.
    // Its own panic surfaces in `Handle::join`.
    let (core_tx, core_rx) = channel::<Core>();
    let control = cliser_common::core_thread::spawn("server", None, move || match core_rx.recv() {
        Ok(core) => core.run_until_stopped(stop_rx),
        Err(_) => Ok(()), // start() failed and has ended what it had started
    })
    .map_err(RunError::Start)?;
    let mut sink = Sink::new(store, high_water);
    sink.use_settings(settings.clone());
    let export = (!notifier.is_empty()).then_some(notifier);
    let (console_brake, console_live) = (brake.clone(), live.clone());
    let watchers = Watchers { live, alerts: Some(alerts_tx.clone()), export };
    sink.tell(watchers.clone());
    let acks = sink.acks();
    let sink = spawn("sink", &on_panic, move || sink.run(sink_rx))?;
    let (retention_stop, retention) = match config.retain_raw {
        Some(keep) => {
            let pruner = cliser_store::open(&config.store.url).map_err(RunError::Store)?;
            let (tx, rx) = channel();
            (
                Some(tx),
                Some(spawn("retention", &on_panic, move || {
                    crate::readings::retention::run(pruner, keep, rx)
                })?),
            )
        }
        None => (None, None),
    };
    // If the Manager cannot start, dropping it closes the sink's mailbox and the sink ends.
    let mut manager =
        Manager::new(config.clone(), manager_tx.clone(), sink_tx, acks, registrations, brake, watchers);
    manager.use_settings(settings.clone());
    let manager = spawn("manager", &on_panic, move || manager.run(manager_rx))?;
    let mut core = Core {
        backdoor_addr,
        manager_tx,
        manager,
        sink,
        retention_stop,
        retention,
        accepting: Arc::new(AtomicBool::new(true)),
        acceptor: None,
        tls_acceptor: None,
        console_closed: Arc::new(AtomicBool::new(false)),
        console_listener: backdoor.try_clone().ok(),
        console: None,
        ready_file: None,
        web,
        settings,
        config_file: config.config_file.clone(),
        baseline: config.baseline.clone(),
        clients: config.clients.clone(),
        fleet_password: config.password.is_some(),
        alerts_tx: Some(alerts_tx),
        alerts: Some(alerts),
        exporters,
        export_status,
    };
    let (bd_manager, bd_stop) = (core.manager_tx.clone(), stop_tx.clone());
    let console_config = backdoor::ConsoleConfig {
        password: config.admin_password.clone(),
        tls: console_tls,
        brake: console_brake,
        auth_timeout: config.auth_timeout,
        live: console_live,
    };
    let closed = core.console_closed.clone();
    let serve_console = move || backdoor::serve(backdoor, bd_manager, bd_stop, console_config, closed);
    match spawn("backdoor-accept", &on_panic, serve_console) {
        Ok(t) => core.console = Some(t),
        Err(e) => return Err(core.abandon(e)),
    }
    if let Some(listener) = listener.map(Arc::new) {
        let (acc_manager, accepting, l) = (core.manager_tx.clone(), core.accepting.clone(), listener.clone());
        match spawn("acceptor", &on_panic, move || accept_loop(&l, Transport::Plain, acc_manager, accepting))
        {
            Ok(t) => core.acceptor = Some((listener, t)),
            Err(e) => return Err(core.abandon(e)),
        }
    }
    if let Some(listener) = tls_listener.map(Arc::new) {
        let (acc_manager, accepting, l) = (core.manager_tx.clone(), core.accepting.clone(), listener.clone());
        match spawn("tls-acceptor", &on_panic, move || {
            accept_loop(&l, Transport::Tls, acc_manager, accepting)
        }) {
            Ok(t) => core.tls_acceptor = Some((listener, t)),
            Err(e) => return Err(core.abandon(e)),
        }
    }
    // Last, once every thread runs: whoever waits for the file finds a server that does its job.
    if let Some(path) = &config.ready_file {
        let bound = crate::run::ready_file::Bound {
            listen: client_addr,
            listen_tls: tls_addr,
            backdoor: backdoor_addr,
            http: http_addr,
        };
        if let Err(source) = crate::run::ready_file::write(path, &bound) {
            return Err(core.abandon(RunError::ReadyFile { path: path.clone(), source }));
        }
        core.ready_file = Some(path.clone());
    }
    if let Err(std::sync::mpsc::SendError(core)) = core_tx.send(core) {
        return Err(core.abandon(RunError::Panicked("server")));
    }
    made.keep();
    Ok(Handle { client_addr, tls_addr, backdoor_addr, http_addr, stopper: Stopper(stop_tx), control })
}

/// What the clients file in force means, for the start and reload lines.
fn clients_line(clients: &SharedClients, fleet: bool) -> String {
    let others = if fleet { "other ids log in with the fleet password" } else { "other ids are refused" };
    format!(
        "clients file {}: {} ids with their own token; {others}",
        clients.path().unwrap_or_default().display(),
        clients.get().len()
    )
}

/// The alerts thread, on its own store connection, and its mailbox.
fn start_alerts(
    config: &Config,
    settings: &SharedSettings,
    live: Option<Sender<LiveEvent>>,
    on_panic: &OnPanic,
) -> Result<(Sender<AlertInput>, JoinHandle<()>), RunError> {
    let store = cliser_store::open(&config.store.url).map_err(RunError::Store)?;
    let now = settings.get();
    let delivery = cliser_alerts::deliver::Delivery::new(&now.alerts);
    let changes = live.clone();
    let on_change: cliser_alerts::runner::OnChange = Box::new(move |firing| {
        if let Some(live) = &changes {
            let _ = live.send(LiveEvent::Alerts(firing.iter().map(alert_view).collect()));
        }
    });
    // The page drops a forgotten node or sensor as soon as the alerts thread has acted on it.
    let on_forget: cliser_alerts::runner::OnForget = Box::new(move |cid, sensor| {
        let Some(live) = &live else { return };
        let Ok(cid) = cliser_protocol::ClientId::new(cid) else { return };
        let sensor = match sensor.map(cliser_protocol::SensorId::new).transpose() {
            Ok(s) => s,
            Err(_) => return,
        };
        let _ = live.send(LiveEvent::Forgotten { cid, sensor });
    });
    let runner = Runner::new(store, now, delivery, on_change).map_err(RunError::Store)?.on_forget(on_forget);
    let (tx, rx) = channel();
    let thread = spawn("alerts", on_panic, move || runner.run(rx))?;
    Ok((tx, thread))
}

/// The exporter threads (`--mqtt`, `--influx`), each on its own store connection.
fn start_exporters(
    config: &Config,
    settings: &SharedSettings,
    board: &cliser_export::StatusBoard,
    on_panic: &OnPanic,
) -> Result<Vec<cliser_export::Exporter>, RunError> {
    use cliser_export::cursor::{Feed, Start};
    use cliser_export::runner::Far;
    let mut out = Vec::new();
    if let Some(influx) = config.export.influx.clone() {
        let store = cliser_store::open(&config.store.url).map_err(RunError::Store)?;
        let feed = Feed::open(store, "influx", Start::Beginning).map_err(RunError::Store)?;
        let target = influx.shown();
        log::info!("export influx -> {target}: from reading {} on", feed.saved());
        let far = move |_wake| -> Box<dyn Far> { Box::new(cliser_export::influx::Influx::new(influx)) };
        out.push(
            cliser_export::Exporter::start(
                "influx",
                &target,
                feed,
                far,
                settings.clone(),
                board,
                Some(on_panic.clone()),
            )
            .map_err(RunError::Start)?,
        );
    }
    if let Some(mqtt) = config.export.mqtt.clone() {
        let store = cliser_store::open(&config.store.url).map_err(RunError::Store)?;
        let feed = Feed::open(store, "mqtt", Start::End).map_err(RunError::Store)?;
        let target = mqtt.url.clone();
        log::info!(
            "export mqtt -> {target}: from reading {} on, topics {}/..., Home Assistant discovery under {}/",
            feed.saved(),
            mqtt.prefix,
            mqtt.discovery_prefix
        );
        let far = move |wake| -> Box<dyn Far> { Box::new(cliser_export::mqtt::Mqtt::new(mqtt, wake)) };
        out.push(
            cliser_export::Exporter::start(
                "mqtt",
                &target,
                feed,
                far,
                settings.clone(),
                board,
                Some(on_panic.clone()),
            )
            .map_err(RunError::Start)?,
        );
    }
    Ok(out)
}

fn alert_view(active: &cliser_alerts::Active) -> AlertView {
    let a = &active.alert;
    AlertView {
        kind: a.key.kind.as_str(),
        cid: a.key.cid.clone(),
        sensor: a.key.sensor.clone(),
        name: a.name.clone(),
        since_ms: a.since_ms,
        value: a.value,
        limit: a.limit,
        message: a.message.clone(),
        ack: active.ack.as_ref().map(|k| AckView { by: k.by.clone(), note: k.note.clone(), at_ms: k.at_ms }),
        silenced_by: active.silenced_by,
    }
}

/// The server's brake, as the web page sees it.
struct WebBrake(Arc<Brake>);

impl cliser_web::LoginBrake for WebBrake {
    fn is_blocked(&self, ip: std::net::IpAddr) -> bool {
        self.0.is_blocked(ip)
    }

    fn failed(&self, ip: std::net::IpAddr) {
        self.0.record_failure(ip);
    }
}

/// The certificate of `--tls-cert` for a listener on `addr` beyond loopback; none on loopback (where
/// `nc` and a local browser keep working in clear) or without TLS.
fn beyond_loopback_tls(config: &Config, addr: SocketAddr) -> Option<Arc<cliser_tls::rustls::ServerConfig>> {
    let tls = config.tls.as_ref()?;
    (!addr.ip().is_loopback()).then(|| tls.server.clone())
}

fn start_web(
    listener: TcpListener,
    config: &Config,
    brake: Arc<Brake>,
    settings: SharedSettings,
    events: Receiver<LiveEvent>,
    board: cliser_export::StatusBoard,
    on_panic: OnPanic,
) -> Result<Web, RunError> {
    let tls = listener.local_addr().ok().and_then(|addr| beyond_loopback_tls(config, addr));
    let exporters: Arc<cliser_web::ExportersFn> = Arc::new(move || {
        board
            .snapshot()
            .into_iter()
            .map(|s| cliser_web::ExporterView {
                name: s.name,
                target: s.target,
                connected: s.connected,
                lag_readings: s.lag_readings,
                lag_seconds: s.lag_seconds,
                exported: s.exported,
                last_error: s.last_error,
            })
            .collect()
    });
    let password = config.admin_password.clone().map(|secret| {
        let check: Arc<cliser_web::PasswordCheck> = Arc::new(move |p: &str| secret.matches(p));
        check
    });
    let web_config = WebConfig {
        store_url: config.store.url.clone(),
        password,
        brake: Arc::new(WebBrake(brake)),
        keepalive: config.keepalive,
        settings,
        tls,
        exporters,
        on_panic: Some(on_panic),
    };
    cliser_web::start(listener, web_config, events).map_err(RunError::Web)
}

/// The store for the sink, the high-water marks it holds, and (for a database other servers may
/// write to as well) a connection that registrations read their client's mark from.
type Opened = (Box<dyn cliser_store::Store>, HashMap<cliser_protocol::ClientId, u64>, Option<Registrations>);

fn open_store(config: &Config) -> Result<Opened, RunError> {
    if let Some(dir) = config.store.data_dir() {
        log::info!("data dir {}", dir.display());
    }
    let mut store = cliser_store::open(&config.store.url).map_err(RunError::Store)?;
    let info = store.info().map_err(RunError::Store)?;
    let high_water = store.high_water_all().map_err(RunError::Store)?;
    log::info!("store {info}; clients with a high-water mark: {}", high_water.len());
    match config.retain_raw {
        Some(keep) => {
            log::info!("raw readings kept {}, hourly rollups forever", cliser_common::duration::format(keep))
        }
        None => log::info!("raw readings kept forever (--retain-raw 0)"),
    }
    let registrations = match info.backend {
        cliser_store::Backend::Postgres => {
            let reader = cliser_store::open(&config.store.url).map_err(RunError::Store)?;
            Some(Registrations::new(reader))
        }
        cliser_store::Backend::Sqlite => None,
    };
    Ok((store, high_water, registrations))
}

/// The core threads and how to end them.
struct Core {
    backdoor_addr: SocketAddr,
    manager_tx: Sender<ManagerEvent>,
    manager: JoinHandle<()>,
    sink: JoinHandle<()>,
    /// Dropped to end the retention thread.
    retention_stop: Option<Sender<()>>,
    retention: Option<JoinHandle<()>>,
    accepting: Arc<AtomicBool>,
    /// The client listeners and their acceptors.
    acceptor: Option<(Arc<TcpListener>, JoinHandle<()>)>,
    tls_acceptor: Option<(Arc<TcpListener>, JoinHandle<()>)>,
    console_closed: Arc<AtomicBool>,
    /// The console's listener (a duplicate of the acceptor's), to stop it at the end.
    console_listener: Option<TcpListener>,
    console: Option<JoinHandle<()>>,
    /// The `--ready-file` once written: removed when the server ends.
    ready_file: Option<PathBuf>,
    web: Option<Web>,
    /// Names, calibration and limits in force, and where they are read from again.
    settings: SharedSettings,
    config_file: Option<PathBuf>,
    /// The config file as started with: a reload names the keys it cannot apply.
    baseline: crate::reload_check::Baseline,
    /// The clients file in force (or off), read again with the config file, and whether a fleet
    /// password is set (for the reload's line).
    clients: SharedClients,
    fleet_password: bool,
    /// The alerts thread's mailbox (dropped on stop, with the Manager's and the sink's) and thread.
    alerts_tx: Option<Sender<AlertInput>>,
    alerts: Option<JoinHandle<()>>,
    /// The exporter threads, stopped last, and their status (the console's `X`).
    exporters: Vec<cliser_export::Exporter>,
    export_status: cliser_export::StatusBoard,
}

impl Core {
    /// The server thread's body: waits for a stop request, then shuts down.
    fn run_until_stopped(self, mailbox: Receiver<Control>) -> Result<(), RunError> {
        let reason = loop {
            match mailbox.recv() {
                Ok(Control::Stop(reason)) => break reason,
                Ok(Control::Reload) => {
                    let _ = self.reload();
                }
                Ok(Control::Ask(Ask::Reload(reply))) => {
                    let _ = reply.send(match self.reload() {
                        Ok(said) => format!("ok: {said}"),
                        Err(why) => format!("error: {why}"),
                    });
                }
                Ok(Control::Ask(Ask::Alerts(reply))) => self.ask_alerts(AlertInput::ListText(reply)),
                Ok(Control::Ask(Ask::Health(reply))) => self.ask_alerts(AlertInput::Health(reply)),
                Ok(Control::Ask(Ask::AlertAdmin(request, reply))) => {
                    self.ask_alerts(AlertInput::Console(request, reply))
                }
                Ok(Control::Ask(Ask::Exporters(reply))) => {
                    let _ = reply.send(self.export_status.text());
                }
                Err(_) => break StopReason::Backdoor,
            }
        };
        match reason {
            StopReason::Died(_) => log::error!("stopping {reason}: closing all connections"),
            _ => log::info!("stopping {reason}: closing all connections"),
        }
        let ready_file = self.ready_file.clone();
        let stopped = within(SHUTDOWN_BOUND, move |step| self.shut_down(step));
        if let Some(path) = ready_file {
            let _ = std::fs::remove_file(path);
        }
        if let StopReason::Died(name) = reason {
            return Err(RunError::Panicked(name));
        }
        stopped?;
        log::info!("stopped");
        Ok(())
    }

    /// SIGHUP or the console's `R`: the config file's names, calibration, limits and alert
    /// targets, and the clients file (the one the config names now), read again and put in force.
    /// Each is refused on its own when broken, keeping what is in force (a typo in an alert target
    /// must not stop a token's revocation); a removed client's live session is closed. Every other
    /// key of the config file that changed since the start is named in a WARN: only a restart
    /// applies it.
    fn reload(&self) -> Result<String, String> {
        let mut said = Vec::new();
        let mut refused = Vec::new();
        if self.config_file.is_some() || !self.clients.is_on() {
            match crate::run::control::reload(self.config_file.as_deref(), &self.settings) {
                Ok((now, done)) => {
                    log::info!("{done}");
                    if let Some(alerts) = &self.alerts_tx {
                        let _ = alerts.send(AlertInput::Reload(now));
                    }
                    said.push(done);
                }
                Err(why) => {
                    log::error!("reload refused, the settings in force are kept: {why}");
                    refused.push(why);
                }
            }
        }
        // The file as it is now (it parsed, or the settings' reload above said why not).
        let now = self.config_file.as_deref().and_then(|p| crate::reload_check::read_table(p).ok());
        let clients = crate::run::control::reload_clients(&self.clients, &self.baseline, now.as_ref());
        if let Some(note) = clients.note {
            log::warn!("{note}");
            said.push(note);
        }
        match clients.read {
            None => {}
            Some(Ok(_)) => {
                let closed = self.ask_manager(AdminCmd::CloseRevoked);
                let done = format!("reloaded {}; {closed}", clients_line(&self.clients, self.fleet_password));
                log::info!("{done}");
                said.push(done);
            }
            Some(Err(why)) => {
                log::error!("reload refused, the clients file in force is kept: {why}");
                refused.push(why.to_string());
            }
        }
        if let Some(now) = &now {
            for key in self.baseline.needing_restart(now) {
                let warn = format!("config key {key} changed; restart to apply (a reload does not)");
                log::warn!("{warn}");
                said.push(warn);
            }
        }
        match refused.is_empty() {
            true => Ok(said.join("; ")),
            // What did reload is said too: the other file is in force.
            false => Err(refused.into_iter().chain(said).collect::<Vec<_>>().join("; ")),
        }
    }

    /// Asks the Manager to carry out `cmd`; its answer.
    fn ask_manager(&self, cmd: AdminCmd) -> String {
        let (tx, rx) = channel();
        if self.manager_tx.send(ManagerEvent::Admin(cmd, tx)).is_err() {
            return "the Manager has stopped".into();
        }
        rx.recv_timeout(Duration::from_secs(5)).unwrap_or_else(|_| "no answer from the Manager".into())
    }

    fn ask_alerts(&self, input: AlertInput) {
        if let Some(alerts) = &self.alerts_tx {
            let _ = alerts.send(input);
        }
    }

    /// Closes every connection (the Manager does, without 999), then joins the Manager, the
    /// acceptor and the sink, and closes the console last (it answers during the drain). `step`
    /// names the thread waited for, for the line if the stop outlasts [`SHUTDOWN_BOUND`].
    fn shut_down(self, step: &Step) -> Result<(), RunError> {
        let waiting = |name: &'static str| *step.lock().unwrap_or_else(|e| e.into_inner()) = name;
        self.accepting.store(false, Ordering::SeqCst);
        // Not by connecting to ourselves: that needs a descriptor, and they may have run out.
        for (listener, _) in [&self.acceptor, &self.tls_acceptor].into_iter().flatten() {
            if let Err(e) = cliser_common::listener::stop_accepting(listener) {
                log::warn!("cannot stop a client listener: {e}");
            }
        }
        if let Some(web) = &self.web {
            web.stopping();
        }
        let _ = self.manager_tx.send(ManagerEvent::Shutdown);
        drop(self.manager_tx);
        waiting("manager");
        let manager = self.manager.join();
        waiting("acceptor");
        let acceptor = self.acceptor.map(|(_, t)| t.join()).transpose();
        waiting("tls-acceptor");
        let tls_acceptor = self.tls_acceptor.map(|(_, t)| t.join()).transpose();
        // With the Manager gone, its sessions may still hold the sink open (and the sink the
        // alerts thread): only join them if the Manager ended as it should.
        waiting("sink");
        let sink = manager.is_ok().then(|| self.sink.join()).transpose();
        drop(self.retention_stop);
        waiting("retention");
        let retention = self.retention.map(JoinHandle::join).transpose();
        self.console_closed.store(true, Ordering::SeqCst);
        if self.console.is_some() {
            match &self.console_listener {
                Some(l) => {
                    if let Err(e) = cliser_common::listener::stop_accepting(l) {
                        log::warn!("cannot stop the console's listener: {e}");
                    }
                }
                None => wake(self.backdoor_addr),
            }
        }
        waiting("backdoor-accept");
        let console = self.console.map(JoinHandle::join).transpose();
        waiting("web");
        let web = self.web.map(Web::stop).transpose();
        // The Manager and the sink have dropped theirs: with this one gone the alerts thread ends.
        drop(self.alerts_tx);
        waiting("alerts");
        let alerts = manager.is_ok().then(|| self.alerts.map(JoinHandle::join)).flatten().transpose();
        // Last: what the sink committed during the drain is exported before they end (as far as
        // the far side takes it now; the rest after the next start, from the cursor).
        waiting("exporters");
        let mut exporters = Ok(());
        for e in self.exporters {
            if e.stop().is_err() {
                exporters = Err(RunError::Panicked("export"));
            }
        }
        manager.map_err(|_| RunError::Panicked("manager"))?;
        acceptor.map_err(|_| RunError::Panicked("acceptor"))?;
        tls_acceptor.map_err(|_| RunError::Panicked("tls-acceptor"))?;
        sink.map_err(|_| RunError::Panicked("sink"))?;
        retention.map_err(|_| RunError::Panicked("retention"))?;
        console.map_err(|_| RunError::Panicked("backdoor-accept"))?;
        web.map_err(RunError::Panicked)?;
        alerts.map_err(|_| RunError::Panicked("alerts"))?;
        exporters?;
        Ok(())
    }

    /// A later thread could not start: ends the ones already running and returns why.
    fn abandon(self, why: RunError) -> RunError {
        match within(SHUTDOWN_BOUND, move |step| self.shut_down(step)) {
            Ok(()) => why,
            Err(e) => {
                log::error!("{e}");
                why
            }
        }
    }
}

/// What a stop waits for now.
type Step = std::sync::Mutex<&'static str>;

/// Runs `stop` on a thread of its own and waits for it at most `bound`: past it, an error that
/// names what it was waiting for (the threads still running end with the process).
fn within(
    bound: Duration,
    stop: impl FnOnce(&Step) -> Result<(), RunError> + Send + 'static,
) -> Result<(), RunError> {
    let step = Arc::new(Step::new("the start of the stop"));
    let (done_tx, done) = channel();
    let on_thread = step.clone();
    let spawned = std::thread::Builder::new().name("server-stop".into()).spawn(move || {
        let _ = done_tx.send(stop(&on_thread));
    });
    // Without one, the threads end with the process.
    spawned.map_err(RunError::Start)?;
    match done.recv_timeout(bound) {
        Ok(result) => result,
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Err(RunError::Panicked("server-stop")),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            let waiting = *step.lock().unwrap_or_else(|e| e.into_inner());
            Err(RunError::StopTimedOut { waiting, bound })
        }
    }
}

/// accept() has no timeout: a connection of our own wakes it to see its flag (only where the
/// listener could not be duplicated to stop it with [`cliser_common::listener::stop_accepting`]).
fn wake(bound: SocketAddr) {
    let _ = TcpStream::connect_timeout(&wake_addr(bound), Duration::from_secs(1));
}

fn wake_addr(bound: SocketAddr) -> SocketAddr {
    let mut a = bound;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    a
}

fn accept_loop(
    listener: &TcpListener,
    transport: Transport,
    manager: Sender<ManagerEvent>,
    accepting: Arc<AtomicBool>,
) {
    loop {
        match listener.accept() {
            Ok(_) if !accepting.load(Ordering::SeqCst) => return,
            Ok((stream, peer)) => {
                if manager.send(ManagerEvent::Accepted(stream, peer, transport)).is_err() {
                    return;
                }
            }
            Err(e) => {
                if !accepting.load(Ordering::SeqCst) {
                    return;
                }
                log::error!("accept failed: {e}");
                // Out of file descriptors, typically: give connections time to close instead of spinning.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
