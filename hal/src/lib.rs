//! Thermometers for cliser: DS18B20 (and family) readings over the Linux w1 driver, over GPIO
//! bit-banging, and simulated for PC mode.
//!
//! THIS FILE'S PUBLIC INTERFACE IS FIXED (the client is written against it): [`SensorError`],
//! [`Sample`], [`HalError`], [`Thermometers`], [`SensorSpec`], [`open`], [`diagnose`].
//!
//! # Which backend when
//!
//! | `--sensor` | backend | use it |
//! |---|---|---|
//! | `w1` / `w1:DIR` | [`w1_sysfs::W1Thermometers`] | **on a Raspberry Pi, always first.** The kernel's `w1-gpio` driver does the timing in the kernel; enable it with `dtoverlay=w1-gpio` (see `docs/raspberry-pi.md`). `w1:DIR` reads another tree (tests, a second root). |
//! | `gpio:PIN` | [`onewire::OneWireThermometers`] | only when the kernel driver cannot be used (no overlay allowed, another board). Needs `--features gpio` and root or the `gpio` group. Userspace bit-banging is fragile: a slot stretched by the scheduler spoils a bit (CRC failures are retried once), and on a Pi 5 the GPIO sits behind PCIe, which makes it worse. |
//! | `sim` / `sim:crc-every=N,retry-every=M` | [`sim::SimThermometers`] | PC mode and demos: two sensors slowly varying around room temperature; with `crc-every=N` every Nth read of the first is a CRC error, with `retry-every=M` every Mth read of it passes only on its retry (a flaky bus, [`sim::SimOptions`]). |
//! | `file:PATH` | [`file_sensor::FileThermometer`] | PC mode driven by a person or a test: `echo 21.5 > PATH` (a file or a FIFO). |
//!
//! Every backend reports each sensor's temperature in millidegrees or a typed [`SensorError`]. Both
//! hardware backends check the raw scratchpad ([`scratchpad::interpret`]): the 85 °C power-on value
//! is [`SensorError::Reset`], the all-zero scratchpad and 127.94 °C are [`SensorError::Crc`].
//!
//! `read_all` fails as a whole ([`HalError`]) only when the bus itself cannot be used (no w1 tree, a
//! pin error, a line held low); a client should log that and try again at its next reading.
#![deny(missing_docs)]

use std::fmt;
use std::path::PathBuf;

pub mod clones;
mod diagnose;
pub mod facts;
pub mod family;
pub mod file_sensor;
#[cfg(feature = "gpio")]
pub mod gpio;
#[cfg(feature = "gpio")]
pub mod gpio_cdev;
#[cfg(feature = "gpio")]
pub mod gpio_rppal;
mod io_util;
pub mod onewire;
pub mod resolution;
pub mod scratchpad;
pub mod sim;
pub mod w1_slave;
pub mod w1_sysfs;

pub use cliser_protocol::SensorId;
pub use diagnose::diagnose;

/// Why one sensor gave no temperature on one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SensorError {
    /// The CRC check failed (after one retry), or the scratchpad is a known phantom (all zeros, 127.94 °C).
    Crc,
    /// The sensor was discovered before but is gone now (or its files are empty).
    Missing,
    /// The 85 °C power-on value of a conversion that did not happen.
    Reset,
    /// No presence pulse on the 1-Wire bus.
    NoPresence,
    /// Reading failed for another reason; the text says what.
    Io(String),
}

impl SensorError {
    /// The reason as sent on the wire after `err:` (1-32 of `[A-Za-z0-9_-]`).
    pub fn reason(&self) -> &'static str {
        match self {
            SensorError::Crc => "crc",
            SensorError::Missing => "missing",
            SensorError::Reset => "reset",
            SensorError::NoPresence => "no_presence",
            SensorError::Io(_) => "io",
        }
    }
}

impl fmt::Display for SensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SensorError::Io(why) => write!(f, "io: {why}"),
            other => f.write_str(other.reason()),
        }
    }
}

impl std::error::Error for SensorError {}

/// One sensor's result of one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// The sensor id, e.g. the kernel's `28-0316a2795aff`; checked against the protocol's rules by the
    /// backend that made it, so every sample can be sent.
    pub sensor: SensorId,
    /// Millidegrees Celsius (e.g. `-10125` is −10.125 °C), or why there is none.
    pub result: Result<i32, SensorError>,
}

/// Why a whole set of thermometers could not be opened or read (as opposed to one sensor failing).
#[derive(Debug)]
pub enum HalError {
    /// The sensor spec text is not one of the known forms.
    BadSpec(String),
    /// The backend could not be opened or the bus could not be used; the text says what and where.
    Unavailable(String),
    /// An I/O error with its context.
    Io {
        /// What was being done, e.g. the path.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

impl fmt::Display for HalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HalError::BadSpec(s) => {
                write!(
                    f,
                    "bad sensor spec {s:?}: expected w1, w1:DIR, gpio:PIN, sim, sim:crc-every=N,retry-every=M or file:PATH"
                )
            }
            HalError::Unavailable(why) => f.write_str(why),
            HalError::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for HalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HalError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// A set of thermometers: find the sensors present, read them all.
pub trait Thermometers: Send {
    /// The sensor ids present now.
    fn discover(&mut self) -> Result<Vec<String>, HalError>;
    /// Reads every sensor (discovering again as needed: a sensor that disappears is reported
    /// [`SensorError::Missing`], one that reappears is read again). One [`Sample`] per sensor.
    fn read_all(&mut self) -> Result<Vec<Sample>, HalError>;
    /// What came of the resolution setting for the sensors met since the last call (see
    /// [`resolution`]): one report per sensor per start. Backends without a setting report nothing.
    fn take_resolution_reports(&mut self) -> Vec<resolution::ResolutionReport> {
        Vec::new()
    }
    /// What was learnt of the sensors met since the last call (power mode, resolution, clone
    /// verdict; see [`facts`]): one per sensor per start, once its first reads are done. Backends
    /// without real sensors report nothing.
    fn take_sensor_facts(&mut self) -> Vec<facts::SensorFacts> {
        Vec::new()
    }
    /// How many reads of each sensor were retried since the last call (a read that failed its CRC
    /// and was read again, whether the retry passed or not: one that failed twice is also a
    /// [`SensorError::Crc`]), the sensors without any left out. Backends that never retry report
    /// nothing.
    fn take_retries(&mut self) -> Vec<(SensorId, u64)> {
        Vec::new()
    }
}

/// Which backend to open, as written on the client's `--sensor` flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SensorSpec {
    /// `w1` (root `/sys/bus/w1/devices`) or `w1:DIR`.
    W1(PathBuf),
    /// `gpio:<bcm pin>` (needs the `gpio` cargo feature).
    Gpio(u8),
    /// `sim` or `sim:OPTIONS`: simulated sensors with slowly varying temperatures, and the faults
    /// the options inject (none for `sim`).
    Sim(sim::SimOptions),
    /// `file:<path>`: one simulated sensor whose value is read from a file or FIFO.
    File(PathBuf),
}

/// The kernel's default w1 device directory.
pub const DEFAULT_W1_ROOT: &str = "/sys/bus/w1/devices";

impl std::str::FromStr for SensorSpec {
    type Err = HalError;
    fn from_str(s: &str) -> Result<Self, HalError> {
        let bad = || HalError::BadSpec(s.to_owned());
        Ok(match s.split_once(':') {
            None if s == "w1" => SensorSpec::W1(PathBuf::from(DEFAULT_W1_ROOT)),
            None if s == "sim" => SensorSpec::Sim(sim::SimOptions::default()),
            Some(("sim", options)) => SensorSpec::Sim(sim::SimOptions::parse(options).ok_or_else(bad)?),
            Some(("w1", dir)) if !dir.is_empty() => SensorSpec::W1(PathBuf::from(dir)),
            Some(("file", p)) if !p.is_empty() => SensorSpec::File(PathBuf::from(p)),
            Some(("gpio", pin)) => SensorSpec::Gpio(pin.parse().map_err(|_| bad())?),
            _ => return Err(bad()),
        })
    }
}

/// As written on the `--sensor` flag (`w1:/sys/bus/w1/devices`, `gpio:4`, `sim`, `sim:crc-every=20`,
/// `file:/tmp/t`), so
/// messages speak the user's language.
impl fmt::Display for SensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SensorSpec::W1(root) => write!(f, "w1:{}", root.display()),
            SensorSpec::Gpio(pin) => write!(f, "gpio:{pin}"),
            SensorSpec::Sim(options) if *options == sim::SimOptions::default() => f.write_str("sim"),
            SensorSpec::Sim(options) => write!(f, "sim:{options}"),
            SensorSpec::File(path) => write!(f, "file:{}", path.display()),
        }
    }
}

/// [`open`], with `node` (the client's id) seeding the simulation: each simulated Pi gets sensor ids
/// and a starting point of its own. The real backends ignore it.
pub fn open_as(spec: &SensorSpec, node: &str) -> Result<Box<dyn Thermometers>, HalError> {
    match spec {
        SensorSpec::Sim(options) => Ok(Box::new(sim::SimThermometers::for_node(node).with_options(*options))),
        other => open(other),
    }
}

/// Opens the backend named by `spec`. `w1` fails when its root does not exist (1-Wire not enabled);
/// `gpio:PIN` needs the `gpio` feature (and the GPIO itself); `sim` and `file:PATH` always open.
pub fn open(spec: &SensorSpec) -> Result<Box<dyn Thermometers>, HalError> {
    match spec {
        SensorSpec::W1(root) => Ok(Box::new(w1_sysfs::W1Thermometers::open(root.clone())?)),
        SensorSpec::Sim(options) => Ok(Box::new(sim::SimThermometers::new().with_options(*options))),
        SensorSpec::File(path) => Ok(Box::new(file_sensor::FileThermometer::new(path.clone()))),
        #[cfg(feature = "gpio")]
        SensorSpec::Gpio(pin) => gpio::open_gpio(*pin, onewire::GpioConfig::default()),
        #[cfg(not(feature = "gpio"))]
        SensorSpec::Gpio(pin) => Err(HalError::Unavailable(format!(
            "gpio:{pin} needs the client built with `--features gpio` (cargo build -p \
             cliser-pi-client --features gpio); on a Raspberry Pi prefer the kernel's driver: --sensor w1"
        ))),
    }
}

/// [`open_as`] with a resolution plan (`node` as there, `None` for a backend that ignores it): the
/// hardware backends set each sensor as `plan` asks, once per start; an empty plan writes nothing
/// (unlike [`open`] on `gpio:PIN`, which sets every sensor to 12 bits).
pub fn open_planned(
    spec: &SensorSpec,
    node: Option<&str>,
    plan: &resolution::ResolutionPlan,
) -> Result<Box<dyn Thermometers>, HalError> {
    match spec {
        SensorSpec::W1(root) => {
            Ok(Box::new(w1_sysfs::W1Thermometers::open(root.clone())?.with_resolution_plan(plan.clone())))
        }
        #[cfg(feature = "gpio")]
        SensorSpec::Gpio(pin) => gpio::open_gpio_planned(*pin, plan.clone()),
        other => match node {
            Some(node) => open_as(other, node),
            None => open(other),
        },
    }
}

/// Millidegrees as decimal degrees with three decimals: `-10125` gives `-10.125`, `-500` gives
/// `-0.500`.
pub fn format_millidegrees(millidegrees: i32) -> String {
    let sign = if millidegrees < 0 { "-" } else { "" };
    let abs = millidegrees.unsigned_abs();
    format!("{sign}{}.{:03}", abs / 1000, abs % 1000)
}
