//! Readings: the exact log line, ack only after flush, dedupe, gaps, and dedupe across a restart.

use crate::common;
use common::*;

fn poll(c: &mut LineClient) -> String {
    c.expect("100: keep alive", T)
}

#[test]
fn each_reading_is_logged_with_the_exact_line() {
    let (_d, s) = server(&["--keepalive", "200ms"]);
    let (mut c, _) = client(&s, "pi-1");
    poll(&mut c);
    c.send("100 28-0316a2795aff=23.125@1763800000123#42 28-0316a2795aff=err:crc@1763800010123#43 t=-10.5");
    let ok = s.log().wait_for("reading cid=pi-1 sensor=28-0316a2795aff temp_c=", T);
    assert!(ok.contains(" INFO "), "{ok}");
    assert!(ok.ends_with(
        "reading cid=pi-1 sensor=28-0316a2795aff temp_c=23.125 ts=2025-11-22T08:26:40.123Z seq=42"
    ));
    let err = s.log().wait_for("error=crc", T);
    assert!(err.contains(" WARN "), "{err}");
    assert!(
        err.ends_with("reading cid=pi-1 sensor=28-0316a2795aff error=crc ts=2025-11-22T08:26:50.123Z seq=43")
    );
    let bare = s.log().wait_for("sensor=t temp_c=-10.500", T);
    assert!(bare.ends_with(" seq=-") && bare.contains(" ts=20"), "{bare}");
}

#[test]
fn the_ack_comes_only_after_the_reading_is_in_the_log_and_the_store() {
    let d = tempfile::tempdir().unwrap();
    let s = ServerHandle::start(d.path(), &["--keepalive", "200ms"]);
    let (mut c, l) = client(&s, "acker");
    assert_eq!(l, "140: Connected health=1");
    poll(&mut c);
    c.send("100 t=20.5#1 t=21#2 t=21.5#3");
    let mut acked = poll(&mut c);
    if !acked.contains("ack=") {
        // The poll timer fired while the answer was in flight; the next poll carries the ack.
        c.send("100");
        acked = poll(&mut c);
    }
    assert_eq!(acked, "100: keep alive ack=3");
    // Already there when the ack arrived: nothing to wait for.
    let text = export_csv(&s);
    assert!(text.lines().any(|l| l.starts_with("20") && l.ends_with(",acker,t,21.500,,3")), "{text}");
    // The sink publishes the ack before it logs: the lines may trail the ack a moment.
    assert_eq!(s.log().wait_count("reading cid=acker", 3, T).len(), 3);
}

#[test]
fn a_resent_reading_is_logged_once() {
    let (_d, s) = server(&["--keepalive", "200ms"]);
    let (mut c, _) = client(&s, "again");
    poll(&mut c);
    c.send("100 t=1#1 t=2#2");
    assert_eq!(poll(&mut c), "100: keep alive ack=2");
    c.send("100 t=1#1 t=2#2 t=3#3");
    assert_eq!(poll(&mut c), "100: keep alive ack=3");
    // The lines trail the ack a moment (the sink publishes first); seq 3 is the last of them.
    s.log().wait_for("reading cid=again sensor=t temp_c=3.000 ", T);
    for seq in 1..=3 {
        assert_eq!(s.log().count(&format!("reading cid=again sensor=t temp_c={seq}.000 ")), 1, "seq {seq}");
    }
}

#[test]
fn a_jump_in_seq_is_warned_with_the_number_missing() {
    let (_d, s) = server(&["--keepalive", "200ms"]);
    let (mut c, _) = client(&s, "gappy");
    poll(&mut c);
    c.send("100 t=1#41 t=1#45");
    let w = s.log().wait_for("readings missing", T);
    assert!(w.contains("cid=gappy: 3 readings missing (seq 42 to 44)"), "{w}");
}

#[test]
fn malformed_tokens_are_warned_and_the_valid_readings_kept() {
    let (_d, s) = server(&["--keepalive", "200ms"]);
    let (mut c, _) = client(&s, "sloppy");
    poll(&mut c);
    c.send("100 a=1#1 junk b=5000#2 c=err:x.y#3 d=4#4");
    s.log().wait_for("sensor=d temp_c=4.000", T);
    assert_eq!(s.log().count("reading cid=sloppy"), 2);
    let warned = s.log().lines_with("ignoring malformed token");
    assert_eq!(warned.len(), 3, "{warned:?}");
    assert!(warned[0].contains("\"junk\"") && warned[1].contains("\"b=5000#2\""));
    // A line that is no answer at all is warned and ignored; the session goes on.
    c.send("hello there");
    s.log().wait_for("not an answer", T);
    poll(&mut c);
}

#[test]
fn after_a_kill_9_the_default_store_restores_the_ack_and_dedupe() {
    let d = tempfile::tempdir().unwrap();
    // No store flag at all: the default SQLite file in the data dir.
    let mut s = ServerHandle::start(d.path(), &["--keepalive", "200ms"]);
    let (mut c, _) = client(&s, "durable");
    poll(&mut c);
    c.send("100 t=1#1 t=2#2 t=3#3");
    assert_eq!(poll(&mut c), "100: keep alive ack=3");
    s.restart();
    let (mut c, l) = client(&s, "durable");
    assert_eq!(l, "140: Connected ack=3 health=1");
    poll(&mut c);
    c.send("100 t=2#2 t=3#3 t=4#4");
    assert_eq!(poll(&mut c), "100: keep alive ack=4");
    let text = export_csv(&s);
    for seq in 1..=4 {
        let n = text.lines().filter(|l| l.ends_with(&format!(",durable,t,{seq}.000,,{seq}"))).count();
        assert_eq!(n, 1, "seq {seq} in\n{text}");
    }
}

/// `cliser-server export --format csv` of the server's store: what an operator would run.
fn export_csv(s: &ServerHandle) -> String {
    let out = std::process::Command::new(cliser_testkit::bin("cliser-server"))
        .args(["export", "--format", "csv", "--store", &s.store_url()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("ts,cid,sensor,temp_c,error,seq\n"), "{text}");
    text
}
