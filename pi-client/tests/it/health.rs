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

/// A client of one fake w1 sensor, read every 50 ms with a health period of 200 ms, and the fake
/// server it connects to (not yet accepted).
fn one_sensor_every_50ms_health_every_200ms(dir: &std::path::Path) -> (FakeServer, Proc) {
    let w1 = fake_w1_with(dir, 1);
    let server = FakeServer::new();
    let sensor = format!("w1:{}", w1.display());
    let c = common::client(
        dir,
        server.addr,
        &["--sensor", &sensor, "--interval", "50ms", "--health-every", "200ms"],
    );
    (server, c)
}

/// Health reports against a server that does not advertise them (an old server's `140`): none is
/// sent, and every token of every answer is one an old server understands.
#[test]
fn no_health_report_goes_to_a_server_that_does_not_advertise_them() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (server, mut c) = one_sensor_every_50ms_health_every_200ms(dir.path());
    let mut conn = server.accept();
    conn.handshake(None);
    // Several health periods pass (the log says so) while the server polls.
    c.log.wait_count("health over 200ms: 28-000000000000: ", 3, WAIT);
    for _ in 0..5 {
        conn.send("100: keep alive");
        let line = conn.recv();
        assert!(!line.contains(" h:"), "a health report to a server that did not ask: {line}");
        assert!(!line.contains(" f:"), "sensor facts to a server that did not ask: {line}");
        let parsed = cliser_protocol::KeepAliveAnswer::parse(&line).unwrap();
        assert!(parsed.rejected.is_empty(), "{line}");
    }
    c.signal(libc::SIGTERM);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
}

/// The same client with `health=1` in `140` sends each period's report once.
#[test]
fn health_reports_go_to_a_server_that_advertises_them_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (server, mut c) = one_sensor_every_50ms_health_every_200ms(dir.path());
    let mut conn = server.accept();
    conn.send("110: qual a senha");
    conn.recv();
    conn.send("120: qual o ID");
    conn.recv();
    conn.send("140: Connected health=1");
    let mut ids = Vec::new();
    let reports = wait_until(WAIT, "three health reports", || {
        conn.send("100: keep alive");
        let parsed = cliser_protocol::KeepAliveAnswer::parse(&conn.recv()).unwrap();
        assert!(parsed.rejected.is_empty());
        ids.extend(parsed.answer.health.iter().map(|h| h.id));
        (ids.len() >= 3).then(|| ids.clone())
    });
    let mut unique = reports.clone();
    unique.dedup();
    assert_eq!(unique, reports, "each report once, ids increasing: {reports:?}");
    assert!(reports.windows(2).all(|w| w[0] < w[1]), "{reports:?}");
    c.signal(libc::SIGTERM);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
}

/// A bus with CRC errors injected at exactly 5 % on one sensor (`--sensor sim:crc-every=20`: every
/// 20th read of the first simulated sensor): the real client's health reports reach the real
/// server, whose store holds exactly what was injected; the clean sensor has no error.
#[test]
fn injected_crc_errors_at_five_percent_are_what_the_server_stores() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let mut sim = cliser_hal::sim::SimThermometers::for_node("pi-health");
    let ids = cliser_hal::Thermometers::discover(&mut sim).unwrap();
    let (flaky, clean) = (ids[0].as_str(), ids[1].as_str());
    let server = cliser_testkit::ServerHandle::start(dir.path(), &["--keepalive", "200ms"]);
    let mut c = common::real_client(
        dir.path(),
        server.addr,
        &server.password,
        "pi-health",
        "info",
        &[],
        &["--sensor", "sim:crc-every=20", "--interval", "10ms", "--health-every", "300ms"],
    );
    let mut store = cliser_store::open(&server.store_url()).unwrap();
    let sum = |rows: &[cliser_store::HealthRow], sensor: &str| {
        rows.iter()
            .filter(|r| r.cid == "pi-health" && r.sensor == sensor)
            .fold((0, 0, 0, 0), |a, r| (a.0 + r.reads, a.1 + r.crc, a.2 + r.errors(), a.3 + r.retries))
    };
    let rows = wait_until(std::time::Duration::from_secs(60), "200 reads in the stored health", || {
        let rows = store.health_since(0).unwrap();
        (sum(&rows, flaky).0 >= 200).then_some(rows)
    });
    let (reads, crc, errors, retries) = sum(&rows, flaky);
    // The reports cover every read from the client's start on, so exactly every 20th failed.
    assert_eq!(crc, reads / 20, "{crc} CRC errors in {reads} reads");
    assert_eq!(errors, crc, "no other error was injected");
    assert_eq!(retries, crc, "each CRC error failed its retry too");
    // What the client saw, as its readings say: the reports cover the samplings up to the last
    // report's id (the reading seq counter at its period's end).
    let last = rows.iter().map(|r| r.last_report).max().unwrap() as u64;
    let q = cliser_store::ReadingQuery {
        cid: Some(cliser_protocol::ClientId::new("pi-health").unwrap()),
        sensor: Some(cliser_protocol::SensorId::new(flaky).unwrap()),
        ..Default::default()
    };
    let seen: Vec<_> = store.readings(&q).unwrap().into_iter().filter(|r| r.seq.unwrap() < last).collect();
    let seen_crc = seen.iter().filter(|r| r.value.to_string() == "err:crc").count() as i64;
    assert_eq!((reads, crc), (seen.len() as i64, seen_crc), "the health figures are the readings' own");
    let (clean_reads, clean_crc, clean_errors, clean_retries) = sum(&rows, clean);
    assert_eq!(clean_reads, reads, "both sensors are read at each sampling");
    assert_eq!((clean_crc, clean_errors, clean_retries), (0, 0, 0));
    c.signal(libc::SIGTERM);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
}

/// Each sensor's facts (power mode, resolution, clone kind) go to a server that advertises
/// `health=1` once per connection: once on the first connection, once again on the next.
#[test]
fn sensor_facts_go_once_per_connection_to_a_server_that_takes_health_reports() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let w1 = fake_w1_with(dir.path(), 2);
    std::fs::write(w1.join("28-000000000000/ext_power"), "1\n").unwrap();
    std::fs::write(w1.join("28-000000000001/ext_power"), "0\n").unwrap();
    let server = FakeServer::new();
    let sensor = format!("w1:{}", w1.display());
    let mut c = common::client(dir.path(), server.addr, &["--sensor", &sensor, "--interval", "50ms"]);
    let want = ["f:28-000000000000=ext,12,-", "f:28-000000000001=par,12,-"];
    for connection in 1..=2 {
        let mut conn = server.accept();
        conn.send("110: qual a senha");
        conn.recv();
        conn.send("120: qual o ID");
        conn.recv();
        conn.send("140: Connected health=1");
        let mut facts: Vec<String> = Vec::new();
        let mut polls_after = 0;
        // Polls until both sensors' facts came and five more answers brought none again.
        wait_until(WAIT, "both sensors' facts, then five answers", || {
            conn.send("100: keep alive");
            let parsed = cliser_protocol::KeepAliveAnswer::parse(&conn.recv()).unwrap();
            assert!(parsed.rejected.is_empty());
            facts.extend(parsed.answer.facts.iter().map(|f| f.to_string()));
            if facts.len() >= 2 {
                polls_after += 1;
            }
            (polls_after > 5).then_some(())
        });
        facts.sort();
        assert_eq!(facts, want, "connection {connection}: each sensor's facts once");
        drop(conn);
    }
    c.signal(libc::SIGTERM);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
}
