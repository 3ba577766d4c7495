//! The Pi client's integration tests, one binary: the real client binary against fake and real
//! servers. `in_process.rs` stays a binary of its own: it installs the process's logger and waits
//! for lines the client logs, which no other test may share.

// Shared by the tests below.
mod common;

// One module per former test binary.
mod cli;
mod clock;
mod e2e;
mod failover;
mod first_poll;
mod health;
mod probe_sim;
mod protocol;
mod sensors;
mod spill;
mod tls;
