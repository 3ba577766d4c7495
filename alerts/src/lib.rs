//! cliser's alerts. A sensor's value past its limits, a run of error readings, a sensor or a node
//! gone quiet: each alert fires once and resolves once, is kept in the store so a restart neither
//! repeats nor forgets it, and is told to the log, a command and a webhook (docs/ALERTS.md).
//!
//! - [`alert`]: what an alert is;
//! - [`engine`]: the rules, a pure state machine (readings, sessions and the clock in,
//!   transitions out).
#![deny(missing_docs)]

pub mod alert;
pub mod engine;

pub use alert::{Alert, AlertKey, Kind, State, Transition};
pub use engine::Engine;
