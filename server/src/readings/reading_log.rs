//! The log line of each stored reading, written by the sink after the commit that stored it.
//!
//! Formatted in one pass into the logger's own buffer: at a few thousand readings a second the
//! pieces' temporary strings (the id, the time, the seq, the name) were a sixth of the line's cost.

use cliser_common::sensors::Settings;
use cliser_common::when::Rfc3339Ms;
use cliser_protocol::{Celsius, Value};
use cliser_store::{NewReading, TsQuality};
use std::fmt;

/// The lines' log target, as when the sink wrote them itself: what people filter the log by.
const TARGET: &str = "cliser_server::readings::sink";

/// `reading cid=garage sensor=28-0316a2795aff name="freezer" temp_c=-18.250 raw_c=-18.000 ts=.. seq=..`:
/// the name when the sensor has one, the true (calibrated) value, and the raw one when they differ.
/// `ts_quality=unsynced` follows `ts` only when the time is the client's unsynchronised clock: a
/// synchronised clock and the server's own are both to be trusted, so saying so on every line
/// would only lengthen the log.
pub fn log_reading(r: &NewReading, settings: &Settings) {
    let quality = match r.ts_quality {
        TsQuality::Unsynced => " ts_quality=unsynced",
        TsQuality::Synced | TsQuality::FromAge => "",
    };
    let (cid, sensor, ts, seq) = (&r.cid, &r.sensor, Rfc3339Ms(r.sampled_ms), Seq(r.seq));
    let id = sensor.as_str();
    let name = Name(settings.name(id));
    match &r.value {
        Value::Celsius(c) => {
            let true_c = settings.calibrate(id, *c);
            let raw = Raw((true_c != *c).then_some(*c));
            log::info!(
                target: TARGET,
                "reading cid={cid} sensor={sensor}{name} temp_c={}{raw} ts={ts}{quality} seq={seq}",
                true_c.fixed()
            )
        }
        Value::Error(e) => {
            log::warn!(target: TARGET, "reading cid={cid} sensor={sensor}{name} error={e} ts={ts}{quality} seq={seq}")
        }
    }
}

/// ` name="..."` (Debug-quoted), or nothing.
struct Name<'a>(Option<&'a str>);

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, " name={n:?}"),
            None => Ok(()),
        }
    }
}

/// ` raw_c=...` when calibration changed the value, or nothing.
struct Raw(Option<Celsius>);

impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(c) => write!(f, " raw_c={}", c.fixed()),
            None => Ok(()),
        }
    }
}

/// The seq, or `-` for a reading without one.
struct Seq(Option<u64>);

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(s) => write!(f, "{s}"),
            None => f.write_str("-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pieces_read_as_the_line_always_did() {
        assert_eq!(Rfc3339Ms(1_796_536_559_777).to_string(), "2026-12-06T05:55:59.777Z");
        assert_eq!(
            Rfc3339Ms(1_796_536_559_777).to_string(),
            crate::readings::csv_format::rfc3339_ms(1_796_536_559_777)
        );
        assert_eq!(format!("{}|{}", Seq(Some(42)), Seq(None)), "42|-");
        assert_eq!(
            format!("{}|{}", Name(Some("deep \"freezer\"")), Name(None)),
            " name=\"deep \\\"freezer\\\"\"|"
        );
        let c = Celsius::new(-18.0).unwrap();
        assert_eq!(format!("{}|{}", Raw(Some(c)), Raw(None)), " raw_c=-18.000|");
    }
}
