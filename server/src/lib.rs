//! The cliser server: authenticates Pi clients, polls them with keep-alives, and logs every reading
//! they piggyback on their answers.
//!
//! It keeps the original design: threads and mailboxes (std threads and channels, no async runtime).
//! [`start`] binds the ports, starts the threads and returns a [`Handle`] to stop and join them.
//! - [`manager`]: the hub. The Manager thread owns the client registry; everything else talks to it
//!   by message. It starts conn, session and sink threads, which never name its types.
//! - [`conn`]: per connection a tcp_reader thread (bytes -> lines -> the session's mailbox) and a
//!   tcp_writer thread (mailbox -> socket).
//! - [`session`]: per connection a session thread: handshake (110, 120, 140), then the keep-alive loop.
//! - [`sink`]: the readings sink thread writes each reading to the log (and the CSV ledger), then
//!   publishes the highest seq written per client id in the [`sink::AckTable`] every ack is read
//!   from, so acks never run ahead of the log.
//! - [`backdoor`]: the admin console.
//! - [`export_config`]: the exporters' settings (`[mqtt]`, `[influx]`); the exporters themselves are
//!   the cliser-export crate's threads, which follow the store.
//!
//! See `docs/ARCHITECTURE.md` for the diagram.
#![deny(missing_docs)]

pub mod auth;
pub mod commands;
pub mod config;
pub mod console;
pub mod export_config;
pub mod link;
pub mod readings;
pub mod reload_check;
pub mod run;

pub use config::{Config, ConfigError};
pub use run::control::{Reloader, StopReason, Stopper};
pub use run::error::{Listener, RunError};
pub use run::server::{start, Handle};

/// The clients' credentials (`cliser_server::credentials::hash_token` is how tests hash a token).
pub use auth::credentials;

// The paths config.rs (and its reload_check, export_config) still names from before the folders.
use auth::{cidr, clients_file};
use readings::{sensor_cap, store_location};
