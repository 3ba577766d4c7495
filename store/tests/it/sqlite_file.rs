//! What the SQLite backend does with the file it is given: creates and migrates a new one, reopens
//! its own, and refuses, without changing a byte, anything else.

use crate::common::*;
use cliser_protocol::Celsius;
use cliser_store::{
    AlertStore, Described, History, Ledger, ReadingQuery, SqliteStore, StoreError, StoredAlert, TsQuality,
    SCHEMA_VERSION,
};
use std::path::Path;
use std::time::Duration;

/// The file's bytes and the names of the files beside it (SQLite's -wal, -shm, -journal).
fn snapshot(path: &Path) -> (Vec<u8>, Vec<String>) {
    let bytes = std::fs::read(path).unwrap_or_default();
    let mut names: Vec<String> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    (bytes, names)
}

/// Opens `path` (directly and through the URL) expecting a refusal that `check` accepts, and
/// asserts the file's bytes are unchanged. Files may appear beside it only for a WAL-mode
/// database (SQLite's -wal and -shm, which reading it creates).
fn assert_refused_unchanged(path: &Path, wal_mode: bool, check: impl Fn(&StoreError) -> bool) -> String {
    let before = snapshot(path);
    let e = SqliteStore::open(path).expect_err("must be refused");
    assert!(check(&e), "unexpected error: {e:?}");
    let url = format!("sqlite:{}", path.display());
    assert!(cliser_store::open(&url).is_err());
    let after = snapshot(path);
    assert!(after.0 == before.0, "{} was modified", path.display());
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut allowed = before.1.clone();
    if wal_mode {
        allowed.extend([format!("{name}-shm"), format!("{name}-wal")]);
    }
    assert!(
        after.1.iter().all(|f| allowed.contains(f)),
        "files appeared beside {}: {:?}",
        path.display(),
        after.1
    );
    e.to_string()
}

#[test]
fn creates_a_new_file_and_reopens_it_with_everything_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cliser.db");
    {
        let mut s = SqliteStore::open(&path).unwrap();
        s.commit(&[r("a", "t", c(1.5), T0, Some(4))]).unwrap();
        assert_eq!(s.info().unwrap().schema_version, SCHEMA_VERSION);
    }
    for _ in 0..2 {
        let mut s = cliser_store::open(&format!("sqlite:{}", path.display())).unwrap();
        assert_eq!(s.location(), format!("sqlite:{}", path.display()));
        assert_eq!(s.info().unwrap().readings, 1);
        assert_eq!(s.high_water(&cid("a")).unwrap(), Some(4));
        assert_eq!(s.commit(&[r("a", "t", c(1.5), T0, Some(4))]).unwrap(), vec![false]);
    }
    let raw = rusqlite::Connection::open(&path).unwrap();
    let versions: i64 = raw.query_row("SELECT count(*) FROM cliser_schema", [], |r| r.get(0)).unwrap();
    assert_eq!(versions, 1, "reopening does not add version rows");
    let mode: String = raw.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

/// The SQLite migrations' files, in order: a test builds an old database from the first few.
const MIGRATIONS: [&str; 8] = [
    include_str!("../../migrations/sqlite/0001_initial.sql"),
    include_str!("../../migrations/sqlite/0002_alerts.sql"),
    include_str!("../../migrations/sqlite/0003_ts_quality.sql"),
    include_str!("../../migrations/sqlite/0004_export_cursors.sql"),
    include_str!("../../migrations/sqlite/0005_alert_history.sql"),
    include_str!("../../migrations/sqlite/0006_pruned_before.sql"),
    include_str!("../../migrations/sqlite/0007_fleet.sql"),
    include_str!("../../migrations/sqlite/0008_sensor_health.sql"),
];

/// Column 0 of every row `sql` gives on `raw`.
fn column<T: rusqlite::types::FromSql>(raw: &rusqlite::Connection, sql: &str) -> Vec<T> {
    raw.prepare(sql).unwrap().query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

/// A file in a temp dir that `write` made as an older cliser left it, opened (so migrated) by this one.
fn migrated(write: fn(&Path)) -> (tempfile::TempDir, std::path::PathBuf, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cliser.db");
    write(&path);
    let s = SqliteStore::open(&path).unwrap();
    (dir, path, s)
}

/// A WAL database as a schema-`version` cliser left it, without rows: its first `version`
/// migrations and the version row.
fn at_schema(path: &Path, version: usize) -> rusqlite::Connection {
    let raw = rusqlite::Connection::open(path).unwrap();
    raw.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())).unwrap();
    for m in &MIGRATIONS[..version] {
        raw.execute_batch(m).unwrap();
    }
    raw.execute_batch(&format!(
        "CREATE TABLE cliser_schema (version INTEGER NOT NULL); INSERT INTO cliser_schema VALUES ({version});"
    ))
    .unwrap();
    raw
}

/// A database as a schema-1 cliser left it: the first migration only; one sensor's readings (seqs 7
/// and 8), their rollup, and a high-water mark (9) that only the nodes table holds.
fn write_schema_1(path: &Path) {
    let raw = at_schema(path, 1);
    raw.execute_batch(&format!(
        "INSERT INTO nodes VALUES (1, 'a', {t0}, {t1}, 9);
         INSERT INTO sensors VALUES (1, 1, 't', {t0}, {t1}, {s1}, -1500, NULL, 8);
         INSERT INTO readings (node, sensor, sampled_ms, received_ms, milli_c, error, seq) VALUES
             (1, 1, {s0}, {t0}, 21063, NULL, 7), (1, 1, {s1}, {t1}, -1500, NULL, 8);
         INSERT INTO rollups VALUES ({T0}, 1, -1500, 21063, 19563, 2, 0);",
        s0 = T0,
        t0 = T0 + 100,
        s1 = T0 + 60_000,
        t1 = T0 + 60_100,
    ))
    .unwrap();
}

/// Whether inserting a reading builds a temporary b-tree (SQLite's way of checking `x IN (...)`).
fn insert_builds_a_temporary_btree(c: &rusqlite::Connection) -> bool {
    let mut st = c
        .prepare(
            "EXPLAIN INSERT INTO readings (node, sensor, sampled_ms, received_ms, milli_c, seq, ts_quality) \
             VALUES (1, 1, 0, 0, 0, 1, 0)",
        )
        .unwrap();
    let ops: Vec<String> = st.query_map([], |r| r.get(1)).unwrap().map(Result::unwrap).collect();
    ops.iter().any(|op| op == "OpenEphemeral")
}

/// A database as a schema-8 cliser left it (no rows).
fn write_schema_8(path: &Path) {
    at_schema(path, 8);
}

#[test]
fn the_quality_check_lets_0_1_2_through_without_a_temporary_btree_also_for_a_connection_open_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cliser.db");
    write_schema_8(&path);
    // Open, with schema 8 read, while another opens the store and migrates it to 9.
    let before = rusqlite::Connection::open(&path).unwrap();
    assert!(insert_builds_a_temporary_btree(&before), "schema 8 checks with IN");
    let schema = |c: &rusqlite::Connection| -> String {
        c.query_row("SELECT sql FROM sqlite_schema WHERE name = 'readings'", [], |r| r.get(0)).unwrap()
    };
    drop(SqliteStore::open(&path).unwrap());
    let fresh = dir.path().join("fresh.db");
    drop(SqliteStore::open(&fresh).unwrap());
    for c in
        [&before, &rusqlite::Connection::open(&path).unwrap(), &rusqlite::Connection::open(&fresh).unwrap()]
    {
        assert!(
            schema(c).contains("CHECK (ts_quality = 0 OR ts_quality = 1 OR ts_quality = 2)"),
            "{}",
            schema(c)
        );
        assert!(!insert_builds_a_temporary_btree(c));
        let insert = |q: &str| {
            c.execute(
                &format!(
                    "INSERT INTO readings (node, sensor, sampled_ms, received_ms, milli_c, seq, ts_quality) \
                     VALUES (1, 1, 0, 0, 0, NULL, {q})"
                ),
                [],
            )
        };
        for ok in ["0", "1", "2"] {
            insert(ok).unwrap();
        }
        for refused in ["3", "-1", "1.5", "'1x'"] {
            let e = insert(refused).unwrap_err().to_string();
            assert!(e.contains("CHECK constraint failed"), "{refused}: {e}");
        }
    }
    let check: String = before.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn a_schema_1_file_migrates_with_its_readings_untouched() {
    let (_dir, path, mut s) = migrated(write_schema_1);
    assert_eq!(s.info().unwrap().schema_version, SCHEMA_VERSION);
    let got: Vec<_> = s
        .readings(&ReadingQuery::default())
        .unwrap()
        .into_iter()
        .map(|x| (x.cid.to_string(), x.sensor.to_string(), x.value, x.sampled_ms, x.received_ms, x.seq))
        .collect();
    let want = vec![
        ("a".to_string(), "t".to_string(), c(21.063), T0, T0 + 100, Some(7)),
        ("a".to_string(), "t".to_string(), c(-1.5), T0 + 60_000, T0 + 60_100, Some(8)),
    ];
    assert_eq!(got, want);
    assert_eq!(s.high_water(&cid("a")).unwrap(), Some(9));
    assert_eq!(s.sensors().unwrap()[0].last, Some((T0 + 60_000, c(-1.5), Some(8))));
    let hour = s.buckets(&ReadingQuery::default(), Duration::from_secs(3600)).unwrap();
    assert_eq!((hour.len(), hour[0].count, hour[0].max), (1, 2, Some(Celsius::new(21.063).unwrap())));
    assert_eq!(s.commit(&[r("a", "t", c(1.0), T0, Some(8))]).unwrap(), vec![false]);
    assert!(s.alerts_firing().unwrap().is_empty());
    let a = StoredAlert {
        kind: "high".into(),
        cid: "a".into(),
        sensor: "t".into(),
        name: None,
        since_ms: T0,
        value: Some(21.063),
        limit: Some(20.0),
        message: "too hot".into(),
        ack: None,
    };
    s.alert_fire(&a).unwrap();
    drop(s);
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.alerts_firing().unwrap(), vec![a]);
    let raw = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(
        column::<i64>(&raw, "SELECT version FROM cliser_schema"),
        [SCHEMA_VERSION],
        "one version row, moved on"
    );
}

/// A database as a schema-2 cliser left it (the first two migrations): readings of a client `a`,
/// one of them an error, and a firing alert.
fn write_schema_2(path: &Path) {
    let raw = at_schema(path, 2);
    raw.execute_batch(&format!(
        "INSERT INTO nodes VALUES (1, 'a', {t0}, {t1}, 8);
         INSERT INTO sensors VALUES (1, 1, 't', {t0}, {t1}, {s1}, NULL, 'crc', 8);
         INSERT INTO readings (node, sensor, sampled_ms, received_ms, milli_c, error, seq) VALUES
             (1, 1, {s0}, {t0}, 21063, NULL, 7), (1, 1, {s1}, {t1}, NULL, 'crc', 8);
         INSERT INTO rollups VALUES ({T0}, 1, 21063, 21063, 21063, 1, 1);
         INSERT INTO alerts VALUES ('high', 'a', 't', NULL, {t0}, 21.063, 20.0, 'too hot');",
        s0 = T0,
        t0 = T0 + 100,
        s1 = T0 + 60_000,
        t1 = T0 + 60_100,
    ))
    .unwrap();
}

#[test]
fn a_schema_2_file_migrates_keeping_its_rows_which_read_as_synced() {
    let (_dir, path, mut s) = migrated(write_schema_2);
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
            (err("crc"), T0 + 60_000, T0 + 60_100, Some(8), TsQuality::Synced),
        ]
    );
    assert_eq!(s.high_water(&cid("a")).unwrap(), Some(8));
    assert_eq!(s.alerts_firing().unwrap().len(), 1, "the alert is kept");
    let mut fresh = r("a", "t", c(1.0), T0 + 120_000, Some(9));
    fresh.ts_quality = TsQuality::Unsynced;
    assert_eq!(s.commit(&[fresh]).unwrap(), vec![true]);
    let one = ReadingQuery { cid: Some(cid("a")), sensor: Some(sid("t")), ..ReadingQuery::default() };
    assert_eq!(s.readings(&one).unwrap()[2].ts_quality, TsQuality::Unsynced);
    drop(s);

    let raw = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(
        column::<i64>(&raw, "SELECT version FROM cliser_schema"),
        [SCHEMA_VERSION],
        "one version row, moved on"
    );
    // The time-range index still covers every column a query reads.
    let columns: Vec<String> =
        column(&raw, "SELECT name FROM pragma_index_info('readings_node_time') ORDER BY seqno");
    assert_eq!(columns.last().map(String::as_str), Some("ts_quality"), "{columns:?}");
    let plan: String = raw
        .query_row(
            "EXPLAIN QUERY PLAN SELECT r.sampled_ms, r.ts_quality FROM readings r WHERE r.node = 1 AND r.sampled_ms >= 0",
            [],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("COVERING INDEX readings_node_time"), "{plan}");
    let bad = raw.execute("UPDATE readings SET ts_quality = 3 WHERE seq = 7", []);
    assert!(bad.is_err(), "codes other than 0, 1, 2 are refused");
}

/// A database as a schema-4 cliser left it: a client `a` with two sensors and readings of each
/// (one an error, one unsynced), rollups, a firing alert and an exporter's cursor.
fn write_schema_4(path: &Path) {
    let raw = at_schema(path, 4);
    raw.execute_batch(&format!(
        "INSERT INTO nodes VALUES (1, 'a', {t0}, {t1}, 9);
         INSERT INTO sensors VALUES (1, 1, 't', {t0}, {t1}, {s1}, NULL, 'crc', 8), (2, 1, 'u', {t0}, {t0}, {T0}, 19500, NULL, 9);
         INSERT INTO readings (node, sensor, sampled_ms, received_ms, milli_c, error, seq, ts_quality) VALUES
             (1, 1, {T0}, {t0}, 21063, NULL, 7, 0), (1, 1, {s1}, {t1}, NULL, 'crc', 8, 1),
             (1, 2, {T0}, {t0}, 19500, NULL, 9, 2);
         INSERT INTO rollups VALUES ({T0}, 1, 21063, 21063, 21063, 1, 1), ({T0}, 2, 19500, 19500, 19500, 1, 0);
         INSERT INTO alerts VALUES ('high', 'a', 't', 'fridge', {t0}, 21.063, 20.0, 'too hot');
         INSERT INTO export_cursors VALUES ('influx', 2, {t1});",
        t0 = T0 + 100,
        s1 = T0 + 60_000,
        t1 = T0 + 60_100,
    ))
    .unwrap();
}

#[test]
fn a_schema_4_file_migrates_keeping_its_rows_and_takes_acknowledgements_and_forgetting() {
    let (_dir, path, mut s) = migrated(write_schema_4);
    check_migrated_schema_4(&mut s);
    drop(s);

    let raw = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(
        column::<i64>(&raw, "SELECT version FROM cliser_schema"),
        [SCHEMA_VERSION],
        "one version row, moved on"
    );
}

#[test]
fn an_empty_file_becomes_a_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.db");
    std::fs::write(&path, b"").unwrap();
    let mut s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.commit(&[r("a", "t", c(1.0), T0, Some(1))]).unwrap(), vec![true]);
}

#[test]
fn refuses_a_database_from_a_newer_version_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cliser.db");
    SqliteStore::open(&path).unwrap().commit(&[r("a", "t", c(1.0), T0, Some(1))]).unwrap();
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute("UPDATE cliser_schema SET version = 99", []).unwrap();
    }
    let text = assert_refused_unchanged(&path, true, |e| matches!(e, StoreError::TooNew { found: 99, .. }));
    assert!(text.contains("99") && text.contains(&format!("({SCHEMA_VERSION})")), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
}

#[test]
fn refuses_files_that_are_not_sqlite_databases_without_touching_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut noise = vec![0u8; 8192];
    let mut x: u32 = 12345;
    for b in &mut noise {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 16) as u8;
    }
    let mut fake_header = b"SQLite format 3\0".to_vec();
    fake_header.extend_from_slice(&noise[..4080]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("noise.db", noise),
        ("short.db", b"hello\n".to_vec()),
        ("readings.csv", b"sampled_ms,cid,sensor,value,received_ms,seq\n1,a,t,1.0,2,3\n".to_vec()),
        ("zeros.db", vec![0u8; 4096]),
        ("bad-pages.db", fake_header),
    ];
    for (name, bytes) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let text = assert_refused_unchanged(&path, false, |e| matches!(e, StoreError::NotADatabase { .. }));
        assert!(text.contains(name) && text.contains("not an SQLite database"), "{text}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
        std::fs::remove_file(&path).unwrap();
    }
    let sub = dir.path().join("a-directory");
    std::fs::create_dir(&sub).unwrap();
    assert!(matches!(SqliteStore::open(&sub), Err(StoreError::NotADatabase { .. })));
}

#[test]
fn refuses_another_programs_database_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    {
        let raw = rusqlite::Connection::open(&path).unwrap();
        raw.execute_batch("CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup');").unwrap();
        // Even one that happens to have a table named like ours.
        raw.execute_batch("CREATE TABLE readings (x INTEGER);").unwrap();
    }
    let text = assert_refused_unchanged(&path, false, |e| matches!(e, StoreError::Foreign { .. }));
    assert!(text.contains("recipes") && text.contains("some other program"), "{text}");
    let wal = dir.path().join("other-wal.db");
    {
        let raw = rusqlite::Connection::open(&wal).unwrap();
        raw.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())).unwrap();
        raw.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('x');").unwrap();
    }
    assert_refused_unchanged(&wal, true, |e| matches!(e, StoreError::Foreign { .. }));
}

#[test]
fn names_the_url_it_does_not_understand() {
    let e = cliser_store::open("mysql://u:hunter2@h/db").err().expect("refused");
    let text = e.to_string();
    assert!(text.contains("mysql://u:***@h/db") && !text.contains("hunter2"), "{text}");
    assert!(matches!(cliser_store::open("sqlite:"), Err(StoreError::BadUrl { .. })));
}
