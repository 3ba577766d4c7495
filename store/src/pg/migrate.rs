//! The PostgreSQL schema's migrations, under an advisory lock: several servers may start at once
//! on one database, and only one must create or upgrade the tables.

use crate::migrate::{OUR_TABLES, POSTGRES};
use crate::{StoreError, SCHEMA_VERSION};
use postgres::Client;

/// The advisory lock key ("cliser" in ASCII) that serialises migrations.
const LOCK_KEY: i64 = 0x636c_6973_6572;

fn our_tables(c: &mut impl postgres::GenericClient) -> Result<Vec<String>, postgres::Error> {
    let names: Vec<&str> = OUR_TABLES.to_vec();
    let rows = c.query(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_name = ANY($1) ORDER BY 1",
        &[&names],
    )?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

fn version(c: &mut impl postgres::GenericClient) -> Result<Option<i64>, postgres::Error> {
    let row = c.query_one("SELECT max(version)::bigint FROM cliser_schema", &[])?;
    Ok(row.get(0))
}

/// Brings the schema to [`SCHEMA_VERSION`]; returns the version now in force.
pub(crate) fn migrate(c: &mut Client, location: &str) -> Result<i64, StoreError> {
    let pg = |op| move |source| StoreError::Postgres { url: location.to_owned(), op, source };
    // Up to date: nothing to lock (a read-only role can use the store for queries).
    let tables = our_tables(c).map_err(pg("read schema"))?;
    if tables.iter().any(|t| t == OUR_TABLES[0]) {
        let v = version(c).map_err(pg("read schema version"))?;
        if v == Some(SCHEMA_VERSION) {
            return Ok(SCHEMA_VERSION);
        }
    }
    let err = pg("migrate");
    let mut tx = c.transaction().map_err(&err)?;
    // No statement limit for this transaction: rebuilding an index over a big table takes minutes
    // (and waiting for another server's migration as long as it takes).
    tx.batch_execute("SET LOCAL statement_timeout = 0").map_err(&err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_KEY]).map_err(&err)?;
    let tables = our_tables(&mut tx).map_err(&err)?;
    let found = if tables.iter().any(|t| t == OUR_TABLES[0]) {
        version(&mut tx).map_err(&err)?.unwrap_or(0)
    } else if !tables.is_empty() {
        return Err(StoreError::Foreign { location: location.to_owned(), tables: tables.join(", ") });
    } else {
        tx.batch_execute(
            "CREATE TABLE cliser_schema (version INTEGER NOT NULL); INSERT INTO cliser_schema VALUES (0);",
        )
        .map_err(&err)?;
        0
    };
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew { location: location.to_owned(), found, known: SCHEMA_VERSION });
    }
    for m in &POSTGRES[found as usize..] {
        tx.batch_execute(m).map_err(&err)?;
    }
    tx.execute("UPDATE cliser_schema SET version = $1", &[&(SCHEMA_VERSION as i32)]).map_err(&err)?;
    tx.commit().map_err(&err)?;
    Ok(SCHEMA_VERSION)
}
