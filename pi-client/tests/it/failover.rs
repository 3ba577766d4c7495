//! Several servers in `--server` (or the config file's `server`): the client tries them in order,
//! moves on at once when one is down or dies, and says which one it uses.

use crate::common;

use cliser_testkit::Proc;
use common::{client_of, dead_addr, DumpLogsOnPanic, FakeConn, FakeServer, WAIT};
use std::process::Command;
use std::time::{Duration, Instant};

/// Polls (without ack) until an answer has no `more`; returns every seq received.
fn drain(conn: &mut FakeConn) -> Vec<u64> {
    let mut all = Vec::new();
    loop {
        let (seqs, more) = conn.poll(None);
        all.extend(seqs);
        if !more {
            return all;
        }
    }
}

fn stop(mut c: Proc) {
    c.signal(libc::SIGTERM);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0), "SIGTERM exits 0");
}

#[test]
fn a_refused_first_server_moves_on_to_the_second_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let dead = dead_addr();
    let b = FakeServer::new();
    let c = client_of(dir.path(), &format!("{dead},{}", b.addr), &["--id", "pi-1"]);
    let mut conn = b.accept();
    conn.handshake(Some(0));
    c.log.wait_for(&format!("registered with {} as pi-1", b.addr), WAIT);
    let moved = c.log.lines_with("; trying ");
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert!(moved[0].contains(&format!("server {dead} failed (cannot connect to {dead}: ")), "{moved:?}");
    assert!(moved[0].ends_with(&format!("); trying {}", b.addr)), "{moved:?}");
    assert!(!c.log.text().contains("reconnecting in"), "no backoff before the second server");
    assert!(c.log.text().contains(&format!("server {dead},{}", b.addr)), "the start line names both");
    stop(c);
}

#[test]
fn a_registered_client_fails_over_when_its_server_dies_and_resends_above_the_new_ack() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (a, b) = (FakeServer::new(), FakeServer::new());
    let a_addr = a.addr;
    let c = client_of(
        dir.path(),
        &format!("{a_addr},{}", b.addr),
        &["--id", "kitchen", "--sensor", "sim", "--interval", "100ms"],
    );
    let mut conn = a.accept();
    cliser_testkit::wait_until(WAIT, "readings queued", || {
        c.log.lines_with("reading sensor=").into_iter().nth(5)
    });
    conn.handshake(None);
    c.log.wait_for(&format!("registered with {a_addr} as kitchen"), WAIT);
    // A keep-alive answered: the connection to A was healthy.
    let to_a = drain(&mut conn);
    assert!(to_a.len() >= 6, "{to_a:?}");
    assert!(!conn.poll(Some(2)).1);

    // A dies: it stops accepting first, so the client's retry of A is refused, then the connection ends.
    drop(a);
    let died = Instant::now();
    drop(conn);
    let mut conn = b.try_accept(WAIT).expect("the client to fail over to B");
    let took = died.elapsed();
    // B (sharing A's database) has everything up to seq 4.
    conn.handshake(Some(4));
    c.log.wait_for(&format!("registered with {} as kitchen", b.addr), WAIT);
    let to_b = drain(&mut conn);
    assert_eq!(to_b.first(), Some(&5), "{to_b:?}");
    assert!(to_b.windows(2).all(|w| w[1] == w[0] + 1), "in order, nothing twice: {to_b:?}");
    assert!(to_b.last() >= to_a.last(), "everything A had is resent: {to_a:?} then {to_b:?}");
    assert!(took < Duration::from_secs(3), "failover took {took:?}");

    let moved = c.log.lines_with(&format!("; trying {}", b.addr));
    assert_eq!(moved.len(), 1, "the failover is logged once: {moved:?}");
    assert!(moved[0].contains(&format!("server {a_addr} failed (cannot connect to {a_addr}: ")), "{moved:?}");
    stop(c);
}

#[test]
fn when_every_server_fails_the_client_backs_off_and_starts_over() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (a, b) = (dead_addr(), dead_addr());
    let c = client_of(dir.path(), &format!("{a},{b}"), &["--id", "pi-1"]);
    let line = cliser_testkit::wait_until(WAIT, "a whole round to fail", || {
        c.log.lines_with("every server failed").into_iter().next()
    });
    assert!(line.contains(&format!("server {b} failed (cannot connect to {b}: ")), "{line}");
    assert!(line.contains(&format!("; every server failed, trying {a} in ")), "{line}");
    assert!(line.ends_with("(attempt 1)"), "{line}");
    let first = c.log.lines_with("; trying ");
    assert!(first[0].contains(&format!("server {a} failed")) && first[0].ends_with(&format!("trying {b}")));
    stop(c);
}

#[test]
fn the_config_file_may_list_the_servers_as_an_array() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let dead = dead_addr();
    let b = FakeServer::new();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "file-password\n").unwrap();
    let cfg = dir.path().join("client.toml");
    let text = format!(
        "server = [\"{dead}\", \"{}\"]\nid = \"pi-toml\"\npassword-file = {:?}\nstate-dir = {:?}\n",
        b.addr,
        pw.display().to_string(),
        dir.path().join("state").display().to_string()
    );
    std::fs::write(&cfg, text).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cliser-pi-client"));
    cmd.arg("--config").arg(&cfg).env_remove("CLISER_PASSWORD").env("RUST_LOG", "debug");
    let c = Proc::spawn(cmd, &dir.path().join("client.log"));
    let mut conn = b.accept();
    assert_eq!(conn.handshake(None), ("file-password".to_owned(), "pi-toml".to_owned()));
    c.log.wait_for(&format!("registered with {} as pi-toml", b.addr), WAIT);
    stop(c);
}

fn refused(args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cliser-pi-client"))
        .args(args)
        .args(["--id", "pi-1", "--state-dir"])
        .arg(dir.path())
        .env("CLISER_PASSWORD", "pw")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{err}");
    err
}

#[test]
fn a_bad_entry_in_the_list_is_refused_with_status_2_and_named() {
    let good = dead_addr();
    let err = refused(&["--server", &format!("{good},nohost")]);
    let want = format!("--server \"nohost\": expected HOST:PORT (entry 2 of \"{good},nohost\")");
    assert!(err.contains(&want), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("client.toml");
    std::fs::write(&cfg, format!("server = [\"{good}\", \"h:http\"]\n")).unwrap();
    let err = refused(&["--config", cfg.to_str().unwrap()]);
    assert!(err.contains("config key server \"h:http\": expected HOST:PORT, the port is not"), "{err}");
}

#[test]
fn id_in_use_121_moves_on_to_the_next_server() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (a, b) = (FakeServer::new(), FakeServer::new());
    let c = client_of(dir.path(), &format!("{},{}", a.addr, b.addr), &["--id", "pi-1"]);
    let mut conn = a.accept();
    conn.send("110: qual a senha");
    conn.recv();
    conn.send("120: qual o ID");
    conn.recv();
    conn.send("121: ID em uso");
    let mut other = b.accept();
    other.handshake(Some(0));
    c.log.wait_for(&format!("registered with {} as pi-1", b.addr), WAIT);
    let moved = c.log.lines_with("; trying ");
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert!(
        moved[0].contains(&format!(
            "server {} failed (the server says id pi-1 is in use (121)); trying {}",
            a.addr, b.addr
        )),
        "{moved:?}"
    );
    stop(c);
}

#[test]
fn disconnect_999_exits_without_trying_the_other_server() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (a, b) = (FakeServer::new(), FakeServer::new());
    let mut c = client_of(dir.path(), &format!("{},{}", a.addr, b.addr), &["--id", "pi-1"]);
    let mut conn = a.accept();
    conn.handshake(None);
    conn.send("999: shutdown");
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
    assert!(b.try_accept(Duration::from_millis(500)).is_none(), "no failover after 999");
    assert!(a.try_accept(Duration::from_millis(0)).is_none(), "no reconnect after 999");
}
