//! TLS for cliser's client link, shared by the server, the Pi client and the load tool.
//!
//! rustls with the `ring` provider only: no OpenSSL and no aws-lc, so the Pi binary stays small and
//! cross-compiles with a plain aarch64 gcc. TLS 1.3, 1.2 allowed.
//! - [`server_config`]: the server's certificate chain and key, from PEM.
//! - [`client_config`]: the fleet CA (PEM) the server's certificate must chain to, and optionally a
//!   [`Pin`] of the server's public key, checked in addition.
//! - [`Failure`]: why a handshake failed, sorted into what a person must fix (wrong CA, wrong name,
//!   pin) and what may pass (the clock, the network).
//! - [`ServerStream`]: a server connection served by one thread, plain or TLS (the web page's and
//!   the admin console's).
//! - `gen` (feature `gen`): a fleet CA and a server certificate for a list of names.
#![deny(missing_docs)]

mod config;
mod failure;
#[cfg(feature = "gen")]
pub mod gen;
mod pin;
mod stream;

pub use config::{client_config, server_config, server_name, TlsError};
pub use failure::Failure;
pub use pin::{Pin, PinError};
/// The rustls this crate builds its configurations for: use its connection types with them.
pub use rustls;
pub use stream::ServerStream;
