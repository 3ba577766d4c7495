//! What the sampler saw of each sensor since the last summary: reads, errors by reason, and the
//! time the reads took. The client logs it once per `--health-every` (an hour by default), one line
//! a sensor, so a Pi without the dashboard still tells which sensor is failing and how. The same
//! counts go to the server as health reports (docs/PROTOCOL.md, "Health reports") through the
//! [`HealthOutbox`], when the server says it takes them.

use cliser_hal::facts::SensorFacts;
use cliser_hal::Sample;
use cliser_protocol::{HealthReport, SensorId};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One sensor's figures over one finished period, waiting to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingReport {
    /// The sensor.
    pub sensor: SensorId,
    /// Reads, CRC errors, empty reads, 85 °C power-on values, other errors.
    pub counts: [u64; 5],
    /// Reads that failed their CRC and were read again (the hal's retries).
    pub retries: u64,
    /// The reads' time, summed.
    pub read_time: Duration,
    /// When the period started and how long it was.
    pub started: Instant,
    /// How long the period was.
    pub period: Duration,
    /// The report's id: the reading seq counter at the end of the period, which grows between
    /// periods (every sampling records a reading) and across restarts (it is kept in the journal).
    pub id: u64,
}

impl PendingReport {
    /// The wire form, its start given as an age now (so send it at once).
    pub fn to_wire(&self) -> HealthReport {
        let [reads, crc, empty, reset, other] = self.counts;
        HealthReport {
            sensor: self.sensor.clone(),
            reads,
            crc,
            empty,
            reset,
            other,
            retries: self.retries,
            read_ms: self.read_time.as_millis() as u64,
            period_ms: self.period.as_millis() as u64,
            age_ms: self.started.elapsed().as_millis() as u64,
            id: self.id,
        }
    }
}

/// At most this many reports wait (a period of up to this many sensors, or several periods
/// of a few while no server takes them); the oldest go first.
pub const OUTBOX_CAP: usize = 256;

/// Where the sampler leaves each period's reports and the connection takes them: a short lock,
/// never held across I/O, so the sampler never waits on the network.
#[derive(Debug, Default)]
pub struct HealthOutbox {
    waiting: Mutex<VecDeque<PendingReport>>,
}

impl HealthOutbox {
    /// Leaves a period's reports; drops the oldest beyond [`OUTBOX_CAP`].
    pub fn put(&self, reports: Vec<PendingReport>) {
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        w.extend(reports);
        while w.len() > OUTBOX_CAP {
            w.pop_front();
        }
    }

    /// Takes every report waiting (each is sent at most once).
    pub fn take(&self) -> Vec<PendingReport> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner()).drain(..).collect()
    }

    /// Puts back the reports that did not fit a line, in front of newer ones.
    pub fn put_back(&self, reports: Vec<PendingReport>) {
        let mut w = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        for r in reports.into_iter().rev() {
            w.push_front(r);
        }
        while w.len() > OUTBOX_CAP {
            w.pop_back();
        }
    }
}

/// Counts per sensor since the last [`Health::take_summary`].
#[derive(Debug, Default)]
pub struct Health {
    sensors: BTreeMap<String, Stats>,
    /// What the hal told of each sensor at start (power mode, resolution, clone kind), repeated
    /// in every line so the hourly line alone says why a sensor may misbehave.
    traits: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct Stats {
    reads: u64,
    errors: BTreeMap<&'static str, u64>,
    retries: u64,
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

    /// Notes the hal's retries since the last call ([`cliser_hal::Thermometers::take_retries`]),
    /// for sensors noted in this period (a retry always comes with its read).
    pub fn note_retries(&mut self, retries: &[(SensorId, u64)]) {
        for (sensor, n) in retries {
            if let Some(st) = self.sensors.get_mut(sensor.as_str()) {
                st.retries += n;
            }
        }
    }

    /// Remembers what the hal told of some sensors, for the lines of every period from now on.
    pub fn learn(&mut self, facts: &[SensorFacts]) {
        for f in facts {
            let mut t = match f.power {
                Some(p) => p.to_string(),
                None => "power mode unknown".to_owned(),
            };
            if let Some(r) = f.resolution {
                t.push_str(&format!(", {r} bits"));
            }
            if let Some(look) = &f.clone {
                t.push_str(&format!(", looks like a clone (kind {})", look.kind));
            }
            self.traits.insert(f.sensor.as_str().to_owned(), t);
        }
    }

    /// One line per sensor (`28-0316a2795aff: 360 reads, 2 errors (crc 2), 5 retries, mean read time
    /// 751ms`; the retries only when there were some),
    /// and starts counting again.
    pub fn take_summary(&mut self) -> Vec<String> {
        self.take_period(Instant::now(), 0).0
    }

    /// The period that started at `started` ends now: its log lines and its reports (id `id`),
    /// and counting starts again.
    pub fn take_period(&mut self, started: Instant, id: u64) -> (Vec<String>, Vec<PendingReport>) {
        let period = started.elapsed();
        let reports = self
            .sensors
            .iter()
            .filter_map(|(sensor, st)| {
                let sensor = SensorId::new(sensor).ok()?;
                let by = |reason: &str| st.errors.get(reason).copied().unwrap_or(0);
                let (crc, empty, reset) = (by("crc"), by("missing"), by("reset"));
                let other = st.errors.values().sum::<u64>() - crc - empty - reset;
                let counts = [st.reads, crc, empty, reset, other];
                let retries = st.retries;
                Some(PendingReport { sensor, counts, retries, read_time: st.read_time, started, period, id })
            })
            .collect();
        let lines = std::mem::take(&mut self.sensors)
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
                let retries = match st.retries {
                    0 => String::new(),
                    n => format!(", {n} retries"),
                };
                // Last, so the line still starts `<id>: <n> reads` for whoever greps it.
                let traits = self.traits.get(&sensor).map(|t| format!(" ({t})")).unwrap_or_default();
                format!(
                    "{sensor}: {} reads, {errors}{retries}, mean read time {}ms{traits}",
                    st.reads,
                    mean.as_millis()
                )
            })
            .collect();
        (lines, reports)
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

    #[test]
    fn what_the_hal_told_of_a_sensor_is_in_every_periods_line() {
        use cliser_hal::clones::{CloneLook, Signs};
        use cliser_hal::facts::PowerMode;
        use cliser_hal::resolution::Resolution;
        let mut h = Health::default();
        let id = |s: &str| SensorId::new(s).unwrap();
        let mut clone = SensorFacts::assessed(id("28-b"), None, Some(Resolution::Bits12), Signs::default());
        clone.clone = Some(CloneLook { kind: "B1 (GXCAS)", known_behaviour: "-", signs: vec![] });
        h.learn(&[
            SensorFacts::assessed(
                id("28-a"),
                Some(PowerMode::Parasite),
                Some(Resolution::Bits10),
                Signs::default(),
            ),
            clone,
        ]);
        for _ in 0..2 {
            h.note(&[sample("28-a", Ok(1)), sample("28-b", Ok(1))], Duration::from_millis(20));
            assert_eq!(
                h.take_summary(),
                [
                    "28-a: 1 reads, 0 errors, mean read time 10ms (parasite power, 10 bits)",
                    "28-b: 1 reads, 0 errors, mean read time 10ms (power mode unknown, 12 bits, looks like a \
                     clone (kind B1 (GXCAS)))"
                ]
            );
        }
    }

    #[test]
    fn a_period_becomes_one_report_per_sensor_with_reasons_sorted_into_their_columns() {
        let mut h = Health::default();
        let started = Instant::now();
        h.note(&[sample("28-a", Ok(1)), sample("28-b", Err(SensorError::Crc))], Duration::from_millis(200));
        h.note(
            &[sample("28-a", Err(SensorError::Reset)), sample("28-b", Err(SensorError::Missing))],
            Duration::from_millis(20),
        );
        h.note(
            &[sample("28-a", Err(SensorError::NoPresence)), sample("28-b", Ok(2))],
            Duration::from_millis(20),
        );
        h.note_retries(&[(SensorId::new("28-b").unwrap(), 2), (SensorId::new("28-gone").unwrap(), 9)]);
        let (lines, reports) = h.take_period(started, 77);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1], "28-b: 3 reads, 2 errors (crc 1, missing 1), 2 retries, mean read time 40ms");
        let wire: Vec<_> = reports.iter().map(|r| r.to_wire()).collect();
        assert_eq!(
            (wire[0].reads, wire[0].crc, wire[0].empty, wire[0].reset, wire[0].other),
            (3, 0, 0, 1, 1)
        );
        assert_eq!(
            (wire[1].reads, wire[1].crc, wire[1].empty, wire[1].reset, wire[1].other),
            (3, 1, 1, 0, 0)
        );
        assert_eq!((wire[0].read_ms, wire[0].id), (120, 77));
        assert_eq!((wire[0].retries, wire[1].retries), (0, 2), "retries of a sensor not read are dropped");
        let outbox = HealthOutbox::default();
        outbox.put(reports);
        let taken = outbox.take();
        assert_eq!(taken.len(), 2);
        assert!(outbox.take().is_empty(), "each report is taken once");
        outbox.put((0..OUTBOX_CAP + 5).map(|_| taken[0].clone()).collect());
        assert_eq!(outbox.take().len(), OUTBOX_CAP);
    }
}
