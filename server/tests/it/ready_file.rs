//! `--ready-file`: the real binary on port 0 announces its bound addresses and pid in a file.

use crate::common;
use common::*;
use std::net::SocketAddr;
use std::process::Command;

#[test]
fn the_ready_file_names_the_bound_addresses_and_the_pid() {
    let dir = tempfile::tempdir().unwrap();
    let password = cliser_testkit::free_password();
    let pw_file = dir.path().join("pw");
    std::fs::write(&pw_file, format!("{password}\n")).unwrap();
    let ready = dir.path().join("ready.json");
    let mut cmd = Command::new(cliser_testkit::bin("cliser-server"));
    cmd.args([
        "--listen",
        "127.0.0.1:0",
        "--console",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--password-file",
    ])
    .arg(&pw_file)
    .arg("--ready-file")
    .arg(&ready)
    .current_dir(dir.path())
    .env("RUST_LOG", "info");
    let mut proc = Proc::spawn(cmd, &dir.path().join("server.log"));
    let text = cliser_testkit::wait_until(T, "the ready file", || std::fs::read_to_string(&ready).ok());
    assert!(text.ends_with('\n') && text.lines().count() == 1, "{text:?}");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let keys: Vec<&str> = doc.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys.len(), 4, "{text}");
    let addr = |key: &str| -> SocketAddr { doc[key].as_str().unwrap().parse().unwrap() };
    let (listen, console, http) = (addr("listen"), addr("console"), addr("http"));
    assert_eq!(doc["pid"].as_u64(), Some(u64::from(proc.pid())));
    assert!(listen.port() != 0 && console.port() != 0 && listen != console, "{text}");
    assert!(!dir.path().join("ready.json.tmp").exists());

    // The same addresses the log names, and both answer.
    assert!(proc.log.text().contains(&format!("listening on {listen}")));
    assert!(proc.log.text().contains(&format!("console on {console}")));
    assert!(http.port() != 0 && http != listen && http != console, "{text}");
    assert!(proc.log.text().contains(&format!("web page on http://{http}/")));
    let mut c = LineClient::connect(listen);
    assert_eq!(c.recv(T).as_deref(), Some("110: qual a senha"));
    let mut a = LineClient::connect(console);
    a.recv_until("#> ", T);

    // Once the file is there, a signal already stops the server cleanly.
    proc.signal(15);
    assert!(proc.wait_exit(T).success());
}

#[test]
fn the_help_of_ready_file_names_every_key_the_file_can_hold() {
    let o = Command::new(cliser_testkit::bin("cliser-server")).arg("--help").output().unwrap();
    assert!(o.status.success());
    let help = String::from_utf8(o.stdout).unwrap();
    let from = help.find("--ready-file").expect("--ready-file in --help");
    let entry: String = help[from..].lines().take_while(|l| !l.trim_start().starts_with("--mqtt")).collect();
    for key in ["\"listen\"", "\"listen_tls\"", "\"console\"", "\"http\"", "\"pid\""] {
        assert!(entry.contains(key), "{key} missing from: {entry}");
    }
}

#[test]
fn the_start_up_log_says_what_the_config_file_gave() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("server.toml");
    std::fs::write(
        &conf,
        "[sensors.\"28-a\"]\nname = \"freezer\"\nmax = -15.0\n[sensors.\"28-b\"]\nname = \"hall\"\n\
         [alerts]\ncommand = \"/bin/true\"\n",
    )
    .unwrap();
    let s = ServerHandle::start(dir.path(), &["--config", conf.to_str().unwrap()]);
    let line = s.log().wait_for("sensors named, ", T);
    assert!(
        line.contains("INFO")
            && line.ends_with(&format!(
                "config {}: 2 sensors named, 1 with limits, alerts to command, no exporters",
                conf.display()
            )),
        "{line}"
    );
}
