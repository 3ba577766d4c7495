//! The real load tool against the real server: every reading sent is acknowledged and logged once.

use cliser_testkit::{bin, ServerHandle};
use std::process::Command;

fn value<'a>(report: &'a str, key: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in the report:\n{report}"))
}

#[test]
fn twenty_clients_every_reading_acked_and_logged_once() {
    let _ = bin("cliser-server");
    let dir = tempfile::tempdir().unwrap();
    let server = ServerHandle::start(dir.path(), &["--keepalive", "250ms", "--max-clients", "100"]);
    let out = Command::new(env!("CARGO_BIN_EXE_cliser-load"))
        .args(["--server", &server.addr.to_string(), "--clients", "20", "--ramp", "200"])
        .args(["--duration", "2s", "--id-prefix", "it-", "--quiet"])
        .args(["--watch-pid", &server.proc.pid().to_string()])
        .env("CLISER_PASSWORD", &server.password)
        .output()
        .expect("run cliser-load");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\n{report}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(value(&report, "registered"), "20");
    assert_eq!(value(&report, "failures"), "0");
    let sent: usize = value(&report, "readings_sent").parse().unwrap();
    assert_eq!(value(&report, "readings_acked"), sent.to_string());
    // Two seconds of polls every 250 ms: about eight readings per client.
    assert!(sent >= 20 * 5, "only {sent} readings sent");
    assert_ne!(value(&report, "watch_cpu_s_steady"), "", "the server's /proc figures are sampled");

    // Each reading is in the store once and in the log once.
    let stored: usize = (0..20).map(|i| server.stored_seqs(&format!("it-{i}")).values().sum::<usize>()).sum();
    assert_eq!(stored, sent, "stored readings");
    assert_eq!(server.log().count(" reading cid=it-"), sent, "log lines");
}

#[test]
fn poll_lateness_is_measured_against_the_keepalive() {
    let _ = bin("cliser-server");
    let dir = tempfile::tempdir().unwrap();
    let server = ServerHandle::start(dir.path(), &["--keepalive", "250ms"]);
    let out = Command::new(env!("CARGO_BIN_EXE_cliser-load"))
        .args(["--server", &server.addr.to_string(), "--clients", "5", "--ramp", "100"])
        .args(["--duration", "2s", "--id-prefix", "late-", "--quiet", "--keepalive", "250ms"])
        .env("CLISER_PASSWORD", &server.password)
        .output()
        .expect("run cliser-load");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "exit {:?}\n{report}", out.status);
    assert_eq!(value(&report, "keepalive_ms"), "250.000");
    // Two seconds of polls every 250 ms: a few gaps per client.
    let gaps: usize = value(&report, "poll_gaps").parse().unwrap();
    assert!(gaps >= 5 * 3, "only {gaps} gaps measured\n{report}");
    // The server waits a whole interval between two polls: the typical gap is the interval.
    let p50: f64 = value(&report, "poll_gap_p50_ms").parse().unwrap();
    assert!((240.0..1000.0).contains(&p50), "median gap {p50} ms\n{report}");
    let late_max: f64 = value(&report, "poll_late_max_ms").parse().unwrap();
    let gap_max: f64 = value(&report, "poll_gap_max_ms").parse().unwrap();
    assert!((late_max - (gap_max - 250.0).max(0.0)).abs() < 0.01, "{report}");
    let over_half: usize = value(&report, "polls_late_over_half_interval").parse().unwrap();
    assert!(over_half <= gaps, "{report}");
}
