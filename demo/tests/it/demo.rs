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
    // The banner's follow-up command runs as printed: the binary the demo built, no second cargo build.
    let text = demo.log.text();
    let hint = text.split("ask them: ").nth(1).and_then(|t| t.split(')').next()).expect("a query hint");
    let words: Vec<&str> = hint.split_whitespace().collect();
    assert!(std::path::Path::new(words[0]).is_file(), "the hint starts with the built server: {hint}");
    let out = Command::new(words[0]).args(&words[1..]).output().unwrap();
    let rows = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && rows.contains("demo-pi-1"), "{hint}: {out:?}");
    // The banner's page address answers, and the page's API shows both Pis with values.
    let page = banner_url(&demo.log.text());
    let nodes = http_get(&page, "/api/nodes");
    for id in ["demo-pi-1", "demo-pi-2"] {
        assert!(nodes.contains(&format!("\"cid\":\"{id}\"")), "{nodes}");
    }
    assert!(nodes.contains("\"value\":"), "{nodes}");
    assert!(http_get(&page, "/").contains("<title>cliser</title>"));

    demo.signal(libc::SIGINT);
    let status = demo.wait_exit(Duration::from_secs(30));
    let log = demo.log.text();
    assert!(status.success(), "{status}\n{log}");
    assert!(log.contains("all stopped cleanly"), "{log}");
    assert!(!std::path::Path::new(&tmp).exists(), "the temp dir is removed");
}

/// The `host:port` of the banner's `open http://host:port/` line.
fn banner_url(log: &str) -> String {
    let line = log
        .lines()
        .find(|l| l.contains("open ") && l.contains("http://"))
        .expect("the banner names the page");
    let url = line.split_whitespace().find(|w| w.starts_with("http://")).unwrap();
    url.trim_start_matches("http://").trim_end_matches('/').to_owned()
}

/// A GET over a plain socket (HTTP/1.0: the server closes after the answer); the body.
fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default()
}
