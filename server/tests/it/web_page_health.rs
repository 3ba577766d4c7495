//! Bus health end to end (issue 27's "a bus with injected CRC errors at 5 %"): the real Pi client
//! with a flaky simulated sensor (`--sensor sim:crc-every=20,retry-every=10`: every 20th read of the
//! first sensor is a CRC error, every 10th is retried, the second is clean) sends its health reports to the real server; `/api/health`,
//! `/metrics`, the console's `N` and the page in a real browser (a 412-px phone, light and dark)
//! show exactly what was injected: the flaky sensor marked with its figures, the clean one not.

use crate::common;
use crate::web_page_kit;
use cliser_testkit::{wait_until, Browser};
use common::*;
use serde_json::{json, Value};
use web_page_kit::*;

const PI: &str = "pi-flaky";

/// The real client, its first simulated sensor failing every 20th read and retrying every 10th
/// (the 20th's retry fails), reporting its health every 300 ms.
fn flaky_client(server: &ServerHandle) -> Proc {
    let dir = &server.dir;
    let mut cmd = std::process::Command::new(cliser_testkit::bin("cliser-pi-client"));
    cmd.args([
        "--server",
        &server.addr.to_string(),
        "--id",
        PI,
        "--sensor",
        "sim:crc-every=20,retry-every=10",
    ])
    .args(["--interval", "20ms", "--health-every", "300ms", "--state-dir"])
    .arg(dir.join(PI))
    .env("CLISER_PASSWORD", &server.password);
    Proc::spawn(cmd, &dir.join(format!("{PI}.log")))
}

/// `/api/health`'s two sensors of [`PI`]: (flaky, clean), once the flaky one has `reads` reads.
fn health_of(http: std::net::SocketAddr, reads: i64) -> (Value, Value) {
    wait_until(T, "the health reports in /api/health", || {
        let body = http::get(http, "/api/health").json();
        let ours: Vec<Value> =
            body["sensors"].as_array()?.iter().filter(|s| s["cid"] == PI).cloned().collect();
        let flaky = ours.iter().find(|s| s["crc"].as_i64() > Some(0))?.clone();
        let clean = ours.iter().find(|s| s["sensor"] != flaky["sensor"])?.clone();
        (flaky["reads"].as_i64()? >= reads).then_some((flaky, clean))
    })
}

/// The value of the sample `name{labels}` in a `/metrics` exposition.
fn sample(metrics: &str, name_and_labels: &str) -> Option<f64> {
    metrics.lines().find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn a_bus_with_crc_errors_injected_at_five_percent_shows_exactly_that_in_the_api_metrics_console_and_page() {
    let Some(mut browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let _logs = DumpLogsOnPanic(dir.path());
    let server = ServerHandle::start(dir.path(), &["--keepalive", "200ms"]);
    let http = server.http.expect("test servers serve the page");
    let mut client = flaky_client(&server);

    // The API: every read the reports cover, exactly every 20th of the flaky sensor's failed.
    let (flaky, clean) = health_of(http, 200);
    let (reads, crc) = (flaky["reads"].as_i64().unwrap(), flaky["crc"].as_i64().unwrap());
    assert_eq!(crc, reads / 20, "{flaky}");
    assert_eq!((flaky["errors"].as_i64(), flaky["marked"].as_bool()), (Some(crc), Some(true)), "{flaky}");
    assert_eq!(flaky["error_rate"].as_f64(), Some(crc as f64 / reads as f64), "{flaky}");
    assert_eq!(flaky["retries"].as_i64(), Some(reads / 10), "a retry on every 10th read: {flaky}");
    assert_eq!((clean["retries"].as_i64(), &clean["bus"]), (Some(0), &Value::Null), "{clean}");
    assert_eq!(clean["reads"].as_i64(), Some(reads), "both are read at each sampling: {clean}");
    assert_eq!((clean["errors"].as_i64(), clean["marked"].as_bool()), (Some(0), Some(false)), "{clean}");
    let (flaky_id, clean_id) = (flaky["sensor"].as_str().unwrap(), clean["sensor"].as_str().unwrap());

    // /metrics counts the same reports from the server's start: the same proportion.
    let metrics = http::get(http, "/metrics").text();
    let of = |name: &str, sensor: &str, reason: Option<&str>| {
        let reason = reason.map(|r| format!(",reason=\"{r}\"")).unwrap_or_default();
        sample(&metrics, &format!("{name}{{cid=\"{PI}\",sensor=\"{sensor}\"{reason}}}"))
            .unwrap_or_else(|| panic!("no {name} of {sensor} in\n{metrics}"))
    };
    let (m_reads, m_crc) = (
        of("cliser_sensor_reads_total", flaky_id, None),
        of("cliser_sensor_errors_total", flaky_id, Some("crc")),
    );
    assert!(m_reads >= 200.0 && m_crc == (m_reads / 20.0).floor(), "{m_crc} of {m_reads}");
    assert_eq!(of("cliser_sensor_retries_total", flaky_id, None), (m_reads / 10.0).floor());
    assert_eq!(of("cliser_sensor_retries_total", clean_id, None), 0.0);
    assert_eq!(of("cliser_sensor_errors_total", clean_id, Some("crc")), 0.0);
    assert_eq!(of("cliser_sensor_errors_total", flaky_id, Some("reset")), 0.0);
    assert!(of("cliser_sensor_read_seconds", flaky_id, None) >= 0.0);

    // The console's N: the flaky sensor marked, the clean one not.
    let mut console = admin(&server);
    let n = ask(&mut console, "N");
    let line =
        |id: &str| n.lines().find(|l| l.starts_with(&format!("  {id}: "))).unwrap_or_else(|| panic!("{n}"));
    assert!(line(flaky_id).ends_with("! above 1 %") && line(flaky_id).contains(" errors ("), "{n}");
    assert!(line(flaky_id).contains(" retries, mean read "), "{n}");
    assert!(line(clean_id).contains(" 0 errors, ") && !line(clean_id).contains('!'), "{n}");

    // The page on a phone, dark then light, cards then table: the mark and its tooltip say what
    // was injected (the page's own figures, read when it loaded: crc is reads / 20 exactly).
    browser.set_viewport(412, 915, true);
    let mark_js = |row: &str| {
        format!(
            "(() => {{ const m = document.querySelector('{row} .health'); if (!m) return null; \
             return {{ hidden: m.hidden, text: m.textContent, title: m.title, colour: getComputedStyle(m).color }}; }})()"
        )
    };
    for (scheme, colour) in [("dark", "rgb(253, 176, 34)"), ("light", "rgb(154, 61, 6)")] {
        browser.set_color_scheme(scheme);
        for view in ["cards", "table"] {
            browser.navigate(&format!("http://{http}/?view={view}"));
            let (flaky_row, clean_row) = match view {
                "cards" => (sensor_sel(PI, flaky_id), sensor_sel(PI, clean_id)),
                _ => (
                    format!(r#"tr[data-cid="{PI}"][data-sensor="{flaky_id}"]"#),
                    format!(r#"tr[data-cid="{PI}"][data-sensor="{clean_id}"]"#),
                ),
            };
            let js = mark_js(&flaky_row);
            let mark = browser.wait_value(
                &format!("(() => {{ const m = {js}; return m && !m.hidden ? m : null; }})()"),
                PAGE,
                "the flaky sensor's mark",
            );
            let (title, retried) =
                mark["title"].as_str().unwrap().split_once("; ").unwrap_or_else(|| panic!("{mark}"));
            let retried: i64 = retried.strip_suffix(" reads retried").and_then(|n| n.parse().ok()).unwrap();
            let (pct, rest) =
                title.split_once(" % errors in the last hour (crc ").unwrap_or_else(|| panic!("{mark}"));
            let (page_crc, page_reads) =
                rest.trim_end_matches(')').split_once(" of ").unwrap_or_else(|| panic!("{mark}"));
            let (page_crc, page_reads): (i64, i64) = (page_crc.parse().unwrap(), page_reads.parse().unwrap());
            assert!(page_reads >= 200 && page_crc == page_reads / 20, "{scheme} {view}: {mark}");
            assert_eq!(retried, page_reads / 10, "{scheme} {view}: {mark}");
            let want = format!("{:.1}", page_crc as f64 * 100.0 / page_reads as f64);
            assert_eq!(
                (pct, mark["text"].as_str().unwrap()),
                (want.as_str(), format!("{want} % errors").as_str()),
                "{mark}"
            );
            assert_eq!(mark["colour"], json!(colour), "{scheme} {view}: {mark}");
            let clean_mark = browser.eval(&mark_js(&clean_row));
            assert_eq!(clean_mark["hidden"], json!(true), "{scheme} {view}: the clean sensor: {clean_mark}");
            let fits = browser.eval(OVERFLOW_JS);
            assert_eq!(fits["wider"], json!([]), "{scheme} {view} at 412 px: {fits}");
            browser.screenshot(&web_dir().join(format!("health-412-{scheme}-{view}.png")));
        }
    }
    client.signal(libc::SIGTERM);
    assert_eq!(client.wait_exit(T).code(), Some(0));
}

/// What a Pi says of its sensors (`f:` tokens: power mode, resolution, clone kind) shows in
/// `/api/health` and on the page next to the health: parasite power and the clone kind on the
/// sensor they concern, nothing on a plain one; the server logs them once.
#[test]
fn sensor_facts_from_the_pi_show_in_the_api_and_on_the_page() {
    let Some(mut browser) = Browser::launch() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let _logs = DumpLogsOnPanic(dir.path());
    let server = ServerHandle::start(dir.path(), &["--keepalive", "200ms"]);
    let http = server.http.expect("test servers serve the page");
    let (odd, plain) = ("28-0000000000b1", "28-0000000000a1");
    let (mut pi, _) = client(&server, "pi-facts");
    pi.send(&format!(
        "100 {odd}=21.500#1 {plain}=20.000#2 f:{odd}=par,12,B1%20(GXCAS%2FUMW%2018B20),w1_bus_master1 \
         f:{plain}=ext,10,-,w1_bus_master1"
    ));
    // A Pi with two buses: each sensor's bus is named.
    let (near, far) = ("28-0000000000c1", "28-0000000000c2");
    let (mut two, _) = client(&server, "pi-buses");
    two.send(&format!(
        "100 {near}=19.000#1 {far}=18.000#2 h:{near}=10,0,0,0,0,0,100/60000~0#1 \
         h:{far}=10,1,0,0,0,1,100/60000~0#1 f:{near}=ext,12,-,w1_bus_master1 f:{far}=ext,12,-,w1_bus_master2"
    ));
    server.log().wait_for(&format!("sensor facts cid=pi-facts sensor={odd} parasite power, 12 bits, looks like a clone (kind B1 (GXCAS/UMW 18B20))"), T);
    let body = wait_until(T, "the facts in /api/health", || {
        let body = http::get(http, "/api/health").json();
        // Each with its facts: a health row can list a sensor before its facts reach the page.
        let sensors = body["sensors"].as_array()?;
        (sensors.len() == 4 && sensors.iter().all(|s| !s["power"].is_null())).then_some(body)
    });
    let entry =
        |id: &str| body["sensors"].as_array().unwrap().iter().find(|s| s["sensor"] == id).unwrap().clone();
    let (o, p) = (entry(odd), entry(plain));
    assert_eq!(
        (&o["power"], &o["bits"], &o["clone"]),
        (&json!("parasite"), &json!(12), &json!("B1 (GXCAS/UMW 18B20)")),
        "{o}"
    );
    assert_eq!((&p["power"], &p["bits"], &p["clone"]), (&json!("external"), &json!(10), &Value::Null), "{p}");
    assert_eq!((&o["reads"], &o["marked"]), (&json!(0), &json!(false)), "no health report yet: {o}");
    assert_eq!((&o["bus"], &p["bus"]), (&Value::Null, &Value::Null), "one bus: not named");
    assert_eq!(
        (&entry(near)["bus"], &entry(far)["bus"]),
        (&json!("w1_bus_master1"), &json!("w1_bus_master2"))
    );
    // The console's N groups that Pi's sensors by bus.
    let mut console = admin(&server);
    let n = wait_until(T, "pi-buses grouped by bus in N", || {
        let n = ask(&mut console, "N");
        n.contains("  w1_bus_master2:").then_some(n)
    });
    let want = format!(
        "pi-buses:\n  w1_bus_master1:\n    {near}: 10 reads, 0 errors, mean read 10 ms\n  \
         w1_bus_master2:\n    {far}: 10 reads, 1 errors (10.0 %: crc 1), 1 retries, mean read 10 ms  ! above 1 %"
    );
    assert!(n.contains(&want), "{n}");

    browser.set_viewport(412, 915, true);
    browser.navigate(&format!("http://{http}/"));
    let facts_js_of = |cid: &str, id: &str| {
        format!(
            "(() => {{ const f = document.querySelector('{} .facts'); \
             return f ? {{ hidden: f.hidden, text: f.textContent, title: f.title }} : null; }})()",
            sensor_sel(cid, id)
        )
    };
    let facts_js = |id: &str| facts_js_of("pi-facts", id);
    let shown = browser.wait_value(
        &format!("(() => {{ const f = {}; return f && !f.hidden ? f : null; }})()", facts_js(odd)),
        PAGE,
        "the odd sensor's facts",
    );
    assert_eq!(shown["text"], json!("parasite power · clone? B1 (GXCAS/UMW 18B20)"), "{shown}");
    assert_eq!(
        shown["title"],
        json!("parasite power, 12 bits, looks like a clone (kind B1 (GXCAS/UMW 18B20)); never refused, only reported"),
        "{shown}"
    );
    let plain_facts = browser.eval(&facts_js(plain));
    assert_eq!(plain_facts["hidden"], json!(true), "{plain_facts}");
    assert_eq!(plain_facts["title"], json!("external power, 10 bits"), "{plain_facts}");
    let far_facts = browser.wait_value(
        &format!(
            "(() => {{ const f = {}; return f && !f.hidden ? f : null; }})()",
            facts_js_of("pi-buses", far)
        ),
        PAGE,
        "the bus of a sensor of a Pi with two",
    );
    assert_eq!(far_facts["text"], json!("on w1_bus_master2"), "{far_facts}");
    assert_eq!(far_facts["title"], json!("external power, 12 bits, on w1_bus_master2"), "{far_facts}");
    let fits = browser.eval(OVERFLOW_JS);
    assert_eq!(fits["wider"], json!([]), "at 412 px: {fits}");
    browser.screenshot(&web_dir().join("facts-412.png"));
}
