//! Why the server could not start, or did not stop cleanly.

use cliser_common::exit::{Classify, Outcome};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Why the server could not run or did not stop cleanly (exit status: see [`Classify`]).
#[derive(Debug)]
pub enum RunError {
    /// A listening address could not be bound.
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The admin console would listen beyond loopback without a password.
    NoAdminPassword(SocketAddr),
    /// The store could not be opened or read at start.
    Store(cliser_store::StoreError),
    /// The data dir could not be created.
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A thread could not be started, or signal handling could not be set up.
    Start(std::io::Error),
    /// A core thread panicked.
    Panicked(&'static str),
    /// The stop outlasted its bound (`server::SHUTDOWN_BOUND`); the threads still running ended
    /// with the process.
    StopTimedOut {
        /// The thread it was waiting for.
        waiting: &'static str,
        /// The bound.
        bound: std::time::Duration,
    },
    /// The web page could not start.
    Web(cliser_web::WebError),
    /// The `--ready-file` could not be written.
    ReadyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Bind { what, addr, source } => {
                write!(f, "cannot listen for {what} on {addr}: {source}")?;
                if *what == "the web page" {
                    f.write_str(" (choose another address with --http ADDR, or --http off)")?;
                }
                Ok(())
            }
            RunError::Web(e) => e.fmt(f),
            RunError::NoAdminPassword(a) => write!(
                f,
                "the backdoor on {a} is reachable beyond this machine: give it a password with \
                 --admin-password-file PATH (or CLISER_ADMIN_PASSWORD), or bind it to 127.0.0.1"
            ),
            RunError::Store(e) => write!(f, "store: {e}"),
            RunError::DataDir { path, source } => {
                write!(f, "cannot create the data dir {}: {source}", path.display())
            }
            RunError::Start(e) => write!(f, "cannot start: {e}"),
            RunError::Panicked(which) => write!(f, "the {which} thread panicked"),
            RunError::StopTimedOut { waiting, bound } => write!(
                f,
                "the stop did not end within {} s (still waiting for the {waiting} thread); exiting without it",
                bound.as_secs()
            ),
            RunError::ReadyFile { path, source } => {
                write!(f, "cannot write the ready file {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for RunError {}

impl Classify for RunError {
    /// A console beyond loopback without a password is a setting to fix; the rest happen while
    /// running (a port taken, a thread that cannot start or panicked).
    fn outcome(&self) -> Outcome {
        match self {
            RunError::NoAdminPassword(_) | RunError::Store(cliser_store::StoreError::BadUrl { .. }) => {
                Outcome::BadSettings
            }
            _ => Outcome::Runtime,
        }
    }
}
