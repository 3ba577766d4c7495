//! Duties that run once across a fleet of servers on one PostgreSQL store (a private cluster per
//! test): one server leads (retention and the exporters run there), the console's `F` on every
//! server agrees on which; a killed leader's duties are taken by a survivor within 10 s; a leader
//! paused past its lease finds it lost the lead, deletes nothing and follows; an MQTT exporter
//! whose server is killed mid-run leaves no stored reading unpublished.

use crate::common::*;
use cliser_store::fleet::{FleetSettings, PgFleet, ServerIdentity};
use cliser_store::{Ledger, NewReading};
use cliser_testkit::{wait_until, Message, Mosquitto, PgCluster};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The lease TTL the servers use (`FleetSettings::default`).
const TTL: Duration = Duration::from_secs(8);
/// What the leader logs when it takes the lead.
const LEADS: &str = "fleet: this server leads (epoch ";

/// The epoch in a [`LEADS`] line.
fn epoch_of(line: &str) -> i64 {
    let rest = &line[line.find(LEADS).expect("a leader's line") + LEADS.len()..];
    rest[..rest.find(')').unwrap()].parse().unwrap()
}

/// Waits until one of `servers` says it leads; its index and epoch.
fn leader(servers: &[&ServerHandle], within: Duration) -> (usize, i64) {
    wait_until(within, "a server to lead", || {
        servers
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.log().lines_with(LEADS).last().map(|l| (i, epoch_of(l))))
    })
}

/// `n` readings of `cid` sampled two days ago: older than `--retain-raw 1d`.
fn commit_old(url: &str, cid: &str, n: u64) {
    let mut store = cliser_store::PgStore::connect(url).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let two_days_ago = now - 2 * 86_400_000;
    let group: Vec<NewReading> = (1..=n)
        .map(|seq| NewReading {
            cid: cliser_protocol::ClientId::new(cid).unwrap(),
            sensor: cliser_protocol::SensorId::new("t").unwrap(),
            value: cliser_protocol::Value::Celsius(cliser_protocol::Celsius::new(20.0).unwrap()),
            sampled_ms: two_days_ago + seq as i64,
            received_ms: two_days_ago + seq as i64,
            seq: Some(seq),
            ts_quality: cliser_store::TsQuality::default(),
        })
        .collect();
    assert!(store.commit(&group).unwrap().iter().all(|&stored| stored));
}

fn stored_count(url: &str, cid: &str) -> usize {
    let mut store = cliser_store::open(url).unwrap();
    let q = cliser_store::ReadingQuery {
        cid: Some(cliser_protocol::ClientId::new(cid).unwrap()),
        ..Default::default()
    };
    store.readings(&q).unwrap().len()
}

/// The holder's name and the epoch of the leader lease in the store (asked by an onlooker).
fn lease(url: &str) -> (Option<String>, i64) {
    let me = ServerIdentity::new("onlooker");
    let mut fleet = PgFleet::connect(url, me, FleetSettings::default()).unwrap();
    let leads = fleet.who_leads().unwrap();
    let d = leads.iter().find(|d| d.duty == "leader").expect("the leader lease");
    (d.holder_name.clone(), d.epoch.0)
}

/// The `leader:` line of the console's `F`, without what only the leader itself adds.
fn leader_line(s: &ServerHandle) -> String {
    let f = ask(&mut admin(s), "F");
    let line = f.lines().find(|l| l.starts_with("leader: ")).unwrap_or_else(|| panic!("F: {f}"));
    line.replace(" (this server)", "")
}

#[test]
fn one_server_leads_prunes_alone_and_a_survivor_takes_over_within_10_s_of_a_kill() {
    let Some(pg) = PgCluster::start() else { return };
    let url = pg.url();
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    commit_old(&url, "pi-old-1", 3);
    let (a, b) = fleet_of_two(&url, d.path(), &["--retain-raw", "1d"]);
    let (lead, e1) = leader(&[&a, &b], TTL + T);
    let (mut leading, following) = if lead == 0 { (a, b) } else { (b, a) };

    // Retention runs on the leader only: it prunes at once on taking the lead.
    leading.log().wait_for("retention: deleted 3 raw readings", T);
    assert_eq!(stored_count(&url, "pi-old-1"), 0);
    // The console agrees on both servers.
    let f = ask(&mut admin(&leading), "F");
    let name = if lead == 0 { "server-a" } else { "server-b" };
    assert!(f.contains(&format!("this server: {name}")), "{f}");
    assert!(f.contains(&format!("leader: {name} (this server), epoch {e1}, since ")), "{f}");
    assert!(f.contains("servers: 2") && f.contains("server-a") && f.contains("server-b"), "{f}");
    assert_eq!(leader_line(&following), leader_line(&leading));
    let follower_log = following.log().text();
    assert!(!follower_log.contains(LEADS), "one leader only: {follower_log}");
    assert!(!follower_log.contains("retention: deleted"), "the follower prunes nothing: {follower_log}");
    assert_eq!(lease(&url), (Some(name.to_owned()), e1));

    commit_old(&url, "pi-old-2", 2);
    leading.proc.kill9();
    let killed = Instant::now();
    let line = following.log().wait_for(LEADS, TTL + T);
    let took = killed.elapsed();
    assert!(took < Duration::from_secs(10), "the survivor took the lead {took:?} after the kill");
    let e2 = epoch_of(&line);
    assert!(e2 > e1, "a new epoch: {line}");
    following.log().wait_for("retention: deleted 2 raw readings", T);
    let f = ask(&mut admin(&following), "F");
    assert!(f.contains(&format!("(this server), epoch {e2}")), "{f}");
    // The killed server's row expires with its heartbeat's TTL.
    wait_until(TTL + T, "the killed server gone from F", || {
        ask(&mut admin(&following), "F").contains("servers: 1").then_some(())
    });
}

#[test]
fn a_leader_paused_past_its_lease_loses_the_lead_deletes_nothing_and_follows() {
    let Some(pg) = PgCluster::start() else { return };
    let url = pg.url();
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    let (a, b) = fleet_of_two(&url, d.path(), &["--retain-raw", "1d"]);
    let (lead, e1) = leader(&[&a, &b], TTL + T);
    let (paused, other) = if lead == 0 { (&a, &b) } else { (&b, &a) };

    paused.proc.signal(libc::SIGSTOP);
    // The new leader prunes these at once when it takes over; its round is then over.
    commit_old(&url, "pi-old-mid", 2);
    let line = other.log().wait_for(LEADS, TTL + T);
    let e2 = epoch_of(&line);
    assert!(e2 > e1, "{line}");
    other.log().wait_for("retention: deleted 2 raw readings", T);
    // Stored while the paused server still believes it leads; the new leader prunes again in an
    // hour. The paused one must not delete them.
    commit_old(&url, "pi-old-late", 4);
    paused.proc.signal(libc::SIGCONT);
    let lost = paused.log().wait_for("fleet: this server no longer leads (epoch ", T);
    assert!(lost.contains(&format!("(epoch {e1})")), "{lost}");
    // It follows: the console names the other as leader, and the lease is the other's.
    let other_name = if lead == 0 { "server-b" } else { "server-a" };
    assert!(leader_line(paused).starts_with(&format!("leader: {other_name}, epoch {e2}")));
    assert_eq!(lease(&url), (Some(other_name.to_owned()), e2));
    assert_eq!(stored_count(&url, "pi-old-late"), 4, "nothing deleted under the old epoch");
    assert_eq!(paused.log().count(LEADS), 1, "it did not take the lead again");
    assert_eq!(paused.log().count("retention: deleted"), 0, "nothing was old while it led");
}

/// Starts a simulated Pi on `servers` (a `--server` list), sampling every 100 ms.
fn start_pi(servers: &[&ServerHandle], dir: &Path, id: &str) -> Proc {
    let list: Vec<String> = servers.iter().map(|s| s.addr.to_string()).collect();
    let mut cmd = std::process::Command::new(cliser_testkit::bin("cliser-pi-client"));
    cmd.args(["--server", &list.join(","), "--id", id, "--sensor", "sim", "--interval", "100ms"])
        .arg("--state-dir")
        .arg(dir.join(format!("state-{id}")))
        .env("CLISER_PASSWORD", &servers[0].password);
    Proc::spawn(cmd, &dir.join(format!("{id}.log")))
}

/// (cid, sensor, seq) of every state message (MQTT: at least once, repeats possible).
fn published(msgs: &[Message]) -> (BTreeSet<(String, String, u64)>, usize) {
    let mut all = 0;
    let mut set = BTreeSet::new();
    for m in msgs {
        let parts: Vec<&str> = m.topic.split('/').collect();
        if let ["cliser", cid, sensor, "state"] = parts[..] {
            let v: serde_json::Value = serde_json::from_str(&m.payload).unwrap();
            set.insert((cid.to_owned(), sensor.to_owned(), v["seq"].as_u64().unwrap()));
            all += 1;
        }
    }
    (set, all)
}

/// (cid, sensor, seq) of every reading stored.
fn stored(url: &str) -> BTreeSet<(String, String, u64)> {
    let mut store = cliser_store::open(url).unwrap();
    store
        .readings(&cliser_store::ReadingQuery::default())
        .unwrap()
        .into_iter()
        .map(|r| (r.cid.to_string(), r.sensor.to_string(), r.seq.unwrap()))
        .collect()
}

#[test]
fn the_mqtt_exporter_moves_with_the_lead_and_publishes_every_stored_reading_across_a_kill() {
    let Some(pg) = PgCluster::start() else { return };
    let Some(broker) = Mosquitto::start() else { return };
    let sub = broker.subscribe("t-states", "cliser/+/+/state");
    let availability = broker.subscribe("t-availability", "cliser/+/availability");
    let url = pg.url();
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    let (a, b) = fleet_of_two(&url, d.path(), &["--mqtt", &broker.url()]);
    let (lead, _) = leader(&[&a, &b], TTL + T);
    let (mut leading, following) = if lead == 0 { (a, b) } else { (b, a) };
    leading.log().wait_for("this server leads (epoch 1): following the feed from reading", T);
    // One Pi on each server, the other as its second address.
    let on_leader = start_pi(&[&leading, &following], d.path(), "pi-l");
    let on_follower = start_pi(&[&following, &leading], d.path(), "pi-f");
    wait_until(T * 2, "states of both Pis", || {
        let (set, _) = published(&sub.messages());
        let cids: BTreeSet<&str> = set.iter().map(|(c, _, _)| c.as_str()).collect();
        (cids.len() == 2 && set.len() >= 40).then_some(())
    });
    assert!(!following.log().text().contains("following the feed from"), "the follower exports nothing");
    // The leader publishes the availability of the follower's Pi too (from the fleet's leases).
    wait_until(T * 2, "pi-f online, published by the leader", || {
        availability
            .messages()
            .iter()
            .any(|m| m.topic == "cliser/pi-f/availability" && m.payload == "online")
            .then_some(())
    });
    let x = ask(&mut admin(&following), "X");
    assert!(x.contains("mqtt -> ") && x.contains(": standby (another server of the fleet exports)"), "{x}");

    leading.proc.kill9();
    following.log().wait_for(LEADS, TTL + T);
    let line = following.log().wait_for("following the feed from reading", T);
    assert!(!line.contains("epoch 1)"), "{line}");
    // Both Pis commit on the survivor now (pi-l once its lease on the dead server ran out).
    let before = stored(&url).len();
    wait_until(T * 3, "readings of both Pis stored after the takeover", || {
        let now = stored(&url);
        let moved = following.log().count("registered cid=pi-l") >= 1;
        (now.len() > before + 40 && moved).then_some(())
    });
    let (mut on_leader, mut on_follower) = (on_leader, on_follower);
    on_leader.kill9();
    on_follower.kill9();
    // Nothing is stored any more: the broker ends with exactly what the store holds.
    let db = stored(&url);
    let (set, all) = wait_until(T * 3, "every stored reading published", || {
        let (set, all) = published(&sub.messages());
        db.is_subset(&set).then_some((set, all))
    });
    assert_eq!(set.len(), db.len(), "published (distinct) vs stored");
    assert_eq!(set, db, "nothing published that is not stored");
    // At least once: what the killed leader sent after its last saved cursor is sent again.
    let repeats = all - set.len();
    assert!(repeats < 2_000, "{repeats} repeats");
    let per_key: BTreeMap<(String, String), usize> = set.iter().fold(BTreeMap::new(), |mut m, (c, s, _)| {
        *m.entry((c.clone(), s.clone())).or_insert(0) += 1;
        m
    });
    assert_eq!(per_key.len(), 4, "two sensors per Pi: {per_key:?}");
}

#[test]
fn with_sqlite_the_console_says_one_server_does_every_duty() {
    let (_dir, s) = server(&[]);
    assert_eq!(ask(&mut admin(&s), "F"), "one server (SQLite): every duty runs here");
}

#[test]
fn postgres_stopped_for_20_s_under_three_servers_acks_nothing_and_all_are_back_within_10_s_with_one_leader() {
    let Some(mut pg) = PgCluster::start() else { return };
    let d = tempfile::tempdir().unwrap();
    let _dump = DumpLogsOnPanic(d.path());
    let url = pg.url();
    let fast = ["--keepalive", "300ms"];
    let (a, b) = fleet_of_two(&url, d.path(), &fast);
    let dir_c = d.path().join("c");
    std::fs::create_dir_all(&dir_c).unwrap();
    let c = ServerHandle::start_with(
        &dir_c,
        &a.password,
        &["--store", &url, "--fleet-name", "server-c", "--keepalive", "300ms"],
    );
    let servers = [&a, &b, &c];
    leader(&servers, TTL + T);
    // A Pi on each server, that server only.
    let mut pis: Vec<(Proc, std::path::PathBuf)> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let dir = d.path().join(format!("pi-{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            let extra = ["--interval", "100ms", "--server-timeout", "3s"];
            (
                pi_client(
                    s.addr,
                    &s.password,
                    &format!("pi-{i}"),
                    &dir.join("state"),
                    &dir.join("client.log"),
                    &extra,
                ),
                dir,
            )
        })
        .collect();
    for (i, s) in servers.iter().enumerate() {
        s.log().wait_for(&format!("reading cid=pi-{i} "), T * 2);
    }

    pg.stop();
    let down = Instant::now();
    for s in servers {
        s.log().wait_for("cannot commit", T * 2);
    }
    let logged: Vec<usize> =
        servers.iter().enumerate().map(|(i, s)| s.log().count(&format!("reading cid=pi-{i} "))).collect();
    // The outage itself: a deliberate wait, 20 s of the database down while the Pis sample.
    std::thread::sleep(Duration::from_secs(20).saturating_sub(down.elapsed()));
    for (i, s) in servers.iter().enumerate() {
        assert_eq!(
            s.log().count(&format!("reading cid=pi-{i} ")),
            logged[i],
            "nothing stored or acked while down"
        );
    }
    pg.start_again();
    let up = Instant::now();

    // Every server commits again, and one server leads, agreed by all, within 10 s.
    for s in servers {
        s.log().wait_for("committing again after", T);
    }
    let agreed = wait_until(T, "one leader agreed by every server", || {
        let lines: BTreeSet<String> = servers.iter().map(|s| leader_line(s)).collect();
        (lines.len() == 1 && !lines.iter().any(|l| l.contains("none")))
            .then(|| lines.into_iter().next().unwrap())
    });
    assert!(
        up.elapsed() < Duration::from_secs(10),
        "back to normal {:?} after PostgreSQL returned",
        up.elapsed()
    );
    // No duty twice: every lead taken since the start has an epoch of its own.
    let epochs: Vec<i64> =
        servers.iter().flat_map(|s| s.log().lines_with(LEADS)).map(|l| epoch_of(&l)).collect();
    let distinct: BTreeSet<i64> = epochs.iter().copied().collect();
    assert_eq!(distinct.len(), epochs.len(), "an epoch led twice: {epochs:?} ({agreed})");

    // Every reading once: what was sampled during the outage was stored after it.
    for (i, (pi, dir)) in pis.iter_mut().enumerate() {
        let s = servers[i];
        let cid = format!("pi-{i}");
        let target = sampled_seqs(&pi.log).into_iter().max().unwrap_or(0);
        wait_until(T * 3, "the store to catch up with the Pi", || {
            (s.stored_seqs(&cid).keys().max().copied().unwrap_or(0) >= target).then_some(())
        });
        pi.signal(15);
        assert!(pi.wait_exit(T).success(), "the Pi exits 0 on SIGTERM");
        let what = format!("{cid} across the outage");
        assert_exactly_once(
            &what,
            &sampled_seqs(&pi.log),
            &ledger_seqs(s, &cid),
            &pending_seqs(&dir.join("state")),
        );
    }
}
