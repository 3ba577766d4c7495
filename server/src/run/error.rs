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
        what: Listener,
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The admin console would listen beyond loopback without a password.
    NoAdminPassword(SocketAddr),
    /// The store could not be opened or read at start.
    Store(cliser_store::StoreError),
    /// The fleet's lease connection (PostgreSQL store) could not be opened at start.
    Fleet(cliser_store::fleet::FleetError),
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
                write!(f, "cannot listen for {what} on {addr}: {source}{}", what.hint())
            }
            RunError::Web(e) => e.fmt(f),
            RunError::NoAdminPassword(a) => write!(
                f,
                "the console on {a} is reachable beyond this machine: give it a password with \
                 --admin-password-file PATH (or CLISER_ADMIN_PASSWORD), or bind it to 127.0.0.1"
            ),
            RunError::Store(e) => write!(f, "store: {e}"),
            RunError::Fleet(e) => write!(f, "fleet leases: {e}"),
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

/// Which of the server's listeners a bind was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The admin console (`--console`).
    Console,
    /// The web page (`--http`).
    Web,
    /// Clients in clear (`--listen`).
    Clients,
    /// Clients inside TLS (`--listen-tls`).
    TlsClients,
}

impl Listener {
    /// What to do when its address is taken, where a setting offers a way round.
    fn hint(self) -> &'static str {
        match self {
            Listener::Web => " (choose another address with --http ADDR, or --http off)",
            Listener::Console | Listener::Clients | Listener::TlsClients => "",
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            // The word of the `--console` flag, which the message is about.
            Listener::Console => "the console",
            Listener::Web => "the web page",
            Listener::Clients => "clients",
            Listener::TlsClients => "TLS clients",
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn taken(what: Listener) -> String {
        let source = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        RunError::Bind { what, addr: "127.0.0.1:80".into(), source }.to_string()
    }

    #[test]
    fn the_hint_is_the_web_pages_alone() {
        assert!(taken(Listener::Web).ends_with("(choose another address with --http ADDR, or --http off)"));
        for what in [Listener::Console, Listener::Clients, Listener::TlsClients] {
            assert!(!taken(what).contains("--http"), "{}", taken(what));
        }
        assert!(taken(Listener::Console).starts_with("cannot listen for the console on 127.0.0.1:80: "));
    }
}
