//! The failed-login brake's settings against the real server: loopback is exempt by default (a local
//! proxy or test cannot lock everyone out), another address is blocked for the time configured and
//! then let in again, `0` turns the brake off, and the page and the client port share it. A failed
//! TLS handshake counts like a wrong password.

use crate::common;
use cliser_testkit::wait_until;
use common::http::{basic, connect_from, get_as, Conn};
use common::tls::{gen_tls, tls_server};
use common::*;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A wrong password from `src`: 110, the guess, 111, closed.
fn wrong_password_from(src: [u8; 4], s: &ServerHandle) {
    let mut c = LineClient::from_stream(connect_from(src, s.addr));
    c.expect("110", T);
    c.send("guess");
    c.expect("111", T);
    c.expect_closed(T);
}

/// Whether a client connection from `src` gets 110 (a blocked address is closed before it).
fn served_from(src: [u8; 4], to: SocketAddr) -> bool {
    let mut c = LineClient::from_stream(connect_from(src, to));
    c.recv(T).is_some_and(|l| l.starts_with("110"))
}

fn auth_failures(s: &ServerHandle) -> f64 {
    let text = get_as(s.http.unwrap(), "/metrics", None).text();
    text.lines().find_map(|l| l.strip_prefix("cliser_auth_failures_total ")?.parse().ok()).unwrap()
}

/// A `GET /` from `src`: its status.
fn page_status_from(src: [u8; 4], s: &ServerHandle, password: &str) -> u16 {
    let mut c = Conn::from_stream(connect_from(src, s.http.unwrap()));
    let auth = basic(password);
    c.send(
        format!("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    c.reply(false).unwrap().status
}

#[test]
fn a_flood_from_loopback_with_the_default_exemption_locks_out_nobody() {
    let (d, s) = server(&[]);
    let _logs = DumpLogsOnPanic(d.path());
    s.log().wait_for(
        "failed-login brake: 5 failed logins within 60 s block an address for 60 s; exempt: 127.0.0.0/8, ::1",
        T,
    );
    for _ in 0..30 {
        wrong_password_from([127, 0, 0, 1], &s);
    }
    // Garbage too: a binary line where the password goes, and another id's ramblings.
    for _ in 0..5 {
        let mut c = LineClient::connect(s.addr);
        c.expect("110", T);
        c.send_raw(b"\x01\x02garbage \xff\n");
        c.expect_closed(T);
    }
    // Still counted and logged, every one of them.
    s.log().wait_count("auth failed", 30, T);
    wait_until(T, "30 failures in the metrics", || (auth_failures(&s) == 30.0).then_some(()));
    let (_c, l) = client(&s, "after-the-flood");
    assert_eq!(l, "140: Connected health=1");
    assert!(!s.log().text().contains("blocking "), "an exempt address was blocked");
}

#[test]
fn a_flood_from_another_address_blocks_it_alone_for_the_configured_time() {
    let args = ["--auth-exempt", "127.0.0.1/32", "--auth-max-failures", "3", "--auth-window", "10s"];
    let (d, s) = server(&[&args[..], &["--auth-block", "2s"]].concat());
    let _logs = DumpLogsOnPanic(d.path());
    s.log().wait_for(
        "failed-login brake: 3 failed logins within 10 s block an address for 2 s; exempt: 127.0.0.1",
        T,
    );
    let attacker = [127, 0, 0, 2];
    wrong_password_from(attacker, &s);
    wrong_password_from(attacker, &s);
    assert!(served_from(attacker, s.addr), "two failures of three do not block");
    wrong_password_from(attacker, &s);
    let blocked_at = Instant::now();
    s.log().wait_for("blocking 127.0.0.2 for 2 s: 3 failed logins within 10 s", T);
    assert!(!served_from(attacker, s.addr), "blocked on the client port");
    assert_eq!(page_status_from(attacker, &s, "anything"), 429, "blocked on the page");
    // Nobody else: another address, and the exempt one.
    let mut other = LineClient::from_stream(connect_from([127, 0, 0, 3], s.addr));
    assert_eq!(other.login(&s.password, "other"), "140: Connected health=1");
    let (_c, l) = client(&s, "local");
    assert_eq!(l, "140: Connected health=1");
    // Let in again once the block is over, and not before.
    let back = wait_until(T, "the attacker's address served again", || {
        served_from(attacker, s.addr).then(Instant::now)
    });
    let blocked_for = back - blocked_at;
    eprintln!("127.0.0.2 was refused for {blocked_for:?} (--auth-block 2s)");
    assert!(blocked_for >= Duration::from_millis(1900), "unblocked after {blocked_for:?}");
    let mut again = LineClient::from_stream(connect_from(attacker, s.addr));
    assert_eq!(again.login(&s.password, "attacker-reformed"), "140: Connected health=1");
}

#[test]
fn zero_max_failures_turns_the_brake_off() {
    let (d, s) = server(&["--auth-exempt", "none", "--auth-max-failures", "0"]);
    let _logs = DumpLogsOnPanic(d.path());
    s.log().wait_for("failed-login brake: off", T);
    for _ in 0..10 {
        wrong_password_from([127, 0, 0, 2], &s);
    }
    let mut c = LineClient::from_stream(connect_from([127, 0, 0, 2], s.addr));
    assert_eq!(c.login(&s.password, "still-welcome"), "140: Connected health=1");
    assert!(!s.log().text().contains("blocking "));
}

#[test]
fn failed_tls_handshakes_count_and_block_the_address_on_every_port() {
    let dir = tempfile::tempdir().unwrap();
    let _logs = DumpLogsOnPanic(dir.path());
    let fleet = gen_tls(&dir.path().join("tls"), "localhost");
    let brake = ["--auth-exempt", "127.0.0.1/32", "--auth-max-failures", "3", "--auth-block", "60s"];
    let s = tls_server(dir.path(), &fleet, &brake);
    let tls = s.tls.expect("a TLS listener");
    let attacker = [127, 0, 0, 2];
    // A client speaking in clear to the TLS port: not a ClientHello, the handshake fails.
    let plain_to_tls = || {
        let mut c = connect_from(attacker, tls);
        c.set_read_timeout(Some(T)).unwrap();
        c.write_all(b"hunter2\n").unwrap();
        let mut rest = Vec::new();
        let _ = c.read_to_end(&mut rest); // the alert, then the close
    };
    plain_to_tls();
    plain_to_tls();
    s.log().wait_count("TLS handshake failed from 127.0.0.2", 2, T);
    assert!(served_from(attacker, s.addr), "two failures of three do not block");
    plain_to_tls();
    s.log().wait_for("blocking 127.0.0.2 for 60 s: 3 failed logins within 60 s", T);
    assert!(!served_from(attacker, s.addr), "blocked on the plain port too");
    assert!(served_from([127, 0, 0, 3], s.addr), "another address is served");
}
