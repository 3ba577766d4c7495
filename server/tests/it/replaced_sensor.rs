//! A replaced sensor keeps its series, end to end: a real server, a real Mosquitto and the real
//! `cliser-pi-client` reading a w1 sysfs tree whose sensor is swapped for a new one (a new ROM id)
//! while it runs. Once the config says `replaces`, the Home Assistant entity goes on (the old
//! `unique_id`), `query --sensor freezer` gives the old readings then the new, and the alert on the
//! name keeps firing across the swap without a resolve/fire pair.

use crate::alert_kit;
use crate::common;
use alert_kit::{console_alerts, start, write_config};
use cliser_testkit::{wait_until, Message, Mosquitto, Proc};
use common::http::get;
use common::*;
use std::path::Path;
use std::process::{Command, Stdio};

const OLD: &str = "28-0000000000a1";
const NEW: &str = "28-0000000000b2";

fn before(broker_url: &str) -> String {
    format!(
        "[mqtt]\nurl = \"{broker_url}\"\n\n[sensors.\"{OLD}\"]\nname = \"freezer\"\noffset = 1.0\nmax = -15.0\n"
    )
}

/// After the swap: the old sensor keeps its table for its calibration; the limits are the new one's.
fn after(broker_url: &str) -> String {
    format!(
        "[mqtt]\nurl = \"{broker_url}\"\n\n[sensors.\"{OLD}\"]\noffset = 1.0\n\n\
         [sensors.\"{NEW}\"]\nreplaces = \"{OLD}\"\nname = \"freezer\"\nmax = -15.0\n"
    )
}

/// A w1 device of the fake tree reading `millidegrees`.
fn put_sensor(root: &Path, id: &str, millidegrees: i32) {
    let dir = root.join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let tmp = dir.join("temperature.tmp");
    std::fs::write(&tmp, format!("{millidegrees}\n")).unwrap();
    std::fs::rename(&tmp, dir.join("temperature")).unwrap();
}

fn pi(s: &ServerHandle, dir: &Path, root: &Path) -> Proc {
    let mut cmd = Command::new(cliser_testkit::bin("cliser-pi-client"));
    cmd.args(["--server", &s.addr.to_string(), "--id", "garage", "--interval", "200ms", "--state-dir"])
        .arg(dir.join("pi-state"))
        .arg("--sensor")
        .arg(format!("w1:{}", root.display()))
        .env("CLISER_PASSWORD", &s.password);
    Proc::spawn(cmd, &dir.join("pi.log"))
}

/// The sample times of every stored temperature of `sensor`.
fn stored(s: &ServerHandle, sensor: &str) -> Vec<i64> {
    stored_values(s, sensor).into_iter().map(|(t, _)| t).collect()
}

/// (sampled ms, raw °C) of every stored temperature of `sensor`.
fn stored_values(s: &ServerHandle, sensor: &str) -> Vec<(i64, f64)> {
    let mut store = cliser_store::open(&s.store_url()).unwrap();
    let q = cliser_store::ReadingQuery {
        sensor: Some(cliser_protocol::SensorId::new(sensor).unwrap()),
        ..Default::default()
    };
    store
        .readings(&q)
        .unwrap()
        .into_iter()
        .filter_map(|r| match r.value {
            cliser_protocol::Value::Celsius(c) => Some((r.sampled_ms, c.degrees())),
            _ => None,
        })
        .collect()
}

fn last_payload(msgs: &[Message], topic: &str) -> Option<String> {
    msgs.iter().rev().find(|m| m.topic == topic).map(|m| m.payload.clone())
}

#[test]
fn a_replaced_sensor_keeps_its_entity_its_query_and_its_alert() {
    let Some(broker) = Mosquitto::start() else { return };
    let sub = broker.subscribe("t-replace", "#");
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let root = dir.path().join("w1");
    // -13 raw is -12 true: above max from the first reading.
    put_sensor(&root, OLD, -13_000);
    let s = start(dir.path(), &before(&broker.url()), &[]);
    let _pi = pi(&s, dir.path(), &root);
    s.log().wait_for(&format!("alert firing: freezer (garage/{OLD}) above max -15.0: -12.000"), T);
    let old_topic = format!("homeassistant/sensor/cliser_garage_{OLD}/config");
    let new_topic = format!("homeassistant/sensor/cliser_garage_{NEW}/config");
    wait_until(T, "the old sensor's discovery config", || last_payload(&sub.messages(), &old_topic));

    // The config learns of the swap first (a reload), then the new sensor appears on the bus,
    // reading above max too; the old one stays there for a while (still reporting, now well
    // inside the limit: it must not resolve the alert, nor show in the series), then goes.
    write_config(dir.path(), &after(&broker.url()));
    let mut console = admin(&s);
    let answer = ask(&mut console, "R");
    assert!(answer.starts_with("ok: reloaded "), "{answer}");
    put_sensor(&root, NEW, -11_000);
    wait_until(T, "the new sensor's first reading", || stored(&s, NEW).first().copied());
    put_sensor(&root, OLD, -25_000);
    wait_until(T, "5 readings of the new sensor", || (stored(&s, NEW).len() >= 5).then_some(()));
    let first_new = stored(&s, NEW)[0];
    wait_until(T, "the old sensor still read (inside the limit) after the new one's first reading", || {
        (stored_values(&s, OLD).iter().filter(|&&(t, v)| t > first_new && v == -25.0).count() >= 3)
            .then_some(())
    });
    std::fs::remove_dir_all(root.join(OLD)).unwrap();
    let n = stored(&s, NEW).len();
    wait_until(T, "5 more readings of the new sensor", || (stored(&s, NEW).len() >= n + 5).then_some(()));

    // Home Assistant: the series' entity (the old unique_id) now reads the new sensor's state; the
    // new id has no entity of its own.
    let msgs = sub.messages();
    let config: serde_json::Value = serde_json::from_str(&last_payload(&msgs, &old_topic).unwrap()).unwrap();
    assert_eq!(config["unique_id"], format!("cliser_garage_{OLD}"), "{config}");
    assert_eq!(config["state_topic"], format!("cliser/garage/{NEW}/state"), "{config}");
    assert_eq!(config["name"], "freezer");
    assert!(
        msgs.iter().filter(|m| m.topic == new_topic).all(|m| m.payload.is_empty()),
        "the new id announced as an entity of its own"
    );
    let state = last_payload(&msgs, &format!("cliser/garage/{NEW}/state")).unwrap();
    assert!(state.contains("\"temperature\": -11.000"), "{state}");

    // query --sensor freezer: the old sensor's readings (calibrated by its own offset) up to the
    // new one's first, then the new one's (without offset), nothing of the old after that.
    let out = Command::new(cliser_testkit::bin("cliser-server"))
        .args(["query", "--store", &s.store_url(), "--config"])
        .arg(dir.path().join("server.toml"))
        .args(["--sensor", "freezer", "--since", "1h", "--format", "json"])
        .env_remove("STATE_DIRECTORY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    let sensors: Vec<&str> = rows.iter().map(|r| r["sensor"].as_str().unwrap()).collect();
    let switch = sensors.iter().position(|s| *s == NEW).expect("new readings");
    assert!(switch > 0, "old readings first: {sensors:?}");
    assert!(sensors[..switch].iter().all(|s| *s == OLD) && sensors[switch..].iter().all(|s| *s == NEW));
    let old_before: Vec<i64> = stored(&s, OLD).into_iter().filter(|&t| t < first_new).collect();
    assert_eq!(switch, old_before.len(), "every old reading before the swap, none after");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["name"], "freezer");
        let want = if i < switch { -12.0 } else { -11.0 };
        assert_eq!(r["temp_c"].as_f64(), Some(want), "{r}");
    }

    // The page's API by name: one series, both ids.
    let http = s.http.expect("the web page");
    let reply = get(http, "/api/readings?cid=garage&sensor=freezer&since=1h");
    assert_eq!(reply.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&reply.body).unwrap();
    let series = body["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{body}");
    assert_eq!(series[0]["sensor"], NEW);
    assert_eq!(series[0]["sensors"], serde_json::json!([OLD, NEW]));
    assert_eq!(series[0]["points"].as_array().unwrap().len(), rows.len(), "{body}");
    // /metrics: one temperature series named freezer, the new sensor's.
    let metrics = String::from_utf8(get(http, "/metrics").body).unwrap();
    let named: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("cliser_temperature_celsius{") && l.contains("name=\"freezer\""))
        .collect();
    assert_eq!(named.len(), 1, "{named:#?}");
    assert!(named[0].contains(NEW), "{}", named[0]);

    // The alert fired once, under the series, and never resolved: the swap moved nothing.
    assert_eq!(s.log().count("alert firing:"), 1, "{}", s.log().text());
    assert_eq!(s.log().count("alert resolved:"), 0, "{}", s.log().text());
    let alerts = console_alerts(&s);
    assert!(alerts.contains("above_max") && alerts.contains("freezer"), "{alerts}");
}
