//! The 110/120/140 handshake and each of its error codes, against the real binary.

use crate::common;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn a_client_with_the_password_and_a_valid_id_is_registered() {
    let (_d, s) = server(&[]);
    let (_c, connected) = client(&s, "pi-kitchen");
    assert_eq!(connected, "140: Connected health=1");
    s.log().wait_for("registered cid=pi-kitchen sid=", T);
    assert!(!s.log().text().contains(&s.password), "the password must never be logged");
}

#[test]
fn a_wrong_password_gets_111_is_closed_and_logged_with_the_ip() {
    let (_d, s) = server(&[]);
    let mut c = LineClient::connect(s.addr);
    c.expect("110: qual a senha", T);
    c.send("not-the-password");
    assert_eq!(c.recv(T).as_deref(), Some("111: senha incorreta"));
    c.expect_closed(T);
    let line = s.log().wait_for("auth failed", T);
    assert!(line.contains("wrong password") && line.contains("ip 127.0.0.1"), "{line}");
    assert!(!s.log().text().contains("not-the-password"));
}

#[test]
fn an_invalid_id_gets_122_and_is_closed() {
    let (_d, s) = server(&[]);
    let long = "x".repeat(33);
    for id in ["", "two words", long.as_str(), "pé", "a/b"] {
        let mut c = LineClient::connect(s.addr);
        c.expect("110", T);
        c.send(&s.password);
        c.expect("120: qual o ID", T);
        c.send(id);
        assert_eq!(c.recv(T).as_deref(), Some("122: ID invalido"), "id {id:?}");
        c.expect_closed(T);
    }
    s.log().wait_count("invalid id", 5, T);
}

#[test]
fn an_id_held_by_a_live_session_gets_121_until_that_session_ends() {
    let (_d, s) = server(&[]);
    let (first, _) = client(&s, "dup");
    let mut second = LineClient::connect(s.addr);
    second.expect("110", T);
    second.send(&s.password);
    second.expect("120", T);
    second.send("dup");
    assert_eq!(second.recv(T).as_deref(), Some("121: ID em uso"));
    second.expect_closed(T);
    drop(first);
    s.log().wait_for("disconnected cid=dup", T);
    let (_third, l) = client(&s, "dup");
    assert_eq!(l, "140: Connected health=1");
}

#[test]
fn a_connection_that_does_not_finish_the_handshake_in_time_is_closed() {
    let (_d, s) = server(&["--auth-timeout", "300ms"]);
    let mut c = LineClient::connect(s.addr);
    let t0 = Instant::now();
    c.expect("110", T);
    c.expect_closed(T);
    assert!(t0.elapsed() >= Duration::from_millis(250), "closed after {:?}", t0.elapsed());
    s.log().wait_for("auth timeout sid=", T);
    // Half a handshake is no better.
    let mut c = LineClient::connect(s.addr);
    c.expect("110", T);
    c.send(&s.password);
    c.expect("120", T);
    c.expect_closed(T);
}

// Five failed logins blocking an ip (and no other): tests/hostile.rs, with a good client beside.

#[test]
fn connections_beyond_max_clients_are_refused_with_a_log_line() {
    let (_d, s) = server(&["--max-clients", "2"]);
    let (_a, _) = client(&s, "a");
    let mut b = LineClient::connect(s.addr);
    b.expect("110", T);
    let mut c = LineClient::connect(s.addr);
    assert_eq!(c.recv(T), None);
    s.log().wait_for("max clients (2) reached", T);
}

#[test]
fn without_a_password_the_server_exits_2_saying_how_to_set_one() {
    let out = Command::new(cliser_testkit::bin("cliser-server"))
        .args(["--listen", "127.0.0.1:0", "--console", "127.0.0.1:0"])
        .env_remove("CLISER_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--password-file") && err.contains("CLISER_PASSWORD"), "{err}");
}

#[test]
fn the_password_can_come_from_the_environment_and_a_config_file_sets_flags() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("server.toml");
    std::fs::write(&conf, "listen = \"127.0.0.1:0\"\nconsole = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\nkeepalive = \"200ms\"\n")
        .unwrap();
    let mut cmd = Command::new(cliser_testkit::bin("cliser-server"));
    cmd.arg("--config").arg(&conf).env("CLISER_PASSWORD", "from-env").current_dir(dir.path());
    let p = cliser_testkit::Proc::spawn(cmd, &dir.path().join("log"));
    let line = p.log.wait_for("listening on ", T);
    let addr = line.rsplit(' ').next().unwrap().parse().unwrap();
    let mut c = LineClient::connect(addr);
    c.login("from-env", "env-pi");
    c.expect("100: keep alive", T);
}
