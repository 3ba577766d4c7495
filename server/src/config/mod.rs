//! The server's settings. Each is declared once ([`settings`]): clap reads it from the flags, serde
//! from the optional `--config` TOML file (the same names), the flags win; `resolve` turns them
//! into the [`Config`] the server runs with. Also here: the exporters' tables ([`export_config`]) and
//! what a reload cannot apply ([`reload_check`]).

mod error;
pub mod export_config;
pub mod given;
pub mod reload_check;
mod resolve;
pub mod settings;
pub mod store_memory;

pub use error::ConfigError;
pub use resolve::{clients_file_for_commands, sensors_for_commands, store_for_commands, Config, TlsListen};
pub use settings::{Cli, DEFAULT_RETAIN_RAW};
