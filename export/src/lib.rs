//! cliser's exporters: each follows the store after a cursor of its own and feeds one far side,
//! MQTT (with Home Assistant discovery) or InfluxDB / VictoriaMetrics (line protocol over HTTP).
//!
//! An exporter is a thread with its own store connection and mailbox. It reads the readings after
//! its cursor in the store's row order ([`cursor`]), hands them to the far side, and saves the
//! cursor in the store only once the far side accepted them: delivery is at-least-once and in
//! order per sensor, and after an outage or a restart it resumes exactly there. It is never on the
//! path from a Pi to its ack: the server only nudges its mailbox after a commit and tells it of
//! nodes coming and going ([`Watcher`]), which never waits; a dead or hanging far side holds up
//! nothing but its own thread.
//!
//! - [`cursor`]: the store feed and the cursor;
//! - [`runner`]: the exporter thread (batches, retries with backoff, status, one log line per state
//!   change);
//! - [`influx`]: InfluxDB 1.x / 2.x and VictoriaMetrics, line protocol over HTTP (ureq);
//! - [`mqtt`]: MQTT state, availability and Home Assistant discovery (rumqttc);
//! - [`error`]: why an exporter cannot be set up or a batch was not taken;
//! - [`status`]: what the console's `X`, the API and `/metrics` show.
#![deny(missing_docs)]

pub mod cursor;
pub mod error;
pub mod influx;
pub mod mqtt;
pub mod runner;
pub mod status;

pub use error::{ConfigError, LinkDown, SendError};
pub use runner::{Exporter, Input, Watcher};
pub use status::{ExporterStatus, StatusBoard};

/// Now, Unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
