//! The MQTT side of the comparison: a minimal MQTT 3.1.1 codec and a publishing client.

pub mod codec;
pub mod session;
