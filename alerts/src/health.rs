//! Per-sensor health for the console's `N`: the last reading and its age, readings and errors by
//! reason since the server started (CRC errors and power-on resets among them), and the seq gaps
//! of each node.

use crate::alert::label;
use cliser_common::sensors::Settings;
use cliser_protocol::{SensorFactsReport, Value};
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

/// Each sensor's bus as its Pi said, by (cid, sensor).
pub type Buses = BTreeMap<(String, String), String>;

/// The counts since start.
#[derive(Debug, Default)]
pub struct Health {
    sensors: BTreeMap<(String, String), SensorHealth>,
    gaps: BTreeMap<String, u64>,
    settings: Arc<Settings>,
    buses: Buses,
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

    /// What `cid`'s Pi said of its sensors: their buses (a sensor whose facts name none has none).
    pub fn facts(&mut self, cid: &str, facts: &[SensorFactsReport]) {
        for f in facts {
            let key = (cid.to_owned(), f.sensor.to_string());
            match &f.bus {
                Some(bus) => self.buses.insert(key, bus.clone()),
                None => self.buses.remove(&key),
            };
        }
    }

    /// Each sensor's bus, as the Pis said.
    pub fn buses(&self) -> &Buses {
        &self.buses
    }

    /// Drops a forgotten node (`sensor` None) or sensor.
    pub fn forget(&mut self, cid: &str, sensor: Option<&str>) {
        self.sensors.retain(|(c, s), _| c != cid || sensor.is_some_and(|x| x != s));
        self.buses.retain(|(c, s), _| c != cid || sensor.is_some_and(|x| x != s));
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
/// `  28-x: 200 reads, 10 errors (5.0 %: crc 10), 12 retries, mean read 12 ms  ! above 1 %` (the
/// retries only when there were some). A node whose sensors hang on more than one bus (`buses`,
/// from its Pi's facts) has them grouped under each bus's name.
pub fn bus_report(sums: &[HealthSum], settings: &Settings, buses: &Buses) -> String {
    if sums.is_empty() {
        return "bus health over the last hour: no health reports".into();
    }
    let mut out = String::from("bus health over the last hour (the Pis' health reports):");
    let mut start = 0;
    while start < sums.len() {
        let cid = sums[start].cid.as_str();
        let end = start + sums[start..].iter().take_while(|s| s.cid == cid).count();
        let node = &sums[start..end];
        start = end;
        let _ = write!(out, "\n{cid}:");
        let bus_of = |s: &HealthSum| buses.get(&(s.cid.clone(), s.sensor.clone())).map(String::as_str);
        let mut on: BTreeMap<Option<&str>, Vec<&HealthSum>> = BTreeMap::new();
        for s in node {
            on.entry(bus_of(s)).or_default().push(s);
        }
        if on.keys().filter(|bus| bus.is_some()).count() < 2 {
            for s in node {
                let _ = write!(out, "\n  {}", sensor_line(s, settings));
            }
            continue;
        }
        // Known buses by name first, then the sensors whose Pi named none.
        let (known, unknown): (Vec<_>, Vec<_>) = on.into_iter().partition(|(bus, _)| bus.is_some());
        for (bus, sensors) in known.into_iter().chain(unknown) {
            let _ = write!(out, "\n  {}:", bus.unwrap_or("bus unknown"));
            for s in sensors {
                let _ = write!(out, "\n    {}", sensor_line(s, settings));
            }
        }
    }
    out
}

/// `28-x (name): 200 reads, 10 errors (5.0 %: crc 10), 12 retries, mean read 12 ms  ! above 1 %`.
fn sensor_line(s: &HealthSum, settings: &Settings) -> String {
    let name = settings.name(&s.sensor).map(|n| format!(" ({n})")).unwrap_or_default();
    let errors = match s.errors() {
        0 => "0 errors".to_owned(),
        n => {
            let by: Vec<String> = s.reasons().iter().map(|(r, n)| format!("{r} {n}")).collect();
            format!("{n} errors ({:.1} %: {})", s.error_rate() * 100.0, by.join(", "))
        }
    };
    let retries = match s.retries {
        0 => String::new(),
        n => format!(", {n} retries"),
    };
    let mark =
        if s.marked() { format!("  ! above {} %", cliser_store::MARK_ABOVE * 100.0) } else { String::new() };
    format!(
        "{}{name}: {} reads, {errors}{retries}, mean read {:.0} ms{mark}",
        s.sensor,
        s.reads,
        s.mean_read_ms()
    )
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
            retries: crc,
            read_ms: reads * 12,
        }
    }

    #[test]
    fn the_bus_report_groups_by_node_with_rates_reasons_and_marks() {
        let sums = [sum("a", "28-x", 200, 10, 1), sum("a", "28-y", 200, 2, 0), sum("b", "28-z", 0, 0, 0)];
        let one_bus = [(("a".to_owned(), "28-x".to_owned()), "w1_bus_master1".to_owned())].into();
        for buses in [Buses::new(), one_bus] {
            assert_eq!(
                bus_report(&sums, &Settings::default(), &buses),
                "bus health over the last hour (the Pis' health reports):\n\
                 a:\n  28-x: 200 reads, 11 errors (5.5 %: crc 10, reset 1), 10 retries, mean read 12 ms  ! above 1 %\n  \
                 28-y: 200 reads, 2 errors (1.0 %: crc 2), 2 retries, mean read 12 ms\n\
                 b:\n  28-z: 0 reads, 0 errors, mean read 0 ms",
                "one bus, or none known: no grouping"
            );
        }
        assert_eq!(
            bus_report(&[], &Settings::default(), &Buses::new()),
            "bus health over the last hour: no health reports"
        );
    }

    #[test]
    fn a_node_with_sensors_on_two_buses_has_them_grouped_by_bus() {
        let sums = [
            sum("a", "28-v", 100, 0, 0),
            sum("a", "28-w", 100, 0, 0),
            sum("a", "28-x", 200, 10, 0),
            sum("a", "28-y", 200, 0, 0),
            sum("b", "28-z", 10, 0, 0),
        ];
        let mut h = Health::default();
        let fact = |sensor: &str, bus: Option<&str>| SensorFactsReport {
            sensor: cliser_protocol::SensorId::new(sensor).unwrap(),
            power: None,
            bits: None,
            clone: None,
            bus: bus.map(str::to_owned),
        };
        h.facts(
            "a",
            &[
                fact("28-v", None),
                fact("28-w", Some("w1_bus_master2")),
                fact("28-x", Some("w1_bus_master2")),
                fact("28-y", Some("w1_bus_master1")),
            ],
        );
        h.facts("b", &[fact("28-z", Some("gpio:4"))]);
        assert_eq!(
            bus_report(&sums, &Settings::default(), h.buses()),
            "bus health over the last hour (the Pis' health reports):\n\
             a:\n  \
             w1_bus_master1:\n    28-y: 200 reads, 0 errors, mean read 12 ms\n  \
             w1_bus_master2:\n    28-w: 100 reads, 0 errors, mean read 12 ms\n    \
             28-x: 200 reads, 10 errors (5.0 %: crc 10), 10 retries, mean read 12 ms  ! above 1 %\n  \
             bus unknown:\n    28-v: 100 reads, 0 errors, mean read 12 ms\n\
             b:\n  28-z: 10 reads, 0 errors, mean read 12 ms"
        );
        h.forget("a", None);
        assert_eq!(h.buses().len(), 1, "a forgotten node's buses go");
    }
}
