//! The fleet's leases on a real private PostgreSQL: presence of clients, duties with fencing
//! epochs, fenced writes racing takeovers, a lease connection killed under its server. Leases
//! outlast the test and are run out on purpose ([`run_out`]: as if their server had paused), so
//! a loaded machine's slowness between two steps never costs a lease the test means to hold;
//! waits for conditions with deadlines; no sleep stands for a condition.

use cliser_store::fleet::{Claim, Epoch, FleetError, FleetSettings, PgFleet, ServerIdentity};
use cliser_testkit::{wait_until, PgCluster, PgOptions};
use std::sync::mpsc;
use std::time::Duration;

/// Long enough for anything a condition waits for on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(30);

fn cluster() -> Option<PgCluster> {
    PgCluster::start_with(PgOptions { fsync: false, ..PgOptions::default() })
}

/// Leases that outlast the test.
fn long() -> FleetSettings {
    FleetSettings { ttl: Duration::from_secs(60), ..FleetSettings::default() }
}

fn server(pg: &PgCluster, name: &str, settings: FleetSettings) -> PgFleet {
    PgFleet::connect(&pg.url(), ServerIdentity::new(name), settings).unwrap()
}

fn admin(pg: &PgCluster) -> postgres::Client {
    postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap()
}

/// Ends the lease connection of the server named `name`, as an operator or a failover would,
/// and waits until it is gone.
fn kill_connection_of(pg: &PgCluster, name: &str) {
    let app = format!("cliser fleet {name}");
    let killed: Vec<bool> = admin(pg)
        .query(
            "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE application_name = $1",
            &[&app],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(killed, vec![true], "one lease connection of {name}");
}

/// A table the tests' duties write to: which epoch wrote each row, in sequence order.
fn make_log(pg: &PgCluster) {
    admin(pg)
        .batch_execute("CREATE TABLE duty_log (id BIGSERIAL PRIMARY KEY, epoch BIGINT NOT NULL)")
        .unwrap();
}

fn log_write(tx: &mut postgres::Transaction<'_>, epoch: Epoch) -> Result<i64, postgres::Error> {
    Ok(tx.query_one("INSERT INTO duty_log (epoch) VALUES ($1) RETURNING id", &[&epoch.0])?.get(0))
}

/// The ids written under `epoch`, in order.
fn logged(pg: &PgCluster, epoch: Epoch) -> Vec<i64> {
    admin(pg)
        .query("SELECT id FROM duty_log WHERE epoch = $1 ORDER BY id", &[&epoch.0])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Ends the lease in `table` whose `key` column is `value` now, as its holder's TTL running out
/// after it stopped renewing would.
fn run_out(pg: &PgCluster, table: &str, key: &str, value: &str) {
    let n = admin(pg)
        .execute(&format!("UPDATE {table} SET expires = clock_timestamp() WHERE {key} = $1"), &[&value])
        .unwrap();
    assert_eq!(n, 1, "one lease {key} = {value} in {table}");
}

#[test]
fn a_client_is_held_by_one_server_until_its_lease_expires() {
    let Some(pg) = cluster() else { return };
    let mut a = server(&pg, "a:4000", long());
    let mut b = server(&pg, "b:4000", long());
    assert_eq!(a.claim("pi-1").unwrap(), Claim::Claimed);
    let since = a.presence().unwrap()[0].since_ms;
    assert_eq!(a.claim("pi-1").unwrap(), Claim::Claimed, "claiming again what it holds");
    assert_eq!(a.presence().unwrap()[0].since_ms, since, "held since the first claim");
    match b.claim("pi-1").unwrap() {
        Claim::HeldBy { server_name, since_ms, expires_in } => {
            assert_eq!((server_name.as_str(), since_ms), ("a:4000", since));
            assert!(expires_in <= long().ttl, "{expires_in:?} left of a {:?} lease", long().ttl);
        }
        other => panic!("{other:?}"),
    }
    let listed = b.presence().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].cid.as_str(), listed[0].server_name.as_str()), ("pi-1", "a:4000"));
    assert_eq!(listed[0].server_id, a.identity().id());
    assert!(listed[0].live && listed[0].expires_ms > listed[0].since_ms);

    // A stops renewing: B gets the client once the lease expired.
    run_out(&pg, "fleet_presence", "cid", "pi-1");
    assert_eq!(b.claim("pi-1").unwrap(), Claim::Claimed);
    let listed = a.presence().unwrap();
    assert_eq!((listed[0].server_name.as_str(), listed[0].live), ("b:4000", true));
    assert!(listed[0].since_ms > since, "a new holder, a new since");
    assert_eq!(a.renew_all().unwrap(), vec!["pi-1".to_owned()], "a learns it lost it");
    assert_eq!(a.held().count(), 0);
    assert!(matches!(a.claim("pi-1").unwrap(), Claim::HeldBy { server_name, .. } if server_name == "b:4000"));
}

#[test]
fn renewing_extends_the_leases_held_and_reports_the_lost_ones() {
    let Some(pg) = cluster() else { return };
    let mut a = server(&pg, "a", long());
    let mut b = server(&pg, "b", long());
    for cid in ["p1", "p2", "p3"] {
        assert_eq!(a.claim(cid).unwrap(), Claim::Claimed);
    }
    let before: Vec<i64> = a.presence().unwrap().iter().map(|l| l.expires_ms).collect();
    let valid = a.presence_valid_until().expect("leases held");
    // Claimed with 60 s to live: once PostgreSQL's clock is past the last claim, a renewal
    // extends every lease.
    let last_claim = before.iter().max().unwrap() - 60_000;
    let mut c = admin(&pg);
    wait_until(DEADLINE, "PostgreSQL's clock to move past the claims", || {
        let now: i64 =
            c.query_one("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint", &[]).unwrap().get(0);
        (now > last_claim).then_some(())
    });
    assert_eq!(a.renew_all().unwrap(), Vec::<String>::new());
    let after: Vec<i64> = a.presence().unwrap().iter().map(|l| l.expires_ms).collect();
    assert!(after.iter().zip(&before).all(|(x, y)| x > y), "{before:?} -> {after:?}");
    assert!(a.presence_valid_until().unwrap() > valid);

    // p2's lease runs out (as if A had paused) and B takes it: A's next renewal says so, once.
    admin(&pg)
        .execute("UPDATE fleet_presence SET expires = clock_timestamp() WHERE cid = 'p2'", &[])
        .unwrap();
    assert_eq!(b.claim("p2").unwrap(), Claim::Claimed);
    assert_eq!(a.renew_all().unwrap(), vec!["p2".to_owned()]);
    assert_eq!(a.renew_all().unwrap(), Vec::<String>::new());
    assert_eq!(a.held().collect::<Vec<_>>(), vec!["p1", "p3"]);
    assert!(matches!(b.claim("p1").unwrap(), Claim::HeldBy { .. }));

    // An expired lease nobody took stays its server's: renewing brings it back.
    admin(&pg)
        .execute("UPDATE fleet_presence SET expires = clock_timestamp() WHERE cid = 'p3'", &[])
        .unwrap();
    assert!(!a.presence().unwrap().iter().find(|l| l.cid == "p3").unwrap().live);
    assert_eq!(a.renew_all().unwrap(), Vec::<String>::new());
    assert!(a.presence().unwrap().iter().find(|l| l.cid == "p3").unwrap().live);

    // Released: free for another server at once.
    a.release("p1").unwrap();
    assert_eq!(b.claim("p1").unwrap(), Claim::Claimed);
    a.release_all().unwrap();
    assert_eq!(b.claim("p3").unwrap(), Claim::Claimed);
    assert_eq!(a.presence_valid_until(), None);
}

#[test]
fn a_restarted_server_does_not_inherit_its_leases() {
    let Some(pg) = cluster() else { return };
    let mut before = server(&pg, "a", long());
    assert_eq!(before.claim("pi").unwrap(), Claim::Claimed);
    let e = before.acquire_duty("alerts").unwrap().expect("free");
    let mut after = server(&pg, "a", long());
    assert_ne!(after.identity().id(), before.identity().id(), "a new id per start");
    assert!(matches!(after.claim("pi").unwrap(), Claim::HeldBy { server_name, .. } if server_name == "a"));
    assert_eq!(after.acquire_duty("alerts").unwrap(), None);
    before.release_all().unwrap();
    before.release_duty("alerts", e).unwrap();
    assert_eq!(after.claim("pi").unwrap(), Claim::Claimed);
    assert_eq!(after.acquire_duty("alerts").unwrap(), Some(Epoch(e.0 + 1)));
}

#[test]
fn a_duty_has_one_holder_and_every_new_holder_a_greater_epoch() {
    let Some(pg) = cluster() else { return };
    let mut a = server(&pg, "a", long());
    let mut b = server(&pg, "b", long());
    let e1 = a.acquire_duty("alerts").unwrap().expect("free");
    assert_eq!(e1, Epoch(1));
    assert_eq!(b.acquire_duty("alerts").unwrap(), None, "one holder");
    assert_eq!(a.acquire_duty("alerts").unwrap(), Some(e1), "still a's, same epoch");
    assert!(a.renew_duty("alerts", e1).unwrap());
    let leads = b.who_leads().unwrap();
    assert_eq!(leads.len(), 1);
    assert_eq!(
        (leads[0].duty.as_str(), leads[0].holder_name.as_deref(), leads[0].epoch, leads[0].live),
        ("alerts", Some("a"), e1, true)
    );
    assert_eq!(leads[0].holder_id.as_deref(), Some(a.identity().id()));

    // A stops renewing: B takes over with the next epoch; A's renewal then fails.
    run_out(&pg, "fleet_duties", "name", "alerts");
    let e2 = b.acquire_duty("alerts").unwrap().expect("expired: b takes it");
    assert_eq!(e2, Epoch(2));
    assert!(!a.renew_duty("alerts", e1).unwrap(), "lost");
    assert_eq!(a.acquire_duty("alerts").unwrap(), None);
    assert_eq!(a.who_leads().unwrap()[0].holder_name.as_deref(), Some("b"));

    // Released: free at once, and the epoch still grows.
    a.release_duty("alerts", e1).unwrap(); // not a's: changes nothing
    assert_eq!(a.acquire_duty("alerts").unwrap(), None);
    b.release_duty("alerts", e2).unwrap();
    let leads = a.who_leads().unwrap();
    assert_eq!((leads[0].holder_name.as_deref(), leads[0].epoch, leads[0].live), (None, e2, false));
    assert_eq!(a.acquire_duty("alerts").unwrap(), Some(Epoch(3)));
    assert_eq!(b.acquire_duty("export").unwrap(), Some(Epoch(1)), "duties are independent");
}

#[test]
fn a_fenced_write_after_a_takeover_is_refused_and_writes_nothing() {
    let Some(pg) = cluster() else { return };
    make_log(&pg);
    let mut a = server(&pg, "a", long());
    let mut b = server(&pg, "b", long());
    let e1 = a.acquire_duty("retention").unwrap().unwrap();
    let fence = a.fence("retention", e1);
    assert_eq!((fence.duty(), fence.epoch()), ("retention", e1));
    let id = a.fenced(&fence, |tx| log_write(tx, e1)).unwrap();
    assert_eq!(logged(&pg, e1), vec![id]);

    run_out(&pg, "fleet_duties", "name", "retention");
    let e2 = b.acquire_duty("retention").unwrap().expect("expired: b takes it");
    let refused = a.fenced(&fence, |tx| log_write(tx, e1)).expect_err("a lost the duty");
    assert!(matches!(&refused, FleetError::Fenced { duty, epoch } if duty == "retention" && *epoch == e1));
    assert!(!refused.is_transient());
    assert_eq!(logged(&pg, e1), vec![id], "nothing written under the old epoch");

    // The new holder writes; a fence checked on another connection agrees.
    b.fenced(&b.fence("retention", e2), |tx| log_write(tx, e2)).unwrap();
    assert_eq!(logged(&pg, e2).len(), 1);
    let mut other = admin(&pg);
    let mut tx = other.transaction().unwrap();
    assert!(!fence.check(&mut tx).unwrap());
    assert!(b.fence("retention", e2).check(&mut tx).unwrap());
}

#[test]
fn a_takeover_waits_for_a_fenced_write_in_flight() {
    let Some(pg) = cluster() else { return };
    make_log(&pg);
    // Limits long enough for the test's own pauses inside the write.
    let patient =
        FleetSettings { statement_timeout: DEADLINE, idle_in_transaction_timeout: DEADLINE, ..long() };
    let mut a = server(&pg, "a", patient);
    let mut b = server(&pg, "b", patient);
    let e1 = a.acquire_duty("export").unwrap().unwrap();
    let fence = a.fence("export", e1);
    let (locked_tx, locked) = mpsc::channel();
    let (go_tx, go) = mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let r = a.fenced(&fence, |tx| {
            let first = log_write(tx, e1)?;
            // The lease runs out while the write is in flight: ended from inside the write, as
            // the fence's row lock makes any other session's update wait for it.
            tx.execute("UPDATE fleet_duties SET expires = clock_timestamp() WHERE name = 'export'", &[])?;
            locked_tx.send(()).unwrap();
            go.recv().unwrap();
            Ok((first, log_write(tx, e1)?))
        });
        (a, fence, r)
    });
    locked.recv().unwrap();
    let taker = std::thread::spawn(move || (b.acquire_duty("export"), b));
    let mut c = admin(&pg);
    wait_until(DEADLINE, "b's takeover to wait for a's row lock", || {
        let waiting: i64 = c
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = 'cliser fleet b' AND wait_event_type = 'Lock'",
                &[],
            )
            .unwrap()
            .get(0);
        (waiting == 1).then_some(())
    });
    assert!(logged(&pg, e1).is_empty(), "not committed yet");
    go_tx.send(()).unwrap();
    let (mut a, fence, written) = writer.join().unwrap();
    let (first, second) = written.expect("the write went first: committed");
    let (taken, _b) = taker.join().unwrap();
    assert_eq!(taken.unwrap(), Some(Epoch(e1.0 + 1)), "then the takeover");
    assert_eq!(logged(&pg, e1), vec![first, second]);
    assert!(matches!(a.fenced(&fence, |tx| log_write(tx, e1)), Err(FleetError::Fenced { .. })));
    assert_eq!(logged(&pg, e1).len(), 2);
}

#[test]
fn fenced_writes_racing_a_takeover_all_precede_it() {
    let Some(pg) = cluster() else { return };
    make_log(&pg);
    let mut a = server(&pg, "a", long());
    let mut b = server(&pg, "b", long());
    let e1 = a.acquire_duty("alerts").unwrap().unwrap();
    // A writes as fast as it can without renewing, until refused; its lease runs out while it
    // writes, B takes over at once and writes one row under its epoch.
    let writer = std::thread::spawn(move || {
        let fence = a.fence("alerts", e1);
        let mut ok = 0;
        loop {
            match a.fenced(&fence, |tx| log_write(tx, e1)) {
                Ok(_) => ok += 1,
                Err(FleetError::Fenced { .. }) => return ok,
                Err(e) => panic!("{e}"),
            }
        }
    });
    wait_until(DEADLINE, "a's first writes", || (logged(&pg, e1).len() >= 3).then_some(()));
    run_out(&pg, "fleet_duties", "name", "alerts");
    let e2 = b.acquire_duty("alerts").unwrap().expect("expired: b takes it");
    let marker = b.fenced(&b.fence("alerts", e2), |tx| log_write(tx, e2)).unwrap();
    let ok = writer.join().unwrap();
    let old = logged(&pg, e1);
    assert!(ok > 0);
    assert_eq!(old.len(), ok, "every refused write wrote nothing");
    assert!(
        old.iter().all(|id| *id < marker),
        "a write of epoch {e1} came after the takeover to {e2}: {:?} vs {marker}",
        old.last()
    );
}

#[test]
fn a_killed_lease_connection_gives_a_transient_error_and_the_leases_are_kept() {
    let Some(pg) = cluster() else { return };
    make_log(&pg);
    let mut a = server(&pg, "a", long());
    let mut b = server(&pg, "b", long());
    assert_eq!(a.claim("pi").unwrap(), Claim::Claimed);
    let e = a.acquire_duty("alerts").unwrap().unwrap();

    kill_connection_of(&pg, "a");
    let err = a.renew_all().expect_err("the connection is gone");
    assert!(err.is_transient(), "{err}");
    assert!(!err.to_string().contains(&pg.url()), "password elided: {err}");
    assert_eq!(a.renew_all().unwrap(), Vec::<String>::new(), "reconnected, still a's");
    assert!(matches!(b.claim("pi").unwrap(), Claim::HeldBy { .. }));

    kill_connection_of(&pg, "a");
    assert!(a.renew_duty("alerts", e).expect_err("gone").is_transient());
    assert!(a.renew_duty("alerts", e).unwrap());

    kill_connection_of(&pg, "a");
    let fence = a.fence("alerts", e);
    assert!(a.fenced(&fence, |tx| log_write(tx, e)).expect_err("gone").is_transient());
    assert!(logged(&pg, e).is_empty());
    a.fenced(&fence, |tx| log_write(tx, e)).unwrap();
    assert_eq!(logged(&pg, e).len(), 1);
    assert_eq!(b.acquire_duty("alerts").unwrap(), None);
}

#[test]
fn the_servers_list_holds_the_live_servers_with_their_clients() {
    let Some(pg) = cluster() else { return };
    let mut a = server(&pg, "a:1", long());
    let mut b = server(&pg, "b:1", long());
    b.heartbeat().unwrap();
    a.heartbeat().unwrap();
    assert_eq!(a.claim("pi-1").unwrap(), Claim::Claimed);
    assert_eq!(a.claim("pi-2").unwrap(), Claim::Claimed);
    let listed: Vec<(String, i64)> = b.servers().unwrap().into_iter().map(|s| (s.name, s.clients)).collect();
    assert_eq!(listed, [("b:1".to_owned(), 0), ("a:1".to_owned(), 2)], "oldest first, with their clients");
    // A stops beating: gone once its row expires; B leaves at once.
    run_out(&pg, "fleet_servers", "server_id", a.identity().id());
    assert_eq!(b.servers().unwrap().len(), 1);
    assert_eq!(b.servers().unwrap()[0].name, "b:1");
    b.leave().unwrap();
    assert!(b.servers().unwrap().is_empty());
}

#[test]
fn news_reaches_the_other_servers_in_order_and_again_after_a_reconnection() {
    use cliser_store::fleet::News;
    use cliser_store::{NewReading, TsQuality};
    let Some(pg) = cluster() else { return };
    let mut a = server(&pg, "a:1", long());
    let mut b = server(&pg, "b:1", long());
    a.listen().unwrap();
    b.listen().unwrap();
    let reading = |seq: u64| NewReading {
        cid: "pi-a".parse().unwrap(),
        sensor: "28-1".parse().unwrap(),
        value: cliser_protocol::Value::parse("20.5").unwrap(),
        sampled_ms: 1_000 + seq as i64,
        received_ms: 2_000 + seq as i64,
        seq: Some(seq),
        ts_quality: TsQuality::Synced,
    };
    // Big enough for several notifications.
    let stored: Vec<NewReading> = (1..=500).map(reading).collect();
    let up = News::NodeUp { cid: "pi-a".parse().unwrap(), addr: "10.0.0.9:4000".into(), at_ms: 7 };
    a.publish(&[up.clone(), News::Stored(stored.clone())]).unwrap();
    let mut heard = Vec::new();
    wait_until(DEADLINE, "B to hear all of A's news", || {
        heard.extend(b.next_news(Duration::from_millis(200)).unwrap().heard.into_iter().flat_map(|h| h.news));
        let readings: usize = heard.iter().map(|n| if let News::Stored(r) = n { r.len() } else { 0 }).sum();
        (readings == stored.len()).then_some(())
    });
    assert_eq!(heard[0], up);
    let back: Vec<NewReading> =
        heard[1..].iter().flat_map(|n| if let News::Stored(r) = n { r.clone() } else { vec![] }).collect();
    assert_eq!(back, stored, "in order, unchanged");
    assert!(
        a.next_news(Duration::from_millis(100)).unwrap().heard.is_empty(),
        "a server does not hear itself"
    );

    kill_connection_of(&pg, "b:1");
    // The first call after the kill fails (transient) or reconnects; B listens again either way.
    let _ = b.next_news(Duration::from_millis(100));
    let down = News::NodeDown { cid: "pi-a".parse().unwrap(), at_ms: 9 };
    wait_until(DEADLINE, "B to hear A again after its reconnection", || {
        a.publish(std::slice::from_ref(&down)).unwrap();
        let heard = b.next_news(Duration::from_millis(200)).ok()?.heard;
        heard.into_iter().flat_map(|h| h.news).any(|n| n == down).then_some(())
    });
}
