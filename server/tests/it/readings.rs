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

/// Answers the next poll with `line`, then reads polls (answering the ones that carry no ack yet,
/// when the poll timer fired while the answer was in flight) until one acknowledges `seq`.
fn answer_until_acked(c: &mut LineClient, line: &str, seq: u64) {
    poll(c);
    c.send(line);
    let want = format!("100: keep alive ack={seq}");
    for _ in 0..5 {
        let p = poll(c);
        if p == want {
            return;
        }
        c.send("100");
    }
    panic!("no {want}");
}

#[test]
fn after_a_kill_9_the_newest_values_and_rollups_are_what_was_acked() {
    use cliser_store::ReadingQuery;
    use std::time::{Duration, SystemTime, UNIX_EPOCH};
    let d = tempfile::tempdir().unwrap();
    let _logs = DumpLogsOnPanic(d.path());
    let mut s = ServerHandle::start(d.path(), &["--keepalive", "200ms"]);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    // Within one hour, so each sensor has one rollup row.
    let t0 = now - now.rem_euclid(3_600_000) + 60_000;
    let (mut c, _) = client(&s, "newest");
    // Sampled out of order: the newest value is the newest by sample time. The server writes the
    // sensors' rows once a second (docs/PERFORMANCE.md): killed right after the last ack, these
    // were probably not written yet, and the restart repairs them from the readings.
    answer_until_acked(&mut c, &format!("100 a=1.5@{t0}#1 b=err:crc@{t0}#2"), 2);
    answer_until_acked(&mut c, &format!("100 a=2.5@{}#3 b=7.25@{}#4", t0 + 2_000, t0 + 1_000), 4);
    answer_until_acked(&mut c, &format!("100 a=0.5@{}#5 b=8@{}#6", t0 + 1_000, t0 + 3_000), 6);
    drop(c);
    s.restart();

    let check = |s: &ServerHandle, a: (f64, u64, usize), b: (f64, u64)| {
        let web = s.http.expect("the test server serves the web page");
        let r = common::http::get(web, "/api/nodes");
        assert_eq!(r.status, 200, "{}", r.text());
        let j: serde_json::Value = r.json();
        let node = j["nodes"].as_array().unwrap().iter().find(|n| n["cid"] == "newest").unwrap().clone();
        let sensors = node["sensors"].as_array().unwrap();
        let got: Vec<(String, f64, u64)> = sensors
            .iter()
            .map(|x| {
                (
                    x["sensor"].as_str().unwrap().to_owned(),
                    x["value"].as_f64().unwrap(),
                    x["seq"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, vec![("a".to_owned(), a.0, a.1), ("b".to_owned(), b.0, b.1)], "{node}");
        let mut store = cliser_store::open(&s.store_url()).unwrap();
        let q = ReadingQuery {
            cid: Some(cliser_protocol::ClientId::new("newest").unwrap()),
            ..Default::default()
        };
        let hours = store.buckets(&q, Duration::from_secs(3600)).unwrap();
        let summary: Vec<String> = hours
            .iter()
            .map(|h| {
                let fixed = |v: Option<cliser_protocol::Celsius>| v.map(|v| v.fixed().to_string());
                format!(
                    "{} n={} errors={} min={:?} max={:?}",
                    h.sensor,
                    h.count,
                    h.errors,
                    fixed(h.min),
                    fixed(h.max)
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                format!("a n={} errors=0 min=Some(\"0.500\") max=Some(\"{:.3}\")", a.2, a.0.max(2.5)),
                "b n=2 errors=1 min=Some(\"7.250\") max=Some(\"8.000\")".to_owned(),
            ]
        );
    };
    check(&s, (2.5, 3, 3), (8.0, 6));

    // The Pi resends what it holds (acked already: dropped by the key) and a new reading.
    let (mut c, l) = client(&s, "newest");
    assert_eq!(l, "140: Connected ack=6 health=1");
    answer_until_acked(&mut c, &format!("100 b=8@{}#6 a=3@{}#7", t0 + 3_000, t0 + 4_000), 7);
    drop(c);
    s.restart();
    check(&s, (3.0, 7, 4), (8.0, 6));
    for (seq, n) in s.stored_seqs("newest") {
        assert_eq!(n, 1, "seq {seq} stored {n} times");
    }
    assert_eq!(s.stored_seqs("newest").len(), 7);
}
