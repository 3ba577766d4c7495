//! Every row of the README's exit-status table, against the real binary, and a stderr that cannot be
//! written.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn server(dir: &Path) -> Command {
    let pw = dir.join("pw");
    std::fs::write(&pw, "client-secret\n").unwrap();
    let mut c = Command::new(cliser_testkit::bin("cliser-server"));
    // The store in the test's dir, never the working dir's default ./cliser-data.
    c.arg("--password-file").arg(&pw).arg("--data-dir").arg(dir.join("data")).current_dir(dir);
    // Never the default 8080: tests run side by side.
    c.args(["--http", "127.0.0.1:0"]);
    c.env_remove("CLISER_ADMIN_PASSWORD").env_remove("CLISER_PASSWORD").env_remove("RUST_LOG");
    c.stdin(Stdio::null());
    c
}

fn run(dir: &Path, args: &[&str]) -> Output {
    server(dir).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs with `args` and asserts the exit status and a word of the message.
fn assert_exit(args: &[&str], code: i32, says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), args);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
    assert!(stderr(&o).contains(says), "{args:?} should say {says:?}: {}", stderr(&o));
}

#[test]
fn bad_settings_exit_2() {
    let local = ["--listen", "127.0.0.1:0", "--console", "127.0.0.1:0"];
    let with = |more: &[&'static str]| -> Vec<&'static str> { local.iter().chain(more).copied().collect() };
    assert_exit(&["--listen", "127.0.0.1"], 2, "--listen \"127.0.0.1\": expected HOST:PORT");
    assert_exit(&["--listen", "127.0.0.1:http"], 2, "not a port number");
    assert_exit(&["--listen", "no-such-host.invalid:1111"], 2, "cannot resolve no-such-host.invalid");
    assert_exit(&["--listen", "127.0.0.1:0", "--console", "0.0.0.0:0"], 2, "--admin-password-file");
    assert_exit(&with(&["--dead-after", "0"]), 2, "--dead-after: must be at least 1");
    assert_exit(&with(&["--max-clients", "0"]), 2, "--max-clients: must be at least 1");
    assert_exit(&with(&["--keepalive", "soon"]), 2, "expected e.g. 10s");
}

#[test]
fn the_original_backdoor_flag_and_key_still_set_the_console() {
    // Named as the setting is named now.
    assert_exit(
        &["--listen", "127.0.0.1:0", "--backdoor", "nowhere"],
        2,
        "--console \"nowhere\": expected HOST:PORT",
    );
    assert_exit(&["--listen", "127.0.0.1:0", "--backdoor", "0.0.0.0:0"], 2, "--admin-password-file");
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("server.toml");
    std::fs::write(&conf, "backdoor = \"0.0.0.0:0\"\n").unwrap();
    let o = run(dir.path(), &["--listen", "127.0.0.1:0", "--config", conf.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("the console on 0.0.0.0:0"), "{}", stderr(&o));
}

#[test]
fn a_config_file_value_is_named_as_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("server.toml");
    std::fs::write(&conf, "dead-after = 0\n").unwrap();
    let o = run(
        dir.path(),
        &["--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--config", conf.to_str().unwrap()],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("config key dead-after: must be at least 1"), "{}", stderr(&o));
}

#[test]
fn no_password_and_a_missing_password_file_exit_2_and_say_which_file() {
    let o =
        Command::new(cliser_testkit::bin("cliser-server")).env_remove("CLISER_PASSWORD").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no client password"), "{}", stderr(&o));
    let o = Command::new(cliser_testkit::bin("cliser-server"))
        .args(["--password-file", "/nonexistent/pw"])
        .env_remove("CLISER_PASSWORD")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("cannot read the password file /nonexistent/pw: "), "{}", stderr(&o));
}

#[test]
fn a_port_taken_is_a_runtime_failure_exit_1() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    assert_exit(&["--listen", &addr, "--console", "127.0.0.1:0"], 1, "cannot listen for clients on");
}

#[test]
fn sigint_exits_0_and_says_so_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let log = dir.path().join("log");
    let mut cmd = server(dir.path());
    cmd.args(["--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--ready-file"]).arg(&ready);
    let mut p = cliser_testkit::Proc::spawn(cmd, &log);
    cliser_testkit::wait_until(Duration::from_secs(20), "the ready file", || ready.exists().then_some(()));
    p.signal(libc::SIGINT);
    assert_eq!(p.wait_exit(Duration::from_secs(20)).code(), Some(0));
    assert!(p.log.text().contains("stopping on SIGINT: closing all connections"), "{}", p.log.text());
}

/// The server must start, serve and stop with exit 0 although no log line can be written.
fn runs_and_stops_with_stderr(stderr: Stdio) {
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let mut child = server(dir.path())
        .args(["--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--ready-file"])
        .arg(&ready)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    cliser_testkit::wait_until(Duration::from_secs(20), "the ready file", || ready.exists().then_some(()));
    // A client connecting makes the server log (connection, auth timeout...): still alive after it.
    let text = std::fs::read_to_string(&ready).unwrap();
    let listen = text.split('"').nth(3).unwrap().to_owned();
    let mut c = cliser_testkit::LineClient::connect(listen.parse().unwrap());
    c.expect("110", Duration::from_secs(10));
    drop(c);
    assert!(child.try_wait().unwrap().is_none(), "the server died of its log");
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = cliser_testkit::wait_until(Duration::from_secs(20), "exit", || child.try_wait().unwrap());
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn a_full_stderr_is_not_a_crash() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap();
    runs_and_stops_with_stderr(full.into());
}

#[test]
fn a_closed_stderr_pipe_is_not_a_crash() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    runs_and_stops_with_stderr(writer.into());
}

#[test]
fn a_named_file_that_does_not_exist_exits_2_for_import_csv_as_for_config() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(dir.path(), &["import-csv", "missing.csv"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot read missing.csv: "), "{}", stderr(&o));
    assert!(!dir.path().join("data").exists(), "no data dir made for a file that is not there");
    let o = run(dir.path(), &["--config", "missing.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = run(dir.path(), &["query", "--config", "missing.toml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // A store named by --store that is not there: said, not made empty (as for --data-dir).
    let o = run(dir.path(), &["query", "--store", "sqlite:missing.db"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("no store at missing.db"), "{}", stderr(&o));
    assert!(!dir.path().join("missing.db").exists());
    // A file that is there but is not a CSV ledger is a runtime matter: exit 1, as before.
    std::fs::write(dir.path().join("bad.csv"), "not,a,ledger\n").unwrap();
    assert_eq!(run(dir.path(), &["import-csv", "bad.csv"]).status.code(), Some(1));
}
