//! Simulated thermometers for PC mode: named like real sensors, slowly varying around room
//! temperature.
//!
//! Each reading is a pure function of the time since the set was opened, so a test that supplies its
//! own clock ([`SimThermometers::with_clock`]) gets exact, repeatable values.
//!
//! A flaky bus on demand ([`SimOptions`], `--sensor sim:crc-every=20`): every Nth read of the first
//! sensor is a CRC error, exactly, so a demo or a test knows what the health figures must say;
//! `retry-every=M` makes every Mth read of it pass only on its retry (a retry, no error).

use std::f64::consts::TAU;
use std::time::{Duration, Instant};

use crate::{HalError, Sample, SensorError, SensorId, Thermometers};
use std::fmt;
use std::num::NonZeroU32;

/// The ids of the simulated sensors.
pub const SIM_SENSOR_IDS: [&str; 2] = ["28-00000000sim1", "28-00000000sim2"];

/// One simulated sensor: a mean and two slow waves on top of it.
#[derive(Debug, Clone, Copy)]
struct Profile {
    mean_millis: f64,
    slow_amplitude: f64,
    slow_period_s: f64,
    ripple_amplitude: f64,
    ripple_period_s: f64,
}

/// A living room and a cooler corridor: a few degrees over tens of minutes, with a small ripple.
const PROFILES: [Profile; 2] = [
    Profile {
        mean_millis: 21_000.0,
        slow_amplitude: 1_500.0,
        slow_period_s: 1_800.0,
        ripple_amplitude: 150.0,
        ripple_period_s: 170.0,
    },
    Profile {
        mean_millis: 18_500.0,
        slow_amplitude: 2_000.0,
        slow_period_s: 2_700.0,
        ripple_amplitude: 200.0,
        ripple_period_s: 230.0,
    },
];

type Clock = Box<dyn FnMut() -> Duration + Send>;

/// How the simulated bus misbehaves, written after `sim:` on the `--sensor` flag as
/// comma-separated `key=value` options (`sim:crc-every=20`). The default is a clean bus (`sim`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimOptions {
    /// `crc-every=N`: the first sensor's Nth, 2Nth, ... reads are CRC errors ([`SensorError::Crc`],
    /// as a hardware backend reports a CRC that fails on the read and its retry); the other sensor
    /// stays clean. `crc-every=20` is 5 %. Each such read counts one retry, as on hardware (the
    /// read failed, was read again, and failed again).
    pub crc_every: Option<NonZeroU32>,
    /// `retry-every=M`: the first sensor's Mth, 2Mth, ... reads fail their CRC once and pass on the
    /// retry: a good reading and one retry ([`Thermometers::take_retries`]). A read that both
    /// options pick is a CRC error (one retry).
    pub retry_every: Option<NonZeroU32>,
}

impl SimOptions {
    /// Parses the text after `sim:`; `None` for an unknown key or a bad value.
    pub(crate) fn parse(text: &str) -> Option<SimOptions> {
        let mut options = SimOptions::default();
        for option in text.split(',') {
            match option.split_once('=')? {
                ("crc-every", n) if options.crc_every.is_none() => options.crc_every = Some(n.parse().ok()?),
                ("retry-every", n) if options.retry_every.is_none() => {
                    options.retry_every = Some(n.parse().ok()?)
                }
                _ => return None,
            }
        }
        Some(options)
    }
}

/// The text after `sim:` (empty for a clean bus), as [`SimOptions::parse`] reads it.
impl fmt::Display for SimOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(n) = self.crc_every {
            parts.push(format!("crc-every={n}"));
        }
        if let Some(n) = self.retry_every {
            parts.push(format!("retry-every={n}"));
        }
        f.write_str(&parts.join(","))
    }
}

/// The simulated set of thermometers (`--sensor sim`).
pub struct SimThermometers {
    clock: Clock,
    ids: Vec<SensorId>,
    /// Where in its waves this set starts, so two simulated Pis do not read alike.
    phase: Duration,
    /// The injected faults.
    options: SimOptions,
    /// Reads of the first sensor so far (the count `crc-every` and `retry-every` go by).
    first_reads: u64,
    /// Retried reads of the first sensor since the last [`Thermometers::take_retries`].
    retries: u64,
}

impl std::fmt::Debug for SimThermometers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimThermometers")
            .field("sensors", &self.ids)
            .field("phase", &self.phase)
            .field("options", &self.options)
            .finish()
    }
}

/// FNV-1a: a stable hash of a node's name (std's hasher may change between releases, and the ids
/// of a simulated Pi must not).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl Default for SimThermometers {
    fn default() -> Self {
        SimThermometers::new()
    }
}

impl SimThermometers {
    /// Sensors whose readings follow the wall clock from now on.
    pub fn new() -> SimThermometers {
        let start = Instant::now();
        SimThermometers::with_clock(move || start.elapsed())
    }

    /// Sensors whose readings follow `elapsed`, which says how much time has passed since the start.
    pub fn with_clock(elapsed: impl FnMut() -> Duration + Send + 'static) -> SimThermometers {
        let ids = SIM_SENSOR_IDS.iter().map(|id| SensorId::new(id).expect("valid sensor ids")).collect();
        SimThermometers {
            clock: Box::new(elapsed),
            ids,
            phase: Duration::ZERO,
            options: SimOptions::default(),
            first_reads: 0,
            retries: 0,
        }
    }

    /// The sensors of the simulated Pi called `node`: ids derived from the name (`28-` and 12 hex
    /// digits, like real ones) and a starting point of its own, so that two simulated Pis in one log
    /// are told apart at a glance. The same name always gives the same ids.
    pub fn for_node(node: &str) -> SimThermometers {
        let mut sim = SimThermometers::new();
        let hash = fnv1a(node);
        sim.ids = (0..PROFILES.len() as u64)
            .map(|i| {
                let rom = (hash.rotate_left(i as u32 * 16) ^ i) & 0xffff_ffff_ffff;
                SensorId::new(&format!("28-{rom:012x}")).expect("valid sensor id")
            })
            .collect();
        sim.phase = Duration::from_secs(hash % 2_700);
        sim
    }

    /// The same sensors with the faults of `options` injected.
    pub fn with_options(mut self, options: SimOptions) -> SimThermometers {
        self.options = options;
        self
    }

    /// The reading of sensor `index` (into [`SIM_SENSOR_IDS`]) at `elapsed`, in millidegrees, in the
    /// 1/16 °C steps of a DS18B20 (truncated toward zero like the kernel's).
    pub fn temperature_at(index: usize, elapsed: Duration) -> i32 {
        let p = PROFILES[index % PROFILES.len()];
        let t = elapsed.as_secs_f64();
        let millis = p.mean_millis
            + p.slow_amplitude * (TAU * t / p.slow_period_s).sin()
            + p.ripple_amplitude * (TAU * t / p.ripple_period_s).sin();
        let sixteenths = (millis * 16.0 / 1000.0).round() as i32;
        sixteenths * 1000 / 16
    }
}

impl Thermometers for SimThermometers {
    fn discover(&mut self) -> Result<Vec<String>, HalError> {
        Ok(self.ids.iter().map(|s| s.to_string()).collect())
    }

    fn read_all(&mut self) -> Result<Vec<Sample>, HalError> {
        let elapsed = (self.clock)() + self.phase;
        self.first_reads += 1;
        let every =
            |n: Option<NonZeroU32>| n.is_some_and(|n| self.first_reads.is_multiple_of(u64::from(n.get())));
        let crc_now = every(self.options.crc_every);
        if crc_now || every(self.options.retry_every) {
            self.retries += 1;
        }
        Ok(self
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                let result = if i == 0 && crc_now {
                    Err(SensorError::Crc)
                } else {
                    Ok(Self::temperature_at(i, elapsed))
                };
                Sample { sensor: id.clone(), result }
            })
            .collect())
    }

    fn take_retries(&mut self) -> Vec<(SensorId, u64)> {
        match std::mem::take(&mut self.retries) {
            0 => Vec::new(),
            n => vec![(self.ids[0].clone(), n)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    fn valid_id(id: &str) -> bool {
        (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    }

    #[test]
    fn two_sensors_with_valid_ids() {
        let mut sim = SimThermometers::new();
        let ids = sim.discover().unwrap();
        assert_eq!(ids, SIM_SENSOR_IDS);
        assert!(ids.iter().all(|id| valid_id(id)));
        let samples = sim.read_all().unwrap();
        assert_eq!(samples.len(), 2);
        assert!(samples.iter().all(|s| s.result.is_ok()));
    }

    #[test]
    fn each_simulated_pi_has_its_own_ids_and_starting_point() {
        let (mut a, mut b) = (SimThermometers::for_node("pi-a"), SimThermometers::for_node("pi-b"));
        let (ids_a, ids_b) = (a.discover().unwrap(), b.discover().unwrap());
        assert_eq!(ids_a, SimThermometers::for_node("pi-a").discover().unwrap(), "stable");
        assert!(ids_a.iter().all(|id| id.starts_with("28-") && id.len() == 15 && valid_id(id)), "{ids_a:?}");
        assert!(ids_a.iter().all(|id| !ids_b.contains(id)), "{ids_a:?} {ids_b:?}");
        assert_ne!(ids_a[0], ids_a[1]);
        let values =
            |s: &mut SimThermometers| s.read_all().unwrap().into_iter().map(|x| x.result).collect::<Vec<_>>();
        assert_ne!(values(&mut a), values(&mut b));
    }

    #[test]
    fn readings_follow_the_given_clock_exactly() {
        let seconds = Arc::new(AtomicU64::new(0));
        let clock = seconds.clone();
        let mut sim = SimThermometers::with_clock(move || Duration::from_secs(clock.load(Ordering::SeqCst)));
        let first = sim.read_all().unwrap();
        assert_eq!(first[0].result, Ok(21_000));
        assert_eq!(first[1].result, Ok(18_500));
        seconds.store(450, Ordering::SeqCst);
        let later = sim.read_all().unwrap();
        assert_eq!(later[0].result, Ok(SimThermometers::temperature_at(0, Duration::from_secs(450))));
        assert_ne!(later[0].result, first[0].result);
    }

    #[test]
    fn crc_every_n_fails_exactly_every_nth_read_of_the_first_sensor_only() {
        let options = SimOptions::parse("crc-every=20").unwrap();
        let mut sim = SimThermometers::for_node("pi-flaky").with_options(options);
        let mut failed = Vec::new();
        for read in 1..=100u32 {
            let samples = sim.read_all().unwrap();
            assert!(samples[1].result.is_ok(), "the second sensor stays clean");
            if samples[0].result == Err(SensorError::Crc) {
                failed.push(read);
            } else {
                assert!(samples[0].result.is_ok());
            }
        }
        assert_eq!(failed, [20, 40, 60, 80, 100]);
        let first = SensorId::new(&sim.discover().unwrap()[0]).unwrap();
        assert_eq!(sim.take_retries(), [(first, 5)], "each CRC error was a failed retry");
        assert_eq!(sim.take_retries(), [], "taken once");
        for bad in [
            "crc-every=0",
            "crc-every=x",
            "crc-every",
            "noise=3",
            "crc-every=2,crc-every=3",
            "retry-every=0",
            "retry-every=1,retry-every=2",
            "",
        ] {
            assert_eq!(SimOptions::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn retry_every_m_passes_on_the_retry_and_counts_it() {
        let options = SimOptions::parse("crc-every=20,retry-every=10").unwrap();
        assert_eq!(options.to_string(), "crc-every=20,retry-every=10");
        assert_eq!(SimOptions::parse("retry-every=10").unwrap().to_string(), "retry-every=10");
        let mut sim = SimThermometers::for_node("pi-flaky").with_options(options);
        let first = SensorId::new(&sim.discover().unwrap()[0]).unwrap();
        let mut crc = 0;
        for _ in 0..100 {
            crc += sim.read_all().unwrap().iter().filter(|s| s.result.is_err()).count();
        }
        // Reads 10, 30, 50, 70, 90 retried and passed; 20, 40, 60, 80, 100 failed their retry.
        assert_eq!(crc, 5);
        assert_eq!(sim.take_retries(), [(first, 10)]);
    }

    #[test]
    fn room_temperature_and_slowly_varying() {
        for index in 0..2 {
            let mut previous = SimThermometers::temperature_at(index, Duration::ZERO);
            for minute in 1..=24 * 60 {
                let now = SimThermometers::temperature_at(index, Duration::from_secs(minute * 60));
                assert!((15_000..=25_000).contains(&now), "sensor {index} at {minute} min: {now}");
                assert!((now - previous).abs() <= 800, "sensor {index} jumps at {minute} min");
                let sixteenths = (f64::from(now) * 16.0 / 1000.0).round() as i32;
                assert_eq!(sixteenths * 1000 / 16, now, "not a DS18B20 step");
                previous = now;
            }
        }
    }
}
