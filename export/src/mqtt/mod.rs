//! MQTT: each reading's state, node availability and Home Assistant discovery.
//!
//! The client is rumqttc's blocking `Client`: the exporter thread publishes through it, and a
//! network thread of the exporter's own drives the connection (rumqttc runs a small tokio runtime
//! inside that thread; nothing else in cliser sees it) and reports to the exporter's mailbox.
//! rumqttc keeps unacknowledged messages only in memory and drops them with a new clean session, so
//! a reading counts as delivered only when the broker acknowledged it (QoS 1); until then the
//! cursor stays where it was.
//!
//! - [`topics`]: the topic names and the state payload;
//! - [`availability`]: each node's availability, published only when it differs from what the
//!   broker holds, and `offline` only after a grace after the start (pure, unit-tested);
//! - [`discovery`]: Home Assistant's discovery payloads (pure, unit-tested);
//! - [`client`]: the connection, the far side the runner drives.

pub mod availability;
pub mod client;
pub mod discovery;
pub mod topics;

pub use client::{Mqtt, MqttConfig};
