//! Running the server: [`server::start`] starts each subsystem through its own starter, in
//! order, and the server thread ([`core::Core`]) stops them in the reverse order; the controls
//! (stop, reload), the ready file, the errors; and the adapters to the web page, the alerts and
//! the exporters (the cliser-web, cliser-alerts and cliser-export crates).

pub mod acceptors;
pub mod alerts;
pub mod console;
pub mod control;
pub mod core;
pub mod error;
pub mod export;
pub mod fleet;
pub mod fleet_view;
pub mod listeners;
pub mod ready_file;
pub mod server;
pub mod spawn;
pub mod start_log;
pub mod store;
pub mod threads;
pub mod web;
