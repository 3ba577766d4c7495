//! The cliser wire protocol, version 1.
//!
//! This crate is the single codec shared by the server, the Pi client and the load tool. It has no I/O:
//! it turns lines into typed messages and back, and splits a byte stream into bounded lines
//! ([`LineFramer`]). The socket glue lives in the binaries.
//!
//! The server sends commands ([`ServerMsg`]); the client only answers: its password, its id, a
//! keep-alive answer carrying readings ([`KeepAliveAnswer`]) or the acknowledgement of a `130`.
//! See `docs/PROTOCOL.md` for the whole exchange.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod answer;
mod error;
mod facts;
mod framer;
mod health;
mod ident;
mod reading;
mod server_msg;

pub use answer::{ClientLine, KeepAliveAnswer, ParsedAnswer, RejectedToken};
pub use error::{IdentError, ParseError, TokenError};
pub use facts::{valid_bus, FactsError, Power, SensorFactsReport, FACTS_PREFIX, MAX_BUS, MAX_CLONE_KIND};
pub use framer::{FrameError, LineFramer};
pub use health::{HealthError, HealthReport, HEALTH_PREFIX, HEALTH_VERSION};
pub use ident::{ClientId, ErrorReason, SensorId};
pub use reading::{Celsius, Reading, Stamp, Value};
pub use server_msg::ServerMsg;

/// The longest line either side may send, in bytes, not counting the `\n` or `\r\n` that ends it.
pub const MAX_LINE: usize = 4096;

/// The longest identifier (client id or sensor id), in bytes.
pub const MAX_IDENT: usize = 32;
