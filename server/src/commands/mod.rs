//! The server binary's subcommands: questions to the store from the command line, and moving
//! readings in and out of it. They open the store the server would use (`--store`, `--data-dir`, or
//! the same keys in `--config`), so they work beside a running server.

pub mod clients;
mod export;
mod forget;
mod gen_tls;
mod history;
mod import_csv;
mod query;
mod silence;

use crate::readings::store_location::StoreLocation;
use cliser_common::exit::{Classify, Outcome};
use cliser_common::sensors::Settings;
use cliser_store::StoreError;

pub use export::ExportArgs;
pub use forget::ForgetArgs;
pub use gen_tls::GenTlsArgs;
pub use history::HistoryArgs;
pub use import_csv::ImportArgs;
pub use query::QueryArgs;
pub use silence::SilenceCommand;

/// What to do instead of running the server.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print readings (or, with --every, min/mean/max per bucket) from the store.
    Query(QueryArgs),
    /// Write every stored reading to stdout, in the columns of the former CSV ledger.
    Export(ExportArgs),
    /// Load a CSV ledger of `--readings-csv` into the store (readings already stored are skipped).
    ImportCsv(ImportArgs),
    /// Give a client its own token: print a new random token once, store its argon2 hash in the
    /// clients file (--clients-file, or clients-file in --config).
    AddClient(clients::AddClientArgs),
    /// Delete a client's token from the clients file.
    RemoveClient(clients::RemoveClientArgs),
    /// Write a fleet CA and a server certificate and key for --listen-tls (ca.pem goes to the Pis).
    GenTls(GenTlsArgs),
    /// Make, list or end silences: matching alerts still fire and are recorded, but the alert
    /// command and webhook are told only once the silence ends (works while the server runs).
    #[command(subcommand)]
    Silence(SilenceCommand),
    /// Forget a node or one of its sensors: it leaves the page, the API, /metrics and the alerts
    /// (its firing alerts end as `forgotten`); readings are kept unless --delete-readings.
    Forget(ForgetArgs),
    /// The alert history: fired, resolved, acknowledged, silenced, unsilenced, forgotten.
    History(HistoryArgs),
}

impl Command {
    /// Whether this command edits the clients file (and needs no store).
    pub fn edits_clients(&self) -> bool {
        matches!(self, Command::AddClient(_) | Command::RemoveClient(_))
    }
}

/// Runs `add-client` or `remove-client` on the clients file at `path` (`None`: none configured):
/// the token to `out`, what to do next to `note`.
pub fn run_clients(
    command: &Command,
    path: Option<&std::path::Path>,
    out: &mut dyn std::io::Write,
    note: &mut dyn std::io::Write,
) -> Result<(), CommandError> {
    let path = path.ok_or_else(|| {
        CommandError::BadArgument(
            "no clients file: give --clients-file PATH (or clients-file in --config); add-client creates it"
                .into(),
        )
    })?;
    match command {
        Command::AddClient(args) => clients::add(args, path, out, note),
        Command::RemoveClient(args) => clients::remove(args, path, note),
        _ => unreachable!("only the clients file's commands"),
    }
}

/// Why a subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// An argument cannot be used (exit 2).
    #[error("{0}")]
    BadArgument(String),
    /// The store failed (exit 1).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading a file or writing the output failed (exit 1).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// What the command names is not there: no such silence in force, no such node (exit 2).
    #[error("{0}")]
    NotFound(String),
    /// Some input lines could not be used; the rest was done (exit 1).
    #[error("{0}")]
    Partial(String),
    /// Certificates could not be made or written (exit 1).
    #[error(transparent)]
    Tls(cliser_tls::gen::GenError),
}

impl Classify for CommandError {
    fn outcome(&self) -> Outcome {
        match self {
            CommandError::BadArgument(_) | CommandError::NotFound(_) => Outcome::BadSettings,
            _ => Outcome::Runtime,
        }
    }
}

/// Runs `command` against the store at `location`, writing to `out`; `query` shows values with
/// the names and calibration of `settings`.
pub fn run(
    command: &Command,
    location: &StoreLocation,
    settings: &Settings,
    out: &mut dyn std::io::Write,
) -> Result<(), CommandError> {
    if command.edits_clients() {
        return Err(CommandError::BadArgument(
            "add-client and remove-client need no store: see run_clients".into(),
        ));
    }
    if let Command::GenTls(args) = command {
        return gen_tls::run(args, out);
    }
    // A CSV that is not there is said before a data dir is made for it.
    let csv = match command {
        Command::ImportCsv(args) => Some(import_csv::open(args)?),
        _ => None,
    };
    if let Command::ImportCsv(_) = command {
        location
            .prepare()
            .map_err(|source| CommandError::Io { what: "create the data dir".into(), source })?;
    } else if let Some(db) = sqlite_file(location).filter(|db| !db.exists()) {
        // Asking a store that does not exist would create an empty one: say where we looked instead
        // (a named file that is not there is a setting to fix, exit 2).
        return Err(CommandError::BadArgument(format!(
            "no store at {}: give --store URL or --data-dir DIR (the server's data dir)",
            db.display()
        )));
    }
    let mut store = cliser_store::open(&location.url)?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    match command {
        Command::Query(args) => query::run(args, settings, store.as_mut(), out),
        Command::Export(args) => export::run(args, store.as_mut(), out),
        Command::ImportCsv(args) => {
            let file = csv.map_or_else(|| import_csv::open(args), Ok)?;
            import_csv::run(args, file, store.as_mut(), out)
        }
        Command::AddClient(_) | Command::RemoveClient(_) => unreachable!("refused above"),
        Command::GenTls(args) => gen_tls::run(args, out),
        Command::Silence(c) => silence::run(c, store.as_mut(), now_ms, out),
        Command::Forget(args) => forget::run(args, store.as_mut(), now_ms, out),
        Command::History(args) => history::run(args, store.as_mut(), out),
    }
}

/// The SQLite file the store is, whether named by `--store sqlite:PATH` or the default in the data
/// dir; `None` for PostgreSQL.
fn sqlite_file(location: &StoreLocation) -> Option<std::path::PathBuf> {
    if let Some(dir) = location.data_dir() {
        return Some(dir.join(crate::readings::store_location::DEFAULT_DB));
    }
    let path = location.url.strip_prefix("sqlite:")?;
    // sqlite:///abs/path is sqlite:/abs/path, as the store reads it.
    Some(path.strip_prefix("//").unwrap_or(path).into())
}

fn write_err(source: std::io::Error) -> CommandError {
    CommandError::Io { what: "writing the output".into(), source }
}
