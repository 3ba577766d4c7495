//! The web page in a real browser (headless Chromium, driven over DevTools) against the real server
//! and two real Pi clients with simulated sensors: what the page shows, its chart, live updates
//! without a reload, and a node going offline while the other stays online.

mod common;
use cliser_testkit::Browser;
use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

const NODES: [&str; 2] = ["pi-attic", "pi-cellar"];

/// Generous for a cold browser on a busy 2-core machine; each wait ends as soon as its condition holds.
const PAGE: Duration = Duration::from_secs(30);

/// The page's sections as data: `[{cid, online, status, sensors: [{id, value, error, ts, spark}]}]`.
const NODES_JS: &str = r#"[...document.querySelectorAll("section.node")].map((n) => ({
    cid: n.dataset.cid,
    online: n.dataset.online,
    status: n.querySelector(".status")?.textContent,
    sensors: [...n.querySelectorAll(".sensor")].map((s) => ({
        id: s.dataset.sensor,
        value: s.querySelector(".value")?.textContent,
        has_value: s.querySelector(".value")?.dataset.hasValue === "1",
        ts: Number(s.querySelector(".age")?.dataset.ts),
        spark: !!s.querySelector("svg.spark"),
    })),
}))"#;

fn node_sel(cid: &str) -> String {
    format!(r#"section.node[data-cid="{cid}"]"#)
}

/// `<target>/web/dashboard.png`: the target dir is three levels above this test's executable
/// (`<target>/debug/deps/`), wherever CARGO_TARGET_DIR put it; never the source tree.
fn screenshot_path() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let target = exe.ancestors().nth(3).expect("the test runs from <target>/<profile>/deps");
    target.join("web").join("dashboard.png")
}

/// Readings per sensor put into the store as six hours of history, one every two minutes.
const HISTORY: i64 = 180;

/// Once both clients' sensors are in the store, adds [`HISTORY`] older readings (without seqs, as
/// an import of an old ledger would, so they never clash with the clients' own) to every sensor,
/// around its latest value: the charts and sparklines then have hours to draw, not seconds.
fn seed_history(server: &ServerHandle) {
    use cliser_protocol::{Celsius, Value};
    let mut store = cliser_store::open(&server.store_url()).unwrap_or_else(|e| panic!("open the store: {e}"));
    let sensors = cliser_testkit::wait_until(T, "both clients' two sensors in the store", || {
        let all = store.sensors().unwrap_or_else(|e| panic!("read the store: {e}"));
        let ours: Vec<_> = all.into_iter().filter(|s| NODES.contains(&s.cid.as_str())).collect();
        (ours.len() == 2 * NODES.len() && ours.iter().all(|s| s.last.is_some())).then_some(ours)
    });
    let mut history = Vec::new();
    for s in sensors {
        let (newest_ms, last, _) = s.last.expect("checked above");
        let centre = match last {
            Value::Celsius(c) => c.degrees(),
            Value::Error(_) => 20.0,
        };
        for k in 1..=HISTORY {
            let ms = newest_ms - k * 120_000;
            let t = centre + 0.8 * ((k as f64) / 25.0).sin() + 0.1 * ((k as f64) / 3.0).sin();
            history.push(cliser_store::NewReading {
                cid: s.cid.clone(),
                sensor: s.sensor.clone(),
                value: Value::Celsius(Celsius::new(t).expect("a sane temperature")),
                sampled_ms: ms,
                received_ms: ms,
                seq: None,
                ts_quality: cliser_store::TsQuality::Synced,
            });
        }
    }
    store.commit(&history).unwrap_or_else(|e| panic!("store the history: {e}"));
}

#[test]
fn the_page_shows_both_nodes_live_draws_a_chart_and_marks_a_stopped_node_offline() {
    let Some(mut browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let _logs = DumpLogsOnPanic(dir.path());
    let server = ServerHandle::start(dir.path(), &["--keepalive", "500ms"]);
    let http = server.http.expect("test servers serve the page");
    let mut clients: Vec<Proc> = NODES
        .iter()
        .map(|id| {
            let (state, log) = (dir.path().join(id), dir.path().join(format!("{id}.log")));
            pi_client(server.addr, &server.password, id, &state, &log, &["--interval", "500ms"])
        })
        .collect();

    seed_history(&server);

    browser.navigate(&format!("http://{http}/"));
    let both_shown = format!(
        "{}.every((id) => {{ const n = document.querySelector(`section.node[data-cid=\"${{id}}\"]`); \
         return n && n.dataset.online === 'true' \
         && n.querySelectorAll('.sensor .value[data-has-value]').length >= 2; }})",
        json!(NODES)
    );
    browser.wait_for(&both_shown, PAGE, "both nodes online with a temperature on each sensor");
    let nodes = browser.eval(NODES_JS);
    let nodes = nodes.as_array().expect("an array of nodes");
    let cids: Vec<&str> = nodes.iter().filter_map(|n| n["cid"].as_str()).collect();
    assert_eq!(cids, NODES, "the page's nodes: {nodes:?}");
    for n in nodes {
        assert_eq!(n["status"], "online", "{n}");
        let sensors = n["sensors"].as_array().expect("sensors");
        assert_eq!(sensors.len(), 2, "the simulation's two sensors: {n}");
        for s in sensors {
            let value = s["value"].as_str().unwrap_or_default();
            let number = value.strip_suffix(" °C").and_then(|v| v.parse::<f64>().ok());
            assert!(s["has_value"] == true && number.is_some_and(|t| (5.0..40.0).contains(&t)), "{s}");
            assert!(s["ts"].as_f64().is_some_and(|t| t > 1e12), "a sample time in ms: {s}");
            assert_eq!(s["spark"], true, "a sparkline: {s}");
        }
    }
    assert_eq!(browser.eval("document.body.dataset.valuesShown"), "1");
    let marks = browser.performance_entries("mark");
    assert!(marks.iter().any(|m| m["name"] == "cliser-values-shown"), "marks: {marks:?}");

    // A click on a sensor opens its chart with points.
    let (chart_cid, chart_sensor) = (NODES[0], nodes[0]["sensors"][0]["id"].as_str().expect("a sensor id"));
    browser.click(&format!(r#"{} .sensor[data-sensor="{chart_sensor}"]"#, node_sel(chart_cid)));
    let points_in = |range: &str| {
        format!(
            r##"(() => {{ const c = document.querySelector("#chart"); if (c.hidden || c.dataset.cid !== {cid}
                || c.dataset.sensor !== {sensor} || c.dataset.range !== "{range}") return null;
                const line = c.querySelector('svg.chart[data-range="{range}"] path.line');
                return Number(line?.dataset.points) || null; }})()"##,
            cid = json!(chart_cid),
            sensor = json!(chart_sensor),
        )
    };
    // Raw readings for a day: the history and what came live.
    let points = |v: Value| v.as_i64().expect("a number of points");
    // The chart may be drawn first with the live points alone, and again when the history has
    // come: wait for the history (a line of one point stays a failure at the deadline).
    let day_js = points_in("24h");
    browser.wait_for(&format!("({day_js}) > {HISTORY}"), PAGE, "the 24-hour chart's line with its history");
    let day = points(browser.eval(&day_js));
    assert!(day > HISTORY, "{day} points of a day, {HISTORY} of them history");
    // The long ranges come from the hourly rollups: a mean line and a min-to-max band.
    browser.click(r#".ranges button[data-range="7d"]"#);
    let hours = points(browser.wait_value(&points_in("7d"), PAGE, "the 7-day chart's line"));
    assert!((6..=8).contains(&hours), "{hours} hourly buckets for six hours of history");
    assert_eq!(browser.eval(r##"!!document.querySelector("#chart svg.chart path.band")"##), true);
    browser.click(r#".ranges button[data-range="1h"]"#);
    let hour_js = points_in("1h");
    browser.wait_for(&format!("({hour_js}) >= 29"), PAGE, "the 1-hour chart's line with its history");
    let hour = points(browser.eval(&hour_js));
    assert!(hour >= 29, "{hour} points in the last hour (one every 2 min, and the live ones)");
    // Each sensor's sparkline: its last six hours in 5-minute buckets.
    browser.wait_for(
        "[...document.querySelectorAll('.sensor svg.spark')].filter((s) => s.querySelector('path')).length \
         === 4",
        PAGE,
        "a sparkline drawn for each of the four sensors",
    );

    // A new reading shows up in place: the sample time changes, the page is the same document.
    browser.eval("window.cliserTestMarker = 'no reload'");
    let origin = browser.eval("performance.timeOrigin");
    let age = format!(r#"{} .sensor[data-sensor="{chart_sensor}"] .age"#, node_sel(chart_cid));
    let newer_than = |ts: &Value| {
        format!(
            "(() => {{ const t = Number(document.querySelector({})?.dataset.ts); \
             return t > {ts} ? t : null; }})()",
            json!(age)
        )
    };
    let before = browser.eval(&format!("Number(document.querySelector({}).dataset.ts)", json!(age)));
    let after = browser.wait_value(&newer_than(&before), PAGE, "a newer reading on the page");
    // The open chart takes the new readings in too, without fetching the hour again.
    browser.wait_for(&format!("{} > {hour}", points_in("1h")), PAGE, "the open chart to grow");
    assert_eq!(browser.eval("window.cliserTestMarker"), "no reload", "the page was reloaded");
    assert_eq!(browser.eval("performance.timeOrigin"), origin, "a new document");
    eprintln!("sample time on the page went from {before} to {after} without a reload");

    // A client stopped with SIGTERM goes offline; the other stays online and keeps reporting.
    let (gone, stays) = (NODES[0], NODES[1]);
    clients[0].signal(libc::SIGTERM);
    let offline = format!(
        "(() => {{ const n = document.querySelector({}); return n && n.dataset.online === 'false' \
         && n.querySelector('.status').textContent === 'offline'; }})()",
        json!(node_sel(gone))
    );
    browser.wait_for(&offline, PAGE, &format!("{gone} offline"));
    clients[0].wait_exit(PAGE);
    let stays_age = format!("{} .sensor .age", node_sel(stays));
    let ts = browser.eval(&format!("Number(document.querySelector({}).dataset.ts)", json!(stays_age)));
    browser.wait_for(
        &format!("Number(document.querySelector({}).dataset.ts) > {ts}", json!(stays_age)),
        PAGE,
        &format!("a newer reading from {stays}"),
    );
    let online = browser.eval(&format!("document.querySelector({}).dataset.online", json!(node_sel(stays))));
    assert_eq!(online, "true", "{stays} stays online");

    let png = screenshot_path();
    browser.screenshot(&png);
    println!("screenshot: {}", png.display());
}
