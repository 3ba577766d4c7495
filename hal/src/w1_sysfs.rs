//! Thermometers read through the Linux kernel's w1 driver (`w1-gpio` + `w1_therm`) in sysfs.
//!
//! The kernel's tree (default root `/sys/bus/w1/devices`):
//!
//! ```text
//! w1_bus_master1/                the bus master (one per w1-gpio overlay)
//!     w1_master_slaves           ids of the devices found, one a line ("not found." when none)
//!     therm_bulk_read            write "trigger\n": every sensor on the bus converts at once
//!     28-0316a2795aff/           one directory per device
//! 28-0316a2795aff -> ...         a link to each device directory
//!     temperature                millidegrees, e.g. "23125\n" (kernels from 5.9 on)
//!     w1_slave                   "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 ... t=23125\n"
//!     resolution                 "12\n" (not on a DS18S20); write "9\n".."12\n" to set it (root)
//!     conv_time                  the conversion time the kernel waits, ms: 95/190/375/750
//!     ext_power                  "1\n" externally powered, "0\n" parasite, "-5\n" an error (5.9 on)
//!     eeprom_cmd                 write-only: "save\n" copies the scratchpad to EEPROM ("eeprom" on 5.9)
//! ```
//!
//! With [`W1Thermometers::with_resolution_plan`] each sensor's `resolution` is read once per start,
//! written only when it differs from what the plan asks for it, read back (a sensor that ignores it
//! is reported, see [`crate::resolution`]), and saved with `eeprom_cmd` only when asked. Kernels
//! before 5.9 have no `resolution`: there the precision is written into `w1_slave` (see
//! `set_resolution.rs`).
//!
//! Each sensor's first read of a start goes through `w1_slave` (the scratchpad's bytes, for the
//! clone verdict) and `ext_power` is read once: see [`crate::facts`].
//!
//! Each sensor's facts name its bus master ([`SensorFacts::bus`]), found as the master directory
//! that holds the sensor's. A `w1_slave` whose CRC says `NO` is read once more (a retry, counted:
//! see [`Thermometers::take_retries`]).
//!
//! Reading `temperature` or `w1_slave` makes the kernel convert (up to 750 ms each) unless a bulk read
//! was triggered just before. When a read fails, current kernels return an empty file.

mod set_resolution;
mod write_refused;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::clones::{self, Signs};
use crate::facts::{PowerMode, SensorFacts, W1_BULK_PARASITE_ADVICE};
use crate::io_util::{read_text, sensor_error};
use crate::resolution::{Resolution, ResolutionOutcome, ResolutionPlan, ResolutionReport, ResolutionSetting};
use crate::scratchpad::{self, MAX_MILLIDEGREES, MIN_MILLIDEGREES};
use crate::w1_slave::{self, W1SlaveError};
use crate::{diagnose, family, HalError, Sample, SensorError, SensorId, Thermometers};

/// What the `temperature` attribute shows for the 0x07FF phantom (127.9375 °C, truncated).
const PHANTOM_07FF_MILLIDEGREES: i32 = 127_937;
/// The only write the kernel's `therm_bulk_read` accepts: it compares the size with
/// `sizeof("trigger")`, which counts the terminating NUL, so the 7 bytes of "trigger" do nothing.
const BULK_TRIGGER: &[u8; 8] = b"trigger\n";

/// A hook called after each attribute read or write (see [`W1Thermometers::on_read`]).
type ReadHook = Box<dyn FnMut(&Path) + Send>;

/// The attribute that saves the scratchpad to EEPROM: `eeprom_cmd` from kernel 5.10, `eeprom` in 5.9.
const EEPROM_ATTRIBUTES: [&str; 2] = ["eeprom_cmd", "eeprom"];

/// The thermometers under a w1 sysfs root.
pub struct W1Thermometers {
    root: PathBuf,
    known: BTreeSet<SensorId>,
    read_hook: Option<ReadHook>,
    write_hook: Option<ReadHook>,
    bulk_trigger_failed: bool,
    plan: ResolutionPlan,
    /// The sensors whose resolution was dealt with since the start.
    resolution_done: BTreeSet<SensorId>,
    reports: Vec<ResolutionReport>,
    /// What is gathered of each sensor until its facts are handed out.
    gathering: BTreeMap<SensorId, Gathering>,
    /// The sensors whose facts were handed out since the start.
    facts_done: BTreeSet<SensorId>,
    facts: Vec<SensorFacts>,
    /// Retried reads per sensor since the last [`Thermometers::take_retries`].
    retries: BTreeMap<SensorId, u64>,
}

/// How many reads a sensor gets to give a scratchpad that passes the CRC before its facts are
/// handed out without one.
const FACT_ATTEMPTS: u8 = 3;

/// What is known so far of a sensor whose facts are not handed out yet.
#[derive(Debug, Default)]
struct Gathering {
    /// The resolution the setting left (or found).
    resolution: Option<Resolution>,
    ignores_resolution: Option<bool>,
    attempts: u8,
}

impl std::fmt::Debug for W1Thermometers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("W1Thermometers").field("root", &self.root).field("known", &self.known).finish()
    }
}

impl W1Thermometers {
    /// Opens the sensors under `root` (normally [`crate::DEFAULT_W1_ROOT`]). Fails when the directory
    /// does not exist, i.e. the 1-Wire interface is not enabled.
    pub fn open(root: impl Into<PathBuf>) -> Result<W1Thermometers, HalError> {
        let root = root.into();
        if !root.is_dir() {
            return Err(HalError::Unavailable(diagnose::not_enabled(&root)));
        }
        Ok(W1Thermometers {
            root,
            known: BTreeSet::new(),
            read_hook: None,
            write_hook: None,
            bulk_trigger_failed: false,
            plan: ResolutionPlan::default(),
            resolution_done: BTreeSet::new(),
            reports: Vec::new(),
            gathering: BTreeMap::new(),
            facts_done: BTreeSet::new(),
            facts: Vec::new(),
            retries: BTreeMap::new(),
        })
    }

    /// Sets every sensor with a resolution (not the DS18S20) to `setting` through the kernel's
    /// `resolution` attribute, once per start and only when it differs. Without it the sensors keep
    /// theirs.
    pub fn with_resolution(self, setting: ResolutionSetting) -> W1Thermometers {
        self.with_resolution_plan(setting.into())
    }

    /// Sets each sensor to what `plan` asks of it (see [`W1Thermometers::with_resolution`]); the
    /// sensors it asks nothing of keep theirs.
    pub fn with_resolution_plan(mut self, plan: ResolutionPlan) -> W1Thermometers {
        self.plan = plan;
        self
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Calls `hook` after every read of a sensor attribute, with its path. The kernel produces fresh
    /// data on every read; a fake tree in a test can do the same from here (or count the reads).
    pub fn on_read(mut self, hook: impl FnMut(&Path) + Send + 'static) -> W1Thermometers {
        self.read_hook = Some(Box::new(hook));
        self
    }

    /// Calls `hook` after every write of a sensor attribute (`resolution`, `eeprom_cmd`), with its
    /// path, so a fake tree can act as the kernel does (or as a sensor that ignores the write).
    pub fn on_write(mut self, hook: impl FnMut(&Path) + Send + 'static) -> W1Thermometers {
        self.write_hook = Some(Box::new(hook));
        self
    }

    fn write_attribute(&mut self, path: &Path, text: &str) -> io::Result<()> {
        // Like `echo 9 > resolution`: never creates the attribute (sysfs ignores the truncation).
        let written = fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Some(hook) = self.write_hook.as_mut() {
            hook(path);
        }
        written
    }

    /// Applies the resolution plan to sensors not dealt with since the start.
    fn apply_resolution(&mut self, present: &[String]) {
        if self.plan.is_empty() {
            return;
        }
        for id in present {
            let Some(sensor) = family::sensor_id(id) else { continue };
            let has_register = family::family_of_id(id).is_some_and(family::has_config_register);
            if !has_register || self.resolution_done.contains(&sensor) {
                continue;
            }
            let Some(setting) = self.plan.for_sensor(&sensor) else { continue };
            let outcome = self.set_resolution(id, setting);
            self.resolution_done.insert(sensor.clone());
            let gathering = self.gathering.entry(sensor.clone()).or_default();
            match &outcome {
                ResolutionOutcome::Unchanged(r) => gathering.resolution = Some(*r),
                ResolutionOutcome::Changed { to, .. } => {
                    (gathering.resolution, gathering.ignores_resolution) = (Some(*to), Some(false))
                }
                ResolutionOutcome::Ignored { reads, .. } => {
                    (gathering.resolution, gathering.ignores_resolution) = (Some(*reads), Some(true))
                }
                ResolutionOutcome::Failed(_) => {}
            }
            self.reports.push(ResolutionReport { sensor, outcome });
        }
    }

    /// The kernel's `ext_power`: 1 external, 0 parasite, a negative error code or nothing when it
    /// could not tell (and no attribute before 5.9).
    fn power_mode(&mut self, dir: &Path) -> Option<PowerMode> {
        let path = dir.join("ext_power");
        if !path.exists() {
            return None;
        }
        match self.read_attribute(&path).ok()?.trim().parse::<i32>().ok()? {
            1 => Some(PowerMode::External),
            0 => Some(PowerMode::Parasite),
            _ => None,
        }
    }

    /// Notes one read of sensor `id` (`scratchpad`: the bytes of a read that passed the CRC) and
    /// hands its facts out once they are complete or it has had its attempts. `bulk`: whether it
    /// was converted in a bulk read.
    fn gather_facts(&mut self, id: &SensorId, scratchpad: Option<[u8; 9]>, bulk: bool) {
        let gathering = self.gathering.entry(id.clone()).or_default();
        gathering.attempts += 1;
        if scratchpad.is_none() && gathering.attempts < FACT_ATTEMPTS {
            return;
        }
        let Gathering { resolution, ignores_resolution, .. } = self.gathering.remove(id).unwrap_or_default();
        let fam = family::family_of_id(id.as_str()).unwrap_or(family::DS18B20);
        // What the setting read back, else the register in the bytes just read.
        let resolution = resolution.or(match scratchpad {
            Some(sp) if family::has_config_register(fam) => Some(Resolution::from_config_byte(sp[4])),
            _ => None,
        });
        let power = self.power_mode(&self.root.join(id.as_str()));
        let signs = Signs {
            rom: clones::rom_of_id(id.as_str()),
            scratchpad,
            power_up_scratchpad: None,
            ignores_resolution,
        };
        let mut facts = SensorFacts::assessed(id.clone(), power, resolution, signs);
        facts.bus = self.bus_of(id);
        if bulk && power == Some(PowerMode::Parasite) {
            facts.bulk_parasite_advice = Some(W1_BULK_PARASITE_ADVICE);
        }
        self.facts_done.insert(id.clone());
        self.facts.push(facts);
    }

    /// The bus master sensor `id` hangs under (`w1_bus_master1`): the kernel puts each device's
    /// directory in its master's, and links it from the root.
    fn bus_of(&self, id: &SensorId) -> Option<String> {
        let masters = bus_masters(&self.root).ok()?;
        let master = masters.iter().find(|m| m.join(id.as_str()).exists())?;
        Some(master.file_name()?.to_string_lossy().into_owned())
    }

    fn read_attribute(&mut self, path: &Path) -> io::Result<String> {
        let text = read_text(path);
        if let Some(hook) = self.read_hook.as_mut() {
            hook(path);
        }
        text
    }

    /// Asks every bus master with two or more of the `present` sensors to convert them all at once.
    /// Without it each sensor converts in turn when read. Writing needs root or deploy's udev rule;
    /// failing is not an error.
    /// Returns the masters that were asked.
    fn trigger_bulk_reads(&mut self, present: &[String]) -> Vec<PathBuf> {
        let mut triggered = Vec::new();
        let Ok(masters) = bus_masters(&self.root) else { return triggered };
        for master in masters {
            let trigger = master.join("therm_bulk_read");
            let on_this_master = present.iter().filter(|id| master.join(id).exists()).count();
            if on_this_master < 2 || !trigger.exists() {
                continue;
            }
            let written =
                fs::OpenOptions::new().write(true).open(&trigger).and_then(|mut f| f.write_all(BULK_TRIGGER));
            match written {
                Ok(()) => {
                    log::debug!("bulk conversion triggered on {}", master.display());
                    triggered.push(master);
                }
                Err(e) if !self.bulk_trigger_failed => {
                    self.bulk_trigger_failed = true;
                    log::warn!(
                        "cannot trigger a bulk conversion ({}); the sensors will convert one after the other",
                        write_refused::refused(&trigger, &e)
                    );
                }
                Err(_) => {}
            }
        }
        triggered
    }

    /// One sensor's reading, and the scratchpad's bytes when they were read (through `w1_slave`)
    /// and passed the CRC. `want_bytes`: read `w1_slave` even where `temperature` exists (same
    /// cost: either makes the kernel convert, unless a bulk read did).
    fn read_sensor(&mut self, id: &str, want_bytes: bool) -> (Result<i32, SensorError>, Option<[u8; 9]>) {
        let dir = self.root.join(id);
        let fam = family::family_of_id(id).unwrap_or(family::DS18B20);
        let temperature = dir.join("temperature");
        if !temperature.exists() || (want_bytes && dir.join("w1_slave").exists()) {
            return self.read_w1_slave(&dir, fam);
        }
        (self.read_temperature(&dir, &temperature, fam), None)
    }

    fn read_temperature(&mut self, dir: &Path, temperature: &Path, fam: u8) -> Result<i32, SensorError> {
        let text = self.read_attribute(temperature).map_err(|e| sensor_error(temperature, &e))?;
        let text = text.trim();
        if text.is_empty() {
            return Err(SensorError::Missing);
        }
        let millis: i32 = text.parse().map_err(|_| {
            SensorError::Io(format!("{}: not a temperature: {text:?}", temperature.display()))
        })?;
        match millis {
            PHANTOM_07FF_MILLIDEGREES if fam != family::DS18S20 => Err(SensorError::Crc),
            // Both may be phantoms (the power-on value; an all-zero scratchpad passes the CRC), which
            // only the raw bytes tell apart: w1_slave shows them, at the cost of one more conversion.
            85_000 | 0 if dir.join("w1_slave").exists() => self.read_w1_slave(dir, fam).0,
            85_000 => Err(SensorError::Reset),
            m if !(MIN_MILLIDEGREES..=MAX_MILLIDEGREES).contains(&m) => Err(SensorError::Crc),
            m => Ok(m),
        }
    }

    fn read_w1_slave(&mut self, dir: &Path, fam: u8) -> (Result<i32, SensorError>, Option<[u8; 9]>) {
        let path = dir.join("w1_slave");
        for attempt in 0..2 {
            if attempt > 0 {
                let sensor = dir.file_name().and_then(|n| family::sensor_id(&n.to_string_lossy()));
                if let Some(sensor) = sensor {
                    *self.retries.entry(sensor).or_default() += 1;
                }
            }
            let text = match self.read_attribute(&path) {
                Ok(text) => text,
                Err(e) => return (Err(sensor_error(&path, &e)), None),
            };
            match w1_slave::parse(&text) {
                Ok(reading) if reading.crc_ok => {
                    return (scratchpad::interpret(fam, &reading.scratchpad), Some(reading.scratchpad))
                }
                // Every read converts and reads again, so a CRC spoilt by noise gets a second chance.
                Ok(_) => continue,
                Err(W1SlaveError::Empty) => return (Err(SensorError::Missing), None),
                Err(W1SlaveError::Malformed(why)) => {
                    return (Err(SensorError::Io(format!("{}: {why}", path.display()))), None)
                }
            }
        }
        (Err(SensorError::Crc), None)
    }
}

impl Thermometers for W1Thermometers {
    fn discover(&mut self) -> Result<Vec<String>, HalError> {
        let present = thermometer_ids(&self.root)?;
        // Every one passed `family_of_id`: all of them are sensor ids.
        self.known.extend(present.iter().filter_map(|id| family::sensor_id(id)));
        Ok(present)
    }

    fn read_all(&mut self) -> Result<Vec<Sample>, HalError> {
        let present = self.discover()?;
        self.apply_resolution(&present);
        let bulk = self.trigger_bulk_reads(&present);
        let known: Vec<SensorId> = self.known.iter().cloned().collect();
        Ok(known
            .into_iter()
            .map(|id| {
                if !present.iter().any(|p| p == id.as_str()) {
                    return Sample { sensor: id, result: Err(SensorError::Missing) };
                }
                let facts_pending = !self.facts_done.contains(&id);
                let (result, bytes) = self.read_sensor(id.as_str(), facts_pending);
                if facts_pending {
                    let in_bulk = bulk.iter().any(|master| master.join(id.as_str()).exists());
                    self.gather_facts(&id, bytes, in_bulk);
                }
                Sample { sensor: id, result }
            })
            .collect())
    }

    fn take_resolution_reports(&mut self) -> Vec<ResolutionReport> {
        std::mem::take(&mut self.reports)
    }

    fn take_sensor_facts(&mut self) -> Vec<SensorFacts> {
        std::mem::take(&mut self.facts)
    }

    fn take_retries(&mut self) -> Vec<(SensorId, u64)> {
        std::mem::take(&mut self.retries).into_iter().collect()
    }
}

/// Every 1-Wire device id under `root` (thermometers, other families, and the `00-` ghosts of a
/// floating bus), sorted.
pub fn device_ids(root: &Path) -> Result<Vec<String>, HalError> {
    let entries = fs::read_dir(root).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => HalError::Unavailable(diagnose::not_enabled(root)),
        _ => HalError::Io { context: root.display().to_string(), source },
    })?;
    let mut ids: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| family::family_of_id(name).is_some())
        .collect();
    ids.sort();
    Ok(ids)
}

/// The ids of the thermometers (the `w1_therm` families) under `root`, sorted.
pub fn thermometer_ids(root: &Path) -> Result<Vec<String>, HalError> {
    let mut ids = device_ids(root)?;
    ids.retain(|id| family::family_of_id(id).is_some_and(family::is_thermometer));
    Ok(ids)
}

/// The bus master directories (`w1_bus_master1`, ...) under `root`, sorted.
pub fn bus_masters(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut masters: Vec<PathBuf> = fs::read_dir(root)?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("w1_bus_master"))
        .map(|e| e.path())
        .collect();
    masters.sort();
    Ok(masters)
}
