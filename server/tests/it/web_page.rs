//! The web page in a real browser (headless Chromium, driven over DevTools) against the real server
//! and real Pi clients (simulated sensors, and one read from a file): names first, live updates
//! without a reload, sparklines (a young sensor's too), charts opened for one sensor, a node's
//! sensors and a picked set, a node going offline while the others stay online, and the server
//! going away and coming back, which is not the fleet going offline.

use crate::common;
use crate::web_page_kit;
use cliser_testkit::Browser;
use common::*;
use serde_json::{json, Value};
use std::time::Instant;
use web_page_kit::*;

const SIMS: [&str; 2] = ["pi-attic", "pi-cellar"];

/// Readings per sensor put into the store as six hours of history, one every two minutes.
const HISTORY: i64 = 180;

/// Once the simulated clients' sensors are in the store, adds [`HISTORY`] older readings (without
/// seqs, as an import of an old ledger would, so they never clash with the clients' own) to each,
/// around its latest value: the sparklines then have an hour to draw, not seconds. Returns the
/// sensors' ids by client, sorted.
fn seed_history(server: &ServerHandle) -> Vec<(String, Vec<String>)> {
    use cliser_protocol::{Celsius, Value};
    let mut store = cliser_store::open(&server.store_url()).unwrap_or_else(|e| panic!("open the store: {e}"));
    let sensors = cliser_testkit::wait_until(T, "both simulated clients' two sensors in the store", || {
        let all = store.sensors().unwrap_or_else(|e| panic!("read the store: {e}"));
        let ours: Vec<_> = all.into_iter().filter(|s| SIMS.contains(&s.cid.as_str())).collect();
        (ours.len() == 2 * SIMS.len() && ours.iter().all(|s| s.last.is_some())).then_some(ours)
    });
    let mut history = Vec::new();
    for s in &sensors {
        let (newest_ms, last, _) = s.last.clone().expect("checked above");
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
    SIMS.iter()
        .map(|cid| {
            let mut ids: Vec<String> =
                sensors.iter().filter(|s| s.cid.as_str() == *cid).map(|s| s.sensor.to_string()).collect();
            ids.sort();
            (cid.to_string(), ids)
        })
        .collect()
}

#[test]
fn the_page_shows_names_first_live_sparklines_and_charts_and_marks_a_stopped_node_offline() {
    let Some(mut browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let _logs = DumpLogsOnPanic(dir.path());
    let freezer_file = dir.path().join("freezer");
    let freezer = file_sensor_id(&freezer_file);
    let config = write_config(dir.path(), &format!("[sensors.\"{freezer}\"]\nname = \"freezer\"\n"));
    let config_arg = config.display().to_string();
    let server = ServerHandle::start(dir.path(), &["--keepalive", "500ms", "--config", &config_arg]);
    let http = server.http.expect("test servers serve the page");
    let mut sims: Vec<Proc> = SIMS.iter().map(|id| sim_client(&server, id)).collect();
    let _garage = file_client(&server, "garage", &freezer_file, -18.5, "500ms");

    let ids = seed_history(&server);
    // pi-attic's second sensor by id gets a name: named sensors come first, so it heads the card.
    let (attic_named, attic_plain) = (ids[0].1[1].clone(), ids[0].1[0].clone());
    write_config(
        dir.path(),
        &format!("[sensors.\"{freezer}\"]\nname = \"freezer\"\n[sensors.\"{attic_named}\"]\nname = \"attic air\"\n"),
    );
    server.proc.signal(libc::SIGHUP);
    server.log().wait_for("2 sensors named", T);

    browser.navigate(&format!("http://{http}/"));
    let all = ["garage", "pi-attic", "pi-cellar"];
    browser.wait_for(
        &all_online_js(&all[1..], 2),
        PAGE,
        "both simulated nodes online with their temperatures",
    );
    browser.wait_for(&all_online_js(&all[..1], 1), PAGE, "garage online with its freezer's temperature");
    let nodes = cards(&mut browser);
    let cids: Vec<&str> = nodes.iter().filter_map(|n| n["cid"].as_str()).collect();
    assert_eq!(cids, all, "the cards in id order: {nodes:?}");
    for n in &nodes {
        assert_eq!(n["status"], "online", "{n}");
        assert_eq!(n["off_for"], Value::Null, "an online node says nothing of being offline: {n}");
        for s in n["sensors"].as_array().expect("sensors") {
            let value = s["value"].as_str().unwrap_or_default();
            let number = value.strip_suffix(" °C").and_then(|v| v.parse::<f64>().ok());
            assert!(s["has_value"] == true && number.is_some_and(|t| (-30.0..40.0).contains(&t)), "{s}");
            assert!(s["ts"].as_f64().is_some_and(|t| t > 1e12), "a sample time in ms: {s}");
        }
    }
    // Names first: the name is the headline, the id small beneath; an unnamed sensor's id is its
    // headline, with nothing beneath.
    let garage = &nodes[0]["sensors"];
    assert_eq!(garage.as_array().map(Vec::len), Some(1), "{garage}");
    assert_eq!((&garage[0]["name"], &garage[0]["id_text"]), (&json!("freezer"), &json!(freezer)), "{garage}");
    let attic = &nodes[1]["sensors"];
    assert_eq!(attic[0]["id"], json!(attic_named), "the named sensor first: {attic}");
    assert_eq!(
        (&attic[0]["name"], &attic[0]["id_text"]),
        (&json!("attic air"), &json!(attic_named)),
        "{attic}"
    );
    assert_eq!((&attic[1]["name"], &attic[1]["id_text"]), (&json!(attic_plain), &Value::Null), "{attic}");
    assert_eq!(browser.eval("document.body.dataset.valuesShown"), "1");
    let marks = browser.performance_entries("mark");
    assert!(marks.iter().any(|m| m["name"] == "cliser-values-shown"), "marks: {marks:?}");

    // The sparklines: the last hour's raw readings, drawn (the seeded history gives each simulated
    // sensor 30 of them, one every 2 min, and the live ones are added).
    browser.wait_for(
        "[...document.querySelectorAll('section.node:not([data-cid=garage]) li.sensor .spark')] \
         .filter((s) => Number(s.dataset.points) >= 30 && s.childElementCount > 0).length === 4",
        PAGE,
        "a sparkline of the last hour drawn for each simulated sensor",
    );

    // A click on a sensor charts it; "Chart all" charts a node's sensors together; ticked boxes
    // are compared across nodes.
    let draws = chart_draws(&mut browser);
    browser.click(&format!("{} button.open", sensor_sel("pi-attic", &attic_named)));
    wait_chart(&mut browser, &[format!("pi-attic/{attic_named}")], draws, "the chart of the clicked sensor");
    let draws = chart_draws(&mut browser);
    browser.click(&format!("{} button.chart-all", card_sel("pi-cellar")));
    let cellar: Vec<String> = ids[1].1.iter().map(|s| format!("pi-cellar/{s}")).collect();
    wait_chart(&mut browser, &cellar, draws, "the chart of pi-cellar's two sensors");
    assert_eq!(browser.eval("document.querySelector('#compare').disabled"), true, "nothing picked yet");
    browser.click(&format!("{} input.pick", sensor_sel("garage", &freezer)));
    browser.click(&format!("{} input.pick", sensor_sel("pi-cellar", &ids[1].1[0])));
    assert_eq!(browser.eval("document.querySelector('#compare').textContent"), "Compare 2");
    let draws = chart_draws(&mut browser);
    browser.click("#compare");
    let picked = [format!("garage/{freezer}"), format!("pi-cellar/{}", ids[1].1[0])];
    wait_chart(&mut browser, &picked, draws, "the chart of the two picked sensors");

    // A new reading shows up in place: the sample time changes, the page is the same document.
    browser.eval("window.cliserTestMarker = 'no reload'");
    let origin = browser.eval("performance.timeOrigin");
    let age = format!("{} .age", sensor_sel("pi-attic", &attic_named));
    let ts_js = format!("Number(document.querySelector({}).dataset.ts)", json!(age));
    let before = browser.eval(&ts_js);
    let after = browser.wait_value(
        &format!("(() => {{ const t = {ts_js}; return t > {before} ? t : null; }})()"),
        PAGE,
        "a newer reading on the page",
    );
    assert_eq!(browser.eval("window.cliserTestMarker"), "no reload", "the page was reloaded");
    assert_eq!(browser.eval("performance.timeOrigin"), origin, "a new document");
    eprintln!("sample time on the page went from {before} to {after} without a reload");

    // A sensor that started moments ago has a trend: its sparkline is drawn within 30 s of the
    // client's start, from the raw readings (no 5-minute buckets to wait for).
    let started = Instant::now();
    let _young = sim_client(&server, "pi-young");
    browser.wait_for(
        &format!("!!document.querySelector({})", json!(card_sel("pi-young"))),
        PAGE,
        "pi-young's card",
    );
    // As a person would: look at it (sparklines are fetched for the cards in view).
    browser.eval(&format!("document.querySelector({}).scrollIntoView()", json!(card_sel("pi-young"))));
    browser.wait_for(
        &format!(
            "[...document.querySelectorAll({})].filter((s) => Number(s.dataset.points) >= 2 \
             && s.childElementCount > 0).length === 2",
            json!(format!("{} li.sensor .spark", card_sel("pi-young")))
        ),
        PAGE,
        "pi-young's two sparklines",
    );
    let took = started.elapsed();
    assert!(took.as_secs() < 30, "a young sensor's sparkline took {took:?} from its client's start");
    eprintln!("pi-young's sparklines were drawn {took:?} after its client started");

    // A client stopped with SIGTERM goes offline, and says for how long; the others stay online.
    let (gone, stays) = (SIMS[1], SIMS[0]);
    sims[1].signal(libc::SIGTERM);
    let offline = format!(
        "(() => {{ const n = document.querySelector({}); return n && n.dataset.online === 'false' \
         && n.querySelector('.status').textContent === 'offline'; }})()",
        json!(card_sel(gone))
    );
    browser.wait_for(&offline, PAGE, &format!("{gone} offline"));
    sims[1].wait_exit(PAGE);
    let off_for = browser.eval(&format!(
        "document.querySelector({}).textContent",
        json!(format!("{} .off-for", card_sel(gone)))
    ));
    let off_for = off_for.as_str().unwrap_or_default();
    assert!(
        off_for.starts_with("for ") && off_for.ends_with(" s"),
        "how long it has been offline: {off_for:?}"
    );
    let stays_age = format!("{} li.sensor .age", card_sel(stays));
    let ts = browser.eval(&format!("Number(document.querySelector({}).dataset.ts)", json!(stays_age)));
    browser.wait_for(
        &format!("Number(document.querySelector({}).dataset.ts) > {ts}", json!(stays_age)),
        PAGE,
        &format!("a newer reading from {stays}"),
    );
    let online = browser.eval(&format!("document.querySelector({}).dataset.online", json!(card_sel(stays))));
    assert_eq!(online, "true", "{stays} stays online");
    assert_eq!(
        browser.eval("document.querySelector('#summary').textContent.split(' · ')[0]"),
        "3 of 4 nodes online"
    );

    let png = web_dir().join("dashboard.png");
    browser.screenshot(&png);
    println!("screenshot: {}", png.display());
}

#[test]
fn the_server_gone_is_not_the_fleet_gone_and_its_return_clears_the_banner_without_a_reload() {
    let Some(mut browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let _logs = DumpLogsOnPanic(dir.path());
    let mut server = ServerHandle::start(dir.path(), &["--keepalive", "500ms"]);
    let http = server.http.expect("test servers serve the page");
    let _sims: Vec<Proc> = SIMS.iter().map(|id| sim_client(&server, id)).collect();

    browser.navigate(&format!("http://{http}/"));
    browser.wait_for(&all_online_js(&SIMS, 2), PAGE, "both nodes online with their temperatures");
    browser.eval("window.cliserTestMarker = 'no reload'");
    let summary_js = "document.querySelector('#summary').textContent.split(' · ')[0]";
    assert_eq!(browser.eval(summary_js), "2 of 2 nodes online");
    assert_eq!(
        browser.eval("document.querySelector('#server-banner').hidden"),
        true,
        "no banner while it is there"
    );

    // The server stops: it tells the page so (an SSE `stopping`) and does not show the sessions it
    // ends as nodes going offline. The page says the server stopped, greys the values, and keeps
    // what it knew of the nodes.
    server.proc.signal(libc::SIGTERM);
    server.proc.wait_exit(PAGE);
    let banner = browser.wait_value(
        "(() => { const b = document.querySelector('#server-banner'); return b.hidden ? null : b.textContent; })()",
        PAGE,
        "the server-stopped banner",
    );
    let banner = banner.as_str().expect("the banner's text");
    let time = banner
        .strip_prefix("server stopped at ")
        .and_then(|rest| rest.strip_suffix(" — values as of then"))
        .unwrap_or_else(|| panic!("the banner says {banner:?}"));
    assert!(
        time.len() == 5
            && time.as_bytes()[2] == b':'
            && time.replace(':', "").bytes().all(|b| b.is_ascii_digit()),
        "a local HH:MM in {banner:?}"
    );
    assert_eq!(browser.eval("document.body.dataset.server"), "lost", "the values are greyed");
    let states = browser.eval("[...document.querySelectorAll('section.node')].map((n) => n.dataset.online + ' ' + n.querySelector('.status').textContent)");
    assert_eq!(states, json!(["true online", "true online"]), "no node marked offline");
    assert_eq!(browser.eval(summary_js), "2 of 2 nodes online", "the counts stay what was known");

    // It comes back on the same address (and the clients with it): the page's stream reconnects,
    // its snapshot clears the banner, and the page was never reloaded.
    let (listen, http_arg) = (server.addr.to_string(), http.to_string());
    let password = server.password.clone();
    server = ServerHandle::start_with(
        dir.path(),
        &password,
        &["--listen", &listen, "--http", &http_arg, "--keepalive", "500ms"],
    );
    assert_eq!(server.http, Some(http), "the same page address");
    browser.wait_for(
        "document.querySelector('#server-banner').hidden && document.body.dataset.server === 'live'",
        PAGE,
        "the banner gone",
    );
    assert_eq!(browser.eval("window.cliserTestMarker"), "no reload", "the page was reloaded");
    browser.wait_for(&all_online_js(&SIMS, 2), PAGE, "both nodes online again");
    assert_eq!(browser.eval(summary_js), "2 of 2 nodes online");
}
