//! The page on a phone and a desktop, light and dark, in a time zone that is not UTC: screenshots
//! under `<target>/web/` (look at them), nothing wider than a 412-px phone's window in any view or
//! dialog, one clock (local time on the page, ISO 8601 with the offset in tooltips), and every
//! control reachable and usable by keyboard with a visible focus.

use crate::common;
use crate::web_page_kit;
use cliser_testkit::Browser;
use common::*;
use serde_json::{json, Value};
use web_page_kit::*;

/// Asia/Kolkata: +05:30 all year (no daylight saving), so local time is never UTC's.
const ZONE: &str = "Asia/Kolkata";
const ZONE_OFFSET_MIN: i64 = 5 * 60 + 30;

/// `HH:MM` of `ms` in [`ZONE`].
fn zone_hh_mm(ms: i64) -> String {
    let minutes = (ms.div_euclid(60_000) + ZONE_OFFSET_MIN).rem_euclid(24 * 60);
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Asserts that nothing on the page reaches past the window's right edge and that the page does
/// not scroll sideways.
fn assert_fits(browser: &mut Browser, what: &str) {
    let v = browser.eval(OVERFLOW_JS);
    let width = v["width"].as_f64().expect("the window's width");
    assert_eq!(v["wider"], json!([]), "{what}: elements wider than the {width}-px window: {v}");
    assert!(
        v["scroll_width"].as_f64().expect("scrollWidth") <= width,
        "{what}: the page scrolls sideways: {v}"
    );
}

#[test]
fn the_page_fits_a_phone_has_a_dark_mode_one_clock_and_a_keyboard_path() {
    let Some(mut browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let _logs = DumpLogsOnPanic(dir.path());
    let freezer_file = dir.path().join("freezer");
    let freezer = file_sensor_id(&freezer_file);
    let config = write_config(
        dir.path(),
        &format!(
            "[sensors.\"{freezer}\"]\nname = \"chest freezer in the garage\"\nmin = -25.0\nmax = -15.0\n"
        ),
    );
    let config_arg = config.display().to_string();
    let server = ServerHandle::start(dir.path(), &["--keepalive", "500ms", "--config", &config_arg]);
    let http = server.http.expect("test servers serve the page");
    let _clients: Vec<Proc> =
        ["pi-attic", "pi-cellar-north-wing-shelf-07"].iter().map(|id| sim_client(&server, id)).collect();
    // -12.5 °C is above the freezer's max of -15: above_max fires at once.
    let _garage = file_client(&server, "garage", &freezer_file, -12.5, "500ms");

    browser.set_timezone(ZONE);
    browser.set_viewport(412, 915, true);
    browser.navigate(&format!("http://{http}/"));
    let all = ["garage", "pi-attic", "pi-cellar-north-wing-shelf-07"];
    browser.wait_for(
        &all_online_js(&all[1..], 2),
        PAGE,
        "the simulated nodes online with their temperatures",
    );
    browser.wait_for(&all_online_js(&all[..1], 1), PAGE, "garage online");
    let alert_sel = r#"#alert-list li.alert[data-kind="above_max"][data-cid="garage"]"#;
    browser.wait_for(
        &format!("!!document.querySelector({})", json!(alert_sel)),
        PAGE,
        "the freezer's alert on the page",
    );
    // Each sensor's sparkline drawn (two readings are enough).
    browser.wait_for(
        "[...document.querySelectorAll('li.sensor .spark')].every((s) => s.childElementCount > 0) \
         && document.querySelectorAll('li.sensor .spark').length === 5",
        PAGE,
        "every sparkline drawn",
    );

    // The freezer's limits beside it (from /api/nodes: a reading does not carry them).
    let limits = format!("{} .limits", sensor_sel("garage", &freezer));
    browser.wait_for(
        &format!("document.querySelector({})?.textContent === 'min -25 · max -15'", json!(limits)),
        PAGE,
        "the freezer's limits",
    );

    // One clock: the alert line is built from the alert's fields in local time ("since 16:40
    // (3 min)"), the server's message (with its UTC) only in the tooltip, beside the ISO time with
    // the local offset.
    let alert = cliser_testkit::wait_until(T, "the alert in /api/alerts", || {
        let a = common::http::get(http, "/api/alerts").json();
        a["alerts"].as_array().and_then(|l| l.first().cloned())
    });
    let since = alert["since"].as_i64().expect("since, ms");
    let line = browser
        .eval(&format!("document.querySelector({}).textContent", json!(format!("{alert_sel} .alert-text"))));
    let line = line.as_str().expect("the alert's text");
    let head = format!(
        "chest freezer in the garage on garage above max -15 °C: -12.500 °C since {} (",
        zone_hh_mm(since)
    );
    assert!(line.starts_with(&head) && line.ends_with(')'), "the alert line {line:?}, expected {head:?}...");
    assert!(!line.contains('Z') && !line.contains("UTC"), "no UTC on the page: {line:?}");
    let tip = browser.eval(&format!("document.querySelector({}).title", json!(alert_sel)));
    let tip = tip.as_str().expect("the alert's tooltip");
    assert!(tip.contains("+05:30"), "the tooltip gives ISO 8601 with the local offset: {tip:?}");
    assert!(
        tip.contains(alert["message"].as_str().expect("a message")),
        "the server's message in the tooltip: {tip:?}"
    );
    let age_tip = browser.eval("document.querySelector('li.sensor .age').title");
    assert!(age_tip.as_str().is_some_and(|t| t.ends_with("+05:30")), "a reading's time: {age_tip}");

    // Phone and desktop, light and dark: screenshots to look at, and nothing wider than a phone.
    let web = web_dir();
    for scheme in ["light", "dark"] {
        browser.set_color_scheme(scheme);
        let bg = browser.eval("getComputedStyle(document.body).backgroundColor");
        let dark = browser.eval("matchMedia('(prefers-color-scheme: dark)').matches");
        assert_eq!(dark, scheme == "dark", "the emulated scheme: {bg}");
        for (width, height, mobile) in [(412, 915, true), (1280, 900, false)] {
            browser.set_viewport(width, height, mobile);
            browser.wait_for(&format!("window.innerWidth === {width}"), PAGE, "the new width");
            if width == 412 {
                assert_fits(&mut browser, &format!("cards, {scheme}"));
            }
            let png = web.join(format!("page-{width}-{scheme}.png"));
            browser.screenshot_page(&png);
            println!("screenshot: {}", png.display());
        }
    }
    let bgs: Vec<Value> = ["light", "dark"]
        .iter()
        .map(|s| {
            browser.set_color_scheme(s);
            browser.eval("getComputedStyle(document.documentElement).backgroundColor")
        })
        .collect();
    assert_ne!(bgs[0], bgs[1], "dark mode changes the page's colours");

    // The other views at 412 px: a node's and a sensor's menu open, the table, the history, a
    // dialog.
    browser.set_viewport(412, 915, true);
    for menu in [".node-actions details.menu", "li.sensor details.menu"] {
        let sel = format!("{} {menu}", card_sel("pi-cellar-north-wing-shelf-07"));
        browser.click(&format!("{sel} summary"));
        browser.wait_for(&format!("document.querySelector({}).open", json!(sel)), PAGE, "the menu open");
        assert_fits(&mut browser, &format!("{menu} open"));
        browser.press("Escape");
        browser.wait_for(
            &format!("!document.querySelector({}).open", json!(sel)),
            PAGE,
            "Escape to close the menu",
        );
    }
    browser.click(r#".views button[data-view="table"]"#);
    browser.wait_for("!document.querySelector('#table-view').hidden && document.querySelectorAll('#fleet-rows tr').length === 5", PAGE, "the table");
    assert_fits(&mut browser, "the table");
    browser.screenshot_page(&web.join("page-412-dark-table.png"));
    // The narrowest phones: 360 px, the table and the cards.
    browser.set_viewport(360, 740, true);
    browser.wait_for("window.innerWidth === 360", PAGE, "360 px");
    assert_fits(&mut browser, "the table at 360 px");
    browser.click(r#".views button[data-view="cards"]"#);
    browser.wait_for("!document.querySelector('#nodes').hidden", PAGE, "the cards");
    assert_fits(&mut browser, "the cards at 360 px");
    browser.click(r#".views button[data-view="table"]"#);
    browser.set_viewport(412, 915, true);
    browser.click("#history-toggle");
    browser.wait_for("!document.querySelector('#history').hidden && document.querySelector('#history-note').textContent !== 'Loading…'", PAGE, "the history panel");
    assert_fits(&mut browser, "the history");
    browser.click("#history-close");
    browser.click(&format!("{alert_sel} button.silence"));
    browser.wait_for("document.querySelector('#silence-dialog').open", PAGE, "the silence dialog");
    assert_fits(&mut browser, "the silence dialog");
    browser.set_color_scheme("light");
    browser.screenshot(&web.join("page-412-light-silence.png"));
    // The matcher is prefilled from the alert.
    let m = browser.eval("(() => { const f = document.querySelector('#silence-form').elements; return [f.cid.value, f.sensor.value, f.kind.value, f.duration.value]; })()");
    assert_eq!(m, json!(["garage", freezer, "above_max", "2h"]));
    browser.press("Escape");
    browser.wait_for("!document.querySelector('#silence-dialog').open", PAGE, "Escape to close the dialog");

    // The keyboard: everything clickable is a control; Tab from the filter reaches the view
    // switch, a sensor (whose chart Enter opens) and a menu, each with a visible focus ring.
    let not_controls = browser.eval(
        "[...document.querySelectorAll('[role=button], [onclick], [tabindex]')].filter((e) => \
         !['BUTTON', 'A', 'INPUT', 'SELECT', 'TEXTAREA', 'SUMMARY'].includes(e.tagName)).map((e) => e.outerHTML.slice(0, 80))",
    );
    assert_eq!(not_controls, json!([]), "clickable elements that are not controls");
    browser.click(r#".views button[data-view="cards"]"#);
    browser.wait_for("!document.querySelector('#nodes').hidden", PAGE, "the cards again");
    browser.set_viewport(1280, 900, false);
    browser.eval("document.querySelector('#filter').focus()");
    let mut reached = Vec::new();
    for _ in 0..60 {
        browser.press("Tab");
        let at = browser.eval(
            "(() => { const e = document.activeElement; const s = getComputedStyle(e); \
             return { what: e.tagName.toLowerCase() + (e.className ? '.' + e.className.split(' ')[0] : '') \
             + (e.dataset.view ? '[' + e.dataset.view + ']' : ''), \
             ring: s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0, \
             sensor: e.closest('li.sensor')?.dataset.sensor ?? null }; })()",
        );
        reached.push(at.clone());
        if at["what"] == "button.open" {
            break;
        }
    }
    let whats: Vec<&str> = reached.iter().filter_map(|v| v["what"].as_str()).collect();
    for want in [
        "button[table]",
        "button.ack",
        "button.silence",
        "button.chart-all",
        "summary",
        "input.pick",
        "button.open",
    ] {
        assert!(whats.contains(&want), "Tab never reached {want}: {whats:?}");
    }
    assert!(reached.iter().all(|v| v["ring"] == true), "a focus without a visible ring: {reached:?}");
    let sensor = reached.last().and_then(|v| v["sensor"].as_str()).expect("a sensor's button").to_owned();
    let draws = chart_draws(&mut browser);
    browser.press("Enter");
    wait_chart(
        &mut browser,
        &[format!("garage/{sensor}")],
        draws,
        "Enter on a focused sensor to open its chart",
    );
}
