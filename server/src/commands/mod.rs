//! The server binary's subcommands: questions to the store from the command line, and moving
//! readings in and out of it. They open the store the server would use (`--store`, `--data-dir`, or
//! the same keys in `--config`), so they work beside a running server.

mod export;
mod gen_tls;
mod import_csv;
mod query;

use crate::store_location::StoreLocation;
use cliser_common::exit::{Classify, Outcome};
use cliser_common::sensors::Settings;
use cliser_store::StoreError;

pub use export::ExportArgs;
pub use gen_tls::GenTlsArgs;
pub use import_csv::ImportArgs;
pub use query::QueryArgs;

/// What to do instead of running the server.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print readings (or, with --every, min/mean/max per bucket) from the store.
    Query(QueryArgs),
    /// Write every stored reading to stdout, in the columns of the former CSV ledger.
    Export(ExportArgs),
    /// Load a CSV ledger of `--readings-csv` into the store (readings already stored are skipped).
    ImportCsv(ImportArgs),
    /// Write a fleet CA and a server certificate and key for --listen-tls (ca.pem goes to the Pis).
    GenTls(GenTlsArgs),
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
            CommandError::BadArgument(_) => Outcome::BadSettings,
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
    if let Command::GenTls(args) = command {
        return gen_tls::run(args, out);
    }
    if let Command::ImportCsv(_) = command {
        location
            .prepare()
            .map_err(|source| CommandError::Io { what: "create the data dir".into(), source })?;
    } else if let Some(dir) =
        location.data_dir().filter(|d| !d.join(crate::store_location::DEFAULT_DB).exists())
    {
        // Asking a store that does not exist would create an empty one: say where we looked instead.
        return Err(CommandError::BadArgument(format!(
            "no store at {}: give --store URL or --data-dir DIR (the server's data dir)",
            dir.join(crate::store_location::DEFAULT_DB).display()
        )));
    }
    let mut store = cliser_store::open(&location.url)?;
    match command {
        Command::Query(args) => query::run(args, settings, store.as_mut(), out),
        Command::Export(args) => export::run(args, store.as_mut(), out),
        Command::ImportCsv(args) => import_csv::run(args, store.as_mut(), out),
        Command::GenTls(args) => gen_tls::run(args, out),
    }
}

fn write_err(source: std::io::Error) -> CommandError {
    CommandError::Io { what: "writing the output".into(), source }
}
