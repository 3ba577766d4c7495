//! Limit alerts against the real server, a scripted Pi and a real alert command: a noisy value at
//! `max` fires once and resolves once, and a restart neither repeats a firing alert nor forgets it.

use crate::alert_kit;
use crate::common;
use alert_kit::*;
use common::*;

const FREEZER: &str = "28-000000000001";

fn since_text(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
    humantime::format_rfc3339_millis(t).to_string()
}

#[test]
fn a_noisy_value_at_max_fires_once_after_for_and_resolves_once_below_the_deadband() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let rec = Recorder::new(dir.path());
    let config = format!(
        "[sensors.\"{FREEZER}\"]\nname = \"freezer\"\nmax = -15.0\nfor = \"2m\"\ndeadband = 0.5\n\
         [alerts]\ncommand = \"{}\"\n",
        rec.script.display()
    );
    let s = start(dir.path(), &config, &[]);
    let mut pi = Pi::login(&s, "garage");
    // Sample times from now on, 10 s apart: the engine judges `for` on them, so five simulated
    // minutes pass in a few keep-alives (and the wall clock never reaches them during the test).
    let t0 = now_ms();
    let at = |i: usize| t0 + i as i64 * 10_000;
    let noise = [0.3, -0.2, 0.4, -0.4, 0.1, -0.1, 0.2, -0.3];
    let mut series: Vec<(f64, i64)> = (0..30).map(|i| (-15.0 + noise[i % noise.len()], at(i))).collect();
    // Back inside, but by less than the deadband, for a minute; then by more.
    series.extend((30..36).map(|i| (-15.3, at(i))));
    series.extend((36..42).map(|i| (-16.0, at(i))));
    for chunk in series.chunks(3) {
        pi.answer(&chunk.iter().map(|&(v, t)| R(FREEZER, Some(v), Some(t))).collect::<Vec<_>>());
    }
    pi.settle();
    assert_eq!(console_alerts(&s), "No alerts firing");

    let firing = s.log().lines_with("alert firing:");
    let resolved = s.log().lines_with("alert resolved:");
    assert_eq!(firing.len(), 1, "{firing:#?}");
    assert_eq!(resolved.len(), 1, "{resolved:#?}");
    // The reading 2 minutes after the first one above max (-15 + 0.1) fired it.
    assert!(
        firing[0].ends_with("alert firing: freezer (garage/28-000000000001) above max -15.0: -14.900 for 2m"),
        "{}",
        firing[0]
    );
    assert!(firing[0].contains("WARN"), "{}", firing[0]);
    assert!(
        resolved[0].ends_with(
            "alert resolved: freezer (garage/28-000000000001) back below max -15.0: -16.000 (was above max for 6m)"
        ),
        "{}",
        resolved[0]
    );
    let log = s.log().text();
    let pos = |needle: &str| log.find(needle).unwrap_or_else(|| panic!("{needle:?} not in the log"));
    assert!(pos("alert firing:") < pos("alert resolved:"));

    let all = rec.wait_count(2, T);
    assert_eq!(all.len(), 2, "{all:#?}");
    let (f, r) = (with(&all, "STATE", "firing"), with(&all, "STATE", "resolved"));
    assert_eq!((f.len(), r.len()), (1, 1), "{all:#?}");
    for (k, v) in [
        ("KIND", "above_max"),
        ("CID", "garage"),
        ("SENSOR", FREEZER),
        ("NAME", "freezer"),
        ("VALUE", "-14.900"),
        ("LIMIT", "-15.000"),
        ("SINCE", &since_text(t0)),
        ("MESSAGE", "freezer (garage/28-000000000001) above max -15.0: -14.900 for 2m"),
    ] {
        assert_eq!(f[0].get(&format!("CLISER_ALERT_{k}")).map(String::as_str), Some(v), "firing {k}");
    }
    assert_eq!(r[0]["CLISER_ALERT_VALUE"], "-16.000");
    assert_eq!(r[0]["CLISER_ALERT_SINCE"], since_text(t0), "since the condition started");
}

#[test]
fn a_restart_neither_fires_again_nor_forgets_and_what_cleared_meanwhile_resolves_once() {
    let dir = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(dir.path());
    let rec = Recorder::new(dir.path());
    let config = format!(
        "[sensors.\"28-a\"]\nname = \"freezer\"\nmax = -15.0\n\
         [sensors.\"28-b\"]\nname = \"fridge\"\nmax = 5.0\n\
         [alerts]\ncommand = \"{}\"\n",
        rec.script.display()
    );
    let mut s = start(dir.path(), &config, &[]);
    let mut pi = Pi::login(&s, "garage");
    pi.answer(&[R("28-a", Some(-12.0), None), R("28-b", Some(8.0), None)]);
    s.log().wait_count("alert firing:", 2, T);
    // The commands run on their own thread after the log line: let them finish before the kill
    // (a command still running when the server is killed is lost, as documented).
    rec.wait_count(2, T);
    // Kept in the store before it was logged: a kill now loses nothing.
    s.restart();
    s.log().wait_for("alerts: 2 firing since before this start (not sent again)", T);
    let listed = console_alerts(&s);
    assert!(listed.contains("freezer (garage/28-a) above max -15.0: -12.000"), "{listed}");
    assert!(listed.contains("fridge (garage/28-b) above max 5.0: 8.000"), "{listed}");
    let (status, body) = http_get(&s, "/api/alerts");
    assert_eq!(status, 200, "{body}");
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(api["alerts"].as_array().map(Vec::len), Some(2), "{body}");

    // The Pi comes back: the freezer is still too warm, the fridge cooled down while the server
    // was down.
    let down = now_ms();
    let mut pi2 = Pi::login(&s, "garage");
    assert_eq!(pi2.ack, Some(pi.seq), "the 140 line acks what was stored before the kill");
    for i in 0..5 {
        pi2.answer(&[R("28-a", Some(-12.5), Some(down + i)), R("28-b", Some(3.0), Some(down + i))]);
    }
    pi2.settle();
    let listed = console_alerts(&s);
    assert!(listed.contains("freezer (garage/28-a)"), "{listed}");
    assert!(!listed.contains("fridge"), "{listed}");

    let firing = s.log().lines_with("alert firing:");
    assert_eq!(firing.len(), 2, "no second firing: {firing:#?}");
    let resolved = s.log().lines_with("alert resolved:");
    assert_eq!(resolved.len(), 1, "{resolved:#?}");
    assert!(
        resolved[0].contains("alert resolved: fridge (garage/28-b) back below max 5.0: 3.000"),
        "{}",
        resolved[0]
    );
    let all = rec.wait_count(3, T);
    assert_eq!(all.len(), 3, "{all:#?}");
    let r = with(&all, "STATE", "resolved");
    assert_eq!((r.len(), r[0]["CLISER_ALERT_SENSOR"].as_str()), (1, "28-b"), "{all:#?}");
    assert_eq!(with(&all, "STATE", "firing").len(), 2, "{all:#?}");
}
