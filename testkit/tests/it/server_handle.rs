//! `ServerHandle` against the real server: the addresses come from its ready file, a restart keeps the
//! client address, and a server that cannot start fails the test at once with its own words.

use cliser_testkit::{LineClient, ServerHandle};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(10);

#[test]
fn the_ready_files_addresses_answer_and_a_restart_keeps_the_client_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = ServerHandle::start(dir.path(), &[]);
    assert_eq!(LineClient::connect(s.addr).recv(T).as_deref(), Some("110: qual a senha"));
    LineClient::connect(s.console).recv_until("#> ", T);
    assert!(!s.args().iter().any(|a| a == "--ready-file"), "{:?}", s.args());

    let (addr, pid) = (s.addr, s.proc.pid());
    s.restart();
    assert_eq!(s.addr, addr);
    assert_ne!(s.proc.pid(), pid);
    let mut c = LineClient::connect(s.addr);
    c.expect("110", T);
    c.send(&s.password.clone());
    c.expect("120", T);
}

#[test]
fn a_server_that_cannot_start_fails_at_once_with_the_end_of_its_log() {
    let dir = tempfile::tempdir().unwrap();
    cliser_testkit::bin("cliser-server");
    let start = Instant::now();
    let panic = std::panic::catch_unwind(|| ServerHandle::start(dir.path(), &["--keepalive", "forever"]))
        .expect_err("the server refuses --keepalive forever");
    assert!(start.elapsed() < Duration::from_secs(15), "not at once: {:?}", start.elapsed());
    let msg = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("cliser-server exited before it was ready"), "{msg}");
    assert!(msg.contains("forever"), "the server's own message: {msg}");
}
