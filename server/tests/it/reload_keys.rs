//! What a reload (SIGHUP, the console's `R`) does with the keys of the config file beyond names,
//! limits and alert targets: a `clients-file` added is put in force, and every key it cannot apply
//! is named in a WARN that says a restart is needed.

use crate::alert_kit;
use crate::common;
use alert_kit::*;
use cliser_testkit::bin;
use common::*;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

/// `add-client ID` on `file`; its token.
fn add_client(file: &Path, id: &str) -> String {
    let o = Command::new(bin("cliser-server"))
        .args(["add-client", id, "--clients-file", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap().trim_end().to_owned()
}

/// 110, `password`, 120, `id`: the answer after the id (or the 111 that came before 120: without a
/// clients file the password is checked alone).
fn login_answer(addr: SocketAddr, password: &str, id: &str) -> String {
    let mut c = LineClient::connect(addr);
    c.expect("110", T);
    c.send(password);
    let asked = c.recv(T).unwrap_or_default();
    if !asked.starts_with("120") {
        return asked;
    }
    c.send(id);
    c.recv(T).unwrap_or_default()
}

#[test]
fn a_clients_file_added_to_the_config_is_in_force_after_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let clients = dir.path().join("clients.toml");
    let token = add_client(&clients, "pi-1");
    let s = start(dir.path(), "", &[]);
    // Without a clients file the token is no password.
    assert_eq!(login_answer(s.addr, &token, "pi-1"), "111: senha incorreta");

    write_config(dir.path(), &format!("clients-file = {:?}\n", clients.to_str().unwrap()));
    s.proc.signal(libc::SIGHUP);
    let line = s.log().wait_for("reloaded clients file", T);
    assert!(line.contains("1 ids with their own token; other ids log in with the fleet password"), "{line}");
    assert_eq!(login_answer(s.addr, &token, "pi-1"), "140: Connected health=1");
    // The listed id no longer takes the fleet password; the others still do.
    assert_eq!(login_answer(s.addr, &s.password, "pi-1"), "111: senha incorreta");
    assert_eq!(login_answer(s.addr, &s.password, "pi-2"), "140: Connected health=1");
    assert_eq!(s.log().count("restart to apply"), 0, "nothing else changed");
}

#[test]
fn a_key_a_reload_cannot_apply_is_named_in_a_warn() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let store = format!("sqlite:{}", dir.path().join("cliser.db").display());
    let first = format!("store = {store:?}\nmax-clients = 100\n[sensors.\"28-a\"]\nname = \"freezer\"\n");
    // The test kit gives --listen as a flag: the file's `listen` is not used, so not named.
    let s = start(dir.path(), &first, &["--store", &store]);
    let other = format!("sqlite:{}", dir.path().join("other.db").display());
    write_config(
        dir.path(),
        &format!(
            "store = {other:?}\nmax-clients = 50\nlisten = \"127.0.0.1:1\"\n\
             [sensors.\"28-a\"]\nname = \"fridge\"\n"
        ),
    );
    s.proc.signal(libc::SIGHUP);
    s.log().wait_for("reloaded ", T);
    let warned = s.log().wait_count("restart to apply", 1, T);
    assert!(
        warned
            .iter()
            .any(|l| l.contains("WARN") && l.contains("config key max-clients changed; restart to apply")),
        "{warned:?}"
    );
    // `store` is set by --store too: the flag wins, so the file's edit changes nothing.
    let mut console = admin(&s);
    let answer = ask(&mut console, "R");
    assert!(answer.starts_with("ok: reloaded "), "{answer}");
    assert!(answer.contains("config key max-clients changed; restart to apply"), "{answer}");
    assert!(!answer.contains("config key store") && !answer.contains("config key listen"), "{answer}");
    assert!(!answer.contains("config key sensors"), "names are applied, not named: {answer}");
}

#[test]
fn the_store_changed_in_the_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let s = start(dir.path(), "keepalive = \"1s\"\n", &[]);
    write_config(dir.path(), "keepalive = \"1s\"\nstore = \"sqlite:elsewhere.db\"\n");
    let mut console = admin(&s);
    let answer = ask(&mut console, "R");
    assert!(answer.contains("config key store changed; restart to apply"), "{answer}");
    let line = s.log().wait_for("config key store changed; restart to apply", T);
    assert!(line.contains("WARN"), "{line}");
}
