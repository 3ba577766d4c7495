//! A replaced sensor on the page, in a real browser against the real server: once the new sensor
//! (`replaces` in `[sensors]`) has reported, the node's list shows the series as one row (the new
//! id, "replaces <old id>", the series' sparkline), the alert kept under the series' first id is
//! marked on that row, and the row's chart is one line named as the series with the old id's
//! readings up to the swap and the new id's after, in time order, while the old sensor, still on
//! the bus, reports beside it. Screenshots at 412 px, dark and light, under `<target>/web/`.

use crate::alert_kit::{self, now_ms, Pi, R};
use crate::common;
use crate::web_page_kit::*;
use cliser_testkit::Browser;
use common::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const CID: &str = "garage";
const OLD: &str = "28-0000000000a1";
const NEW: &str = "28-0000000000b2";

/// The old sensor needs no table: the new one's says whom it replaced, and names the series.
const CONFIG: &str = r#"
[sensors."28-0000000000b2"]
replaces = "28-0000000000a1"
name = "freezer"
max = -15.0
"#;

/// What the old sensor, left on the bus after the swap, reads: in no line of the chart.
const STRAY: f64 = -30.0;
/// What the new sensor reads live: above the series' max, so above_max fires and stays.
const WARM: f64 = -10.0;

/// The scripted Pi answers every keep-alive with a live reading of both sensors until dropped (the
/// session stays up however long the browser takes).
struct LivePi {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LivePi {
    fn start(mut pi: Pi) -> LivePi {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                pi.answer(&[R(OLD, Some(STRAY), None), R(NEW, Some(WARM), None)]);
            }
        });
        LivePi { stop, thread: Some(thread) }
    }
}

impl Drop for LivePi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn get_json(http: SocketAddr, path: &str) -> Value {
    let r = common::http::get(http, path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.json()
}

#[test]
fn a_replaced_sensor_is_one_row_with_its_alert_and_one_line_across_the_swap() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _logs = DumpLogsOnPanic(dir.path());
    let server = alert_kit::start(dir.path(), CONFIG, &[]);
    let http = server.http.expect("test servers serve the page");

    // The old sensor every minute from 40 to 20 minutes ago, then the new one every minute up to a
    // minute ago; the old one stays on the bus (a reading 10 minutes ago). Values tell them apart.
    let now = now_ms() / 1000 * 1000;
    let swap = now - 20 * 60_000;
    let old: Vec<(i64, f64)> =
        (0..20).map(|i| (now - 40 * 60_000 + i * 60_000, -18.0 + 0.01 * i as f64)).collect();
    let new: Vec<(i64, f64)> = (0..19).map(|i| (swap + i * 60_000, -17.0 + 0.01 * i as f64)).collect();
    let mut pi = Pi::login(&server, CID);
    let mut history: Vec<R> = old.iter().map(|&(t, v)| R(OLD, Some(v), Some(t))).collect();
    history.extend(new.iter().map(|&(t, v)| R(NEW, Some(v), Some(t))));
    history.push(R(OLD, Some(STRAY), Some(now - 10 * 60_000)));
    for chunk in history.chunks(40) {
        pi.answer(chunk);
    }
    pi.settle();
    let _live = LivePi::start(pi);
    let alert = cliser_testkit::wait_until(PAGE, "above_max firing", || {
        let a = get_json(http, "/api/alerts");
        a["alerts"].as_array().and_then(|l| l.iter().find(|x| x["kind"] == "above_max").cloned())
    });
    assert_eq!(alert["sensor"], OLD, "the series' alert is kept under its first id: {alert}");

    // The API the page reads: both ids carry their series; an id is itself, series=true spans it.
    let nodes = get_json(http, "/api/nodes");
    let sensors = nodes["nodes"][0]["sensors"].as_array().expect("sensors").clone();
    for s in &sensors {
        assert_eq!(s["series"], json!([OLD, NEW]), "{s}");
        assert_eq!(s["max"], -15.0, "the series' limits on each id: {s}");
    }
    let by_id = get_json(http, &format!("/api/readings?cid={CID}&sensor={OLD}&since=1h"));
    let strays =
        by_id["series"][0]["points"].as_array().expect("points").iter().filter(|p| p[1] == STRAY).count();
    assert!(strays >= 1, "an id alone gives its own readings, the stray ones too: {by_id}");
    let spanned = get_json(http, &format!("/api/readings?cid={CID}&sensor={OLD}&series=true&since=1h"));
    assert_eq!(spanned["series"].as_array().map(Vec::len), Some(1), "{spanned}");
    assert_eq!(
        (&spanned["series"][0]["sensor"], &spanned["series"][0]["sensors"]),
        (&json!(NEW), &json!([OLD, NEW]))
    );

    let Some(mut b) = Browser::launch() else { return };
    b.set_timezone("Asia/Kolkata");
    b.set_viewport(412, 915, true);
    b.set_color_scheme("dark");
    b.navigate(&format!("http://{http}/"));
    let row = sensor_sel(CID, NEW);
    b.wait_for(
        &format!(
            "(() => {{ const r = document.querySelector({}); return !!r && r.dataset.alert === 'above_max' \
             && Number(r.querySelector('.spark')?.dataset.points || 0) > {}; }})()",
            json!(row),
            old.len() + new.len()
        ),
        PAGE,
        "the new sensor's row with the alert and the series' sparkline",
    );

    // One row: the new id, named as the series, saying whom it replaced; the alert's mark on it.
    let card = cards(&mut b).into_iter().find(|c| c["cid"] == CID).expect("the garage's card");
    let listed = card["sensors"].as_array().expect("sensors");
    assert_eq!(listed.len(), 1, "the replaced sensor is no row of its own: {card}");
    assert_eq!(
        (&listed[0]["id"], &listed[0]["name"], &listed[0]["id_text"]),
        (&json!(NEW), &json!("freezer"), &json!(NEW))
    );
    let shown = b.eval(&format!(
        "(() => {{ const r = document.querySelector({}); return {{ replaces: r.querySelector('.label .replaces')?.textContent, \
         mark: r.querySelector('.mark').textContent, mark_hidden: r.querySelector('.mark').hidden, \
         limits: r.querySelector('.limits')?.textContent, old_row: !!document.querySelector({}), \
         summary: document.querySelector('#summary').textContent }}; }})()",
        json!(row),
        json!(sensor_sel(CID, OLD))
    ));
    assert_eq!(shown["replaces"], format!("replaces {OLD}"), "{shown}");
    assert_eq!((&shown["mark"], &shown["mark_hidden"]), (&json!("above max"), &json!(false)), "{shown}");
    assert_eq!(shown["limits"], "max -15", "{shown}");
    assert_eq!(shown["old_row"], false, "{shown}");
    assert_eq!(shown["summary"], "1 of 1 nodes online · 1 sensors", "{shown}");
    // The filter finds the row by the old id too.
    b.eval(&format!("(() => {{ const f = document.querySelector('#filter'); f.value = '{OLD}'; f.dispatchEvent(new Event('input')); }})()"));
    b.wait_for("document.body.dataset.filtered === '1'", PAGE, "the filter by the old id");
    assert_eq!(b.eval(&format!("document.querySelector({}).hidden", json!(row))), false);
    b.eval("(() => { const f = document.querySelector('#filter'); f.value = ''; f.dispatchEvent(new Event('input')); })()");
    b.wait_for("document.body.dataset.filtered === ''", PAGE, "the filter cleared");

    // Its silence names the old id, under which the series' alert is kept (else it would not hold).
    b.click(&format!("{row} details.menu summary"));
    b.click(&format!(r#"{row} button[data-act="silence-sensor"]"#));
    b.wait_for("document.querySelector('#silence-dialog').open", PAGE, "the silence dialog");
    assert_eq!(b.eval("document.querySelector('#silence-form').elements.sensor.value"), OLD);
    b.click("#silence-form button.cancel");
    b.wait_for("!document.querySelector('#silence-dialog').open", PAGE, "the silence dialog closed");

    // The row's chart: one line, the series, old then new, none of the stray readings.
    let draws = chart_draws(&mut b);
    b.click(&format!("{row} button.open"));
    wait_chart(&mut b, &[format!("{CID}/{NEW}")], draws, "the row's chart");
    b.wait_for("!!document.querySelector('#chart').dataset.loaded", PAGE, "the chart loaded");
    assert_eq!(b.eval("CliserChart._plot.series.length"), 2, "the time and one line");
    let legend = b.eval(
        "(() => { const r = document.querySelectorAll('#chart .chart-legend tbody tr'); \
         return { rows: r.length, label: r[0].querySelector('.chart-legend-label').textContent, \
         ids: r[0].querySelector('.chart-legend-id').textContent, title: document.querySelector('#chart .chart-title').textContent }; })()",
    );
    assert_eq!(legend["rows"], 1, "{legend}");
    assert_eq!((&legend["label"], &legend["title"]), (&json!("freezer"), &json!("freezer")), "{legend}");
    assert_eq!(legend["ids"], format!("{CID} · {OLD} → {NEW}"), "{legend}");
    let points = b.eval(
        "(() => { const [xs, ys] = CliserChart._plot.data; const out = []; \
         xs.forEach((x, i) => { if (ys[i] !== null && ys[i] !== undefined) out.push([x, ys[i]]); }); return out; })()",
    );
    let points: Vec<(i64, f64)> = points
        .as_array()
        .expect("points")
        .iter()
        .map(|p| (p[0].as_i64().expect("t"), p[1].as_f64().expect("v")))
        .collect();
    let want: Vec<(i64, f64)> = old.iter().chain(new.iter()).copied().collect();
    assert!(points.len() > want.len(), "the history and the live readings: {points:?}");
    assert_eq!(points[..want.len()], want[..], "the old id's readings up to the swap, then the new id's");
    let live = &points[want.len()..];
    assert!(
        live.iter().all(|&(t, v)| v == WARM && t > swap),
        "after them only the new id's live ones: {live:?}"
    );
    assert!(points.windows(2).all(|w| w[0].0 < w[1].0), "in time order");
    // The firing period shaded: the alert under the old id is the series'.
    let firing = b.wait_value(
        "(() => { const p = JSON.parse(document.querySelector('#chart').dataset.firing || '[]'); return p.length ? p : null; })()",
        PAGE,
        "the firing period drawn",
    );
    assert_eq!((&firing[0]["sensor"], &firing[0]["kind"]), (&json!(OLD), &json!("above_max")), "{firing}");
    // A live reading of the old sensor goes into no line: the chart keeps to the new one.
    b.eval(&format!(
        "CliserChart.append({})",
        json!({ "cid": CID, "sensor": OLD, "ts": now_ms(), "value": STRAY })
    ));
    let strays = b.eval(&format!("CliserChart._plot.data[1].filter((v) => v === {STRAY}).length"));
    assert_eq!(strays, 0, "the stray reading drawn");

    // The table view: one row too, with the alert.
    b.click(".views button[data-view=\"table\"]");
    b.wait_for(
        &format!("document.querySelectorAll('#fleet-rows tr[data-cid=\"{CID}\"]').length > 0"),
        PAGE,
        "the table",
    );
    let rows = b.eval(&format!(
        "[...document.querySelectorAll('#fleet-rows tr[data-cid=\"{CID}\"]')].map((r) => ({{ sensor: r.dataset.sensor, \
         alert: r.dataset.alert ?? null, replaces: r.querySelector('.replaces')?.textContent ?? null }}))"
    ));
    assert_eq!(rows, json!([{ "sensor": NEW, "alert": "above_max", "replaces": format!("replaces {OLD}") }]));
    b.click(".views button[data-view=\"cards\"]");
    b.wait_for(&format!("!!document.querySelector({})", json!(row)), PAGE, "the cards again");

    // To look at: the card and the chart on a phone, dark and light; nothing wider than it.
    let web = web_dir();
    for scheme in ["dark", "light"] {
        b.set_color_scheme(scheme);
        let fits = b.eval(OVERFLOW_JS);
        assert_eq!(fits["wider"], json!([]), "{scheme}: wider than 412 px: {fits}");
        let png = web.join(format!("replaced-412-{scheme}.png"));
        b.eval("window.scrollTo(0, 0)");
        b.screenshot_page(&png);
        println!("screenshot: {}", png.display());
    }
}
