//! `/metrics` in the Prometheus text format, written by the `prometheus-client` crate. The counters
//! live here and are raised by the live thread as it applies the server's events; the per-sensor
//! gauges are read from the fleet at each scrape.

use crate::live::{AlertView, ExporterView, Fleet, Stored};
use cliser_common::sensors::Settings;
use cliser_protocol::Value;
use cliser_protocol::{ClientId, SensorId};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SensorLabels {
    cid: String,
    sensor: String,
    /// The sensor's name from the config file, empty without one.
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct ErrorLabels {
    cid: String,
    sensor: String,
    reason: String,
}

/// One sensor of one node, for the health counters (no name: the health is the chip's, not the
/// place's).
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct HealthLabels {
    cid: String,
    sensor: String,
}

/// The reasons of the health reports, as `cliser_sensor_errors_total` labels them.
const HEALTH_REASONS: [&str; 4] = ["crc", "empty", "reset", "other"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlertLabels {
    kind: String,
    cid: String,
    sensor: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExporterLabels {
    exporter: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    cid: String,
}

/// The server's counters (cheap clones share them).
#[derive(Clone)]
pub(crate) struct Metrics {
    pub(crate) sessions: Gauge,
    readings: Counter,
    errors: Family<ErrorLabels, Counter>,
    /// The label sets `errors` has (the family cannot list them): forgetting a node removes its own.
    error_labels: Arc<Mutex<BTreeSet<ErrorLabels>>>,
    /// From the clients' health reports: every read of each sensor, its errors by reason, the mean
    /// read time of its last report, and the sensors that have them (to forget them).
    sensor_reads: Family<HealthLabels, Counter>,
    sensor_retries: Family<HealthLabels, Counter>,
    sensor_errors: Family<ErrorLabels, Counter>,
    sensor_read_seconds: Family<HealthLabels, Gauge<f64, AtomicU64>>,
    health_labels: Arc<Mutex<BTreeSet<HealthLabels>>>,
    duplicates: Counter,
    gaps: Counter,
    commit_seconds: Histogram,
    pub(crate) commit_failures: Counter,
    pub(crate) auth_failures: Counter,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Metrics {
            sessions: Gauge::default(),
            readings: Counter::default(),
            errors: Family::default(),
            error_labels: Arc::default(),
            sensor_reads: Family::default(),
            sensor_retries: Family::default(),
            sensor_errors: Family::default(),
            sensor_read_seconds: Family::default(),
            health_labels: Arc::default(),
            duplicates: Counter::default(),
            gaps: Counter::default(),
            // 0.5 ms .. 4 s: an SQLite commit on an SSD takes about a millisecond, a Pi's SD card
            // or a remote PostgreSQL tens of them, a disk in trouble seconds.
            commit_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            commit_failures: Counter::default(),
            auth_failures: Counter::default(),
        }
    }

    /// Counts one commit of the sink.
    pub(crate) fn observe_commit(&self, s: &Stored) {
        self.readings.inc_by(s.readings.len() as u64);
        self.duplicates.inc_by(s.duplicates);
        self.gaps.inc_by(s.gaps);
        self.commit_seconds.observe(s.commit.as_secs_f64());
        for r in &s.readings {
            if let Value::Error(reason) = &r.value {
                let labels = ErrorLabels {
                    cid: r.cid.to_string(),
                    sensor: r.sensor.to_string(),
                    reason: reason.to_string(),
                };
                self.errors.get_or_create(&labels).inc();
                self.error_labels.lock().unwrap_or_else(|e| e.into_inner()).insert(labels);
            }
        }
    }

    /// Counts the health reports the sink kept. Every reason of a sensor is there from its first
    /// report on (at 0), so `rate()` sees the first error as an increase.
    pub(crate) fn observe_health(&self, rows: &[cliser_store::HealthRow]) {
        let big = |v: i64| u64::try_from(v).unwrap_or(0);
        for row in rows {
            let labels = HealthLabels { cid: row.cid.clone(), sensor: row.sensor.clone() };
            self.sensor_reads.get_or_create(&labels).inc_by(big(row.reads));
            self.sensor_retries.get_or_create(&labels).inc_by(big(row.retries));
            for (reason, n) in HEALTH_REASONS.into_iter().zip([row.crc, row.empty, row.reset, row.other]) {
                let l = ErrorLabels {
                    cid: row.cid.clone(),
                    sensor: row.sensor.clone(),
                    reason: reason.to_owned(),
                };
                self.sensor_errors.get_or_create(&l).inc_by(big(n));
            }
            if row.reads > 0 {
                let mean = row.read_ms as f64 / row.reads as f64 / 1000.0;
                self.sensor_read_seconds.get_or_create(&labels).set(mean);
            }
            self.health_labels.lock().unwrap_or_else(|e| e.into_inner()).insert(labels);
        }
    }

    /// Drops the error counters of node `cid` (`sensor` None) or of one of its sensors: a forgotten
    /// node leaves `/metrics`. Everything else per node is drawn from the fleet at each scrape.
    pub(crate) fn forget(&self, cid: &ClientId, sensor: Option<&SensorId>) {
        let mut labels = self.error_labels.lock().unwrap_or_else(|e| e.into_inner());
        labels.retain(|l| {
            let forgotten = l.cid == cid.as_str() && sensor.is_none_or(|s| l.sensor == s.as_str());
            if forgotten {
                self.errors.remove(l);
            }
            !forgotten
        });
        drop(labels);
        let mut health = self.health_labels.lock().unwrap_or_else(|e| e.into_inner());
        health.retain(|l| {
            let forgotten = l.cid == cid.as_str() && sensor.is_none_or(|s| l.sensor == s.as_str());
            if forgotten {
                self.sensor_reads.remove(l);
                self.sensor_retries.remove(l);
                self.sensor_read_seconds.remove(l);
                for reason in HEALTH_REASONS {
                    let e = ErrorLabels {
                        cid: l.cid.clone(),
                        sensor: l.sensor.clone(),
                        reason: reason.to_owned(),
                    };
                    self.sensor_errors.remove(&e);
                }
            }
            !forgotten
        });
    }

    /// The exposition: the counters and, from `fleet`, each sensor's last temperature and each
    /// node's state. `viewers` is the number of live streams open.
    pub(crate) fn encode(
        &self,
        fleet: &Fleet,
        alerts: &[AlertView],
        exporters: &[ExporterView],
        viewers: usize,
        settings: &Settings,
        server: Option<&str>,
    ) -> String {
        let firing = Family::<AlertLabels, Gauge>::default();
        for a in alerts {
            let labels =
                AlertLabels { kind: a.kind.to_owned(), cid: a.cid.clone(), sensor: a.sensor.clone() };
            firing.get_or_create(&labels).set(1);
        }
        let temperature = Family::<SensorLabels, Gauge<f64, AtomicU64>>::default();
        let stamp = Family::<SensorLabels, Gauge<f64, AtomicU64>>::default();
        let up = Family::<NodeLabels, Gauge>::default();
        for (cid, node) in fleet {
            up.get_or_create(&NodeLabels { cid: cid.to_string() }).set(i64::from(node.online));
            for (sensor, s) in &node.sensors {
                let Some((ts, c)) = s.last_temp else { continue };
                // A replaced sensor whose replacement reports on this node has handed its series
                // (and name label) over: one series per name, not a stale one beside it.
                if settings.replaced_by(sensor.as_str()).is_some() {
                    let (series, rank) =
                        (settings.series_of(sensor.as_str()), settings.series_rank(sensor.as_str()));
                    let handed_over = node.sensors.iter().any(|(other, o)| {
                        o.last_temp.is_some()
                            && settings.series_of(other.as_str()) == series
                            && settings.series_rank(other.as_str()) > rank
                    });
                    if handed_over {
                        continue;
                    }
                }
                let name = settings.name(sensor.as_str()).unwrap_or_default().to_owned();
                let labels = SensorLabels { cid: cid.to_string(), sensor: sensor.to_string(), name };
                let c = settings.calibrate(sensor.as_str(), c);
                temperature.get_or_create(&labels).set((c.degrees() * 1000.0).round() / 1000.0);
                stamp.get_or_create(&labels).set(ts as f64 / 1000.0);
            }
        }
        let lag = Family::<ExporterLabels, Gauge>::default();
        let lag_seconds = Family::<ExporterLabels, Gauge<f64, AtomicU64>>::default();
        let connected = Family::<ExporterLabels, Gauge>::default();
        let exported = Family::<ExporterLabels, Counter>::default();
        for e in exporters {
            let l = ExporterLabels { exporter: e.name.clone() };
            lag.get_or_create(&l).set(e.lag_readings as i64);
            lag_seconds.get_or_create(&l).set(e.lag_seconds);
            connected.get_or_create(&l).set(i64::from(e.connected));
            exported.get_or_create(&l).inc_by(e.exported);
        }
        let live_viewers = Gauge::<i64>::default();
        live_viewers.set(viewers as i64);
        // The help texts have no full stop: the encoder adds one.
        // In a fleet (PostgreSQL), every series carries `server`: one Prometheus scraping every
        // server tells their series apart, and a sum over servers counts each reading once.
        let mut r = match server {
            Some(name) => Registry::with_labels(std::iter::once(("server".into(), name.to_owned().into()))),
            None => Registry::default(),
        };
        r.register(
            "cliser_temperature_celsius",
            "The newest temperature of each sensor (an error reading leaves the last good one)",
            temperature,
        );
        r.register(
            "cliser_reading_timestamp_seconds",
            "When the newest temperature of each sensor was sampled, Unix seconds",
            stamp,
        );
        r.register("cliser_node_up", "1 while the node (client id) is registered, else 0", up);
        r.register("cliser_sessions", "Connections now, authenticating or registered", self.sessions.clone());
        r.register("cliser_readings", "Readings stored (temperatures and errors)", self.readings.clone());
        r.register("cliser_reading_errors", "Error readings stored, by reason", self.errors.clone());
        r.register(
            "cliser_sensor_reads",
            "Reads of each sensor, from the clients' health reports",
            self.sensor_reads.clone(),
        );
        r.register(
            "cliser_sensor_retries",
            "Reads of each sensor that failed their CRC and were read again, from the clients' health reports",
            self.sensor_retries.clone(),
        );
        r.register(
            "cliser_sensor_errors",
            "Failed reads of each sensor by reason (crc, empty, reset, other), from the clients' health reports",
            self.sensor_errors.clone(),
        );
        r.register(
            "cliser_sensor_read_seconds",
            "Mean time of one read of each sensor over its last health report, seconds",
            self.sensor_read_seconds.clone(),
        );
        r.register(
            "cliser_duplicates",
            "Readings dropped as already stored (resends)",
            self.duplicates.clone(),
        );
        r.register(
            "cliser_seq_gaps",
            "Gaps noticed in a client's seqs (readings it never sent)",
            self.gaps.clone(),
        );
        r.register("cliser_store_commit_seconds", "Time of each store commit", self.commit_seconds.clone());
        r.register(
            "cliser_store_commit_failures",
            "Commits that failed (the group is held and tried again)",
            self.commit_failures.clone(),
        );
        r.register(
            "cliser_auth_failures",
            "Failed logins: client password, admin console and web",
            self.auth_failures.clone(),
        );
        r.register(
            "cliser_alerts_firing",
            "1 for each alert firing now (sensor empty for node_offline)",
            firing,
        );
        r.register("cliser_web_viewers", "Open live event streams (/api/events)", live_viewers);
        r.register(
            "cliser_export_lag_readings",
            "Readings stored but not yet accepted by the exporter's far side (MQTT broker, InfluxDB)",
            lag,
        );
        r.register(
            "cliser_export_lag_seconds",
            "Age of the oldest reading not yet exported, seconds (0 when caught up)",
            lag_seconds,
        );
        r.register(
            "cliser_export_connected",
            "1 while the exporter's far side takes readings, else 0",
            connected,
        );
        r.register(
            "cliser_exported_readings",
            "Readings the exporter's far side accepted since the server started",
            exported,
        );
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &r);
        text_format(&out)
    }
}

/// The exposition in the Prometheus text format (0.0.4), which `/metrics` says it serves and
/// `promtool check metrics` reads. prometheus-client writes OpenMetrics, whose counter families are
/// named without the `_total` their samples carry; in the text format the `# HELP` and `# TYPE`
/// lines name the samples, or a scraper and promtool find counters without help or type.
fn text_format(openmetrics: &str) -> String {
    let counters: HashSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .filter(|name| !name.ends_with("_total"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "].into_iter().find_map(|tag| Some((tag, line.strip_prefix(tag)?)));
        match meta.and_then(|(tag, rest)| Some((tag, rest.split_once(' ')?))) {
            Some((tag, (name, tail))) if counters.contains(name) => {
                out.push_str(&format!("{tag}{name}_total {tail}"));
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_named_as_their_samples_and_there_is_no_eof() {
        let om = "# HELP a_seconds Time.\n# TYPE a_seconds histogram\na_seconds_sum 0\n\
                  # HELP b Things.\n# TYPE b counter\nb_total 3\n\
                  # HELP c_total Already.\n# TYPE c_total counter\nc_total 1\n\
                  # HELP d_up Up.\n# TYPE d_up gauge\nd_up{cid=\"b\"} 1\n# EOF\n";
        assert_eq!(
            text_format(om),
            "# HELP a_seconds Time.\n# TYPE a_seconds histogram\na_seconds_sum 0\n\
             # HELP b_total Things.\n# TYPE b_total counter\nb_total 3\n\
             # HELP c_total Already.\n# TYPE c_total counter\nc_total 1\n\
             # HELP d_up Up.\n# TYPE d_up gauge\nd_up{cid=\"b\"} 1\n"
        );
    }

    #[test]
    fn the_exposition_has_each_counter_under_its_sample_name() {
        let text = Metrics::new().encode(&Fleet::new(), &[], &[], 2, &Settings::default(), None);
        for name in ["cliser_readings_total", "cliser_auth_failures_total", "cliser_reading_errors_total"] {
            assert!(text.contains(&format!("# TYPE {name} counter\n")), "{name} in\n{text}");
            assert!(text.contains(&format!("# HELP {name} ")), "{name} in\n{text}");
        }
        assert!(text.contains("cliser_web_viewers 2\n"), "{text}");
        assert!(!text.contains("# EOF") && !text.contains(".."), "{text}");
    }

    #[test]
    fn health_reports_become_counters_by_reason_and_the_last_mean_read_time() {
        let m = Metrics::new();
        let row = |reads, crc, read_ms| cliser_store::HealthRow {
            cid: "pi-1".into(),
            sensor: "28-a".into(),
            hour_ms: 0,
            reads,
            crc,
            empty: 0,
            reset: 1,
            other: 0,
            retries: crc + 1,
            read_ms,
            period_ms: 1000,
            last_report: 1,
        };
        m.observe_health(&[row(100, 5, 1200), row(100, 0, 2400)]);
        let text = m.encode(&Fleet::new(), &[], &[], 0, &Settings::default(), None);
        for line in [
            "cliser_sensor_reads_total{cid=\"pi-1\",sensor=\"28-a\"} 200\n",
            "cliser_sensor_errors_total{cid=\"pi-1\",sensor=\"28-a\",reason=\"crc\"} 5\n",
            "cliser_sensor_retries_total{cid=\"pi-1\",sensor=\"28-a\"} 7\n",
            "cliser_sensor_errors_total{cid=\"pi-1\",sensor=\"28-a\",reason=\"reset\"} 2\n",
            "cliser_sensor_errors_total{cid=\"pi-1\",sensor=\"28-a\",reason=\"empty\"} 0\n",
            "cliser_sensor_read_seconds{cid=\"pi-1\",sensor=\"28-a\"} 0.024\n",
            "# TYPE cliser_sensor_errors_total counter\n",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        m.forget(&ClientId::new("pi-1").unwrap(), None);
        let text = m.encode(&Fleet::new(), &[], &[], 0, &Settings::default(), None);
        assert!(!text.contains("sensor=\"28-a\""), "forgotten: {text}");
    }

    #[test]
    fn in_a_fleet_every_series_names_its_server() {
        let mut fleet = Fleet::new();
        fleet.insert(ClientId::new("pi-1").unwrap(), Default::default());
        let text = Metrics::new().encode(&fleet, &[], &[], 2, &Settings::default(), Some("server-a"));
        assert!(text.contains("cliser_web_viewers{server=\"server-a\"} 2\n"), "{text}");
        assert!(text.contains("cliser_node_up{server=\"server-a\",cid=\"pi-1\"} 0\n"), "{text}");
        assert!(text.contains("cliser_readings_total{server=\"server-a\"} 0\n"), "{text}");
    }
}
