//! Helpers shared by the store's tests: readings built from short literals, and a store of each
//! backend in a place of its own.
#![allow(dead_code)]

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
    pub dir: tempfile::TempDir,
    pub store: SqliteStore,
}

impl Sqlite {
    pub fn new() -> Sqlite {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("cliser.db")).unwrap();
        Sqlite { dir, store }
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
