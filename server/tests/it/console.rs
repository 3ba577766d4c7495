//! Every admin console command, and its password on a non-loopback address.

use crate::common;
use common::*;
use std::process::Command;

#[test]
fn list_shows_no_clients_then_each_client_with_its_last_values() {
    let (_d, s) = server(&["--keepalive", "200ms"]);
    let mut a = admin(&s);
    assert_eq!(ask(&mut a, "L"), "No clients connected");
    let (mut c, _) = client(&s, "pi-1");
    c.expect("100", T);
    c.send("100 28-0316a2795aff=23.125#1 t2=err:crc#2");
    s.log().wait_for("error=crc", T);
    let list = ask(&mut a, "L");
    let line = list.lines().find(|l| l.contains("cid=pi-1")).unwrap_or_else(|| panic!("{list}"));
    assert!(line.starts_with("sid=1 cid=pi-1 ip=127.0.0.1 port="), "{line}");
    assert!(line.contains(" status=registered since=20") && line.contains(" last_seen=20"), "{line}");
    assert!(line.ends_with(" 28-0316a2795aff=23.125 t2=err:crc"), "{line}");
}

#[test]
fn keepalive_to_all_polls_every_client_now() {
    let (_d, s) = server(&["--keepalive", "60s"]);
    let (mut c1, _) = client(&s, "a");
    let (mut c2, _) = client(&s, "b");
    let mut a = admin(&s);
    assert_eq!(ask(&mut a, "200:"), "ok: keep-alive sent to 2 clients");
    c1.expect("100: keep alive", T);
    c2.expect("100: keep alive", T);
}

#[test]
fn disconnect_one_sends_999_closes_and_unregisters() {
    let (_d, s) = server(&[]);
    let (mut c, _) = client(&s, "pi-1");
    let (_other, _) = client(&s, "pi-2");
    let mut a = admin(&s);
    assert_eq!(ask(&mut a, "202:pi-1"), "ok");
    assert_eq!(c.recv(T).as_deref(), Some("999: shutdown"));
    c.expect_closed(T);
    assert_eq!(ask(&mut a, "202:pi-1"), "error: no client pi-1");
    assert_eq!(ask(&mut a, "202:nobody"), "error: no client nobody");
    let list = ask(&mut a, "L");
    assert!(!list.contains("cid=pi-1") && list.contains("cid=pi-2"), "{list}");
    s.log().wait_for("disconnected cid=pi-1 sid=1 from 127.0.0.1", T);
}

#[test]
fn disconnect_all_sends_999_to_every_client() {
    let (_d, s) = server(&[]);
    let (mut c1, _) = client(&s, "a");
    let (mut c2, _) = client(&s, "b");
    let mut a = admin(&s);
    assert_eq!(ask(&mut a, "201:"), "ok: 2 clients disconnected");
    for c in [&mut c1, &mut c2] {
        assert_eq!(c.recv(T).as_deref(), Some("999: shutdown"));
        c.expect_closed(T);
    }
    assert_eq!(ask(&mut a, "L"), "No clients connected");
}

#[test]
fn shutdown_sys_sends_130_to_one_client() {
    let (_d, s) = server(&[]);
    let (mut c, _) = client(&s, "pi-1");
    let mut a = admin(&s);
    assert_eq!(ask(&mut a, "203:pi-1"), "ok");
    assert_eq!(c.recv(T).as_deref(), Some("130: shutdown sys"));
    c.send("130");
    s.log().wait_for("cid=pi-1 acknowledged 130", T);
    assert_eq!(ask(&mut a, "203:ghost"), "error: no client ghost");
}

#[test]
fn help_invalid_and_end() {
    let (_d, s) = server(&[]);
    let mut a = admin(&s);
    let help = ask(&mut a, "?");
    for cmd in ["200:", "201:", "202:<cid>", "203:<cid>", "L", "E", "Q"] {
        assert!(help.contains(cmd), "{help}");
    }
    assert_eq!(ask(&mut a, "hello"), "Invalid command (? for help)");
    assert_eq!(ask(&mut a, "202:"), "Invalid command (? for help)");
    a.send("E");
    a.expect_closed(T);
}

#[test]
fn quit_stops_the_server_gracefully_without_999() {
    let (_d, mut s) = server(&[]);
    let (mut c, _) = client(&s, "pi-1");
    let mut a = admin(&s);
    a.send("Q");
    assert_eq!(a.recv(T).as_deref(), Some("ok: stopping"));
    assert_eq!(c.recv(T), None, "closed without a 999");
    let status = s.proc.wait_exit(T);
    assert!(status.success(), "{status:?}");
    s.log().wait_for("stopped", T);
}

#[test]
fn sigterm_stops_the_server_gracefully_without_999() {
    let (_d, mut s) = server(&[]);
    let (mut c, _) = client(&s, "pi-1");
    s.proc.signal(15);
    assert_eq!(c.recv(T), None, "closed without a 999");
    assert!(s.proc.wait_exit(T).success());
}

#[test]
fn a_non_loopback_console_needs_an_admin_password() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "client-secret\n").unwrap();
    let out = Command::new(cliser_testkit::bin("cliser-server"))
        .args(["--listen", "127.0.0.1:0", "--console", "0.0.0.0:0", "--password-file"])
        .arg(&pw)
        .env_remove("CLISER_ADMIN_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "a setting to fix: exit 2 as the README says");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--admin-password-file"));

    let admin_pw = cliser_testkit::free_password();
    let admin_file = dir.path().join("admin");
    std::fs::write(&admin_file, &admin_pw).unwrap();
    let s = ServerHandle::start(
        dir.path(),
        &["--console", "0.0.0.0:0", "--admin-password-file", admin_file.to_str().unwrap()],
    );
    let port = s.console.port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut wrong = LineClient::connect(addr);
    wrong.recv_until("password: ", T);
    wrong.send("guess");
    assert_eq!(wrong.recv(T).as_deref(), Some("wrong password"));
    wrong.expect_closed(T);
    let mut right = LineClient::connect(addr);
    right.recv_until("password: ", T);
    right.send(&admin_pw);
    right.recv_until("#> ", T);
    right.send("L");
    assert_eq!(right.recv_until("#> ", T), "No clients connected\n");
}

/// A set admin password is asked wherever the console listens, loopback too (as the page asks it),
/// in English; a wrong one is refused and closed, the right one opens the console.
#[test]
fn on_loopback_a_set_admin_password_is_asked_in_english() {
    let dir = tempfile::tempdir().unwrap();
    let admin_pw = cliser_testkit::free_password();
    let admin_file = dir.path().join("admin");
    std::fs::write(&admin_file, &admin_pw).unwrap();
    let s = ServerHandle::start(dir.path(), &["--admin-password-file", admin_file.to_str().unwrap()]);
    assert!(s.console.ip().is_loopback(), "{}", s.console);
    let mut wrong = LineClient::connect(s.console);
    assert_eq!(wrong.recv_until("password: ", T), "", "the prompt first, nothing before it");
    wrong.send("guess");
    assert_eq!(wrong.recv(T).as_deref(), Some("wrong password"));
    wrong.expect_closed(T);
    let mut right = LineClient::connect(s.console);
    right.recv_until("password: ", T);
    right.send(&admin_pw);
    assert_eq!(right.recv_until("#> ", T), "");
    right.send("L");
    assert_eq!(right.recv_until("#> ", T), "No clients connected\n");
}

/// `N` shows the Pis' health reports of the last hour per node and sensor from the store: the
/// reads, the error rate with its reasons, the retries, the mean read time, and a mark above 1 %.
#[test]
fn health_shows_each_sensors_bus_health_over_the_last_hour_with_a_mark_above_one_percent() {
    let (_d, s) = server(&["--keepalive", "200ms"]);
    let mut a = admin(&s);
    let (mut c, _) = client(&s, "pi-bus");
    c.send(
        "100 28-0316a2795aff=23.125#1 h:28-0316a2795aff=200,10,0,0,0,12,2400/60000~0#1 \
         h:28-0000000000c1=200,0,0,0,0,0,3000/60000~0#1",
    );
    let report = cliser_testkit::wait_until(T, "the health reports in N", || {
        let n = ask(&mut a, "N");
        n.contains("28-0000000000c1: ").then_some(n)
    });
    let bus = report.split("bus health over the last hour").nth(1).unwrap_or_else(|| panic!("{report}"));
    let lines: Vec<&str> = bus.lines().collect();
    let node = lines.iter().position(|l| *l == "pi-bus:").unwrap_or_else(|| panic!("{report}"));
    assert_eq!(
        lines[node + 1..node + 3],
        [
            "  28-0000000000c1: 200 reads, 0 errors, mean read 15 ms",
            "  28-0316a2795aff: 200 reads, 10 errors (5.0 %: crc 10), 12 retries, mean read 12 ms  ! above 1 %",
        ],
        "{report}"
    );
}
