//! The admin console's limits, as the page has them: at most 16 sessions at once (the next one gets
//! a one-line refusal and is closed), the password (and the TLS handshake before it) within
//! `--auth-timeout`, a line within 10 s of its first byte, and wrong admin passwords counted in the
//! one brake, so an address that guesses on the console is blocked on the page and the client port
//! too.

use crate::common;
use cliser_testkit::wait_until;
use common::http::{basic, connect_from, get_as, Conn};
use common::tls::{gen_tls, threads, tls_server};
use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// The console's session cap (`console::MAX_SESSIONS`).
const CAP: usize = 16;

/// A server with an admin password (returned) and `extra` flags.
fn server_with_admin_password(dir: &Path, extra: &[&str]) -> (ServerHandle, String) {
    let admin = cliser_testkit::free_password();
    let file = dir.join("admin-password");
    std::fs::write(&file, format!("{admin}\n")).unwrap();
    let mut args = vec!["--admin-password-file", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    (ServerHandle::start(dir, &args), admin)
}

/// The console threads of the server (one per open session).
fn console_threads(s: &ServerHandle) -> usize {
    threads(s.proc.pid()).iter().filter(|t| *t == "console").count()
}

#[test]
fn silent_console_connections_are_closed_at_the_auth_deadline_and_their_threads_end() {
    let dir = tempfile::tempdir().unwrap();
    let _logs = DumpLogsOnPanic(dir.path());
    let (s, _admin) = server_with_admin_password(dir.path(), &["--auth-timeout", "2s"]);
    let pid = s.proc.pid();
    // The ready file is written before every thread runs: a console that answers means they all do.
    LineClient::connect(s.console).recv_until("password: ", T);
    wait_until(T, "that console session to end", || (console_threads(&s) == 0).then_some(()));
    let before = threads(pid).len();
    let opened = Instant::now();
    let silent: Vec<TcpStream> = (0..200).map(|_| TcpStream::connect(s.console).unwrap()).collect();
    // Each is answered at once: the password prompt, or (past the cap) a busy line.
    let firsts: Vec<u8> = silent
        .iter()
        .map(|c| {
            c.set_read_timeout(Some(T)).unwrap();
            let mut first = [0u8; 1];
            assert_eq!((&*c).read(&mut first).unwrap(), 1, "no answer at all");
            first[0]
        })
        .collect();
    let peak = console_threads(&s);
    eprintln!("{before} threads before, {peak} console threads with 200 silent connections open");
    assert!(peak <= CAP, "{peak} console threads: more than the cap of {CAP}");
    // Every one is closed: those past the cap at once, those let in at the auth deadline (2 s).
    let mut refused = 0;
    for (mut c, first) in silent.into_iter().zip(firsts) {
        let left = (Duration::from_secs(2) + T).saturating_sub(opened.elapsed());
        c.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
        let mut said = vec![first];
        match c.read_to_end(&mut said) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!(
                "a silent console connection still open {:?} after it was opened: {e}",
                opened.elapsed()
            ),
        }
        refused += usize::from(String::from_utf8_lossy(&said).starts_with("busy: "));
    }
    eprintln!("all 200 closed after {:?}; {refused} refused as busy", opened.elapsed());
    assert!(refused >= 200 - 2 * CAP, "only {refused} of 200 refused past the cap");
    s.log().wait_for("console: closing 127.0.0.1:", T);
    s.log().wait_for(": no password within 2s", T);
    let after = wait_until(T, "the thread count back to where it was", || {
        let n = threads(pid).len();
        (n <= before).then_some(n)
    });
    assert_eq!(console_threads(&s), 0);
    eprintln!("{after} threads after (before: {before})");
}

#[test]
fn beyond_the_cap_a_console_connection_gets_one_line_and_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let _logs = DumpLogsOnPanic(dir.path());
    let (s, admin) = server_with_admin_password(dir.path(), &[]);
    let mut held: Vec<LineClient> = (0..CAP)
        .map(|_| {
            let mut c = LineClient::connect(s.console);
            c.recv_until("password: ", T);
            c
        })
        .collect();
    let asked = Instant::now();
    let mut extra = LineClient::connect(s.console);
    let line = extra.recv(T);
    assert_eq!(
        line.as_deref(),
        Some("busy: 16 admin sessions open, the most at once; try again later"),
        "the connection past the cap"
    );
    extra.expect_closed(T);
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(2), "refused after {took:?}");
    s.log().wait_for("console: refusing 127.0.0.1:", T);
    // A session that ends gives its place back.
    drop(held.pop());
    wait_until(T, "a console connection let in again", || {
        let mut c = LineClient::connect(s.console);
        // "busy: ..." while the place is not yet given back; "password: " once it is.
        (c.recv_until(": ", T) == "password").then_some(())
    });
    // Those held were never hurt: one logs in.
    let first = &mut held[0];
    first.send(&admin);
    first.recv_until("#> ", T);
    assert_eq!(ask(first, "L"), "No clients connected");
}

/// A wrong admin password on the console from `src`: the prompt, the guess, `wrong password`, closed.
fn wrong_console_password_from(src: [u8; 4], s: &ServerHandle) {
    let mut c = LineClient::from_stream(connect_from(src, s.console));
    c.recv_until("password: ", T);
    c.send("guess");
    assert_eq!(c.recv(T).as_deref(), Some("wrong password"));
    c.expect_closed(T);
}

fn auth_failures(s: &ServerHandle, admin: &str) -> f64 {
    let text = get_as(s.http.unwrap(), "/metrics", Some(admin)).text();
    text.lines().find_map(|l| l.strip_prefix("cliser_auth_failures_total ")?.parse().ok()).unwrap()
}

#[test]
fn wrong_console_passwords_block_the_address_on_the_console_the_page_and_the_client_port() {
    let dir = tempfile::tempdir().unwrap();
    let _logs = DumpLogsOnPanic(dir.path());
    let (s, admin) = server_with_admin_password(dir.path(), &["--auth-exempt", "none"]);
    let attacker = [127, 0, 0, 2];
    for _ in 0..5 {
        wrong_console_password_from(attacker, &s);
    }
    s.log().wait_for("blocking 127.0.0.2 for 60 s: 5 failed logins within 60 s", T);
    s.log().wait_count("console: wrong admin password from 127.0.0.2", 5, T);
    // The sixth try: refused before the prompt, with a line that says why.
    let mut sixth = LineClient::from_stream(connect_from(attacker, s.console));
    assert_eq!(
        sixth.recv(T).as_deref(),
        Some("refused: too many failed logins from this address; try again later")
    );
    sixth.expect_closed(T);
    // The page, even with the right password.
    let mut page = Conn::from_stream(connect_from(attacker, s.http.unwrap()));
    let auth = basic(&admin);
    page.send(
        format!("GET / HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(page.reply(false).unwrap().status, 429, "blocked on the page");
    // The client port: closed before 110.
    let mut pi = LineClient::from_stream(connect_from(attacker, s.addr));
    assert!(!pi.recv(T).is_some_and(|l| l.starts_with("110")), "blocked on the client port");
    // Nobody else: another address logs in on the console.
    let mut other = LineClient::from_stream(connect_from([127, 0, 0, 3], s.console));
    other.recv_until("password: ", T);
    other.send(&admin);
    other.recv_until("#> ", T);
    assert_eq!(ask(&mut other, "L"), "No clients connected");
    // Counted with the page's and the client port's failures.
    wait_until(T, "5 failures in the metrics", || (auth_failures(&s, &admin) == 5.0).then_some(()));
}

#[test]
fn a_console_line_that_never_ends_is_closed_at_the_line_deadline() {
    let (d, s) = server(&[]);
    let _logs = DumpLogsOnPanic(d.path());
    let mut a = admin(&s);
    assert_eq!(ask(&mut a, "L"), "No clients connected");
    a.send_raw(b"L");
    let sent = Instant::now();
    a.expect_closed(Duration::from_secs(10) + T);
    let took = sent.elapsed();
    eprintln!("a line begun and never ended: closed after {took:?}");
    assert!(took >= Duration::from_millis(9500), "closed after {took:?}, before the 10 s line deadline");
    s.log().wait_for("console: closing 127.0.0.1:", T);
    s.log().wait_for(": a line not finished within 10s", T);
}

/// The console beyond loopback speaks TLS: a peer that starts a handshake and trickles it (a byte
/// every 300 ms, each read well within any per-read timeout) is closed at the auth deadline.
#[test]
fn a_console_tls_handshake_that_trickles_is_closed_at_the_auth_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let _logs = DumpLogsOnPanic(dir.path());
    let fleet = gen_tls(&dir.path().join("tls"), "localhost");
    let admin_file = dir.path().join("admin-password");
    std::fs::write(&admin_file, cliser_testkit::free_password()).unwrap();
    let args = [
        "--admin-password-file",
        admin_file.to_str().unwrap(),
        "--console",
        "0.0.0.0:0",
        "--auth-timeout",
        "2s",
    ];
    let s = tls_server(dir.path(), &fleet, &args);
    let mut c = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], s.console.port()))).unwrap();
    let opened = Instant::now();
    // A TLS record header announcing a 512-byte handshake message, then its body a byte at a time.
    c.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00]).unwrap();
    let closed = loop {
        assert!(
            opened.elapsed() < Duration::from_secs(2) + T,
            "the handshake still held after {:?}",
            opened.elapsed()
        );
        std::thread::sleep(Duration::from_millis(300)); // the trickle's pace, not a synchronisation
        if c.write_all(&[0x01]).is_err() {
            break opened.elapsed();
        }
        c.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
        let mut b = [0u8; 64];
        match c.read(&mut b) {
            Ok(0) => break opened.elapsed(),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break opened.elapsed(),
            _ => {}
        }
    };
    eprintln!("a trickled TLS handshake on the console: closed after {closed:?}");
    assert!(closed >= Duration::from_millis(1900), "closed after {closed:?}, before the deadline");
    s.log().wait_for(": its TLS handshake was not finished within 2s", T);
}
