//! Opening an SQLite file safely: a file that is not ours is refused before anything could write
//! to it (even setting the journal mode rewrites the header), then the connection is set up for
//! durability and the schema migrated.

use crate::migrate::{OUR_TABLES, SQLITE};
use crate::{OpenOptions, StoreError, SCHEMA_VERSION};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

const HEADER: &[u8; 16] = b"SQLite format 3\0";

/// How long a writer waits for another connection's lock (e.g. a `query` reading while the server
/// writes) before giving up with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

fn not_db(path: &Path, detail: impl Into<String>) -> StoreError {
    StoreError::NotADatabase { path: path.to_owned(), detail: detail.into() }
}

fn sqlite_err<'a>(path: &'a Path, op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + 'a {
    move |source| StoreError::Sqlite { path: path.to_owned(), op, source }
}

/// What a file holds, found without writing to it: `None` for no file, an empty file or an empty
/// database; `Some(version)` for a cliser database.
pub(super) fn inspect(path: &Path) -> Result<Option<i64>, StoreError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        // Missing: SQLite creates it. Unreadable: opening it gives SQLite's own error.
        Err(_) => return Ok(None),
    };
    if meta.is_dir() {
        return Err(not_db(path, "it is a directory"));
    }
    if meta.len() == 0 {
        return Ok(None);
    }
    // The header is read through SQLite, never with a file handle of our own: closing any other
    // descriptor of the database file drops every POSIX lock this process holds on it, so another
    // connection of this process (the sink's) would look closed to other processes, which may then
    // delete the write-ahead log under it.
    if meta.len() < HEADER.len() as u64 {
        return Err(not_db(path, format!("only {} bytes, shorter than an SQLite header", meta.len())));
    }
    let ro = open_read_only(path).map_err(|e| not_db(path, e.to_string()))?;
    let tables = table_names(&ro).map_err(|e| not_db(path, e.to_string()))?;
    check_ours(path, &tables)?;
    if tables.is_empty() {
        return Ok(None);
    }
    let version = schema_version(&ro).map_err(|e| not_db(path, format!("reading cliser_schema: {e}")))?;
    check_not_newer(path, version)?;
    Ok(version)
}

/// A read-only connection. Not `immutable=1`, though that would spare a WAL-mode file its -wal and
/// -shm: an immutable connection closes its descriptor at once, which drops every POSIX lock this
/// process holds on the file (SQLite's normal close waits for the process's other connections).
/// So inspecting a WAL-mode database may leave those two (empty) files beside it; its bytes are
/// never changed.
fn open_read_only(path: &Path) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
}

fn table_names(c: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut st = c.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")?;
    let names = st.query_map([], |r| r.get(0))?.collect();
    names
}

fn schema_version(c: &Connection) -> rusqlite::Result<Option<i64>> {
    c.query_row("SELECT max(version) FROM cliser_schema", [], |r| r.get(0)).optional().map(Option::flatten)
}

/// Refuses a database that has tables but no `cliser_schema`.
fn check_ours(path: &Path, tables: &[String]) -> Result<(), StoreError> {
    if tables.is_empty() || tables.iter().any(|t| t == OUR_TABLES[0]) {
        return Ok(());
    }
    let mut list: Vec<&str> = tables.iter().take(5).map(String::as_str).collect();
    if tables.len() > 5 {
        list.push("...");
    }
    Err(StoreError::Foreign { location: format!("sqlite:{}", path.display()), tables: list.join(", ") })
}

fn check_not_newer(path: &Path, version: Option<i64>) -> Result<(), StoreError> {
    match version {
        Some(v) if v > SCHEMA_VERSION => Err(StoreError::TooNew {
            location: format!("sqlite:{}", path.display()),
            found: v,
            known: SCHEMA_VERSION,
        }),
        _ => Ok(()),
    }
}

/// Opens `path` read-write with the durability settings: WAL (readers never block the writer),
/// `synchronous=FULL` (a commit is on disk when it returns: an ack survives a power cut), and the
/// page cache `options` give it.
pub(super) fn connect(path: &Path, options: &OpenOptions) -> Result<Connection, StoreError> {
    let c = Connection::open(path).map_err(sqlite_err(path, "open"))?;
    c.busy_timeout(BUSY_TIMEOUT).map_err(sqlite_err(path, "set busy timeout"))?;
    // journal_mode answers with the mode in force; WAL is refused on some file systems (no shared
    // memory), where SQLite keeps its rollback journal: still durable with synchronous=FULL.
    let _mode: String = c
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(sqlite_err(path, "set WAL mode"))?;
    // Every commit dirties one index leaf per sensor in it (a sensor's newest rows): the sink's
    // cache (the largest share of the server's budget) holds those of a few thousand sensors, and
    // checkpoints come after ~40 MB of WAL so that a leaf rewritten by many commits goes to the
    // file once per checkpoint. No mmap: its pages would show in RSS beyond the budget, as many as
    // the file has; a read then costs a copy from the kernel's page cache, which holds the file
    // anyway (see OpenOptions).
    c.execute_batch(&format!(
        "PRAGMA synchronous = FULL;
         PRAGMA cache_size = -{};
         PRAGMA wal_autocheckpoint = 10000;
         PRAGMA journal_size_limit = 67108864;
         PRAGMA mmap_size = 0;",
        options.page_cache_kib()
    ))
    .map_err(sqlite_err(path, "set pragmas"))?;
    log::debug!("{}: page cache {} KiB, no mmap", path.display(), options.page_cache_kib());
    Ok(c)
}

/// The migration to this version edits `sqlite_schema` itself (0009_ts_quality_check.sql).
const SCHEMA_EDITED_IN_PLACE: i64 = 9;

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction; returns the version now in force.
pub(super) fn migrate(path: &Path, c: &mut Connection, found: Option<i64>) -> Result<i64, StoreError> {
    if found == Some(SCHEMA_VERSION) {
        return Ok(SCHEMA_VERSION);
    }
    let err = sqlite_err(path, "migrate");
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate).map_err(&err)?;
    // Looked at again under the write lock: another process may have migrated, or filled the file,
    // since `inspect`.
    let tables = table_names(&tx).map_err(&err)?;
    check_ours(path, &tables)?;
    let version = if tables.is_empty() {
        tx.execute_batch(
            "CREATE TABLE cliser_schema (version INTEGER NOT NULL); INSERT INTO cliser_schema VALUES (0);",
        )
        .map_err(&err)?;
        0
    } else {
        let v = schema_version(&tx).map_err(&err)?;
        check_not_newer(path, v)?;
        v.unwrap_or(0)
    };
    for m in &SQLITE[version as usize..] {
        tx.execute_batch(m).map_err(&err)?;
    }
    if version < SCHEMA_EDITED_IN_PLACE {
        // Schema 9 edited a table's text in place: every connection must read it again.
        let cookie: i64 = tx.query_row("PRAGMA schema_version", [], |r| r.get(0)).map_err(&err)?;
        tx.execute_batch(&format!("PRAGMA schema_version = {}", cookie + 1)).map_err(&err)?;
    }
    tx.execute("UPDATE cliser_schema SET version = ?1", [SCHEMA_VERSION]).map_err(&err)?;
    tx.commit().map_err(&err)?;
    Ok(SCHEMA_VERSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pragma(c: &Connection, name: &str) -> i64 {
        c.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn each_connection_gets_the_page_cache_it_is_opened_with_and_no_mmap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        // The server's default split of 64 MiB (sink, then a page, alerts or retention connection),
        // a command's connection, and a share below the floor.
        for (options, kib) in [
            (OpenOptions::page_cache(32 << 20), 32768),
            (OpenOptions::page_cache(5592405), 5461),
            (OpenOptions::default(), 8192),
            (OpenOptions::page_cache(1000), 256),
        ] {
            let c = connect(&path, &options).unwrap();
            assert_eq!(pragma(&c, "cache_size"), -kib, "{options:?}");
            assert_eq!(pragma(&c, "mmap_size"), 0);
            assert_eq!(pragma(&c, "synchronous"), 2, "FULL");
        }
    }
}
