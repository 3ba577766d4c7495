//! [`HealthLog`] on SQLite.

use super::SqliteStore;
use crate::{HealthLog, HealthRow, StoreError};
use rusqlite::params;

impl HealthLog for SqliteStore {
    fn health_add(&mut self, rows: &[HealthRow]) -> Result<usize, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let tx = self.conn.transaction().map_err(|source| StoreError::Sqlite {
            path: self.path.clone(),
            op: "add health",
            source,
        })?;
        let mut added = 0;
        {
            let mut st = tx.prepare_cached(crate::health::UPSERT).map_err(|source| StoreError::Sqlite {
                path: self.path.clone(),
                op: "add health",
                source,
            })?;
            for r in rows {
                added += st
                    .execute(params![
                        r.cid,
                        r.sensor,
                        r.hour_ms,
                        r.reads,
                        r.crc,
                        r.empty,
                        r.reset,
                        r.other,
                        r.retries,
                        r.read_ms,
                        r.period_ms,
                        r.last_report
                    ])
                    .map_err(|source| StoreError::Sqlite {
                        path: self.path.clone(),
                        op: "add health",
                        source,
                    })?;
            }
        }
        tx.commit().map_err(|source| StoreError::Sqlite {
            path: self.path.clone(),
            op: "add health",
            source,
        })?;
        Ok(added)
    }

    fn health_since(&mut self, since_ms: i64) -> Result<Vec<HealthRow>, StoreError> {
        let mut st = self.conn.prepare_cached(crate::health::SELECT).map_err(self.err("read health"))?;
        let rows = st
            .query_map([since_ms], |r| {
                Ok(HealthRow {
                    cid: r.get(0)?,
                    sensor: r.get(1)?,
                    hour_ms: r.get(2)?,
                    reads: r.get(3)?,
                    crc: r.get(4)?,
                    empty: r.get(5)?,
                    reset: r.get(6)?,
                    other: r.get(7)?,
                    retries: r.get(8)?,
                    read_ms: r.get(9)?,
                    period_ms: r.get(10)?,
                    last_report: r.get(11)?,
                })
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>());
        drop(st);
        rows.map_err(self.err("read health"))
    }
}
