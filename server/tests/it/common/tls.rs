//! TLS for the server's tests: a fleet made by the real `cliser-server gen-tls`, a server with
//! `--listen-tls`, and the real Pi client speaking TLS to it.

use super::{Proc, ServerHandle};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The files `gen-tls` wrote.
#[derive(Debug, Clone)]
pub struct Fleet {
    /// The fleet CA (for the Pis).
    pub ca: PathBuf,
    /// The server's certificate.
    pub cert: PathBuf,
    /// Its key.
    pub key: PathBuf,
}

/// Runs `cliser-server gen-tls --dir DIR --name NAMES`.
pub fn gen_tls(dir: &Path, names: &str) -> Fleet {
    let out = Command::new(cliser_testkit::bin("cliser-server"))
        .args(["gen-tls", "--dir"])
        .arg(dir)
        .args(["--name", names])
        .output()
        .expect("run gen-tls");
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "gen-tls failed: {said}{}", String::from_utf8_lossy(&out.stderr));
    Fleet { ca: dir.join("ca.pem"), cert: dir.join("server.pem"), key: dir.join("server-key.pem") }
}

/// A server with `--listen-tls 127.0.0.1:0` and the fleet's certificate, plus `extra` flags; its
/// plain listener stays on unless `extra` says `--listen off`.
pub fn tls_server(dir: &Path, fleet: &Fleet, extra: &[&str]) -> ServerHandle {
    let (cert, key) = (fleet.cert.display().to_string(), fleet.key.display().to_string());
    let mut args = vec!["--listen-tls", "127.0.0.1:0", "--tls-cert", &cert, "--tls-key", &key];
    args.extend_from_slice(extra);
    ServerHandle::start(dir, &args)
}

/// The real Pi client (sim sensors, a fast interval) with its own state dir in `dir`, talking to
/// `server` (`HOST:PORT` or `tls://HOST:PORT`) with `extra` flags.
pub fn tls_client(dir: &Path, server: &str, id: &str, password: &str, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(cliser_testkit::bin("cliser-pi-client"));
    cmd.args(["--server", server, "--id", id, "--sensor", "sim", "--interval", "200ms", "--state-dir"])
        .arg(dir.join(format!("state-{id}")))
        .args(extra)
        .env("CLISER_PASSWORD", password)
        .env("RUST_LOG", "debug");
    Proc::spawn(cmd, &dir.join(format!("client-{id}.log")))
}

/// The names of the threads of process `pid`, one per entry of /proc/<pid>/task.
pub fn threads(pid: u32) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}
