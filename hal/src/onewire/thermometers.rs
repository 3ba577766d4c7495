//! The bit-banged 1-Wire thermometer set, generic over the pin and the delay so that a simulated bus
//! can stand in for the hardware.
//!
//! One read: Search ROM for the thermometers on the bus only when it is due (see below), look at
//! each sensor met for the first time since the start (Read Power Supply, its scratchpad before any
//! conversion of ours), set the resolution of any that is not at the one the plan asks for it
//! (Write Scratchpad, read back, Copy Scratchpad only with `persist`), start one conversion for all
//! (Skip ROM + Convert T), wait the longest conversion time among them, then read each scratchpad
//! (addressed with Match ROM, CRC checked, once more on failure, which is counted: see
//! [`Thermometers::take_retries`]) and decode it with
//! [`crate::scratchpad::interpret`]. The `ds18b20` crate's own `read_data` is not used: it decodes the
//! register as unsigned, so every temperature below 0 °C comes out wrong.
//!
//! The ROM search costs about 14 ms per sensor (8 sensors: ~110 ms, more than a 9-bit conversion),
//! so the ROMs found are kept and the bus is searched again only when a sensor does not answer an
//! addressed read (gone, or no presence pulse at all), when the last search found nothing, and
//! every [`RESCAN_EVERY`] to find sensors plugged in meanwhile.
//!
//! The data line is only ever released during a conversion (no strong pull-up): parasite-powered
//! sensors get only what the pull-up resistor gives them (see [`crate::facts`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::time::{Duration, Instant};

use embedded_hal::blocking::delay::{DelayMs, DelayUs};
use embedded_hal::digital::v2::{InputPin, OutputPin};
use one_wire_bus::{Address, OneWire, OneWireError};

use crate::clones::Signs;
use crate::facts::{PowerMode, SensorFacts, GPIO_BULK_PARASITE_ADVICE};
use crate::family::{self, rom_id, rom_sensor_id};
use crate::resolution::{ResolutionOutcome, ResolutionPlan, ResolutionReport, ResolutionSetting};
use crate::scratchpad::{self, Resolution, DS18S20_CONVERSION_TIME};
use crate::{HalError, Sample, SensorError, SensorId, Thermometers};

/// Copy Scratchpad: TH, TL and the configuration register to EEPROM.
const COPY_SCRATCHPAD: u8 = 0x48;
/// The EEPROM write time (datasheet tWR, 10 ms maximum); the sensor must stay powered meanwhile.
const EEPROM_WRITE_MS: u16 = 10;

/// How many times a failed ROM search is run again before falling back to the sensors known so far.
const SEARCH_ATTEMPTS: usize = 3;
/// Read Power Supply: a parasite-powered device pulls the read slots that follow low.
const READ_POWER_SUPPLY: u8 = 0xB4;
/// How often the bus is searched for new sensors when every known one answers.
pub const RESCAN_EVERY: Duration = Duration::from_secs(60);
/// How many reads a sensor gets to give a scratchpad that passes the CRC before its facts are
/// handed out without one.
const FACT_ATTEMPTS: u8 = 3;

/// Settings of the bit-banged backend. For a resolution per sensor, or none written at all, see
/// [`OneWireThermometers::with_resolution_plan`].
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
    /// Whether it was written and read back as asked (`Some(false)`) or not (`Some(true)`).
    obeyed_resolution: Option<bool>,
    /// Whether its first look (power mode, scratchpad before any conversion) was taken.
    looked: bool,
    power: Option<PowerMode>,
    /// Its scratchpad before our first conversion, when it held the power-on value.
    power_up_scratchpad: Option<[u8; 9]>,
    /// Reads since the start while its facts are not handed out.
    fact_attempts: u8,
    facts_done: bool,
}

/// One sensor's reading, and its scratchpad when it gave a temperature.
type ReadOne = (Result<i32, SensorError>, Option<[u8; 9]>);

/// What an addressed exchange with one sensor gave.
enum Addressed<T> {
    /// What was read.
    Answer(T),
    /// No device gave a presence pulse.
    NoPresence,
    /// Others answered the reset, this ROM did not (its bytes read all ones).
    Silent,
}

/// The result of a ROM search.
struct Scan {
    /// The thermometers that answered.
    present: Vec<u64>,
}

/// The thermometers on one bit-banged 1-Wire bus.
pub struct OneWireThermometers<P, D> {
    bus: OneWire<P>,
    delay: D,
    config: GpioConfig,
    label: String,
    plan: ResolutionPlan,
    known: BTreeMap<u64, Known>,
    /// The sensors found by the last search (or known to answer since).
    present: Vec<u64>,
    /// Whether the last search (or an addressed read since) saw a presence pulse.
    presence: bool,
    last_search: Option<Instant>,
    search_needed: bool,
    rescan_every: Duration,
    /// The sensors whose resolution outcome was reported since the start.
    reported: BTreeSet<u64>,
    reports: Vec<ResolutionReport>,
    facts: Vec<SensorFacts>,
    /// The bus's name in the sensors' facts (`gpio:4`), if set.
    bus_name: Option<String>,
    /// Retried reads per sensor since the last [`Thermometers::take_retries`].
    retries: BTreeMap<u64, u64>,
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
        let plan = ResolutionSetting { resolution: config.resolution, persist: config.persist }.into();
        Ok(OneWireThermometers {
            bus,
            delay,
            config,
            label,
            plan,
            known: BTreeMap::new(),
            present: Vec::new(),
            presence: false,
            last_search: None,
            search_needed: true,
            rescan_every: RESCAN_EVERY,
            reported: BTreeSet::new(),
            reports: Vec::new(),
            facts: Vec::new(),
            bus_name: None,
            retries: BTreeMap::new(),
        })
    }

    /// Names the bus in the sensors' facts ([`SensorFacts::bus`]; `gpio:4` when opened through
    /// `--sensor gpio:4`). Without it the facts name no bus.
    pub fn with_bus_name(mut self, name: impl Into<String>) -> Self {
        self.bus_name = Some(name.into());
        self
    }

    /// Sets each sensor to what `plan` asks of it instead of [`GpioConfig`]'s one resolution for
    /// all; an empty plan writes nothing (every sensor keeps its resolution).
    pub fn with_resolution_plan(mut self, plan: ResolutionPlan) -> Self {
        self.plan = plan;
        self
    }

    /// Searches the bus for new sensors this often (default [`RESCAN_EVERY`]) while every known
    /// one answers; `Duration::ZERO` searches before every read.
    pub fn with_rescan_every(mut self, every: Duration) -> Self {
        self.rescan_every = every;
        self
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
                self.remember(&found, presence);
                return Ok(Scan { present: found });
            };
            let why = self.sensor_error(err)?;
            log::debug!("{}: ROM search attempt {attempt} failed: {why}", self.label);
        }
        // Noise, or a sensor plugged in during the search; the sensors already known can still be read.
        log::warn!("{}: the ROM search keeps failing; reading the sensors found before", self.label);
        let present: Vec<u64> = self.known.keys().copied().collect();
        self.remember(&present, true);
        self.search_needed = true;
        Ok(Scan { present })
    }

    fn remember(&mut self, present: &[u64], presence: bool) {
        self.present = present.to_vec();
        self.presence = presence;
        self.last_search = Some(Instant::now());
        self.search_needed = false;
    }

    fn search_due(&self) -> bool {
        self.search_needed
            || self.present.is_empty()
            || self.last_search.is_none_or(|at| at.elapsed() >= self.rescan_every)
    }

    /// Reset and Match ROM `rom`; whether any device gave a presence pulse.
    fn select(&mut self, rom: u64) -> Result<bool, OneWireError<E>> {
        let present = self.bus.reset(&mut self.delay)?;
        if present {
            self.bus.match_address(&Address(rom), &mut self.delay)?;
        }
        Ok(present)
    }

    /// Read Scratchpad of `rom`, telling a sensor that is not there from a CRC error: with no
    /// presence pulse, or nine bytes of ones (nobody pulled a slot low), it did not answer.
    fn read_addressed(&mut self, rom: u64) -> Result<Addressed<[u8; 9]>, OneWireError<E>> {
        if !self.select(rom)? {
            return Ok(Addressed::NoPresence);
        }
        self.bus.write_byte(ds18b20::commands::READ_SCRATCHPAD, &mut self.delay)?;
        let mut sp = [0u8; 9];
        self.bus.read_bytes(&mut sp, &mut self.delay)?;
        if sp == [0xFF; 9] {
            return Ok(Addressed::Silent);
        }
        if scratchpad::crc8(&sp) != 0 {
            return Err(OneWireError::CrcMismatch);
        }
        Ok(Addressed::Answer(sp))
    }

    fn read_scratchpad(&mut self, rom: u64) -> Result<Result<[u8; 9], SensorError>, HalError> {
        let read = self.read_addressed(rom);
        self.absent_or(read)
    }

    /// The answer, or the sensor error of an absent sensor (and a search on the next read), or the
    /// error of the exchange.
    fn absent_or<T>(
        &mut self,
        read: Result<Addressed<T>, OneWireError<E>>,
    ) -> Result<Result<T, SensorError>, HalError> {
        match read {
            Ok(Addressed::Answer(value)) => Ok(Ok(value)),
            Ok(Addressed::NoPresence) => {
                self.search_needed = true;
                self.presence = false;
                Ok(Err(SensorError::NoPresence))
            }
            Ok(Addressed::Silent) => {
                self.search_needed = true;
                Ok(Err(SensorError::Missing))
            }
            Err(e) => self.sensor_error(e).map(Err),
        }
    }

    /// Read Power Supply of `rom`: one read slot, high for external power, low for parasite.
    fn read_power(&mut self, rom: u64) -> Result<Result<PowerMode, SensorError>, HalError> {
        let read = self.select(rom).and_then(|present| {
            if !present {
                return Ok(Addressed::NoPresence);
            }
            self.bus.write_byte(READ_POWER_SUPPLY, &mut self.delay)?;
            let external = self.bus.read_bit(&mut self.delay)?;
            Ok(Addressed::Answer(if external { PowerMode::External } else { PowerMode::Parasite }))
        });
        self.absent_or(read)
    }

    /// The first look at sensors met for the first time since the start: their power mode, and
    /// their scratchpad before any conversion of ours (its resolution, and the power-on bytes when
    /// it has not converted since it was powered).
    fn first_look(&mut self, present: &[u64]) -> Result<(), HalError> {
        for &rom in present {
            if self.known.get(&rom).is_some_and(|k| k.looked) {
                continue;
            }
            let power = self.read_power(rom)?.ok();
            let before = self.read_scratchpad(rom)?.ok();
            let known = self.known.entry(rom).or_default();
            known.looked = true;
            known.power = power;
            if let Some(sp) = before {
                if family::has_config_register(rom as u8) {
                    known.resolution = Some(Resolution::from_config_byte(sp[4]));
                }
                if scratchpad::interpret(rom as u8, &sp) == Err(SensorError::Reset) {
                    known.power_up_scratchpad = Some(sp);
                }
            }
        }
        Ok(())
    }

    /// Notes a read of `rom` (`sp`: a scratchpad after a completed conversion that passed the CRC)
    /// and hands its facts out once they are complete or it has had its attempts.
    fn gather_facts(&mut self, rom: u64, sp: Option<[u8; 9]>) {
        let known = self.known.entry(rom).or_default();
        if known.facts_done {
            return;
        }
        known.fact_attempts += 1;
        if sp.is_none() && known.fact_attempts < FACT_ATTEMPTS {
            return;
        }
        known.facts_done = true;
        let resolution = match sp {
            Some(sp) if family::has_config_register(rom as u8) => Some(Resolution::from_config_byte(sp[4])),
            _ => known.resolution.filter(|_| family::has_config_register(rom as u8)),
        };
        let signs = Signs {
            rom: Some(rom.to_le_bytes()),
            scratchpad: sp,
            power_up_scratchpad: known.power_up_scratchpad,
            ignores_resolution: known.obeyed_resolution,
        };
        let mut facts = SensorFacts::assessed(rom_sensor_id(rom), known.power, resolution, signs);
        facts.bus = self.bus_name.clone();
        // Every sensor converts on the same Skip ROM Convert T, with the line only pulled up.
        if known.power == Some(PowerMode::Parasite) {
            facts.bulk_parasite_advice = Some(GPIO_BULK_PARASITE_ADVICE);
        }
        self.facts.push(facts);
    }

    /// Sets the configured resolution on sensors not known to have it, keeping their alarm bytes
    /// (TH, TL), which share the scratchpad write; reads it back, and copies it to the EEPROM only
    /// when [`GpioConfig::persist`] asks. Each sensor's outcome is reported once per start.
    fn configure(&mut self, present: &[u64]) -> Result<(), HalError> {
        for &rom in present {
            let known = self.known[&rom];
            if !family::has_config_register(rom as u8) || known.ignores_resolution {
                continue;
            }
            let Some(setting) = self.plan.for_sensor(&rom_sensor_id(rom)) else { continue };
            let want = setting.resolution;
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
            let outcome = self.write_resolution(rom, [sp[2], sp[3], want.config_byte()], from, setting)?;
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
        setting: ResolutionSetting,
    ) -> Result<ResolutionOutcome, HalError> {
        let want = setting.resolution;
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
        known.obeyed_resolution = Some(reads != want);
        if reads != want {
            known.ignores_resolution = true;
            return Ok(ResolutionOutcome::Ignored { wanted: want, reads });
        }
        if setting.persist {
            if let Err(e) = self.bus.send_command(COPY_SCRATCHPAD, Some(&address), &mut self.delay) {
                let why = self.sensor_error(e)?;
                return Ok(ResolutionOutcome::Failed(format!("set to {want} bits, but not saved: {why}")));
            }
            self.delay.delay_ms(EEPROM_WRITE_MS);
        }
        Ok(ResolutionOutcome::Changed { from, to: want, persisted: setting.persist })
    }

    fn report(&mut self, rom: u64, outcome: ResolutionOutcome) {
        if self.reported.insert(rom) {
            self.reports.push(ResolutionReport { sensor: rom_sensor_id(rom), outcome });
        }
    }

    /// The longest conversion among `present`, by the resolution each one's register showed last
    /// (a sensor keeps its old resolution until the write reaches it, and clones may ignore it);
    /// 12 bits for one never read.
    fn conversion_wait(&self, present: &[u64]) -> Duration {
        present
            .iter()
            .map(|rom| match (*rom as u8, self.known.get(rom).and_then(|k| k.resolution)) {
                (family::DS18S20, _) => DS18S20_CONVERSION_TIME,
                (_, known) => known.unwrap_or(Resolution::Bits12).conversion_time(),
            })
            .fold(Duration::ZERO, Duration::max)
    }

    /// One sensor's reading, and its scratchpad when it gave a temperature.
    fn read_one(&mut self, rom: u64) -> Result<ReadOne, HalError> {
        let mut result = Err(SensorError::Crc);
        // A slot stretched by the scheduler garbles one read; the scratchpad keeps its value, so one
        // more read is worth it.
        for attempt in 0..2 {
            if attempt > 0 {
                *self.retries.entry(rom).or_default() += 1;
            }
            let sp = match self.read_scratchpad(rom)? {
                Ok(sp) => sp,
                // Gone: a second read would not bring it back.
                Err(e @ (SensorError::Missing | SensorError::NoPresence)) => return Ok((Err(e), None)),
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
                return Ok((result.clone(), result.is_ok().then_some(sp)));
            }
        }
        Ok((result, None))
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
        if self.search_due() {
            self.scan()?;
        }
        let present = self.present.clone();
        let mut results = BTreeMap::new();
        if !present.is_empty() {
            self.first_look(&present)?;
            self.configure(&present)?;
            self.convert_all(&present)?;
            for &rom in &present {
                let (result, sp) = self.read_one(rom)?;
                if !matches!(result, Err(SensorError::Missing | SensorError::NoPresence)) {
                    self.gather_facts(rom, sp);
                }
                results.insert(rom, result);
            }
        }
        let absent = if self.presence { SensorError::Missing } else { SensorError::NoPresence };
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

    fn take_sensor_facts(&mut self) -> Vec<SensorFacts> {
        let mut facts = std::mem::take(&mut self.facts);
        facts.sort_by(|a, b| a.sensor.cmp(&b.sensor));
        facts
    }

    fn take_retries(&mut self) -> Vec<(SensorId, u64)> {
        let mut retries: Vec<_> =
            std::mem::take(&mut self.retries).into_iter().map(|(rom, n)| (rom_sensor_id(rom), n)).collect();
        retries.sort();
        retries
    }
}

fn pin_error<E: Debug>(label: &str, err: OneWireError<E>) -> HalError {
    HalError::Unavailable(format!("{label}: cannot use the pin: {err:?}"))
}
