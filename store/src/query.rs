//! The read side's SQL, written once for both backends, and the decoding of its rows. They differ
//! in how a parameter is spelt and in the index that serves a time range (see [`Layout`]). Every
//! integer column comes back as BIGINT so one decoder serves both. Queries over several series
//! loop over the nodes or sensors and read each one's range of that index (`CROSS JOIN`: SQLite
//! keeps that loop order), so a short time range never scans the whole table.

use crate::group::{align_down, align_up, HOUR_MS};
use crate::{Bucket, BucketSource, ReadingQuery, StoreError, StoredReading, TsQuality};
use cliser_protocol::{Celsius, ClientId, ErrorReason, SensorId, Value};
use std::time::Duration;

/// A query parameter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Int(i64),
    Text(String),
}

/// SQL text and its parameters, numbered in order.
#[derive(Debug)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<Param>,
    /// Set when the query is about one sensor of one client: its rows then carry NULL for the
    /// cid and sensor columns (the names are these), which spares sending them with every row.
    pub series: Option<(ClientId, SensorId)>,
}

impl Sql {
    pub fn plain(text: &str) -> Sql {
        Sql { text: text.to_owned(), params: Vec::new(), series: None }
    }
}

/// Which index holds the raw readings in time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `(sensor, sampled_ms, id)`: one sensor's range is read alone.
    BySensor,
    /// `(node, sampled_ms, sensor, id)`: a client's readings of one poll sit together, so a commit
    /// touches one index page per client; one sensor's range is read among its client's others.
    ByNode,
}

/// What a backend's SQL needs to know.
pub(crate) struct Dialect {
    /// How the n-th parameter (1-based) is written: `?1` for SQLite, `$1` for PostgreSQL.
    pub placeholder: fn(usize) -> String,
    pub layout: Layout,
}

impl Dialect {
    /// The FROM and WHERE start of a query over readings `r` joined to their sensor `s` and node
    /// `n`, looping over the series of the index.
    fn readings_source(&self) -> &'static str {
        match self.layout {
            Layout::BySensor => {
                "FROM sensors s CROSS JOIN readings r JOIN nodes n ON n.id = s.node WHERE r.sensor = s.id"
            }
            Layout::ByNode => {
                "FROM nodes n CROSS JOIN readings r JOIN sensors s ON s.id = r.sensor WHERE r.node = n.id"
            }
        }
    }
}

struct Builder<'a> {
    dialect: &'a Dialect,
    params: Vec<Param>,
}

impl Builder<'_> {
    fn bind(&mut self, p: Param) -> String {
        self.params.push(p);
        (self.dialect.placeholder)(self.params.len())
    }

    /// The filters on client and sensor, as `AND ...` clauses.
    fn who(&mut self, q: &ReadingQuery) -> String {
        let mut s = String::new();
        if let Some(cid) = &q.cid {
            s += &format!(" AND n.cid = {}", self.bind(Param::Text(cid.to_string())));
        }
        if let Some(sensor) = &q.sensor {
            s += &format!(" AND s.sensor = {}", self.bind(Param::Text(sensor.to_string())));
        }
        s
    }

    fn limit(&mut self, q: &ReadingQuery) -> String {
        match q.limit {
            Some(n) => format!(" LIMIT {}", self.bind(Param::Int(i64::try_from(n).unwrap_or(i64::MAX)))),
            None => String::new(),
        }
    }
}

/// Raw readings in time order (ties in insertion order).
pub(crate) fn readings(dialect: &Dialect, q: &ReadingQuery) -> Sql {
    let mut b = Builder { dialect, params: Vec::new() };
    let since = b.bind(Param::Int(q.since_ms.unwrap_or(i64::MIN)));
    let until = b.bind(Param::Int(q.until_ms.unwrap_or(i64::MAX)));
    if let (Some(cid), Some(sensor)) = (&q.cid, &q.sensor) {
        // One series: its ids first, then one range of the index, which is in time order (a join
        // would hide that order and cost a sort).
        let c = b.bind(Param::Text(cid.to_string()));
        let s = b.bind(Param::Text(sensor.to_string()));
        let limit = b.limit(q);
        let sensor_id = format!(
            "(SELECT s.id FROM sensors s JOIN nodes n ON n.id = s.node WHERE n.cid = {c} AND s.sensor = {s})"
        );
        let series = match dialect.layout {
            Layout::BySensor => format!("r.sensor = {sensor_id}"),
            Layout::ByNode => {
                format!("r.node = (SELECT id FROM nodes WHERE cid = {c}) AND r.sensor = {sensor_id}")
            }
        };
        let text = format!(
            "SELECT r.sampled_ms, r.received_ms, NULL, NULL, CAST(r.milli_c AS BIGINT), r.error, r.seq, \
             CAST(r.ts_quality AS BIGINT) \
             FROM readings r WHERE {series} AND r.sampled_ms >= {since} AND r.sampled_ms < {until} \
             ORDER BY r.sampled_ms, r.id{limit}"
        );
        return Sql { text, params: b.params, series: Some((cid.clone(), sensor.clone())) };
    }
    let who = b.who(q);
    let limit = b.limit(q);
    let from = dialect.readings_source();
    let text = format!(
        "SELECT r.sampled_ms, r.received_ms, n.cid, s.sensor, CAST(r.milli_c AS BIGINT), r.error, r.seq, \
         CAST(r.ts_quality AS BIGINT) {from} AND r.sampled_ms >= {since} AND r.sampled_ms < {until}{who} \
         ORDER BY r.sampled_ms, r.id{limit}"
    );
    Sql { text, params: b.params, series: None }
}

/// Bucket statistics per sensor; see [`Bucket`] for the alignment.
pub(crate) fn buckets(
    dialect: &Dialect,
    q: &ReadingQuery,
    every: Duration,
    source: BucketSource,
) -> Result<Sql, StoreError> {
    let every_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX);
    if every_ms <= 0 {
        return Err(StoreError::BadQuery(format!("bucket length {every:?} is under a millisecond")));
    }
    let whole_hours = every_ms % HOUR_MS == 0;
    let rollups = match source {
        BucketSource::Auto => whole_hours,
        BucketSource::Rollups if !whole_hours => {
            return Err(StoreError::BadQuery(format!(
                "buckets of {every:?} cannot come from the hourly rollups (not a whole number of hours)"
            )));
        }
        BucketSource::Rollups => true,
        BucketSource::Raw => false,
    };
    let lo = align_down(q.since_ms.unwrap_or(i64::MIN), every_ms);
    let hi = align_up(q.until_ms.unwrap_or(i64::MAX), every_ms);
    let mut b = Builder { dialect, params: Vec::new() };
    let e = b.bind(Param::Int(every_ms));
    let (lo, hi) = (b.bind(Param::Int(lo)), b.bind(Param::Int(hi)));
    let who = b.who(q);
    let limit = b.limit(q);
    let from = dialect.readings_source();
    let text = if rollups {
        format!(
            "SELECT n.cid, s.sensor, u.hour_ms - ((u.hour_ms % {e}) + {e}) % {e} AS b, \
             CAST(MIN(u.min_milli_c) AS BIGINT), CAST(MAX(u.max_milli_c) AS BIGINT), \
             CAST(SUM(u.sum_milli_c) AS BIGINT), CAST(SUM(u.n) AS BIGINT), CAST(SUM(u.errors) AS BIGINT) \
             FROM sensors s CROSS JOIN rollups u JOIN nodes n ON n.id = s.node \
             WHERE u.sensor = s.id AND u.hour_ms >= {lo} AND u.hour_ms < {hi}{who} \
             GROUP BY n.cid, s.sensor, b ORDER BY n.cid, s.sensor, b{limit}"
        )
    } else {
        format!(
            "SELECT n.cid, s.sensor, r.sampled_ms - ((r.sampled_ms % {e}) + {e}) % {e} AS b, \
             CAST(MIN(r.milli_c) AS BIGINT), CAST(MAX(r.milli_c) AS BIGINT), \
             CAST(SUM(r.milli_c) AS BIGINT), CAST(COUNT(r.milli_c) AS BIGINT), CAST(COUNT(r.error) AS BIGINT) \
             {from} AND r.sampled_ms >= {lo} AND r.sampled_ms < {hi}{who} \
             GROUP BY n.cid, s.sensor, b ORDER BY n.cid, s.sensor, b{limit}"
        )
    };
    Ok(Sql { text, params: b.params, series: None })
}

/// Every reading in insertion order, columns as [`readings`].
pub(crate) const EXPORT: &str =
    "SELECT r.sampled_ms, r.received_ms, n.cid, s.sensor, CAST(r.milli_c AS BIGINT), r.error, r.seq, \
     CAST(r.ts_quality AS BIGINT) FROM readings r JOIN sensors s ON s.id = r.sensor JOIN nodes n ON n.id = s.node ORDER BY r.id";

/// Nodes not forgotten: cid, first seen, last seen, high water.
pub(crate) const NODES: &str =
    "SELECT cid, first_seen_ms, last_seen_ms, high_water FROM nodes WHERE forgotten_ms IS NULL ORDER BY cid";

/// Sensors not forgotten (nor their node): cid, sensor, first seen, last seen, and the last
/// reading's time, value, error, seq.
pub(crate) const SENSORS: &str =
    "SELECT n.cid, s.sensor, s.first_seen_ms, s.last_seen_ms, s.last_sampled_ms, \
     CAST(s.last_milli_c AS BIGINT), s.last_error, s.last_seq \
     FROM sensors s JOIN nodes n ON n.id = s.node \
     WHERE s.forgotten_ms IS NULL AND n.forgotten_ms IS NULL ORDER BY n.cid, s.sensor";

/// A reading's columns as a query gives them back, in this order from some column on: the
/// sample and receive times, the client and sensor names (NULL in a query of one series), the
/// temperature or the error reason, the seq and the timestamp quality code. Each backend reads
/// one from its row type; [`Decoder::reading`] makes it a reading.
pub(crate) struct ReadingRow<'a> {
    pub sampled_ms: i64,
    pub received_ms: i64,
    pub cid: Option<&'a str>,
    pub sensor: Option<&'a str>,
    pub milli_c: Option<i64>,
    pub error: Option<String>,
    pub seq: Option<i64>,
    pub ts_quality: i64,
}

/// Turns stored columns back into typed values, naming the database when they do not fit.
pub(crate) struct Decoder<'a> {
    pub location: &'a str,
}

impl Decoder<'_> {
    fn bad(&self, detail: String) -> StoreError {
        StoreError::BadData { location: self.location.to_owned(), detail }
    }

    pub fn cid(&self, s: &str) -> Result<ClientId, StoreError> {
        ClientId::new(s).map_err(|e| self.bad(format!("client id {s:?}: {e}")))
    }

    pub fn sensor(&self, s: &str) -> Result<SensorId, StoreError> {
        SensorId::new(s).map_err(|e| self.bad(format!("sensor id {s:?}: {e}")))
    }

    pub fn celsius(&self, m: i64) -> Result<Celsius, StoreError> {
        i32::try_from(m)
            .ok()
            .and_then(Celsius::from_millis)
            .ok_or_else(|| self.bad(format!("{m} millidegrees is out of range")))
    }

    fn mean(&self, sum: i64, count: i64) -> Result<Option<Celsius>, StoreError> {
        if count == 0 {
            return Ok(None);
        }
        let v = sum as f64 / count as f64 / 1000.0;
        Celsius::new(v).map(Some).ok_or_else(|| self.bad(format!("mean {v} out of range")))
    }

    pub fn value(&self, milli_c: Option<i64>, error: Option<String>) -> Result<Value, StoreError> {
        match (milli_c, error) {
            (Some(m), None) => Ok(Value::Celsius(self.celsius(m)?)),
            (None, Some(e)) => ErrorReason::new(&e)
                .map(Value::Error)
                .map_err(|x| self.bad(format!("error reason {e:?}: {x}"))),
            (m, e) => Err(self.bad(format!("a reading with value {m:?} and error {e:?}"))),
        }
    }

    pub fn seq(&self, s: Option<i64>) -> Result<Option<u64>, StoreError> {
        s.map(|v| u64::try_from(v).map_err(|_| self.bad(format!("negative seq {v}")))).transpose()
    }

    /// A row of [`readings`], [`EXPORT`] or the feed; `series` is that of the [`Sql`] (the names
    /// when the row's are NULL).
    pub fn reading(
        &self,
        series: Option<&(ClientId, SensorId)>,
        row: ReadingRow<'_>,
    ) -> Result<StoredReading, StoreError> {
        let ReadingRow { sampled_ms, received_ms, cid, sensor, milli_c, error, seq, ts_quality } = row;
        let (cid, sensor) = match (series, cid, sensor) {
            (_, Some(c), Some(s)) => (self.cid(c)?, self.sensor(s)?),
            (Some((c, s)), _, _) => (c.clone(), s.clone()),
            _ => return Err(self.bad("a reading without client or sensor".into())),
        };
        Ok(StoredReading {
            cid,
            sensor,
            value: self.value(milli_c, error)?,
            sampled_ms,
            received_ms,
            seq: self.seq(seq)?,
            ts_quality: TsQuality::from_code(ts_quality)
                .ok_or_else(|| self.bad(format!("timestamp quality code {ts_quality}")))?,
        })
    }

    /// A row of [`buckets`].
    #[allow(clippy::too_many_arguments)]
    pub fn bucket(
        &self,
        cid: &str,
        sensor: &str,
        start_ms: i64,
        min: Option<i64>,
        max: Option<i64>,
        sum: Option<i64>,
        count: i64,
        errors: i64,
    ) -> Result<Bucket, StoreError> {
        Ok(Bucket {
            cid: self.cid(cid)?,
            sensor: self.sensor(sensor)?,
            start_ms,
            min: min.map(|m| self.celsius(m)).transpose()?,
            mean: self.mean(sum.unwrap_or(0), count)?,
            max: max.map(|m| self.celsius(m)).transpose()?,
            count: count.max(0) as u64,
            errors: errors.max(0) as u64,
        })
    }
}
