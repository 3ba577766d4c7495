//! Why the load tool could not run at all (as opposed to clients failing, which it counts).

use std::fmt;
use std::path::PathBuf;

/// A setup error; the binary exits with status 2.
#[derive(Debug)]
pub enum LoadError {
    /// A flag's value is unusable.
    Flag(String),
    /// The password file could not be read, or is empty.
    Password {
        /// Where it was looked for.
        from: String,
        /// Why it is unusable.
        why: String,
    },
    /// No password given.
    NoPassword,
    /// Fewer open files allowed than clients asked for.
    OpenFiles {
        /// File descriptors needed.
        need: u64,
        /// The limit.
        have: u64,
    },
    /// The event loop failed.
    Io(std::io::Error),
}

impl LoadError {
    /// A password file that could not be read.
    pub fn password_file(path: &std::path::Path, why: impl fmt::Display) -> LoadError {
        LoadError::Password { from: PathBuf::from(path).display().to_string(), why: why.to_string() }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Flag(m) => f.write_str(m),
            LoadError::Password { from, why } => write!(f, "password from {from}: {why}"),
            LoadError::NoPassword => {
                f.write_str("no password: give --password-file PATH or set CLISER_PASSWORD")
            }
            LoadError::OpenFiles { need, have } => write!(
                f,
                "{need} open files needed but the limit is {have}: raise it (ulimit -n) or use fewer clients"
            ),
            LoadError::Io(e) => write!(f, "event loop: {e}"),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<std::io::Error> for LoadError {
    fn from(e: std::io::Error) -> Self {
        LoadError::Io(e)
    }
}
