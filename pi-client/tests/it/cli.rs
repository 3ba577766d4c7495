//! The client's command line as a new user meets it: help texts, `probe`, and a stderr that cannot be
//! written.

use std::process::{Command, Output, Stdio};

fn client() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cliser-pi-client"));
    c.env_remove("CLISER_PASSWORD").env_remove("RUST_LOG").stdin(Stdio::null());
    c
}

fn run(args: &[&str]) -> Output {
    client().args(args).output().expect("run cliser-pi-client")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn probe_without_1_wire_gives_the_hint_once() {
    let o = run(&["probe", "--sensor", "w1:/nonexistent/w1/devices"]);
    let text = stdout(&o);
    assert_eq!(text.matches("add the line dtoverlay=w1-gpio").count(), 1, "{text}");
    assert_eq!(o.status.code(), Some(1), "{text}");
}

#[test]
fn probe_of_the_simulation_says_nothing_of_1_wire() {
    let o = run(&["probe", "--sensor", "sim"]);
    let text = stdout(&o);
    assert!(!text.contains("1-Wire") && !text.contains("dtoverlay"), "{text}");
    assert!(text.contains("sensor backend: sim"), "{text}");
    assert_eq!(o.status.code(), Some(0), "{text}");
}

#[test]
fn probe_help_lists_only_what_probe_uses() {
    let text = stdout(&run(&["probe", "--help"]));
    assert!(text.contains("--sensor") && text.contains("--config"), "{text}");
    // probe --watch reads every --interval (its own flag, issue 16).
    assert!(text.contains("--watch") && text.contains("--interval"), "{text}");
    for other in ["--server", "--state-dir", "--password-file", "--shutdown-command", "--durability"] {
        assert!(!text.contains(other), "probe --help lists {other}:\n{text}");
    }
}

#[test]
fn help_says_the_server_is_required() {
    let text = stdout(&run(&["--help"]));
    let line = text.lines().find(|l| l.contains("--server")).expect("--server in --help");
    let next = text.lines().skip_while(|l| !l.contains("--server")).nth(1).unwrap_or("");
    assert!(line.contains("required") || next.contains("required"), "{text}");
}

/// A bad setting is logged and exits 2 even when that log line cannot be written.
fn exits_2_with_stderr(stderr: Stdio) -> Option<i32> {
    let mut child = client()
        .args(["--server", "127.0.0.1:1", "--id", "pi", "--password-file", "/nonexistent/pw"])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn");
    child.wait().expect("wait").code()
}

#[test]
fn a_full_stderr_is_not_a_crash() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    assert_eq!(exits_2_with_stderr(full.into()), Some(2));
}

#[test]
fn a_closed_stderr_pipe_is_not_a_crash() {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    assert_eq!(exits_2_with_stderr(writer.into()), Some(2));
}
