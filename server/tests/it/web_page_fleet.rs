//! A fleet of 200 nodes on the page: the compact table lists them all in order, a live reading
//! changes its own row in place (no row is built again), and the filter (kept in the URL with the
//! view) finds one node by id and one sensor by name, in the table and in the cards.

use crate::common;
use crate::web_page_kit;
use cliser_testkit::Browser;
use common::*;
use serde_json::json;
use web_page_kit::*;

const FLEET: usize = 200;

fn cid(i: usize) -> String {
    format!("sim-{i:03}")
}

fn sensor(i: usize, k: usize) -> String {
    format!("28-{i:06}{k:06}")
}

/// Puts three readings of each of the fleet's two sensors, over the last ten minutes, into the
/// store at `url` before the server starts: the server knows the fleet from its store (offline,
/// until each node registers).
fn seed_fleet(url: &str) {
    use cliser_protocol::{Celsius, ClientId, SensorId, Value};
    let mut store = cliser_store::open(url).unwrap_or_else(|e| panic!("open the store: {e}"));
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_millis()
            as i64;
    let mut readings = Vec::new();
    for i in 1..=FLEET {
        for k in 1..=2 {
            for age_min in [10, 5, 1] {
                let t = 15.0 + (i % 10) as f64 + k as f64 * 0.5 - age_min as f64 * 0.01;
                readings.push(cliser_store::NewReading {
                    cid: ClientId::new(&cid(i)).expect("a valid client id"),
                    sensor: SensorId::new(&sensor(i, k)).expect("a valid sensor id"),
                    value: Value::Celsius(Celsius::new(t).expect("a sane temperature")),
                    sampled_ms: now - age_min * 60_000,
                    received_ms: now - age_min * 60_000,
                    seq: None,
                    ts_quality: cliser_store::TsQuality::Synced,
                });
            }
        }
    }
    store.commit(&readings).unwrap_or_else(|e| panic!("store the fleet's readings: {e}"));
}

/// JavaScript: the table's rows that are shown, as "cid/sensor".
const SHOWN_ROWS: &str =
    "[...document.querySelectorAll('#fleet-rows tr')].filter((r) => !r.hidden).map((r) => r.dataset.cid + '/' + r.dataset.sensor)";

#[test]
fn two_hundred_nodes_in_the_table_a_live_row_changes_in_place_and_the_filter_finds_one() {
    let Some(mut browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let _logs = DumpLogsOnPanic(dir.path());
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("the data dir");
    seed_fleet(&format!("sqlite:{}", data.join("cliser.db").display()));
    let boiler = sensor(137, 2);
    let config = write_config(dir.path(), &format!("[sensors.\"{boiler}\"]\nname = \"boiler room\"\n"));
    let config_arg = config.display().to_string();
    let server = ServerHandle::start(dir.path(), &["--keepalive", "500ms", "--config", &config_arg]);
    let http = server.http.expect("test servers serve the page");
    let live = "sim-live";
    let d = dir.path();
    let _live = pi_client(
        server.addr,
        &server.password,
        live,
        &d.join(live),
        &d.join("live.log"),
        &["--interval", "500ms"],
    );

    // All of them, in order (numbers in ids sort as numbers), the seeded ones offline.
    browser.navigate(&format!("http://{http}/?view=table"));
    let rows = 2 * (FLEET + 1);
    browser.wait_for(
        &format!(
            "document.querySelectorAll('#fleet-rows tr').length === {rows} && \
             document.querySelectorAll('#fleet-rows tr[data-cid=\"{live}\"] td.value').length === 2 && \
             [...document.querySelectorAll('#fleet-rows tr[data-cid=\"{live}\"] td.value')].every((v) => v.dataset.hasValue)"
        ),
        PAGE,
        "the table's 402 rows, the live node's with values",
    );
    let shown = browser.eval("performance.getEntriesByName('cliser-values-shown')[0]?.startTime");
    println!("{FLEET} nodes: the first value shown {shown} ms after navigation started");
    let cids = browser
        .eval("[...new Set([...document.querySelectorAll('#fleet-rows tr')].map((r) => r.dataset.cid))]");
    let mut want: Vec<String> = (1..=FLEET).map(cid).collect();
    want.push(live.to_owned());
    assert_eq!(cids, json!(want), "every node once, in order");
    assert_eq!(browser.eval(&format!("{SHOWN_ROWS}.length")), json!(rows), "nothing filtered");
    let state =
        browser.eval("document.querySelector('#fleet-rows tr[data-cid=\"sim-001\"] td.t-state').textContent");
    assert!(
        state.as_str().is_some_and(|s| s.starts_with("offline for ")),
        "a node known from the store: {state}"
    );
    browser.wait_for(
        "document.querySelector('#summary').textContent.startsWith('1 of 201 nodes online')",
        PAGE,
        "the summary",
    );

    // A live reading changes its own row's cells: no row is added, removed or replaced.
    browser.eval(&format!(
        "window.liveRow = document.querySelector('#fleet-rows tr[data-cid=\"{live}\"]'); \
         window.otherRow = document.querySelector('#fleet-rows tr[data-cid=\"sim-100\"]'); \
         window.rowChanges = 0; new MutationObserver((m) => {{ window.rowChanges += m.length; }}) \
         .observe(document.querySelector('#fleet-rows'), {{ childList: true }}); \
         window.liveTs = Number(window.liveRow.querySelector('td.age').dataset.ts)"
    ));
    browser.wait_for(
        "Number(window.liveRow.querySelector('td.age').dataset.ts) > window.liveTs",
        PAGE,
        "a newer reading in the live node's row",
    );
    let same = browser.eval(&format!(
        "[window.liveRow === document.querySelector('#fleet-rows tr[data-cid=\"{live}\"]'), \
         window.otherRow === document.querySelector('#fleet-rows tr[data-cid=\"sim-100\"]'), window.rowChanges]"
    ));
    assert_eq!(same, json!([true, true, 0]), "the rows kept, none added or removed");

    // The filter: an id, typed, then a name in other letters' case; the URL keeps it and the view.
    browser.type_into("#filter", "sim-137");
    browser.wait_for(&format!("{SHOWN_ROWS}.length === 2"), PAGE, "sim-137's two rows");
    // Its named sensor first, though its id sorts last.
    assert_eq!(
        browser.eval(SHOWN_ROWS),
        json!([format!("sim-137/{boiler}"), format!("sim-137/{}", sensor(137, 1))])
    );
    assert_eq!(browser.eval("location.search"), "?view=table&q=sim-137");
    browser.eval("(() => { const f = document.querySelector('#filter'); f.value = ''; f.dispatchEvent(new Event('input')); })()");
    browser.wait_for(&format!("{SHOWN_ROWS}.length === {rows}"), PAGE, "every row again");
    browser.type_into("#filter", "BOILER");
    browser.wait_for(&format!("{SHOWN_ROWS}.length === 1"), PAGE, "the boiler room's row");
    assert_eq!(browser.eval(SHOWN_ROWS), json!([format!("sim-137/{boiler}")]));
    let name = browser.eval("[...document.querySelectorAll('#fleet-rows tr')].find((r) => !r.hidden).querySelector('.label .name').textContent");
    assert_eq!(name, "boiler room");

    // The cards show the same: one card, one sensor in it.
    browser.click(r#".views button[data-view="cards"]"#);
    browser.wait_for("!document.querySelector('#nodes').hidden", PAGE, "the cards");
    assert_eq!(browser.eval("location.search"), "?q=BOILER");
    let shown_cards = browser.eval(
        "[...document.querySelectorAll('section.node')].filter((n) => !n.hidden).map((n) => \
         [n.dataset.cid, [...n.querySelectorAll('li.sensor')].filter((s) => !s.hidden).map((s) => s.dataset.sensor)])",
    );
    assert_eq!(shown_cards, json!([["sim-137", [boiler]]]));
    assert_eq!(browser.eval("document.querySelectorAll('section.node').length"), json!(FLEET + 1));

    // The URL alone brings the view and the filter back.
    browser.navigate(&format!("http://{http}/?view=table&q=sim-042"));
    browser.wait_for(&format!("{SHOWN_ROWS}.length === 2"), PAGE, "sim-042's rows from the URL");
    assert_eq!(browser.eval("document.querySelector('#filter').value"), "sim-042");
    assert_eq!(browser.eval(&format!("{SHOWN_ROWS}.every((k) => k.startsWith('sim-042/'))")), true);
}
