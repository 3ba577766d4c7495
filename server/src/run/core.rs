//! The server thread: it owns every subsystem once the start is done, waits for a stop request
//! (reloading and answering the console meanwhile), then stops the subsystems in the reverse of
//! their start order, within [`SHUTDOWN_BOUND`].

use crate::auth::credentials::SharedClients;
use crate::config::Config;
use crate::console::listener::Ask;
use crate::fleet::duties::{DutiesThread, ONE_SERVER};
use crate::fleet::news::NewsThreads;
use crate::fleet::presence::PresenceThread;
use crate::link::manager::AdminCmd;
use crate::run::acceptors::Acceptors;
use crate::run::alerts::AlertsThread;
use crate::run::console::ConsoleThread;
use crate::run::control::{Control, RefusedPart, ReloadRefused, StopReason};
use crate::run::error::RunError;
use crate::run::export::Exporters;
use crate::run::start_log::clients_line;
use crate::run::threads::{ManagerThread, RetentionThread, SinkThread};
use crate::run::web::WebPage;
use cliser_alerts::Input as AlertInput;
use cliser_common::sensors::SharedSettings;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;
use std::time::Duration;

/// How long a stop may take, whatever died first, before the server exits without the threads
/// still running (status 1). A clean stop takes well under a second but for the exporters' last
/// send, which their far side's timeout bounds at 10 s; systemd would SIGKILL at 90 s anyway, and
/// meanwhile the Pis wait for a server that is going. Nothing acknowledged is lost by exiting:
/// an ack only covers a committed reading.
pub const SHUTDOWN_BOUND: Duration = Duration::from_secs(15);

/// The subsystems, in the order they start (a failed start stops those that run), and what a
/// reload reads again.
pub struct Core {
    /// The web page, started first of the threads.
    pub web: WebPage,
    /// The alerts thread.
    pub alerts: AlertsThread,
    /// The exporter threads, and their status (the console's `X`).
    pub exporters: Exporters,
    /// The exporters' status.
    pub export_status: cliser_export::StatusBoard,
    /// The console's accept thread.
    pub console: Option<ConsoleThread>,
    /// With PostgreSQL: the news between the fleet's servers (started before the sink, which
    /// tells it what it commits).
    pub news: Option<NewsThreads>,
    /// The readings sink.
    pub sink: Option<SinkThread>,
    /// The retention thread (`--retain-raw`).
    pub retention: Option<RetentionThread>,
    /// With PostgreSQL: the duty lease (this server may lead), given up after retention and the
    /// exporters have stopped.
    pub duties: Option<DutiesThread>,
    /// With PostgreSQL: the clients' fleet leases, given up after the Manager has closed every
    /// session.
    pub presence: Option<PresenceThread>,
    /// The Manager.
    pub manager: Option<ManagerThread>,
    /// The client acceptors, started last.
    pub acceptors: Acceptors,
    /// The `--ready-file` once written: removed when the server ends.
    pub ready_file: Option<PathBuf>,
    /// What a reload reads again.
    pub reload: ReloadFrom,
}

/// Where a reload reads from and what it puts in force.
pub struct ReloadFrom {
    /// Names, calibration and limits in force.
    pub settings: SharedSettings,
    /// The `--config` file they are read from again.
    pub config_file: Option<PathBuf>,
    /// The config file as started with: a reload names the keys it cannot apply.
    pub baseline: crate::reload_check::Baseline,
    /// The clients file in force (or off), read again with the config file.
    pub clients: SharedClients,
    /// Whether a fleet password is set (for the reload's line).
    pub fleet_password: bool,
}

impl ReloadFrom {
    /// What the server started with.
    pub fn new(config: &Config, settings: SharedSettings) -> ReloadFrom {
        ReloadFrom {
            settings,
            config_file: config.config_file.clone(),
            baseline: config.baseline.clone(),
            clients: config.clients.clone(),
            fleet_password: config.password.is_some(),
        }
    }
}

impl Core {
    /// The subsystems started before the server thread (the page, the alerts, the exporters); the
    /// others are put in as they start.
    pub fn new(
        web: WebPage,
        alerts: AlertsThread,
        exporters: Exporters,
        export_status: cliser_export::StatusBoard,
        reload: ReloadFrom,
    ) -> Core {
        Core {
            web,
            alerts,
            exporters,
            export_status,
            console: None,
            news: None,
            sink: None,
            retention: None,
            duties: None,
            presence: None,
            manager: None,
            acceptors: Acceptors::default(),
            ready_file: None,
            reload,
        }
    }

    /// The server thread's body: waits for a stop request, then shuts down.
    pub fn run_until_stopped(self, mailbox: Receiver<Control>) -> Result<(), RunError> {
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
                Ok(Control::Ask(Ask::Alerts(reply))) => self.alerts.send(AlertInput::ListText(reply)),
                Ok(Control::Ask(Ask::Health(reply))) => self.alerts.send(AlertInput::Health(reply)),
                Ok(Control::Ask(Ask::AlertAdmin(request, reply))) => {
                    self.alerts.send(AlertInput::Console(request, reply))
                }
                Ok(Control::Ask(Ask::Exporters(reply))) => {
                    let _ = reply.send(self.export_status.text());
                }
                Ok(Control::Ask(Ask::Fleet(reply))) => match &self.duties {
                    Some(duties) => duties.ask_fleet(reply),
                    None => {
                        let _ = reply.send(ONE_SERVER.to_owned());
                    }
                },
                Err(_) => break StopReason::Console,
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
    fn reload(&self) -> Result<String, ReloadRefused> {
        let mut said = Vec::new();
        let mut refused = Vec::new();
        if self.reload.config_file.is_some() || !self.reload.clients.is_on() {
            match crate::run::control::reload(self.reload.config_file.as_deref(), &self.reload.settings) {
                Ok((now, done)) => {
                    log::info!("{done}");
                    self.alerts.send(AlertInput::Reload(now));
                    said.push(done);
                }
                Err(why) => {
                    log::error!("reload refused, the settings in force are kept: {why}");
                    refused.push(RefusedPart::Settings(why));
                }
            }
        }
        // The file as it is now (it parsed, or the settings' reload above said why not).
        let now = self.reload.config_file.as_deref().and_then(|p| crate::reload_check::read_table(p).ok());
        let clients =
            crate::run::control::reload_clients(&self.reload.clients, &self.reload.baseline, now.as_ref());
        if let Some(note) = clients.note {
            log::warn!("{note}");
            said.push(note);
        }
        match clients.read {
            None => {}
            Some(Ok(_)) => {
                let closed = self.ask_manager(AdminCmd::CloseRevoked);
                let done = format!(
                    "reloaded {}; {closed}",
                    clients_line(&self.reload.clients, self.reload.fleet_password)
                );
                log::info!("{done}");
                said.push(done);
            }
            Some(Err(why)) => {
                log::error!("reload refused, the clients file in force is kept: {why}");
                refused.push(RefusedPart::Clients(why));
            }
        }
        if let Some(now) = &now {
            for key in self.reload.baseline.needing_restart(now) {
                let warn = format!("config key {key} changed; restart to apply (a reload does not)");
                log::warn!("{warn}");
                said.push(warn);
            }
        }
        match refused.is_empty() {
            true => Ok(said.join("; ")),
            // What did reload is said too: the other file is in force.
            false => Err(ReloadRefused { refused, done: said }),
        }
    }

    /// Asks the Manager to carry out `cmd`; its answer.
    fn ask_manager(&self, cmd: AdminCmd) -> String {
        match &self.manager {
            Some(manager) => manager.ask(cmd),
            None => "the Manager has stopped".into(),
        }
    }

    /// Stops the subsystems in the reverse of their start order, once the doors are shut: the
    /// acceptors take no client and the page says the server is going, before the Manager closes
    /// every connection (without 999). The console closes after the drain (it answers during it);
    /// the exporters send what the sink committed during the drain. `step` names the thread waited
    /// for, for the line if the stop outlasts [`SHUTDOWN_BOUND`].
    fn shut_down(self, step: &Step) -> Result<(), RunError> {
        let waiting = |name: &'static str| *step.lock().unwrap_or_else(|e| e.into_inner()) = name;
        let Core {
            web,
            alerts,
            exporters,
            console,
            news,
            sink,
            retention,
            duties,
            presence,
            manager,
            acceptors,
            ..
        } = self;
        acceptors.stop_accepting();
        web.stopping();
        let acceptors = acceptors.stop(waiting);
        waiting("manager");
        let manager = manager.map_or(Ok(()), ManagerThread::stop);
        // Its clients may register on another server at once, not after their leases run out.
        waiting("presence");
        if let Some(presence) = presence {
            presence.stop();
        }
        waiting("retention");
        let retention = retention.map_or(Ok(()), RetentionThread::stop);
        // With the Manager gone, its sessions may still hold the sink open (and the sink the
        // alerts thread): only join them if the Manager ended as it should.
        waiting("sink");
        let sink = sink.filter(|_| manager.is_ok()).map_or(Ok(()), SinkThread::stop);
        waiting("fleet-news-in");
        if let Some(news) = news {
            news.stop();
        }
        waiting("console-accept");
        let console = console.map_or(Ok(()), ConsoleThread::stop);
        waiting("exporters");
        let exporters = exporters.stop();
        // Retention and the exporters have stopped: another server may take their duties at once.
        waiting("duties");
        if let Some(duties) = duties {
            duties.stop();
        }
        // The Manager and the sink have dropped theirs: with this one gone the alerts thread ends.
        waiting("alerts");
        let alerts = alerts.stop(manager.is_ok());
        waiting("web");
        let web = web.stop();
        manager?;
        acceptors?;
        sink?;
        retention?;
        console?;
        web?;
        alerts?;
        exporters?;
        Ok(())
    }

    /// A later subsystem could not start: ends the ones already running and returns why.
    pub fn abandon(self, why: RunError) -> RunError {
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
