//! The client's side of protocol v1, pinned against a fake server: the real client binary on
//! loopback, one fake server per test on port 0.

use crate::common;

use cliser_testkit::wait_until;
use common::{client, FakeServer, PASSWORD, WAIT};
use std::time::Duration;

#[test]
fn answers_110_with_the_password_and_120_with_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    let mut c = client(dir.path(), server.addr, &["--id", "pi-kitchen", "--sensor", "sim"]);
    let mut conn = server.accept();
    assert_eq!(conn.handshake(None), (PASSWORD.to_owned(), "pi-kitchen".to_owned()));
    let (seqs, more) = conn.poll(None);
    assert!(!more && seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    c.signal(libc::SIGTERM);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0), "SIGTERM exits 0");
    assert!(conn.closed(), "the connection is closed on SIGTERM");
}

#[test]
fn wrong_password_111_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    let mut c = client(dir.path(), server.addr, &["--id", "pi-1"]);
    let mut conn = server.accept();
    conn.send("110: qual a senha");
    conn.recv();
    conn.send("111: senha incorreta");
    drop(conn);
    assert_eq!(c.wait_exit(WAIT).code(), Some(2));
    assert!(c.log.text().contains("refused the password"), "{}", c.log.text());
    assert!(server.try_accept(Duration::from_millis(300)).is_none(), "no retry after 111");
}

#[test]
fn invalid_id_122_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    let mut c = client(dir.path(), server.addr, &["--id", "pi-1"]);
    let mut conn = server.accept();
    conn.send("110: qual a senha");
    conn.recv();
    conn.send("120: qual o ID");
    conn.recv();
    conn.send("122: ID invalido");
    drop(conn);
    assert_eq!(c.wait_exit(WAIT).code(), Some(2));
    assert!(c.log.text().contains("refused the id"), "{}", c.log.text());
}

#[test]
fn id_in_use_121_retries_with_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    let mut c = client(dir.path(), server.addr, &["--id", "pi-1"]);
    let mut conn = server.accept();
    conn.send("110: qual a senha");
    conn.recv();
    conn.send("120: qual o ID");
    conn.recv();
    conn.send("121: ID em uso");
    drop(conn);
    let mut again = server.accept();
    again.handshake(Some(0));
    assert!(!c.has_exited());
    c.log.wait_for("in use (121); reconnecting in", WAIT);
    c.signal(libc::SIGINT);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0), "SIGINT exits 0");
}

#[test]
fn disconnect_999_exits_0_and_does_not_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    let mut c = client(dir.path(), server.addr, &["--id", "pi-1"]);
    let mut conn = server.accept();
    conn.handshake(None);
    conn.send("999: shutdown");
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
    assert!(server.try_accept(Duration::from_millis(1500)).is_none(), "no reconnect after 999");
}

#[test]
fn shutdown_130_is_acknowledged_then_runs_the_command() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("shutdown-ran");
    let cmd = format!("echo ok > '{}'", marker.display());
    let server = FakeServer::new();
    let mut c = client(dir.path(), server.addr, &["--id", "pi-1", "--shutdown-command", &cmd]);
    let mut conn = server.accept();
    conn.handshake(None);
    conn.send("130: shutdown sys");
    assert_eq!(conn.recv(), "130");
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "ok\n");
}

#[test]
fn shutdown_130_without_a_command_just_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    let mut c = client(dir.path(), server.addr, &["--id", "pi-1"]);
    let mut conn = server.accept();
    conn.handshake(None);
    conn.send("130: shutdown sys");
    assert_eq!(conn.recv(), "130");
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
    assert!(c.log.text().contains("no --shutdown-command configured"));
}

#[test]
fn a_silent_server_is_dropped_after_the_server_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    let mut c = client(dir.path(), server.addr, &["--id", "pi-1", "--server-timeout", "300ms"]);
    let mut conn = server.accept();
    conn.handshake(None);
    // Nothing more from the server: the client gives up on this connection and makes a new one.
    assert!(conn.closed(), "the client drops the silent connection");
    let mut again = server.accept();
    again.handshake(None);
    assert!(c.log.text().contains("no line from the server for 300ms"));
    c.signal(libc::SIGTERM);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
}

#[test]
fn a_refused_connection_is_retried_until_the_server_is_up() {
    let dir = tempfile::tempdir().unwrap();
    // A port with nobody listening: bound, then released.
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut c = client(dir.path(), addr, &["--id", "pi-1"]);
    c.log.wait_count("reconnecting in", 2, WAIT);
    let listener = std::net::TcpListener::bind(addr).expect("rebind the released port");
    listener.set_nonblocking(true).unwrap();
    let (stream, _) = wait_until(WAIT, "a connection", || listener.accept().ok());
    drop(stream);
    assert!(c.log.text().contains("cannot connect to"), "{}", c.log.text());
    c.signal(libc::SIGTERM);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
}

#[test]
fn a_missing_password_is_a_clear_error_with_status_2() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cliser-pi-client"));
    cmd.args(["--server", "127.0.0.1:9", "--id", "x", "--state-dir"])
        .arg(dir.path())
        .env_remove("CLISER_PASSWORD");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no password: pass --password-file PATH or set CLISER_PASSWORD"), "{err}");
}

#[test]
fn the_password_may_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cliser-pi-client"));
    cmd.arg("--server")
        .arg(server.addr.to_string())
        .args(["--id", "pi-env", "--state-dir"])
        .arg(dir.path())
        .env("CLISER_PASSWORD", "from-the-env");
    let mut c = cliser_testkit::Proc::spawn(cmd, &dir.path().join("client.log"));
    let mut conn = server.accept();
    assert_eq!(conn.handshake(None).0, "from-the-env");
    c.signal(libc::SIGTERM);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
}

#[test]
fn a_config_file_sets_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "file-password\n").unwrap();
    let cfg = dir.path().join("client.toml");
    let state = dir.path().join("state");
    std::fs::write(
        &cfg,
        format!(
            "server = \"{}\"\nid = \"pi-toml\"\npassword-file = \"{}\"\nstate-dir = \"{}\"\nserver-timeout = \"30s\"\n",
            server.addr,
            pw.display(),
            state.display()
        ),
    )
    .unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_cliser-pi-client"));
    cmd.arg("--config").arg(&cfg).args(["--id", "pi-flag"]).env_remove("CLISER_PASSWORD");
    let mut c = cliser_testkit::Proc::spawn(cmd, &dir.path().join("client.log"));
    let mut conn = server.accept();
    assert_eq!(conn.handshake(None), ("file-password".to_owned(), "pi-flag".to_owned()));
    assert!(state.join("backlog.log").exists());
    c.signal(libc::SIGTERM);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
}

#[test]
fn probe_says_when_there_are_no_thermometers_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-w1-here");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cliser-pi-client"))
        .arg("probe")
        .arg("--sensor")
        .arg(format!("w1:{}", missing.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    // The diagnosis says what is wrong and how to fix it, once (not again as an open error).
    assert!(text.contains("the 1-Wire interface is not enabled"), "{text}");
    assert!(!text.contains("cannot open the thermometers"), "{text}");
}

#[test]
fn a_server_timeout_shorter_than_the_poll_interval_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    let c = client(dir.path(), server.addr, &["--id", "pi-1", "--server-timeout", "1s"]);
    let mut conn = server.accept();
    conn.handshake(None);
    // No poll follows: a server whose keep-alive is longer than the client's --server-timeout.
    let line = wait_until(WAIT, "the timeout warning", || {
        c.log.lines_with("raise --server-timeout").into_iter().next()
    });
    assert!(line.contains("no keep-alive came within --server-timeout 1s"), "{line}");
}

#[test]
fn the_state_dir_is_named_at_start_and_its_creation_said() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    let c = client(dir.path(), server.addr, &["--id", "pi-1"]);
    let state = dir.path().join("state");
    let _conn = server.accept();
    let text = c.log.text();
    assert!(text.contains(&format!("state dir {}", state.display())), "{text}");
    assert!(text.contains(&format!("state dir {} does not exist: creating it", state.display())), "{text}");
}

#[test]
fn an_ack_that_drops_readings_never_sent_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    let c = client(dir.path(), server.addr, &["--id", "kitchen", "--sensor", "sim", "--interval", "100ms"]);
    let state = dir.path().join("state");
    // Let a few readings queue up before the server (with another kitchen's high-water mark) answers.
    let mut conn = server.accept();
    wait_until(WAIT, "readings queued", || c.log.lines_with("reading sensor=").into_iter().nth(3));
    conn.handshake(Some(1_000));
    let line = wait_until(WAIT, "the warning", || c.log.lines_with("never sent").into_iter().next());
    assert!(line.contains("WARN") && line.contains("up to seq 1000"), "{line}");
    assert!(line.contains("another client uses id kitchen, or this state dir was reset"), "{line}");
    assert!(state.exists());
}
