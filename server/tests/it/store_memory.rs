//! `--store-memory`: one budget for SQLite's page caches of every store connection the server
//! opens, half to the sink's, the rest shared by the page's pool, alerts, retention and exporters;
//! each connection says (debug) the page cache it was opened with. A bad size is exit 2.

use crate::common;

use common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The page-cache lines of the server's store connections: (KiB, how many).
fn caches(s: &ServerHandle) -> Vec<u64> {
    let mut kib: Vec<u64> = s
        .log()
        .lines_with(" KiB, no mmap")
        .iter()
        .filter_map(|l| l.split("page cache ").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    kib.sort_unstable();
    kib
}

#[test]
fn the_sink_gets_half_and_the_page_alerts_retention_and_exporters_share_the_rest() {
    // 20 MiB: the sink 10 MiB, the others 10 MiB / 7 = 1462 KiB each: the page's pool of 4, alerts,
    // retention, the exporter (to a port nobody listens on: it opens its connection all the same).
    let (_dir, s) = server(&["--store-memory", "20MiB", "--influx", "http://127.0.0.1:9/write?db=x"]);
    s.log().wait_for(
        "store memory 20MiB: sink 10MiB, 7 others 1462KiB each (page 4, alerts 1, retention 1, export 1)",
        T,
    );
    // Opened by the time the server is ready: the sink's, the alerts', retention's, the exporter's
    // and the page's first (it loads the nodes at start); the page opens the rest on demand.
    assert_eq!(caches(&s), [1462, 1462, 1462, 1462, 10240], "{}", s.log().text());

    let (_dir, s) = server(&["--store-memory", "20MiB", "--http", "off", "--retain-raw", "0"]);
    s.log().wait_for(
        "store memory 20MiB: sink 10MiB, 1 others 10MiB each (page 0, alerts 1, retention 0, export 0)",
        T,
    );
    assert_eq!(caches(&s), [10240, 10240], "the sink's and the alerts': {}", s.log().text());
}

#[test]
fn the_default_is_64_mib_and_a_config_key_sets_it() {
    let (_dir, s) = server(&[]);
    s.log().wait_for("store memory 64MiB: sink 32MiB, 6 others 5461KiB each", T);
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("server.toml");
    std::fs::write(&conf, "store-memory = \"8 MiB\"\n").unwrap();
    let s = ServerHandle::start(dir.path(), &["--config", conf.to_str().unwrap()]);
    s.log().wait_for("store memory 8MiB: sink 4MiB, 6 others 682KiB each", T);
}

fn run(dir: &Path, args: &[&str]) -> Output {
    let pw = dir.join("pw");
    std::fs::write(&pw, "client-secret\n").unwrap();
    let mut c = Command::new(cliser_testkit::bin("cliser-server"));
    c.arg("--password-file").arg(&pw).arg("--data-dir").arg(dir.join("data")).current_dir(dir);
    c.args(["--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--http", "127.0.0.1:0"]);
    c.env_remove("CLISER_PASSWORD").env_remove("RUST_LOG").stdin(Stdio::null());
    c.args(args).output().unwrap()
}

#[test]
fn a_bad_size_in_a_flag_or_the_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("server.toml");
    for (args, file, says) in [
        (&["--store-memory", "64"][..], None, "\"64\" has no unit (expected e.g. 64MiB, 512KiB, 1GiB)"),
        (&["--store-memory", "lots"][..], None, "\"lots\" is not a size"),
        (&["--store-memory", "1MiB"][..], None, "--store-memory 1MiB: must be at least 4MiB"),
        (&[][..], Some("store-memory = \"64MB!\"\n"), "invalid size: \"64MB!\" is not a size"),
        (&[][..], Some("store-memory = \"2MiB\"\n"), "config key store-memory 2MiB: must be at least 4MiB"),
    ] {
        let mut args = args.to_vec();
        if let Some(text) = file {
            std::fs::write(&conf, text).unwrap();
            args.extend(["--config", conf.to_str().unwrap()]);
        }
        let o = run(dir.path(), &args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?} should say {says:?}: {err}");
    }
}
