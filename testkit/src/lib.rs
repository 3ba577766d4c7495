//! Test support for cliser's integration tests: start the real binaries on loopback (port 0, the bound
//! addresses read back from the server's ready file), give each test its own temp dir, and wait on
//! log lines with a deadline instead of sleeping. Finding the binaries, passwords and child processes
//! are `cliser-launch`'s, shared with the demo; this crate adds what tests want (panics, log files,
//! and a headless Chromium to load the web page in: [`Browser`]).
#![deny(missing_docs)]

mod bin;
mod browser;
mod influxd;
mod line_client;
mod log_file;
mod mosquitto;
mod netns;
mod parts;
mod postgres;
mod proc;
mod proc_stats;
mod server;

pub use bin::{bin, free_password};
pub use browser::Browser;
pub use influxd::InfluxD;
pub use line_client::LineClient;
pub use log_file::LogFile;
pub use mosquitto::{Message, Mosquitto, Subscriber};
pub use netns::NetNs;
pub use parts::{find_part, free_port, on_free_port, parts_required, REQUIRE_PARTS};
pub use postgres::{pg_bin_dir, PgCluster, PgOptions, REQUIRE_PG};
pub use proc::Proc;
pub use proc_stats::ProcStats;
pub use server::ServerHandle;

use std::time::{Duration, Instant};

/// Polls `check` every few milliseconds until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_until<T>(timeout: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
