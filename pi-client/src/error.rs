//! The client's fatal errors and the exit status each one maps to.

use crate::backlog::StoreError;
use crate::config::ConfigError;
use cliser_common::exit::{Classify, Outcome};
use std::fmt;
use std::path::PathBuf;

/// Why the client stopped other than by design (signal, `999`, `130`).
#[derive(Debug)]
pub enum ClientError {
    /// The configuration is unusable: exit status 2.
    Config(ConfigError),
    /// The server said `111: senha incorreta`: retrying cannot help, exit status 2.
    WrongPassword,
    /// The server said `122: ID invalido`: retrying cannot help, exit status 2.
    IdInvalid(String),
    /// A tls:// server's certificate is refused (another CA, another name, another key): retrying
    /// cannot help, exit status 2.
    Untrusted {
        /// The server entry.
        server: String,
        /// Why.
        failure: cliser_tls::Failure,
        /// The fleet CA file given.
        ca: PathBuf,
    },
    /// The backlog in the state dir could not be opened: exit status 1.
    Store(StoreError),
    /// The shutdown command ordered by `130` could not be run or failed: exit status 1.
    ShutdownCommand(String),
}

impl Classify for ClientError {
    /// Bad settings for what a person must fix in the configuration, a runtime failure for the rest.
    fn outcome(&self) -> Outcome {
        match self {
            ClientError::Config(_)
            | ClientError::WrongPassword
            | ClientError::IdInvalid(_)
            | ClientError::Untrusted { .. } => Outcome::BadSettings,
            ClientError::Store(_) | ClientError::ShutdownCommand(_) => Outcome::Runtime,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Config(e) => write!(f, "configuration error: {e}"),
            ClientError::WrongPassword => {
                f.write_str("the server refused the password (111): check --password-file or CLISER_PASSWORD")
            }
            ClientError::IdInvalid(id) => {
                write!(f, "the server refused the id {id:?} (122): use 1-32 of A-Z a-z 0-9 . _ -")
            }
            ClientError::Untrusted { server, failure, ca } => {
                use cliser_tls::Failure as F;
                let fix = match failure {
                    F::UnknownCa => format!(
                        "--tls-ca {} must be the fleet CA that signed the server's certificate (ca.pem \
                         written by the server's gen-tls)",
                        ca.display()
                    ),
                    F::WrongName { .. } => "The host in --server must be one of the names on the server's \
                                            certificate (gen-tls --name)"
                        .to_owned(),
                    F::PinMismatch { .. } => "--tls-pin must be the pin gen-tls printed for the server's \
                                              current key (a new server key has a new pin)"
                        .to_owned(),
                    _ => "Check the server's --tls-cert.".to_owned(),
                };
                write!(f, "TLS: refusing server {server}: {failure}. {fix}")
            }
            ClientError::Store(e) => write!(f, "backlog: {e}"),
            ClientError::ShutdownCommand(why) => write!(f, "shutdown command: {why}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Config(e) => Some(e),
            ClientError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ConfigError> for ClientError {
    fn from(e: ConfigError) -> Self {
        ClientError::Config(e)
    }
}

impl From<StoreError> for ClientError {
    fn from(e: StoreError) -> Self {
        ClientError::Store(e)
    }
}
