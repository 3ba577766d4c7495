//! Faults across the whole system, with the real server and the real Pi client: a blackholed network,
//! `kill -9` of either side at the worst moments, a full disk under the readings CSV. Each prints
//! readings sampled vs logged vs duplicates, and asserts none lost and none twice.

use crate::common;
use cliser_testkit::wait_until;
use common::proxy::Proxy;
use common::*;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(40);

/// A server with the default store (an SQLite file in the test's data dir): no store flag at all.
fn stored_server(dir: &std::path::Path, extra: &[&str]) -> ServerHandle {
    ServerHandle::start(dir, extra)
}

/// Stops the client with SIGTERM once the store holds everything it has sampled so far.
fn drain_and_stop(client: &mut Proc, s: &ServerHandle, cid: &str) {
    let target = sampled_seqs(&client.log).into_iter().max().unwrap_or(0);
    let mut last = 0;
    wait_until(LONG, "the store to catch up with the client", || {
        let now = s.stored_seqs(cid).into_keys().max().unwrap_or(0);
        if now != last {
            eprintln!("store max {now}, target {target}");
            last = now;
        }
        (now >= target).then_some(())
    });
    client.signal(15);
    let status = client.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "the client exits 0 on SIGTERM: {status}");
}

#[test]
fn a_blackholed_network_is_noticed_by_both_sides_and_its_readings_arrive_once_after_healing() {
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    let s = stored_server(d.path(), &["--keepalive", "200ms", "--dead-after", "3"]);
    let proxy = Proxy::start(s.addr);
    let mut c = pi_client(
        proxy.addr,
        &s.password,
        "wifi-pi",
        &d.path().join("state"),
        &d.path().join("client.log"),
        &["--interval", "100ms", "--server-timeout", "1s"],
    );
    s.log().wait_for("registered cid=wifi-pi", LONG);
    s.log().wait_for("reading cid=wifi-pi", LONG);
    proxy.set_blackhole(true);
    let before = sampled_seqs(&c.log).len();
    // The server reaps the silent session; the client notices within its --server-timeout.
    s.log().wait_for("dead session cid=wifi-pi", LONG);
    c.log.wait_for("no line from the server for 1s", LONG);
    // Readings taken during the outage.
    wait_until(LONG, "ten more readings sampled in the outage", || {
        (sampled_seqs(&c.log).len() >= before + 10).then_some(())
    });
    proxy.set_blackhole(false);
    s.log().wait_count("registered cid=wifi-pi", 2, LONG);
    drain_and_stop(&mut c, &s, "wifi-pi");
    let pending = pending_seqs(&d.path().join("state"));
    assert_exactly_once("blackhole", &sampled_seqs(&c.log), &ledger_seqs(&s, "wifi-pi"), &pending);
    assert_eq!(
        s.log().count("reading cid=wifi-pi"),
        ledger_seqs(&s, "wifi-pi").len(),
        "log lines = ledger lines"
    );
}

#[test]
fn kill_9_of_the_server_during_a_burst_loses_and_repeats_nothing() {
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    let mut s = stored_server(d.path(), &["--keepalive", "300ms"]);
    let mut c = pi_client(
        s.addr,
        &s.password,
        "bursty",
        &d.path().join("state"),
        &d.path().join("client.log"),
        &["--interval", "20ms", "--server-timeout", "2s"],
    );
    s.log().wait_for("reading cid=bursty", LONG);
    for round in 0..3 {
        // Down long enough for a backlog of many lines' worth ...
        s.proc.kill9();
        let n = sampled_seqs(&c.log).len();
        wait_until(LONG, "a backlog to build", || (sampled_seqs(&c.log).len() >= n + 150).then_some(()));
        let logged = ledger_seqs(&s, "bursty").len();
        s.restart();
        // ... then killed again in the middle of draining it.
        wait_until(LONG, "the drain to start", || (ledger_seqs(&s, "bursty").len() > logged).then_some(()));
        eprintln!(
            "round {round}: killed mid-burst with {} readings in the ledger",
            ledger_seqs(&s, "bursty").len()
        );
        s.proc.kill9();
        // Nothing changes the store while the server is down: the restarted server's 140 must ack
        // exactly what it holds.
        let stored = s.stored_seqs("bursty").into_keys().max().unwrap_or(0);
        let registrations = c.log.count("registered with");
        s.restart();
        let line = wait_until(LONG, "the client to register again", || {
            c.log.lines_with("registered with").into_iter().nth(registrations)
        });
        assert!(
            line.contains(&format!("(server has up to seq {stored})")),
            "140 ack vs store {stored}: {line}"
        );
    }
    drain_and_stop(&mut c, &s, "bursty");
    let pending = pending_seqs(&d.path().join("state"));
    assert_exactly_once("server kill -9", &sampled_seqs(&c.log), &ledger_seqs(&s, "bursty"), &pending);
}

#[test]
fn kill_9_of_the_client_between_its_backlog_write_and_the_ack_loses_nothing() {
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    // A slow poll: each reading waits in the backlog up to a second for its ack.
    let s = stored_server(d.path(), &["--keepalive", "1s"]);
    let state = d.path().join("state");
    let log = d.path().join("client.log");
    let start = || {
        pi_client(
            s.addr,
            &s.password,
            "crashy",
            &state,
            &log,
            // Per-sample durability is what this holds the client to: `sync` mode.
            &["--interval", "50ms", "--server-timeout", "3s", "--durability", "sync"],
        )
    };
    let mut c = start();
    for round in 0..5 {
        let n = sampled_seqs(&c.log).len();
        // The moment a reading is in the backlog (the client logs it after the fsync) and before any
        // poll could ack it.
        wait_until(LONG, "a new reading sampled", || (sampled_seqs(&c.log).len() > n).then_some(()));
        c.kill9();
        eprintln!("round {round}: killed the client after {} readings", sampled_seqs(&c.log).len());
        c = start();
    }
    // The last one may find everything stored already (the server polls right after 140): a SIGTERM
    // before it even installed its handlers would end it by the signal. Each start logs this line
    // once its handlers are in place, in the log file all of them share.
    wait_until(LONG, "the last client to start", || (c.log.count(": id crashy, server") >= 6).then_some(()));
    drain_and_stop(&mut c, &s, "crashy");
    let sampled = sampled_seqs(&c.log);
    let mut sorted = sampled.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), sampled.len(), "the client never reuses a seq across restarts");
    assert_exactly_once("client kill -9", &sampled, &ledger_seqs(&s, "crashy"), &pending_seqs(&state));
}

/// A tmpfs of `kib` KiB mounted at `dir`, or `None` where mounting is not allowed (not root).
fn small_disk(dir: &std::path::Path, kib: u32) -> Option<SmallDisk> {
    std::fs::create_dir_all(dir).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| SmallDisk(dir.to_owned()))
}

struct SmallDisk(std::path::PathBuf);

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system under `dir` to the last byte.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = [0u8; 512];
    while f.write_all(&block).is_ok() {}
    while f.write_all(&[0]).is_ok() {}
    let _ = f.sync_all();
    path
}

#[test]
fn a_full_disk_under_the_store_logs_an_error_acks_nothing_and_recovers() {
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    let disk_dir = d.path().join("disk");
    let Some(_disk) = small_disk(&disk_dir, 2048) else {
        eprintln!("SKIPPED: mounting a tmpfs needs root; run the test suite as root (CI does)");
        return;
    };
    let data = disk_dir.to_str().unwrap();
    let s = ServerHandle::start(d.path(), &["--keepalive", "200ms", "--data-dir", data]);
    let mut c = LineClient::connect(s.addr);
    c.login(&s.password, "full");
    c.expect("100", T);
    c.send("100 t=1#1");
    assert_eq!(c.expect("100", T), "100: keep alive ack=1");
    let filler = fill(&disk_dir);
    // Many pages' worth, so that the write-ahead log must grow.
    let batch: String = (2..=351).map(|seq| format!(" t=1.5#{seq}")).collect();
    c.send(&format!("100{batch}"));
    let e = s.log().wait_for("cannot commit", T);
    assert!(e.contains("ERROR") && e.contains("full"), "{e}");
    // Not stored, so not logged and not acknowledged: the ack stays at 1 while the disk is full.
    for _ in 0..3 {
        assert_eq!(c.expect("100", T), "100: keep alive ack=1");
        c.send("100");
    }
    assert_eq!(s.log().count("reading cid=full"), 1);
    assert_eq!(s.log().count("cannot commit"), 1, "one line for the outage, not one per try");
    std::fs::remove_file(filler).unwrap();
    // The sink still holds the answer and tries again: no resend is needed.
    let acked = wait_until(T, "the ack after space returned", || {
        let l = c.expect("100", T);
        c.send("100");
        l.ends_with("ack=351").then_some(l)
    });
    assert_eq!(acked, "100: keep alive ack=351");
    s.log().wait_for("committing again after", T);
    let sent: Vec<u64> = (1..=351).collect();
    assert_exactly_once("full disk", &sent, &ledger_seqs(&s, "full"), &[]);
    assert_eq!(s.log().wait_count("reading cid=full", 351, T).len(), 351);
}
