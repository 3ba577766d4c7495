//! A start that fails leaves nothing behind: no `cliser-data/cliser.db` in the working dir, where
//! the next start (from another directory, or with `--data-dir`) would never look again.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The real server in `cwd` with the default data dir (`./cliser-data`), nothing else in force.
fn server_in(cwd: &Path, args: &[&str]) -> Output {
    std::fs::write(cwd.join("pw"), "client-secret\n").unwrap();
    Command::new(cliser_testkit::bin("cliser-server"))
        .args(["--password-file", "pw", "--console", "127.0.0.1:0"])
        .args(args)
        .current_dir(cwd)
        .env_remove("STATE_DIRECTORY")
        .env_remove("CLISER_ADMIN_PASSWORD")
        .env_remove("CLISER_PASSWORD")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs with `args` in a fresh dir: the exit status, a word of the message, and no data dir.
fn fails_leaving_nothing(args: &[&str], code: i32, says: &str) {
    let cwd = tempfile::tempdir().unwrap();
    let out = server_in(cwd.path(), args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(stderr.contains(says), "{args:?} should say {says:?}: {stderr}");
    let left: Vec<_> = std::fs::read_dir(cwd.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!cwd.path().join("cliser-data").exists(), "{args:?} left {left:?} behind");
}

#[test]
fn a_client_port_in_use_exits_1_and_creates_no_store() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    fails_leaving_nothing(&["--listen", &addr, "--http", "off"], 1, "cannot listen for clients on");
}

#[test]
fn a_web_port_in_use_exits_1_and_creates_no_store() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    fails_leaving_nothing(&["--listen", "127.0.0.1:0", "--http", &addr], 1, "cannot listen for the web page");
}

#[test]
fn a_tls_port_in_use_exits_1_and_creates_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    let made = Command::new(cliser_testkit::bin("cliser-server"))
        .args(["gen-tls", "--name", "localhost", "--dir"])
        .arg(&tls)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (cert, key) = (tls.join("server.pem"), tls.join("server-key.pem"));
    let args =
        ["--listen-tls", &addr, "--tls-cert", cert.to_str().unwrap(), "--tls-key", key.to_str().unwrap()];
    fails_leaving_nothing(
        &[&args[..], &["--listen", "127.0.0.1:0", "--http", "off"]].concat(),
        1,
        "TLS clients",
    );
}

#[test]
fn a_bad_tls_key_exits_2_and_creates_no_store() {
    let dir = tempfile::tempdir().unwrap();
    let tls = dir.path().join("tls");
    let made = Command::new(cliser_testkit::bin("cliser-server"))
        .args(["gen-tls", "--name", "localhost", "--dir"])
        .arg(&tls)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let key = dir.path().join("broken-key.pem");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n").unwrap();
    let cert = tls.join("server.pem");
    let args = [
        "--listen-tls",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    fails_leaving_nothing(&[&args[..], &["--http", "off"]].concat(), 2, "--tls-key");
}

/// A failure after the store is made (here the ready file's dir is missing) removes what this start
/// created.
#[test]
fn a_ready_file_that_cannot_be_written_exits_1_and_leaves_no_store() {
    fails_leaving_nothing(
        &["--listen", "127.0.0.1:0", "--http", "off", "--ready-file", "no-such-dir/ready.json"],
        1,
        "cannot write the ready file",
    );
}

/// A data dir that was there before a failed start stays, with what was in it; only the store file
/// this start made goes.
#[test]
fn a_failed_start_keeps_a_data_dir_it_did_not_make() {
    let cwd = tempfile::tempdir().unwrap();
    let data = cwd.path().join("cliser-data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("notes.txt"), "mine\n").unwrap();
    let out =
        server_in(cwd.path(), &["--listen", "127.0.0.1:0", "--http", "off", "--ready-file", "no-such-dir/r"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let mut left: Vec<_> =
        std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    left.sort();
    assert_eq!(left, ["notes.txt"], "only what was there before");
}
