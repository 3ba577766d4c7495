//! The fleet end to end (private PostgreSQL, real parts): three servers, 30 real Pi clients with
//! their server lists in different orders, a real Mosquitto exporter and a webhook receiver; the
//! leader killed with -9, then the next leader. Every reading stored once, every reading exported,
//! every alert transition recorded once and delivered at least once under one id; the survivor's
//! `/api/nodes` lists all 30 online, and its page shows all 30.

use crate::alert_kit::{write_config, Hook};
use crate::common::*;
use cliser_store::{EventQuery, ReadingQuery};
use cliser_testkit::{wait_until, Browser, Mosquitto, PgCluster};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const PIS: usize = 30;
const LONG: Duration = Duration::from_secs(60);
const LEADS: &str = "fleet: this server leads (epoch ";

/// Which of `servers` (still running) leads now, by the newest lead line with the highest epoch.
fn leader(servers: &[&ServerHandle], after_epoch: i64) -> (usize, i64) {
    wait_until(LONG, "a server to lead", || {
        let mut best = None;
        for (i, s) in servers.iter().enumerate() {
            for l in s.log().lines_with(LEADS) {
                let rest = &l[l.find(LEADS)? + LEADS.len()..];
                let epoch: i64 = rest[..rest.find(')')?].parse().ok()?;
                if epoch > after_epoch && best.is_none_or(|(_, e)| epoch > e) {
                    best = Some((i, epoch));
                }
            }
        }
        best
    })
}

/// The client ids with a live lease, and on which server (by name).
fn leases(url: &str) -> BTreeMap<String, String> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.query("SELECT cid, server_name FROM fleet_presence WHERE expires > clock_timestamp()", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

/// (cid, sensor, seq) of every reading stored.
fn stored(url: &str) -> Vec<(String, String, u64)> {
    let mut store = cliser_store::open(url).unwrap();
    let rows = store.readings(&ReadingQuery::default()).unwrap();
    rows.into_iter().map(|r| (r.cid.to_string(), r.sensor.to_string(), r.seq.unwrap())).collect()
}

#[test]
fn three_servers_thirty_pis_two_leaders_killed_nothing_lost_or_doubled_and_every_alert_told() {
    let Some(pg) = PgCluster::start() else { return };
    let Some(broker) = Mosquitto::start() else { return };
    let sub = broker.subscribe("e2e-states", "cliser/+/+/state");
    let hook = Hook::answering();
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    let url = pg.url();
    // Every sensor fires above_max at its first reading (and keeps firing): alerts recorded and
    // delivered while leaders die. No node goes offline for long enough to alert.
    let config = format!(
        "[sensors]\nmax = -100.0\n\n[nodes]\noffline_after = \"1h\"\n\n[alerts]\nwebhook = \"{}\"\n",
        hook.url
    );
    let mqtt = broker.url();
    let mut servers: Vec<ServerHandle> = Vec::new();
    for name in ["server-a", "server-b", "server-c"] {
        let dir = d.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let conf = write_config(&dir, &config);
        let conf = conf.to_str().unwrap();
        let args =
            ["--store", &url, "--fleet-name", name, "--config", conf, "--mqtt", &mqtt, "--keepalive", "1s"];
        servers.push(match servers.first() {
            Some(first) => ServerHandle::start_with(&dir, &first.password, &args),
            None => ServerHandle::start(&dir, &args),
        });
    }
    let password = servers[0].password.clone();
    // Each Pi lists the three servers, starting from a different one.
    let mut pis: Vec<Proc> = (0..PIS)
        .map(|i| {
            let list: Vec<String> = (0..3).map(|k| servers[(i + k) % 3].addr.to_string()).collect();
            let dir = d.path().join(format!("pi-{i:02}"));
            std::fs::create_dir_all(&dir).unwrap();
            let mut cmd = std::process::Command::new(cliser_testkit::bin("cliser-pi-client"));
            cmd.args(["--server", &list.join(","), "--id", &format!("pi-{i:02}"), "--sensor", "sim"])
                .args(["--interval", "1s", "--state-dir"])
                .arg(dir.join("state"))
                .env("CLISER_PASSWORD", &password)
                .env("RUST_LOG", "info");
            Proc::spawn(cmd, &dir.join("client.log"))
        })
        .collect();
    wait_until(LONG, "all 30 Pis registered", || (leases(&url).len() == PIS).then_some(()));

    // The leader dies, then the next one: the last server carries the fleet.
    let mut alive: Vec<usize> = vec![0, 1, 2];
    let mut epoch = 0;
    for _ in 0..2 {
        let handles: Vec<&ServerHandle> = alive.iter().map(|&i| &servers[i]).collect();
        let (lead, e) = leader(&handles, epoch);
        epoch = e;
        let victim = alive.remove(lead);
        servers[victim].proc.kill9();
        let survivors: Vec<String> =
            alive.iter().map(|&i| format!("server-{}", ["a", "b", "c"][i])).collect();
        wait_until(LONG, "every Pi registered on a survivor", || {
            let l = leases(&url);
            (l.len() == PIS && l.values().all(|s| survivors.contains(s))).then_some(())
        });
    }
    let last = &servers[alive[0]];
    leader(&[last], epoch);

    // The survivor lists all 30 online, on its API and on its page.
    let http = last.http.unwrap();
    let nodes = wait_until(LONG, "30 nodes online on the survivor", || {
        let j = crate::common::http::get(http, "/api/nodes").json();
        let online = j["nodes"].as_array()?.iter().filter(|n| n["online"] == true).count();
        (online == PIS).then_some(j)
    });
    assert_eq!(nodes["nodes"].as_array().unwrap().len(), PIS);
    if let Some(mut browser) = Browser::launch() {
        browser.navigate(&format!("http://{http}/"));
        browser.wait_for(
            &format!(r#"document.querySelectorAll("section.node[data-online='true']").length === {PIS}"#),
            LONG,
            "the survivor's page shows all 30 online",
        );
    }

    // Stop the Pis; every reading stored once (seqs 1..=max per client), and exported.
    for p in &mut pis {
        p.signal(15);
    }
    for p in &mut pis {
        assert!(p.wait_exit(Duration::from_secs(20)).success(), "a Pi exits 0 on SIGTERM");
    }
    let rows = stored(&url);
    let mut per_client: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (cid, _, seq) in &rows {
        per_client.entry(cid.clone()).or_default().push(*seq);
    }
    assert_eq!(per_client.len(), PIS);
    for (cid, seqs) in &mut per_client {
        seqs.sort_unstable();
        let max = *seqs.last().unwrap();
        assert_eq!(
            seqs.len() as u64,
            max,
            "{cid}: count = distinct = max seq ({} rows, max {max})",
            seqs.len()
        );
    }
    let db: BTreeSet<(String, String, u64)> = rows.into_iter().collect();
    wait_until(LONG, "every stored reading on the broker", || {
        let published: BTreeSet<(String, String, u64)> = sub
            .messages()
            .iter()
            .filter_map(|m| {
                let parts: Vec<&str> = m.topic.split('/').collect();
                let v: serde_json::Value = serde_json::from_str(&m.payload).ok()?;
                Some((parts[1].to_owned(), parts[2].to_owned(), v["seq"].as_u64()?))
            })
            .collect();
        db.is_subset(&published).then_some(())
    });

    // Every alert transition recorded once, and delivered at least once under its id.
    let mut store = cliser_store::open(&url).unwrap();
    let pending = EventQuery { pending_delivery: true, ..EventQuery::default() };
    wait_until(LONG, "no transition left to deliver", || {
        store.alert_events(&pending).unwrap().is_empty().then_some(())
    });
    let events = store.alert_events(&EventQuery::default()).unwrap();
    let mut seen = BTreeSet::new();
    for e in &events {
        assert!(
            seen.insert((e.kind.clone(), e.cid.clone(), e.sensor.clone(), e.since_ms, e.event.clone())),
            "recorded twice: {e:?}"
        );
    }
    let posted: BTreeSet<String> =
        hook.posts().iter().filter_map(|p| p.json["transition_id"].as_str().map(str::to_owned)).collect();
    let told: Vec<&cliser_store::AlertEvent> =
        events.iter().filter(|e| ["fired", "resolved"].contains(&e.event.as_str())).collect();
    for e in &told {
        assert!(
            posted.contains(&e.id.to_string()),
            "transition {} ({} {}) never delivered",
            e.id,
            e.event,
            e.cid
        );
    }
    let ids: BTreeSet<String> = events.iter().map(|e| e.id.to_string()).collect();
    assert!(posted.is_subset(&ids), "a post under an id the history does not have: {posted:?}");
    assert!(told.len() >= PIS, "every Pi's sensors fired: {} transitions", told.len());
    eprintln!("{} readings, {} alert transitions, {} posts", db.len(), told.len(), hook.posts().len());
}
