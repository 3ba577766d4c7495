//! `--durability spill` (the default) against the real server: a healthy link writes nothing, an
//! outage spills in batches, and what was spilled survives a kill -9 and a SIGTERM.

use crate::common;

use cliser_testkit::{wait_until, LogFile, Proc, ServerHandle};
use common::{fake_w1_with, real_client, write_bytes, DumpLogsOnPanic, WAIT};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

fn seq_of(line: &str) -> Option<u64> {
    line.split_whitespace().find_map(|t| t.strip_prefix("seq="))?.parse().ok()
}

/// seq -> how many times the server logged it, for client `cid`.
fn server_seqs(log: &LogFile, cid: &str) -> BTreeMap<u64, usize> {
    let mut m = BTreeMap::new();
    for l in log.lines_with(&format!("reading cid={cid} ")) {
        *m.entry(seq_of(&l).expect("seq in server line")).or_insert(0) += 1;
    }
    m
}

/// The seqs of every `backlog spilled N readings (seq A..=B)` line.
fn spilled_seqs(log: &LogFile) -> Vec<u64> {
    let mut seqs = Vec::new();
    for l in log.lines_with("backlog spilled ") {
        let range = l.split("(seq ").nth(1).and_then(|r| r.split(')').next()).expect("a seq range");
        let (a, b) = range.split_once("..=").expect("A..=B");
        seqs.extend(a.parse::<u64>().unwrap()..=b.parse::<u64>().unwrap());
    }
    seqs
}

/// The reading seqs in a v1 journal.
fn journal_seqs(state: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(state.join("backlog.log")).unwrap_or_default();
    text.lines().filter_map(|l| l.strip_prefix("r ")?.split(' ').next()?.parse().ok()).collect()
}

fn stop(mut c: Proc) {
    c.signal(libc::SIGTERM);
    assert_eq!(c.wait_exit(WAIT).code(), Some(0), "SIGTERM exits 0");
}

/// The figure: 8 sensors read every second for `CLISER_SPILL_MINUTES` (1 by default; CI
/// runs 10) over a healthy link: the journal does not change and the client writes next to nothing.
#[test]
fn a_healthy_link_writes_nothing_to_the_journal() {
    let minutes: u64 = std::env::var("CLISER_SPILL_MINUTES").ok().and_then(|m| m.parse().ok()).unwrap_or(1);
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let w1 = fake_w1_with(dir.path(), 8);
    let server = ServerHandle::start(dir.path(), &["--keepalive", "1s"]);
    let sensor = format!("w1:{}", w1.display());
    let c = real_client(
        dir.path(),
        server.addr,
        &server.password,
        "pi-quiet",
        "info",
        &[],
        &["--sensor", &sensor, "--interval", "1s"],
    );
    let state = dir.path().join("pi-quiet.state");
    server.log().wait_count("reading cid=pi-quiet ", 16, WAIT);
    let journal = std::fs::read(state.join("backlog.log")).unwrap();
    let written = write_bytes(c.pid());
    let start = Instant::now();
    let end = start + Duration::from_secs(60 * minutes);
    let mut last_count = 0;
    while Instant::now() < end {
        // The measurement runs for its whole length; the check each second only fails early.
        std::thread::sleep(Duration::from_secs(1));
        assert!(!c.log.text().contains("backlog spilled"), "spilled on a healthy link");
        last_count = server.log().count("reading cid=pi-quiet ");
    }
    let grew = write_bytes(c.pid()) - written;
    assert_eq!(std::fs::read(state.join("backlog.log")).unwrap(), journal, "the journal changed");
    eprintln!(
        "{minutes} min, 8 sensors at 1 s: {last_count} readings stored, client write_bytes grew {grew} bytes"
    );
    assert!(last_count as u64 >= 8 * 60 * minutes / 2, "readings kept arriving: {last_count}");
    assert!(grew <= 16 * 1024, "the client wrote {grew} bytes");
    assert_eq!(c.log.count("reading sensor="), 0, "no line per reading at the default level");
    stop(c);
}

/// A server outage: the unacked readings are spilled in batches, at most one per --spill-after;
/// then the client is killed with SIGKILL and started again: everything spilled reaches the store
/// once.
#[test]
fn an_outage_spills_in_batches_and_a_kill_9_loses_nothing_spilled() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let w1 = fake_w1_with(dir.path(), 2);
    let mut server = ServerHandle::start(dir.path(), &["--keepalive", "300ms"]);
    let sensor = format!("w1:{}", w1.display());
    let flags =
        ["--sensor", sensor.as_str(), "--interval", "200ms", "--server-timeout", "2s", "--spill-after", "1s"];
    let mut c = real_client(dir.path(), server.addr, &server.password, "pi-spill", "info", &[], &flags);
    server.log().wait_count("reading cid=pi-spill ", 4, WAIT);
    assert_eq!(c.log.count("backlog spilled"), 0);

    server.proc.kill9();
    let outage = Instant::now();
    c.log.wait_count("backlog spilled ", 3, WAIT);
    let spills = c.log.count("backlog spilled ");
    let took = outage.elapsed();
    // One sync a spill: at most one per second, plus the first.
    assert!(spills as u64 <= took.as_secs() + 1, "{spills} spills in {took:?}");
    let spilled = spilled_seqs(&c.log);
    assert!(spilled.len() >= 3 * 2 * 3, "batches of several readings: {spilled:?}");
    c.kill9();
    let on_disk = journal_seqs(&dir.path().join("pi-spill.state"));
    assert!(spilled.iter().all(|s| on_disk.contains(s)), "spilled {spilled:?}, on disk {on_disk:?}");

    server.restart();
    let c = real_client(dir.path(), server.addr, &server.password, "pi-spill", "info", &[], &flags);
    wait_until(WAIT, "every spilled reading in the store", || {
        let stored = server.stored_seqs("pi-spill");
        spilled.iter().all(|s| stored.contains_key(s)).then_some(())
    });
    stop(c);
    let stored = server.stored_seqs("pi-spill");
    assert!(stored.values().all(|&n| n == 1), "the store holds each seq once");
    let logged = server_seqs(server.log(), "pi-spill");
    for s in &spilled {
        assert_eq!(logged.get(s), Some(&1), "seq {s} logged once");
    }
}

/// SIGTERM with unacked readings: they are in the journal before the client exits, and arrive after
/// it starts again.
#[test]
fn sigterm_writes_the_unacked_readings_and_they_arrive_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let w1 = fake_w1_with(dir.path(), 2);
    let mut server = ServerHandle::start(dir.path(), &["--keepalive", "300ms"]);
    let sensor = format!("w1:{}", w1.display());
    let flags = ["--sensor", sensor.as_str(), "--interval", "200ms", "--server-timeout", "2s"];
    let c = real_client(dir.path(), server.addr, &server.password, "pi-term", "debug", &[], &flags);
    server.log().wait_count("reading cid=pi-term ", 4, WAIT);
    server.proc.kill9();
    let acked_before = server_seqs(server.log(), "pi-term").keys().max().copied().unwrap_or(0);
    wait_until(WAIT, "readings taken while the server is down", || {
        (c.log.lines_with("reading sensor=").iter().filter_map(|l| seq_of(l)).max()? > acked_before + 6)
            .then_some(())
    });
    let state = dir.path().join("pi-term.state");
    assert!(journal_seqs(&state).is_empty(), "nothing spilled within --spill-after (60s)");
    stop(c);
    let taken: Vec<u64> = {
        let log = LogFile::new(dir.path().join("pi-term.log"));
        log.lines_with("reading sensor=")
            .iter()
            .filter_map(|l| seq_of(l))
            .filter(|&s| s > acked_before)
            .collect()
    };
    let on_disk = journal_seqs(&state);
    assert!(taken.iter().all(|s| on_disk.contains(s)), "taken {taken:?}, on disk {on_disk:?}");

    server.restart();
    let c = real_client(dir.path(), server.addr, &server.password, "pi-term", "info", &[], &flags);
    wait_until(WAIT, "the readings written at SIGTERM in the store", || {
        let stored = server.stored_seqs("pi-term");
        taken.iter().all(|s| stored.contains_key(s)).then_some(())
    });
    stop(c);
    assert!(server.stored_seqs("pi-term").values().all(|&n| n == 1));
}
