//! The MQTT exporter against a real Mosquitto: Home Assistant discovery, a state message per
//! reading in order, each node's availability following its session, everything stored during a
//! broker outage published afterwards, and a broker that never answers holding up nothing.

use crate::common;

use cliser_testkit::{wait_until, Message, Mosquitto};
use common::*;
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// As long as the issue asks (see export_influx.rs).
const OUTAGE: Duration = Duration::from_secs(30);

fn start_pi(s: &ServerHandle, dir: &std::path::Path, id: &str, run: u32) -> Proc {
    let state = dir.join(format!("state-{id}"));
    let log = dir.join(format!("{id}-{run}.log"));
    pi_client(s.addr, &s.password, id, &state, &log, &["--interval", "200ms"])
}

/// (cid, sensor) -> the seqs of its state messages, in the order received.
fn states(msgs: &[Message]) -> BTreeMap<(String, String), Vec<u64>> {
    let mut out: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    for m in msgs {
        let parts: Vec<&str> = m.topic.split('/').collect();
        if let ["cliser", cid, sensor, "state"] = parts[..] {
            let v: serde_json::Value = serde_json::from_str(&m.payload)
                .unwrap_or_else(|e| panic!("{}: {e}: {}", m.topic, m.payload));
            assert!(v["ts"].as_str().is_some_and(|t| t.ends_with('Z')), "{}", m.payload);
            assert!(v["temperature"].is_f64() || v["error"].is_string(), "{}", m.payload);
            out.entry((cid.to_owned(), sensor.to_owned())).or_default().push(v["seq"].as_u64().unwrap());
        }
    }
    out
}

/// (cid, sensor) -> the seqs stored, by seq.
fn stored(s: &ServerHandle) -> BTreeMap<(String, String), Vec<u64>> {
    let mut store = cliser_store::open(&s.store_url()).unwrap();
    let mut out: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    for r in store.readings(&cliser_store::ReadingQuery::default()).unwrap() {
        out.entry((r.cid.to_string(), r.sensor.to_string())).or_default().push(r.seq.unwrap());
    }
    for v in out.values_mut() {
        v.sort_unstable();
    }
    out
}

/// The readings a Pi's journal holds that its server has not acknowledged yet.
fn unacked(state: &std::path::Path) -> Vec<u64> {
    let text = std::fs::read_to_string(state.join("backlog.log")).unwrap_or_default();
    let acked =
        text.lines().filter_map(|l| l.strip_prefix("ack ")?.trim().parse::<u64>().ok()).max().unwrap_or(0);
    pending_seqs(state).into_iter().filter(|q| *q > acked).collect()
}

fn last_payload(msgs: &[Message], topic: &str) -> Option<String> {
    msgs.iter().rev().find(|m| m.topic == topic).map(|m| m.payload.clone())
}

fn configs(msgs: &[Message]) -> Vec<&Message> {
    msgs.iter().filter(|m| m.topic.starts_with("homeassistant/sensor/")).collect()
}

#[test]
fn two_pis_show_in_home_assistant_with_states_in_order_and_availability_following_their_sessions() {
    let Some(broker) = Mosquitto::start() else { return };
    let sub = broker.subscribe("t-all", "#");
    let (dir, s) = server(&["--mqtt", &broker.url()]);
    let mut a = start_pi(&s, dir.path(), "pi-a", 1);
    let _b = start_pi(&s, dir.path(), "pi-b", 1);
    wait_until(T * 3, "10 states of each of 4 sensors", || {
        let st = states(&sub.messages());
        (st.len() == 4 && st.values().all(|v| v.len() >= 10)).then_some(())
    });
    let msgs = sub.messages();
    assert_eq!(last_payload(&msgs, "cliser/status").as_deref(), Some("online"));
    assert_eq!(last_payload(&msgs, "cliser/pi-a/availability").as_deref(), Some("online"));
    assert_eq!(last_payload(&msgs, "cliser/pi-b/availability").as_deref(), Some("online"));

    // Discovery: one config per sensor, before its first state, with every key.
    let cfgs = configs(&msgs);
    assert_eq!(cfgs.len(), 4, "{cfgs:?}");
    for c in &cfgs {
        let v: serde_json::Value =
            serde_json::from_str(&c.payload).unwrap_or_else(|e| panic!("{e}: {}", c.payload));
        let state_topic = v["state_topic"].as_str().unwrap().to_owned();
        let cid = state_topic.split('/').nth(1).unwrap().to_owned();
        let sensor = state_topic.split('/').nth(2).unwrap().to_owned();
        assert_eq!(c.topic, format!("homeassistant/sensor/cliser_{cid}_{sensor}/config"));
        assert_eq!(v["unique_id"], format!("cliser_{cid}_{sensor}"));
        assert_eq!(v["name"], sensor.as_str(), "no friendly name configured: the sensor id");
        for (k, want) in [
            ("device_class", "temperature"),
            ("unit_of_measurement", "°C"),
            ("state_class", "measurement"),
            ("availability_mode", "all"),
        ] {
            assert_eq!(v[k], want, "{k} in {}", c.payload);
        }
        assert!(v["value_template"].as_str().unwrap().contains("value_json.temperature"));
        let avail: Vec<&str> =
            v["availability"].as_array().unwrap().iter().map(|a| a["topic"].as_str().unwrap()).collect();
        assert_eq!(avail, ["cliser/status", format!("cliser/{cid}/availability").as_str()]);
        let d = &v["device"];
        assert_eq!(d["identifiers"][0], format!("cliser_{cid}"));
        assert_eq!(d["name"], cid.as_str());
        assert!(d["model"].is_string() && d["sw_version"].is_string(), "{d}");
        let first_config = msgs.iter().position(|m| m.topic == c.topic).unwrap();
        let first_state = msgs.iter().position(|m| m.topic == state_topic).unwrap();
        assert!(first_config < first_state, "{} announced after its first state", c.topic);
    }

    // One state per reading, in order, the same as stored.
    let st = states(&sub.messages());
    let db = stored(&s);
    for (key, seqs) in &st {
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{key:?}: not in order or repeated: {seqs:?}");
        let upto: Vec<u64> = db[key].iter().copied().filter(|q| q <= seqs.last().unwrap()).collect();
        assert_eq!(seqs, &upto, "{key:?}: published vs stored");
    }

    // A Pi killed goes offline, and online again when it comes back.
    a.kill9();
    wait_until(T, "pi-a offline", || {
        (last_payload(&sub.messages(), "cliser/pi-a/availability").as_deref() == Some("offline"))
            .then_some(())
    });
    assert_eq!(last_payload(&sub.messages(), "cliser/pi-b/availability").as_deref(), Some("online"));
    let _a = start_pi(&s, dir.path(), "pi-a", 2);
    wait_until(T, "pi-a online again", || {
        (last_payload(&sub.messages(), "cliser/pi-a/availability").as_deref() == Some("online")).then_some(())
    });

    // Home Assistant restarts: the configs again.
    let before = configs(&sub.messages()).len();
    broker.publish("homeassistant/status", "online");
    wait_until(T, "the configs again", || (configs(&sub.messages()).len() >= before + 4).then_some(()));

    // A late subscriber (Home Assistant starting after cliser) gets the configs and last states retained.
    let late = broker.subscribe("t-late", "#");
    wait_until(T, "retained configs and states", || {
        let m = late.messages();
        let retained_cfgs = m.iter().filter(|m| m.retained && m.topic.ends_with("/config")).count();
        let retained_states = m.iter().filter(|m| m.retained && m.topic.ends_with("/state")).count();
        (retained_cfgs == 4 && retained_states == 4).then_some(())
    });
}

#[test]
fn readings_stored_while_the_broker_is_down_are_published_after_it_returns_in_order() {
    let Some(mut broker) = Mosquitto::start() else { return };
    let sub = broker.subscribe("t-outage", "cliser/+/+/state");
    let (dir, s) = server(&["--mqtt", &broker.url()]);
    let _pis: Vec<Proc> = ["pi-a", "pi-b"].iter().map(|id| start_pi(&s, dir.path(), id, 1)).collect();
    wait_until(T * 3, "states of 4 sensors", || {
        let st = states(&sub.messages());
        (st.len() == 4 && st.values().all(|v| v.len() >= 5)).then_some(())
    });
    broker.stop();
    let down = Instant::now();
    let problem = s.log().wait_for("WARN", T);
    assert!(problem.contains("export mqtt -> mqtt://127.0.0.1:"), "{problem}");
    std::thread::sleep(OUTAGE.saturating_sub(down.elapsed()));
    assert_eq!(s.log().count("WARN"), 1, "one line for the outage: {}", s.log().text());
    broker.start_again();
    s.log().wait_for("back, sending what was stored meanwhile", Duration::from_secs(20));
    drop(_pis);
    // Every stored reading published: wait for the last one of each sensor.
    std::thread::sleep(Duration::from_secs(1));
    let db = stored(&s);
    wait_until(Duration::from_secs(60), "every stored reading published", || {
        let st = states(&sub.messages());
        db.iter().all(|(k, seqs)| st.get(k).is_some_and(|p| p.contains(seqs.last().unwrap()))).then_some(())
    });
    let st = states(&sub.messages());
    let (mut dupes, mut total) = (0, 0);
    for (key, seqs) in &db {
        let published = &st[key];
        total += published.len();
        let mut seen = std::collections::BTreeSet::new();
        // In order per sensor: a message never goes back except to repeat what was sent around
        // the outage (at-least-once), and then carries on in order.
        let mut back = 0;
        for w in published.windows(2) {
            if w[1] <= w[0] {
                back += 1;
            }
        }
        assert!(back <= 1, "{key:?}: went back {back} times: {published:?}");
        for q in published {
            if !seen.insert(*q) {
                dupes += 1;
            }
        }
        let missing: Vec<&u64> = seqs.iter().filter(|q| !seen.contains(q)).collect();
        assert!(missing.is_empty(), "{key:?}: stored but never published: {missing:?}");
    }
    let n: usize = db.values().map(Vec::len).sum();
    println!("{n} readings stored, {total} state messages published, {dupes} of them repeats around the {OUTAGE:?} outage");
}

#[test]
fn a_broker_that_never_answers_holds_up_no_reading_ack_or_page() {
    // Accepts the TCP connection and says nothing: no CONNACK, ever.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let held = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in silent.incoming().take(64) {
            conns.push(c);
        }
    });
    let (dir, s) = server(&["--mqtt", &format!("mqtt://{addr}"), "--keepalive", "500ms"]);
    let _pi = start_pi(&s, dir.path(), "pi-a", 1);
    let state = dir.path().join("state-pi-a");
    let good = GoodClient::start(&s, "good");
    let started = Instant::now();
    let http = s.http.unwrap();
    let mut slowest_page = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(12) {
        let t = Instant::now();
        let page = http::get(http, "/");
        slowest_page = slowest_page.max(t.elapsed());
        assert_eq!(page.status, 200);
        std::thread::sleep(Duration::from_millis(500));
    }
    // Readings are stored and acked as they come: the Pi's backlog holds only the last few.
    let stored = s.stored_seqs("pi-a");
    assert!(stored.len() >= 80, "{} readings stored in 12 s at 200 ms x 2 sensors", stored.len());
    let pending = unacked(&state);
    assert!(pending.len() <= 20, "acks held back: {} readings waiting on the Pi", pending.len());
    let (worst, _) = good.finish();
    assert!(worst < Duration::from_secs(2), "a keep-alive came {worst:?} after the last (every 500 ms)");
    assert!(slowest_page < Duration::from_secs(1), "the page took {slowest_page:?}");
    let api = http::get(http, "/api/exporters").json();
    let mqtt = &api["exporters"][0];
    assert_eq!(mqtt["name"], "mqtt");
    assert_eq!(mqtt["connected"], false);
    assert!(mqtt["lag_readings"].as_u64().unwrap() >= 40, "{api}");
    let metrics = http::get(http, "/metrics").text();
    assert!(metrics.contains("cliser_export_lag_readings{exporter=\"mqtt\"}"), "{metrics}");
    let warns = s.log().lines_with("export mqtt ->");
    let warns: Vec<&String> = warns.iter().filter(|l| l.contains("WARN")).collect();
    assert_eq!(warns.len(), 1, "once per state change, not per reading or retry: {warns:?}");
    drop(held);
}
