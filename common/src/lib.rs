//! What cliser's binaries (server, Pi client, load tool) share, so that the same setting means the
//! same thing everywhere:
//! - [`secret`]: passwords read from files and the environment by one rule;
//! - [`duration`]: durations in flags and TOML files (`10s`, `500ms`);
//! - [`size`]: amounts of memory in flags and TOML files (`64MiB`);
//! - [`config_file`]: reading a TOML file whose keys are the long flag names;
//! - [`core_thread`]: the server's one-of-a-kind threads, whose panic stops the server;
//! - [`exit`]: the exit codes (0 ok, 1 runtime failure, 2 bad settings);
//! - [`limits`]: process limits a long-running network program raises at start;
//! - [`listener`]: ending a thread blocked in `accept()` without a connection of our own;
//! - [`lines`]: the one line reader (the protocol's framer plus its read loop) over any `Read`;
//! - [`logging`]: the log setup, which never takes the process down when stderr fails;
//! - [`mailbox`]: a small many-senders, one-receiver mailbox for threads that come in thousands;
//! - [`when`]: points in time as people write them (`24h` ago, or RFC 3339);
//! - [`sensors`]: the operator's names, calibration and limits of sensors and nodes.
#![deny(missing_docs)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod config_file;
pub mod core_thread;
pub mod duration;
pub mod exit;
pub mod limits;
pub mod lines;
pub mod listener;
pub mod logging;
pub mod mailbox;
pub mod secret;
pub mod sensor_names;
pub mod sensors;
pub mod size;
pub mod when;
