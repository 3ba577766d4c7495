//! The server's start and stop paths (issue 24, item 5): the ready file says "ready" only while
//! the server is, a stop ends even with every descriptor in use, and a log nobody reads does not
//! stall the acks.

use crate::common;
use common::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The server's command line on loopback port 0 in `dir`, with a ready file at `dir/ready.json`.
fn server_command(dir: &Path, extra: &[&str]) -> Command {
    let pw = dir.join("pw");
    std::fs::write(&pw, format!("{}\n", cliser_testkit::free_password())).unwrap();
    let mut cmd = Command::new(cliser_testkit::bin("cliser-server"));
    cmd.args(["--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--http", "127.0.0.1:0"])
        .arg("--password-file")
        .arg(&pw)
        .arg("--ready-file")
        .arg(dir.join("ready.json"))
        .args(extra)
        .current_dir(dir)
        .env("RUST_LOG", "info");
    if !extra.contains(&"--store") {
        cmd.arg("--data-dir").arg(dir.join("data"));
    }
    cmd
}

/// The ready file's document, once it is there.
fn ready(dir: &Path) -> serde_json::Value {
    let path = dir.join("ready.json");
    let text = cliser_testkit::wait_until(Duration::from_secs(20), "the ready file", || {
        std::fs::read_to_string(&path).ok()
    });
    serde_json::from_str(&text).expect("JSON")
}

fn addr(doc: &serde_json::Value, key: &str) -> std::net::SocketAddr {
    doc[key].as_str().unwrap_or_else(|| panic!("{key} in {doc}")).parse().unwrap()
}

#[test]
fn the_ready_file_is_removed_when_the_server_stops() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Proc::spawn(server_command(dir.path(), &[]), &dir.path().join("server.log"));
    ready(dir.path());
    server.signal(libc::SIGTERM);
    assert!(server.wait_exit(T).success(), "{}", server.log.text());
    assert!(!dir.path().join("ready.json").exists(), "the ready file outlived the server");
}

#[test]
fn a_start_that_fails_late_leaves_no_ready_file() {
    // PostgreSQL with room for three connections: the sink's, the registrations' and the web
    // page's fit, the alerts thread's (opened later in the start) does not.
    let Some(pg) = cliser_testkit::PgCluster::start_with(cliser_testkit::PgOptions {
        settings: vec!["max_connections = 3".into(), "superuser_reserved_connections = 0".into()],
        ..Default::default()
    }) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url();
    let mut server =
        Proc::spawn(server_command(dir.path(), &["--store", &url]), &dir.path().join("server.log"));
    let status = server.wait_exit(Duration::from_secs(30));
    let log = server.log.text();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("too many clients"), "the start failed where the test means it to: {log}");
    assert!(!dir.path().join("ready.json").exists(), "a failed start left a ready file: {log}");
}

/// Sets the descriptor limit (soft and hard) of the child about to run.
fn limit_descriptors(cmd: &mut Command, n: u64) {
    // SAFETY: setrlimit is async-signal-safe and touches only the child's limits.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit { rlim_cur: n, rlim_max: n };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

#[test]
fn sigterm_ends_a_server_that_has_run_out_of_descriptors() {
    const LIMIT: u64 = 96;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = server_command(dir.path(), &[]);
    limit_descriptors(&mut cmd, LIMIT);
    let mut server = Proc::spawn(cmd, &dir.path().join("server.log"));
    let doc = ready(dir.path());
    let web = addr(&doc, "http");
    // Silent connections to the page until it cannot accept one more for want of a descriptor (it
    // closes them only after its head deadline, 10 s): then no connection of the server's own can
    // start either.
    let mut held = Vec::new();
    cliser_testkit::wait_until(T, "the server out of descriptors", || {
        held.push(std::net::TcpStream::connect(web).unwrap());
        server.log.text().contains("web: accept failed").then_some(())
    });
    let stopping = Instant::now();
    server.signal(libc::SIGTERM);
    let status = server.wait_exit(Duration::from_secs(40));
    let took = stopping.elapsed();
    let log = server.log.text();
    assert!(status.success(), "{status:?}: {log}");
    assert!(took < Duration::from_secs(5), "the stop took {took:?}: {log}");
    drop(held);
}

/// A pipe: (read end, write end).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two descriptors it creates, which are then owned here alone.
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    }
}

/// Bytes waiting in the pipe whose read end is `fd`, and its capacity.
fn pipe_fill(fd: &OwnedFd) -> (usize, usize) {
    let mut queued: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int; F_GETPIPE_SZ only reads the descriptor's pipe.
    let capacity = unsafe {
        libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut queued);
        libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ)
    };
    (queued as usize, capacity as usize)
}

#[test]
fn readings_are_acknowledged_while_nobody_reads_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let (read_end, write_end) = pipe();
    let filler_end = write_end.try_clone().unwrap();
    let mut cmd = server_command(dir.path(), &["--keepalive", "200ms"]);
    let mut server = cmd.stdout(Stdio::null()).stderr(Stdio::from(write_end)).spawn().unwrap();
    let doc = ready(dir.path());
    let mut c = LineClient::connect(addr(&doc, "listen"));
    let password = std::fs::read_to_string(dir.path().join("pw")).unwrap();
    assert_eq!(c.login(password.trim(), "muted"), "140: Connected health=1");
    c.expect("100", T);
    c.send("100 t=1#1");
    assert_eq!(c.expect("100", T), "100: keep alive ack=1", "acked while the log is read");
    // Fill the log's pipe from a thread of the test's: it blocks once full, as the server will.
    std::thread::spawn(move || {
        let mut f = std::fs::File::from(filler_end);
        let filler = vec![b'.'; 1 << 20];
        let _ = std::io::Write::write_all(&mut f, &filler);
    });
    cliser_testkit::wait_until(T, "the log's pipe full", || {
        // Within a page of its capacity: the pipe counts whole pages, the first one not quite full.
        let (queued, capacity) = pipe_fill(&read_end);
        (queued + 4096 > capacity).then_some(())
    });
    c.send("100 t=2#2");
    let acked = cliser_testkit::wait_until(T, "the ack of seq 2", || {
        let l = c.expect("100", T);
        c.send("100");
        (!l.ends_with("ack=1")).then_some(l)
    });
    assert_eq!(acked, "100: keep alive ack=2");
    let url = format!("sqlite:{}", dir.path().join("data").join("cliser.db").display());
    let mut store = cliser_store::open(&url).unwrap();
    let q = cliser_store::ReadingQuery {
        cid: Some(cliser_protocol::ClientId::new("muted").unwrap()),
        ..Default::default()
    };
    let seqs: Vec<Option<u64>> = store.readings(&q).unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [Some(1), Some(2)]);
    let _ = server.kill();
    let _ = server.wait();
    drop(read_end);
}
