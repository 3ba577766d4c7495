//! A Pi in clear pointed at the TLS port (issue 23, item 3): both sides say what is wrong. The
//! client waits for a `110` that this port sends only inside TLS, so nothing but silence comes; it
//! says the port may speak TLS and how to reach it, and keeps trying. The server closes it at the
//! auth deadline with the "not TLS" hint the docs tell operators to look for.

use crate::common;
use common::tls::*;
use common::*;
use std::time::Duration;

#[test]
fn a_pi_in_clear_on_the_tls_port_is_told_to_use_tls_and_the_server_says_not_tls() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = gen_tls(&dir.path().join("tls"), "localhost,127.0.0.1");
    // The default auth timeout (10 s), as a real server has.
    let server = tls_server(dir.path(), &fleet, &[]);
    let tls = server.tls.expect("a TLS listener");
    let mut pi = tls_client(dir.path(), &tls.to_string(), "pi-clear", &server.password, &[]);

    // 5 s after connecting, well before the server gives up on it.
    let hint = pi.log.wait_for("that port may speak TLS", T);
    assert!(hint.contains("WARN"), "{hint}");
    assert!(hint.contains(&format!("no 110 from {tls} within 5s")), "{hint}");
    assert!(hint.contains(&format!("--server tls://{tls}")), "{hint}");

    let line = server.log().wait_for("TLS handshake failed from 127.0.0.1:", Duration::from_secs(15));
    assert!(line.contains("nothing received within 10s"), "{line}");
    assert!(line.contains("(not TLS: a client speaking in clear?"), "{line}");

    // It keeps trying (the exit status and the retries are unchanged), and says so again.
    pi.log.wait_for("reconnecting in", T);
    pi.log.wait_count("that port may speak TLS", 2, Duration::from_secs(20));
    assert!(!pi.has_exited(), "the client exited:\n{}", pi.log.text());
    // The plain port knows nothing of it.
    assert_eq!(server.log().count("registered cid=pi-clear"), 0);
    pi.signal(15);
    assert!(pi.wait_exit(T).success());
}
