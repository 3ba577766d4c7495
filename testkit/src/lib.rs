//! Test support for cliser's integration tests: start the real binaries on loopback (port 0, the bound
//! address read back from the log), give each test its own temp dir, and wait on log lines with a
//! deadline instead of sleeping.
#![deny(missing_docs)]

mod line_client;
mod log_file;
mod postgres;
mod proc_stats;
mod process;

pub use line_client::LineClient;
pub use log_file::LogFile;
pub use postgres::{pg_bin_dir, PgCluster, PgOptions, REQUIRE_PG};
pub use proc_stats::ProcStats;
pub use process::{bin, free_password, Proc, ServerHandle};

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
