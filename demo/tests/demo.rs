//! The demo as a person runs it: one command, temperatures in the server log within 15 s, Ctrl-C
//! (SIGINT to the demo alone, so the demo must forward it) stops every process and cleans up.

use cliser_testkit::Proc;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn readings_scroll_within_15_s_and_ctrl_c_stops_everything() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Proc::spawn(Command::new(env!("CARGO_BIN_EXE_cliser-demo")), &dir.path().join("demo.log"));
    // The demo may first build the server and client (cargo sets CARGO for this test): not timed.
    let banner = demo.log.wait_for("temp dir ", Duration::from_secs(900));
    demo.log.wait_for("Press Ctrl-C to stop everything", Duration::from_secs(10));
    let tmp = banner.split("temp dir").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();
    assert!(std::path::Path::new(&tmp).is_dir(), "{tmp}");
    let start = Instant::now();
    let mut sensors = Vec::new();
    for id in ["demo-pi-1", "demo-pi-2"] {
        let left = Duration::from_secs(15).saturating_sub(start.elapsed());
        let line = demo.log.wait_for(&format!("reading cid={id} sensor="), left);
        let field =
            |name: &str| line.split_whitespace().find_map(|t| t.strip_prefix(name)).unwrap().to_owned();
        let temp = field("temp_c=");
        assert!(temp.split_once('.').is_some_and(|(_, d)| d.len() == 3), "three decimals: {line}");
        sensors.push(field("sensor="));
    }
    // Each simulated Pi has sensor ids of its own, so no line looks printed twice.
    assert_ne!(sensors[0], sensors[1]);
    assert!(demo.log.text().contains("nc 127.0.0.1 "), "the banner names the admin console");
    let store = std::path::Path::new(&tmp).join("data").join("cliser.db");
    assert!(
        demo.log.text().contains(&format!("stored in {}", store.display())),
        "the banner names the store"
    );
    assert!(store.is_file(), "the readings go to the store in the demo's temp dir");

    demo.signal(libc::SIGINT);
    let status = demo.wait_exit(Duration::from_secs(30));
    let log = demo.log.text();
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("all stopped cleanly"), "{log}");
    assert!(!std::path::Path::new(&tmp).exists(), "the temp dir is removed");
}
