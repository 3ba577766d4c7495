//! A core thread that panics stops the server with exit status 1 and an ERROR naming it, within
//! the stop's bound, instead of leaving a server that looks healthy and serves nobody (issue 24,
//! item 1). The panic is injected with the test-only `CLISER_TEST_PANIC=<thread>`, which makes that
//! thread panic as it starts.

use crate::common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

/// The server's bound on a stop (`server::SHUTDOWN_BOUND`), plus its start on a busy machine.
const EXITS_WITHIN: Duration = Duration::from_secs(15);

/// Runs the real server with `thread` made to panic and `extra` flags: it must exit by itself with
/// status 1, within the bound, having logged an ERROR that names the thread.
fn a_panic_in(thread: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, format!("{}\n", cliser_testkit::free_password())).unwrap();
    let ready = dir.path().join("ready.json");
    let mut cmd = Command::new(cliser_testkit::bin("cliser-server"));
    cmd.args(["--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .arg("--password-file")
        .arg(&pw)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--ready-file")
        .arg(&ready)
        .args(extra)
        .env("RUST_LOG", "info")
        .env("CLISER_TEST_PANIC", thread);
    let started = Instant::now();
    let mut server = Proc::spawn(cmd, &dir.path().join("server.log"));
    let status = server.wait_exit(EXITS_WITHIN + Duration::from_secs(15));
    let took = started.elapsed();
    let log = server.log.text();
    assert_eq!(status.code(), Some(1), "{thread}: {log}");
    assert!(took < EXITS_WITHIN, "{thread}: exited after {took:?}: {log}");
    let said = format!("the {thread} thread panicked");
    let line = log.lines().find(|l| l.contains(&said)).unwrap_or_else(|| panic!("{said:?} in {log}"));
    assert!(line.contains(" ERROR "), "{line}");
    assert!(!ready.exists(), "{thread}: the ready file outlived the server");
}

#[test]
fn a_panic_in_the_manager_stops_the_server_with_status_1() {
    a_panic_in("manager", &[]);
}

#[test]
fn a_panic_in_the_sink_stops_the_server_with_status_1() {
    a_panic_in("sink", &[]);
}

#[test]
fn a_panic_in_the_acceptor_stops_the_server_with_status_1() {
    a_panic_in("acceptor", &[]);
}

#[test]
fn a_panic_in_the_tls_acceptor_stops_the_server_with_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = common::tls::gen_tls(dir.path(), "localhost");
    let (cert, key) = (fleet.cert.display().to_string(), fleet.key.display().to_string());
    a_panic_in("tls-acceptor", &["--listen-tls", "127.0.0.1:0", "--tls-cert", &cert, "--tls-key", &key]);
}

#[test]
fn a_panic_in_the_retention_thread_stops_the_server_with_status_1() {
    a_panic_in("retention", &["--retain-raw", "30d"]);
}

#[test]
fn a_panic_in_the_alerts_thread_stops_the_server_with_status_1() {
    a_panic_in("alerts", &[]);
}

#[test]
fn a_panic_in_the_consoles_acceptor_stops_the_server_with_status_1() {
    a_panic_in("console-accept", &[]);
}

#[test]
fn a_panic_in_the_web_acceptor_stops_the_server_with_status_1() {
    a_panic_in("web-accept", &[]);
}

#[test]
fn a_panic_in_the_web_live_thread_stops_the_server_with_status_1() {
    a_panic_in("web-live", &[]);
}

#[test]
fn a_panic_in_the_mqtt_exporter_stops_the_server_with_status_1() {
    // Nobody listens there: the exporter thread starts all the same, and panics first.
    let url = format!("mqtt://127.0.0.1:{}", cliser_testkit::free_port());
    a_panic_in("export-mqtt", &["--mqtt", &url]);
}

#[test]
fn a_panic_in_the_influx_exporter_stops_the_server_with_status_1() {
    let url = format!("http://127.0.0.1:{}/write?db=cliser", cliser_testkit::free_port());
    a_panic_in("export-influx", &["--influx", &url]);
}
