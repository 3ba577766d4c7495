//! The web side's API against the real server, with hand-driven Pis logging in, sending readings and
//! leaving: `/api/nodes`, `/api/readings` (raw points, buckets, every refusal), `/api/events` and
//! `/metrics`.

use crate::common;
use cliser_protocol::{ClientId, Reading};
use cliser_store::NewReading;
use cliser_testkit::wait_until;
use common::http::{get, Events, Reply};
use common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const S1: &str = "28-000000000001";
const S2: &str = "28-000000000002";
/// Fast polls, and a Pi the test leaves unanswered for a while is not declared dead meanwhile.
const FAST: [&str; 4] = ["--keepalive", "200ms", "--dead-after", "100"];

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn rfc3339(ms: i64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms as u64)).to_string()
}

fn web(s: &ServerHandle) -> SocketAddr {
    s.http.expect("the test server serves the web page")
}

/// A Pi logged in over a connection of the test's own, so its address is known.
fn pi(s: &ServerHandle, id: &str) -> (LineClient, SocketAddr) {
    let stream = TcpStream::connect(s.addr).unwrap();
    let local = stream.local_addr().unwrap();
    let mut c = LineClient::from_stream(stream);
    c.login(&s.password, id);
    (c, local)
}

/// Answers the next keep-alive with `readings` (wire form, space separated).
fn answer(c: &mut LineClient, readings: &str) {
    c.expect("100", T);
    c.send(format!("100 {readings}").trim_end());
}

/// A `GET` that must answer 200 with JSON.
fn api(s: &ServerHandle, target: &str) -> Value {
    let r = get(web(s), target);
    assert_eq!(r.status, 200, "{target}: {}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/json"), "{target}");
    r.json()
}

fn node<'a>(nodes: &'a Value, cid: &str) -> Option<&'a Value> {
    nodes["nodes"].as_array()?.iter().find(|n| n["cid"] == cid)
}

fn sensor_count(nodes: &Value, cid: &str) -> usize {
    node(nodes, cid).and_then(|n| n["sensors"].as_array()).map_or(0, Vec::len)
}

/// A reading for the store, from its wire form (`sensor=value`).
fn stored(cid: &str, token: &str, sampled_ms: i64, seq: u64) -> NewReading {
    let r = Reading::parse(token).unwrap();
    NewReading {
        cid: ClientId::new(cid).unwrap(),
        sensor: r.sensor,
        value: r.value,
        sampled_ms,
        received_ms: sampled_ms,
        seq: Some(seq),
        ts_quality: cliser_store::TsQuality::Synced,
    }
}

/// Commits `readings` to the running server's store through a connection of the test's own (as
/// another server sharing the database, or `cliser-server import-csv`, would).
fn seed(s: &ServerHandle, readings: &[NewReading]) {
    let mut store = cliser_store::open(&s.store_url()).unwrap();
    let stored = store.commit(readings).unwrap();
    assert!(stored.iter().all(|&new| new), "seeded readings were already stored");
}

fn points(j: &Value) -> usize {
    j["series"].as_array().unwrap().iter().map(|s| s["points"].as_array().unwrap().len()).sum()
}

#[test]
fn nodes_show_each_registered_client_with_its_sensors_and_one_that_left_as_offline() {
    let (d, s) = server(&FAST);
    let _logs = DumpLogsOnPanic(d.path());
    let before = now_ms();
    let (mut a, a_addr) = pi(&s, "pi-a");
    let (mut b, b_addr) = pi(&s, "pi-b");
    let registered = now_ms();
    answer(&mut a, &format!("{S1}=21.5#1 {S2}=-3.25#2"));
    answer(&mut b, &format!("{S1}=19.125#1"));
    let j = wait_until(T, "both nodes with their sensors", || {
        let j = api(&s, "/api/nodes");
        (sensor_count(&j, "pi-a") == 2 && sensor_count(&j, "pi-b") == 1).then_some(j)
    });
    let answered = now_ms();
    assert_eq!(j["keepalive_ms"], 200);
    assert!(j["now"].as_i64().unwrap() >= answered - 1000, "{j}");
    assert_eq!(j["nodes"].as_array().unwrap().len(), 2, "{j}");
    for (cid, addr, values) in
        [("pi-a", a_addr, vec![(S1, 21.5, 1), (S2, -3.25, 2)]), ("pi-b", b_addr, vec![(S1, 19.125, 1)])]
    {
        let n = node(&j, cid).unwrap();
        assert_eq!(n["online"], true, "{n}");
        assert_eq!(n["addr"], addr.to_string(), "{n}");
        let since = n["since"].as_i64().unwrap();
        assert!((before..=registered).contains(&since), "{cid} since {since} not in {before}..={registered}");
        let last_seen = n["last_seen"].as_i64().unwrap();
        assert!((since..=answered).contains(&last_seen), "{cid} last_seen {last_seen}, since {since}");
        assert_eq!(n["more_at"], Value::Null);
        let sensors = n["sensors"].as_array().unwrap();
        assert_eq!(sensors.len(), values.len(), "{n}");
        for (got, (sensor, value, seq)) in sensors.iter().zip(values) {
            assert_eq!(got["sensor"], sensor, "{got}");
            assert_eq!(got["value"], json!(value), "{got}");
            assert_eq!(got["error"], Value::Null, "{got}");
            assert_eq!(got["seq"], seq, "{got}");
            // Sent without a time: stamped when the server received it.
            let ts = got["ts"].as_i64().unwrap();
            assert!((registered..=answered).contains(&ts), "{got}");
            assert_eq!(got["last_temp"], json!({"ts": ts, "value": value}));
        }
    }

    drop(b);
    let j = wait_until(T, "pi-b offline", || {
        let j = api(&s, "/api/nodes");
        (node(&j, "pi-b")?["online"] == false).then_some(j)
    });
    assert_eq!(node(&j, "pi-a").unwrap()["online"], true, "{j}");
    let gone = node(&j, "pi-b").unwrap();
    // What it last was stays on the page.
    assert_eq!(gone["addr"], b_addr.to_string(), "{gone}");
    assert_eq!(gone["sensors"][0]["value"], json!(19.125), "{gone}");
    assert!(gone["last_seen"].as_i64().unwrap() >= gone["since"].as_i64().unwrap(), "{gone}");
    drop(a);
}

#[test]
fn after_a_restart_nodes_show_what_the_store_knows_as_offline() {
    let (d, mut s) = server(&FAST);
    let _logs = DumpLogsOnPanic(d.path());
    let (mut c, _) = pi(&s, "pi-kept");
    let sampled = now_ms() - 1_000;
    answer(&mut c, &format!("{S1}=err:crc@{sampled}#1 {S2}=18.5@{sampled}#2"));
    wait_until(T, "both readings stored", || (s.stored_seqs("pi-kept").len() == 2).then_some(()));
    drop(c);
    s.restart();
    let j = api(&s, "/api/nodes");
    let n = node(&j, "pi-kept").unwrap_or_else(|| panic!("{j}"));
    assert_eq!(n["online"], false, "{n}");
    assert!(n["last_seen"].as_i64().unwrap() >= sampled, "{n}");
    let sensors = &n["sensors"];
    let mut first = sensors[0].clone();
    let first_seen = first.as_object_mut().unwrap().remove("first_seen").unwrap();
    assert!(first_seen.as_i64().unwrap() >= sampled, "received after it was sampled: {n}");
    assert_eq!(n["first_seen"], first_seen, "{n}");
    assert_eq!(
        first,
        json!({"sensor": S1, "name": null, "ts": sampled, "value": null, "raw": null, "error": "crc", "seq": 1, "last_temp": null, "min": null, "max": null})
    );
    assert_eq!(sensors[1]["value"], json!(18.5), "{n}");
    assert_eq!(sensors[1]["last_temp"], json!({"ts": sampled, "value": 18.5}), "{n}");
}

#[test]
fn readings_are_raw_points_per_sensor_filtered_by_sensor_and_time() {
    let (d, s) = server(&FAST);
    let _logs = DumpLogsOnPanic(d.path());
    let (mut c, _) = pi(&s, "pi-r");
    let now = now_ms();
    let (t1, t2, t3) = (now - 90_000, now - 60_000, now - 30_000);
    answer(&mut c, &format!("{S1}=21.5@{t1}#1 {S1}=22@{t2}#2 {S2}=err:crc@{t2}#3 {S1}=22.625@{t3}#4"));
    let j = wait_until(T, "four readings", || {
        let j = api(&s, "/api/readings?cid=pi-r");
        (points(&j) == 4).then_some(j)
    });
    let asked = now_ms();
    assert_eq!(j["cid"], "pi-r");
    assert_eq!(j["kind"], "raw");
    assert_eq!((&j["every"], &j["every_ms"]), (&Value::Null, &Value::Null));
    assert!(j.get("bucketed").is_none(), "{j}");
    // The default range: the last 24 hours.
    let until = j["until"].as_i64().unwrap();
    assert!((now..=asked).contains(&until), "{j}");
    assert_eq!(until - j["since"].as_i64().unwrap(), 86_400_000);
    let s1 = json!({"sensor": S1, "name": null, "columns": ["ts", "value", "error", "ts_quality"],
                    "points": [[t1, 21.5], [t2, 22.0], [t3, 22.625]]});
    let s2 = json!({"sensor": S2, "name": null, "columns": ["ts", "value", "error", "ts_quality"], "points": [[t2, null, "crc"]]});
    assert_eq!(j["series"], json!([s1, s2]));

    let j = api(&s, &format!("/api/readings?cid=pi-r&sensor={S1}"));
    assert_eq!(j["series"], json!([s1]));
    // An RFC 3339 range: since is in it, until is not.
    let j = api(&s, &format!("/api/readings?cid=pi-r&since={}&until={}", rfc3339(t2), rfc3339(t3)));
    assert_eq!((j["since"].as_i64(), j["until"].as_i64()), (Some(t2), Some(t3)));
    let at_t2 = |sensor: &str, point: Value| json!({"sensor": sensor, "name": null, "columns": ["ts", "value", "error", "ts_quality"], "points": [point]});
    assert_eq!(j["series"], json!([at_t2(S1, json!([t2, 22.0])), at_t2(S2, json!([t2, null, "crc"]))]));
    // Durations ago (and an empty sensor is every sensor).
    let j = api(&s, "/api/readings?cid=pi-r&sensor=&since=2m&until=45s");
    assert_eq!(points(&j), 3, "{j}");
    // A client that never sent anything has no series.
    assert_eq!(api(&s, "/api/readings?cid=nobody")["series"], json!([]));
}

#[test]
fn every_gives_buckets_of_min_mean_max_and_count() {
    let (d, s) = server(&FAST);
    let _logs = DumpLogsOnPanic(d.path());
    // Buckets are aligned on multiples of their length since the epoch: b0 starts one of 10 and
    // one of 30 minutes.
    let b0 = (now_ms() - 3 * 3_600_000) / 1_800_000 * 1_800_000;
    let m = 60_000;
    seed(
        &s,
        &[
            stored("seeded", &format!("{S1}=20"), b0, 1),
            stored("seeded", &format!("{S1}=23"), b0 + m, 2),
            stored("seeded", &format!("{S1}=21"), b0 + 9 * m, 3),
            stored("seeded", &format!("{S1}=10.5"), b0 + 10 * m, 4),
            stored("seeded", &format!("{S1}=err:crc"), b0 + 15 * m, 5),
            stored("seeded", &format!("{S1}=err:missing"), b0 + 25 * m, 6),
            stored("seeded", &format!("{S2}=5"), b0 + 5 * m, 7),
            // Past the range asked for.
            stored("seeded", &format!("{S1}=99"), b0 + 30 * m, 8),
        ],
    );
    let range = format!("since={}&until={}", rfc3339(b0), rfc3339(b0 + 30 * m));
    let j = api(&s, &format!("/api/readings?cid=seeded&sensor={S1}&{range}&every=10m"));
    assert_eq!(j["kind"], "buckets", "{j}");
    assert_eq!((&j["every"], &j["every_ms"]), (&json!("10m"), &json!(600_000)));
    // Asked for: not the automatic note.
    assert!(j.get("bucketed").is_none(), "{j}");
    let expected = json!([{
        "sensor": S1,
        "name": null,
        "columns": ["start", "min", "mean", "max", "count", "errors"],
        "points": [
            [b0, 20.0, 21.333, 23.0, 3, 0],
            [b0 + 10 * m, 10.5, 10.5, 10.5, 1, 1],
            [b0 + 20 * m, null, null, null, 0, 1],
        ],
    }]);
    assert_eq!(j["series"], expected);
    // Every sensor: one series each.
    let j = api(&s, &format!("/api/readings?cid=seeded&{range}&every=30m"));
    let sensors: Vec<&str> =
        j["series"].as_array().unwrap().iter().map(|s| s["sensor"].as_str().unwrap()).collect();
    assert_eq!(sensors, [S1, S2]);
    assert_eq!(j["series"][1]["points"], json!([[b0, 5.0, 5.0, 5.0, 1, 0]]));
}

#[test]
fn more_than_ten_thousand_readings_in_the_range_come_as_automatic_buckets() {
    let (d, s) = server(&FAST);
    let _logs = DumpLogsOnPanic(d.path());
    // 10,050 readings, one every 8 s over the last 22 hours and a half.
    let (n, step) = (10_050i64, 8_000);
    let first = now_ms() - 23 * 3_600_000;
    let readings: Vec<NewReading> = (0..n)
        .map(|i| stored("busy", &format!("{S1}=20.{}", i % 10), first + i * step, i as u64 + 1))
        .collect();
    seed(&s, &readings);

    let j = api(&s, "/api/readings?cid=busy");
    assert_eq!(j["kind"], "buckets", "{}", &j.to_string()[..200]);
    assert!(j["bucketed"].as_str().unwrap().contains("10000"), "{}", j["bucketed"]);
    // A day in about a thousand buckets: 5 minutes each.
    assert_eq!((&j["every"], &j["every_ms"]), (&json!("5m"), &json!(300_000)));
    let buckets = j["series"][0]["points"].as_array().unwrap();
    let total: i64 = buckets.iter().map(|b| b[4].as_i64().unwrap()).sum();
    assert_eq!(total, n, "every reading in exactly one bucket");
    for b in buckets {
        assert_eq!(b[0].as_i64().unwrap() % 300_000, 0, "{b}");
        let (min, mean, max) = (b[1].as_f64().unwrap(), b[2].as_f64().unwrap(), b[3].as_f64().unwrap());
        assert!(20.0 <= min && min <= mean && mean <= max && max <= 20.9, "{b}");
    }
    assert!(buckets.len() <= 1000 && buckets.len() >= 260, "{} buckets", buckets.len());

    // Exactly the limit in the range stays raw; one more is bucketed.
    let j = api(&s, &format!("/api/readings?cid=busy&since={}", rfc3339(first + 50 * step)));
    assert_eq!((&j["kind"], points(&j)), (&json!("raw"), 10_000));
    let j = api(&s, &format!("/api/readings?cid=busy&since={}", rfc3339(first + 49 * step)));
    assert_eq!(j["kind"], "buckets", "10,001 readings");
}

/// Asserts a `400` whose JSON names `parameter`.
fn assert_refused(r: &Reply, query: &str, parameter: &str) {
    assert_eq!(r.status, 400, "{query}: {}", r.text());
    assert_eq!(r.header("Content-Type"), Some("application/json"), "{query}");
    let j = r.json();
    assert_eq!(j["parameter"], parameter, "{query}: {j}");
    assert!(!j["error"].as_str().unwrap().is_empty(), "{query}: {j}");
}

#[test]
fn every_bad_readings_request_is_a_400_naming_its_parameter() {
    let (d, s) = server(&FAST);
    let _logs = DumpLogsOnPanic(d.path());
    let long_id = "x".repeat(33);
    let cases = [
        ("", "cid"),
        ("sensor=t", "cid"),
        ("cid=", "cid"),
        ("cid=a%20b", "cid"),
        (&format!("cid={long_id}")[..], "cid"),
        ("cid=pi&sensor=a%3Db", "sensor"),
        ("cid=pi&sensor=%C3%A9", "sensor"),
        ("cid=pi&since=soon", "since"),
        ("cid=pi&since=2026-13-01T00:00:00Z", "since"),
        ("cid=pi&until=never", "until"),
        ("cid=pi&since=1h&until=2h", "since"),
        ("cid=pi&since=2026-01-01T00:00:00Z&until=2026-01-01T00:00:00Z", "since"),
        ("cid=pi&every=fast", "every"),
        ("cid=pi&every=-1s", "every"),
        ("cid=pi&every=500ms", "every"),
        ("cid=pi&every=0s", "every"),
        ("cid=pi&since=30d&every=1s", "every"),
        ("cid=pi&colour=red", "colour"),
        ("cid=pi&Cid=pj", "Cid"),
        ("cid=pi&cid=pi", "cid"),
        ("cid=pi&since=2h&since=1h", "since"),
        ("cid=pi&every=1m&every=1m", "every"),
        ("cid=%zz", "cid"),
        ("cid=pi&since=%4", "since"),
        ("cid=pi&sensor=%ff", "sensor"),
        ("cid=pi&%zz=1", "%zz"),
    ];
    for (query, parameter) in cases {
        let r = get(web(&s), &format!("/api/readings?{query}"));
        assert_refused(&r, query, parameter);
    }
    // The same parameters well formed are fine (for a sensor the store knows: its one reading is
    // before the range; an unknown one is a 404, tests/sensor_names.rs).
    seed(&s, &[stored("pi", &format!("{S1}=20"), now_ms() - 3 * 3_600_000, 1)]);
    let j = api(&s, &format!("/api/readings?cid=pi&sensor={S1}&since=2h&until=1h&every=1m"));
    assert_eq!(j["kind"], "buckets");
}

#[test]
fn events_start_with_a_snapshot_then_bring_readings_and_nodes_going_offline() {
    let (d, s) = server(&FAST);
    let _logs = DumpLogsOnPanic(d.path());
    let mut ev = Events::open(web(&s), None);
    let (name, snapshot) = ev.next(T);
    assert_eq!(name, "snapshot");
    assert_eq!(snapshot["nodes"], json!([]), "{snapshot}");
    assert_eq!(snapshot["keepalive_ms"], 200);

    let (mut c, addr) = pi(&s, "pi-e");
    let up = ev.until("nodes", T, |nodes| nodes.as_array()?.iter().find(|n| n["cid"] == "pi-e").cloned());
    assert_eq!(up["online"], true, "{up}");
    assert_eq!(up["addr"], addr.to_string(), "{up}");
    // A change of state, not the node's sensors.
    assert!(up.get("sensors").is_none(), "{up}");

    let sampled = now_ms() - 5_000;
    answer(&mut c, &format!("{S1}=22.75@{sampled}#1 {S2}=err:reset@{sampled}#2"));
    let readings = ev.until("readings", T, |r| (r.as_array()?.len() >= 2).then(|| r.clone()));
    assert_eq!(
        readings,
        json!([
            {"cid": "pi-e", "sensor": S1, "name": null, "ts": sampled, "value": 22.75, "raw": 22.75, "error": null, "seq": 1},
            {"cid": "pi-e", "sensor": S2, "name": null, "ts": sampled, "value": null, "raw": null, "error": "reset", "seq": 2},
        ])
    );

    // A viewer that comes later gets it all in its snapshot.
    let mut late = Events::open(web(&s), None);
    let (name, snapshot) = late.next(T);
    assert_eq!(name, "snapshot");
    let n = node(&snapshot, "pi-e").unwrap();
    assert_eq!((n["online"].clone(), n["sensors"][0]["value"].clone()), (json!(true), json!(22.75)));
    assert_eq!(n["sensors"][1]["error"], "reset");

    drop(c);
    for stream in [&mut ev, &mut late] {
        let down = stream.until("nodes", T, |nodes| {
            nodes.as_array()?.iter().find(|n| n["cid"] == "pi-e" && n["online"] == false).cloned()
        });
        assert_eq!(down["addr"], addr.to_string(), "{down}");
    }
}

#[test]
fn events_carry_a_burst_of_readings_in_at_most_one_message_a_quarter_second() {
    let (d, s) = server(&FAST);
    let _logs = DumpLogsOnPanic(d.path());
    let mut ev = Events::open(web(&s), None);
    assert_eq!(ev.next(T).0, "snapshot");
    let (mut c, _) = pi(&s, "pi-fast");
    const N: usize = 60;
    // With `more` the server polls again as soon as a reading is stored: a burst.
    let pi = std::thread::spawn(move || {
        for seq in 1..=N {
            let more = if seq < N { " more" } else { "" };
            answer(&mut c, &format!("{S1}=20.5#{seq}{more}"));
        }
        c
    });
    let (mut readings, mut messages) = (Vec::new(), BTreeMap::<String, Vec<Instant>>::new());
    while readings.len() < N {
        let (name, data) = ev.next(T);
        messages.entry(name.clone()).or_default().push(Instant::now());
        if name == "readings" {
            readings.extend(data.as_array().unwrap().iter().map(|r| r["seq"].as_u64().unwrap()));
        }
    }
    assert_eq!(readings, (1..=N as u64).collect::<Vec<_>>(), "each reading once, in order");
    for (name, times) in &messages {
        let span = *times.last().unwrap() - times[0];
        // One per 250 ms tick, and one more for a tick that a late read makes look short.
        let most = (span.as_millis() / 250) as usize + 2;
        assert!(times.len() <= most, "{} {name} messages in {span:?}", times.len());
    }
    eprintln!("{N} readings in {} messages", messages["readings"].len());
    drop(pi.join().unwrap());
}

/// The value of the sample `series` (name and labels exactly as exposed).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn metrics_count_readings_errors_duplicates_gaps_commits_and_failed_logins() {
    let (d, s) = server(&FAST);
    let _logs = DumpLogsOnPanic(d.path());
    let mut wrong = LineClient::connect(s.addr);
    wrong.expect("110", T);
    wrong.send("not-the-password");
    wrong.expect("111", T);
    wrong.expect_closed(T);

    let (mut c, _) = pi(&s, "pi-m");
    answer(&mut c, &format!("{S1}=21.5#1 {S2}=err:crc#2"));
    wait_until(T, "seq 2 acked", || {
        let l = c.recv(T).unwrap();
        (l == "100: keep alive ack=2").then_some(())
    });
    // A resend of what is stored, then a gap: 3 and 4 never come.
    c.send(&format!("100 {S2}=err:crc#2"));
    answer(&mut c, &format!("{S1}=22.25#5"));
    let metrics = || {
        let r = get(web(&s), "/metrics");
        assert_eq!(r.status, 200);
        assert!(r.header("Content-Type").unwrap().starts_with("text/plain; version=0.0.4"), "{r:?}");
        r.text()
    };
    let labels = |sensor: &str| format!("{{cid=\"pi-m\",sensor=\"{sensor}\",name=\"\"}}");
    let expect = [
        ("cliser_readings_total".to_owned(), 3.0),
        (format!("cliser_reading_errors_total{{cid=\"pi-m\",sensor=\"{S2}\",reason=\"crc\"}}"), 1.0),
        ("cliser_duplicates_total".to_owned(), 1.0),
        ("cliser_seq_gaps_total".to_owned(), 1.0),
        (format!("cliser_temperature_celsius{}", labels(S1)), 22.25),
        ("cliser_node_up{cid=\"pi-m\"}".to_owned(), 1.0),
        ("cliser_sessions".to_owned(), 1.0),
        ("cliser_auth_failures_total".to_owned(), 1.0),
        ("cliser_store_commit_failures_total".to_owned(), 0.0),
        ("cliser_web_viewers".to_owned(), 0.0),
    ];
    // The counters are raised by the live thread as the server's events reach it: wait for all.
    let deadline = Instant::now() + T;
    let text = loop {
        let text = metrics();
        if expect.iter().all(|(series, value)| sample(&text, series) == Some(*value))
            || Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    for (series, value) in &expect {
        assert_eq!(sample(&text, series), Some(*value), "{series} in\n{text}");
    }
    for help in text.lines().filter(|l| l.starts_with("# HELP ")) {
        assert!(!help.ends_with(".."), "{help}");
    }
    for family in ["readings", "reading_errors", "duplicates", "seq_gaps", "auth_failures"] {
        assert!(text.contains(&format!("# TYPE cliser_{family}_total counter\n")), "{family} in\n{text}");
    }
    // Only errors so far: no temperature for the second sensor.
    assert_eq!(sample(&text, &format!("cliser_temperature_celsius{}", labels(S2))), None, "{text}");
    let stamp = sample(&text, &format!("cliser_reading_timestamp_seconds{}", labels(S1))).unwrap();
    assert!((stamp - now_ms() as f64 / 1000.0).abs() < 60.0, "{stamp}");
    // Every group the sink handled is timed: at least the two that stored readings.
    assert!(text.contains("# TYPE cliser_store_commit_seconds histogram\n"), "{text}");
    let commits = sample(&text, "cliser_store_commit_seconds_count").unwrap();
    assert!(commits >= 2.0, "{commits} commits");
    assert_eq!(sample(&text, "cliser_store_commit_seconds_bucket{le=\"+Inf\"}"), Some(commits));
    let sum = sample(&text, "cliser_store_commit_seconds_sum").unwrap();
    assert!(sum > 0.0 && sum < commits * 5.0, "{sum} s over {commits} commits");
    let buckets: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("cliser_store_commit_seconds_bucket{"))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(buckets.len() > 5 && buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");

    drop(c);
    wait_until(T, "pi-m down", || {
        let text = metrics();
        (sample(&text, "cliser_node_up{cid=\"pi-m\"}") == Some(0.0)
            && sample(&text, "cliser_sessions") == Some(0.0))
        .then_some(())
    });
}
