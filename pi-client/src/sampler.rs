//! The sampler thread: reads every sensor each interval, whatever the connection is doing, and
//! records the readings in the backlog.

use crate::backlog::Backlog;
use crate::health::Health;
use crate::sensor_notes::SensorNotes;
use crate::stop::Stop;
use cliser_hal::resolution::ResolutionPlan;
use cliser_hal::{HalError, Sample, SensorError, SensorSpec, Thermometers};
use cliser_protocol::{Celsius, ClientId, ErrorReason, SensorId, Value};
use log::{debug, error, info};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Opens the thermometers; called again each interval until it succeeds (the w1 driver may still be
/// loading at boot, a USB adapter may be plugged in later).
pub type Opener = Box<dyn FnMut() -> Result<Box<dyn Thermometers>, HalError> + Send>;

/// Opens the thermometers of `spec` for the client `id`: the one place that chooses them, for a run
/// and for `probe` alike, so probe lists the ids a run reports (the simulated sensors' ids derive
/// from the client's id). `None` only for a backend that ignores the id ([`crate::config::probe_target`]
/// requires one for `sim`). `plan`: the resolution asked of each sensor (empty: nothing written,
/// as for `probe`).
pub fn open(
    spec: &SensorSpec,
    id: Option<&ClientId>,
    plan: &ResolutionPlan,
) -> Result<Box<dyn Thermometers>, HalError> {
    cliser_hal::open_planned(spec, id.map(ClientId::as_str), plan)
}

/// Turns one hal sample into what goes on the wire (the hal's sensor ids are the protocol's).
pub fn to_wire(sample: Sample) -> (SensorId, Value) {
    let value = match sample.result {
        Ok(millis) => match Celsius::from_millis(millis) {
            Some(c) => Value::Celsius(c),
            None => Value::Error(ErrorReason::new("range").expect("valid reason")),
        },
        Err(e) => Value::Error(ErrorReason::new(e.reason()).expect("hal reasons are valid")),
    };
    (sample.sensor, value)
}

/// The id under which a sampling that found no sensor at all is reported: the backend's name (`w1`,
/// `gpio4`, `sim`, `file`), so the server shows `w1=err:no_sensors` instead of silence.
pub fn source_id(spec: &SensorSpec) -> SensorId {
    let name = match spec {
        SensorSpec::W1(_) => "w1".to_owned(),
        SensorSpec::Gpio(pin) => format!("gpio{pin}"),
        SensorSpec::Sim(_) => "sim".to_owned(),
        SensorSpec::File(_) => "file".to_owned(),
    };
    SensorId::new(&name).expect("backend names are valid sensor ids")
}

/// What is recorded for `source` when a sampling gives no reading at all.
fn no_sensors(source: &SensorId) -> (SensorId, Value) {
    (source.clone(), Value::Error(ErrorReason::new(NO_SENSORS).expect("valid reason")))
}

/// The error reason of a sampling that found no sensor (none wired, the bus not enabled, the backend
/// failing to open or to read).
pub const NO_SENSORS: &str = "no_sensors";

/// Starts the sampler: a first read at once, then one every `interval` (a late read does not shift the
/// schedule; missed ticks are skipped). A tick that yields no reading at all records one
/// `<source>=err:no_sensors`, so a Pi whose sensors all fail does not look healthy and silent. Every
/// `health_every` it logs one line per sensor: reads, errors by reason, mean read time.
pub fn spawn(
    mut open: Opener,
    source: SensorId,
    interval: Duration,
    health_every: Duration,
    store: Arc<Backlog>,
    stop: Stop,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("sampler".into())
        .spawn(move || {
            let mut sensors: Option<Box<dyn Thermometers>> = None;
            let mut last_error = String::new();
            let mut next = Instant::now();
            let mut health = Health::default();
            let mut notes = SensorNotes::default();
            let mut next_health = next + health_every;
            let mut period_started = Instant::now();
            loop {
                if sensors.is_none() {
                    match open() {
                        Ok(s) => {
                            info!("thermometers ready");
                            last_error.clear();
                            sensors = Some(s);
                        }
                        // Said once per distinct error, not every interval: a Pi without its sensors
                        // wired must not fill the SD card with the same line.
                        Err(e) => note_failure(&mut last_error, format!("cannot open the thermometers: {e}")),
                    }
                }
                let mut recorded = false;
                if let Some(s) = sensors.as_mut() {
                    let started = Instant::now();
                    let read = s.read_all();
                    if let Ok(samples) = &read {
                        health.note(samples, started.elapsed());
                        health.note_retries(&s.take_retries());
                    }
                    let facts = notes.log_new(s.as_mut());
                    health.learn(&facts);
                    store.facts().put(&facts);
                    match read {
                        Ok(samples) if samples.is_empty() => {
                            note_failure(&mut last_error, "no thermometer found".to_owned())
                        }
                        Ok(samples) => {
                            last_error.clear();
                            sample_batch(samples, &store);
                            recorded = true;
                        }
                        Err(e) => note_failure(&mut last_error, format!("reading the thermometers: {e}")),
                    }
                }
                if !recorded {
                    store.record(vec![no_sensors(&source)]);
                }
                if Instant::now() >= next_health {
                    let (lines, reports) = health.take_period(period_started, store.next_seq());
                    for line in lines {
                        info!("health over {}: {line}", cliser_common::duration::format(health_every));
                    }
                    // Sent with the next answer, if the server takes health reports.
                    store.health().put(reports);
                    period_started = Instant::now();
                    next_health = period_started + health_every;
                }
                // The connection thread leaves journal rewrites to this thread, batch or no batch.
                store.maintain();
                let now = Instant::now();
                while next <= now {
                    next += interval;
                }
                if stop.sleep_until(next) {
                    return;
                }
            }
        })
        .expect("spawn sampler thread")
}

fn note_failure(last: &mut String, message: String) {
    if *last != message {
        error!("{message} (retrying every interval)");
        *last = message;
    }
}

fn sample_batch(samples: Vec<Sample>, store: &Backlog) {
    if !log::log_enabled!(log::Level::Debug) {
        store.record_unlogged(samples.into_iter().map(to_wire).collect());
        return;
    }
    // The wire carries only the reason (`err:io`); the log also gets what the hal said about it.
    let mut details = Vec::with_capacity(samples.len());
    let mut batch = Vec::with_capacity(samples.len());
    for sample in samples {
        let detail = match &sample.result {
            Err(e @ SensorError::Io(_)) => format!(" ({e})"),
            _ => String::new(),
        };
        details.push(detail);
        batch.push(to_wire(sample));
    }
    // Returns once the batch is recorded (synced, in `sync` mode); the connection thread answers all
    // the while.
    let recorded = store.record(batch);
    for (r, detail) in recorded.iter().zip(details) {
        let seq = r.seq.unwrap_or(0);
        match &r.value {
            // Debug only: at the default level the log has no line per reading (journald may live on
            // the SD card that spilling spares).
            Value::Celsius(c) => debug!("reading sensor={} temp_c={} seq={seq}", r.sensor, c.fixed()),
            Value::Error(reason) => debug!("reading sensor={} error={reason}{detail} seq={seq}", r.sensor),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(sensor: &str, result: Result<i32, SensorError>) -> Sample {
        Sample { sensor: SensorId::new(sensor).unwrap(), result }
    }

    #[test]
    fn no_sensors_is_reported_under_the_backends_name() {
        let (id, v) = no_sensors(&source_id(&"w1".parse().unwrap()));
        assert_eq!(format!("{id}={v}"), "w1=err:no_sensors");
        assert_eq!(source_id(&"gpio:17".parse().unwrap()).as_str(), "gpio17");
        assert_eq!(source_id(&"file:/tmp/x".parse().unwrap()).as_str(), "file");
    }

    #[test]
    fn samples_become_wire_values() {
        let ok = to_wire(sample("28-0316a2795aff", Ok(-10125)));
        assert_eq!(format!("{}={}", ok.0, ok.1), "28-0316a2795aff=-10.125");
        let err = to_wire(sample("28-a", Err(SensorError::Io("x".into()))));
        assert_eq!(err.1.to_string(), "err:io");
        let range = to_wire(sample("28-a", Ok(1_000_000)));
        assert_eq!(range.1.to_string(), "err:range");
    }
}
