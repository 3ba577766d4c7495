//! The real load tool against the real server: every reading sent is acknowledged and logged once.

use cliser_testkit::{bin, ServerHandle};
use std::process::Command;

fn value<'a>(report: &'a str, key: &str) -> &'a str {
    report
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in the report:\n{report}"))
}

/// One row per client by number; client i began its connect no earlier than the ramp lets it (the
/// ramp starts client i once i - 1 slots have passed: client 0 at once).
/// Runs `cliser-load` with the arguments `args` adds, logging in with `password`; asserts it
/// exited 0 and returns its report (stdout).
fn run_load(password: &str, args: impl FnOnce(&mut Command) -> &mut Command) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cliser-load"));
    args(&mut cmd);
    let out = cmd.env("CLISER_PASSWORD", password).output().expect("run cliser-load");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\n{report}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    report
}

fn handshakes_csv_has_every_client_in_ramp_order(path: &std::path::Path, clients: u32, ramp: f64) {
    let text = std::fs::read_to_string(path).expect("the handshakes CSV");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("client,connect_ms,handshake_ms"));
    let rows: Vec<(u32, f64, f64)> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), 3, "{l}");
            (f[0].parse().unwrap(), f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), (0..clients).collect::<Vec<_>>(), "{text}");
    for &(client, connect_ms, handshake_ms) in &rows {
        let slot_ms = f64::from(client.saturating_sub(1)) * 1000.0 / ramp;
        assert!(connect_ms >= slot_ms, "client {client} began at {connect_ms} ms, before its slot {slot_ms}");
        assert!(handshake_ms > 0.0, "client {client}: {handshake_ms} ms");
    }
}

#[test]
fn twenty_clients_every_reading_acked_and_logged_once() {
    let _ = bin("cliser-server");
    let dir = tempfile::tempdir().unwrap();
    let server = ServerHandle::start(dir.path(), &["--keepalive", "250ms", "--max-clients", "100"]);
    let report = run_load(&server.password, |c| {
        c.args(["--server", &server.addr.to_string(), "--clients", "20", "--ramp", "200"])
            .args(["--duration", "2s", "--id-prefix", "it-", "--quiet"])
            .args(["--watch-pid", &server.proc.pid().to_string()])
            .arg("--handshakes-csv")
            .arg(dir.path().join("handshakes.csv"))
    });
    assert_eq!(value(&report, "registered"), "20");
    handshakes_csv_has_every_client_in_ramp_order(&dir.path().join("handshakes.csv"), 20, 200.0);
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
    let report = run_load(&server.password, |c| {
        c.args(["--server", &server.addr.to_string(), "--clients", "5", "--ramp", "100"]);
        c.args(["--duration", "2s", "--id-prefix", "late-", "--quiet", "--keepalive", "250ms"])
    });
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

#[test]
fn over_tls_every_reading_is_acked_and_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    let made = Command::new(bin("cliser-server"))
        .args(["gen-tls", "--dir", tls.to_str().unwrap(), "--name", "localhost,127.0.0.1"])
        .output()
        .expect("run gen-tls");
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let (cert, key) = (tls.join("server.pem"), tls.join("server-key.pem"));
    let flags = [
        "--listen",
        "off",
        "--listen-tls",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        "--keepalive",
        "250ms",
    ];
    let server = ServerHandle::start(dir.path(), &flags);
    let addr = server.tls.expect("listening for TLS");
    let report = run_load(&server.password, |c| {
        c.args(["--server", &addr.to_string(), "--tls-ca", tls.join("ca.pem").to_str().unwrap()]);
        c.args(["--clients", "10", "--ramp", "200", "--duration", "2s", "--id-prefix", "tls-", "--quiet"])
    });
    assert_eq!(value(&report, "registered"), "10");
    assert_eq!(value(&report, "failures"), "0");
    let sent: usize = value(&report, "readings_sent").parse().unwrap();
    assert_eq!(value(&report, "readings_acked"), sent.to_string());
    assert!(sent >= 10 * 5, "only {sent} readings sent");
    let stored: usize =
        (0..10).map(|i| server.stored_seqs(&format!("tls-{i}")).values().sum::<usize>()).sum();
    assert_eq!(stored, sent, "stored readings");
    assert_eq!(server.log().count("TLS connection from"), 10);

    // A CA the server's certificate does not chain to: every client fails, and says why.
    let other = dir.path().join("other");
    let made = Command::new(bin("cliser-server"))
        .args(["gen-tls", "--dir", other.to_str().unwrap(), "--name", "127.0.0.1"])
        .output()
        .expect("run gen-tls");
    assert!(made.status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_cliser-load"))
        .args(["--server", &addr.to_string(), "--tls-ca", other.join("ca.pem").to_str().unwrap()])
        .args(["--clients", "2", "--duration", "1s", "--id-prefix", "x-", "--quiet"])
        .env("CLISER_PASSWORD", &server.password)
        .output()
        .expect("run cliser-load");
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("TLS: the server's certificate is not signed by a trusted CA"), "{said}");
}

/// Pis back from an outage: each backlog client empties 2,000 readings of 8 sensors in full lines
/// with `more` while live clients poll as usual; every backlog reading is stored exactly once, with
/// its seq, its sensor and its sample time in the past, and the run ends once all are acknowledged.
#[test]
fn backlog_clients_store_every_reading_once_while_live_clients_poll() {
    let _ = bin("cliser-server");
    let dir = tempfile::tempdir().unwrap();
    let server = ServerHandle::start(dir.path(), &["--keepalive", "500ms"]);
    let timeline = dir.path().join("timeline.csv");
    let started_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let report = run_load(&server.password, |c| {
        c.args(["--server", &server.addr.to_string(), "--clients", "8", "--ramp", "200"])
            .args(["--backlog-clients", "3", "--backlog", "2000", "--sensors", "8", "--sample-every", "10s"])
            .args(["--duration", "60s", "--id-prefix", "bk-", "--quiet", "--keepalive", "500ms"])
            .arg("--timeline-csv")
            .arg(&timeline)
    });
    assert_eq!(value(&report, "failures"), "0");
    assert_eq!(value(&report, "backlog_readings"), "6000");
    assert_eq!(value(&report, "backlog_acked"), "6000");
    assert_eq!(value(&report, "backlog_clients_done"), "3");
    let per_answer: f64 = value(&report, "backlog_readings_per_answer").parse().unwrap();
    assert!(per_answer > 80.0, "lines are filled: {per_answer} readings per answer\n{report}");
    let took: f64 = value(&report, "backlog_s").parse().unwrap();
    assert!(took < 30.0, "the steady phase ended when the backlogs were done: {took} s\n{report}");
    let first_done: f64 = value(&report, "backlog_client_done_min_s").parse().unwrap();
    assert!(first_done <= took, "{report}");

    for i in 0..3 {
        let cid = format!("bk-{i}");
        let seqs = server.stored_seqs(&cid);
        assert_eq!(seqs.len(), 2000, "{cid}: every seq stored");
        assert!(seqs.values().all(|&n| n == 1), "{cid}: each once");
        assert_eq!((seqs.keys().next(), seqs.keys().last()), (Some(&1), Some(&2000)), "{cid}");
        let mut store = cliser_store::open(&server.store_url()).expect("open the store");
        let q = cliser_store::ReadingQuery {
            cid: Some(cliser_protocol::ClientId::new(&cid).unwrap()),
            ..Default::default()
        };
        let rows = store.readings(&q).expect("read the store");
        let sensors: std::collections::BTreeSet<String> = rows.iter().map(|r| r.sensor.to_string()).collect();
        assert_eq!(sensors.len(), 8, "{cid}: {sensors:?}");
        // 250 samples of 8 sensors at 10 s, the last about now: stamped back 2,500 s, as sent.
        let oldest = rows.iter().map(|r| r.sampled_ms).min().unwrap();
        assert!((started_ms - 2_520_000..started_ms - 2_480_000).contains(&oldest), "{cid}: oldest {oldest}");
    }
    // The live clients' readings too, once each.
    let sent: usize = value(&report, "readings_sent").parse().unwrap();
    assert_eq!(value(&report, "readings_acked"), sent.to_string());
    let live: usize = (3..8).map(|i| server.stored_seqs(&format!("bk-{i}")).values().sum::<usize>()).sum();
    assert_eq!(live, sent, "live readings stored");

    let csv = std::fs::read_to_string(&timeline).expect("the timeline");
    assert!(csv.starts_with("t_s,backlog_acked,backlog_clients_done,live_acked,live_polls\n"), "{csv}");
}
