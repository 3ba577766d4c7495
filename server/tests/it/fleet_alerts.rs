//! Alerts across a fleet (private PostgreSQL, real servers, a real webhook receiver): only the
//! leader acts on alerts, also for nodes registered on another server; `node_offline` for the
//! Pi of a server that died counts from that server's lease expiry; a transition whose delivery
//! was in flight when the leader died is delivered by the next leader under the same id.

use crate::alert_kit::{write_config, Hook};
use crate::common::*;
use cliser_store::EventQuery;
use cliser_testkit::{wait_until, PgCluster};
use std::path::Path;
use std::time::Duration;

const LONG: Duration = Duration::from_secs(40);
const LEADS: &str = "fleet: this server leads (epoch ";

/// A server of the fleet named `name` in `dir`, with alerts to `hook` and nodes offline after 1 s.
fn server(url: &str, dir: &Path, name: &str, hook: &Hook, password: Option<&str>) -> ServerHandle {
    std::fs::create_dir_all(dir).unwrap();
    let config = write_config(
        dir,
        &format!("[nodes]\noffline_after = \"1s\"\n\n[alerts]\nwebhook = \"{}\"\n", hook.url),
    );
    let args = ["--store", url, "--fleet-name", name, "--config", config.to_str().unwrap()];
    match password {
        Some(p) => ServerHandle::start_with(dir, p, &args),
        None => ServerHandle::start(dir, &args),
    }
}

/// The `node_offline` events of `cid` recorded in the store, oldest first: (event, id).
fn offline_events(url: &str, cid: &str) -> Vec<(String, i64)> {
    let mut store = cliser_store::open(url).unwrap();
    let q = EventQuery { cid: Some(cid.into()), kind: Some("node_offline".into()), ..EventQuery::default() };
    let mut events: Vec<(String, i64)> =
        store.alert_events(&q).unwrap().into_iter().map(|e| (e.event, e.id)).collect();
    events.reverse();
    events
}

#[test]
fn the_leader_alerts_on_a_node_of_another_server_and_the_next_leader_delivers_what_was_in_flight() {
    let Some(pg) = PgCluster::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    let url = pg.url();
    // The first post never gets an answer: its sender dies with it in flight.
    let hook = Hook::silent_to_the_first();
    let mut a = server(&url, &d.path().join("a"), "a", &hook, None);
    a.log().wait_for(LEADS, LONG);
    let b = server(&url, &d.path().join("b"), "b", &hook, Some(&a.password));
    b.log().wait_for("fleet: this server is", LONG);

    // A Pi on B comes and goes: B says so, A (the leader) fires node_offline and delivers it.
    let mut pi = LineClient::connect(b.addr);
    pi.login(&b.password, "pi-on-b");
    pi.expect("100", T);
    drop(pi);
    let first = hook.wait_posts(1, LONG).remove(0).json;
    assert_eq!(
        (first["state"].as_str(), first["kind"].as_str()),
        (Some("firing"), Some("node_offline")),
        "{first}"
    );
    assert_eq!(first["cid"], "pi-on-b");
    let id = first["transition_id"].as_str().expect("a transition id").to_owned();
    assert!(!b.log().text().contains("alert firing"), "the follower acts on nothing");
    assert_eq!(
        offline_events(&url, "pi-on-b"),
        [("fired".to_owned(), id.parse::<i64>().unwrap())],
        "recorded once"
    );

    // The leader dies before the receiver answered: B takes over and delivers it again, same id.
    a.proc.kill9();
    b.log().wait_for(LEADS, LONG);
    let again = hook.wait_posts(2, LONG).remove(1).json;
    assert_eq!(again["transition_id"].as_str(), Some(id.as_str()), "{again}");
    assert_eq!(again["state"], "firing");
    assert_eq!(offline_events(&url, "pi-on-b").len(), 1, "recorded once, delivered twice");
    // Taken by the receiver this time: no longer pending.
    let mut store = cliser_store::open(&url).unwrap();
    let pending = EventQuery { pending_delivery: true, ..EventQuery::default() };
    wait_until(LONG, "the transition marked delivered", || {
        store.alert_events(&pending).unwrap().is_empty().then_some(())
    });
}

#[test]
fn node_offline_for_the_pi_of_a_dead_server_counts_from_its_lease_expiry() {
    let Some(pg) = PgCluster::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    let url = pg.url();
    let hook = Hook::answering();
    let a = server(&url, &d.path().join("a"), "a", &hook, None);
    a.log().wait_for(LEADS, LONG);
    let mut b = server(&url, &d.path().join("b"), "b", &hook, Some(&a.password));
    b.log().wait_for("fleet: this server is", LONG);
    let mut pi = LineClient::connect(b.addr);
    pi.login(&b.password, "pi-stranded");
    pi.expect("100", T);
    // B dies without a word: no session end, no news; only its lease runs out.
    b.proc.kill9();
    let killed_ms = crate::alert_kit::now_ms();
    let post = wait_until(LONG, "node_offline for the stranded Pi", || {
        hook.posts().into_iter().map(|p| p.json).find(|j| j["cid"] == "pi-stranded" && j["state"] == "firing")
    });
    assert_eq!(post["kind"], "node_offline");
    let since: i64 = humantime::parse_rfc3339(post["since"].as_str().unwrap())
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let fired = offline_events(&url, "pi-stranded");
    assert_eq!(fired.len(), 1, "{fired:?}");
    // Offline since the lease ran out: after the kill, within a TTL (8 s) of it.
    assert!((killed_ms..=killed_ms + 8_500).contains(&since), "offline since {since}, killed at {killed_ms}");
    drop(pi);
}
