//! The page's admin actions against the real server: what the guard refuses changes nothing (no
//! password, a wrong one, another site's Origin, a body that is not JSON), silences are made,
//! listed and ended, an alert is acknowledged, forgetting a node or a sensor takes it off the API,
//! the metrics and the page at once and lasts across a restart, the alert history is read with its
//! filters, and readings download as CSV. Also the HTTP limits of a POST.

use crate::alert_kit;
use crate::common;
use alert_kit::{now_ms, Pi, R};
use cliser_testkit::wait_until;
use common::http::{basic, get, get_as, Conn, Events, Reply};
use common::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

const S1: &str = "28-000000000001";
const S2: &str = "28-000000000002";
/// Forgetting shows within this (the issue's figure).
const FORGET_SHOWS: Duration = Duration::from_secs(2);

fn web(s: &ServerHandle) -> SocketAddr {
    s.http.expect("the test server serves the web page")
}

/// A server with the fast keep-alive of the alerts tests, the config file `config`, and `extra`.
fn fast_server(config: &str, extra: &[&str]) -> (tempfile::TempDir, ServerHandle) {
    let dir = tempfile::tempdir().unwrap();
    let s = alert_kit::start(dir.path(), config, extra);
    (dir, s)
}

/// A `POST` of `body` to `path` with `headers` (whole lines, `\r\n` each) and nothing else.
fn post_raw(http: SocketAddr, path: &str, body: &str, headers: &str) -> Reply {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {http}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut c = Conn::open(http);
    c.send(request.as_bytes());
    c.reply(false).unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// A `POST` as the page sends it: JSON, from the server's own origin, with the admin password
/// when given.
fn post(http: SocketAddr, path: &str, body: &Value, password: Option<&str>) -> Reply {
    let auth = password.map(|p| format!("Authorization: {}\r\n", basic(p))).unwrap_or_default();
    let headers = format!("{auth}Origin: http://{http}\r\nContent-Type: application/json\r\n");
    post_raw(http, path, &body.to_string(), &headers)
}

/// A `POST` that must answer `status` with JSON; its body.
fn post_ok(http: SocketAddr, path: &str, body: Value, status: u16) -> Value {
    let r = post(http, path, &body, None);
    assert_eq!(r.status, status, "POST {path} {body}: {}", r.text());
    assert_eq!(r.header("Cache-Control"), Some("no-store"), "POST {path}");
    r.json()
}

/// The field a `400` names.
fn refused_field(http: SocketAddr, path: &str, body: &str) -> String {
    let r = post_raw(http, path, body, "Content-Type: application/json\r\n");
    assert_eq!(r.status, 400, "POST {path} {body}: {}", r.text());
    r.json()["parameter"].as_str().unwrap_or_else(|| panic!("no parameter: {}", r.text())).to_owned()
}

fn api(http: SocketAddr, target: &str, password: Option<&str>) -> Value {
    let r = get_as(http, target, password);
    assert_eq!(r.status, 200, "{target}: {}", r.text());
    assert_eq!(r.header("Cache-Control"), Some("no-store"), "{target}");
    r.json()
}

fn silences(http: SocketAddr, password: Option<&str>) -> Vec<Value> {
    api(http, "/api/silences", password)["silences"].as_array().unwrap().clone()
}

fn auth_failures(http: SocketAddr, admin: &str) -> f64 {
    let text = get_as(http, "/metrics", Some(admin)).text();
    text.lines().find_map(|l| l.strip_prefix("cliser_auth_failures_total ")?.parse().ok()).unwrap()
}

fn node<'a>(nodes: &'a Value, cid: &str) -> Option<&'a Value> {
    nodes["nodes"].as_array()?.iter().find(|n| n["cid"] == cid)
}

fn sensors_of(nodes: &Value, cid: &str) -> Vec<String> {
    node(nodes, cid)
        .and_then(|n| n["sensors"].as_array())
        .map(|s| s.iter().map(|s| s["sensor"].as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[test]
fn a_post_the_guard_refuses_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let _logs = DumpLogsOnPanic(dir.path());
    let admin = cliser_testkit::free_password();
    let file = dir.path().join("admin-password");
    std::fs::write(&file, format!("{admin}\n")).unwrap();
    let s = ServerHandle::start(dir.path(), &["--admin-password-file", file.to_str().unwrap()]);
    let http = web(&s);
    let silence = json!({"cid": "pi-x", "duration": "2h", "comment": "defrost"}).to_string();
    let own = format!("Origin: http://{http}\r\nContent-Type: application/json\r\n");
    let good = format!("Authorization: {}\r\n", basic(&admin));
    let wrong = format!("Authorization: {}\r\n", basic("guess"));
    let failures = auth_failures(http, &admin);

    let r = post_raw(http, "/api/silences", &silence, &own);
    assert_eq!(r.status, 401, "without the password: {}", r.text());
    assert!(r.header("WWW-Authenticate").unwrap().starts_with("Basic realm="));
    assert_eq!(auth_failures(http, &admin), failures, "a request without a password is no failed login");
    assert!(silences(http, Some(&admin)).is_empty());

    let r = post_raw(http, "/api/silences", &silence, &format!("{wrong}{own}"));
    assert_eq!(r.status, 401, "a wrong password: {}", r.text());
    assert_eq!(auth_failures(http, &admin), failures + 1.0, "a wrong password counts in the brake");
    assert!(silences(http, Some(&admin)).is_empty());

    for (why, headers) in [
        (
            "another site's Origin",
            format!("{good}Origin: http://evil.example\r\nContent-Type: application/json\r\n"),
        ),
        (
            "the right host, the wrong scheme",
            format!("{good}Origin: https://{http}\r\nContent-Type: application/json\r\n"),
        ),
        ("text/plain", format!("{good}Origin: http://{http}\r\nContent-Type: text/plain\r\n")),
        ("a form", format!("{good}Content-Type: application/x-www-form-urlencoded\r\n")),
        ("no Content-Type", good.clone()),
    ] {
        let r = post_raw(http, "/api/silences", &silence, &headers);
        assert_eq!(r.status, 403, "{why}: {}", r.text());
        assert!(silences(http, Some(&admin)).is_empty(), "{why}: nothing changed");
    }
    let r = post_raw(
        http,
        "/api/forget",
        &json!({"cid": "pi-x"}).to_string(),
        &format!("{good}Content-Type: text/plain\r\n"),
    );
    assert_eq!(r.status, 403, "{}", r.text());

    // With the password, from the page's own origin, it is done.
    let r = post_raw(http, "/api/silences", &silence, &format!("{good}{own}"));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(silences(http, Some(&admin)).len(), 1);
    // Without an Origin (curl, a script) too.
    let r = post_raw(
        http,
        "/api/silences",
        &silence,
        &format!("{good}Content-Type: application/json; charset=utf-8\r\n"),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(silences(http, Some(&admin)).len(), 2);
}

#[test]
fn a_silence_is_made_listed_and_ended_and_each_mistake_names_its_field() {
    let (d, s) = server(&[]);
    let _logs = DumpLogsOnPanic(d.path());
    let http = web(&s);
    let before = now_ms();
    let made =
        post_ok(http, "/api/silences", json!({"cid": "pi-x", "duration": "2h", "comment": "defrost"}), 201);
    let first = made["id"].as_i64().unwrap_or_else(|| panic!("{made}"));
    let ends = now_ms() + 60_000;
    let made = post_ok(
        http,
        "/api/silences",
        json!({"sensor": "freezer", "kind": "above_max", "ends": ends, "by": "alice", "comment": ""}),
        201,
    );
    let second = made["id"].as_i64().unwrap();
    assert!(second > first);

    let list = silences(http, None);
    assert_eq!(list.len(), 2, "{list:?}");
    let one = &list[0];
    let starts = one["starts"].as_i64().unwrap();
    assert!(starts >= before && starts <= now_ms(), "{one}");
    assert_eq!(
        one,
        &json!({"id": first, "cid": "pi-x", "sensor": "*", "kind": "*", "starts": starts, "ends": starts + 7_200_000,
                "by": "page from 127.0.0.1", "comment": "defrost", "ended": null, "active": true})
    );
    assert_eq!((list[1]["by"].clone(), list[1]["ends"].clone()), (json!("alice"), json!(ends)));
    assert_eq!((list[1]["cid"].clone(), list[1]["sensor"].clone()), (json!("*"), json!("freezer")));

    assert_eq!(post_ok(http, "/api/silences/end", json!({"id": first}), 200), json!({"ended": true}));
    let list = silences(http, None);
    let ended = list.iter().find(|s| s["id"] == first).unwrap();
    assert_eq!(ended["active"], false, "{ended}");
    assert!(ended["ended"].as_i64().unwrap() >= starts, "{ended}");
    assert_eq!(list.iter().find(|s| s["id"] == second).unwrap()["active"], true);
    let again = post(http, "/api/silences/end", &json!({"id": first}), None);
    assert_eq!(again.status, 404, "ending it twice: {}", again.text());
    assert_eq!(post(http, "/api/silences/end", &json!({"id": 99_999}), None).status, 404);

    for (body, field) in [
        (r#"{"kind": "too_hot", "duration": "1h"}"#, "kind"),
        (r#"{"duration": "soon"}"#, "duration"),
        (r#"{"duration": "0s"}"#, "duration"),
        (r#"{}"#, "duration"),
        (r#"{"duration": "1h", "ends": 5}"#, "ends"),
        (r#"{"ends": 5}"#, "ends"),
        (r#"{"cid": "a b", "duration": "1h"}"#, "cid"),
        (r#"{"sensor": "", "duration": "1h"}"#, "sensor"),
        (r#"{"duration": "1h", "colour": "red"}"#, "colour"),
        (r#"{"duration": 3600}"#, "duration"),
        (r#"not json"#, "body"),
        (r#"["duration"]"#, "body"),
    ] {
        assert_eq!(refused_field(http, "/api/silences", body), field, "{body}");
    }
    assert_eq!(refused_field(http, "/api/silences/end", r#"{"id": "1"}"#), "id");
    assert_eq!(refused_field(http, "/api/silences/end", r#"{}"#), "id");
    assert_eq!(silences(http, None).len(), 2, "no refused POST made a silence");
}

#[test]
fn a_firing_alert_is_acknowledged_and_one_that_does_not_fire_is_404() {
    let config = format!("[sensors.\"{S1}\"]\nname = \"freezer\"\nmax = -15.0\n");
    let (d, s) = fast_server(&config, &[]);
    let _logs = DumpLogsOnPanic(d.path());
    let http = web(&s);
    let mut pi = Pi::login(&s, "garage");
    pi.answer(&[R(S1, Some(-3.0), None)]);
    pi.settle();
    wait_until(T, "the alert firing", || {
        let alerts = api(http, "/api/alerts", None);
        (alerts["alerts"].as_array()?.iter().any(|a| a["kind"] == "above_max")).then_some(())
    });
    let ack = json!({"kind": "above_max", "cid": "garage", "sensor": S1, "note": "defrosting"});
    assert_eq!(post_ok(http, "/api/alerts/ack", ack, 200), json!({"acknowledged": true}));
    let mut store = cliser_store::open(&s.store_url()).unwrap();
    let row = store.alerts_firing().unwrap().into_iter().find(|a| a.kind == "above_max").unwrap();
    let got = row.ack.clone().unwrap_or_else(|| panic!("not acknowledged in the store: {row:?}"));
    assert_eq!((got.by.as_str(), got.note.as_str()), ("page from 127.0.0.1", "defrosting"));

    let not_firing =
        post(http, "/api/alerts/ack", &json!({"kind": "below_min", "cid": "garage", "sensor": S1}), None);
    assert_eq!(not_firing.status, 404, "{}", not_firing.text());
    assert_eq!(refused_field(http, "/api/alerts/ack", r#"{"kind": "too_hot", "cid": "garage"}"#), "kind");
    assert_eq!(refused_field(http, "/api/alerts/ack", r#"{"kind": "above_max"}"#), "cid");
    assert_eq!(
        refused_field(http, "/api/alerts/ack", r#"{"kind": "above_max", "cid": "g", "sensor": "a/b"}"#),
        "sensor"
    );
}

/// An alert event to seed the history with.
fn event(
    at_ms: i64,
    event: &str,
    kind: &str,
    cid: &str,
    sensor: &str,
    by: Option<&str>,
) -> cliser_store::AlertEvent {
    cliser_store::AlertEvent {
        id: 0,
        at_ms,
        event: event.into(),
        kind: kind.into(),
        cid: cid.into(),
        sensor: sensor.into(),
        name: (!sensor.is_empty()).then(|| "freezer".into()),
        since_ms: at_ms - 500,
        value: (!sensor.is_empty()).then_some(-3.5),
        message: format!("{cid} {kind}"),
        by: by.map(Into::into),
        note: by.map(|_| "on it".into()),
    }
}

#[test]
fn the_alert_history_is_newest_first_and_filtered_by_node_sensor_kind_time_and_limit() {
    let (d, s) = server(&[]);
    let _logs = DumpLogsOnPanic(d.path());
    let http = web(&s);
    // Written as another server sharing the store (or the alerts thread) would.
    let t0 = now_ms() - 60_000;
    let mut store = cliser_store::open(&s.store_url()).unwrap();
    let ids: Vec<i64> = [
        event(t0, "fired", "above_max", "garage", S1, None),
        event(t0 + 1000, "acknowledged", "above_max", "garage", S1, Some("bob")),
        event(t0 + 2000, "fired", "node_offline", "pi-2", "", None),
        event(t0 + 3000, "resolved", "above_max", "garage", S1, None),
    ]
    .iter()
    .map(|e| store.alert_event_add(e).unwrap())
    .collect();
    let ats = |target: &str| -> Vec<i64> {
        let events = api(http, target, None)["events"].as_array().unwrap().clone();
        events.iter().map(|e| e["at"].as_i64().unwrap() - t0).collect()
    };
    assert_eq!(ats("/api/alerts/history"), [3000, 2000, 1000, 0]);
    let all = api(http, "/api/alerts/history", None);
    assert_eq!(
        all["events"][2],
        json!({"id": ids[1], "at": t0 + 1000, "event": "acknowledged", "kind": "above_max", "cid": "garage",
               "sensor": S1, "name": "freezer", "since": t0 + 500, "value": -3.5, "message": "garage above_max",
               "by": "bob", "note": "on it"})
    );
    assert_eq!(all["events"][1]["sensor"], "", "a node's alert has no sensor");
    assert_eq!(ats("/api/alerts/history?cid=garage"), [3000, 1000, 0]);
    assert_eq!(ats(&format!("/api/alerts/history?sensor={S1}&kind=above_max")), [3000, 1000, 0]);
    assert_eq!(ats("/api/alerts/history?kind=node_offline"), [2000]);
    assert_eq!(ats(&format!("/api/alerts/history?since={}&until={}", t0 + 1000, t0 + 3000)), [2000, 1000]);
    assert_eq!(ats("/api/alerts/history?since=1h&limit=1"), [3000]);
    assert_eq!(ats("/api/alerts/history?cid=nobody"), Vec::<i64>::new());
    for (query, field) in
        [("limit=5001", "limit"), ("kind=too_hot", "kind"), ("since=soon", "since"), ("x=1", "x")]
    {
        let r = get(http, &format!("/api/alerts/history?{query}"));
        assert_eq!(r.status, 400, "{query}: {}", r.text());
        assert_eq!(r.json()["parameter"], field, "{query}");
    }
}

#[test]
fn forgetting_takes_a_node_or_a_sensor_off_the_api_the_metrics_and_the_page_until_it_reports_again() {
    let (d, mut s) = fast_server("", &[]);
    let _logs = DumpLogsOnPanic(d.path());
    let http = web(&s);
    let mut gone = Pi::login(&s, "pi-gone");
    gone.answer(&[R(S1, Some(20.5), None), R(S2, None, None)]);
    gone.settle();
    let mut stays = Pi::login(&s, "pi-stays");
    stays.answer(&[R(S1, Some(7.0), None), R(S2, Some(8.0), None)]);
    stays.settle();
    wait_until(T, "both nodes with two sensors", || {
        let nodes = api(http, "/api/nodes", None);
        (sensors_of(&nodes, "pi-gone").len() == 2 && sensors_of(&nodes, "pi-stays").len() == 2).then_some(())
    });
    let metrics = get(http, "/metrics").text();
    assert!(metrics.contains("cliser_reading_errors_total{cid=\"pi-gone\""), "{metrics}");
    let mut viewer = Events::open(http, None);
    assert_eq!(viewer.next(T).0, "snapshot");
    drop(gone);

    let answer = post_ok(http, "/api/forget", json!({"cid": "pi-gone", "sensor": null}), 200);
    assert_eq!(answer, json!({"known": true, "readings_deleted": 0}));
    wait_until(FORGET_SHOWS, "pi-gone off /api/nodes and /metrics", || {
        let nodes = api(http, "/api/nodes", None);
        let metrics = get(http, "/metrics").text();
        (node(&nodes, "pi-gone").is_none() && !metrics.contains("pi-gone")).then_some(())
    });
    viewer.until("forget", FORGET_SHOWS, |d| (d == &json!({"cid": "pi-gone", "sensor": null})).then_some(()));
    // Its readings stay.
    let readings = api(http, "/api/readings?cid=pi-gone", None);
    assert_eq!(readings["series"].as_array().unwrap().len(), 2, "{readings}");

    let answer = post_ok(http, "/api/forget", json!({"cid": "pi-stays", "sensor": S2}), 200);
    assert_eq!(answer["known"], true);
    wait_until(FORGET_SHOWS, "one sensor of pi-stays left", || {
        (sensors_of(&api(http, "/api/nodes", None), "pi-stays") == [S1]).then_some(())
    });
    viewer.until("forget", FORGET_SHOWS, |d| (d == &json!({"cid": "pi-stays", "sensor": S2})).then_some(()));
    assert_eq!(post_ok(http, "/api/forget", json!({"cid": "never-was"}), 200)["known"], false);
    assert_eq!(refused_field(http, "/api/forget", r#"{"cid": "pi stays"}"#), "cid");
    assert_eq!(
        refused_field(http, "/api/forget", r#"{"cid": "pi", "delete_readings": "yes"}"#),
        "delete_readings"
    );

    // The store forgot them too: a restarted server does not bring them back.
    drop(stays);
    drop(viewer);
    s.restart();
    let http = web(&s);
    let nodes = api(http, "/api/nodes", None);
    assert!(node(&nodes, "pi-gone").is_none(), "{nodes}");
    assert_eq!(sensors_of(&nodes, "pi-stays"), [S1], "{nodes}");

    // A reading brings a node back.
    let mut back = Pi::login(&s, "pi-gone");
    back.answer(&[R(S1, Some(21.0), None)]);
    back.settle();
    wait_until(T, "pi-gone back", || {
        (sensors_of(&api(http, "/api/nodes", None), "pi-gone") == [S1]).then_some(())
    });

    // Forgetting with its readings deletes them.
    let stored = s.stored_seqs("pi-stays").len() as u64;
    assert_eq!(stored, 2);
    let answer = post_ok(http, "/api/forget", json!({"cid": "pi-stays", "delete_readings": true}), 200);
    assert_eq!(answer, json!({"known": true, "readings_deleted": stored}));
    assert!(s.stored_seqs("pi-stays").is_empty());
}

#[test]
fn readings_download_as_csv() {
    let (d, s) = fast_server("", &[]);
    let _logs = DumpLogsOnPanic(d.path());
    let http = web(&s);
    let t = now_ms() - 10_000;
    let mut pi = Pi::login(&s, "pi-csv");
    pi.answer(&[R(S1, Some(20.5), Some(t)), R(S1, None, Some(t + 1000)), R(S2, Some(-3.25), Some(t + 2000))]);
    pi.settle();
    let time = |ms: i64| {
        humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(ms as u64)).to_string()
    };
    let r = get(http, &format!("/api/readings?cid=pi-csv&since={}&until={}&format=csv", t - 1, t + 5000));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("Content-Type"), Some("text/csv; charset=utf-8"));
    assert_eq!(r.header("Content-Disposition"), Some("attachment; filename=\"cliser-pi-csv.csv\""));
    assert_eq!(r.header("Cache-Control"), Some("no-store"));
    let mut lines: Vec<String> = r.text().split("\r\n").map(str::to_owned).collect();
    assert_eq!(lines.pop().as_deref(), Some(""), "every line ends with CRLF");
    assert_eq!(lines[0], "cid,sensor,name,ts,time,value,error,ts_quality");
    let mut rows = lines[1..].to_vec();
    rows.sort();
    assert_eq!(
        rows,
        [
            format!("pi-csv,{S1},,{t},{},20.5,,synced", time(t)),
            format!("pi-csv,{S1},,{},{},,crc,synced", t + 1000, time(t + 1000)),
            format!("pi-csv,{S2},,{},{},-3.25,,synced", t + 2000, time(t + 2000)),
        ]
    );
    let r = get(http, &format!("/api/readings?cid=pi-csv&sensor={S2}&since=1h&format=csv"));
    assert_eq!(
        r.header("Content-Disposition"),
        Some(&format!("attachment; filename=\"cliser-pi-csv-{S2}.csv\"")[..])
    );
    assert_eq!(r.text().lines().count(), 2, "{}", r.text());
    let r = get(http, "/api/readings?cid=pi-csv&format=xml");
    assert_eq!((r.status, r.json()["parameter"].clone()), (400, json!("format")));
}

#[test]
fn a_post_needs_a_length_a_small_body_that_comes_in_time_and_a_path_that_takes_it() {
    let (d, s) = server(&[]);
    let _logs = DumpLogsOnPanic(d.path());
    let http = web(&s);
    let head = |extra: &str| {
        format!(
            "POST /api/silences HTTP/1.1\r\nHost: {http}\r\nContent-Type: application/json\r\n{extra}\r\n"
        )
    };
    let refused = |request: String, status: u16| {
        let mut c = Conn::open(http);
        c.send(request.as_bytes());
        let r = c.reply(false).unwrap();
        assert_eq!(r.status, status, "{request}: {}", r.text());
        assert_eq!(r.header("Connection"), Some("close"));
        c.expect_closed(T);
        r
    };
    refused(head(""), 411);
    refused(head("Transfer-Encoding: chunked\r\n"), 411);
    refused(head(&format!("Content-Length: {}\r\n", cliser_web::http::BODY_LIMIT + 1)), 413);
    refused(head("Content-Length: 12\r\nContent-Length: 13\r\n"), 400);
    let r = refused(format!("GET /api/forget HTTP/1.1\r\nHost: {http}\r\n\r\n"), 405);
    assert_eq!(r.header("Allow"), Some("POST"));
    let r = refused(format!("PUT /api/silences HTTP/1.1\r\nHost: {http}\r\nContent-Length: 0\r\n\r\n"), 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD, POST"));

    // A body that never arrives whole is given up at its deadline.
    let mut slow = Conn::open(http);
    slow.send(head("Content-Length: 40\r\n").as_bytes());
    slow.send(b"{\"duration\":");
    slow.stream().set_read_timeout(Some(cliser_web::http::BODY_DEADLINE + T)).unwrap();
    let r = slow.reply(false).unwrap();
    assert_eq!(r.status, 408, "{}", r.text());

    // On a kept-alive connection, a POST's body is never read as the next request.
    let body = json!({"duration": "1h"}).to_string();
    let mut c = Conn::open(http);
    c.send(
        format!(
            "{}{body}GET /api/silences HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n",
            head(&format!("Content-Length: {}\r\n", body.len()))
        )
        .as_bytes(),
    );
    assert_eq!(c.reply(false).unwrap().status, 201);
    let list = c.reply(false).unwrap();
    assert_eq!(list.json()["silences"].as_array().unwrap().len(), 1, "{}", list.text());
    assert!(silences(http, None).len() == 1);
}
