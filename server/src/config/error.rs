//! Why the settings are unusable: each message names the setting as the user wrote it.

use cliser_common::config_file::ConfigFileError;
use cliser_common::exit::{Classify, Outcome};
use cliser_common::secret::SecretError;
use std::net::SocketAddr;

/// Why the settings are unusable. The binary exits with status 2 for these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No client password was given.
    #[error(
        "no client password: put it in a file and pass --password-file PATH \
         (or `password-file` in --config), or set CLISER_PASSWORD; or give each client its own \
         token with --clients-file PATH and `cliser-server add-client ID`"
    )]
    NoPassword,
    /// The clients file cannot be read or has a bad line.
    #[error(transparent)]
    Clients(#[from] crate::clients_file::FileError),
    /// A password file or variable is unusable.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The config file cannot be read or is not valid TOML of the expected keys.
    #[error(transparent)]
    File(#[from] ConfigFileError),
    /// The admin console would listen beyond loopback without a password.
    #[error(
        "the console on {0} is reachable beyond this machine: give it a password with \
         --admin-password-file PATH (or CLISER_ADMIN_PASSWORD), or bind it to 127.0.0.1"
    )]
    NoAdminPassword(SocketAddr),
    /// The web page would be served beyond loopback without a password.
    #[error(
        "the web page on {0} is reachable beyond this machine: give it the admin password with \
         --admin-password-file PATH (or CLISER_ADMIN_PASSWORD), bind it to 127.0.0.1, or --http off"
    )]
    NoWebPassword(SocketAddr),
    /// Neither the plain nor the TLS listener is on.
    #[error("--listen off without --listen-tls ADDR: the server would have no way in for the clients")]
    NoListener,
    /// A TLS setting is missing, or its files cannot be used.
    #[error("{0}")]
    Tls(String),
    /// The `[sensors]`, `[nodes]` or `[alerts]` tables are not valid.
    #[error(transparent)]
    Sensors(#[from] cliser_common::sensors::SensorsFileError),
    /// An exporter's setting (`--mqtt`, `--influx`, `[mqtt]`, `[influx]`) is not valid.
    #[error(transparent)]
    Export(#[from] super::export_config::ExportConfigError),
    /// `--auth-exempt` (or its config key) is not a list of address ranges.
    #[error("{setting}: {source}")]
    Exempt {
        /// The flag or config key.
        setting: String,
        /// What is wrong.
        source: crate::cidr::CidrError,
    },
    /// `--readings-csv` is gone: readings go to the store.
    #[error(
        "--readings-csv (or readings-csv in --config) was replaced by the database store: every reading \
         now goes to --store (default sqlite:<data dir>/cliser.db); load an existing ledger once with \
         `cliser-server import-csv FILE`, and `cliser-server export --format csv` writes the same columns"
    )]
    ReadingsCsvReplaced,
    /// A value is not valid; `setting` names it as the user wrote it (`--dead-after` or
    /// `config key dead-after`).
    #[error("{setting}: {message}")]
    Value {
        /// The flag or config key.
        setting: String,
        /// What is wrong.
        message: String,
    },
}

impl Classify for ConfigError {
    fn outcome(&self) -> Outcome {
        Outcome::BadSettings
    }
}
