//! [`HealthLog`] on PostgreSQL.

use super::PgStore;
use crate::{HealthLog, HealthRow, StoreError};

impl HealthLog for PgStore {
    fn health_add(&mut self, rows: &[HealthRow]) -> Result<usize, StoreError> {
        if rows.is_empty() {
            return Ok(0);
        }
        let location = self.location.clone();
        let err = |source| StoreError::Postgres { url: location.clone(), op: "add health", source };
        let conn = ensure_conn(self)?;
        let mut tx = conn.client.transaction().map_err(err)?;
        let mut added = 0;
        for r in rows {
            added += tx
                .execute(
                    crate::health::UPSERT,
                    &[
                        &r.cid,
                        &r.sensor,
                        &r.hour_ms,
                        &r.reads,
                        &r.crc,
                        &r.empty,
                        &r.reset,
                        &r.other,
                        &r.retries,
                        &r.read_ms,
                        &r.period_ms,
                        &r.last_report,
                    ],
                )
                .map_err(err)? as usize;
        }
        tx.commit().map_err(err)?;
        Ok(added)
    }

    fn health_since(&mut self, since_ms: i64) -> Result<Vec<HealthRow>, StoreError> {
        let location = self.location.clone();
        let conn = ensure_conn(self)?;
        let rows = conn
            .client
            .query(crate::health::SELECT, &[&since_ms])
            .map_err(|source| StoreError::Postgres { url: location, op: "read health", source })?;
        Ok(rows
            .iter()
            .map(|r| HealthRow {
                cid: r.get(0),
                sensor: r.get(1),
                hour_ms: r.get(2),
                reads: r.get(3),
                crc: r.get(4),
                empty: r.get(5),
                reset: r.get(6),
                other: r.get(7),
                retries: r.get(8),
                read_ms: r.get(9),
                period_ms: r.get(10),
                last_report: r.get(11),
            })
            .collect())
    }
}

fn ensure_conn(s: &mut PgStore) -> Result<&mut super::Conn, StoreError> {
    s.conn()
}
