//! How the server is told what to do while it runs: stop (signals, the console's `Q`, the
//! handle) or reload the config file's names, calibration and limits and the clients file (SIGHUP,
//! the console's `R`).

use crate::auth::clients_file::FileError;
use crate::auth::credentials::SharedClients;
use crate::console::listener::{Ask, Quit};
use crate::reload_check::Baseline;
use cliser_common::sensors::{SensorsFileError, Settings, SharedSettings};
use std::path::{Path, PathBuf};
use std::sync::mpsc::Sender;
use std::sync::Arc;

/// In the stop line's words: `stopping on SIGINT`, `stopping on the console's Q`.
impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Signal(libc::SIGINT) => f.write_str("on SIGINT"),
            StopReason::Signal(libc::SIGTERM) => f.write_str("on SIGTERM"),
            StopReason::Signal(n) => write!(f, "on signal {n}"),
            StopReason::Console => f.write_str("on the console's Q"),
            StopReason::Requested => f.write_str("as asked"),
            StopReason::Died(name) => write!(f, "after the {name} thread panicked"),
        }
    }
}

/// Why the server stops.
#[derive(Debug, Clone, Copy)]
pub enum StopReason {
    /// SIGINT or SIGTERM.
    Signal(i32),
    /// `Q` on the admin console.
    Console,
    /// [`Handle::stop`].
    Requested,
    /// A core thread panicked (the server exits with status 1).
    Died(&'static str),
}

/// What the server thread's mailbox takes: a stop, or a reload of the config file's names,
/// calibration and limits (with where to say how it went).
#[derive(Debug)]
pub enum Control {
    /// Stop.
    Stop(StopReason),
    /// Read the `--config` file's `[sensors]`, `[nodes]` and `[alerts]`, and the clients file, again
    /// (SIGHUP).
    Reload,
    /// A console question that the server thread answers or passes on.
    Ask(Ask),
}

impl From<Quit> for Control {
    fn from(_: Quit) -> Self {
        Control::Stop(StopReason::Console)
    }
}

impl From<Ask> for Control {
    fn from(a: Ask) -> Self {
        Control::Ask(a)
    }
}

/// Asks a running server to stop. Cheap to clone and to move to another thread (e.g. the one that
/// waits for signals).
#[derive(Debug, Clone)]
pub struct Stopper(pub(crate) Sender<Control>);

impl Stopper {
    /// Asks the server to stop; it closes every connection (without 999, so clients come back),
    /// drains the readings sink and ends. Stopping a server that is already stopping does nothing.
    pub fn stop(&self, reason: StopReason) {
        // Gone only once the server has stopped: nothing left to do then.
        let _ = self.0.send(Control::Stop(reason));
    }
}

/// Asks a running server to read its config file's names, calibration, limits and alert targets,
/// and its clients file, again (SIGHUP). An invalid file is refused with an ERROR and what is in
/// force is kept.
#[derive(Debug, Clone)]
pub struct Reloader(pub(crate) Sender<Control>);

impl Reloader {
    /// Asks for the reload; the server logs how it went.
    pub fn reload(&self) {
        let _ = self.0.send(Control::Reload);
    }
}

/// Why the `[sensors]`, `[nodes]` and `[alerts]` tables were not reloaded (those in force stay).
#[derive(Debug, thiserror::Error)]
pub enum SettingsReloadError {
    /// The server was started without `--config`.
    #[error("no --config file to reload: names, calibration and limits come from one")]
    NoConfigFile,
    /// The file cannot be read, or its tables are refused.
    #[error(transparent)]
    File(#[from] SensorsFileError),
}

/// A part a reload refused, keeping what was in force for it.
#[derive(Debug, thiserror::Error)]
pub enum RefusedPart {
    /// The config file's names, calibration, limits and alert targets.
    #[error(transparent)]
    Settings(#[from] SettingsReloadError),
    /// The clients file.
    #[error(transparent)]
    Clients(#[from] FileError),
}

/// A reload that refused a part: what it refused, then what it did all the same (the other part
/// is in force), in one line for the console.
#[derive(Debug)]
pub struct ReloadRefused {
    /// Each part refused, and why (at least one).
    pub refused: Vec<RefusedPart>,
    /// What was put in force or noted all the same.
    pub done: Vec<String>,
}

impl std::fmt::Display for ReloadRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let refused = self.refused.iter().map(ToString::to_string);
        f.write_str(&refused.chain(self.done.iter().cloned()).collect::<Vec<_>>().join("; "))
    }
}

impl std::error::Error for ReloadRefused {}

/// Reads the `[sensors]`, `[nodes]` and `[alerts]` tables of `file` and puts them in force; the
/// answer for the console. On an error nothing changes.
pub fn reload(
    file: Option<&Path>,
    settings: &SharedSettings,
) -> Result<(Arc<Settings>, String), SettingsReloadError> {
    let Some(file) = file else {
        return Err(SettingsReloadError::NoConfigFile);
    };
    let new = Settings::load(file)?;
    let named = new.configured_sensors().filter(|(_, s)| s.name.is_some()).count();
    let limits = new.configured_sensors().filter(|(_, s)| s.min.is_some() || s.max.is_some()).count();
    settings.set(new);
    let now = settings.get();
    Ok((now, format!("reloaded {}: {named} sensors named, {limits} with limits", file.display())))
}

/// What a reload does with the clients file.
#[derive(Debug)]
pub struct ClientsReload {
    /// Something the operator should hear (a WARN): the config no longer names the file in force.
    pub note: Option<String>,
    /// The file read and put in force (again, for the first time, or in place of another); `None`
    /// when there is none before or now.
    pub read: Option<Result<usize, FileError>>,
}

/// Puts in force the clients file that the flag or the config file (`now`, as it reads now; `None`
/// when there is none or it does not parse) names: the same file again, a file named for the first
/// time (tokens take effect without a restart), or another file. A `clients-file` key removed keeps
/// the one in force until a restart: turning tokens off is not something a reload should do
/// quietly.
pub fn reload_clients(
    clients: &SharedClients,
    baseline: &Baseline,
    now: Option<&toml::Table>,
) -> ClientsReload {
    let named_now = match now {
        Some(table) if !baseline.from_flag("clients-file") => {
            table.get("clients-file").and_then(|v| v.as_str()).map(PathBuf::from)
        }
        _ => clients.path(),
    };
    match (clients.path(), named_now) {
        (None, None) => ClientsReload { note: None, read: None },
        (Some(old), None) => ClientsReload {
            note: Some(format!(
                "config key clients-file removed; the clients file {} stays in force until a restart",
                old.display()
            )),
            read: Some(clients.reload()),
        },
        (_, Some(path)) => ClientsReload { note: None, read: Some(clients.switch_to(&path)) },
    }
}
