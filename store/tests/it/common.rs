//! Helpers shared by the store's tests: readings built from short literals, and a store of each
//! backend in a place of its own.

use cliser_protocol::{Celsius, ClientId, ErrorReason, SensorId, Value};
use cliser_store::{NewReading, PgStore, SqliteStore, Store, TsQuality};
use cliser_testkit::{PgCluster, PgOptions};

pub const HOUR: i64 = 3_600_000;
/// 2026-01-01T00:00:00Z: a whole hour, so hour buckets line up with the tests' arithmetic.
pub const T0: i64 = 1_767_225_600_000;

pub fn cid(s: &str) -> ClientId {
    ClientId::new(s).unwrap()
}

pub fn sid(s: &str) -> SensorId {
    SensorId::new(s).unwrap()
}

pub fn c(v: f64) -> Value {
    Value::Celsius(Celsius::new(v).unwrap())
}

pub fn err(reason: &str) -> Value {
    Value::Error(ErrorReason::new(reason).unwrap())
}

/// A reading sampled at `t`, received 100 ms later.
pub fn r(client: &str, sensor: &str, value: Value, t: i64, seq: Option<u64>) -> NewReading {
    NewReading {
        cid: cid(client),
        sensor: sid(sensor),
        value,
        sampled_ms: t,
        received_ms: t + 100,
        seq,
        ts_quality: TsQuality::Synced,
    }
}

/// An SQLite store in a temp dir (kept alive with it).
pub struct Sqlite {
    /// Deleted when the test's store is dropped.
    _dir: tempfile::TempDir,
    pub store: SqliteStore,
}

impl Sqlite {
    pub fn new() -> Sqlite {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("cliser.db")).unwrap();
        Sqlite { _dir: dir, store }
    }
}

/// A fresh private PostgreSQL cluster (fsync off: these tests are not about power cuts) and a
/// store on it; `None` where PostgreSQL is not installed (the test then passes as skipped).
pub struct Pg {
    pub store: PgStore,
    pub cluster: PgCluster,
}

impl Pg {
    pub fn new() -> Option<Pg> {
        let cluster = PgCluster::start_with(PgOptions { fsync: false, ..PgOptions::default() })?;
        let store = PgStore::connect(&cluster.url()).unwrap();
        Some(Pg { store, cluster })
    }
}

/// A test's store that can be closed and opened again on the same database.
pub trait Reopen {
    fn store(&mut self) -> &mut dyn Store;
    fn reopen(&mut self);
}

impl Reopen for Sqlite {
    fn store(&mut self) -> &mut dyn Store {
        &mut self.store
    }
    fn reopen(&mut self) {
        let path = self.store.path().to_owned();
        self.store = SqliteStore::open(&path).unwrap();
    }
}

impl Reopen for Pg {
    fn store(&mut self) -> &mut dyn Store {
        &mut self.store
    }
    fn reopen(&mut self) {
        self.store = PgStore::connect(&self.cluster.url()).unwrap();
    }
}

/// Everything the store holds, in export order.
pub fn all(s: &mut dyn Store) -> Vec<cliser_store::StoredReading> {
    let mut out = Vec::new();
    s.export(&mut |r| {
        out.push(r);
        Ok(())
    })
    .unwrap();
    out
}

/// What a migrated schema-4 database (as `postgres.rs` and `sqlite_file.rs` write one: client `a`
/// with sensors `t` and `u`, three readings, a firing alert, an exporter's cursor) must hold, and
/// what schema 5 adds working on its rows.
pub fn check_migrated_schema_4(s: &mut dyn Store) {
    use cliser_store::{ReadingQuery, StoredAlert, SCHEMA_VERSION};
    use std::time::Duration;
    assert_eq!(s.info().unwrap().schema_version, SCHEMA_VERSION);
    let got: Vec<_> = s
        .readings(&ReadingQuery::default())
        .unwrap()
        .into_iter()
        .map(|x| (x.sensor.to_string(), x.value, x.seq, x.ts_quality))
        .collect();
    assert_eq!(
        got,
        vec![
            ("t".into(), c(21.063), Some(7), TsQuality::Synced),
            ("u".into(), c(19.5), Some(9), TsQuality::Unsynced),
            ("t".into(), err("crc"), Some(8), TsQuality::FromAge),
        ]
    );
    let nodes = s.nodes().unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(
        (nodes[0].first_seen_ms, nodes[0].last_seen_ms, nodes[0].high_water),
        (T0 + 100, T0 + 60_100, Some(9))
    );
    let sensors: Vec<String> = s.sensors().unwrap().into_iter().map(|x| x.sensor.to_string()).collect();
    assert_eq!(sensors, vec!["t", "u"]);
    assert_eq!(s.buckets(&ReadingQuery::default(), Duration::from_secs(3600)).unwrap().len(), 2);
    assert_eq!(s.cursor("influx").unwrap(), Some(2));
    let alert = StoredAlert {
        kind: "high".into(),
        cid: "a".into(),
        sensor: "t".into(),
        name: Some("fridge".into()),
        since_ms: T0 + 100,
        value: Some(21.063),
        limit: Some(20.0),
        message: "too hot".into(),
        ack: None,
    };
    assert_eq!(s.alerts_firing().unwrap(), vec![alert.clone()], "kept, unacknowledged");
    assert_eq!(s.admin_changes_head().unwrap(), 0);

    // What schema 5 adds works on the migrated rows.
    let ack = cliser_store::Ack { by: "ann".into(), note: "".into(), at_ms: T0 + 70_000 };
    assert!(s.alert_ack("high", "a", "t", &ack).unwrap());
    assert_eq!(s.alerts_firing().unwrap(), vec![StoredAlert { ack: Some(ack), ..alert }]);
    assert_eq!(
        s.forget("a", Some("u"), true, T0 + 70_000).unwrap(),
        cliser_store::Forgotten { known: true, readings_deleted: 1 }
    );
    let sensors: Vec<String> = s.sensors().unwrap().into_iter().map(|x| x.sensor.to_string()).collect();
    assert_eq!(sensors, vec!["t"]);
    assert_eq!(s.admin_changes(0).unwrap().len(), 2);
    assert_eq!(s.high_water(&cid("a")).unwrap(), Some(9));
    assert_eq!(s.commit(&[r("a", "u", c(1.0), T0 + 120_000, Some(10))]).unwrap(), vec![true]);
    assert_eq!(s.sensors().unwrap().len(), 2);

    // What schema 6 adds: no client has a pruned mark until pruning deletes some of its rows.
    assert!(s.pruned_before().unwrap().is_empty());
    assert_eq!(s.prune_raw(T0 + 1, 100).unwrap(), 1);
    assert_eq!(s.pruned_before().unwrap().get(&cid("a")), Some(&(T0 + 1)));
    assert_eq!(s.commit(&[r("a", "t", c(21.063), T0, Some(7))]).unwrap(), vec![false], "pruned, not again");
}
