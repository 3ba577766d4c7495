//! `cliser-server query`: readings or per-bucket summaries, as a table, CSV or JSON.

use super::{write_err, CommandError};
use crate::readings::csv_format::rfc3339_ms;
use cliser_common::sensor_names::{self, LookupError, Resolved, SensorError};
use cliser_common::sensors::Settings;
use cliser_common::when;
use cliser_protocol::{Celsius, ClientId, SensorId, Value};
use cliser_store::{Bucket, BucketSource, History, ReadingQuery, StoreError, StoredReading, TsQuality};
use std::io::Write;
use std::time::{Duration, SystemTime};

/// How `query` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// Comma-separated, with a header line.
    Csv,
    /// One JSON array of objects.
    Json,
}

/// `query`'s arguments.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// Only this client.
    #[arg(long, value_name = "ID")]
    pub cid: Option<String>,
    /// Only this sensor: its id, or its name in the config's `[sensors]` (`--config`). One that is
    /// neither is an error (exit 2) naming the names. The name of a replaced sensor's series
    /// (`replaces`) gives each id's readings up to the next one's first reading.
    #[arg(long, value_name = "ID|NAME")]
    pub sensor: Option<String>,
    /// From this long ago (`24h`) or this time (RFC 3339) [default: 24h].
    #[arg(long, value_name = "WHEN", default_value = "24h")]
    pub since: String,
    /// Until this long ago or this time [default: now].
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Summarise into buckets this long (`1h`, `15m`): min, mean, max and count per sensor.
    #[arg(long, value_name = "DURATION", value_parser = cliser_common::duration::parse_positive)]
    pub every: Option<Duration>,
    /// At most this many rows.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// The values as stored, without the calibration of the config file's `[sensors]` (the names
    /// are still shown).
    #[arg(long)]
    pub raw: bool,
}

impl QueryArgs {
    /// The query, with the sensor as `resolved` found it.
    fn to_query(&self, now: SystemTime, resolved: Option<&Resolved>) -> Result<ReadingQuery, CommandError> {
        let bad = CommandError::BadArgument;
        let cid =
            self.cid.as_deref().map(ClientId::new).transpose().map_err(|e| bad(format!("--cid: {e}")))?;
        let sensor =
            resolved.map(|r| SensorId::new(&r.id)).transpose().map_err(|e| bad(format!("--sensor: {e}")))?;
        let since_ms = Some(when::parse("--since", &self.since, now).map_err(|e| bad(e.to_string()))?);
        let until_ms = self
            .until
            .as_deref()
            .map(|u| when::parse("--until", u, now))
            .transpose()
            .map_err(|e| bad(e.to_string()))?;
        Ok(ReadingQuery { cid, sensor, since_ms, until_ms, limit: self.limit })
    }
}

/// The store's sensors as (client id, sensor id), for a name on several sensors and the errors.
fn seen(store: &mut dyn History) -> Result<Vec<(String, String)>, StoreError> {
    Ok(store.sensors()?.into_iter().map(|s| (s.cid.to_string(), s.sensor.to_string())).collect())
}

fn lookup_error(e: LookupError<StoreError>) -> CommandError {
    match e {
        LookupError::Store(e) => CommandError::Store(e),
        LookupError::Sensor(e @ SensorError::Unknown { .. }) => {
            // The names are read from the config file, which a command is given only on purpose.
            let hint = match &e {
                SensorError::Unknown { names, .. } if names.is_empty() => {
                    " (names are read from --config FILE)"
                }
                _ => "",
            };
            CommandError::NotFound(format!("--sensor: {e}{hint}"))
        }
        LookupError::Sensor(e) => CommandError::BadArgument(format!("--sensor: {e}")),
    }
}

pub(super) fn run(
    args: &QueryArgs,
    settings: &Settings,
    store: &mut dyn History,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let cid = args.cid.as_deref();
    let resolved = match &args.sensor {
        Some(given) => Some(
            sensor_names::resolve(settings, given, cid, &mut || seen(&mut *store)).map_err(lookup_error)?,
        ),
        None => None,
    };
    let q = args.to_query(SystemTime::now(), resolved.as_ref())?;
    // A name of a `replaces` series: each id's readings up to the next one's first.
    let members = resolved
        .as_ref()
        .map(|r| r.members.iter().map(|m| SensorId::new(m)).collect::<Result<Vec<_>, _>>())
        .transpose()
        .map_err(|e| CommandError::BadArgument(format!("--sensor: {e}")))?
        .unwrap_or_default();
    // Calibration is applied here, when shown: the store keeps what the sensor said. `--raw`
    // leaves the values alone but still names the sensors.
    let calibrate = !args.raw;
    let (text, empty) = match args.every {
        Some(every) => {
            let mut rows = match members.as_slice() {
                [] => store.buckets(&q, every)?,
                m => cliser_store::series_buckets(store, m, &q, every, BucketSource::Auto)?,
            };
            if calibrate {
                rows.iter_mut().for_each(|b| calibrate_bucket(b, settings));
            }
            (buckets(&rows, args.format, settings), rows.is_empty())
        }
        None => {
            let mut rows = match members.as_slice() {
                [] => store.readings(&q)?,
                m => cliser_store::series_readings(store, m, &q)?,
            };
            for r in rows.iter_mut().filter(|_| calibrate) {
                if let Value::Celsius(c) = &mut r.value {
                    *c = settings.calibrate(r.sensor.as_str(), *c);
                }
            }
            (readings(&rows, args.format, settings), rows.is_empty())
        }
    };
    // Nothing found: an empty answer only for a sensor that exists (asked only now, so a query that
    // finds readings costs nothing more).
    if let (true, Some(given), Some(r)) = (empty, &args.sensor, &resolved) {
        sensor_names::check_known(settings, given, r, cid, &mut || seen(&mut *store))
            .map_err(lookup_error)?;
    }
    out.write_all(text.as_bytes()).map_err(write_err)
}

/// A calibration that falls (a two-point one with the points swapped) turns min into max.
fn calibrate_bucket(b: &mut Bucket, settings: &Settings) {
    let id = b.sensor.to_string();
    let cal = |c: Option<Celsius>| c.map(|c| settings.calibrate(&id, c));
    let (lo, mean, hi) = (cal(b.min), cal(b.mean), cal(b.max));
    b.mean = mean;
    (b.min, b.max) = match (lo, hi) {
        (Some(l), Some(h)) if l.degrees() > h.degrees() => (Some(h), Some(l)),
        other => other,
    };
}

/// The name column's cell: the sensor's name, or empty.
fn name_of(settings: &Settings, sensor: &SensorId) -> String {
    settings.name(sensor.as_str()).unwrap_or_default().to_owned()
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Celsius(c) => c.fixed().to_string(),
        Value::Error(e) => format!("err:{e}"),
    }
}

fn opt_c(c: Option<Celsius>) -> String {
    c.map_or_else(String::new, |c| c.fixed().to_string())
}

fn json_c(c: Option<Celsius>) -> serde_json::Value {
    c.map_or(serde_json::Value::Null, |c| serde_json::json!((c.degrees() * 1000.0).round() / 1000.0))
}

fn readings(rows: &[StoredReading], format: Format, settings: &Settings) -> String {
    let seq = |r: &StoredReading| r.seq.map_or_else(|| "-".to_owned(), |s| s.to_string());
    match format {
        Format::Table => {
            // Left out when every time is a synchronised client clock (every reading stored
            // before the quality existed, and older clients'): such a table looks as it always did.
            let quality = rows.iter().any(|r| r.ts_quality != TsQuality::Synced);
            let mut header = vec!["time", "cid", "sensor", "name", "value", "seq"];
            header.extend(quality.then_some("ts_quality"));
            let cells = rows
                .iter()
                .map(|r| {
                    let mut cells = vec![
                        rfc3339_ms(r.sampled_ms),
                        r.cid.to_string(),
                        r.sensor.to_string(),
                        name_of(settings, &r.sensor),
                        value_text(&r.value),
                        seq(r),
                    ];
                    cells.extend(quality.then(|| r.ts_quality.to_string()));
                    cells
                })
                .collect();
            table(&header, cells, 3)
        }
        Format::Csv => {
            let mut s = String::from(crate::readings::csv_format::QUERY_HEADER);
            s.push('\n');
            for r in rows {
                crate::readings::csv_format::query_line(&mut s, r);
            }
            s
        }
        Format::Json => {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .map(|r| {
                    let (temp, err) = match &r.value {
                        Value::Celsius(c) => (json_c(Some(*c)), serde_json::Value::Null),
                        Value::Error(e) => (serde_json::Value::Null, serde_json::json!(e.to_string())),
                    };
                    serde_json::json!({
                        "ts": rfc3339_ms(r.sampled_ms), "received": rfc3339_ms(r.received_ms),
                        "cid": r.cid.as_str(), "sensor": r.sensor.as_str(),
                        "name": settings.name(r.sensor.as_str()),
                        "temp_c": temp, "error": err, "seq": r.seq,
                        "ts_quality": r.ts_quality.as_str(),
                    })
                })
                .collect();
            format!("{}\n", serde_json::Value::Array(items))
        }
    }
}

fn buckets(rows: &[Bucket], format: Format, settings: &Settings) -> String {
    match format {
        Format::Table => table(
            &["bucket", "cid", "sensor", "name", "min", "mean", "max", "count", "errors"],
            rows.iter()
                .map(|b| {
                    vec![
                        rfc3339_ms(b.start_ms),
                        b.cid.to_string(),
                        b.sensor.to_string(),
                        name_of(settings, &b.sensor),
                        opt_c(b.min),
                        opt_c(b.mean),
                        opt_c(b.max),
                        b.count.to_string(),
                        b.errors.to_string(),
                    ]
                })
                .collect(),
            3,
        ),
        Format::Csv => {
            let mut s = String::from("bucket,cid,sensor,min,mean,max,count,errors\n");
            for b in rows {
                s.push_str(&format!(
                    "{},{},{},{},{},{},{},{}\n",
                    rfc3339_ms(b.start_ms),
                    b.cid,
                    b.sensor,
                    opt_c(b.min),
                    opt_c(b.mean),
                    opt_c(b.max),
                    b.count,
                    b.errors
                ));
            }
            s
        }
        Format::Json => {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .map(|b| {
                    serde_json::json!({
                        "bucket": rfc3339_ms(b.start_ms), "cid": b.cid.as_str(), "sensor": b.sensor.as_str(),
                        "name": settings.name(b.sensor.as_str()),
                        "min": json_c(b.min), "mean": json_c(b.mean), "max": json_c(b.max),
                        "count": b.count, "errors": b.errors,
                    })
                })
                .collect();
            format!("{}\n", serde_json::Value::Array(items))
        }
    }
}

/// Left-aligned columns two spaces apart. The column at `optional` (the names) is left out when
/// every cell of it is empty.
pub(super) fn table(header: &[&str], mut rows: Vec<Vec<String>>, optional: usize) -> String {
    let mut header = header.to_vec();
    if rows.iter().all(|r| r.get(optional).is_none_or(String::is_empty)) && optional < header.len() {
        header.remove(optional);
        rows.iter_mut().filter(|r| optional < r.len()).for_each(|r| {
            r.remove(optional);
        });
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut s = String::new();
    let mut put = |cells: &mut dyn Iterator<Item = &str>| {
        let line: Vec<String> = cells.zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        s.push_str(line.join("  ").trim_end());
        s.push('\n');
    };
    put(&mut header.iter().copied());
    for row in &rows {
        put(&mut row.iter().map(String::as_str));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_lines_up() {
        let t = table(&["a", "bb", "c"], vec![vec!["xyz".into(), "1".into(), "".into()]], 2);
        assert_eq!(t, "a    bb\nxyz  1\n");
        let t = table(&["a", "bb", "c"], vec![vec!["xyz".into(), "1".into(), "n".into()]], 2);
        assert_eq!(t, "a    bb  c\nxyz  1   n\n");
    }
}
