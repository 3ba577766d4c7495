//! The chart panel (web/assets/chart.js on uPlot) in a real browser (headless Chromium over
//! DevTools) against the real server, fed by a scripted Pi over the real protocol with readings of
//! known values at known times: the hover readout, a node's two sensors in one chart with their
//! legend, the limits as threshold lines, a firing period shaded, an outage drawn as a gap, the
//! range fitted to what is stored, drag-to-zoom, and screenshots at desktop and phone widths.
//!
//! The tests call `CliserChart.open(series, range)` themselves once the page has loaded, so they
//! do not depend on the page's own markup; what they read is what the chart exposes for this:
//! the panel's data attributes, the legend's cells, the readout, and its uPlot (`CliserChart._plot`).

use crate::alert_kit;
use crate::common;
use alert_kit::{now_ms, Pi, R};
use cliser_testkit::Browser;
use common::http::get;
use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

/// Generous for a cold browser on a busy 2-core machine; each wait ends as soon as its condition holds.
const PAGE: Duration = Duration::from_secs(30);

const CID: &str = "pi-lab";
const FRIDGE: &str = "28-00000000f001";
const FREEZER: &str = "28-00000000f002";

/// Names and limits from `[sensors]`, as an operator writes them.
const CONFIG: &str = r#"
[sensors."28-00000000f001"]
name = "fridge"
min = 2.0
max = 8.0

[sensors."28-00000000f002"]
name = "freezer"
min = -24.0
max = -15.0
"#;

/// The browser's clock for these tests: India's (+05:30 all year), so a local time is half an hour
/// off any whole-hour mistake, and British English for a 24-hour clock the test can spell.
const TZ: &str = "Asia/Kolkata";
const TZ_OFFSET_MS: i64 = 19_800_000;

/// `HH:MM:SS` of `ms` on the browser's clock.
fn local_hms(ms: i64) -> String {
    let s = (ms.div_euclid(1000) * 1000 + TZ_OFFSET_MS).div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

/// Now, rounded down to a whole second (the readout shows seconds).
fn now_s() -> i64 {
    now_ms() / 1000 * 1000
}

/// A server with [`CONFIG`] in its own temp dir.
struct Lab {
    server: ServerHandle,
    // Dropped last: the server's files live here.
    dir: tempfile::TempDir,
}

impl Lab {
    fn start() -> Lab {
        Self::start_with(CONFIG)
    }

    fn start_with(config: &str) -> Lab {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = alert_kit::start(dir.path(), config, &[]);
        Lab { server, dir }
    }

    fn http(&self) -> std::net::SocketAddr {
        self.server.http.expect("test servers serve the page")
    }

    /// Logs a scripted Pi in as [`CID`] and sends `readings` (sample times given), as many to a
    /// line as fit, until all are stored.
    fn send(&self, readings: &[R]) -> Pi {
        let mut pi = Pi::login(&self.server, CID);
        for chunk in readings.chunks(40) {
            pi.answer(chunk);
        }
        pi.settle();
        pi
    }

    /// The page in a fresh browser on the test's clock, with chart.js and uPlot loaded. `None`
    /// when Chromium is missing and parts are not required.
    fn browser(&self) -> Option<Browser> {
        let mut b = Browser::launch()?;
        // Before the page loads: its date formats take the zone and language they find.
        b.call("Emulation.setTimezoneOverride", json!({ "timezoneId": TZ }));
        b.call("Emulation.setLocaleOverride", json!({ "locale": "en-GB" }));
        b.navigate(&format!("http://{}/", self.http()));
        b.wait_for("window.CliserChart && window.uPlot", PAGE, "chart.js and uPlot");
        Some(b)
    }
}

/// Opens the chart of `series` (`(cid, sensor)`) on `range` (`null`: fitted) and waits until it is
/// drawn with its readings.
fn open_chart(b: &mut Browser, series: &[(&str, &str)], range: Value) {
    let list: Vec<Value> =
        series.iter().map(|(cid, sensor)| json!({ "cid": cid, "sensor": sensor })).collect();
    b.eval(&format!("CliserChart.open({}, {range}).then(() => true)", json!(list)));
    let keys: Vec<String> = series.iter().map(|(c, s)| format!("{c}/{s}")).collect();
    b.wait_for(
        &format!(
            "(() => {{ const c = document.querySelector('#chart'); return !c.hidden && c.dataset.loaded \
             && !c.dataset.loading && c.dataset.series === {} && Number(c.dataset.drawn) > 0 \
             && !!CliserChart._plot; }})()",
            json!(json!(keys).to_string())
        ),
        PAGE,
        "the chart drawn",
    );
}

/// A reading of `sensor` every `step_ms` from `from` while before `to`, its value from `f(i)`.
fn series_of(sensor: &'static str, from: i64, to: i64, step_ms: i64, f: impl Fn(i64) -> f64) -> Vec<R> {
    (0..)
        .map(|i| (i, from + i * step_ms))
        .take_while(|&(_, t)| t < to)
        .map(|(i, t)| R(sensor, Some(f(i)), Some(t)))
        .collect()
}

/// Where on the screen (CSS px from the viewport's top left) the chart draws `(t, value)`.
fn screen_at(b: &mut Browser, t: i64, value: f64) -> (f64, f64) {
    let at = b.eval(&format!(
        "(() => {{ const u = CliserChart._plot; const r = u.over.getBoundingClientRect(); \
         return [r.left + u.valToPos({t}, 'x'), r.top + u.valToPos({value}, 'y')]; }})()"
    ));
    (at[0].as_f64().expect("x"), at[1].as_f64().expect("y"))
}

#[test]
fn the_hover_readout_shows_the_reading_under_the_cursor_with_its_local_time_and_name() {
    let lab = Lab::start();
    let _logs = DumpLogsOnPanic(lab.dir.path());
    let now = now_s();
    // Ten-second readings from 40 to 10 minutes ago near 4 °C, and one known reading of 6.789 °C
    // 25 minutes ago.
    let known_at = now - 25 * 60_000;
    let mut readings =
        series_of(FRIDGE, now - 40 * 60_000, now - 10 * 60_000, 10_000, |i| 4.0 + 0.1 * ((i % 5) as f64));
    let known = readings.iter_mut().find(|r| r.2 == Some(known_at)).expect("a reading at the known time");
    known.1 = Some(6.789);
    let _pi = lab.send(&readings);
    let Some(mut b) = lab.browser() else { return };
    open_chart(&mut b, &[(CID, FRIDGE)], json!("1h"));

    let (x, y) = screen_at(&mut b, known_at, 6.789);
    b.mouse_move(x, y);
    let row = b.wait_value(
        &format!(
            "(() => {{ const tip = document.querySelector('#chart .chart-tip'); if (!tip || tip.hidden) return null; \
             const row = tip.querySelector('.chart-tip-row'); if (!row || Number(row.dataset.ts) !== {known_at}) return null; \
             const time = tip.querySelector('.chart-tip-time'); \
             return {{ time: time.textContent, iso: time.title, name: row.querySelector('.chart-tip-name').textContent, \
             value: row.querySelector('.chart-tip-value').textContent, series: row.dataset.series, \
             rows: tip.querySelectorAll('.chart-tip-row').length }}; }})()"
        ),
        PAGE,
        "the readout of the known reading",
    );
    eprintln!("readout: {row}");
    assert_eq!(row["value"], "6.789 °C", "{row}");
    assert_eq!(row["name"], "fridge", "the sensor's name from [sensors]: {row}");
    assert_eq!(row["series"], format!("{CID}/{FRIDGE}"));
    assert_eq!(row["rows"], 1, "one sensor, one row: {row}");
    let hms = local_hms(known_at);
    let time = row["time"].as_str().expect("the readout's time");
    assert!(time.contains(&hms), "the readout's time {time:?} is not the local {hms} (UTC+05:30)");
    let iso = row["iso"].as_str().expect("the readout's ISO time");
    assert!(iso.ends_with("+05:30") && iso.contains(&format!("T{hms}")), "ISO 8601 with the offset: {iso:?}");
}

#[test]
fn a_nodes_two_sensors_share_one_chart_whose_legend_gives_min_mean_max_last_of_what_was_stored() {
    let lab = Lab::start();
    let _logs = DumpLogsOnPanic(lab.dir.path());
    let now = now_s();
    let fridge = [4.0, 5.5, 7.25, 3.5, 4.25];
    let freezer = [-18.5, -17.0, -19.75, -18.0];
    let at = |i: usize, n: usize| now - ((n - i) as i64) * 60_000;
    let mut readings: Vec<R> =
        fridge.iter().enumerate().map(|(i, &v)| R(FRIDGE, Some(v), Some(at(i, fridge.len())))).collect();
    readings
        .extend(freezer.iter().enumerate().map(|(i, &v)| R(FREEZER, Some(v), Some(at(i, freezer.len())))));
    let _pi = lab.send(&readings);
    let Some(mut b) = lab.browser() else { return };
    open_chart(&mut b, &[(CID, FRIDGE), (CID, FREEZER)], json!("1h"));

    assert_eq!(b.eval("document.querySelector('#chart').dataset.kind"), "raw");
    // One uPlot: the time column and a line per sensor, each its own colour.
    assert_eq!(b.eval("CliserChart._plot.series.length"), 3);
    let swatches = b.eval(
        "[...document.querySelectorAll('#chart .chart-legend tbody .chart-swatch')].map((s) => getComputedStyle(s).backgroundColor)",
    );
    let swatches = swatches.as_array().expect("swatches");
    assert_eq!(swatches.len(), 2, "{swatches:?}");
    assert_ne!(swatches[0], swatches[1], "each sensor its own colour");

    let expect = |values: &[f64]| {
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        [("min", min), ("mean", mean), ("max", max), ("last", *values.last().expect("values"))]
    };
    for (sensor, name, values) in [(FRIDGE, "fridge", &fridge[..]), (FREEZER, "freezer", &freezer[..])] {
        let row = legend_row(&mut b, sensor);
        assert_eq!(row["name"], name, "{row}");
        for (stat, want) in expect(values) {
            let cell = &row[stat];
            let got = cell["value"].as_str().and_then(|v| v.parse::<f64>().ok());
            assert!(got.is_some_and(|g| (g - want).abs() < 1e-9), "{name} {stat}: {cell} != {want}");
            assert_eq!(cell["text"], format!("{want:.2} °C"), "{name} {stat} as shown");
        }
    }

    // A live reading (as the page hands on from its event stream) moves last and max.
    let ts = now_ms();
    b.eval(&format!(
        "CliserChart.append({})",
        json!({ "cid": CID, "sensor": FRIDGE, "ts": ts, "value": 9.5 })
    ));
    b.wait_for(
        &format!(
            "document.querySelector('#chart tr[data-series=\"{CID}/{FRIDGE}\"] td[data-stat=\"last\"]')?.dataset.value === '9.5'"
        ),
        PAGE,
        "the live reading in the legend",
    );
    let row = legend_row(&mut b, FRIDGE);
    assert_eq!(row["max"]["value"], "9.5", "{row}");
    assert_eq!(row["min"]["value"], "3.5", "{row}");
}

/// The legend row of `sensor` of [`CID`]: its name and each stat's text and exact value.
fn legend_row(b: &mut Browser, sensor: &str) -> Value {
    b.eval(&format!(
        "(() => {{ const row = document.querySelector('#chart .chart-legend tr[data-series=\"{CID}/{sensor}\"]'); \
         if (!row) return null; const cell = (k) => {{ const c = row.querySelector(`td[data-stat=\"${{k}}\"]`); \
         return {{ text: c.textContent, value: c.dataset.value ?? null }}; }}; \
         return {{ name: row.querySelector('.chart-legend-label').textContent, min: cell('min'), mean: cell('mean'), \
         max: cell('max'), last: cell('last') }}; }})()"
    ))
}

#[test]
fn a_drag_across_the_chart_zooms_the_legend_to_the_part_shown_and_reset_restores_the_range() {
    let lab = Lab::start();
    let _logs = DumpLogsOnPanic(lab.dir.path());
    let now = now_s();
    // A minute apart: 1, 2, 3, 10, 11 °C; the zoom takes the last two.
    let values = [1.0, 2.0, 3.0, 10.0, 11.0];
    let at = |i: usize| now - ((values.len() - i) as i64) * 60_000;
    let readings: Vec<R> =
        values.iter().enumerate().map(|(i, &v)| R(FREEZER, Some(v), Some(at(i)))).collect();
    let _pi = lab.send(&readings);
    let Some(mut b) = lab.browser() else { return };
    open_chart(&mut b, &[(CID, FREEZER)], json!("1h"));
    assert_eq!(legend_row(&mut b, FREEZER)["min"]["value"], "1");

    // From halfway between the third and fourth reading to past the last.
    let (x0, y) = screen_at(&mut b, (at(2) + at(3)) / 2, 5.0);
    let (x1, _) = screen_at(&mut b, at(4) + 30_000, 5.0);
    b.mouse_drag((x0, y), (x1, y));
    b.wait_for("document.querySelector('#chart').dataset.zoomed === '1'", PAGE, "the chart zoomed");
    let row = legend_row(&mut b, FREEZER);
    assert_eq!((&row["min"]["value"], &row["max"]["value"]), (&json!("10"), &json!("11")), "{row}");
    assert_eq!(row["mean"]["value"], "10.5", "{row}");
    let csv = b.eval("document.querySelector('#chart .chart-csv-link').href");
    assert!(
        csv.as_str().is_some_and(|h| h.contains("format=csv") && h.contains(&format!("cid={CID}"))),
        "{csv}"
    );

    b.click("#chart .chart-reset");
    b.wait_for("document.querySelector('#chart').dataset.zoomed === '0'", PAGE, "the zoom reset");
    assert_eq!(legend_row(&mut b, FREEZER)["min"]["value"], "1");
    assert_eq!(b.eval("document.querySelector('#chart .chart-reset').hidden"), true);
}

#[test]
fn an_outage_of_two_minutes_is_drawn_as_a_gap() {
    let lab = Lab::start();
    let _logs = DumpLogsOnPanic(lab.dir.path());
    let now = now_s();
    // Every ten seconds for 20 minutes, nothing for two, then ten more minutes.
    let outage_from = now - 20 * 60_000;
    let outage_to = outage_from + 120_000;
    let mut readings =
        series_of(FRIDGE, now - 40 * 60_000, outage_from + 1, 10_000, |i| 4.0 + 0.01 * i as f64);
    readings.extend(series_of(FRIDGE, outage_to, now - 10 * 60_000, 10_000, |i| 5.0 + 0.01 * i as f64));
    let _pi = lab.send(&readings);
    let Some(mut b) = lab.browser() else { return };
    open_chart(&mut b, &[(CID, FRIDGE)], json!("1h"));

    // uPlot's data for the line: `null` (a break) exactly once, between the two runs; no value is
    // missing within either run.
    let found = b.eval(
        "(() => { const [xs, ys] = CliserChart._plot.data; const pts = []; const nulls = []; \
         xs.forEach((x, i) => { if (ys[i] === null) nulls.push(x); else if (ys[i] !== undefined) pts.push(x); }); \
         return { pts, nulls }; })()",
    );
    let pts: Vec<i64> = found["pts"].as_array().expect("points").iter().filter_map(Value::as_i64).collect();
    let nulls: Vec<i64> =
        found["nulls"].as_array().expect("nulls").iter().filter_map(Value::as_i64).collect();
    assert_eq!(pts.len(), readings.len(), "every reading is a point");
    assert_eq!(nulls.len(), 1, "one break: {nulls:?}");
    assert!(outage_from < nulls[0] && nulls[0] < outage_to, "the break {} is inside the outage", nulls[0]);
    // And uPlot drew the line in two parts: its path has one gap, where the outage is.
    let gaps = b.eval(
        "(() => { const u = CliserChart._plot; const g = u.series[1]._paths?.gaps || []; \
         const val = (px) => u.posToVal((px - u.bbox.left) / devicePixelRatio, 'x'); \
         return g.map(([a, b]) => [val(a), val(b)]); })()",
    );
    let gaps = gaps.as_array().expect("gaps");
    assert_eq!(gaps.len(), 1, "one gap in the drawn line: {gaps:?}");
    let (g0, g1) = (gaps[0][0].as_f64().unwrap_or(0.0), gaps[0][1].as_f64().unwrap_or(0.0));
    // A pixel of slack at each end: 1 h over ~1200 px is 3 s a pixel.
    assert!(
        (g0 - outage_from as f64).abs() < 10_000.0 && (g1 - outage_to as f64).abs() < 10_000.0,
        "the gap {g0}..{g1} is the outage {outage_from}..{outage_to}"
    );
    // Hovering inside the outage shows no value.
    let (x, y) = screen_at(&mut b, (outage_from + outage_to) / 2, 4.5);
    b.mouse_move(x, y);
    b.wait_for("CliserChart._plot.cursor.left > 0", PAGE, "the cursor over the chart");
    assert_eq!(b.eval("document.querySelector('#chart .chart-tip')?.hidden ?? true"), true);
}

#[test]
fn a_sensor_with_less_than_an_hour_stored_opens_on_one_hour() {
    let lab = Lab::start();
    let _logs = DumpLogsOnPanic(lab.dir.path());
    let now = now_s();
    let readings = series_of(FRIDGE, now - 30_000, now, 5_000, |i| 4.0 + 0.1 * i as f64);
    let _pi = lab.send(&readings);
    let Some(mut b) = lab.browser() else { return };
    open_chart(&mut b, &[(CID, FRIDGE)], Value::Null);
    assert_eq!(b.eval("document.querySelector('#chart').dataset.range"), "1h");
    assert_eq!(
        b.eval("document.querySelector('#chart .chart-ranges button[aria-pressed=\"true\"]')?.dataset.range"),
        "1h"
    );
    let span = b.eval("CliserChart._plot.scales.x.max - CliserChart._plot.scales.x.min");
    let span = span.as_f64().expect("the x scale's span");
    assert!((span - 3_600_000.0).abs() < 5_000.0, "the x axis spans {span} ms, not an hour");
    assert_eq!(b.eval("CliserChart.current().range"), Value::Null, "asked for a fitted range");

    // Its sparkline, from the raw readings of the last hour as the page fetches them: a line
    // through all seven.
    let spark = b.eval(&format!(
        "(async () => {{ const body = await (await fetch('/api/readings?cid={CID}&sensor={FRIDGE}&since=1h')).json(); \
         const points = body.series[0].points.map((p) => ({{ t: p[0], v: p[1] }})); \
         const box = document.createElement('div'); document.body.append(box); \
         CliserChart.spark(box, points, {{ t0: Date.now() - 3600e3, t1: Date.now(), gapMs: 30e3 }}); \
         const path = box.querySelector('svg path'); \
         return {{ points: Number(box.querySelector('svg').dataset.points), d: path ? path.getAttribute('d') : null, \
         text: box.textContent }}; }})()"
    ));
    assert_eq!(spark["points"], readings.len(), "{spark}");
    let d = spark["d"].as_str().expect("a path");
    assert_eq!((d.matches('M').count(), d.matches('L').count()), (1, readings.len() - 1), "one line: {d}");
    assert_eq!(spark["text"], "", "no text in a sparkline");
}

/// Spreading an array into `Math.min` or `Math.max` throws once it is long enough (some 100,000
/// elements): the page's scripts use loops for arrays that grow with the readings.
#[test]
fn no_array_is_spread_into_math_min_or_max_in_the_pages_scripts() {
    let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web/assets");
    for file in ["app.js", "chart.js", "admin.js"] {
        let text = std::fs::read_to_string(assets.join(file)).expect("the page's script");
        let spread: Vec<_> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains("Math.min(...") || l.contains("Math.max(..."))
            .map(|(i, l)| format!("{file}:{}: {}", i + 1, l.trim()))
            .collect();
        assert!(spread.is_empty(), "arrays spread into Math.min/max: {spread:#?}");
    }
}

/// Live readings extend the open chart: what it holds stays within the range it shows, however
/// many come (a sensor reading far too fast, or a client flooding), and neither the chart nor a
/// sparkline spreads a huge array into `Math.min` (which throws past some 100,000 arguments).
#[test]
fn live_points_stay_within_the_range_shown_however_many_come() {
    let lab = Lab::start();
    let _logs = DumpLogsOnPanic(lab.dir.path());
    let now = now_s();
    let _pi = lab.send(&series_of(FRIDGE, now - 600_000, now, 10_000, |i| 4.0 + 0.01 * i as f64));
    let Some(mut b) = lab.browser() else { return };
    open_chart(&mut b, &[(CID, FRIDGE)], json!("1h"));
    // Through the chart's own door for live readings (the page calls it for each stored reading).
    let held = |b: &mut Browser| b.eval("CliserChart._plot.data[1].length").as_u64().expect("a length");
    let before = held(&mut b);
    let fed = b.eval(&format!(
        "(() => {{ const t0 = Date.now() - 7200e3; \
         for (let i = 0; i < 100; i++) CliserChart.append({{ cid: '{CID}', sensor: '{FRIDGE}', ts: t0 + i * 1000, value: 9 }}); \
         const now = Date.now(); \
         for (let i = 0; i < 300000; i++) CliserChart.append({{ cid: '{CID}', sensor: '{FRIDGE}', ts: now - 300000 + i, value: 4 + (i % 100) / 100 }}); \
         return true; }})()"
    ));
    assert_eq!(fed, true);
    b.wait_for(&format!("CliserChart._plot.data[1].length > {before}"), PAGE, "the live points drawn");
    let x = b.eval(
        "(() => { const t = CliserChart._plot.data[0]; const since = Date.now() - 3600e3 - 60e3; \
         let old = 0; for (const x of t) if (x < since) old++; return { n: t.length, old }; })()",
    );
    assert_eq!(x["old"], 0, "no point before the range shown is kept: {x}");
    let n = x["n"].as_u64().expect("n");
    assert!(n <= 25_000, "300,000 live points in the last 5 minutes: the chart holds {n}");
    // A sparkline of as many points as a flooding sensor sends in its hour.
    let spark = b.eval(
        "(() => { const box = document.createElement('div'); document.body.append(box); \
         const now = Date.now(); const points = []; \
         for (let i = 0; i < 500000; i++) points.push({ t: now - 500000 + i, v: 4 + (i % 7) }); \
         try { CliserChart.spark(box, points, { t0: now - 3600e3, t1: now }); } catch (e) { return String(e); } \
         return Number(box.querySelector('svg').dataset.points); })()",
    );
    assert_eq!(spark, 500_000, "a sparkline of 500,000 points is drawn");
}

#[test]
fn long_ranges_draw_hourly_rollups_as_a_mean_line_in_a_min_max_band() {
    let lab = Lab::start();
    let _logs = DumpLogsOnPanic(lab.dir.path());
    // The last five whole hours: in hour h, 10 + h at ten past and 12 + h at twenty to.
    let hour = 3_600_000;
    let this_hour = now_ms() / hour * hour;
    let mut readings = Vec::new();
    for h in 0..5 {
        let start = this_hour - (5 - h) * hour;
        readings.push(R(FRIDGE, Some(10.0 + h as f64), Some(start + 10 * 60_000)));
        readings.push(R(FRIDGE, Some(12.0 + h as f64), Some(start + 40 * 60_000)));
    }
    let _pi = lab.send(&readings);
    let Some(mut b) = lab.browser() else { return };
    open_chart(&mut b, &[(CID, FRIDGE)], json!("7d"));
    assert_eq!(b.eval("document.querySelector('#chart').dataset.kind"), "buckets");
    // The mean line and the band's two edges, and the band between them.
    assert_eq!(b.eval("CliserChart._plot.series.length"), 4);
    assert_eq!(b.eval("CliserChart._plot.bands.length"), 1);
    let row = legend_row(&mut b, FRIDGE);
    for (stat, want) in [("min", "10"), ("max", "16"), ("mean", "13"), ("last", "15")] {
        assert_eq!(row[stat]["value"], want, "{stat}: {row}");
    }
    // The readout over the third hour: its mean, and its min to max.
    let third = this_hour - 3 * hour;
    let (x, y) = screen_at(&mut b, third, 13.0);
    b.mouse_move(x, y);
    let tip = b.wait_value(
        &format!(
            "(() => {{ const row = document.querySelector('#chart .chart-tip:not([hidden]) .chart-tip-row'); \
             return row && Number(row.dataset.ts) === {third} ? row.textContent : null; }})()"
        ),
        PAGE,
        "the readout of the third hour",
    );
    assert!(tip.as_str().is_some_and(|t| t.contains("13.000 °C") && t.contains("12.00 – 14.00")), "{tip}");
    shoot(&mut b, "chart-7d-buckets.png");
}

#[test]
fn threshold_lines_are_drawn_at_the_configured_min_and_max() {
    let lab = Lab::start();
    let _logs = DumpLogsOnPanic(lab.dir.path());
    let now = now_s();
    let readings = series_of(FRIDGE, now - 30 * 60_000, now, 30_000, |i| 4.0 + ((i as f64) / 6.0).sin());
    let _pi = lab.send(&readings);
    let Some(mut b) = lab.browser() else { return };
    open_chart(&mut b, &[(CID, FRIDGE)], json!("1h"));

    let lines = b.eval(
        "(() => { const u = CliserChart._plot; \
         return { lines: JSON.parse(document.querySelector('#chart').dataset.thresholds || '[]'), \
         height: u.over.clientHeight, y2: u.valToPos(2, 'y'), y8: u.valToPos(8, 'y') }; })()",
    );
    let list = lines["lines"].as_array().expect("thresholds");
    let key = format!("{CID}/{FRIDGE}");
    let line = |kind: &str| {
        list.iter()
            .find(|l| l["kind"] == kind && l["series"] == key.as_str())
            .unwrap_or_else(|| panic!("no {kind} line for {key}: {lines}"))
            .clone()
    };
    let (min, max) = (line("min"), line("max"));
    assert_eq!((min["value"].as_f64(), max["value"].as_f64()), (Some(2.0), Some(8.0)), "{lines}");
    assert_eq!((&min["shown"], &max["shown"]), (&json!(true), &json!(true)), "both within the plot: {lines}");
    let height = lines["height"].as_f64().expect("the plot's height");
    for (l, at) in [(&min, &lines["y2"]), (&max, &lines["y8"])] {
        let y = l["y"].as_f64().expect("y");
        assert!((y - at.as_f64().expect("valToPos")).abs() < 0.01, "drawn at its value: {l} vs {at}");
        assert!((0.0..=height).contains(&y), "inside the plot (0..{height}): {l}");
    }
    assert!(max["y"].as_f64() < min["y"].as_f64(), "max above min: {lines}");
    // The data (3..5 °C) lies between the lines.
    let y4 = b.eval("CliserChart._plot.valToPos(4, 'y')").as_f64().expect("y of 4 °C");
    assert!(max["y"].as_f64().unwrap() < y4 && y4 < min["y"].as_f64().unwrap());
}

#[test]
fn a_firing_period_is_shaded_from_fired_to_resolved() {
    // The limit fires at once (no `for`), and resolves below max - deadband.
    let config = "[sensors.\"28-00000000f001\"]\nname = \"fridge\"\nmax = 8.0\ndeadband = 0.5\n";
    let lab = Lab::start_with(config);
    let _logs = DumpLogsOnPanic(lab.dir.path());
    let mut pi = Pi::login(&lab.server, CID);
    // Readings stamped by the server as they come: inside, above max for a while, inside again.
    pi.answer(&[R(FRIDGE, Some(5.0), None)]);
    for _ in 0..10 {
        pi.answer(&[R(FRIDGE, Some(9.0), None)]);
    }
    pi.answer(&[R(FRIDGE, Some(6.0), None)]);
    pi.settle();
    let history = cliser_testkit::wait_until(PAGE, "fired and resolved in the alert history", || {
        let reply = get(lab.http(), &format!("/api/alerts/history?cid={CID}&sensor={FRIDGE}&kind=above_max"));
        (reply.status == 200).then(|| reply.json()).filter(|j| {
            let events = j["events"].as_array().map(Vec::as_slice).unwrap_or_default();
            ["fired", "resolved"].iter().all(|e| events.iter().any(|x| x["event"] == *e))
        })
    });
    let events = history["events"].as_array().expect("events");
    let at = |e: &str| events.iter().find(|x| x["event"] == e).and_then(|x| x["at"].as_i64()).expect("at");
    let (fired, resolved) = (at("fired"), at("resolved"));
    assert!(fired <= resolved, "{history}");

    let Some(mut b) = lab.browser() else { return };
    open_chart(&mut b, &[(CID, FRIDGE)], json!("1h"));
    let periods = b.wait_value(
        "(() => { const p = JSON.parse(document.querySelector('#chart').dataset.firing || '[]'); \
         return p.length ? p : null; })()",
        PAGE,
        "a firing period drawn",
    );
    let periods = periods.as_array().expect("periods");
    assert_eq!(periods.len(), 1, "{periods:?}");
    let p = &periods[0];
    assert_eq!((&p["kind"], &p["sensor"]), (&json!("above_max"), &json!(FRIDGE)), "{p}");
    assert_eq!((p["from"].as_i64(), p["to"].as_i64()), (Some(fired), Some(resolved)), "{p} vs {history}");
    // Zoomed in to a minute around it, to look at.
    let before = drawn(&mut b);
    b.eval(&format!(
        "CliserChart._plot.setScale('x', {{ min: {}, max: {} }})",
        fired - 30_000,
        resolved + 30_000
    ));
    wait_redrawn(&mut b, &before, "the chart zoomed to the firing period");
    shoot(&mut b, "chart-firing.png");
}

/// `<target>/web/<name>`: the target dir is three levels above this test's executable
/// (`<target>/<profile>/deps/`), wherever CARGO_TARGET_DIR put it; never the source tree.
fn screenshot_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let target = exe.ancestors().nth(3).expect("the test runs from <target>/<profile>/deps");
    target.join("web").join(name)
}

fn set_viewport(b: &mut Browser, width: u32, height: u32, scale: f64, mobile: bool) {
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": width, "height": height, "deviceScaleFactor": scale, "mobile": mobile }),
    );
}

fn set_dark(b: &mut Browser, dark: bool) {
    let value = if dark { "dark" } else { "light" };
    b.call(
        "Emulation.setEmulatedMedia",
        json!({ "features": [{ "name": "prefers-color-scheme", "value": value }] }),
    );
}

/// Waits for the chart to be drawn again after something changed (a resize, a colour scheme).
fn wait_redrawn(b: &mut Browser, since: &Value, what: &str) {
    b.wait_for(&format!("Number(document.querySelector('#chart').dataset.drawn) > {since}"), PAGE, what);
}

fn drawn(b: &mut Browser) -> Value {
    b.eval("Number(document.querySelector('#chart').dataset.drawn)")
}

/// Saves a screenshot of the chart panel's page as `<target>/web/<name>`.
fn shoot(b: &mut Browser, name: &str) -> PathBuf {
    b.eval("document.querySelector('#chart').scrollIntoView({ block: 'start' })");
    let png = screenshot_path(name);
    b.screenshot(&png);
    println!("screenshot: {}", png.display());
    png
}

/// Canvas text is drawn at device pixels: the canvas holds exactly its CSS size times the pixel
/// ratio (a canvas stretched by CSS would stretch its text); and nothing in the panel is wider than
/// the window.
fn assert_crisp_and_inside(b: &mut Browser, what: &str) {
    let got = b.eval(
        "(() => { const c = CliserChart._plot.ctx.canvas; const r = c.getBoundingClientRect(); \
         const wide = [...document.querySelectorAll('#chart, #chart *')].filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5) \
           .map((e) => `${e.tagName}.${e.className}`); \
         return { canvas: [c.width, c.height], css: [r.width, r.height], dpr: devicePixelRatio, inner: innerWidth, wide, \
           scroll: document.documentElement.scrollWidth }; })()",
    );
    let dpr = got["dpr"].as_f64().expect("dpr");
    for i in 0..2 {
        let (px, css) =
            (got["canvas"][i].as_f64().expect("canvas px"), got["css"][i].as_f64().expect("css px"));
        assert!((px - (css * dpr).round()).abs() <= 1.0, "{what}: the canvas is stretched: {got}");
    }
    assert_eq!(got["wide"], json!([]), "{what}: wider than the window: {got}");
}

#[test]
fn screenshots_of_the_chart_at_1280_and_412_px_light_and_dark() {
    let lab = Lab::start();
    let _logs = DumpLogsOnPanic(lab.dir.path());
    let now = now_s();
    // Fifty minutes of both sensors every 20 s; the fridge has a two-minute outage and runs near
    // its max for a while.
    let from = now - 50 * 60_000;
    let outage = (now - 22 * 60_000, now - 20 * 60_000);
    let fridge = |i: i64| 5.2 + 1.6 * ((i as f64) / 18.0).sin() + 0.15 * ((i as f64) / 2.3).sin();
    let mut readings: Vec<R> = series_of(FRIDGE, from, now, 20_000, fridge)
        .into_iter()
        .filter(|r| r.2.is_some_and(|t| t < outage.0 || t >= outage.1))
        .collect();
    readings.extend(series_of(FREEZER, from, now, 20_000, |i| -18.3 + 0.9 * ((i as f64) / 25.0).cos()));
    // Freezers are charted on their own scale in real use; here the two share one to show a legend.
    let _pi = lab.send(&readings);
    let Some(mut b) = lab.browser() else { return };
    set_viewport(&mut b, 1280, 900, 1.0, false);
    set_dark(&mut b, false);
    open_chart(&mut b, &[(CID, FRIDGE), (CID, FREEZER)], json!("1h"));
    assert_crisp_and_inside(&mut b, "1280 px");
    let t = now - 35 * 60_000;
    let (x, y) = screen_at(&mut b, t, 5.0);
    b.mouse_move(x, y);
    b.wait_for("!document.querySelector('#chart .chart-tip')?.hidden", PAGE, "the readout");
    shoot(&mut b, "chart-1280-light.png");

    let before = drawn(&mut b);
    set_dark(&mut b, true);
    wait_redrawn(&mut b, &before, "the chart redrawn in dark colours");
    let axis =
        b.eval("getComputedStyle(document.querySelector('#chart')).getPropertyValue('--chart-axis').trim()");
    assert_ne!(axis, "#5c6370", "the dark scheme's axis colour");
    b.mouse_move(x, y);
    shoot(&mut b, "chart-1280-dark.png");

    let before = drawn(&mut b);
    set_viewport(&mut b, 412, 915, 2.0, true);
    wait_redrawn(&mut b, &before, "the chart redrawn at 412 px");
    b.wait_for("CliserChart._plot.width <= 412", PAGE, "the chart as wide as a phone");
    assert_crisp_and_inside(&mut b, "412 px dark");
    shoot(&mut b, "chart-412-dark.png");
    set_dark(&mut b, false);
    assert_crisp_and_inside(&mut b, "412 px light");
    let (x, y) = screen_at(&mut b, t, 5.0);
    b.mouse_move(x, y);
    shoot(&mut b, "chart-412-light.png");
}
