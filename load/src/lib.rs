//! `cliser-load`: many simulated Pi clients on one thread, for measuring how many Pis one server
//! takes. Each client does the real handshake and answers every keep-alive with one reading with a
//! seq; the run reports registrations, readings sent and acknowledged, failures, and handshake and
//! answer -> ack latencies. With `--backlog-clients`, some clients are Pis back from an outage,
//! emptying a backlog of readings in full lines with `more` as the real client does. The same event loop drives MQTT publishers for the comparison with a
//! broker (`--protocol mqtt`).
//!
//! No thread per client: the server already needs three per client, and this machine's pid and
//! mapping limits count every thread. One thread and epoll (mio) carry 10,000 sockets.
#![deny(missing_docs)]

pub mod backlog;
pub mod cli;
pub mod cliser;
pub mod engine;
pub mod error;
pub mod mqtt;
pub mod report;
pub mod session;
pub mod snapshot;
pub mod stats;
pub mod transport;
pub mod usage;
