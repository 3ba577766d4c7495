//! Shared by the server's integration tests: the real binary on loopback, a temp dir per test.
#![allow(dead_code)]

pub use cliser_testkit::{LineClient, ServerHandle};
use std::time::Duration;

/// Generous bound for anything that should happen "at once".
pub const T: Duration = Duration::from_secs(10);

/// A server in its own temp dir with the given extra flags. Keep the `TempDir` alive with it.
pub fn server(extra: &[&str]) -> (tempfile::TempDir, ServerHandle) {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = ServerHandle::start(dir.path(), extra);
    (dir, s)
}

/// A logged-in client; returns it with its 140 line.
pub fn client(s: &ServerHandle, id: &str) -> (LineClient, String) {
    let mut c = LineClient::connect(s.addr);
    let l = c.login(&s.password, id);
    (c, l)
}

/// An admin console past its first prompt.
pub fn admin(s: &ServerHandle) -> LineClient {
    let mut a = LineClient::connect(s.backdoor);
    a.recv_until("#> ", T);
    a
}

/// Sends an admin command; returns its output (without the following prompt).
pub fn ask(a: &mut LineClient, cmd: &str) -> String {
    a.send(cmd);
    a.recv_until("#> ", T).trim_end_matches('\n').to_owned()
}
