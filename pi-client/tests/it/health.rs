//! Health from the Pi: `probe --watch` and the periodic per-sensor summary in the client's log.

use crate::common;

use cliser_testkit::{wait_until, Proc};
use common::{fake_w1_with, DumpLogsOnPanic, FakeServer, WAIT};
use std::process::Command;

#[test]
fn probe_watch_prints_every_sensor_each_interval_until_sigint() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let w1 = fake_w1_with(dir.path(), 2);
    // One sensor cannot be read: its reason is shown.
    std::fs::remove_file(w1.join("28-000000000001/w1_slave")).unwrap();
    std::fs::remove_file(w1.join("28-000000000001/temperature")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cliser-pi-client"));
    cmd.args(["probe", "--watch", "--interval", "200ms", "--sensor"]).arg(format!("w1:{}", w1.display()));
    let mut p = Proc::spawn(cmd, &dir.path().join("probe.log"));
    p.log.wait_count("28-000000000000  20.000 °C  read ", 3, WAIT);
    let failing = p.log.wait_for("28-000000000001  error ", WAIT);
    assert!(failing.contains("read ") && failing.contains(" ms"), "{failing}");
    p.signal(libc::SIGINT);
    assert_eq!(p.wait_exit(WAIT).code(), Some(0), "SIGINT ends the watch with status 0");
}

#[test]
fn the_client_logs_a_summary_line_per_sensor_every_health_interval() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let w1 = fake_w1_with(dir.path(), 2);
    std::fs::remove_file(w1.join("28-000000000001/w1_slave")).unwrap();
    std::fs::remove_file(w1.join("28-000000000001/temperature")).unwrap();
    let server = FakeServer::new();
    let sensor = format!("w1:{}", w1.display());
    let mut c = common::client(
        dir.path(),
        server.addr,
        &["--sensor", &sensor, "--interval", "100ms", "--health-every", "1s"],
    );
    let ok = c.log.wait_for("health over 1s: 28-000000000000: ", WAIT);
    assert!(ok.contains(" reads, 0 errors, mean read time "), "{ok}");
    let bad = wait_until(WAIT, "the failing sensor's summary", || {
        c.log.lines_with("health over 1s: 28-000000000001: ").into_iter().next()
    });
    assert!(bad.contains(" errors (") && bad.contains(" reads"), "{bad}");
    c.signal(libc::SIGTERM);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
}
