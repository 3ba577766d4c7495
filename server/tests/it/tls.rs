//! `--listen-tls`: the same protocol inside TLS, seen from outside (openssl s_client, the real Pi
//! client) and attacked with plain text.

use crate::common;
use common::tls::*;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Takes lines from `rx` into `seen` until one contains `want`.
fn until(rx: &mpsc::Receiver<String>, seen: &mut Vec<String>, want: &str) {
    let deadline = Instant::now() + T;
    while !seen.iter().any(|l| l.contains(want)) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(line) => seen.push(line),
            Err(_) => panic!("no {want:?} from s_client; it printed:\n{}", seen.join("\n")),
        }
    }
}

#[test]
fn openssl_s_client_negotiates_tls_1_3_and_reads_the_password_request_inside() {
    let Some(openssl) = cliser_testkit::find_part("openssl", &["openssl"]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let fleet = gen_tls(&dir.path().join("tls"), "localhost,127.0.0.1");
    let server = tls_server(dir.path(), &fleet, &[]);
    let tls = server.tls.expect("the ready file names listen_tls");
    assert_ne!(tls, server.addr, "both listeners are on");
    assert!(server.log().text().contains(&format!("listening for TLS on {tls}")));

    let mut child = Command::new(openssl)
        .args(["s_client", "-connect", &tls.to_string(), "-servername", "localhost", "-tls1_3"])
        .arg("-CAfile")
        .arg(&fleet.ca)
        .args(["-verify_return_error", "-ign_eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl s_client");
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    until(&rx, &mut seen, "110: qual a senha");
    let text = seen.join("\n");
    assert!(text.contains("TLSv1.3"), "not TLS 1.3:\n{text}");
    assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    // The rest of the handshake inside the same session.
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", server.password).unwrap();
    until(&rx, &mut seen, "120: qual o ID");
    writeln!(stdin, "via-openssl").unwrap();
    until(&rx, &mut seen, "140: Connected health=1");
    server.log().wait_for("registered cid=via-openssl", T);
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn plain_text_to_the_tls_port_is_closed_and_logged_and_leaves_no_thread_behind() {
    const CONNECTIONS: usize = 2_000;
    const AT_ONCE: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let fleet = gen_tls(&dir.path().join("tls"), "localhost");
    let server = tls_server(dir.path(), &fleet, &["--listen", "off", "--keepalive", "300ms"]);
    let tls = server.tls.unwrap();
    assert_eq!(server.addr, tls, "with --listen off the TLS listener is the client address");
    let pid = server.proc.pid();
    // main() starts the signal thread last, after the ready file: from then on the set is whole.
    let baseline = cliser_testkit::wait_until(T, "the server's signal thread", || {
        let names = threads(pid);
        names.iter().any(|n| n == "signals").then_some(names)
    });
    let rss_before = cliser_testkit::ProcStats::read(pid).unwrap().rss_kib;

    let workers: Vec<_> = (0..AT_ONCE)
        .map(|_| {
            std::thread::spawn(move || {
                for _ in 0..CONNECTIONS / AT_ONCE {
                    let mut s = TcpStream::connect(tls).expect("connect");
                    s.write_all(b"110 hello, is this the password line?\n").expect("send");
                    // Whatever the server answers (an alert), the connection must end.
                    wait_closed(s, T);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a worker failed");
    }
    let failed =
        server.log().wait_count("TLS handshake failed from 127.0.0.1:", CONNECTIONS, Duration::from_secs(60));
    assert!(failed[0].contains("not TLS"), "{}", failed[0]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = threads(pid);
        if now.len() <= baseline.len() {
            assert_eq!(now.len(), baseline.len(), "threads now {now:?}, before {baseline:?}");
            break;
        }
        assert!(Instant::now() < deadline, "threads left behind: now {now:?}, before {baseline:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A session that stayed would keep its rustls buffers (tens of KiB each): 2,000 of them would
    // show. What the allocator keeps for its per-thread arenas is a few MiB at most.
    let rss_after = cliser_testkit::ProcStats::read(pid).unwrap().rss_kib;
    assert!(rss_after < rss_before + 16 * 1024, "RSS grew from {rss_before} KiB to {rss_after} KiB");
    // And it still serves TLS.
    let mut c = tls_client(
        dir.path(),
        &format!("tls://localhost:{}", tls.port()),
        "after-flood",
        &server.password,
        &["--tls-ca", fleet.ca.to_str().unwrap()],
    );
    let deadline = Instant::now() + T;
    while server.stored_seqs("after-flood").is_empty() {
        assert!(Instant::now() < deadline, "no reading after the flood; the client said:\n{}", c.log.text());
        std::thread::sleep(Duration::from_millis(20));
    }
    c.signal(15);
    assert!(c.wait_exit(T).success());
}

/// A peer that connects to the TLS port and never finishes its handshake is closed at the auth
/// deadline like any slow client, and the log says it was still in its TLS handshake (or, when it
/// sent nothing at all, that it may be a client in clear); a TLS client that finished its handshake
/// but sends no password gets the ordinary line.
#[test]
fn a_tls_handshake_never_finished_is_logged_as_such_at_the_auth_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = gen_tls(&dir.path().join("tls"), "localhost");
    let server = tls_server(dir.path(), &fleet, &["--listen", "off", "--auth-timeout", "500ms"]);
    let tls = server.tls.unwrap();

    // Half a ClientHello: the header of a handshake record of 80 bytes, and nothing of them.
    let mut slow = TcpStream::connect(tls).unwrap();
    let me = slow.local_addr().unwrap();
    slow.write_all(&[0x16, 0x03, 0x01, 0x00, 0x50]).unwrap();
    wait_closed(slow, T);
    let line = server.log().wait_for("its TLS handshake was not finished within 500ms", T);
    assert!(line.contains(&format!("from {me}")), "{line}");

    // Silent: not even a ClientHello, as a cliser client in clear waiting for its 110.
    let silent = TcpStream::connect(tls).unwrap();
    let me = silent.local_addr().unwrap();
    wait_closed(silent, T);
    let line =
        server.log().wait_for(&format!("TLS handshake failed from {me}: nothing received within 500ms"), T);
    assert!(line.contains("(not TLS: a client speaking in clear?"), "{line}");

    // openssl s_client finishes the handshake, reads 110 inside, and says nothing more.
    let Some(openssl) = cliser_testkit::find_part("openssl", &["openssl"]) else { return };
    let mut child = Command::new(openssl)
        .args(["s_client", "-connect", &tls.to_string(), "-servername", "localhost", "-quiet"])
        .arg("-CAfile")
        .arg(&fleet.ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start openssl s_client");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.starts_with("110"), "{first:?}");
    let line = server.log().wait_for("no password and id within 500ms", T);
    assert!(!line.contains("TLS handshake"), "{line}");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(server.log().count("its TLS handshake was not finished"), 1);
}
