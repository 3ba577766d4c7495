//! cliser's alerts. A sensor's value past its limits, a run of error readings, a sensor or a node
//! gone quiet: each alert fires once and resolves once, is kept in the store so a restart neither
//! repeats nor forgets it, and is told to the log, a command and a webhook (docs/ALERTS.md).
//!
//! - [`alert`]: what an alert is;
//! - [`engine`]: the rules, a pure state machine (readings, sessions and the clock in,
//!   transitions out);
//! - [`gate`]: who is told what under silences and acknowledgements, pure as well;
//! - [`runner`]: the alerts thread: the engine, the gate, the store (alerts, history, what people
//!   changed), the clock;
//! - [`admin`]: the console's requests, and history and silences as text;
//! - [`deliver`]: the log, the command and the webhook;
//! - [`health`]: per-sensor counts for the console's `N`;
//! - [`mailbox`]: the alerts thread's mailbox, readings coalesced per sensor.
#![deny(missing_docs)]

pub mod admin;
pub mod alert;
pub mod deliver;
pub mod engine;
pub mod gate;
pub mod health;
pub mod mailbox;
pub mod runner;

pub use alert::{Active, Alert, AlertKey, Kind, State, Transition};
pub use engine::Engine;
pub use mailbox::{mailbox, Inbox, Mailbox};
pub use runner::{Input, Runner};
