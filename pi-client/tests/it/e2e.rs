//! End to end: the real `cliser-server` and the real `cliser-pi-client` on loopback, short intervals,
//! a temp dir per test. Readings come from a fake w1 sysfs tree (`--sensor w1:DIR`).

use crate::common;

use cliser_pi_client::backlog::{Backlog, Limits};
use cliser_protocol::{Celsius, SensorId, Value};
use cliser_testkit::{wait_until, LineClient, LogFile, Proc, ServerHandle};
use common::{DumpLogsOnPanic, WAIT};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const SENSORS: [(&str, &str); 2] = [("28-0316a2795aff", "23125"), ("28-0316a2795b00", "-10125")];

/// A w1 sysfs tree as the kernel shows it, with two DS18B20s.
fn fake_w1(dir: &Path) -> PathBuf {
    let root = dir.join("w1");
    let master = root.join("w1_bus_master1");
    std::fs::create_dir_all(&master).unwrap();
    let ids: Vec<&str> = SENSORS.iter().map(|s| s.0).collect();
    std::fs::write(master.join("w1_master_slaves"), format!("{}\n", ids.join("\n"))).unwrap();
    for (id, millis) in SENSORS {
        let d = root.join(id);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("temperature"), format!("{millis}\n")).unwrap();
        std::fs::write(d.join("w1_slave"), common::w1_slave_text(millis.parse().unwrap())).unwrap();
    }
    root
}

/// The real client against `server`, as `id`, state dir and log in `dir`.
fn client(dir: &Path, server: &ServerHandle, id: &str, extra: &[&str]) -> Proc {
    client_with_password(dir, server, &server.password, id, extra)
}

fn client_with_password(dir: &Path, server: &ServerHandle, password: &str, id: &str, extra: &[&str]) -> Proc {
    let pw = dir.join(format!("{id}.password"));
    std::fs::write(&pw, format!("{password}\n")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cliser-pi-client"));
    cmd.arg("--server")
        .arg(server.addr.to_string())
        .args(["--id", id, "--password-file"])
        .arg(&pw)
        .arg("--state-dir")
        .arg(dir.join(format!("{id}.state")))
        .args(extra)
        .env_remove("CLISER_PASSWORD")
        .env("RUST_LOG", "debug");
    Proc::spawn(cmd, &dir.join(format!("{id}.log")))
}

fn seq_of(line: &str) -> Option<u64> {
    line.split_whitespace().find_map(|t| t.strip_prefix("seq="))?.parse().ok()
}

/// seq -> how many times the server logged it, for client `cid`.
fn server_seqs(log: &LogFile, cid: &str) -> BTreeMap<u64, usize> {
    let mut m = BTreeMap::new();
    for l in log.lines_with(&format!("reading cid={cid} ")) {
        *m.entry(seq_of(&l).expect("seq in server line")).or_insert(0) += 1;
    }
    m
}

/// The seqs the client reports as taken (it logs a reading once it is on disk).
fn client_seqs(log: &LogFile) -> Vec<u64> {
    log.lines_with("reading sensor=").iter().filter_map(|l| seq_of(l)).collect()
}

fn max_client_seq(log: &LogFile) -> u64 {
    client_seqs(log).into_iter().max().unwrap_or(0)
}

fn wait_server_has(server: &ServerHandle, cid: &str, seqs: &[u64]) {
    wait_until(WAIT, "the server to log every reading the client took", || {
        let logged = server_seqs(server.log(), cid);
        seqs.iter().all(|s| logged.contains_key(s)).then_some(())
    });
}

fn stop(mut c: Proc) {
    c.signal(libc::SIGTERM);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0), "SIGTERM exits 0");
}

#[test]
fn readings_from_a_fake_w1_tree_reach_the_server_log() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let w1 = fake_w1(dir.path());
    let server = ServerHandle::start(dir.path(), &["--keepalive", "300ms"]);
    let sensor = format!("w1:{}", w1.display());
    let c = client(dir.path(), &server, "pi-w1", &["--sensor", &sensor, "--interval", "200ms"]);
    server.log().wait_for("reading cid=pi-w1 sensor=28-0316a2795aff temp_c=23.125", WAIT);
    server.log().wait_for("reading cid=pi-w1 sensor=28-0316a2795b00 temp_c=-10.125", WAIT);
    c.log.wait_for("reading sensor=28-0316a2795aff temp_c=23.125 seq=", WAIT);
    stop(c);
    let logged = server_seqs(server.log(), "pi-w1");
    let seqs: Vec<u64> = logged.keys().copied().collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>(), "seqs go up by one from 1");
    assert!(logged.values().all(|&n| n == 1), "no reading logged twice");
}

/// The server is killed with SIGKILL for several sample intervals and restarted: every reading
/// taken meanwhile reaches the log exactly once, and the store holds every reading exactly once.
#[test]
fn readings_taken_during_a_server_outage_are_logged_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let w1 = fake_w1(dir.path());
    let mut server = ServerHandle::start(dir.path(), &["--keepalive", "200ms"]);
    let sensor = format!("w1:{}", w1.display());
    let c = client(
        dir.path(),
        &server,
        "pi-out",
        &["--sensor", &sensor, "--interval", "200ms", "--server-timeout", "2s"],
    );
    server.log().wait_count("reading cid=pi-out ", 4, WAIT);

    server.proc.kill9();
    // A batch taken just before the kill may have reached the server before the client logged it.
    let before = max_client_seq(&c.log) + SENSORS.len() as u64;
    wait_until(WAIT, "readings taken while the server is down", || {
        (max_client_seq(&c.log) >= before + 5 * SENSORS.len() as u64).then_some(())
    });
    let taken_in_outage: Vec<u64> = client_seqs(&c.log).into_iter().filter(|&s| s > before).collect();
    server.restart();

    wait_server_has(&server, "pi-out", &taken_in_outage);
    let all_taken = client_seqs(&c.log);
    wait_server_has(&server, "pi-out", &all_taken);
    stop(c);
    let logged = server_seqs(server.log(), "pi-out");
    for s in &taken_in_outage {
        assert_eq!(logged.get(s), Some(&1), "seq {s} (taken during the outage) logged once");
    }
    let ledger = server.stored_seqs("pi-out");
    for s in &all_taken {
        assert_eq!(ledger.get(s), Some(&1), "seq {s} in the store exactly once");
    }
}

/// The client is killed with SIGKILL while the server is down, and started again: the backlog it
/// had on disk still arrives, as do the readings its second run takes before the server is back.
#[test]
fn a_client_killed_while_the_server_is_down_still_delivers_its_backlog() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let w1 = fake_w1(dir.path());
    let mut server = ServerHandle::start(dir.path(), &["--keepalive", "200ms"]);
    let sensor = format!("w1:{}", w1.display());
    // Per-sample durability is what a kill -9 tests: `sync` mode (spill's bound is tested in spill.rs).
    let flags = [
        "--sensor",
        sensor.as_str(),
        "--interval",
        "200ms",
        "--server-timeout",
        "2s",
        "--durability",
        "sync",
    ];
    let mut c = client(dir.path(), &server, "pi-kill", &flags);
    server.log().wait_count("reading cid=pi-kill ", 2, WAIT);

    server.proc.kill9();
    let before = max_client_seq(&c.log) + SENSORS.len() as u64;
    wait_until(WAIT, "readings taken while the server is down", || {
        (max_client_seq(&c.log) >= before + 4 * SENSORS.len() as u64).then_some(())
    });
    c.kill9();
    let first_run_max = max_client_seq(&c.log);
    let c = client(dir.path(), &server, "pi-kill", &flags);
    c.log.wait_for("backlog: ", WAIT);
    wait_until(WAIT, "the second run to take readings", || {
        (max_client_seq(&c.log) >= first_run_max + 2 * SENSORS.len() as u64).then_some(())
    });
    let taken_in_outage: Vec<u64> = client_seqs(&c.log).into_iter().filter(|&s| s > before).collect();
    server.restart();

    wait_server_has(&server, "pi-kill", &taken_in_outage);
    let all_taken = client_seqs(&c.log);
    wait_server_has(&server, "pi-kill", &all_taken);
    stop(c);
    let logged = server_seqs(server.log(), "pi-kill");
    for s in &taken_in_outage {
        assert_eq!(logged.get(s), Some(&1), "seq {s} (taken during the outage) logged once");
    }
    // The counter kept going across the restart: no seq was reused for another reading.
    let ledger = server.stored_seqs("pi-kill");
    assert!(ledger.values().all(|&n| n == 1), "the store holds each seq once");
    for s in &all_taken {
        assert!(ledger.contains_key(s), "seq {s} reached the store");
    }
}

fn admin(server: &ServerHandle, command: &str) {
    let mut console = LineClient::connect(server.console);
    console.recv_until("#> ", WAIT);
    console.send(command);
    console.recv_until("#> ", WAIT);
}

#[test]
fn disconnect_999_from_the_console_exits_0_and_stays_down() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let server = ServerHandle::start(dir.path(), &["--keepalive", "300ms"]);
    let mut c = client(dir.path(), &server, "pi-999", &["--sensor", "w1:/nonexistent"]);
    server.log().wait_for("registered cid=pi-999", WAIT);
    admin(&server, "202:pi-999");
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
    c.log.wait_for("exiting without reconnecting", WAIT);
    assert_eq!(server.log().count("registered cid=pi-999"), 1, "it did not come back");
}

#[test]
fn shutdown_130_from_the_console_runs_the_configured_command() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let marker = dir.path().join("powered-off");
    let cmd = format!("touch '{}'", marker.display());
    let server = ServerHandle::start(dir.path(), &["--keepalive", "300ms"]);
    let mut c =
        client(dir.path(), &server, "pi-130", &["--sensor", "w1:/nonexistent", "--shutdown-command", &cmd]);
    server.log().wait_for("registered cid=pi-130", WAIT);
    admin(&server, "203:pi-130");
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
    assert!(marker.exists(), "the shutdown command ran");
    server.log().wait_for("cid=pi-130 acknowledged 130", WAIT);
}

#[test]
fn a_wrong_password_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let server = ServerHandle::start(dir.path(), &[]);
    let mut c =
        client_with_password(dir.path(), &server, "not-the-password", "pi-111", &["--sensor", "w1:/x"]);
    assert_eq!(c.wait_exit(WAIT).code(), Some(2));
    assert!(c.log.text().contains("refused the password (111)"));
}

/// 10,000 readings waiting on disk reach the server log in seconds: the answers say `more` and the
/// server polls again at once instead of waiting for the next keep-alive.
#[test]
fn a_backlog_of_10000_readings_drains_in_seconds() {
    const N: u64 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    {
        let b = Backlog::open(&dir.path().join("pi-drain.state"), Limits::default()).unwrap();
        let sensor = SensorId::new("28-0316a2795aff").unwrap();
        for _batch in 0..N / 100 {
            let readings = (0..100)
                .map(|i| (sensor.clone(), Value::Celsius(Celsius::from_millis(20_000 + i).unwrap())))
                .collect();
            b.record(readings);
        }
        assert_eq!(b.len(), N as usize);
    }
    // A keep-alive every 10 s as in production: only `more` makes this fast.
    let server = ServerHandle::start(dir.path(), &["--keepalive", "1s"]);
    let start = Instant::now();
    // Without sensors the client adds one `w1=err:no_sensors` at start (and none after, at a 1 h
    // interval): seq N + 1 is the last.
    let c = client(dir.path(), &server, "pi-drain", &["--sensor", "w1:/nonexistent", "--interval", "1h"]);
    wait_until(Duration::from_secs(15), "the last reading in the server log", || {
        server
            .log()
            .lines_with("reading cid=pi-drain ")
            .last()
            .filter(|l| seq_of(l) == Some(N + 1))
            .map(|_| ())
    });
    let took = start.elapsed();
    eprintln!("10,000 readings drained in {took:?}");
    stop(c);
    let logged = server_seqs(server.log(), "pi-drain");
    assert_eq!(logged.len() as u64, N + 1);
    assert!(logged.values().all(|&n| n == 1));
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn probe_lists_the_sensors_of_a_w1_tree_with_their_readings() {
    let dir = tempfile::tempdir().unwrap();
    let w1 = fake_w1(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_cliser-pi-client"))
        .arg("probe")
        .arg("--sensor")
        .arg(format!("w1:{}", w1.display()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("28-0316a2795aff  23.125 °C"), "{text}");
    assert!(text.contains("28-0316a2795b00  -10.125 °C"), "{text}");
}

#[test]
fn a_pi_without_any_sensor_shows_an_error_each_interval_not_silence() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let server = ServerHandle::start(dir.path(), &["--keepalive", "200ms"]);
    let missing = dir.path().join("no-w1-bus");
    let _pi = client(
        dir.path(),
        &server,
        "garage",
        &["--sensor", &format!("w1:{}", missing.display()), "--interval", "200ms"],
    );
    let lines = wait_until(WAIT, "two no_sensors readings", || {
        let l = server.log().lines_with("reading cid=garage sensor=w1 error=no_sensors");
        (l.len() >= 2).then_some(l)
    });
    assert!(lines.iter().all(|l| l.contains("WARN")), "{lines:?}");
    let mut console = LineClient::connect(server.console);
    console.recv_until("#> ", WAIT);
    console.send("L");
    let list = console.recv_until("#> ", WAIT);
    assert!(list.contains("cid=garage") && list.contains("w1=err:no_sensors"), "{list}");
}
