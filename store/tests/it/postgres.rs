//! What only the PostgreSQL backend has: a server that may be down or shared, and a database that
//! may hold other things.

use crate::common::*;
use cliser_store::{
    AlertStore, Described, ExportFeed, History, Ledger, PgStore, ReadingQuery, StoreError, StoredAlert,
    TsQuality, SCHEMA_VERSION,
};
use cliser_testkit::{wait_until, PgCluster, PgOptions};
use std::sync::{Arc, Barrier};
use std::time::Duration;

fn cluster() -> Option<PgCluster> {
    PgCluster::start_with(PgOptions { fsync: false, ..PgOptions::default() })
}

fn psql(url: &str, sql: &str) {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.batch_execute(sql).unwrap();
}

#[test]
fn an_unreachable_server_gives_an_error_naming_the_url_without_its_password() {
    // A port nobody listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://cliser:s3cr3t-pw@127.0.0.1:{port}/cliser");
    let e = PgStore::connect(&url).expect_err("nothing listens there");
    let text = e.to_string();
    assert!(text.contains(&format!("postgres://cliser:***@127.0.0.1:{port}/cliser")), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(matches!(e, StoreError::Postgres { op: "connect", .. }));
    let e = cliser_store::open(&url.replace("postgres:", "postgresql:")).err().expect("refused");
    assert!(!e.to_string().contains("s3cr3t"));
}

#[test]
fn reopens_its_database_with_everything_kept() {
    let Some(pg) = cluster() else { return };
    for url in [pg.url(), pg.url().replace("postgres:", "postgresql:")] {
        let mut s = cliser_store::open(&url).unwrap();
        assert!(
            !s.location().contains(&url[url.find(':').unwrap() + 3..url.find('@').unwrap()]),
            "password elided"
        );
        s.commit(&[r("a", "t", c(1.0), T0, Some(1)), r("a", "t", c(2.0), T0 + 1, Some(2))]).unwrap();
        assert_eq!(s.info().unwrap().readings, 2);
        assert_eq!(s.info().unwrap().schema_version, SCHEMA_VERSION);
    }
    let mut c = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    let n: i64 = c.query_one("SELECT count(*) FROM cliser_schema", &[]).unwrap().get(0);
    assert_eq!(n, 1);
}

#[test]
fn a_schema_1_database_migrates_with_its_readings_untouched() {
    let Some(pg) = cluster() else { return };
    psql(&pg.url(), include_str!("../../migrations/postgres/0001_initial.sql"));
    psql(
        &pg.url(),
        &format!(
            "CREATE TABLE cliser_schema (version INTEGER NOT NULL); INSERT INTO cliser_schema VALUES (1);
             INSERT INTO nodes VALUES (1, 'a', {t0}, {t0}, 9);
             INSERT INTO sensors VALUES (1, 1, 't', {t0}, {t0}, {T0}, 21063, NULL, 7);
             INSERT INTO readings (node, sensor, sampled_ms, received_ms, milli_c, error, seq)
                 VALUES (1, 1, {T0}, {t0}, 21063, NULL, 7);
             INSERT INTO rollups VALUES (1, {T0}, 21063, 21063, 21063, 1, 0);",
            t0 = T0 + 100,
        ),
    );
    let mut s = PgStore::connect(&pg.url()).unwrap();
    assert_eq!(s.info().unwrap().schema_version, SCHEMA_VERSION);
    let got = s.readings(&ReadingQuery::default()).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].value.clone(), got[0].sampled_ms, got[0].received_ms, got[0].seq),
        (c(21.063), T0, T0 + 100, Some(7))
    );
    assert_eq!(s.high_water(&cid("a")).unwrap(), Some(9));
    assert_eq!(s.buckets(&ReadingQuery::default(), Duration::from_secs(3600)).unwrap()[0].count, 1);
    assert!(s.alerts_firing().unwrap().is_empty());
    let mut c = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    let v: Vec<i32> =
        c.query("SELECT version FROM cliser_schema", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(v, vec![SCHEMA_VERSION as i32]);
}

#[test]
fn a_schema_2_database_migrates_keeping_its_rows_which_read_as_synced() {
    let Some(pg) = cluster() else { return };
    psql(&pg.url(), include_str!("../../migrations/postgres/0001_initial.sql"));
    psql(&pg.url(), include_str!("../../migrations/postgres/0002_alerts.sql"));
    psql(
        &pg.url(),
        &format!(
            "CREATE TABLE cliser_schema (version INTEGER NOT NULL); INSERT INTO cliser_schema VALUES (2);
             INSERT INTO nodes VALUES (1, 'a', {t0}, {t0}, 8);
             INSERT INTO sensors VALUES (1, 1, 't', {t0}, {t0}, {s1}, NULL, 'crc', 8);
             INSERT INTO readings (node, sensor, sampled_ms, received_ms, milli_c, error, seq)
                 VALUES (1, 1, {T0}, {t0}, 21063, NULL, 7), (1, 1, {s1}, {t0}, NULL, 'crc', 8);
             INSERT INTO rollups VALUES (1, {T0}, 21063, 21063, 21063, 1, 1);
             INSERT INTO alerts VALUES ('high', 'a', 't', NULL, {t0}, 21.063, 20.0, 'too hot');",
            t0 = T0 + 100,
            s1 = T0 + 60_000,
        ),
    );
    let mut s = PgStore::connect(&pg.url()).unwrap();
    assert_eq!(s.info().unwrap().schema_version, SCHEMA_VERSION);
    let got: Vec<_> = s
        .readings(&ReadingQuery::default())
        .unwrap()
        .into_iter()
        .map(|x| (x.value, x.sampled_ms, x.received_ms, x.seq, x.ts_quality))
        .collect();
    assert_eq!(
        got,
        vec![
            (c(21.063), T0, T0 + 100, Some(7), TsQuality::Synced),
            (err("crc"), T0 + 60_000, T0 + 100, Some(8), TsQuality::Synced),
        ]
    );
    assert_eq!(s.high_water(&cid("a")).unwrap(), Some(8));
    assert_eq!(s.alerts_firing().unwrap().len(), 1, "the alert is kept");
    let mut fresh = r("a", "t", c(1.0), T0 + 120_000, Some(9));
    fresh.ts_quality = TsQuality::FromAge;
    assert_eq!(s.commit(&[fresh]).unwrap(), vec![true]);
    let one = ReadingQuery { cid: Some(cid("a")), sensor: Some(sid("t")), ..ReadingQuery::default() };
    assert_eq!(s.readings(&one).unwrap()[2].ts_quality, TsQuality::FromAge);
    let mut c = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    let v: Vec<i32> =
        c.query("SELECT version FROM cliser_schema", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(v, vec![SCHEMA_VERSION as i32]);
    let index: String = c
        .query_one("SELECT indexdef FROM pg_indexes WHERE indexname = 'readings_sensor_time'", &[])
        .unwrap()
        .get(0);
    assert!(index.contains("ts_quality"), "the index stays covering: {index}");
    assert!(c.execute("UPDATE readings SET ts_quality = 3 WHERE seq = 7", &[]).is_err());
}

#[test]
fn a_schema_4_database_migrates_keeping_its_rows_and_takes_acknowledgements_and_forgetting() {
    let Some(pg) = cluster() else { return };
    for m in [
        include_str!("../../migrations/postgres/0001_initial.sql"),
        include_str!("../../migrations/postgres/0002_alerts.sql"),
        include_str!("../../migrations/postgres/0003_ts_quality.sql"),
        include_str!("../../migrations/postgres/0004_export_cursors.sql"),
    ] {
        psql(&pg.url(), m);
    }
    psql(
        &pg.url(),
        &format!(
            "CREATE TABLE cliser_schema (version INTEGER NOT NULL); INSERT INTO cliser_schema VALUES (4);
             INSERT INTO nodes VALUES (1, 'a', {t0}, {t1}, 9);
             INSERT INTO sensors VALUES (1, 1, 't', {t0}, {t1}, {s1}, NULL, 'crc', 8),
                 (2, 1, 'u', {t0}, {t0}, {T0}, 19500, NULL, 9);
             INSERT INTO readings (node, sensor, sampled_ms, received_ms, milli_c, error, seq, ts_quality)
                 VALUES (1, 1, {T0}, {t0}, 21063, NULL, 7, 0), (1, 1, {s1}, {t1}, NULL, 'crc', 8, 1),
                 (1, 2, {T0}, {t0}, 19500, NULL, 9, 2);
             INSERT INTO rollups VALUES (1, {T0}, 21063, 21063, 21063, 1, 1), (2, {T0}, 19500, 19500, 19500, 1, 0);
             INSERT INTO alerts VALUES ('high', 'a', 't', 'fridge', {t0}, 21.063, 20.0, 'too hot');
             INSERT INTO export_cursors VALUES ('influx', 2, {t1});",
            t0 = T0 + 100,
            s1 = T0 + 60_000,
            t1 = T0 + 60_100,
        ),
    );
    let mut s = PgStore::connect(&pg.url()).unwrap();
    check_migrated_schema_4(&mut s);
    let mut c = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    let v: Vec<i32> =
        c.query("SELECT version FROM cliser_schema", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(v, vec![SCHEMA_VERSION as i32]);
}

#[test]
fn refuses_a_database_from_a_newer_version_naming_both_versions() {
    let Some(pg) = cluster() else { return };
    drop(PgStore::connect(&pg.url()).unwrap());
    psql(&pg.url(), "UPDATE cliser_schema SET version = 42");
    let e = PgStore::connect(&pg.url()).expect_err("too new");
    let text = e.to_string();
    assert!(matches!(e, StoreError::TooNew { found: 42, .. }), "{e:?}");
    assert!(
        text.contains("42") && text.contains(&format!("({SCHEMA_VERSION})")) && text.contains("***"),
        "{text}"
    );
}

#[test]
fn refuses_a_database_holding_tables_of_another_program() {
    let Some(pg) = cluster() else { return };
    let url = pg.create_database("other");
    psql(&url, "CREATE TABLE readings (x integer); INSERT INTO readings VALUES (7);");
    let e = PgStore::connect(&url).expect_err("foreign");
    assert!(matches!(e, StoreError::Foreign { .. }), "{e:?}");
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let n: i64 = c
        .query_one("SELECT count(*) FROM information_schema.tables WHERE table_name = 'cliser_schema'", &[])
        .unwrap()
        .get(0);
    assert_eq!(n, 0, "nothing created");
    let x: i32 = c.query_one("SELECT x FROM readings", &[]).unwrap().get(0);
    assert_eq!(x, 7);
}

#[test]
fn two_servers_on_one_database_store_each_reading_once() {
    let Some(pg) = cluster() else { return };
    let (clients, per_client) = (12u64, 400u64);
    let all_readings: Vec<_> = (0..clients)
        .flat_map(|k| {
            (1..=per_client).map(move |s| {
                r(
                    &format!("pi-{k}"),
                    &format!("t{}", s % 8),
                    c((s % 100) as f64 / 4.0),
                    T0 + s as i64 * 1000,
                    Some(s),
                )
            })
        })
        .collect();
    let barrier = Arc::new(Barrier::new(2));
    let run = |group: usize, reverse: bool| {
        let url = pg.url();
        let barrier = barrier.clone();
        let mut readings = all_readings.clone();
        if reverse {
            // The other server sees the clients in the opposite order.
            readings.reverse();
        }
        std::thread::spawn(move || {
            let mut s = PgStore::connect(&url).unwrap();
            barrier.wait();
            readings.chunks(group).map(|g| s.commit(g).unwrap().iter().filter(|&&x| x).count()).sum::<usize>()
        })
    };
    let (a, b) = (run(256, false), run(200, true));
    let stored = a.join().unwrap() + b.join().unwrap();
    let total = (clients * per_client) as usize;
    assert_eq!(stored, total, "the inserted flags of both add up to each reading once");
    let mut s = PgStore::connect(&pg.url()).unwrap();
    assert_eq!(s.info().unwrap().readings, total as u64);
    let hw = s.high_water_all().unwrap();
    assert_eq!(hw.len(), clients as usize);
    assert!(hw.values().all(|&v| v == per_client));
    let counted: u64 =
        s.buckets(&ReadingQuery::default(), Duration::from_secs(3600)).unwrap().iter().map(|b| b.count).sum();
    assert_eq!(counted, total as u64, "rollups count each reading once");
}

#[test]
fn commits_fail_while_the_server_is_down_and_work_again_after() {
    let Some(mut pg) = PgCluster::start() else { return };
    let mut s = PgStore::connect(&pg.url()).unwrap();
    assert_eq!(s.commit(&[r("a", "t", c(1.0), T0, Some(1))]).unwrap(), vec![true]);
    pg.stop();
    let e = s.commit(&[r("a", "t", c(2.0), T0 + 1, Some(2))]).expect_err("server down");
    let text = e.to_string();
    assert!(text.contains("***") && !text.contains(&pg.url()), "{text}");
    assert!(s.high_water(&cid("a")).is_err());
    pg.start_again();
    assert_eq!(
        s.commit(&[r("a", "t", c(2.0), T0 + 1, Some(2)), r("a", "t", c(1.0), T0, Some(1))]).unwrap(),
        vec![true, false]
    );
    assert_eq!(s.high_water(&cid("a")).unwrap(), Some(2));
    assert_eq!(s.info().unwrap().readings, 2);
}

fn alert(cid: &str, since_ms: i64) -> StoredAlert {
    StoredAlert {
        kind: "high".into(),
        cid: cid.into(),
        sensor: "t".into(),
        name: None,
        since_ms,
        value: Some(30.5),
        limit: Some(30.0),
        message: format!("{cid} too hot"),
        ack: None,
    }
}

#[test]
fn alerts_are_listed_bytewise_whatever_the_databases_locale() {
    let Some(pg) = cluster() else { return };
    // A database whose text sorts by a natural language's rules, where "a" comes before "B".
    psql(
        &pg.url(),
        "CREATE DATABASE by_language TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en' LOCALE 'C'",
    );
    let url = pg.url_for("by_language");
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let words: Vec<String> = c
        .query("SELECT w FROM UNNEST(ARRAY['a', 'B']) AS u(w) ORDER BY w", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(words, ["a", "B"], "the database sorts naturally");
    let mut s = PgStore::connect(&url).unwrap();
    s.alert_fire(&alert("a", T0)).unwrap();
    s.alert_fire(&alert("B", T0)).unwrap();
    let cids: Vec<String> = s.alerts_firing().unwrap().into_iter().map(|a| a.cid).collect();
    assert_eq!(cids, ["B", "a"], "the alerts as SQLite lists them");
}

#[test]
fn alerts_fail_while_the_server_is_down_and_work_again_after() {
    let Some(mut pg) = PgCluster::start() else { return };
    let mut s = PgStore::connect(&pg.url()).unwrap();
    s.alert_fire(&alert("a", T0)).unwrap();
    pg.stop();
    assert!(s.alert_fire(&alert("b", T0)).is_err());
    assert!(s.alerts_firing().is_err());
    assert!(s.alert_resolve("high", "a", "t").is_err());
    pg.start_again();
    s.alert_fire(&alert("b", T0 + 1)).unwrap();
    assert_eq!(s.alerts_firing().unwrap(), vec![alert("a", T0), alert("b", T0 + 1)]);
    assert!(s.alert_resolve("high", "a", "t").unwrap());
    assert_eq!(s.alerts_firing().unwrap(), vec![alert("b", T0 + 1)]);
}

/// Rows not granted in `pg_locks`: sessions waiting for a lock.
fn waiting(c: &mut postgres::Client) -> i64 {
    c.query_one("SELECT count(*) FROM pg_locks WHERE NOT granted", &[]).unwrap().get(0)
}

#[test]
fn the_feed_never_passes_a_reading_whose_lower_id_is_still_being_committed() {
    let Some(pg) = cluster() else { return };
    let mut reader = PgStore::connect(&pg.url()).unwrap();
    // A commit held open after its reading took its id, as a long import-csv transaction is: a
    // trigger waits for advisory lock 4242, which the test holds.
    psql(
        &pg.url(),
        "CREATE FUNCTION hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
         PERFORM pg_advisory_lock_shared(4242); PERFORM pg_advisory_unlock_shared(4242); RETURN NULL; END $$; \
         CREATE TRIGGER hold AFTER INSERT ON readings FOR EACH ROW WHEN (NEW.error = 'held') EXECUTE FUNCTION hold();",
    );
    let mut gate = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    gate.execute("SELECT pg_advisory_lock(4242)", &[]).unwrap();
    let commit_in_thread = |reading| {
        let url = pg.url();
        std::thread::spawn(move || PgStore::connect(&url).unwrap().commit(&[reading]).unwrap())
    };
    let slow = commit_in_thread(r("import", "t", err("held"), T0, Some(1)));
    wait_until(Duration::from_secs(10), "the held commit to wait", || {
        (waiting(&mut gate) == 1).then_some(())
    });
    let fast = commit_in_thread(r("live", "t", c(1.0), T0, Some(1)));
    // The later commit either went through or waits for the held one.
    wait_until(Duration::from_secs(10), "the later commit to finish or wait", || {
        (fast.is_finished() || waiting(&mut gate) == 2).then_some(())
    });
    let seen: Vec<i64> = reader.feed(0, 100).unwrap().iter().map(|f| f.id).collect();
    assert_eq!(seen, Vec::<i64>::new(), "nothing after an id still in flight is shown");
    gate.execute("SELECT pg_advisory_unlock(4242)", &[]).unwrap();
    assert_eq!(slow.join().unwrap(), vec![true]);
    assert_eq!(fast.join().unwrap(), vec![true]);
    let rows = reader.feed(0, 100).unwrap();
    let got: Vec<(i64, &str)> = rows.iter().map(|f| (f.id, f.reading.cid.as_str())).collect();
    assert_eq!(got, vec![(1, "import"), (2, "live")], "both, in id order, none skipped");
}

#[test]
fn a_commit_the_database_does_not_finish_fails_within_30_s_instead_of_waiting_forever() {
    let Some(pg) = cluster() else { return };
    let mut s = PgStore::connect(&pg.url()).unwrap();
    // A stuck session holding the lock every commit takes first ("readings" in ASCII).
    let mut stuck = postgres::Client::connect(&pg.url(), postgres::NoTls).unwrap();
    stuck.execute("SELECT pg_advisory_lock($1)", &[&0x7265_6164_696e_6773i64]).unwrap();
    let started = std::time::Instant::now();
    let commit = std::thread::spawn(move || s.commit(&[r("a", "t", c(1.0), T0, Some(1))]));
    wait_until(Duration::from_secs(45), "the commit to give up", || commit.is_finished().then_some(()));
    let took = started.elapsed();
    let e = commit.join().unwrap().expect_err("the statement timed out");
    assert!(e.to_string().contains("statement timeout"), "{e}");
    assert!(took >= Duration::from_secs(29) && took < Duration::from_secs(40), "{took:?}");
}
