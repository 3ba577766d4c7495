//! What the sampler saw of each sensor since the last summary: reads, errors by reason, and the
//! time the reads took. The client logs it once per `--health-every` (an hour by default), one line
//! a sensor, so a Pi without the dashboard still tells which sensor is failing and how.

use cliser_hal::Sample;
use std::collections::BTreeMap;
use std::time::Duration;

/// Counts per sensor since the last [`Health::take_summary`].
#[derive(Debug, Default)]
pub struct Health {
    sensors: BTreeMap<String, Stats>,
}

#[derive(Debug, Default)]
struct Stats {
    reads: u64,
    errors: BTreeMap<&'static str, u64>,
    read_time: Duration,
}

impl Health {
    /// Notes one sampling: the samples of one `read_all` call and how long it took. The hal reads
    /// the sensors one after another in that call, so each is charged an equal share of it.
    pub fn note(&mut self, samples: &[Sample], took: Duration) {
        if samples.is_empty() {
            return;
        }
        let share = took / samples.len() as u32;
        for s in samples {
            // Looked up before inserting: a name is allocated once a sensor, not once a reading.
            let name = s.sensor.as_str();
            if !self.sensors.contains_key(name) {
                self.sensors.insert(name.to_owned(), Stats::default());
            }
            let Some(st) = self.sensors.get_mut(name) else { continue };
            st.reads += 1;
            st.read_time += share;
            if let Err(e) = &s.result {
                *st.errors.entry(e.reason()).or_default() += 1;
            }
        }
    }

    /// One line per sensor (`28-0316a2795aff: 360 reads, 2 errors (crc 2), mean read time 751ms`),
    /// and starts counting again.
    pub fn take_summary(&mut self) -> Vec<String> {
        std::mem::take(&mut self.sensors)
            .into_iter()
            .map(|(sensor, st)| {
                let total: u64 = st.errors.values().sum();
                let errors = if total == 0 {
                    "0 errors".to_owned()
                } else {
                    let by: Vec<String> = st.errors.iter().map(|(r, n)| format!("{r} {n}")).collect();
                    format!("{total} errors ({})", by.join(", "))
                };
                let mean = st.read_time / st.reads.max(1) as u32;
                format!("{sensor}: {} reads, {errors}, mean read time {}ms", st.reads, mean.as_millis())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliser_hal::SensorError;
    use cliser_protocol::SensorId;

    fn sample(id: &str, result: Result<i32, SensorError>) -> Sample {
        Sample { sensor: SensorId::new(id).unwrap(), result }
    }

    #[test]
    fn counts_reads_errors_by_reason_and_the_mean_read_time() {
        let mut h = Health::default();
        h.note(&[sample("28-a", Ok(1)), sample("28-b", Err(SensorError::Crc))], Duration::from_millis(200));
        h.note(&[sample("28-a", Ok(1)), sample("28-b", Err(SensorError::Crc))], Duration::from_millis(400));
        h.note(&[sample("28-b", Err(SensorError::Missing))], Duration::from_millis(10));
        assert_eq!(
            h.take_summary(),
            [
                "28-a: 2 reads, 0 errors, mean read time 150ms",
                "28-b: 3 reads, 3 errors (crc 2, missing 1), mean read time 103ms"
            ]
        );
        assert!(h.take_summary().is_empty());
    }
}
