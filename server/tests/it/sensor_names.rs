//! A sensor's name from the config's `[sensors]` works wherever its id does (`query --sensor`, the
//! API's `sensor=`), and a sensor that is neither a known id nor a name is an error naming the known
//! names, never an empty answer.

use crate::common;
use common::http::get;
use common::*;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const FRIDGE: &str = "28-000000000001";
const UNNAMED: &str = "28-000000000002";
/// Named in the config, never reported.
const FREEZER: &str = "28-00000000000f";

/// A server whose config names two sensors; pi-1 has sent two readings of the fridge and one of
/// an unnamed sensor. Returns it with its config file.
fn a_named_fleet(dir: &Path) -> (ServerHandle, String) {
    let conf = dir.join("server.toml");
    std::fs::write(
        &conf,
        format!("[sensors.\"{FRIDGE}\"]\nname = \"fridge\"\n\n[sensors.\"{FREEZER}\"]\nname = \"freezer\"\n"),
    )
    .unwrap();
    let conf = conf.to_str().unwrap().to_owned();
    let s = ServerHandle::start(dir, &["--keepalive", "200ms", "--config", &conf]);
    let (mut pi, _) = client(&s, "pi-1");
    pi.expect("100", T);
    pi.send(&format!("100 {FRIDGE}=4.5#1 {UNNAMED}=20#2 {FRIDGE}=5#3"));
    cliser_testkit::wait_until(T, "the three readings stored", || {
        (s.stored_seqs("pi-1").len() == 3).then_some(())
    });
    (s, conf)
}

fn query(s: &ServerHandle, conf: &str, args: &[&str]) -> Output {
    let cwd = tempfile::tempdir().unwrap();
    Command::new(cliser_testkit::bin("cliser-server"))
        .args(["query", "--store", &s.store_url(), "--config", conf, "--format", "json"])
        .args(args)
        .current_dir(cwd.path())
        .env_remove("STATE_DIRECTORY")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// The (sensor, name) of each JSON row of a query that succeeded.
fn rows(o: &Output, args: &[&str]) -> Vec<(String, String)> {
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {stderr}");
    let items: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    items.as_array().unwrap().iter().map(|r| (text(&r["sensor"]), text(&r["name"]))).collect()
}

#[test]
fn query_takes_a_name_and_refuses_an_unknown_sensor_with_exit_2_naming_the_names() {
    let d = tempfile::tempdir().unwrap();
    let (s, conf) = a_named_fleet(d.path());
    let fridge = (FRIDGE.to_owned(), "fridge".to_owned());
    for args in [&["--sensor", "fridge"][..], &["--sensor", FRIDGE], &["--cid", "pi-1", "--sensor", "fridge"]]
    {
        assert_eq!(rows(&query(&s, &conf, args), args), [fridge.clone(), fridge.clone()], "{args:?}");
    }
    let every = ["--sensor", "fridge", "--every", "1h"];
    assert_eq!(rows(&query(&s, &conf, &every), &every), [fridge], "buckets by name too");
    let unnamed = ["--sensor", UNNAMED];
    assert_eq!(rows(&query(&s, &conf, &unnamed), &unnamed), [(UNNAMED.to_owned(), String::new())]);
    // Named, but it never reported: an empty answer, exit 0.
    assert_eq!(rows(&query(&s, &conf, &["--sensor", "freezer"]), &["freezer"]), []);
    // Known, but not on this node: also an empty answer (the filters combine).
    assert_eq!(rows(&query(&s, &conf, &["--cid", "pj", "--sensor", "fridge"]), &["pj"]), []);

    for given in ["fridg", "28-0000000000ff", "the fridge"] {
        let o = query(&s, &conf, &["--sensor", given]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{given}: {stderr}");
        assert!(stderr.contains(&format!("no sensor {given:?}")), "{given}: {stderr}");
        assert!(stderr.contains("the names: freezer, fridge"), "{given}: {stderr}");
        assert!(o.stdout.is_empty(), "{given}: {}", String::from_utf8_lossy(&o.stdout));
    }
    let o = query(&s, &conf, &["--cid", "pi-1", "--sensor", "fridg"]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains(&format!("node pi-1's sensors: {FRIDGE}, {UNNAMED}")), "{stderr}");
}

#[test]
fn the_api_takes_a_name_and_answers_an_unknown_sensor_with_a_404_naming_the_names() {
    let d = tempfile::tempdir().unwrap();
    let (s, _) = a_named_fleet(d.path());
    let http = s.http.expect("the test server serves the web page");

    let r = get(http, "/api/readings?cid=pi-1&sensor=fridge");
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let series = j["series"].as_array().unwrap();
    assert_eq!(series.len(), 1, "{j}");
    assert_eq!((series[0]["sensor"].as_str(), series[0]["name"].as_str()), (Some(FRIDGE), Some("fridge")));
    assert_eq!(series[0]["points"].as_array().unwrap().len(), 2, "{j}");
    let csv = get(http, "/api/readings?cid=pi-1&sensor=fridge&format=csv");
    assert_eq!(csv.status, 200, "{}", csv.text());
    assert!(csv.header("Content-Disposition").unwrap().contains(&format!("cliser-pi-1-{FRIDGE}.csv")));

    let r = get(http, "/api/readings?cid=pi-1&sensor=freezer");
    assert_eq!((r.status, &r.json()["series"]), (200, &serde_json::json!([])), "named, nothing yet");

    for given in ["fridg", "28-0000000000ff"] {
        let r = get(http, &format!("/api/readings?cid=pi-1&sensor={given}"));
        assert_eq!(r.status, 404, "{given}: {}", r.text());
        let j = r.json();
        let error = j["error"].as_str().unwrap();
        assert!(error.contains(&format!("no sensor {given:?} on node pi-1")), "{error}");
        assert!(error.contains("the names: freezer, fridge"), "{error}");
        assert_eq!(j["parameter"], "sensor");
    }
    let r = get(http, "/api/readings?cid=pi-1&sensor=the%20fridge");
    assert_eq!(r.status, 400, "not even an id: {}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("the names: freezer, fridge"), "{}", r.text());
}
