//! The readings in the store's own row order, for exporters that follow the store: each reads the
//! rows after its cursor and moves the cursor (kept in `export_cursors`) once its far side took
//! them. Rows get ascending ids in commit order, so "after id N" never skips a reading committed
//! later: SQLite has one writer at a time (each commit is an IMMEDIATE transaction, which takes the
//! write lock before it takes an id, across processes too), and PostgreSQL's commits (the sink,
//! another server, `import-csv`) take one advisory lock first (`pg::COMMIT_LOCK_KEY`).

use crate::StoredReading;

/// One reading with its place in the store's row order.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedRow {
    /// The row's id: ascending in commit order, never reused while a higher one exists.
    pub id: i64,
    /// The reading as stored (raw: calibration is applied by whoever shows it).
    pub reading: StoredReading,
}

/// How far a cursor is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FeedLag {
    /// Raw readings after the cursor.
    pub readings: u64,
    /// When the first of them was received (Unix ms), if any.
    pub oldest_received_ms: Option<i64>,
    /// The highest row id in the store (0 when it holds no readings). Below a cursor only when
    /// the newest readings were deleted since (SQLite may then give their ids out again): the
    /// cursor must come down to it.
    pub last_id: i64,
}

/// The rows after `?1`, oldest first, at most `?2`, with their client and sensor names.
pub(crate) fn after_sql(p: fn(usize) -> String) -> String {
    format!(
        "SELECT r.id, r.sampled_ms, r.received_ms, n.cid, s.sensor, CAST(r.milli_c AS BIGINT), r.error, r.seq, \
         CAST(r.ts_quality AS BIGINT) \
         FROM readings r JOIN nodes n ON n.id = r.node JOIN sensors s ON s.id = r.sensor \
         WHERE r.id > {} ORDER BY r.id LIMIT {}",
        p(1),
        p(2)
    )
}

/// The first reading after `?1` and the highest id: [`FeedLag`] without the count.
pub(crate) fn lag_sql(p: fn(usize) -> String) -> String {
    format!(
        "SELECT (SELECT received_ms FROM readings WHERE id > {0} ORDER BY id LIMIT 1), \
         (SELECT coalesce(max(id), 0) FROM readings), (SELECT count(*) FROM readings WHERE id > {0})",
        p(1)
    )
}

/// Now, Unix ms: when a cursor was saved (for a person looking at the table).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
