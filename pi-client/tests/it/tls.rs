//! The real client against the real server over TLS: readings arrive with the fleet CA; a server
//! whose certificate another CA signed, or that is for another name, or whose key is not the pinned
//! one, ends the client with exit status 2 and a message that names the reason.

use crate::common;

use cliser_testkit::{Proc, ServerHandle};
use cliser_tls::gen::write_fleet;
use common::{client_of, dead_addr, DumpLogsOnPanic, PASSWORD, WAIT};
use std::path::Path;
use std::time::{Duration, Instant};

/// A fleet CA and a server certificate for `names` in `dir/name`; returns (ca, cert, key, pin).
fn fleet(dir: &Path, name: &str, names: &[&str]) -> (String, String, String, String) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let w = write_fleet(&dir.join(name), &names).expect("gen-tls");
    let s = |p: &Path| p.display().to_string();
    (s(&w.ca_cert), s(&w.server_cert), s(&w.server_key), w.pin.to_string())
}

/// A server with `--listen-tls` and the given certificate; polls fast.
fn server(dir: &Path, cert: &str, key: &str) -> ServerHandle {
    let flags = ["--listen-tls", "127.0.0.1:0", "--tls-cert", cert, "--tls-key", key, "--keepalive", "300ms"];
    ServerHandle::start_with(dir, PASSWORD, &flags)
}

fn tls_entry(s: &ServerHandle) -> String {
    format!("tls://localhost:{}", s.tls.expect("listening for TLS").port())
}

/// Waits for the client to exit on its own; its status code.
fn exit_code(c: &mut Proc) -> Option<i32> {
    c.wait_exit(WAIT).code()
}

#[test]
fn with_the_fleet_ca_readings_arrive_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (ca, cert, key, pin) = fleet(dir.path(), "tls", &["localhost", "127.0.0.1"]);
    let s = server(dir.path(), &cert, &key);
    // The pin is checked too, and a dead first server in the list is passed over.
    let servers = format!("tls://127.0.0.1:{},{}", dead_addr().port(), tls_entry(&s));
    let mut c = client_of(
        dir.path(),
        &servers,
        &["--id", "pi-tls", "--sensor", "sim", "--interval", "200ms", "--tls-ca", &ca, "--tls-pin", &pin],
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.stored_seqs("pi-tls").len() < 3 {
        assert!(Instant::now() < deadline, "no readings over TLS");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(s.log().text().contains("TLS connection from"));
    assert!(s.log().text().contains("registered cid=pi-tls"));
    c.signal(libc::SIGTERM);
    assert_eq!(exit_code(&mut c), Some(0));
    assert!(s.stored_seqs("pi-tls").values().all(|&n| n == 1), "each reading once");
}

#[test]
fn a_server_certificate_of_another_ca_exits_2_naming_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (_, cert, key, _) = fleet(dir.path(), "theirs", &["localhost"]);
    let (ours, ..) = fleet(dir.path(), "ours", &["localhost"]);
    let s = server(dir.path(), &cert, &key);
    let mut c =
        client_of(dir.path(), &tls_entry(&s), &["--id", "pi-ca", "--sensor", "sim", "--tls-ca", &ours]);
    assert_eq!(exit_code(&mut c), Some(2), "a wrong CA does not fix itself by retrying");
    let said = c.log.lines_with("ERROR").join("\n");
    assert!(said.contains("not signed by a trusted CA"), "{said}");
    assert!(said.contains(&format!("--tls-ca {ours}")), "{said}");
    assert_eq!(c.log.count("reconnecting"), 0, "no retry");
    s.log().wait_for("TLS handshake failed from 127.0.0.1", WAIT);
    assert!(s.stored_seqs("pi-ca").is_empty());
}

#[test]
fn a_server_certificate_for_another_name_exits_2_naming_both_names() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (ca, cert, key, _) = fleet(dir.path(), "tls", &["cliser.example"]);
    let s = server(dir.path(), &cert, &key);
    let mut c =
        client_of(dir.path(), &tls_entry(&s), &["--id", "pi-name", "--sensor", "sim", "--tls-ca", &ca]);
    assert_eq!(exit_code(&mut c), Some(2));
    let said = c.log.lines_with("ERROR").join("\n");
    assert!(said.contains("for another name: localhost is not among its names"), "{said}");
    assert!(said.contains("cliser.example"), "{said}");
}

#[test]
fn a_server_key_that_is_not_the_pinned_one_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (ca, cert, key, pin) = fleet(dir.path(), "tls", &["localhost"]);
    // The same CA signs a new server key (in another dir): the CA trusts both, the pin one only.
    std::fs::create_dir(dir.path().join("next")).unwrap();
    for f in ["ca.pem", "ca-key.pem"] {
        std::fs::copy(dir.path().join("tls").join(f), dir.path().join("next").join(f)).unwrap();
    }
    let (_, _, _, new_pin) = fleet(dir.path(), "next", &["localhost"]);
    assert_ne!(pin, new_pin);
    let s = server(dir.path(), &cert, &key);
    let mut c = client_of(
        dir.path(),
        &tls_entry(&s),
        &["--id", "pi-pin", "--sensor", "sim", "--tls-ca", &ca, "--tls-pin", &new_pin],
    );
    assert_eq!(exit_code(&mut c), Some(2));
    let said = c.log.lines_with("ERROR").join("\n");
    assert!(
        said.contains(&format!("pin mismatch: the server's public key is {pin}, not the pinned {new_pin}")),
        "{said}"
    );
}
