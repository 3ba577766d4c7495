//! Silence and absence against the real server: a sensor that stops reporting, a Pi whose
//! connection drops, and a real `cliser-pi-client` killed with SIGKILL and started again.

use crate::alert_kit;
use crate::common;
use alert_kit::*;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn a_silent_sensor_fires_after_silent_after_and_a_dropped_pi_goes_offline_without_silent_sensors() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let rec = Recorder::new(dir.path());
    let config = format!(
        "[sensors.\"28-s1\"]\nsilent_after = \"2s\"\n[sensors.\"28-s2\"]\nsilent_after = \"2s\"\n\
         [nodes]\noffline_after = \"1s\"\n[alerts]\ncommand = \"{}\"\n",
        rec.script.display()
    );
    let s = start(dir.path(), &config, &[]);
    let both = |_| vec![R("28-s1", Some(20.0), None), R("28-s2", Some(21.0), None)];
    let mut pi = Pi::login(&s, "pi");
    for i in 0..3 {
        pi.answer(&both(i));
    }
    // 28-s2 stops reporting; 28-s1 goes on.
    let last_s2 = Instant::now();
    let fired = pi.answer_until(
        Duration::from_secs(10),
        "28-s2 silent",
        |_| vec![R("28-s1", Some(20.0), None)],
        || s.log().lines_with("alert firing: pi/28-s2 silent for ").into_iter().next(),
    );
    assert!(last_s2.elapsed() >= Duration::from_secs(2), "fired before silent_after: {fired}");
    assert!(fired.contains("(last reading received "), "{fired}");
    pi.answer(&both(0));
    let resolved = pi.answer_until(Duration::from_secs(10), "28-s2 resolved", both, || {
        s.log().lines_with("alert resolved: pi/28-s2 reports again after ").into_iter().next()
    });
    assert!(resolved.contains("INFO"), "{resolved}");
    assert_eq!(s.log().count("silent for"), 1, "only 28-s2, once");

    // The connection drops: node_offline after offline_after, and no sensor of it goes silent.
    drop(pi);
    let dropped = Instant::now();
    let offline = s.log().wait_for("alert firing: node pi offline since ", Duration::from_secs(10));
    assert!(dropped.elapsed() >= Duration::from_secs(1), "fired before offline_after: {offline}");
    // Long enough for the sensors' silent_after (2 s) and a tick of the alerts clock to pass.
    cliser_testkit::wait_until(Duration::from_secs(10), "silent_after and a tick past the drop", || {
        (dropped.elapsed() >= Duration::from_millis(3500)).then_some(())
    });
    assert_eq!(s.log().count("silent for"), 1, "an offline node is one alert, not one per sensor");

    // It comes back; its first readings take a moment (a DS18B20 conversion takes 750 ms each).
    let mut pi = Pi::login(&s, "pi");
    s.log().wait_for("alert resolved: node pi back online after ", T);
    let back = Instant::now();
    while back.elapsed() < Duration::from_millis(1500) {
        pi.answer(&[]);
    }
    for i in 0..3 {
        pi.answer(&both(i));
    }
    pi.settle();
    assert_eq!(console_alerts(&s), "No alerts firing");
    assert_eq!(
        s.log().count("silent for"),
        1,
        "sensors whose node was offline are not silent the moment it is back: {:#?}",
        s.log().lines_with("alert ")
    );
    assert_eq!(s.log().count("alert firing:"), 2);
    assert_eq!(s.log().count("alert resolved:"), 2);

    let all = rec.wait_count(4, T);
    assert_eq!(all.len(), 4, "{all:#?}");
    let silent = with(&all, "KIND", "sensor_silent");
    let f = silent.iter().find(|e| e["CLISER_ALERT_STATE"] == "firing").expect("sensor_silent firing");
    assert_eq!((f["CLISER_ALERT_SENSOR"].as_str(), f["CLISER_ALERT_LIMIT"].as_str()), ("28-s2", "2.000"));
    assert_eq!(f["CLISER_ALERT_VALUE"], "", "no value");
    let offline = with(&all, "KIND", "node_offline");
    assert_eq!(offline.len(), 2, "{all:#?}");
    // Said once, in one clock (UTC, to the second), in the log as for the command.
    let fired = offline.iter().find(|e| e["CLISER_ALERT_STATE"] == "firing").expect("node_offline firing");
    let since = fired["CLISER_ALERT_SINCE"].split('.').next().unwrap().to_owned() + "Z";
    let text = format!("node pi offline since {since}");
    assert_eq!(fired["CLISER_ALERT_MESSAGE"], text);
    let logged = s.log().lines_with("alert firing: node pi offline");
    assert!(logged.len() == 1 && logged[0].ends_with(&format!("alert firing: {text}")), "{logged:?}");
    for e in offline {
        assert_eq!(e["CLISER_ALERT_CID"], "pi");
        assert_eq!(e["CLISER_ALERT_SENSOR"], "", "empty for node_offline");
        assert_eq!(e["CLISER_ALERT_NAME"], "");
        assert_eq!(e["CLISER_ALERT_LIMIT"], "1.000", "seconds");
    }
}

#[test]
fn a_pi_client_killed_with_sigkill_goes_offline_and_resolves_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let s = start(dir.path(), "[nodes]\noffline_after = \"1s\"\n", &[]);
    let state = dir.path().join("pi-state");
    let start_pi = |n: u32| {
        let log = dir.path().join(format!("pi-{n}.log"));
        pi_client(s.addr, &s.password, "pi-real", &state, &log, &["--interval", "500ms"])
    };
    let mut pi = start_pi(1);
    s.log().wait_for("registered cid=pi-real", T);
    s.log().wait_for("reading cid=pi-real ", T);
    pi.kill9();
    let killed = Instant::now();
    let offline = s.log().wait_for("alert firing: node pi-real offline since ", Duration::from_secs(10));
    assert!(killed.elapsed() >= Duration::from_secs(1), "fired before offline_after: {offline}");
    assert!(offline.contains("WARN"), "{offline}");
    let _pi = start_pi(2);
    let back = s.log().wait_for("alert resolved: node pi-real back online after ", T);
    assert!(back.contains("INFO"), "{back}");
    s.log().wait_count("registered cid=pi-real", 2, T);
    assert_eq!(s.log().count("alert firing:"), 1);
    assert_eq!(s.log().count("alert resolved:"), 1);
}
