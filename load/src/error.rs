//! Why the load tool could not run at all (as opposed to clients failing, which it counts).

use cliser_common::exit::{Classify, Outcome};
use cliser_common::secret::SecretError;

/// A setup error: bad settings exit with status 2, a failing event loop with 1.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A flag's value is unusable.
    #[error("{0}")]
    Flag(String),
    /// The password file or variable is unusable.
    #[error(transparent)]
    Password(#[from] SecretError),
    /// No password given.
    #[error("no password: give --password-file PATH or set CLISER_PASSWORD")]
    NoPassword,
    /// Fewer open files allowed than clients asked for.
    #[error("{need} open files needed but the limit is {have}: raise it (ulimit -n) or use fewer clients")]
    OpenFiles {
        /// File descriptors needed.
        need: u64,
        /// The limit.
        have: u64,
    },
    /// The event loop failed.
    #[error("event loop: {0}")]
    Io(#[from] std::io::Error),
}

impl Classify for LoadError {
    fn outcome(&self) -> Outcome {
        match self {
            LoadError::Io(_) => Outcome::Runtime,
            _ => Outcome::BadSettings,
        }
    }
}
