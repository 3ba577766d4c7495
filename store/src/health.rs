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
    /// Reads that failed their CRC and were read again (not errors; a failed retry is also a CRC
    /// error).
    pub retries: i64,
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
     (cid, sensor, hour_ms, reads, crc, empty, reset, other, retries, read_ms, period_ms, last_report) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
     ON CONFLICT (cid, sensor, hour_ms) DO UPDATE SET \
     reads = sensor_health.reads + excluded.reads, crc = sensor_health.crc + excluded.crc, \
     empty = sensor_health.empty + excluded.empty, reset = sensor_health.reset + excluded.reset, \
     other = sensor_health.other + excluded.other, retries = sensor_health.retries + excluded.retries, \
     read_ms = sensor_health.read_ms + excluded.read_ms, \
     period_ms = sensor_health.period_ms + excluded.period_ms, last_report = excluded.last_report \
     WHERE excluded.last_report > sensor_health.last_report";

/// The hours from `$1` on.
pub(crate) const SELECT: &str =
    "SELECT cid, sensor, hour_ms, reads, crc, empty, reset, other, retries, read_ms, period_ms, \
     last_report FROM sensor_health WHERE hour_ms >= $1 ORDER BY cid, sensor, hour_ms";

/// The hour rows that overlap the 60 minutes before `now_ms` start here: "the last hour" of the
/// console's `N`, the page and `/api/health` is the current hour's row and the one before (60 to
/// 120 minutes of reports, as the rows are whole hours).
pub fn last_hour_since(now_ms: i64) -> i64 {
    hour_of(now_ms - HOUR_MS)
}

/// A sensor's error rate above this fraction (1 %) is marked on the page and in the console.
pub const MARK_ABOVE: f64 = 0.01;

/// One sensor's health rows summed (e.g. over [`last_hour_since`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthSum {
    /// The client id.
    pub cid: String,
    /// The sensor id.
    pub sensor: String,
    /// Reads.
    pub reads: i64,
    /// CRC errors.
    pub crc: i64,
    /// Empty reads.
    pub empty: i64,
    /// 85 °C power-on values.
    pub reset: i64,
    /// Every other error.
    pub other: i64,
    /// Retried reads.
    pub retries: i64,
    /// The reads' time, summed, ms.
    pub read_ms: i64,
}

impl HealthSum {
    /// A sensor with no reads counted yet.
    pub fn nothing(cid: &str, sensor: &str) -> HealthSum {
        HealthSum {
            cid: cid.to_owned(),
            sensor: sensor.to_owned(),
            reads: 0,
            crc: 0,
            empty: 0,
            reset: 0,
            other: 0,
            retries: 0,
            read_ms: 0,
        }
    }

    /// The rows (ordered by cid and sensor, as [`HealthLog::health_since`](crate::HealthLog::health_since)
    /// gives them) summed per sensor, in the same order.
    pub fn of(rows: &[HealthRow]) -> Vec<HealthSum> {
        let mut out: Vec<HealthSum> = Vec::new();
        for r in rows {
            let same = out.last().is_some_and(|s| s.cid == r.cid && s.sensor == r.sensor);
            if !same {
                out.push(HealthSum::nothing(&r.cid, &r.sensor));
            }
            if let Some(s) = out.last_mut() {
                s.reads += r.reads;
                s.crc += r.crc;
                s.empty += r.empty;
                s.reset += r.reset;
                s.other += r.other;
                s.retries += r.retries;
                s.read_ms += r.read_ms;
            }
        }
        out
    }

    /// All errors.
    pub fn errors(&self) -> i64 {
        self.crc + self.empty + self.reset + self.other
    }

    /// Errors per read (0 without reads).
    pub fn error_rate(&self) -> f64 {
        if self.reads == 0 {
            0.0
        } else {
            self.errors() as f64 / self.reads as f64
        }
    }

    /// Whether the rate is above [`MARK_ABOVE`].
    pub fn marked(&self) -> bool {
        self.error_rate() > MARK_ABOVE
    }

    /// The mean read time, ms (0 without reads).
    pub fn mean_read_ms(&self) -> f64 {
        if self.reads == 0 {
            0.0
        } else {
            self.read_ms as f64 / self.reads as f64
        }
    }

    /// The errors by reason, the reasons with none left out: `[("crc", 10)]`.
    pub fn reasons(&self) -> Vec<(&'static str, i64)> {
        [("crc", self.crc), ("empty", self.empty), ("reset", self.reset), ("other", self.other)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// The hours that ended at or before `$1`, at most `$2` of them.
pub(crate) const PRUNE: &str = "DELETE FROM sensor_health WHERE (cid, sensor, hour_ms) IN \
     (SELECT cid, sensor, hour_ms FROM sensor_health WHERE hour_ms + 3600000 <= $1 LIMIT $2)";

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cid: &str, sensor: &str, hour_ms: i64, reads: i64, crc: i64) -> HealthRow {
        HealthRow {
            cid: cid.into(),
            sensor: sensor.into(),
            hour_ms,
            reads,
            crc,
            empty: 0,
            reset: 0,
            other: 0,
            retries: crc * 2,
            read_ms: reads * 12,
            period_ms: 1,
            last_report: 1,
        }
    }

    #[test]
    fn sums_per_sensor_with_the_rate_and_the_mark() {
        let rows = [row("a", "t", 0, 100, 5), row("a", "t", HOUR_MS, 100, 5), row("a", "u", 0, 100, 1)];
        let sums = HealthSum::of(&rows);
        assert_eq!(sums.len(), 2);
        assert_eq!((sums[0].reads, sums[0].crc, sums[0].error_rate()), (200, 10, 0.05));
        assert!(sums[0].marked() && !sums[1].marked(), "1 % is not above 1 %");
        assert_eq!(sums[0].mean_read_ms(), 12.0);
        assert_eq!((sums[0].retries, sums[1].retries), (20, 2));
        assert_eq!(sums[0].reasons(), [("crc", 10)]);
        assert_eq!(last_hour_since(5 * HOUR_MS + 10), 4 * HOUR_MS);
    }
}
