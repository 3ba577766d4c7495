//! The sensors' bus health per hour ([`HealthLog`](crate::HealthLog)): what the clients' health
//! reports say, summed per (client, sensor, hour).

/// One hour of one sensor's health, as added and as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthRow {
    /// The client id.
    pub cid: String,
    /// The sensor id.
    pub sensor: String,
    /// The hour's start, Unix ms (a whole hour): the hour the reports' periods ended in.
    pub hour_ms: i64,
    /// Reads.
    pub reads: i64,
    /// CRC errors (after the hal's retry) and known phantoms.
    pub crc: i64,
    /// Empty reads (the sensor's file empty or gone).
    pub empty: i64,
    /// 85 °C power-on values.
    pub reset: i64,
    /// Every other error.
    pub other: i64,
    /// The reads' time, summed, ms.
    pub read_ms: i64,
    /// The reports' periods, summed, ms.
    pub period_ms: i64,
    /// The newest report's id added to the row (to add: the report's id; a report whose id is at
    /// or below the row's is a repeat and is not added).
    pub last_report: i64,
}

impl HealthRow {
    /// All errors.
    pub fn errors(&self) -> i64 {
        self.crc + self.empty + self.reset + self.other
    }
}

/// One hour, in ms.
pub const HOUR_MS: i64 = 3_600_000;

/// The start of the hour `ms` is in.
pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// Adds a report to its hour, unless the row already took one with this id or a later one.
/// One text for both dialects: SQLite takes `$N` as parameter N when they come in order.
pub(crate) const UPSERT: &str = "INSERT INTO sensor_health \
     (cid, sensor, hour_ms, reads, crc, empty, reset, other, read_ms, period_ms, last_report) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
     ON CONFLICT (cid, sensor, hour_ms) DO UPDATE SET \
     reads = sensor_health.reads + excluded.reads, crc = sensor_health.crc + excluded.crc, \
     empty = sensor_health.empty + excluded.empty, reset = sensor_health.reset + excluded.reset, \
     other = sensor_health.other + excluded.other, read_ms = sensor_health.read_ms + excluded.read_ms, \
     period_ms = sensor_health.period_ms + excluded.period_ms, last_report = excluded.last_report \
     WHERE excluded.last_report > sensor_health.last_report";

/// The hours from `$1` on.
pub(crate) const SELECT: &str =
    "SELECT cid, sensor, hour_ms, reads, crc, empty, reset, other, read_ms, period_ms, \
     last_report FROM sensor_health WHERE hour_ms >= $1 ORDER BY cid, sensor, hour_ms";
