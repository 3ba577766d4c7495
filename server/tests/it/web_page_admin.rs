//! The page's buttons that change state, end to end through the real server and store: acknowledge
//! a firing alert (and the server's refusal of one that no longer fires, shown in its own words),
//! silence it from a matcher prefilled from the alert and end the silence, read it all back in the
//! history, forget a sensor and a node from their menus, and drop a node that was forgotten
//! elsewhere (the live stream's `forget` event).

use crate::common;
use crate::web_page_kit;
use cliser_testkit::Browser;
use common::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use web_page_kit::*;

/// A `POST` of `body` as JSON, as the page sends it (loopback, no password set: allowed).
fn post(http: SocketAddr, path: &str, body: &Value) -> common::http::Reply {
    let body = body.to_string();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {http}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    common::http::exchange(http, request.as_bytes())
}

fn get_json(http: SocketAddr, path: &str) -> Value {
    let r = common::http::get(http, path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.json()
}

/// The firing alerts as `/api/alerts` gives them.
fn alerts(http: SocketAddr) -> Vec<Value> {
    get_json(http, "/api/alerts")["alerts"].as_array().cloned().unwrap_or_default()
}

/// Sets a field of one of the page's forms, as typing would (an `input` event).
fn fill(browser: &mut Browser, form: &str, field: &str, text: &str) {
    browser.eval(&format!(
        "(() => {{ const e = document.querySelector({}).elements[{}]; e.value = ''; }})()",
        json!(form),
        json!(field)
    ));
    browser.type_into(&format!("{form} [name=\"{field}\"]"), text);
}

/// Waits until the dialog closed (its POST succeeded: "closed") or shows an error (its text).
fn closed_or_error(browser: &mut Browser, dialog: &str) -> Value {
    browser.wait_value(
        &format!(
            "(() => {{ const d = document.querySelector({}); if (!d.open) return 'closed'; \
             const e = d.querySelector('.dialog-error'); return e.hidden ? null : e.textContent; }})()",
            json!(dialog)
        ),
        PAGE,
        &format!("{dialog} to close or say why not"),
    )
}

#[test]
fn acknowledge_silence_history_and_forget_from_the_page() {
    let Some(mut browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let _logs = DumpLogsOnPanic(dir.path());
    let freezer_file = dir.path().join("freezer");
    let freezer = file_sensor_id(&freezer_file);
    let config = write_config(
        dir.path(),
        &format!("[sensors.\"{freezer}\"]\nname = \"freezer\"\nmin = -25.0\nmax = -15.0\n"),
    );
    let config_arg = config.display().to_string();
    let server = ServerHandle::start(dir.path(), &["--keepalive", "500ms", "--config", &config_arg]);
    let http = server.http.expect("test servers serve the page");
    // -12.5 °C is above the freezer's max: above_max fires at once.
    let _garage = file_client(&server, "garage", &freezer_file, -12.5, "500ms");
    let mut sims: Vec<Proc> = ["pi-attic", "pi-cellar"].iter().map(|id| sim_client(&server, id)).collect();

    browser.navigate(&format!("http://{http}/"));
    browser.wait_for(&all_online_js(&["pi-attic", "pi-cellar"], 2), PAGE, "the simulated nodes online");
    let alert_sel = r#"#alert-list li.alert[data-kind="above_max"][data-cid="garage"]"#;
    let shown = |sel: &str| format!("!!document.querySelector({})", json!(sel));
    browser.wait_for(&shown(alert_sel), PAGE, "the freezer's alert");

    // The server refuses to acknowledge an alert that no longer fires: the dialog stays open with
    // the server's words, and nothing changes.
    browser.click(&format!("{alert_sel} button.ack"));
    browser.wait_for("document.querySelector('#ack-dialog').open", PAGE, "the acknowledge dialog");
    std::fs::write(&freezer_file, "-20\n").expect("write the sensor's file");
    cliser_testkit::wait_until(PAGE, "the freezer's alert resolved", || {
        alerts(http).is_empty().then_some(())
    });
    fill(&mut browser, "#ack-form", "by", "tester");
    browser.click("#ack-form button[type=submit]");
    let error = browser.wait_value(
        "(() => { const p = document.querySelector('#ack-dialog .dialog-error'); return p.hidden ? null : p.textContent; })()",
        PAGE,
        "the server's refusal in the dialog",
    );
    let error = error.as_str().unwrap_or_default();
    assert!(!error.is_empty() && !error.starts_with("changing state needs"), "a 404's own words: {error:?}");
    assert_eq!(browser.eval("document.querySelector('#ack-dialog').open"), true, "the dialog stays open");
    browser.click("#ack-dialog button.cancel");
    browser.wait_for("!document.querySelector('#ack-dialog').open", PAGE, "the dialog closed");
    browser.wait_for(&format!("!{}", shown(alert_sel)), PAGE, "the resolved alert gone from the page");

    // It fires again; acknowledged from the page with who and a note.
    std::fs::write(&freezer_file, "-12.5\n").expect("write the sensor's file");
    cliser_testkit::wait_until(PAGE, "the freezer's alert firing again", || {
        (!alerts(http).is_empty()).then_some(())
    });
    browser.wait_for(&shown(alert_sel), PAGE, "the freezer's alert again");
    browser.click(&format!("{alert_sel} button.ack"));
    browser.wait_for("document.querySelector('#ack-dialog').open", PAGE, "the acknowledge dialog");
    assert_eq!(
        browser.eval("document.querySelector('#ack-form').elements.by.value"),
        "tester",
        "who is remembered"
    );
    fill(&mut browser, "#ack-form", "note", "defrosting");
    browser.click("#ack-form button[type=submit]");
    assert_eq!(closed_or_error(&mut browser, "#ack-dialog"), "closed");
    let acked = browser.wait_value(
        &format!(
            "document.querySelector({})?.textContent",
            json!(format!("{alert_sel}[data-acked] .alert-ack"))
        ),
        PAGE,
        "the acknowledgement on the page",
    );
    let acked = acked.as_str().unwrap_or_default();
    assert!(acked.starts_with("acknowledged by tester at ") && acked.ends_with(": defrosting"), "{acked:?}");
    let ack = &alerts(http)[0]["ack"];
    assert_eq!((&ack["by"], &ack["note"]), (&json!("tester"), &json!("defrosting")), "{ack}");

    // Silenced for an hour from a matcher prefilled from the alert.
    browser.click(&format!("{alert_sel} button.silence"));
    browser.wait_for("document.querySelector('#silence-dialog').open", PAGE, "the silence dialog");
    browser.click(r#"#silence-form input[name="duration"][value="1h"]"#);
    fill(&mut browser, "#silence-form", "comment", "defrosting the freezer");
    browser.click("#silence-form button[type=submit]");
    assert_eq!(closed_or_error(&mut browser, "#silence-dialog"), "closed");
    browser.wait_for(
        &shown(r#"#silence-list li.silence[data-active="true"] button.end"#),
        PAGE,
        "the silence listed",
    );
    let silences = get_json(http, "/api/silences")["silences"].as_array().cloned().unwrap_or_default();
    assert_eq!(silences.len(), 1, "{silences:?}");
    let s = &silences[0];
    assert_eq!(
        [&s["cid"], &s["sensor"], &s["kind"], &s["by"], &s["comment"], &s["active"]],
        [
            &json!("garage"),
            &json!(freezer),
            &json!("above_max"),
            &json!("tester"),
            &json!("defrosting the freezer"),
            &json!(true)
        ],
        "{s}"
    );
    let (starts, ends) = (s["starts"].as_i64().expect("starts"), s["ends"].as_i64().expect("ends"));
    assert!((ends - starts - 3_600_000).abs() < 60_000, "an hour: {s}");
    browser.wait_for(
        &shown(&format!("{alert_sel}[data-silenced] .alert-silenced")),
        PAGE,
        "the alert shown as silenced",
    );

    // Ended from the page.
    browser.click(r#"#silence-list li.silence[data-active="true"] button.end"#);
    browser.wait_for(
        &format!("!{}", shown(r#"#silence-list li.silence[data-active="true"]"#)),
        PAGE,
        "the silence ended",
    );
    let s = &get_json(http, "/api/silences")["silences"][0];
    assert_eq!(s["active"], false, "{s}");

    // The history: fired, resolved, fired, acknowledged, silenced, unsilenced; local times. (The
    // server records the end of a silence on its next tick: the page reads what is recorded.)
    let wanted = ["fired", "resolved", "acknowledged", "silenced", "unsilenced"];
    cliser_testkit::wait_until(PAGE, "the silence's end in the history", || {
        let events = get_json(http, "/api/alerts/history")["events"].clone();
        events.as_array()?.iter().any(|e| e["event"] == "unsilenced").then_some(())
    });
    browser.click("#history-toggle");
    let events = browser.wait_value(
        &format!(
            "(() => {{ const e = [...document.querySelectorAll('#history-list li.event[data-cid=\"garage\"]')] \
             .map((l) => l.dataset.event); return {}.every((w) => e.includes(w)) ? e : null; }})()",
            json!(wanted)
        ),
        PAGE,
        "the freezer's transitions in the history",
    );
    println!("history, newest first: {events}");
    let first = browser.eval("document.querySelector('#history-list li.event time').textContent");
    let first = first.as_str().unwrap_or_default();
    assert!(
        first.len() == 8 && first.as_bytes()[2] == b':' && first.as_bytes()[5] == b':',
        "HH:MM:SS today: {first:?}"
    );
    // Filtered by node and kind.
    fill(&mut browser, "#history-form", "cid", "pi-attic");
    browser.click("#history-form button[type=submit]");
    browser.wait_for(
        "document.querySelectorAll('#history-list li.event').length === 0 && \
         document.querySelector('#history-note').textContent === 'Nothing in this range.'",
        PAGE,
        "nothing for pi-attic",
    );
    browser.click("#history-close");

    // Forget a sensor, then a node, from their menus (once their clients stopped: a node that
    // reports again comes back).
    for p in &mut sims {
        p.signal(libc::SIGTERM);
        p.wait_exit(PAGE);
    }
    // As a person would, with the page showing them offline (and so not changing under the clicks).
    browser.wait_for(
        "['pi-attic', 'pi-cellar'].every((c) => document.querySelector(`section.node[data-cid=\"${c}\"]`).dataset.online === 'false')",
        PAGE,
        "both stopped nodes offline on the page",
    );
    let cellar = browser.eval("[...document.querySelectorAll('section.node[data-cid=\"pi-cellar\"] li.sensor')].map((s) => s.dataset.sensor)");
    let cellar: Vec<String> = serde_json::from_value(cellar).expect("pi-cellar's sensors");
    assert_eq!(cellar.len(), 2, "{cellar:?}");
    let row = sensor_sel("pi-cellar", &cellar[0]);
    browser.click(&format!("{row} details.menu summary"));
    browser.click(&format!(r#"{row} button[data-act="forget-sensor"]"#));
    browser.wait_for("document.querySelector('#forget-dialog').open", PAGE, "the forget dialog");
    let says = browser.eval("document.querySelector('#forget-dialog').textContent");
    let says = says.as_str().unwrap_or_default();
    for words in [cellar[0].as_str(), "readings stay", "comes back"] {
        assert!(says.contains(words), "the dialog says what happens ({words:?}): {says:?}");
    }
    browser.click("#forget-form button[type=submit]");
    browser.wait_for(&format!("!{}", shown(&row)), PAGE, "the sensor gone from the page");
    assert!(browser.eval(&shown(&sensor_sel("pi-cellar", &cellar[1]))) == true, "its other sensor stays");
    let node = card_sel("pi-attic");
    browser.click(&format!("{node} .node-actions details.menu summary"));
    browser.click(&format!(r#"{node} button[data-act="forget-node"]"#));
    browser.wait_for("document.querySelector('#forget-dialog').open", PAGE, "the forget dialog");
    browser.click("#forget-form button[type=submit]");
    browser.wait_for(&format!("!{}", shown(&node)), PAGE, "pi-attic gone from the page");
    let cids = |http| -> Vec<String> {
        get_json(http, "/api/nodes")["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["cid"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(!cids(http).contains(&"pi-attic".to_owned()), "pi-attic left /api/nodes");

    // Forgotten elsewhere (the console, the CLI, another page): the stream's `forget` drops it.
    browser.eval("window.cliserTestMarker = 'no reload'");
    let r =
        post(http, "/api/forget", &json!({ "cid": "pi-cellar", "sensor": null, "delete_readings": false }));
    assert_eq!(r.status, 200, "{}", r.text());
    browser.wait_for(&format!("!{}", shown(&card_sel("pi-cellar"))), PAGE, "pi-cellar gone from the page");
    assert_eq!(browser.eval("window.cliserTestMarker"), "no reload");
    assert_eq!(
        browser.eval("document.querySelector('#summary').textContent.split(' · ')[0]"),
        "1 of 1 nodes online"
    );
}
