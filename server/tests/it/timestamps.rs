//! Issue 16's timestamps from the server's side, on SQLite and on a private PostgreSQL cluster: a
//! hand-driven client sends one reading of each stamp (`@ms`, `@ms?`, `~age`, none); the store
//! keeps the sample time each stands for and its timestamp quality, and `query` (JSON, CSV, table),
//! `/api/readings` and the log show it.

use crate::common;
use cliser_protocol::ClientId;
use cliser_store::{ReadingQuery, StoredReading, TsQuality};
use cliser_testkit::{wait_until, PgCluster};
use common::http::get;
use common::*;
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CID: &str = "stamps";
/// The `~age` sent: five seconds before the line.
const AGE_MS: i64 = 5_000;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// What [`send_each_stamp`] sent: the two client-clock times, and the wall-clock span from just
/// before the line was sent to when all of it was stored.
struct Sent {
    synced_at: i64,
    unsynced_at: i64,
    before: i64,
    after: i64,
}

/// Logs in as [`CID`] and answers one keep-alive with `t=1@ms#1 t=2@ms?#2 t=3~5000#3 t=4#4`;
/// returns once all four are stored.
fn send_each_stamp(s: &ServerHandle) -> Sent {
    let (mut c, _) = client(s, CID);
    c.expect("100: keep alive", T);
    let now = now_ms();
    let (synced_at, unsynced_at) = (now - 2 * 3_600_000, now - 3_600_000);
    let before = now_ms();
    c.send(&format!("100 t=1@{synced_at}#1 t=2@{unsynced_at}?#2 t=3~{AGE_MS}#3 t=4#4"));
    wait_until(T, "four readings stored", || (s.stored_seqs(CID).len() == 4).then_some(()));
    Sent { synced_at, unsynced_at, before, after: now_ms() }
}

/// Every reading of [`CID`], by seq.
fn stored(url: &str) -> Vec<StoredReading> {
    let mut store = cliser_store::open(url).unwrap_or_else(|e| panic!("open the store: {e}"));
    let q = ReadingQuery { cid: Some(ClientId::new(CID).unwrap()), ..ReadingQuery::default() };
    let mut rows = store.readings(&q).unwrap_or_else(|e| panic!("read the store: {e}"));
    rows.sort_by_key(|r| r.seq);
    rows
}

/// `cliser-server query --store URL ARGS` run to its end, which must succeed: its stdout.
fn query(url: &str, args: &[&str]) -> String {
    let cwd = tempfile::tempdir().unwrap();
    let o = Command::new(cliser_testkit::bin("cliser-server"))
        .current_dir(cwd.path())
        .args(["query", "--store", url, "--cid", CID])
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "query {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// Everything the server shows of the four readings, checked against what was sent.
fn assert_each_stamp_is_kept_and_shown(s: &ServerHandle, sent: &Sent) {
    use TsQuality::*;
    let rows = stored(&s.store_url());
    let got: Vec<(Option<u64>, TsQuality)> = rows.iter().map(|r| (r.seq, r.ts_quality)).collect();
    assert_eq!(got, [(Some(1), Synced), (Some(2), Unsynced), (Some(3), FromAge), (Some(4), FromAge)]);
    // The client's clock is taken as sent, marked or not.
    assert_eq!(rows[0].sampled_ms, sent.synced_at);
    assert_eq!(rows[1].sampled_ms, sent.unsynced_at);
    // Every reading of the line arrived at once, between the send and the store (the server's
    // clock is this machine's).
    let received = rows[0].received_ms;
    assert!(rows.iter().all(|r| r.received_ms == received), "{rows:?}");
    assert!((sent.before..=sent.after).contains(&received), "received {received}: {rows:?}");
    // An age counts back from arrival, to the millisecond; no stamp is the arrival itself.
    assert_eq!(rows[2].sampled_ms, received - AGE_MS);
    assert_eq!(rows[3].sampled_ms, received);
    // So within 1 s of when the test sent it less the age (a loopback delivers in well under that).
    assert!((rows[2].sampled_ms - (sent.before - AGE_MS)).abs() < 1_000, "{rows:?}");

    // `query`, JSON: in sample-time order, each with its quality.
    let url = s.store_url();
    let json: Value = serde_json::from_str(&query(&url, &["--format", "json"])).unwrap();
    let shown: Vec<(u64, &str)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["seq"].as_u64().unwrap(), r["ts_quality"].as_str().unwrap()))
        .collect();
    assert_eq!(shown, [(1, "synced"), (2, "unsynced"), (3, "from_age"), (4, "from_age")], "{json}");
    // CSV: the quality last.
    let csv = query(&url, &["--format", "csv"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "ts,cid,sensor,temp_c,error,seq,ts_quality", "{csv}");
    for (line, (seq, q)) in lines[1..].iter().zip(&shown) {
        assert!(line.ends_with(&format!(",{CID},t,{seq}.000,,{seq},{q}")), "{csv}");
    }
    // The table: a ts_quality column, as some times are not a synchronised client clock.
    let table = query(&url, &[]);
    let cells: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(cells[0], ["time", "cid", "sensor", "value", "seq", "ts_quality"], "{table}");
    assert_eq!(cells[2][3..], ["2.000", "2", "unsynced"], "{table}");
    assert_eq!(cells[3][3..], ["3.000", "3", "from_age"], "{table}");
    // Only the synchronised reading: the table as it always was.
    let old = query(&url, &["--until", &rfc3339(sent.synced_at + 1), "--since", "1d"]);
    let cells: Vec<Vec<&str>> = old.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(cells[0], ["time", "cid", "sensor", "value", "seq"], "{old}");
    assert_eq!(cells.len(), 2, "{old}");

    // The API: a point carries its quality after the error cell, unless it is synced.
    let web = s.http.expect("the test server serves the web page");
    let r = get(web, &format!("/api/readings?cid={CID}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(
        j["series"],
        json!([{
            "sensor": "t", "name": null, "columns": ["ts", "value", "error", "ts_quality"],
            "points": [
                [sent.synced_at, 1.0],
                [sent.unsynced_at, 2.0, null, "unsynced"],
                [received - AGE_MS, 3.0, null, "from_age"],
                [received, 4.0, null, "from_age"],
            ],
        }]),
        "{j}"
    );

    // The log says so only of the unsynchronised clock.
    let log = s.log();
    let line = |seq: u64| log.wait_for(&format!("reading cid={CID} sensor=t temp_c={seq}.000 "), T);
    assert!(line(2).ends_with(" ts_quality=unsynced seq=2"), "{}", line(2));
    for seq in [1, 3, 4] {
        assert!(!line(seq).contains("ts_quality"), "{}", line(seq));
        assert!(line(seq).ends_with(&format!("Z seq={seq}")), "{}", line(seq));
    }
}

/// RFC 3339 with milliseconds, as `query` takes it.
fn rfc3339(ms: i64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms as u64)).to_string()
}

#[test]
fn each_stamp_is_stored_with_its_time_and_quality_in_sqlite() {
    let d = tempfile::tempdir().unwrap();
    let _logs = DumpLogsOnPanic(d.path());
    let s = ServerHandle::start(d.path(), &["--keepalive", "200ms"]);
    let sent = send_each_stamp(&s);
    assert_each_stamp_is_kept_and_shown(&s, &sent);
}

#[test]
fn each_stamp_is_stored_with_its_time_and_quality_in_postgresql() {
    let Some(pg) = PgCluster::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let _logs = DumpLogsOnPanic(d.path());
    let url = pg.url();
    let s = ServerHandle::start(d.path(), &["--store", &url, "--keepalive", "200ms"]);
    let sent = send_each_stamp(&s);
    assert!(s.store_url().starts_with("postgres"), "{}", s.store_url());
    assert_each_stamp_is_kept_and_shown(&s, &sent);
}

/// A stamp that stands for a time outside 1970 to 9999 (an age older than the epoch, a Unix time
/// far past what RFC 3339 writes) is a broken stamp: the reading is dropped with a warning and
/// acked with its line's others; the server, and every other client, carry on. (Such a reading
/// used to reach the log line's time formatting and panic the sink: the server stopped.)
#[test]
fn a_stamp_outside_1970_to_9999_is_dropped_with_a_warning_and_the_server_carries_on() {
    let (_d, s) = server(&["--keepalive", "1s"]);
    let (mut odd, _) = client(&s, "odd");
    let (mut good, _) = client(&s, "good");
    // The answer to the poll `client` took.
    odd.send(&format!("100 t=1~{}#1 t=2@99999999999999999#2 t=3#3", u64::MAX));
    let only_3 = std::collections::BTreeMap::from([(3, 1)]);
    wait_until(T, "the odd client's good reading stored", || (s.stored_seqs("odd") == only_3).then_some(()));
    let warned = s.log().wait_count("dropped a reading of t with a sample time outside 1970 to 9999", 2, T);
    assert!(warned.iter().all(|l| l.contains("WARN") && l.contains("cid=odd")), "{warned:?}");
    // A later poll acks all three: the Pi lets the dropped ones go instead of sending them again.
    wait_until(T, "a poll that acks seq 3", || {
        let poll = odd.expect("100: keep alive", T);
        odd.send("100");
        poll.ends_with("ack=3").then_some(())
    });
    good.send("100 t=4#1");
    let only_1 = std::collections::BTreeMap::from([(1, 1)]);
    wait_until(T, "the other client's reading stored", || (s.stored_seqs("good") == only_1).then_some(()));
    assert!(s.log().lines_with("panicked").is_empty(), "{}", s.log().text());
}
