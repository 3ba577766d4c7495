//! The cliser server: authenticates Pi clients, polls them with keep-alives, and commits every
//! reading they piggyback on their answers to the store (SQLite by default, or PostgreSQL), then
//! acks it; it serves the web page, runs the alerts and feeds the exporters.
//!
//! Threads and mailboxes (std threads and channels, no async runtime). [`start`] binds the ports,
//! starts each subsystem and returns a [`Handle`] to stop and join them. The folders, by concern:
//! - [`link`]: the clients' side. The Manager thread (the hub) owns the client registry; per
//!   connection a session thread (handshake, then the keep-alive loop) and reader/writer threads;
//!   plain or TLS; the limits on how many connections the machine holds.
//! - [`readings`]: the sink thread commits each group of readings and publishes the highest seq
//!   stored per client in the [`readings::ack_table::AckTable`] every ack is read from, so acks never
//!   run ahead of the store; it tells the [`readings::watchers::Watchers`] (live page, alerts,
//!   exporters). Also duplicates, registrations, the sensor cap, retention, the store's location
//!   and the CSV format of `export`/`import-csv`.
//! - [`auth`]: the failed-login brake, the clients' credentials and clients file, CIDRs.
//! - [`console`]: the admin console (the `--console` port).
//! - [`fleet`]: with PostgreSQL, the leases that make several servers one fleet.
//! - [`run`]: start and stop, the controls (stop, reload), the ready file, the errors.
//! - [`config`], [`reload_check`], [`export_config`]: the settings; [`commands`]: the subcommands.
//!
//! The web page, alerts and exporters are the cliser-web, cliser-alerts and cliser-export crates'
//! threads, started by [`run`]. See `docs/ARCHITECTURE.md` for the diagram.
#![deny(missing_docs)]

pub mod auth;
pub mod commands;
pub mod config;
pub mod console;
pub mod fleet;
pub mod link;
pub mod readings;
pub mod run;

pub use config::{export_config, reload_check};
pub use config::{Config, ConfigError};
pub use run::control::{Reloader, StopReason, Stopper};
pub use run::error::{Listener, RunError};
pub use run::server::{start, Handle};

/// The clients' credentials (`cliser_server::credentials::hash_token` is how tests hash a token).
pub use auth::credentials;

// The paths config.rs (and its reload_check, export_config) still names from before the folders.
use auth::{cidr, clients_file};
use readings::{sensor_cap, store_location};
