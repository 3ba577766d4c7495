//! The bit-banged 1-Wire thermometer set, generic over the pin and the delay so that a simulated bus
//! can stand in for the hardware.
//!
//! One read: Search ROM for every thermometer on the bus, set the resolution of any that is not at the
//! configured one (Write Scratchpad, read back, Copy Scratchpad only with `persist`), start one conversion for all (Skip ROM + Convert T), wait the conversion time, then
//! read each scratchpad (CRC checked, once more on failure) and decode it with
//! [`crate::scratchpad::interpret`]. The `ds18b20` crate's own `read_data` is not used: it decodes the
//! register as unsigned, so every temperature below 0 °C comes out wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::time::Duration;

use embedded_hal::blocking::delay::{DelayMs, DelayUs};
use embedded_hal::digital::v2::{InputPin, OutputPin};
use one_wire_bus::{Address, OneWire, OneWireError};

use crate::family::{self, rom_id, rom_sensor_id};
use crate::resolution::{ResolutionOutcome, ResolutionReport};
use crate::scratchpad::{self, Resolution, DS18S20_CONVERSION_TIME};
use crate::{HalError, Sample, SensorError, Thermometers};

/// Copy Scratchpad: TH, TL and the configuration register to EEPROM.
const COPY_SCRATCHPAD: u8 = 0x48;
/// The EEPROM write time (datasheet tWR, 10 ms maximum); the sensor must stay powered meanwhile.
const EEPROM_WRITE_MS: u16 = 10;

/// How many times a failed ROM search is run again before falling back to the sensors known so far.
const SEARCH_ATTEMPTS: usize = 3;

/// Settings of the bit-banged backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GpioConfig {
    /// The resolution every DS18B20-family sensor is set to (default 12 bit, 750 ms per conversion).
    pub resolution: Resolution,
    /// Whether a resolution that had to be written is also copied to the sensor's EEPROM (Copy
    /// Scratchpad), so it survives a power cycle. Off by default: the EEPROM wears out.
    pub persist: bool,
}

/// What is remembered about a sensor seen on the bus.
#[derive(Debug, Default, Clone, Copy)]
struct Known {
    /// The resolution its configuration register showed last, if it has been read.
    resolution: Option<Resolution>,
    /// It read back another resolution after a write: not written again until the next start.
    ignores_resolution: bool,
}

/// The result of a ROM search.
struct Scan {
    /// The thermometers that answered.
    present: Vec<u64>,
    /// Whether any device gave a presence pulse.
    presence: bool,
}

/// The thermometers on one bit-banged 1-Wire bus.
pub struct OneWireThermometers<P, D> {
    bus: OneWire<P>,
    delay: D,
    config: GpioConfig,
    label: String,
    known: BTreeMap<u64, Known>,
    /// The sensors whose resolution outcome was reported since the start.
    reported: BTreeSet<u64>,
    reports: Vec<ResolutionReport>,
}

impl<P, D> Debug for OneWireThermometers<P, D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneWireThermometers")
            .field("label", &self.label)
            .field("config", &self.config)
            .field("known", &self.known.keys().map(|r| rom_id(*r)).collect::<Vec<_>>())
            .finish()
    }
}

impl<P, E, D> OneWireThermometers<P, D>
where
    P: InputPin<Error = E> + OutputPin<Error = E>,
    E: Debug,
    D: DelayUs<u16> + DelayMs<u16>,
{
    /// The bus on `pin` (an open-drain pin), timed by `delay`; `label` names it in messages (`GPIO4`).
    pub fn new(pin: P, delay: D, config: GpioConfig, label: impl Into<String>) -> Result<Self, HalError> {
        let label = label.into();
        let bus = OneWire::new(pin).map_err(|e| pin_error(&label, e))?;
        Ok(OneWireThermometers {
            bus,
            delay,
            config,
            label,
            known: BTreeMap::new(),
            reported: BTreeSet::new(),
            reports: Vec::new(),
        })
    }

    /// What classifies a 1-Wire failure: a bus that cannot work at all is the whole set's error, the
    /// rest belongs to the sensor being talked to.
    fn sensor_error(&self, err: OneWireError<E>) -> Result<SensorError, HalError> {
        match err {
            OneWireError::CrcMismatch => Ok(SensorError::Crc),
            OneWireError::BusNotHigh => Err(HalError::Unavailable(format!(
                "the 1-Wire bus on {} stays low: a short circuit, a sensor wired the wrong way round, \
                 or no pull-up resistor (4.7 kΩ from data to 3.3 V)",
                self.label
            ))),
            OneWireError::PinError(e) => {
                Err(HalError::Unavailable(format!("{}: pin error: {e:?}", self.label)))
            }
            OneWireError::UnexpectedResponse => Ok(SensorError::Io("unexpected response on the bus".into())),
            OneWireError::FamilyCodeMismatch => Ok(SensorError::Io("unexpected family code".into())),
            OneWireError::Timeout => Ok(SensorError::Io("timeout".into())),
        }
    }

    fn scan(&mut self) -> Result<Scan, HalError> {
        for attempt in 1..=SEARCH_ATTEMPTS {
            let mut found = Vec::new();
            let mut failure = None;
            for device in self.bus.devices(false, &mut self.delay) {
                match device {
                    Ok(address) => found.push(address.0),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            let Some(err) = failure else {
                let presence = !found.is_empty();
                found.retain(|rom| family::is_thermometer(*rom as u8));
                for rom in &found {
                    self.known.entry(*rom).or_default();
                }
                return Ok(Scan { present: found, presence });
            };
            let why = self.sensor_error(err)?;
            log::debug!("{}: ROM search attempt {attempt} failed: {why}", self.label);
        }
        // Noise, or a sensor plugged in during the search; the sensors already known can still be read.
        log::warn!("{}: the ROM search keeps failing; reading the sensors found before", self.label);
        Ok(Scan { present: self.known.keys().copied().collect(), presence: true })
    }

    fn read_scratchpad(&mut self, rom: u64) -> Result<Result<[u8; 9], SensorError>, HalError> {
        match ds18b20::read_scratchpad(&Address(rom), &mut self.bus, &mut self.delay) {
            Ok(sp) => Ok(Ok(sp)),
            Err(e) => self.sensor_error(e).map(Err),
        }
    }

    /// Sets the configured resolution on sensors not known to have it, keeping their alarm bytes
    /// (TH, TL), which share the scratchpad write; reads it back, and copies it to the EEPROM only
    /// when [`GpioConfig::persist`] asks. Each sensor's outcome is reported once per start.
    fn configure(&mut self, present: &[u64]) -> Result<(), HalError> {
        let want = self.config.resolution;
        for &rom in present {
            let known = self.known[&rom];
            if !family::has_config_register(rom as u8) || known.ignores_resolution {
                continue;
            }
            if known.resolution == Some(want) {
                self.report(rom, ResolutionOutcome::Unchanged(want));
                continue;
            }
            let Ok(sp) = self.read_scratchpad(rom)? else { continue };
            let from = Resolution::from_config_byte(sp[4]);
            self.known.entry(rom).or_default().resolution = Some(from);
            if from == want {
                self.report(rom, ResolutionOutcome::Unchanged(want));
                continue;
            }
            let outcome = self.write_resolution(rom, [sp[2], sp[3], want.config_byte()], from)?;
            self.report(rom, outcome);
        }
        Ok(())
    }

    /// Write Scratchpad with `bytes` (TH, TL, configuration), read back, Copy Scratchpad if asked.
    fn write_resolution(
        &mut self,
        rom: u64,
        bytes: [u8; 3],
        from: Resolution,
    ) -> Result<ResolutionOutcome, HalError> {
        let want = self.config.resolution;
        let address = Address(rom);
        let write = self
            .bus
            .send_command(ds18b20::commands::WRITE_SCRATCHPAD, Some(&address), &mut self.delay)
            .and_then(|()| self.bus.write_bytes(&bytes, &mut self.delay));
        if let Err(e) = write {
            return Ok(ResolutionOutcome::Failed(self.sensor_error(e)?.to_string()));
        }
        let sp = match self.read_scratchpad(rom)? {
            Ok(sp) => sp,
            Err(why) => return Ok(ResolutionOutcome::Failed(format!("reading it back: {why}"))),
        };
        let reads = Resolution::from_config_byte(sp[4]);
        let known = self.known.entry(rom).or_default();
        known.resolution = Some(reads);
        if reads != want {
            known.ignores_resolution = true;
            return Ok(ResolutionOutcome::Ignored { wanted: want, reads });
        }
        if self.config.persist {
            if let Err(e) = self.bus.send_command(COPY_SCRATCHPAD, Some(&address), &mut self.delay) {
                let why = self.sensor_error(e)?;
                return Ok(ResolutionOutcome::Failed(format!("set to {want} bits, but not saved: {why}")));
            }
            self.delay.delay_ms(EEPROM_WRITE_MS);
        }
        Ok(ResolutionOutcome::Changed { from, to: want, persisted: self.config.persist })
    }

    fn report(&mut self, rom: u64, outcome: ResolutionOutcome) {
        if self.reported.insert(rom) {
            self.reports.push(ResolutionReport { sensor: rom_sensor_id(rom), outcome });
        }
    }

    /// The longest conversion among `present`: a sensor keeps its old resolution until the write
    /// reaches it (and clones may ignore it), so the configured one alone is not enough.
    fn conversion_wait(&self, present: &[u64]) -> Duration {
        present
            .iter()
            .map(|rom| match (*rom as u8, self.known.get(rom).and_then(|k| k.resolution)) {
                (family::DS18S20, _) => DS18S20_CONVERSION_TIME,
                (_, known) => known.unwrap_or(Resolution::Bits12).conversion_time(),
            })
            .fold(self.config.resolution.conversion_time(), Duration::max)
    }

    fn read_one(&mut self, rom: u64) -> Result<Result<i32, SensorError>, HalError> {
        let mut result = Err(SensorError::Crc);
        // A slot stretched by the scheduler garbles one read; the scratchpad keeps its value, so one
        // more read is worth it.
        for _ in 0..2 {
            let sp = match self.read_scratchpad(rom)? {
                Ok(sp) => sp,
                Err(e) => {
                    result = Err(e);
                    continue;
                }
            };
            result = scratchpad::interpret(rom as u8, &sp);
            if matches!(result, Ok(_) | Err(SensorError::Reset)) {
                if family::has_config_register(rom as u8) {
                    self.known.entry(rom).or_default().resolution = Some(Resolution::from_config_byte(sp[4]));
                }
                break;
            }
        }
        Ok(result)
    }

    fn convert_all(&mut self, present: &[u64]) -> Result<(), HalError> {
        let wait = self.conversion_wait(present);
        if let Err(e) = ds18b20::start_simultaneous_temp_measurement(&mut self.bus, &mut self.delay) {
            let why = self.sensor_error(e)?;
            log::warn!("{}: starting the conversion failed: {why}", self.label);
        }
        let millis = u16::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(u16::MAX);
        self.delay.delay_ms(millis);
        Ok(())
    }
}

impl<P, E, D> Thermometers for OneWireThermometers<P, D>
where
    P: InputPin<Error = E> + OutputPin<Error = E> + Send,
    E: Debug,
    D: DelayUs<u16> + DelayMs<u16> + Send,
{
    fn discover(&mut self) -> Result<Vec<String>, HalError> {
        let mut ids: Vec<String> = self.scan()?.present.into_iter().map(rom_id).collect();
        ids.sort();
        Ok(ids)
    }

    fn read_all(&mut self) -> Result<Vec<Sample>, HalError> {
        let scan = self.scan()?;
        let mut results = BTreeMap::new();
        if !scan.present.is_empty() {
            self.configure(&scan.present)?;
            self.convert_all(&scan.present)?;
            for &rom in &scan.present {
                results.insert(rom, self.read_one(rom)?);
            }
        }
        let absent = if scan.presence { SensorError::Missing } else { SensorError::NoPresence };
        let mut samples: Vec<Sample> = self
            .known
            .keys()
            .map(|rom| Sample {
                sensor: rom_sensor_id(*rom),
                result: results.remove(rom).unwrap_or_else(|| Err(absent.clone())),
            })
            .collect();
        samples.sort_by(|a, b| a.sensor.cmp(&b.sensor));
        Ok(samples)
    }

    fn take_resolution_reports(&mut self) -> Vec<ResolutionReport> {
        let mut reports = std::mem::take(&mut self.reports);
        reports.sort_by(|a, b| a.sensor.cmp(&b.sensor));
        reports
    }
}

fn pin_error<E: Debug>(label: &str, err: OneWireError<E>) -> HalError {
    HalError::Unavailable(format!("{label}: cannot use the pin: {err:?}"))
}
