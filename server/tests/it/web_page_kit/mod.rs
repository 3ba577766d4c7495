//! Shared by the page's browser tests (`web_page*.rs`): where screenshots go, a Pi client whose
//! sensor id is known before it starts, the config file, and the page read back as data.

use crate::common::*;
use cliser_testkit::Browser;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Generous for a cold browser on a busy 2-core machine; each wait ends as soon as its condition holds.
pub const PAGE: Duration = Duration::from_secs(30);

/// `<target>/web/`: the target dir is three levels above the test's executable
/// (`<target>/<profile>/deps/`), wherever CARGO_TARGET_DIR put it; never the source tree.
pub fn web_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let target = exe.ancestors().nth(3).expect("the test runs from <target>/<profile>/deps");
    target.join("web")
}

/// Writes the server's config file `server.toml` in `dir` and returns its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("server.toml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path
}

/// The id the Pi client gives the file sensor at `path` (hal's `file_sensor_id`: `file-` and the
/// file's name).
pub fn file_sensor_id(path: &Path) -> String {
    format!("file-{}", path.file_name().expect("a file name").to_string_lossy())
}

/// Starts the real Pi client as `id` with one sensor read from a file holding `celsius` (so its
/// sensor id, `file-<name>`, is known before it reports and can be named in the config file).
pub fn file_client(
    server: &ServerHandle,
    id: &str,
    sensor_file: &Path,
    celsius: f64,
    interval: &str,
) -> Proc {
    std::fs::write(sensor_file, format!("{celsius}\n")).expect("write the sensor's file");
    let dir = server.dir.clone();
    let state = dir.join(format!("{id}-state"));
    let mut cmd = std::process::Command::new(cliser_testkit::bin("cliser-pi-client"));
    cmd.args(["--server", &server.addr.to_string(), "--id", id, "--interval", interval, "--state-dir"])
        .arg(&state)
        .arg("--sensor")
        .arg(format!("file:{}", sensor_file.display()))
        .env("CLISER_PASSWORD", &server.password);
    Proc::spawn(cmd, &dir.join(format!("{id}.log")))
}

/// The page's cards as data: `[{cid, online, status, off_for, sensors: [{id, name, id_text, value,
/// has_value, ts, spark_points, spark_drawn}]}]`.
pub const CARDS_JS: &str = r#"[...document.querySelectorAll("section.node")].map((n) => ({
    cid: n.dataset.cid,
    online: n.dataset.online,
    hidden: n.hidden,
    status: n.querySelector(".status")?.textContent,
    off_for: n.querySelector(".off-for")?.hidden ? null : n.querySelector(".off-for")?.textContent,
    sensors: [...n.querySelectorAll("li.sensor")].map((s) => ({
        id: s.dataset.sensor,
        name: s.querySelector(".label .name")?.textContent,
        id_text: s.querySelector(".label .id")?.textContent ?? null,
        value: s.querySelector(".value")?.textContent,
        has_value: s.querySelector(".value")?.dataset.hasValue === "1",
        ts: Number(s.querySelector(".age")?.dataset.ts),
        spark_points: Number(s.querySelector(".spark")?.dataset.points || 0),
        spark_drawn: (s.querySelector(".spark")?.childElementCount || 0) > 0,
    })),
}))"#;

/// The page's cards (see [`CARDS_JS`]).
pub fn cards(browser: &mut Browser) -> Vec<Value> {
    match browser.eval(CARDS_JS) {
        Value::Array(a) => a,
        other => panic!("the cards are not a list: {other}"),
    }
}

/// A CSS selector for `cid`'s card.
pub fn card_sel(cid: &str) -> String {
    format!(r#"section.node[data-cid="{cid}"]"#)
}

/// A CSS selector for one sensor's row in `cid`'s card.
pub fn sensor_sel(cid: &str, sensor: &str) -> String {
    format!(r#"{} li.sensor[data-sensor="{sensor}"]"#, card_sel(cid))
}

/// JavaScript: every one of `cids` has a card, online, with a temperature on `sensors` sensors.
pub fn all_online_js(cids: &[&str], sensors: usize) -> String {
    format!(
        "{}.every((id) => {{ const n = document.querySelector(`section.node[data-cid=\"${{id}}\"]`); \
         return n && n.dataset.online === 'true' \
         && n.querySelectorAll('li.sensor .value[data-has-value]').length >= {sensors}; }})",
        json!(cids)
    )
}

/// JavaScript: the elements wider than the window (right edge past `innerWidth`), and whether the
/// page scrolls sideways: `{width, scroll_width, wider: ["tag.class (right)", ...]}`.
pub const OVERFLOW_JS: &str = r#"(() => {
    const w = window.innerWidth;
    const wider = [...document.querySelectorAll("body *")]
        .filter((e) => e.getBoundingClientRect().right > w + 0.5)
        .map((e) => `${e.tagName.toLowerCase()}.${e.className} (${Math.round(e.getBoundingClientRect().right)})`);
    return { width: w, scroll_width: document.scrollingElement.scrollWidth, wider };
})()"#;

/// How many times chart.js has drawn `#chart` (its `data-drawn`; 0 before the first).
pub fn chart_draws(browser: &mut Browser) -> u64 {
    browser.eval("Number(document.querySelector('#chart')?.dataset.drawn || 0)").as_u64().unwrap_or(0)
}

/// Waits until `#chart` is shown with the `series` (`cid/sensor`, in any order) in its
/// `data-series` (which chart.js sets on the panel) and drawn since `draws_before` (see
/// [`chart_draws`]): the panel has its full height then, and what is below it stays put for the
/// next click.
pub fn wait_chart(browser: &mut Browser, series: &[String], draws_before: u64, what: &str) {
    let mut want = series.to_vec();
    want.sort();
    let want = json!(want);
    // The panel's state, so that a failure says what the chart showed instead.
    let state = "(() => { const c = document.querySelector('#chart'); if (!c) return 'no #chart'; \
                 return JSON.stringify({ hidden: c.hidden, series: c.dataset.series ? JSON.parse(c.dataset.series).sort() : null, \
                 drawn: Number(c.dataset.drawn || 0), loading: c.dataset.loading || null, \
                 status: c.querySelector('.status, [role=status]')?.textContent || null }); })()";
    let deadline = std::time::Instant::now() + PAGE;
    loop {
        let now = browser.eval(state);
        let shown: Value = now.as_str().and_then(|t| serde_json::from_str(t).ok()).unwrap_or(Value::Null);
        if shown["hidden"] == false
            && shown["series"] == want
            && shown["drawn"].as_u64().is_some_and(|d| d > draws_before)
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {PAGE:?} waiting for {what}: the chart shows {now}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Pi client with the simulation's two sensors, reporting every 500 ms, its state and log in the
/// server's temp dir.
pub fn sim_client(server: &ServerHandle, id: &str) -> Proc {
    let dir = &server.dir;
    pi_client(
        server.addr,
        &server.password,
        id,
        &dir.join(id),
        &dir.join(format!("{id}.log")),
        &["--interval", "500ms"],
    )
}
