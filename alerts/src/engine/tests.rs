use super::*;
use cliser_protocol::{Celsius, ErrorReason};

const S: i64 = 1000;
const MIN: i64 = 60 * S;

fn settings(toml: &str) -> Arc<Settings> {
    Arc::new(Settings::from_toml(&toml.parse().unwrap()).unwrap())
}

fn t(v: f64) -> Value {
    Value::Celsius(Celsius::new(v).unwrap())
}

fn err(r: &str) -> Value {
    Value::Error(ErrorReason::new(r).unwrap())
}

const FREEZER: &str = r#"
[sensors."28-f"]
name = "freezer"
min = -25.0
max = -15.0
for = "2m"
deadband = 0.5
"#;

/// Feeds `value(i)` every 10 s from `from` for `n` readings, with a tick after each; all transitions.
fn feed(e: &mut Engine, from: i64, n: i64, value: impl Fn(i64) -> f64) -> Vec<Transition> {
    let mut out = Vec::new();
    for i in 0..n {
        let at = from + i * 10 * S;
        out.extend(e.reading("garage", "28-f", &t(value(i)), at, at));
        out.extend(e.tick(at + 5 * S));
    }
    out
}

#[test]
fn a_value_hovering_at_max_fires_once_after_for_and_resolves_once_below_the_deadband() {
    let mut e = Engine::new(settings(FREEZER), vec![]);
    // Five minutes around -15.0, never further than the deadband below it.
    let noise = [0.3, -0.2, 0.4, -0.4, 0.1, -0.1, 0.2, -0.3];
    let out = feed(&mut e, 0, 30, |i| -15.0 + noise[i as usize % noise.len()]);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].state, State::Firing);
    assert_eq!(out[0].alert.key.kind, Kind::AboveMax);
    assert_eq!(out[0].alert.since_ms, 0, "since the first reading above max");
    assert!(out[0].at_ms >= 2 * MIN && out[0].at_ms < 2 * MIN + 15 * S, "after `for`: {}", out[0].at_ms);
    assert!(
        out[0].alert.message.starts_with("freezer (garage/28-f) above max -15.0: "),
        "{}",
        out[0].alert.message
    );
    assert!(out[0].alert.message.ends_with(" for 2m"), "{}", out[0].alert.message);
    // Back inside, but not by the deadband: still firing.
    assert!(feed(&mut e, 300 * S, 6, |_| -15.3).is_empty());
    let out = feed(&mut e, 400 * S, 6, |_| -16.0);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!((out[0].state, out[0].alert.value), (State::Resolved, Some(-16.0)));
    assert!(
        out[0].alert.message.starts_with("freezer (garage/28-f) back below max -15.0: -16.000"),
        "{}",
        out[0].alert.message
    );
}

#[test]
fn a_brief_crossing_shorter_than_for_does_not_fire() {
    let mut e = Engine::new(settings(FREEZER), vec![]);
    let out = feed(&mut e, 0, 30, |i| if i < 6 { -14.0 } else { -18.0 });
    assert!(out.is_empty(), "{out:#?}");
}

#[test]
fn without_for_the_first_crossing_fires_and_below_min_works_alike() {
    let mut e = Engine::new(settings("[sensors.s]\nmin = 10\n"), vec![]);
    let out = e.reading("pi", "s", &t(9.5), 0, 0);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].alert.key.kind, out[0].alert.limit), (Kind::BelowMin, Some(10.0)));
    assert!(e.reading("pi", "s", &t(10.4), 10 * S, 10 * S).is_empty(), "inside, within the deadband");
    let out = e.reading("pi", "s", &t(10.6), 20 * S, 20 * S);
    assert_eq!(out[0].state, State::Resolved);
}

#[test]
fn calibration_is_applied_before_the_limits() {
    // Raw -15.2 reads -14.95 once corrected: above max.
    let mut e = Engine::new(settings("[sensors.s]\nmax = -15.0\noffset = 0.25\n"), vec![]);
    let out = e.reading("pi", "s", &t(-15.2), 0, 0);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].alert.value, Some(-14.95));
}

#[test]
fn error_readings_in_a_row_fire_once_and_a_temperature_resolves() {
    let mut e = Engine::new(settings(""), vec![]);
    assert!(e.reading("pi", "s", &err("crc"), 0, 0).is_empty());
    assert!(e.reading("pi", "s", &err("crc"), 10 * S, 10 * S).is_empty());
    assert!(e.reading("pi", "s", &t(20.0), 20 * S, 20 * S).is_empty(), "a good one breaks the run");
    let mut out = Vec::new();
    for i in 3..8 {
        out.extend(e.reading("pi", "s", &err("reset"), i * 10 * S, i * 10 * S));
    }
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!((out[0].alert.key.kind, out[0].alert.since_ms), (Kind::SensorError, 30 * S));
    assert_eq!(out[0].alert.message, "pi/s: 3 error readings in a row (last: err:reset)");
    let out = e.reading("pi", "s", &t(21.0), 90 * S, 90 * S);
    assert_eq!((out.len(), out[0].state), (1, State::Resolved));
}

#[test]
fn a_silent_sensor_fires_after_silent_after_unless_its_node_is_offline() {
    let mut e = Engine::new(settings("[sensors]\nsilent_after = \"10m\"\n"), vec![]);
    assert!(e.node_up("pi", 0).is_empty());
    e.reading("pi", "s", &t(20.0), 0, 0);
    assert!(e.tick(9 * MIN).is_empty());
    let out = e.tick(10 * MIN);
    assert_eq!((out.len(), out[0].alert.key.kind), (1, Kind::SensorSilent));
    assert!(e.tick(11 * MIN).is_empty(), "once");
    let out = e.reading("pi", "s", &t(20.0), 12 * MIN, 12 * MIN);
    assert_eq!(out[0].state, State::Resolved);
    assert_eq!(out[0].alert.message, "pi/s reports again after 12m");
    // Its node goes away: node_offline is the news, not each sensor.
    e.node_down("pi", 13 * MIN);
    let out = e.tick(30 * MIN);
    assert_eq!(out.iter().map(|t| t.alert.key.kind).collect::<Vec<_>>(), vec![Kind::NodeOffline]);
}

#[test]
fn a_node_back_from_an_outage_gives_its_sensors_silent_after_to_report_again() {
    let mut e = Engine::new(settings("[sensors]\nsilent_after = \"10m\"\n"), vec![]);
    e.node_up("pi", 0);
    e.reading("pi", "s", &t(20.0), 0, 0);
    e.node_down("pi", MIN);
    let out = e.tick(30 * MIN);
    assert_eq!(out.iter().map(|t| t.alert.key.kind).collect::<Vec<_>>(), vec![Kind::NodeOffline]);
    assert_eq!(e.node_up("pi", 31 * MIN).len(), 1, "node_offline resolved");
    // Its first reading is on its way (a poll interval, a sensor conversion): not silent yet.
    assert!(e.tick(31 * MIN + 5 * S).is_empty());
    assert!(e.tick(40 * MIN).is_empty());
    // Back for silent_after and still nothing from it: silent, for as long as it really was.
    let out = e.tick(41 * MIN);
    assert_eq!(out.iter().map(|t| t.alert.key.kind).collect::<Vec<_>>(), vec![Kind::SensorSilent]);
    assert!(
        out[0].alert.message.starts_with("pi/s silent for 41m (last reading received "),
        "{}",
        out[0].alert.message
    );
    assert_eq!(out[0].alert.since_ms, 0);
}

#[test]
fn after_a_restart_a_node_that_registers_gives_its_sensors_silent_after_to_report_again() {
    let mut e = Engine::new(settings("[sensors]\nsilent_after = \"10m\"\n"), vec![]);
    // The server was down for an hour.
    e.know_node("pi", 60 * MIN);
    e.know_sensor("pi", "s", 0);
    assert!(e.node_up("pi", 60 * MIN + 30 * S).is_empty());
    assert!(e.tick(61 * MIN).is_empty());
    let out = e.tick(71 * MIN);
    assert_eq!(out.iter().map(|t| t.alert.key.kind).collect::<Vec<_>>(), vec![Kind::SensorSilent]);
}

#[test]
fn a_node_fires_offline_after_offline_after_and_resolves_when_it_registers() {
    let mut e = Engine::new(settings("[nodes.slow]\noffline_after = \"5m\"\n"), vec![]);
    e.node_up("pi", 0);
    e.node_up("slow", 0);
    e.node_down("pi", MIN);
    e.node_down("slow", MIN);
    assert!(e.tick(2 * MIN + 59 * S).is_empty());
    let out = e.tick(3 * MIN);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].alert.key.cid.as_str(), out[0].alert.since_ms), ("pi", MIN));
    assert_eq!(out[0].alert.message, "node pi offline since 1970-01-01T00:01:00Z");
    let out = e.tick(6 * MIN);
    assert_eq!(out.iter().map(|t| t.alert.key.cid.as_str()).collect::<Vec<_>>(), vec!["slow"]);
    let out = e.node_up("pi", 7 * MIN);
    assert_eq!((out.len(), out[0].state), (1, State::Resolved));
    assert_eq!(out[0].alert.message, "node pi back online after 6m");
}

#[test]
fn a_node_the_store_knows_that_never_comes_back_fires_after_a_restart() {
    let mut e = Engine::new(settings(""), vec![]);
    e.know_node("gone", 0);
    e.know_node("back", 0);
    e.node_up("back", 30 * S);
    let out = e.tick(2 * MIN);
    assert_eq!(out.iter().map(|t| t.alert.key.cid.as_str()).collect::<Vec<_>>(), vec!["gone"]);
}

#[test]
fn what_fired_before_a_restart_is_not_fired_again_and_resolves_once() {
    let key = AlertKey { kind: Kind::AboveMax, cid: "garage".into(), sensor: "28-f".into() };
    let before = Alert {
        key,
        name: Some("freezer".into()),
        since_ms: 0,
        value: Some(-12.0),
        limit: Some(-15.0),
        message: "x".into(),
    };
    let mut e = Engine::new(settings(FREEZER), vec![before]);
    assert!(feed(&mut e, 10 * MIN, 30, |_| -12.0).is_empty(), "still above: nothing new");
    let out = feed(&mut e, 20 * MIN, 3, |_| -18.0);
    assert_eq!((out.len(), out[0].state), (1, State::Resolved));
}

#[test]
fn an_older_reading_from_a_backlog_does_not_judge_the_limits() {
    let mut e = Engine::new(settings("[sensors.s]\nmax = 30\n"), vec![]);
    assert!(e.reading("pi", "s", &t(20.0), 100 * S, 100 * S).is_empty());
    assert!(e.reading("pi", "s", &t(40.0), 50 * S, 101 * S).is_empty(), "sampled before the newest");
}

#[test]
fn a_reload_that_removes_a_limit_resolves_its_alert() {
    let mut e = Engine::new(settings("[sensors.s]\nmax = 30\n"), vec![]);
    assert_eq!(e.reading("pi", "s", &t(40.0), 0, 0).len(), 1);
    let out = e.reload(settings("[sensors.s]\nname = \"oven\"\n"), 10 * S);
    assert_eq!((out.len(), out[0].state), (1, State::Resolved));
    assert_eq!(out[0].alert.message, "oven (pi/s): above_max no longer watched (settings reloaded)");
    assert_eq!(e.firing().count(), 0);
}

#[test]
fn forgetting_a_node_ends_its_firing_alerts_as_forgotten_and_drops_its_tracks() {
    let mut e = Engine::new(settings("[sensors]\nsilent_after = \"10m\"\n[sensors.s]\nmax = 30\n"), vec![]);
    e.node_up("pi", 0);
    e.reading("pi", "s", &t(40.0), 0, 0);
    e.reading("pi", "q", &t(20.0), 0, 0);
    e.node_up("other", 0);
    e.reading("other", "s", &t(40.0), 0, 0);
    e.node_down("pi", MIN);
    let out = e.tick(4 * MIN);
    assert_eq!(out.iter().map(|t| t.alert.key.kind).collect::<Vec<_>>(), vec![Kind::NodeOffline]);
    assert_eq!(e.firing().count(), 3, "pi's above_max and node_offline, other's above_max");

    let out = e.forget("pi", None, 5 * MIN);
    let mut ended: Vec<(Kind, &str)> =
        out.iter().map(|t| (t.alert.key.kind, t.alert.key.sensor.as_str())).collect();
    ended.sort();
    assert_eq!(ended, vec![(Kind::AboveMax, "s"), (Kind::NodeOffline, "")]);
    assert!(out.iter().all(|t| t.state == State::Forgotten && t.at_ms == 5 * MIN), "{out:#?}");
    let offline = out.iter().find(|t| t.alert.key.kind == Kind::NodeOffline).unwrap();
    assert!(offline.alert.message.starts_with("node pi forgotten: its node_offline alert (since "));
    assert_eq!(offline.alert.since_ms, MIN, "since is kept");
    assert!(!e.knows_node("pi") && !e.knows_sensor("pi", "s") && !e.knows_sensor("pi", "q"));
    assert!(e.knows_node("other") && e.knows_sensor("other", "s"), "other nodes are left alone");
    assert_eq!(e.firing().map(|a| a.key.cid.as_str()).collect::<Vec<_>>(), vec!["other"]);
    // Forgotten: it neither goes offline again nor its sensors silent, however long.
    assert!(e.tick(60 * MIN).iter().all(|t| t.alert.key.cid != "pi"));
    assert!(e.forget("pi", None, 61 * MIN).is_empty(), "forgetting again ends nothing");
}

#[test]
fn forgetting_a_sensor_leaves_its_node_and_other_sensors_and_a_reading_brings_it_back() {
    let mut e = Engine::new(settings("[sensors]\nmax = 30\n"), vec![]);
    e.node_up("pi", 0);
    assert_eq!(e.reading("pi", "a", &t(40.0), 0, 0).len(), 1);
    assert_eq!(e.reading("pi", "b", &t(40.0), 0, 0).len(), 1);
    let out = e.forget("pi", Some("a"), 10 * S);
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].state, out[0].alert.key.sensor.as_str()), (State::Forgotten, "a"));
    assert!(e.knows_node("pi") && e.knows_sensor("pi", "b") && !e.knows_sensor("pi", "a"));
    // It reports again: tracked afresh, and still too hot, so it fires again.
    let out = e.reading("pi", "a", &t(41.0), 20 * S, 20 * S);
    assert_eq!((out.len(), out[0].state), (1, State::Firing));
    assert!(e.knows_sensor("pi", "a"));
}

#[test]
fn a_forgotten_node_that_registers_again_is_back() {
    let mut e = Engine::new(settings(""), vec![]);
    e.know_node("pi", 0);
    assert_eq!(e.tick(3 * MIN).len(), 1, "offline");
    assert_eq!(e.forget("pi", None, 4 * MIN).len(), 1);
    assert!(e.node_up("pi", 5 * MIN).is_empty(), "nothing to resolve: it was forgotten");
    assert!(e.knows_node("pi"));
    e.node_down("pi", 6 * MIN);
    let out = e.tick(9 * MIN);
    assert_eq!(out.iter().map(|t| t.alert.key.kind).collect::<Vec<_>>(), vec![Kind::NodeOffline]);
}

#[test]
fn a_pending_crossing_of_a_forgotten_sensor_never_fires() {
    let mut e = Engine::new(settings(FREEZER), vec![]);
    assert!(e.reading("garage", "28-f", &t(-10.0), 0, 0).is_empty(), "pending for 2m");
    assert!(e.forget("garage", Some("28-f"), 30 * S).is_empty());
    assert!(e.tick(5 * MIN).is_empty());
}

#[test]
fn the_offline_message_says_since_when_once_in_utc() {
    let at = 1_796_488_835_000; // 2026-12-05T16:40:35Z
    assert_eq!(offline_message("my-pi", at), "node my-pi offline since 2026-12-05T16:40:35Z");
    assert_eq!(offline_message("my-pi", at + 999), "node my-pi offline since 2026-12-05T16:40:35Z");
}

#[test]
fn a_resolution_after_a_reload_carries_the_name_and_limit_in_force_as_its_message_does() {
    let mut e = Engine::new(settings(FREEZER), vec![]);
    let out = feed(&mut e, 0, 15, |_| -12.0);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!((out[0].alert.name.as_deref(), out[0].alert.limit), (Some("freezer"), Some(-15.0)));
    let renamed = "[sensors.\"28-f\"]\nname = \"chest\"\nmax = -10.0\nfor = \"2m\"\n";
    assert!(e.reload(settings(renamed), 200 * S).is_empty(), "still above a max, still firing");
    let out = feed(&mut e, 210 * S, 1, |_| -11.0);
    assert_eq!(out.len(), 1, "{out:#?}");
    let resolved = &out[0].alert;
    assert_eq!(out[0].state, State::Resolved);
    assert!(
        resolved.message.starts_with("chest (garage/28-f) back below max -10.0: -11.000"),
        "{}",
        resolved.message
    );
    assert_eq!((resolved.name.as_deref(), resolved.limit), (Some("chest"), Some(-10.0)));
    // A limit removed by the reload: none is told.
    let mut e = Engine::new(settings(FREEZER), vec![]);
    feed(&mut e, 0, 15, |_| -12.0);
    let out = e.reload(settings("[sensors.\"28-f\"]\nname = \"chest\"\n"), 200 * S);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!((out[0].alert.name.as_deref(), out[0].alert.limit), (Some("chest"), None));
    assert_eq!(out[0].alert.message, "chest (garage/28-f): above_max no longer watched (settings reloaded)");
}

const OLD_ONLY: &str = r#"
[sensors]
silent_after = "5m"
[sensors."28-old"]
name = "freezer"
offset = 1.0
max = -15.0
"#;

/// The config after the swap: the new sensor replaces the old one and takes the limits over; the
/// old one keeps its calibration for its own readings.
const SWAPPED: &str = r#"
[sensors]
silent_after = "5m"
[sensors."28-old"]
offset = 1.0
[sensors."28-new"]
replaces = "28-old"
name = "freezer"
max = -15.0
"#;

#[test]
fn an_alert_of_a_replaced_sensor_goes_on_in_its_replacement_without_a_resolve_and_fire() {
    let mut e = Engine::new(settings(OLD_ONLY), vec![]);
    e.node_up("garage", 0);
    // -17 raw is -16 true (offset 1): inside; -15 raw is -14 true: above max.
    assert!(e.reading("garage", "28-old", &t(-17.0), 0, 0).is_empty());
    let out = e.reading("garage", "28-old", &t(-15.0), 10 * S, 10 * S);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!((out[0].state, out[0].alert.key.sensor.as_str()), (State::Firing, "28-old"));

    assert!(e.reload(settings(SWAPPED), 20 * S).is_empty(), "the swap itself moves nothing");
    // The first batch with both: the old one (inside the limit) comes first, but the batch has
    // the new one, so the old one is not judged.
    e.arriving("garage", "28-old");
    e.arriving("garage", "28-new");
    let mut out = e.reading("garage", "28-old", &t(-30.0), 25 * S, 25 * S);
    out.extend(e.reading("garage", "28-new", &t(-14.0), 25 * S, 25 * S));
    for i in 0..60 {
        let at = 30 * S + i * 10 * S;
        // The new sensor (no offset) still above max; the old one, still on the bus for a while,
        // reads inside: it is heard, but no longer judged.
        out.extend(e.reading("garage", "28-new", &t(-14.0), at, at));
        if i < 3 {
            out.extend(e.reading("garage", "28-old", &t(-30.0), at + S, at + S));
        }
        out.extend(e.tick(at + 5 * S));
    }
    assert!(out.is_empty(), "no resolve and fire again, no sensor_silent of the old id: {out:#?}");
    assert!(e.knows_sensor("garage", "28-new") && e.knows_sensor("garage", "28-old"));
    let firing: Vec<_> = e.firing().collect();
    assert_eq!(firing.len(), 1);
    assert_eq!(firing[0].name.as_deref(), Some("freezer"));

    // It resolves once, on the new sensor's value, with the new sensor's id in the message.
    let out = e.reading("garage", "28-new", &t(-16.0), 700 * S, 700 * S);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(out[0].state, State::Resolved);
    assert!(
        out[0].alert.message.starts_with("freezer (garage/28-new) back below max"),
        "{}",
        out[0].alert.message
    );
    // Silence is the series': the new sensor quiet for silent_after fires once, under the series.
    let out = e.tick(700 * S + 5 * MIN);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!((out[0].alert.key.kind, out[0].alert.key.sensor.as_str()), (Kind::SensorSilent, "28-old"));
    assert!(
        out[0].alert.message.starts_with("freezer (garage/28-new) silent for"),
        "{}",
        out[0].alert.message
    );
    // Forgetting the old id leaves the series alone.
    assert!(e.forget("garage", Some("28-old"), 700 * S + 6 * MIN).is_empty());
    assert_eq!(e.firing().count(), 1);
}
