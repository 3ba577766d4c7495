//! The cliser client for a Raspberry Pi: samples its thermometers, keeps every reading in a durable
//! backlog, and forwards the backlog on the answers to the server's keep-alives until the server
//! acknowledges it.
//!
//! Threads, no async runtime: a sampler thread writes readings into the [`Backlog`], and the
//! connection loop ([`client::run`]) talks to the server, `poll(2)`ing its socket and the [`Stop`]
//! doorbell with a deadline so that it can time out on a silent server.
#![deny(missing_docs)]

pub mod backlog;
pub mod backoff;
pub mod client;
pub mod clock;
pub mod config;
pub mod error;
pub mod facts_board;
pub mod health;
pub mod link;
pub mod probe;
pub mod sampler;
pub mod sensor_notes;
pub mod session;
pub mod stop;

pub use backlog::Backlog;
pub use client::{run, Outcome};
pub use config::Config;
pub use error::ClientError;
pub use stop::Stop;
