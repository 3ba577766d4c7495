//! The MQTT exporter across a restart of the server, against a real Mosquitto: Home Assistant must
//! not see a Pi that reconnects go unavailable (no `offline` on its availability topic, nor any
//! message when the broker already holds its state), a Pi that really stays away goes `offline`
//! once the grace after the start has passed, and the exporter is connected at once.

use crate::common;

use cliser_testkit::{wait_until, Message, Mosquitto, Subscriber};
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

fn start_pi(s: &ServerHandle, dir: &Path, id: &str, run: u32) -> Proc {
    let state = dir.join(format!("state-{id}"));
    let log = dir.join(format!("{id}-{run}.log"));
    pi_client(s.addr, &s.password, id, &state, &log, &["--interval", "200ms"])
}

/// The payloads published on `cid`'s availability topic among `msgs`.
fn availability(msgs: &[Message], cid: &str) -> Vec<String> {
    let topic = format!("cliser/{cid}/availability");
    msgs.iter().filter(|m| m.topic == topic).map(|m| m.payload.clone()).collect()
}

/// The highest seq of `cid`'s state messages among `msgs`.
fn last_state_seq(msgs: &[Message], cid: &str) -> Option<u64> {
    let prefix = format!("cliser/{cid}/");
    msgs.iter()
        .filter(|m| m.topic.starts_with(&prefix) && m.topic.ends_with("/state"))
        .filter_map(|m| serde_json::from_str::<serde_json::Value>(&m.payload).ok()?["seq"].as_u64())
        .max()
}

/// Waits until `sub` got a state of `cid` with a seq above `after`: the exporter published it, so
/// everything it published before (in order, on one connection) has arrived too.
fn wait_state_after(sub: &Subscriber, cid: &str, after: u64, what: &str) {
    wait_until(T * 3, what, || (last_state_seq(&sub.messages(), cid)? > after).then_some(()));
}

fn wait_online(sub: &Subscriber, cids: &[&str]) {
    wait_until(T * 3, "every Pi online and its states flowing", || {
        let m = sub.messages();
        cids.iter()
            .all(|c| {
                availability(&m, c).last().map(String::as_str) == Some("online")
                    && last_state_seq(&m, c).is_some()
            })
            .then_some(())
    });
}

/// Kills the server, then `away` (so the broker still holds it `online`), and starts the server
/// again; returns when the new one is ready.
fn restart_without(s: &mut ServerHandle, away: &mut Proc) {
    s.proc.kill9();
    away.kill9();
    s.restart();
}

#[test]
fn a_pi_that_reconnects_after_a_server_restart_is_never_published_offline() {
    let Some(broker) = Mosquitto::start() else { return };
    let sub = broker.subscribe("t-restart", "cliser/#");
    let (dir, mut s) = server(&["--mqtt", &broker.url()]);
    let _a = start_pi(&s, dir.path(), "pi-a", 1);
    let mut b = start_pi(&s, dir.path(), "pi-b", 1);
    wait_online(&sub, &["pi-a", "pi-b"]);
    let before = sub.messages().len();
    let last_a = last_state_seq(&sub.messages(), "pi-a").unwrap();

    // pi-a reconnects by itself within seconds; pi-b is gone, but within the grace (30 s by default).
    restart_without(&mut s, &mut b);
    wait_state_after(&sub, "pi-a", last_a, "a state of pi-a published after the restart");
    let after = sub.messages()[before..].to_vec();
    let a = availability(&after, "pi-a");
    assert!(!a.contains(&"offline".to_owned()), "pi-a published offline across the restart: {a:?}");
    assert!(a.is_empty(), "the broker held pi-a online: nothing to publish, yet {a:?}");
    let b = availability(&after, "pi-b");
    assert!(b.is_empty(), "pi-b is within the grace after the start: nothing to publish, yet {b:?}");
    assert_eq!(
        availability(&sub.messages(), "pi-a").last().map(String::as_str),
        Some("online"),
        "pi-a as the broker holds it"
    );
}

#[test]
fn a_pi_that_stays_away_after_a_server_restart_goes_offline_once_the_grace_has_passed() {
    const GRACE: Duration = Duration::from_secs(6);
    let Some(broker) = Mosquitto::start() else { return };
    let sub = broker.subscribe("t-grace", "cliser/#");
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("server.toml");
    std::fs::write(&conf, format!("[mqtt]\noffline_after_start = \"{}s\"\n", GRACE.as_secs())).unwrap();
    let mut s =
        ServerHandle::start(dir.path(), &["--config", conf.to_str().unwrap(), "--mqtt", &broker.url()]);
    let _a = start_pi(&s, dir.path(), "pi-a", 1);
    let mut b = start_pi(&s, dir.path(), "pi-b", 1);
    let mut c = start_pi(&s, dir.path(), "pi-c", 1);
    wait_online(&sub, &["pi-a", "pi-b", "pi-c"]);
    // pi-c goes away while the server runs: the broker holds it offline.
    c.kill9();
    wait_until(T, "pi-c offline", || {
        (availability(&sub.messages(), "pi-c").last().map(String::as_str) == Some("offline")).then_some(())
    });
    let before = sub.messages().len();

    let restarted = Instant::now();
    restart_without(&mut s, &mut b);
    let (offline_at, seen) = wait_until(GRACE + T * 2, "pi-b offline after the grace", || {
        let m = sub.messages();
        availability(&m[before..], "pi-b").contains(&"offline".to_owned()).then(|| (restarted.elapsed(), m))
    });
    assert!(
        offline_at >= GRACE,
        "pi-b was published offline {offline_at:?} after the restart began, within the {GRACE:?} grace"
    );
    // Anything published for pi-c with pi-b's offline would have arrived before this state of pi-a.
    let last_a = last_state_seq(&seen, "pi-a").unwrap_or(0);
    wait_state_after(&sub, "pi-a", last_a, "a state of pi-a after pi-b's offline");
    let after = sub.messages()[before..].to_vec();
    assert_eq!(availability(&after, "pi-b"), ["offline"], "once");
    let a = availability(&after, "pi-a");
    assert!(!a.contains(&"offline".to_owned()), "pi-a published offline across the restart: {a:?}");
    let c = availability(&after, "pi-c");
    assert!(c.is_empty(), "the broker held pi-c offline already, yet {c:?}");
    println!("pi-b published offline {offline_at:?} after the restart began (grace {GRACE:?})");
}

#[test]
fn after_a_restart_the_exporter_is_connected_within_seconds_of_the_servers_start() {
    let Some(broker) = Mosquitto::start() else { return };
    let sub = broker.subscribe("t-connect", "cliser/status");
    let (dir, mut s) = server(&["--mqtt", &broker.url()]);
    let _a = start_pi(&s, dir.path(), "pi-a", 1);
    let connected = format!("export mqtt -> {}: connected", broker.url());
    s.log().wait_for(&connected, T * 3);
    let births = sub.messages().iter().filter(|m| m.payload == "online").count();

    s.restart();
    let ready = Instant::now();
    // The broker sees the new connection: its birth message.
    wait_until(T * 2, "the restarted server's birth message", || {
        (sub.messages().iter().filter(|m| m.payload == "online").count() > births).then_some(())
    });
    let birth = ready.elapsed();
    // The server says so: its log line and the exporters' status (console, API, /metrics).
    wait_until(T * 2, "the restarted server's exporter connected", || {
        (s.log().count(&connected) >= 2).then_some(())
    });
    let logged = ready.elapsed();
    let api = http::get(s.http.unwrap(), "/api/exporters").json();
    println!("after the restart's ready file: birth message at the broker {birth:?}, `connected` logged {logged:?}");
    assert_eq!(api["exporters"][0]["connected"], true, "{api}");
    // Measured on an idle 2-core machine: a few ms either way; before the change `connected` came with
    // the first reading exported, one keep-alive (10 s) after the Pi's return. 3 s leaves room for a
    // loaded machine and stays well below that.
    assert!(birth < Duration::from_secs(3), "the birth message came {birth:?} after the ready file");
    assert!(logged < Duration::from_secs(3), "`connected` came {logged:?} after the ready file");
}

#[test]
fn a_stale_last_will_arriving_after_the_restart_does_not_leave_the_server_offline() {
    let Some(broker) = Mosquitto::start() else { return };
    let sub = broker.subscribe("t-will", "cliser/status");
    let (dir, s) = server(&["--mqtt", &broker.url()]);
    s.log().wait_for(&format!("export mqtt -> {}: connected", broker.url()), T);
    // The previous server's connection, found dead by the broker only now (a host that went away
    // without closing it is noticed after 1.5 keep-alives, 45 s): its will says offline, retained.
    let mut cmd = std::process::Command::new("mosquitto_sub");
    cmd.args(["-h", "127.0.0.1", "-p", &broker.addr().port().to_string(), "-i", "old-server"])
        .args(["-t", "cliser/status", "-F", "%r %p"])
        .args([
            "--will-topic",
            "cliser/status",
            "--will-payload",
            "offline",
            "--will-retain",
            "--will-qos",
            "1",
        ]);
    let log = dir.path().join("old-server.log");
    let mut old = Proc::spawn(cmd, &log);
    // Subscribed (so connected, its will registered): it got the retained status.
    wait_until(T, "the old connection up", || {
        std::fs::read_to_string(&log).ok()?.contains("1 online").then_some(())
    });
    old.kill9();
    wait_until(T, "the stale will, then online again", || {
        let m = sub.messages();
        let will = m.iter().rposition(|m| m.payload == "offline")?;
        m[will..].iter().any(|m| m.payload == "online").then_some(())
    });
    // What Home Assistant reads on (re)subscribing: the retained value.
    let late = broker.subscribe("t-will-late", "cliser/status");
    let held = wait_until(T, "the retained status", || late.messages().first().cloned());
    assert_eq!((held.retained, held.payload.as_str()), (true, "online"));
}
