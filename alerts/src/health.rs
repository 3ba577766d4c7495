//! Per-sensor health for the console's `N`: the last reading and its age, readings and errors by
//! reason since the server started (CRC errors and power-on resets among them), and the seq gaps
//! of each node.

use crate::alert::label;
use cliser_common::sensors::Settings;
use cliser_protocol::Value;
use cliser_store::{HealthSum, NewReading, SensorInfo};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Default)]
struct SensorHealth {
    last: Option<(i64, Value)>,
    readings: u64,
    errors: BTreeMap<String, u64>,
}

/// The counts since start.
#[derive(Debug, Default)]
pub struct Health {
    sensors: BTreeMap<(String, String), SensorHealth>,
    gaps: BTreeMap<String, u64>,
    settings: Arc<Settings>,
}

impl Health {
    /// A sensor the store knows, with its newest reading.
    pub fn know(&mut self, s: &SensorInfo) {
        let h = self.sensors.entry((s.cid.to_string(), s.sensor.to_string())).or_default();
        if let Some((ts, v, _)) = &s.last {
            h.last = Some((*ts, v.clone()));
        }
    }

    /// The names (and calibration) shown.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.clone()
    }

    /// The names (and calibration) to show.
    pub fn use_settings(&mut self, settings: Arc<Settings>) {
        self.settings = settings;
    }

    /// A reading the store took.
    pub fn reading(&mut self, r: &NewReading) {
        let h = self.sensors.entry((r.cid.to_string(), r.sensor.to_string())).or_default();
        h.readings += 1;
        if let Value::Error(reason) = &r.value {
            *h.errors.entry(reason.to_string()).or_default() += 1;
        }
        if h.last.as_ref().is_none_or(|(ts, _)| r.sampled_ms >= *ts) {
            h.last = Some((r.sampled_ms, r.value.clone()));
        }
    }

    /// Readings of a sensor counted without being looked at one by one (folded into a newer one
    /// while they waited for the alerts thread).
    pub fn counted(&mut self, cid: &str, sensor: &str, t: &crate::mailbox::Tally) {
        if t.readings == 0 {
            return;
        }
        let h = self.sensors.entry((cid.to_owned(), sensor.to_owned())).or_default();
        h.readings += t.readings;
        for (reason, n) in &t.errors {
            *h.errors.entry(reason.clone()).or_default() += n;
        }
    }

    /// Drops a forgotten node (`sensor` None) or sensor.
    pub fn forget(&mut self, cid: &str, sensor: Option<&str>) {
        self.sensors.retain(|(c, s), _| c != cid || sensor.is_some_and(|x| x != s));
        if sensor.is_none() {
            self.gaps.remove(cid);
        }
    }

    /// A gap in `cid`'s seqs.
    pub fn gap(&mut self, cid: &str) {
        self.gaps(cid, 1);
    }

    /// `n` gaps in `cid`'s seqs.
    pub fn gaps(&mut self, cid: &str, n: u64) {
        *self.gaps.entry(cid.to_owned()).or_default() += n;
    }

    /// One line per sensor, for people.
    pub fn report(&self, now_ms: i64) -> String {
        if self.sensors.is_empty() {
            return "No sensors yet".into();
        }
        let mut out = String::from("per sensor (counts since the server started):\n");
        for ((cid, sensor), h) in &self.sensors {
            let who = label(cid, sensor, self.settings.name(sensor));
            let last = match &h.last {
                Some((ts, v)) => {
                    let age = Duration::from_secs(((now_ms - ts).max(0) / 1000) as u64);
                    let shown = match v {
                        Value::Celsius(c) => format!("{:.3}", self.settings.calibrate(sensor, *c).degrees()),
                        Value::Error(e) => format!("err:{e}"),
                    };
                    format!("{shown} {} ago", cliser_common::duration::format(age))
                }
                None => "none".into(),
            };
            let errors: u64 = h.errors.values().sum();
            let by_reason: Vec<String> = h.errors.iter().map(|(r, n)| format!("{r} {n}")).collect();
            let count = |r: &str| h.errors.get(r).copied().unwrap_or(0);
            let _ = write!(
                out,
                "{who}: last {last}; readings {} errors {errors}{}; crc {} resets {}; seq gaps of {cid} {}",
                h.readings,
                if by_reason.is_empty() { String::new() } else { format!(" ({})", by_reason.join(", ")) },
                count("crc"),
                count("reset"),
                self.gaps.get(cid).copied().unwrap_or(0),
            );
            out.push('\n');
        }
        out.pop();
        out
    }
}

/// The Pis' bus health over the last hour, per node and sensor, for the console's `N`:
/// `  28-x: 200 reads, 10 errors (5.0 %: crc 10), mean read 12 ms  ! above 1 %`.
pub fn bus_report(sums: &[HealthSum], settings: &Settings) -> String {
    if sums.is_empty() {
        return "bus health over the last hour: no health reports".into();
    }
    let mut out = String::from("bus health over the last hour (the Pis' health reports):");
    let mut node: Option<&str> = None;
    for s in sums {
        if node != Some(s.cid.as_str()) {
            let _ = write!(out, "\n{}:", s.cid);
            node = Some(&s.cid);
        }
        let name = settings.name(&s.sensor).map(|n| format!(" ({n})")).unwrap_or_default();
        let errors = match s.errors() {
            0 => "0 errors".to_owned(),
            n => {
                let by: Vec<String> = s.reasons().iter().map(|(r, n)| format!("{r} {n}")).collect();
                format!("{n} errors ({:.1} %: {})", s.error_rate() * 100.0, by.join(", "))
            }
        };
        let mark = if s.marked() {
            format!("  ! above {} %", cliser_store::MARK_ABOVE * 100.0)
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "\n  {}{name}: {} reads, {errors}, mean read {:.0} ms{mark}",
            s.sensor,
            s.reads,
            s.mean_read_ms()
        );
    }
    out
}

#[cfg(test)]
mod bus_tests {
    use super::*;

    fn sum(cid: &str, sensor: &str, reads: i64, crc: i64, reset: i64) -> HealthSum {
        HealthSum {
            cid: cid.into(),
            sensor: sensor.into(),
            reads,
            crc,
            empty: 0,
            reset,
            other: 0,
            read_ms: reads * 12,
        }
    }

    #[test]
    fn the_bus_report_groups_by_node_with_rates_reasons_and_marks() {
        let sums = [sum("a", "28-x", 200, 10, 1), sum("a", "28-y", 200, 2, 0), sum("b", "28-z", 0, 0, 0)];
        assert_eq!(
            bus_report(&sums, &Settings::default()),
            "bus health over the last hour (the Pis' health reports):\n\
             a:\n  28-x: 200 reads, 11 errors (5.5 %: crc 10, reset 1), mean read 12 ms  ! above 1 %\n  \
             28-y: 200 reads, 2 errors (1.0 %: crc 2), mean read 12 ms\n\
             b:\n  28-z: 0 reads, 0 errors, mean read 0 ms"
        );
        assert_eq!(bus_report(&[], &Settings::default()), "bus health over the last hour: no health reports");
    }
}
