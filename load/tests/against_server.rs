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
