//! `GET /api/readings?cid=&sensor=&series=&since=&until=&every=&format=`: raw points, or buckets
//! of min, mean, max and count when `every` is given or the range holds more than [`RAW_LIMIT`]
//! readings; as JSON, or with `format=csv` the same selection as a CSV file to download. `sensor`
//! is an id or a name from the config's `[sensors]`; one that is neither is a `404` naming the
//! names (a `400` when it cannot even be an id), never an empty answer. A name spans its whole
//! `replaces` series; an id is that sensor alone, unless `series=true` asks for the series it is
//! of (the page's way: it knows ids, and a series need not have a name).

use crate::http::{query_pairs, Response};
use crate::json::degrees;
use crate::store_pool::StorePool;
use cliser_common::sensor_names::{self, LookupError, Resolved, SensorError};
use cliser_common::sensors::Settings;
use cliser_protocol::{Celsius, ClientId, SensorId, Value};
use cliser_store::{Bucket, BucketSource, History, ReadingQuery, StoreError, StoredReading, TsQuality};
use serde_json::{json, Value as Json};
use std::time::{Duration, SystemTime};

/// More raw readings than this in the range and the answer is bucketed.
pub const RAW_LIMIT: usize = 10_000;
/// An automatic bucket length gives at most about this many buckets per sensor.
const AUTO_BUCKETS: u64 = 1_000;
/// Bucket lengths chosen automatically: whole hours and more read the hourly rollups.
const LADDER: &[u64] = &[10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 7 * 86_400];
/// The shortest bucket asked for with `every`.
const MIN_EVERY: Duration = Duration::from_secs(1);
/// At most this many buckets per answer.
const MAX_BUCKETS: usize = 100_000;

/// A request's parameters, checked.
#[derive(Debug, PartialEq)]
pub struct Params {
    cid: ClientId,
    /// As given: an id or a name, looked up with the settings in force when answering.
    sensor: Option<String>,
    since_ms: i64,
    until_ms: i64,
    every: Option<Duration>,
    /// The values as stored, without the config file's calibration.
    raw: bool,
    /// `sensor` an id: the whole `replaces` series it is of, as its name would give it.
    series: bool,
    /// JSON, or CSV to download.
    format: Format,
}

/// How the answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json` (the default).
    Json,
    /// `text/csv`, as an attachment.
    Csv,
}

/// Unix ms of a point in time as the API takes it: Unix ms (digits only), a duration ago (`24h`)
/// or an RFC 3339 time.
pub fn point_in_time(name: &str, text: &str, now: SystemTime) -> Result<i64, PointInTimeError> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map_err(|_| PointInTimeError::TooLarge { name: name.to_owned(), text: text.to_owned() });
    }
    Ok(cliser_common::when::parse(name, text, now)?)
}

/// Why a parameter is not a point in time; the text names the parameter and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointInTimeError {
    /// Digits, but more milliseconds than fit.
    #[error("{name} {text:?}: too large for Unix ms")]
    TooLarge {
        /// The parameter.
        name: String,
        /// The value given.
        text: String,
    },
    /// Neither a duration ago nor a time.
    #[error(transparent)]
    When(#[from] cliser_common::when::WhenError),
}

/// A `400` naming the parameter.
fn bad(parameter: &str, message: String) -> Response {
    Response::error(400, &message, Some(parameter))
}

/// Checks the query string against `now`.
pub fn params(query: &str, now: SystemTime) -> Result<Params, Response> {
    let pairs = query_pairs(query).map_err(|e| bad(&e.name, e.to_string()))?;
    let (mut cid, mut sensor, mut since, mut until, mut every, mut raw, mut format, mut series) =
        (None, None, None, None, None, None, None, None);
    for (k, v) in pairs {
        let slot = match k.as_str() {
            "cid" => &mut cid,
            "sensor" => &mut sensor,
            "since" => &mut since,
            "until" => &mut until,
            "every" => &mut every,
            "raw" => &mut raw,
            "format" => &mut format,
            "series" => &mut series,
            _ => {
                return Err(bad(
                    &k,
                    format!(
                        "unknown parameter {k:?} (cid, sensor, series, since, until, every, raw, format)"
                    ),
                ))
            }
        };
        if slot.replace(v).is_some() {
            return Err(bad(&k, format!("{k} given twice")));
        }
    }
    let cid = match cid {
        Some(c) => ClientId::new(&c).map_err(|e| bad("cid", format!("cid {c:?}: {e}")))?,
        None => return Err(bad("cid", "cid is required".into())),
    };
    let sensor = sensor.filter(|s| !s.is_empty());
    let when = |name: &str, text: Option<String>, default: &str| {
        let text = text.filter(|t| !t.is_empty()).unwrap_or_else(|| default.to_owned());
        point_in_time(name, &text, now).map_err(|e| bad(name, e.to_string()))
    };
    let flag = |name: &str, text: Option<String>| match text.as_deref() {
        None | Some("" | "0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(other) => Err(bad(name, format!("{name} {other:?}: expected true or false"))),
    };
    let raw = flag("raw", raw)?;
    let series = flag("series", series)?;
    if series && sensor.is_none() {
        return Err(bad("series", "series=true needs a sensor= (an id or a name)".into()));
    }
    let format = match format.as_deref() {
        None | Some("" | "json") => Format::Json,
        Some("csv") => Format::Csv,
        Some(other) => return Err(bad("format", format!("format {other:?}: expected json or csv"))),
    };
    let since_ms = when("since", since, "24h")?;
    let until_ms = when("until", until, "0s")?;
    if since_ms >= until_ms {
        return Err(bad("since", format!("since ({since_ms}) must be before until ({until_ms})")));
    }
    let every = match every.filter(|e| !e.is_empty()) {
        Some(e) => {
            let d = cliser_common::duration::parse(&e)
                .map_err(|err| bad("every", format!("every {e:?}: {err}")))?;
            if d < MIN_EVERY {
                return Err(bad("every", format!("every {e:?}: at least 1s")));
            }
            let n = (until_ms - since_ms) as u128 / d.as_millis().max(1);
            if n > MAX_BUCKETS as u128 {
                return Err(bad("every", format!("every {e:?} gives {n} buckets; at most {MAX_BUCKETS}")));
            }
            Some(d)
        }
        None => None,
    };
    Ok(Params { cid, sensor, since_ms, until_ms, every, raw, series, format })
}

/// The bucket length chosen for a range with too many readings.
pub fn auto_every(span_ms: i64) -> Duration {
    let want = (span_ms.max(0) as u64).div_ceil(1000 * AUTO_BUCKETS);
    let secs = LADDER.iter().copied().find(|&s| s >= want).unwrap_or(*LADDER.last().unwrap_or(&86_400));
    Duration::from_secs(secs)
}

/// What a request selects: raw readings, or buckets when asked or when there are too many.
enum Selection {
    Raw(Vec<StoredReading>),
    Buckets { every: Duration, auto: bool, rows: Vec<Bucket> },
}

/// `members`: the ids of a `replaces` series asked for by its name (oldest first), each read up to
/// the next one's first reading; empty for one sensor or all.
fn select(
    p: &Params,
    sensor: Option<SensorId>,
    members: &[SensorId],
    store: &mut dyn History,
) -> Result<Selection, StoreError> {
    let q = ReadingQuery {
        cid: Some(p.cid.clone()),
        sensor,
        since_ms: Some(p.since_ms),
        until_ms: Some(p.until_ms),
        limit: None,
    };
    let (every, auto) = match p.every {
        Some(e) => (e, false),
        None => {
            let first = ReadingQuery { limit: Some(RAW_LIMIT + 1), ..q.clone() };
            let raw = match members {
                [] => store.readings(&first)?,
                m => cliser_store::series_readings(store, m, &first)?,
            };
            if raw.len() <= RAW_LIMIT {
                return Ok(Selection::Raw(raw));
            }
            (auto_every(p.until_ms - p.since_ms), true)
        }
    };
    let rows = match members {
        [] => store.buckets_from(&q, every, BucketSource::Auto)?,
        m => cliser_store::series_buckets(store, m, &q, every, BucketSource::Auto)?,
    };
    Ok(Selection::Buckets { every, auto, rows })
}

impl Selection {
    fn is_empty(&self) -> bool {
        match self {
            Selection::Raw(rows) => rows.is_empty(),
            Selection::Buckets { rows, .. } => rows.is_empty(),
        }
    }
}

/// The store's sensors as (client id, sensor id), for a name on several sensors and the errors.
fn seen(store: &mut dyn History) -> Result<Vec<(String, String)>, StoreError> {
    Ok(store.sensors()?.into_iter().map(|s| (s.cid.to_string(), s.sensor.to_string())).collect())
}

/// A sensor that cannot be answered for: `404` when it is unknown, `400` when it cannot even be an
/// id or is a name on several sensors.
fn refuse(e: SensorError) -> Response {
    let status = match &e {
        SensorError::Unknown { .. } if !e.is_malformed() => 404,
        _ => 400,
    };
    Response::error(status, &format!("sensor: {e}"), Some("sensor"))
}

/// What a request found: the sensor asked for (for a name of a `replaces` series, the id in
/// service), the series' ids when it is one (else empty), and the selection.
type Found = (Option<SensorId>, Vec<SensorId>, Selection);

/// The sensor asked for (looked up with `names`, the settings in force) and what it selects; the
/// outer error is the store's, the inner one a refusal.
fn lookup_and_select(
    p: &Params,
    names: &Settings,
    store: &mut dyn History,
) -> Result<Result<Found, Response>, StoreError> {
    let cid = Some(p.cid.as_str());
    let resolved = match &p.sensor {
        Some(given) => match sensor_names::resolve(names, given, cid, &mut || seen(&mut *store)) {
            Ok(r) => Some(r),
            Err(LookupError::Store(e)) => return Err(e),
            Err(LookupError::Sensor(e)) => return Ok(Err(refuse(e))),
        },
        None => None,
    };
    // `series=true` on an id: its series, as the series' name would give it.
    let resolved = resolved.map(|r| {
        if !p.series || r.members.len() > 1 {
            return r;
        }
        let members = names.series_members(&r.id);
        let known = r.known || members.len() > 1;
        Resolved { id: names.current_of(&r.id).to_owned(), members, known }
    });
    let sensor = match resolved.as_ref().map(|r| SensorId::new(&r.id)).transpose() {
        Ok(s) => s,
        // A `[sensors]` table whose key is no id a Pi could send.
        Err(e) => {
            return Ok(Err(bad(
                "sensor",
                format!("sensor {:?}: {e}", p.sensor.as_deref().unwrap_or_default()),
            )))
        }
    };
    let members: Vec<SensorId> = match &resolved {
        Some(r) if r.members.len() > 1 => r.members.iter().filter_map(|m| SensorId::new(m).ok()).collect(),
        _ => Vec::new(),
    };
    let selection = select(p, sensor.clone(), &members, store)?;
    // Nothing found: an empty answer only for a sensor that exists (asked only now, so a request
    // that finds readings costs nothing more).
    if let (true, Some(given), Some(r)) = (selection.is_empty(), &p.sensor, &resolved) {
        match sensor_names::check_known(names, given, r, cid, &mut || seen(&mut *store)) {
            Ok(()) => {}
            Err(LookupError::Store(e)) => return Err(e),
            Err(LookupError::Sensor(e)) => return Ok(Err(refuse(e))),
        }
    }
    Ok(Ok((sensor, members, selection)))
}

/// Answers a request.
pub fn answer(p: &Params, pool: &StorePool, settings: &Settings) -> Response {
    let (sensor, members, selection) =
        match pool.with("/api/readings", |store| lookup_and_select(p, settings, store)) {
            Ok(Ok(found)) => found,
            Ok(Err(refused)) | Err(refused) => return refused,
        };
    let none = Settings::default();
    let settings = if p.raw { &none } else { settings };
    match p.format {
        Format::Json => {
            let mut body = match &selection {
                Selection::Raw(rows) => raw_json(p, rows, settings),
                Selection::Buckets { every, auto, rows } => buckets_json(p, *every, *auto, rows, settings),
            };
            if let Some(current) = sensor.as_ref().filter(|_| !members.is_empty()) {
                one_series(&mut body, current, &members);
            }
            Response::new(200, "application/json", body.to_string())
        }
        Format::Csv => {
            let text = match &selection {
                Selection::Raw(rows) => raw_csv(rows, settings),
                Selection::Buckets { rows, .. } => buckets_csv(rows, settings),
            };
            let file = match &sensor {
                Some(s) => format!("cliser-{}-{s}.csv", p.cid),
                None => format!("cliser-{}.csv", p.cid),
            };
            // Ids are [A-Za-z0-9._-]: nothing to escape in the file name.
            Response::new(200, "text/csv; charset=utf-8", text)
                .with("Content-Disposition", format!("attachment; filename=\"{file}\""))
        }
    }
}

/// One CSV field: quoted when it holds a comma, a quote or a line break (RFC 4180).
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn csv_degrees(c: Option<Celsius>) -> String {
    c.map(|c| ((c.degrees() * 1000.0).round() / 1000.0).to_string()).unwrap_or_default()
}

/// Unix ms as an RFC 3339 UTC time, for a spreadsheet to read.
fn csv_time(ms: i64) -> String {
    cliser_common::when::Rfc3339Ms(ms).to_string()
}

/// `cid,sensor,name,ts,time,value,error,ts_quality`, one line per reading, values calibrated
/// unless `raw`.
fn raw_csv(rows: &[StoredReading], settings: &Settings) -> String {
    let mut out = String::from("cid,sensor,name,ts,time,value,error,ts_quality\r\n");
    for r in rows {
        let (value, error) = match &r.value {
            Value::Celsius(c) => {
                (csv_degrees(Some(settings.calibrate(r.sensor.as_str(), *c))), String::new())
            }
            Value::Error(e) => (String::new(), e.to_string()),
        };
        let name = csv_field(settings.name(r.sensor.as_str()).unwrap_or(""));
        out.push_str(&format!(
            "{},{},{name},{},{},{value},{error},{}\r\n",
            r.cid,
            r.sensor,
            r.sampled_ms,
            csv_time(r.sampled_ms),
            r.ts_quality
        ));
    }
    out
}

/// `cid,sensor,name,start,time,min,mean,max,count,errors`, one line per bucket.
fn buckets_csv(rows: &[Bucket], settings: &Settings) -> String {
    let mut out = String::from("cid,sensor,name,start,time,min,mean,max,count,errors\r\n");
    for b in rows {
        let (lo, mean, hi) = calibrated(b, settings);
        let name = csv_field(settings.name(b.sensor.as_str()).unwrap_or(""));
        out.push_str(&format!(
            "{},{},{name},{},{},{},{},{},{},{}\r\n",
            b.cid,
            b.sensor,
            b.start_ms,
            csv_time(b.start_ms),
            csv_degrees(lo),
            csv_degrees(mean),
            csv_degrees(hi),
            b.count,
            b.errors
        ));
    }
    out
}

/// A bucket's min, mean and max calibrated; a falling two-point calibration turns the lowest raw
/// value into the highest true one.
fn calibrated(b: &Bucket, settings: &Settings) -> (Option<Celsius>, Option<Celsius>, Option<Celsius>) {
    let cal = |c: Option<Celsius>| c.map(|c| settings.calibrate(b.sensor.as_str(), c));
    let (mut lo, mean, mut hi) = (cal(b.min), cal(b.mean), cal(b.max));
    if let (Some(l), Some(h)) = (lo, hi) {
        if l.degrees() > h.degrees() {
            (lo, hi) = (Some(h), Some(l));
        }
    }
    (lo, mean, hi)
}

/// A `replaces` series asked for by name is one series in the answer: `sensor` the id in service,
/// `sensors` every id of it (oldest first), the points of each in turn (they follow in time, as
/// each id's part ends where the next one's begins).
fn one_series(body: &mut Json, current: &SensorId, members: &[SensorId]) {
    let Some(parts) = body["series"].as_array_mut().filter(|p| !p.is_empty()) else { return };
    let mut joined = parts[0].clone();
    let points: Vec<Json> =
        parts.iter().flat_map(|p| p["points"].as_array().cloned().unwrap_or_default()).collect();
    joined["points"] = Json::Array(points);
    joined["sensor"] = json!(current.as_str());
    joined["sensors"] = json!(members.iter().map(SensorId::as_str).collect::<Vec<_>>());
    *parts = vec![joined];
}

fn envelope(p: &Params, kind: &str, every: Option<Duration>, series: Vec<Json>) -> Json {
    json!({
        "cid": p.cid.as_str(),
        "since": p.since_ms,
        "until": p.until_ms,
        "kind": kind,
        "every": every.map(cliser_common::duration::format),
        "every_ms": every.map(|e| e.as_millis() as u64),
        "series": series,
    })
}

/// A raw point, `[ts, value, error, ts_quality]` with the trailing cells that hold their default
/// (no error, `synced`) left off: `[ts, value]`, `[ts, null, "crc"]`, `[ts, value, null,
/// "from_age"]`. Readings of older clients and of before the quality existed keep the shape
/// they always had, and a range of 10,000 points stays small.
fn raw_point(r: &StoredReading, settings: &Settings) -> Json {
    let mut point = vec![json!(r.sampled_ms)];
    match &r.value {
        Value::Celsius(c) => point.push(json!(degrees(settings.calibrate(r.sensor.as_str(), *c)))),
        Value::Error(e) => point.extend([Json::Null, json!(e.to_string())]),
    }
    if r.ts_quality != TsQuality::Synced {
        point.resize(3, Json::Null);
        point.push(json!(r.ts_quality.as_str()));
    }
    Json::Array(point)
}

fn raw_json(p: &Params, rows: &[StoredReading], settings: &Settings) -> Json {
    let mut series: Vec<(SensorId, Vec<Json>)> = Vec::new();
    for r in rows {
        let point = raw_point(r, settings);
        match series.iter_mut().find(|(s, _)| *s == r.sensor) {
            Some((_, points)) => points.push(point),
            None => series.push((r.sensor.clone(), vec![point])),
        }
    }
    let series = series
        .into_iter()
        .map(|(sensor, points)| {
            json!({
                "sensor": sensor.to_string(), "name": settings.name(sensor.as_str()),
                "columns": ["ts", "value", "error", "ts_quality"], "points": points,
            })
        })
        .collect();
    envelope(p, "raw", None, series)
}

fn buckets_json(p: &Params, every: Duration, auto: bool, rows: &[Bucket], settings: &Settings) -> Json {
    let mut series: Vec<(SensorId, Vec<Json>)> = Vec::new();
    for b in rows {
        let (lo, mean, hi) = calibrated(b, settings);
        let point =
            json!([b.start_ms, lo.map(degrees), mean.map(degrees), hi.map(degrees), b.count, b.errors]);
        match series.iter_mut().find(|(s, _)| *s == b.sensor) {
            Some((_, points)) => points.push(point),
            None => series.push((b.sensor.clone(), vec![point])),
        }
    }
    let series = series
        .into_iter()
        .map(|(sensor, points)| {
            json!({
                "sensor": sensor.to_string(),
                "name": settings.name(sensor.as_str()),
                "columns": ["start", "min", "mean", "max", "count", "errors"],
                "points": points,
            })
        })
        .collect();
    let mut j = envelope(p, "buckets", Some(every), series);
    if auto {
        j["bucketed"] = json!(format!("more than {RAW_LIMIT} readings in the range"));
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn param_of(r: Response) -> String {
        let j: Json = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(r.status, 400);
        j["parameter"].as_str().unwrap().to_owned()
    }

    #[test]
    fn defaults_are_the_last_24_hours() {
        let p = params("cid=pi-1", now()).unwrap();
        assert_eq!(p.until_ms - p.since_ms, 86_400_000);
        assert_eq!((p.sensor, p.every), (None, None));
    }

    #[test]
    fn each_bad_parameter_is_named() {
        assert_eq!(param_of(params("", now()).unwrap_err()), "cid");
        assert_eq!(param_of(params("cid=a%20b", now()).unwrap_err()), "cid");
        assert_eq!(param_of(params("cid=pi&since=soon", now()).unwrap_err()), "since");
        assert_eq!(param_of(params("cid=pi&until=never", now()).unwrap_err()), "until");
        assert_eq!(param_of(params("cid=pi&since=1h&until=2h", now()).unwrap_err()), "since");
        assert_eq!(param_of(params("cid=pi&every=fast", now()).unwrap_err()), "every");
        assert_eq!(param_of(params("cid=pi&every=10ms", now()).unwrap_err()), "every");
        assert_eq!(param_of(params("cid=pi&since=3650d&every=1s", now()).unwrap_err()), "every");
        assert_eq!(param_of(params("cid=pi&colour=red", now()).unwrap_err()), "colour");
        assert_eq!(param_of(params("cid=pi&cid=pj", now()).unwrap_err()), "cid");
        assert_eq!(param_of(params("cid=pi&%zz=1", now()).unwrap_err()), "%zz");
        assert_eq!(param_of(params("cid=pi&format=xml", now()).unwrap_err()), "format");
        assert_eq!(param_of(params("cid=pi&series=true", now()).unwrap_err()), "series", "series of what");
        assert_eq!(param_of(params("cid=pi&sensor=t&series=yes", now()).unwrap_err()), "series");
        assert!(params("cid=pi&sensor=t&series=true", now()).unwrap().series);
    }

    #[test]
    fn times_may_be_unix_ms_durations_ago_or_rfc_3339() {
        assert_eq!(point_in_time("since", "1799999999000", now()), Ok(1_799_999_999_000));
        assert_eq!(point_in_time("since", "1h", now()), Ok(1_800_000_000_000 - 3_600_000));
        assert_eq!(point_in_time("since", "2027-01-15T08:00:00Z", now()), Ok(1_800_000_000_000));
        assert!(point_in_time("since", "99999999999999999999", now()).is_err());
        assert!(point_in_time("since", "-5", now()).is_err());
        let p = params("cid=pi&since=1799990000000&until=1799999999000&format=csv", now()).unwrap();
        assert_eq!((p.since_ms, p.until_ms, p.format), (1_799_990_000_000, 1_799_999_999_000, Format::Csv));
    }

    #[test]
    fn csv_has_a_line_per_reading_with_names_quoted_when_they_need_it() {
        let mut doc = toml::Table::new();
        let text = "[sensors.\"t\"]\nname = \"freezer, left\"\noffset = 0.5\n";
        doc.extend(text.parse::<toml::Table>().unwrap());
        let settings = Settings::from_toml(&toml::Value::Table(doc)).unwrap();
        let reading = |value: &str, ts_quality| StoredReading {
            cid: ClientId::new("pi").unwrap(),
            sensor: SensorId::new("t").unwrap(),
            value: cliser_protocol::Reading::parse(&format!("t={value}")).unwrap().value,
            sampled_ms: 1_800_000_000_250,
            received_ms: 6,
            seq: None,
            ts_quality,
        };
        let csv =
            raw_csv(&[reading("21.5", TsQuality::Synced), reading("err:crc", TsQuality::FromAge)], &settings);
        assert_eq!(
            csv,
            "cid,sensor,name,ts,time,value,error,ts_quality\r\n\
             pi,t,\"freezer, left\",1800000000250,2027-01-15T08:00:00.250Z,22,,synced\r\n\
             pi,t,\"freezer, left\",1800000000250,2027-01-15T08:00:00.250Z,,crc,from_age\r\n"
        );
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn a_raw_point_leaves_off_the_cells_that_hold_their_defaults() {
        let reading = |value: &str, ts_quality| StoredReading {
            cid: ClientId::new("pi").unwrap(),
            sensor: SensorId::new("t").unwrap(),
            value: cliser_protocol::Reading::parse(&format!("t={value}")).unwrap().value,
            sampled_ms: 5,
            received_ms: 6,
            seq: None,
            ts_quality,
        };
        let s = Settings::default();
        assert_eq!(raw_point(&reading("21.5", TsQuality::Synced), &s), json!([5, 21.5]));
        assert_eq!(raw_point(&reading("err:crc", TsQuality::Synced), &s), json!([5, null, "crc"]));
        assert_eq!(raw_point(&reading("21.5", TsQuality::FromAge), &s), json!([5, 21.5, null, "from_age"]));
        assert_eq!(
            raw_point(&reading("err:crc", TsQuality::Unsynced), &s),
            json!([5, null, "crc", "unsynced"])
        );
    }

    #[test]
    fn automatic_buckets_read_the_rollups_for_long_ranges() {
        let day = 86_400_000;
        assert_eq!(auto_every(day), Duration::from_secs(300));
        assert_eq!(auto_every(7 * day), Duration::from_secs(900));
        assert_eq!(auto_every(30 * day), Duration::from_secs(3600));
        assert_eq!(auto_every(365 * day), Duration::from_secs(12 * 3600));
        assert_eq!(auto_every(100 * 365 * day), Duration::from_secs(7 * 86_400));
    }
}
