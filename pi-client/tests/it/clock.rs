//! Timestamps the server can trust: a client whose wall clock is an hour wrong still gets its
//! readings stamped by the server's clock (it sends ages), and readings journaled in an earlier boot
//! go out with their wall-clock time, marked when that clock was not synchronised.

use crate::common;

use cliser_testkit::{find_part, ServerHandle};
use common::{real_client, DumpLogsOnPanic, FakeServer, WAIT};
use std::ffi::OsStr;
use std::process::Command;

/// The real client under Debian's `faketime` with its wall clock an hour behind: every reading of
/// the current boot is stored within 1 s of the server's clock.
#[test]
fn a_client_an_hour_wrong_is_stored_on_the_servers_clock() {
    let Some(faketime) = find_part("faketime", &["faketime"]) else { return };
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    // The monotonic clocks stay true (an hour back could put CLOCK_BOOTTIME below zero on a machine
    // just booted); only the wall clock is wrong, as on a Pi without an RTC.
    let skew = |program: &OsStr| {
        let out = Command::new(&faketime)
            .env("FAKETIME_DONT_FAKE_MONOTONIC", "1")
            .args([OsStr::new("-f"), OsStr::new("-1h"), program, OsStr::new("+%s")])
            .output()
            .expect("run faketime");
        String::from_utf8_lossy(&out.stdout).trim().parse::<i64>().expect("date +%s under faketime")
    };
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let faked = skew(OsStr::new("date"));
    assert!((now_s - faked - 3600).abs() < 60, "faketime works: {now_s} vs {faked}");

    let server = ServerHandle::start(dir.path(), &["--keepalive", "300ms"]);
    let wrapper = [
        OsStr::new("env"),
        OsStr::new("FAKETIME_DONT_FAKE_MONOTONIC=1"),
        faketime.as_os_str(),
        OsStr::new("-f"),
        OsStr::new("-1h"),
    ];
    let mut c = real_client(
        dir.path(),
        server.addr,
        &server.password,
        "pi-skew",
        "info",
        &wrapper,
        &["--sensor", "sim", "--interval", "200ms"],
    );
    server.log().wait_count("reading cid=pi-skew ", 10, WAIT);
    // faketime forks the client and waits for it: the client is the one to stop.
    let client = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", c.pid()))
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<i32>().ok())
        .expect("faketime's child, the client");
    // SAFETY: sends a signal to a process this test started (faketime's child).
    assert_eq!(unsafe { libc::kill(client, libc::SIGTERM) }, 0);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
    let mut store = cliser_store::open(&server.store_url()).expect("open the store");
    let q = cliser_store::ReadingQuery {
        cid: Some(cliser_protocol::ClientId::new("pi-skew").unwrap()),
        ..Default::default()
    };
    let rows = store.readings(&q).expect("read the store");
    assert!(rows.len() >= 10, "{} rows", rows.len());
    for r in rows {
        let off = r.received_ms - r.sampled_ms;
        assert!((0..1000).contains(&off), "seq {:?} stored {off} ms before its arrival", r.seq);
    }
}

/// A v1 journal from an earlier boot (another boot id): seq 1 sampled with the wall clock not
/// synchronised, seq 2 synchronised; nothing acked.
fn write_earlier_boot_journal(state: &std::path::Path) {
    let record = |body: &str| format!("{body} *{:08x}\n", crc32fast::hash(body.as_bytes()));
    let earlier = "00000000-0000-4000-8000-000000000001";
    let journal = [
        record("cliser-backlog v1"),
        record("n 3"),
        record("n 3"),
        record("a 0"),
        record(&format!("r 1 {earlier} 5000 1700000000000 u 28-0316a2795aff=21.5")),
        record(&format!("r 2 {earlier} 6000 1700000001000 s 28-0316a2795aff=21.625")),
    ]
    .concat();
    std::fs::write(state.join("backlog.log"), journal).unwrap();
}

/// A journal written in an earlier boot (another boot id), with the wall clock not synchronised
/// then: its readings go out as `@unix_ms?`, not with an age.
#[test]
fn readings_of_an_earlier_boot_are_sent_with_their_time_marked_unsynchronised() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    write_earlier_boot_journal(&state);
    let server = FakeServer::new();
    let mut c = common::client(dir.path(), server.addr, &["--sensor", "w1:/nonexistent", "--interval", "1h"]);
    let mut conn = server.accept();
    conn.handshake(None);
    conn.send("100: keep alive");
    let line = conn.recv();
    assert!(line.contains(" 28-0316a2795aff=21.5@1700000000000?#1 "), "{line}");
    assert!(line.contains(" 28-0316a2795aff=21.625@1700000001000#2"), "{line}");
    // This boot's own reading (the sampler's first, seq 3) goes out with its age.
    let mut answers = line;
    cliser_testkit::wait_until(WAIT, "this boot's first reading", || {
        if !answers.contains("w1=err:no_sensors") {
            conn.send("100: keep alive");
            answers = conn.recv();
        }
        answers.contains("w1=err:no_sensors").then_some(())
    });
    assert!(answers.contains("w1=err:no_sensors~") && answers.contains("#3"), "{answers}");
    c.signal(libc::SIGTERM);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
}

/// The same earlier-boot journal against the real server: the unsynchronised reading is stored
/// with its own time and quality `unsynced`, the synchronised one `synced`, this boot's `from_age`.
#[test]
fn an_earlier_boots_unsynchronised_reading_is_stored_as_unsynced() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let server = ServerHandle::start(dir.path(), &["--keepalive", "300ms"]);
    let state = dir.path().join("pi-reboot.state"); // real_client's --state-dir
    std::fs::create_dir_all(&state).unwrap();
    write_earlier_boot_journal(&state);
    let mut c = real_client(
        dir.path(),
        server.addr,
        &server.password,
        "pi-reboot",
        "info",
        &[],
        &["--sensor", "w1:/nonexistent", "--interval", "1h"],
    );
    server.log().wait_for("reading cid=pi-reboot sensor=w1 ", WAIT);
    c.signal(libc::SIGTERM);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0));
    let unsynced = server.log().wait_for("reading cid=pi-reboot sensor=28-0316a2795aff temp_c=21.500", WAIT);
    assert!(unsynced.contains("ts_quality=unsynced"), "{unsynced}");
    let mut store = cliser_store::open(&server.store_url()).expect("open the store");
    let q = cliser_store::ReadingQuery {
        cid: Some(cliser_protocol::ClientId::new("pi-reboot").unwrap()),
        ..Default::default()
    };
    let mut rows = store.readings(&q).expect("read the store");
    rows.sort_by_key(|r| r.seq);
    let got: Vec<_> = rows.iter().map(|r| (r.seq, r.ts_quality, r.sampled_ms)).collect();
    use cliser_store::TsQuality::*;
    assert_eq!(got[..2], [(Some(1), Unsynced, 1_700_000_000_000), (Some(2), Synced, 1_700_000_001_000)]);
    assert_eq!((got[2].0, got[2].1), (Some(3), FromAge), "{got:?}");
}
