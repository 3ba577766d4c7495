//! The CSV columns of the former `--readings-csv` ledger, `ts,cid,sensor,temp_c,error,seq`: what
//! `export --format csv` writes and `import-csv` reads, so a ledger user keeps their history and
//! their scripts. `query --format csv` adds a last column, `ts_quality`, which `import-csv` also
//! takes.

use cliser_common::when::Rfc3339Ms;
use cliser_protocol::{Celsius, ClientId, ErrorReason, IdentError, SensorId, Value};
use cliser_store::{NewReading, StoredReading, TsQuality};
use std::fmt::Write as _;
use std::time::UNIX_EPOCH;

/// The header line.
pub const HEADER: &str = "ts,cid,sensor,temp_c,error,seq";

/// The header line of `query --format csv`: the ledger's, then the timestamp quality.
pub const QUERY_HEADER: &str = "ts,cid,sensor,temp_c,error,seq,ts_quality";

/// Why a CSV line is not a reading; the message names the field and quotes its text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CsvLineError {
    /// Neither the ledger's 6 fields nor `query`'s 7.
    #[error("{count} fields, expected 6 ({HEADER}) or 7 (and ts_quality)")]
    FieldCount {
        /// How many the line has.
        count: usize,
    },
    /// The seventh field is not a timestamp quality.
    #[error("ts_quality {text:?} is not synced, from_age or unsynced")]
    TsQuality {
        /// The field.
        text: String,
    },
    /// `ts` is not an RFC 3339 time.
    #[error("ts {text:?}: {source}")]
    Ts {
        /// The field.
        text: String,
        /// Why.
        source: humantime::TimestampError,
    },
    /// `ts` is before the Unix epoch.
    #[error("ts {text:?} is before 1970")]
    TsBefore1970 {
        /// The field.
        text: String,
    },
    /// `cid` is not a client id.
    #[error("cid {text:?}: {source}")]
    Cid {
        /// The field.
        text: String,
        /// Why.
        source: IdentError,
    },
    /// `sensor` is not a sensor id.
    #[error("sensor {text:?}: {source}")]
    Sensor {
        /// The field.
        text: String,
        /// Why.
        source: IdentError,
    },
    /// `temp_c` is not a temperature.
    #[error("temp_c {text:?} is not a temperature")]
    Temp {
        /// The field.
        text: String,
    },
    /// `error` is not an error reason.
    #[error("error {text:?}: {source}")]
    ErrorReason {
        /// The field.
        text: String,
        /// Why.
        source: IdentError,
    },
    /// Both `temp_c` and `error`: a reading is one or the other.
    #[error("both temp_c and error are set")]
    ValueAndError,
    /// `seq` is not a whole number.
    #[error("seq {text:?} is not a number")]
    Seq {
        /// The field.
        text: String,
        /// Why.
        source: std::num::ParseIntError,
    },
}

/// Unix milliseconds as RFC 3339 with milliseconds (`2026-11-22T10:00:05.123Z`); a time it cannot
/// write as the nearest it can ([`Rfc3339Ms`]).
pub fn rfc3339_ms(ms: i64) -> String {
    Rfc3339Ms(ms).to_string()
}

/// One reading as a ledger line (with its `\n`).
pub fn line(out: &mut String, r: &StoredReading) {
    fields(out, r);
    out.push('\n');
}

/// One reading as a line of [`QUERY_HEADER`] (with its `\n`).
pub fn query_line(out: &mut String, r: &StoredReading) {
    fields(out, r);
    let _ = writeln!(out, ",{}", r.ts_quality);
}

fn fields(out: &mut String, r: &StoredReading) {
    let (temp, err) = match &r.value {
        Value::Celsius(c) => (c.fixed().to_string(), String::new()),
        Value::Error(e) => (String::new(), e.to_string()),
    };
    let seq = r.seq.map(|s| s.to_string()).unwrap_or_default();
    let _ = write!(out, "{},{},{},{temp},{err},{seq}", rfc3339_ms(r.sampled_ms), r.cid, r.sensor);
}

/// Parses one data line of a ledger (not the header), or of `query`'s CSV (its seventh field the
/// timestamp quality). The receive time of an imported reading is unknown: its sample time stands
/// in. A ledger line's time is taken as given ([`TsQuality::Synced`], as the ledger's readings
/// were stored before the quality existed).
pub fn parse(line: &str) -> Result<NewReading, CsvLineError> {
    let fields: Vec<&str> = line.split(',').collect();
    let (ts, cid, sensor, temp, err, seq, ts_quality) = match fields[..] {
        [ts, cid, sensor, temp, err, seq] => (ts, cid, sensor, temp, err, seq, TsQuality::Synced),
        [ts, cid, sensor, temp, err, seq, q] => {
            let quality =
                TsQuality::parse(q).ok_or_else(|| CsvLineError::TsQuality { text: q.to_owned() })?;
            (ts, cid, sensor, temp, err, seq, quality)
        }
        _ => return Err(CsvLineError::FieldCount { count: fields.len() }),
    };
    let text = |field: &str| field.to_owned();
    let at =
        humantime::parse_rfc3339_weak(ts).map_err(|source| CsvLineError::Ts { text: text(ts), source })?;
    let ms =
        at.duration_since(UNIX_EPOCH).map_err(|_| CsvLineError::TsBefore1970 { text: text(ts) })?.as_millis()
            as i64;
    let cid = ClientId::new(cid).map_err(|source| CsvLineError::Cid { text: text(cid), source })?;
    let sensor =
        SensorId::new(sensor).map_err(|source| CsvLineError::Sensor { text: text(sensor), source })?;
    let value = match (temp, err) {
        (t, "") => Value::Celsius(Celsius::parse(t).ok_or_else(|| CsvLineError::Temp { text: text(t) })?),
        ("", e) => Value::Error(
            ErrorReason::new(e).map_err(|source| CsvLineError::ErrorReason { text: text(e), source })?,
        ),
        _ => return Err(CsvLineError::ValueAndError),
    };
    let seq = match seq {
        "" => None,
        s => Some(s.parse::<u64>().map_err(|source| CsvLineError::Seq { text: text(s), source })?),
    };
    Ok(NewReading { cid, sensor, value, sampled_ms: ms, received_ms: ms, seq, ts_quality })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ledger_line_reads_back_as_it_was_written() {
        for text in [
            "2026-01-01T00:00:00.000Z,a,t,1.500,,7",
            "2026-01-01T00:00:00.123Z,a,t,,crc,9",
            "2026-01-01T00:00:01.000Z,b,t,-3.000,,",
        ] {
            let r = parse(text).unwrap();
            let stored = StoredReading {
                cid: r.cid,
                sensor: r.sensor,
                value: r.value,
                sampled_ms: r.sampled_ms,
                received_ms: r.received_ms,
                seq: r.seq,
                ts_quality: r.ts_quality,
            };
            let mut out = String::new();
            line(&mut out, &stored);
            assert_eq!(out, format!("{text}\n"));
            assert_eq!(stored.ts_quality, TsQuality::Synced);
        }
        // The old ledger wrote the shortest decimal: read as the same value.
        assert_eq!(
            parse("2026-01-01T00:00:00.000Z,a,t,21,,1").unwrap().value,
            Value::Celsius(Celsius::new(21.0).unwrap())
        );
    }

    #[test]
    fn a_query_line_reads_back_with_its_quality() {
        for q in TsQuality::ALL {
            let text = format!("2026-01-01T00:00:00.123Z,a,t,,crc,9,{q}");
            let r = parse(&text).unwrap();
            assert_eq!(r.ts_quality, q);
            let stored = StoredReading {
                cid: r.cid,
                sensor: r.sensor,
                value: r.value,
                sampled_ms: r.sampled_ms,
                received_ms: r.received_ms,
                seq: r.seq,
                ts_quality: r.ts_quality,
            };
            let mut out = String::new();
            query_line(&mut out, &stored);
            assert_eq!(out, format!("{text}\n"));
        }
        let e = parse("2026-01-01T00:00:00Z,a,t,1,,1,late").unwrap_err().to_string();
        assert!(e.starts_with("ts_quality \"late\""), "{e}");
    }

    #[test]
    fn bad_lines_say_which_field() {
        let parse = |line: &str| parse(line).map_err(|e| e.to_string());
        assert!(parse("x").unwrap_err().contains("1 fields"));
        assert!(parse("yesterday,a,t,1,,1").unwrap_err().starts_with("ts \"yesterday\""));
        assert!(parse("2026-01-01T00:00:00Z,a b,t,1,,1").unwrap_err().starts_with("cid"));
        assert!(parse("2026-01-01T00:00:00Z,a,t,hot,,1").unwrap_err().starts_with("temp_c"));
        assert!(parse("2026-01-01T00:00:00Z,a,t,1,,x").unwrap_err().starts_with("seq"));
        assert!(parse("2026-01-01T00:00:00Z,a,t,1,crc,1").unwrap_err().contains("both"));
    }
}
