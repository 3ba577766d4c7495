//! `probe --sensor sim` lists the sensors a simulated client of the same id reports (issue 23,
//! item 8), so its output can be pasted into the server's `[sensors]`.

use crate::common;

use cliser_testkit::{wait_until, ServerHandle};
use common::{real_client, DumpLogsOnPanic, WAIT};
use std::collections::BTreeSet;
use std::process::Command;

/// The sensor ids `probe` prints (`  28-...  21.234 °C`), with its exit status asserted 0.
fn probe(args: &[&str]) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_cliser-pi-client"))
        .arg("probe")
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run probe");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "probe {args:?}:\n{text}{err}");
    text.lines()
        .filter(|l| l.contains(" °C"))
        .map(|l| l.split_whitespace().next().expect("a sensor id").to_owned())
        .collect()
}

#[test]
fn probe_with_an_id_lists_the_sensor_ids_that_client_reports_to_the_server() {
    const ID: &str = "pi-sim-7";
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let listed = probe(&["--sensor", "sim", "--id", ID]);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(!listed.iter().any(|id| id.contains("sim")), "the generic ids, not {ID}'s: {listed:?}");

    // The same from the client's config file, as a Pi's service would run it.
    let conf = dir.path().join("pi-client.toml");
    std::fs::write(&conf, format!("id = \"{ID}\"\nsensor = \"sim\"\n")).unwrap();
    assert_eq!(probe(&["--config", conf.to_str().unwrap()]), listed, "from --config");
    // Another id, other sensors.
    assert_ne!(probe(&["--sensor", "sim", "--id", "pi-sim-8"]), listed);

    // What a running simulated client of that id reports to a real server.
    let server = ServerHandle::start(dir.path(), &["--keepalive", "200ms"]);
    let mut client = real_client(
        dir.path(),
        server.addr,
        &server.password,
        ID,
        "info",
        &[],
        &["--sensor", "sim", "--interval", "200ms"],
    );
    // Three samplings stored: every sensor has reported by then.
    let reported = wait_until(WAIT, "three samplings of the client in the server's log", || {
        let lines = server.log().lines_with(&format!("reading cid={ID} "));
        (lines.len() >= 3 * listed.len()).then_some(lines)
    });
    let reported: BTreeSet<String> = reported
        .iter()
        .filter_map(|l| l.split_whitespace().find_map(|t| t.strip_prefix("sensor=")))
        .map(str::to_owned)
        .collect();
    assert_eq!(reported, listed, "probe lists what the client reports");
    client.signal(libc::SIGTERM);
    assert_eq!(client.wait_exit(WAIT).code(), Some(0));
}

#[test]
fn probe_help_offers_the_id_of_the_client_it_stands_for() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_cliser-pi-client")).args(["probe", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("--id") && text.contains("--config"), "{text}");
}
