//! The sampler thread: reads every sensor each interval, whatever the connection is doing, and
//! records the readings in the backlog.

use crate::backlog::Backlog;
use crate::stop::Stop;
use cliser_hal::{HalError, Sample, SensorError, Thermometers};
use cliser_protocol::{Celsius, ErrorReason, SensorId, Value};
use log::{error, info};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Opens the thermometers; called again each interval until it succeeds (the w1 driver may still be
/// loading at boot, a USB adapter may be plugged in later).
pub type Opener = Box<dyn FnMut() -> Result<Box<dyn Thermometers>, HalError> + Send>;

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
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

/// Starts the sampler: a first read at once, then one every `interval` (a late read does not shift the
/// schedule; missed ticks are skipped).
pub fn spawn(mut open: Opener, interval: Duration, store: Arc<Backlog>, stop: Stop) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name("sampler".into())
        .spawn(move || {
            let mut sensors: Option<Box<dyn Thermometers>> = None;
            let mut last_error = String::new();
            let mut next = Instant::now();
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
                if let Some(s) = sensors.as_mut() {
                    match s.read_all() {
                        Ok(samples) => {
                            last_error.clear();
                            sample_batch(samples, &store);
                        }
                        Err(e) => note_failure(&mut last_error, format!("reading the thermometers: {e}")),
                    }
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
    let unix_ms = unix_ms();
    // Returns once the batch is synced; the connection thread answers all the while.
    let recorded = store.record(batch, unix_ms);
    for (r, detail) in recorded.iter().zip(details) {
        let seq = r.seq.unwrap_or(0);
        match &r.value {
            Value::Celsius(c) => info!("reading sensor={} temp_c={} seq={seq}", r.sensor, c.fixed()),
            Value::Error(reason) => info!("reading sensor={} error={reason}{detail} seq={seq}", r.sensor),
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
    fn samples_become_wire_values() {
        let ok = to_wire(sample("28-0316a2795aff", Ok(-10125)));
        assert_eq!(format!("{}={}", ok.0, ok.1), "28-0316a2795aff=-10.125");
        let err = to_wire(sample("28-a", Err(SensorError::Io("x".into()))));
        assert_eq!(err.1.to_string(), "err:io");
        let range = to_wire(sample("28-a", Ok(1_000_000)));
        assert_eq!(range.1.to_string(), "err:range");
    }
}
