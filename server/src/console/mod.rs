//! The admin console: its listener and command loop, and one console connection.

pub mod conn;
pub mod listener;
