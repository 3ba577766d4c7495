//! Calibration against the real server: an `offset` and a two-point `calibrate` give the documented
//! values in the log, in `query` (table and JSON; `--raw` the stored ones), and in the limits.

use crate::alert_kit;
use crate::common;
use alert_kit::*;
use common::*;
use std::process::Command;

const CONFIG: &str = r#"
[sensors."28-a"]
name = "freezer"
offset = -0.25
max = -18.1

[sensors."28-b"]
calibrate = [[0.3, 0.0], [99.6, 100.0]]
"#;

/// `cliser-server query --config FILE --store URL ARGS`, which must succeed; its stdout.
fn query(s: &ServerHandle, args: &[&str]) -> String {
    let config = s.dir.join("server.toml");
    let url = s.store_url();
    let mut all = vec!["query", "--config", config.to_str().unwrap(), "--store", &url];
    all.extend_from_slice(args);
    let o = Command::new(cliser_testkit::bin("cliser-server"))
        .args(&all)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert!(o.status.success(), "query {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// `query ... --format json`: (sensor, name, temp_c) per row.
fn query_json(s: &ServerHandle, args: &[&str]) -> Vec<(String, serde_json::Value, serde_json::Value)> {
    let mut all = args.to_vec();
    all.extend(["--format", "json"]);
    let text = query(s, &all);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    rows.iter()
        .map(|r| (r["sensor"].as_str().unwrap().to_owned(), r["name"].clone(), r["temp_c"].clone()))
        .collect()
}

/// The lab Pi sends one reading of each sensor; returns the server with them stored, and the Pi.
fn calibrated_server(dir: &std::path::Path) -> (ServerHandle, Pi) {
    let s = start(dir, CONFIG, &[]);
    let mut pi = Pi::login(&s, "lab");
    pi.answer(&[R("28-a", Some(-18.0), None), R("28-b", Some(49.95), None), R("28-c", Some(21.5), None)]);
    pi.settle();
    (s, pi)
}

#[test]
fn offset_and_two_point_calibration_show_in_the_log_and_query_and_the_raw_values_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (s, mut pi) = calibrated_server(dir.path());
    let line = |sensor: &str| s.log().wait_for(&format!("reading cid=lab sensor={sensor} "), T);
    assert!(
        line("28-a").contains(r#"sensor=28-a name="freezer" temp_c=-18.250 raw_c=-18.000 ts="#),
        "{}",
        line("28-a")
    );
    // (49.95 - 0.3) * 100 / (99.6 - 0.3) = 50
    assert!(line("28-b").contains("sensor=28-b temp_c=50.000 raw_c=49.950 ts="), "{}", line("28-b"));
    assert!(
        line("28-c").contains("sensor=28-c temp_c=21.500 ts="),
        "uncalibrated: no raw_c: {}",
        line("28-c")
    );

    let json = query_json(&s, &[]);
    let want = |a: f64, b: f64| {
        vec![
            ("28-a".to_owned(), serde_json::json!("freezer"), serde_json::json!(a)),
            ("28-b".to_owned(), serde_json::Value::Null, serde_json::json!(b)),
            ("28-c".to_owned(), serde_json::Value::Null, serde_json::json!(21.5)),
        ]
    };
    let sorted = |mut v: Vec<(String, serde_json::Value, serde_json::Value)>| {
        v.sort_by(|x, y| x.0.cmp(&y.0));
        v
    };
    assert_eq!(sorted(json), want(-18.25, 50.0));
    assert_eq!(sorted(query_json(&s, &["--raw"])), want(-18.0, 49.95), "--raw: the stored values");

    let table = query(&s, &["--sensor", "28-a"]);
    let row = table.lines().find(|l| l.contains("28-a")).unwrap_or_else(|| panic!("{table}"));
    assert!(row.contains("freezer") && row.contains("-18.250"), "{table}");
    let raw = query(&s, &["--sensor", "28-a", "--raw"]);
    assert!(raw.lines().any(|l| l.contains("28-a") && l.contains("-18.000")), "{raw}");
    let hourly = query(&s, &["--sensor", "28-b", "--every", "1h", "--format", "csv"]);
    assert!(hourly.lines().any(|l| l.contains(",28-b,50.000,50.000,50.000,1,0")), "{hourly}");

    // The limits are in true degrees: raw -18.0 is -18.25, below max -18.1; raw -17.8 is above.
    assert!(s.log().lines_with("alert firing:").is_empty());
    pi.answer(&[R("28-a", Some(-17.8), None)]);
    let fired = s.log().wait_for("alert firing:", T);
    assert!(fired.ends_with("alert firing: freezer (lab/28-a) above max -18.1: -18.050"), "{fired}");
}

/// The web side does not apply the config file's calibration yet (web/src reads the store's raw
/// values for /api/readings and /metrics); that is another change's job. This says what it owes.
#[test]
fn web_api_readings_and_metrics_show_calibrated_values() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let (s, _pi) = calibrated_server(dir.path());
    let (status, body) = http_get(&s, "/api/readings?cid=lab&sensor=28-a&since=1h");
    assert_eq!(status, 200, "{body}");
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(api["series"][0]["points"][0][1], serde_json::json!(-18.25), "{body}");
    let (status, metrics) = http_get(&s, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.lines().any(|l| l.starts_with("cliser_temperature_celsius{")
            && l.contains("sensor=\"28-a\"")
            && l.ends_with(" -18.25")),
        "{metrics}"
    );
}
