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
//!     ext_power                  "1\n" externally powered, "0\n" parasite
//!     eeprom_cmd                 write-only: "save\n" copies the scratchpad to EEPROM ("eeprom" on 5.9)
//! ```
//!
//! With [`W1Thermometers::with_resolution`] each sensor's `resolution` is read once per start,
//! written only when it differs, read back (a sensor that ignores it is reported, see
//! [`crate::resolution`]), and saved with `eeprom_cmd` only when asked.
//!
//! Reading `temperature` or `w1_slave` makes the kernel convert (up to 750 ms each) unless a bulk read
//! was triggered just before. When a read fails, current kernels return an empty file.

use std::collections::BTreeSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::io_util::{read_text, sensor_error};
use crate::resolution::{Resolution, ResolutionOutcome, ResolutionReport, ResolutionSetting};
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
    resolution: Option<ResolutionSetting>,
    /// The sensors whose resolution was dealt with since the start.
    resolution_done: BTreeSet<SensorId>,
    reports: Vec<ResolutionReport>,
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
            resolution: None,
            resolution_done: BTreeSet::new(),
            reports: Vec::new(),
        })
    }

    /// Sets every sensor with a resolution (not the DS18S20) to `setting` through the kernel's
    /// `resolution` attribute, once per start and only when it differs. Without it the sensors keep
    /// theirs.
    pub fn with_resolution(mut self, setting: ResolutionSetting) -> W1Thermometers {
        self.resolution = Some(setting);
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

    fn read_resolution(&mut self, path: &Path) -> Result<Resolution, String> {
        let text = self.read_attribute(path).map_err(|e| format!("{}: {e}", path.display()))?;
        text.parse().map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Applies the resolution setting to sensors not dealt with since the start.
    fn apply_resolution(&mut self, present: &[String]) {
        let Some(setting) = self.resolution else { return };
        for id in present {
            let Some(sensor) = family::sensor_id(id) else { continue };
            let has_register = family::family_of_id(id).is_some_and(family::has_config_register);
            if !has_register || self.resolution_done.contains(&sensor) {
                continue;
            }
            let outcome = self.set_resolution(id, setting);
            self.resolution_done.insert(sensor.clone());
            self.reports.push(ResolutionReport { sensor, outcome });
        }
    }

    fn set_resolution(&mut self, id: &str, setting: ResolutionSetting) -> ResolutionOutcome {
        let dir = self.root.join(id);
        let path = dir.join("resolution");
        if !path.exists() {
            return ResolutionOutcome::Failed(format!(
                "{} does not exist (kernels before 5.9 have no resolution attribute)",
                path.display()
            ));
        }
        let from = match self.read_resolution(&path) {
            Ok(r) => r,
            Err(why) => return ResolutionOutcome::Failed(why),
        };
        let wanted = setting.resolution;
        if from == wanted {
            return ResolutionOutcome::Unchanged(from);
        }
        if let Err(e) = self.write_attribute(&path, &format!("{wanted}\n")) {
            return ResolutionOutcome::Failed(format!("{}: {e} (writing needs root)", path.display()));
        }
        let reads = match self.read_resolution(&path) {
            Ok(r) => r,
            Err(why) => return ResolutionOutcome::Failed(why),
        };
        if reads != wanted {
            return ResolutionOutcome::Ignored { wanted, reads };
        }
        if setting.persist {
            let Some(eeprom) = EEPROM_ATTRIBUTES.iter().map(|a| dir.join(a)).find(|p| p.exists()) else {
                return ResolutionOutcome::Failed(format!(
                    "set to {wanted} bits, but {} has no eeprom_cmd to save it",
                    dir.display()
                ));
            };
            if let Err(e) = self.write_attribute(&eeprom, "save\n") {
                return ResolutionOutcome::Failed(format!(
                    "set to {wanted} bits, but not saved: {}: {e}",
                    eeprom.display()
                ));
            }
        }
        ResolutionOutcome::Changed { from, to: wanted, persisted: setting.persist }
    }

    fn read_attribute(&mut self, path: &Path) -> io::Result<String> {
        let text = read_text(path);
        if let Some(hook) = self.read_hook.as_mut() {
            hook(path);
        }
        text
    }

    /// Asks every bus master with two or more of the `present` sensors to convert them all at once.
    /// Without it each sensor converts in turn when read. Writing needs root; failing is not an error.
    fn trigger_bulk_reads(&mut self, present: &[String]) {
        let Ok(masters) = bus_masters(&self.root) else { return };
        for master in masters {
            let trigger = master.join("therm_bulk_read");
            let on_this_master = present.iter().filter(|id| master.join(id).exists()).count();
            if on_this_master < 2 || !trigger.exists() {
                continue;
            }
            let written =
                fs::OpenOptions::new().write(true).open(&trigger).and_then(|mut f| f.write_all(BULK_TRIGGER));
            match written {
                Ok(()) => log::debug!("bulk conversion triggered on {}", master.display()),
                Err(e) if !self.bulk_trigger_failed => {
                    self.bulk_trigger_failed = true;
                    log::warn!(
                        "cannot trigger a bulk conversion ({}: {e}); the sensors will convert one after the other",
                        trigger.display()
                    );
                }
                Err(_) => {}
            }
        }
    }

    fn read_sensor(&mut self, id: &str) -> Result<i32, SensorError> {
        let dir = self.root.join(id);
        let fam = family::family_of_id(id).unwrap_or(family::DS18B20);
        let temperature = dir.join("temperature");
        if !temperature.exists() {
            return self.read_w1_slave(&dir, fam);
        }
        let text = self.read_attribute(&temperature).map_err(|e| sensor_error(&temperature, &e))?;
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
            85_000 | 0 if dir.join("w1_slave").exists() => self.read_w1_slave(&dir, fam),
            85_000 => Err(SensorError::Reset),
            m if !(MIN_MILLIDEGREES..=MAX_MILLIDEGREES).contains(&m) => Err(SensorError::Crc),
            m => Ok(m),
        }
    }

    fn read_w1_slave(&mut self, dir: &Path, fam: u8) -> Result<i32, SensorError> {
        let path = dir.join("w1_slave");
        for _ in 0..2 {
            let text = self.read_attribute(&path).map_err(|e| sensor_error(&path, &e))?;
            match w1_slave::parse(&text) {
                Ok(reading) if reading.crc_ok => return scratchpad::interpret(fam, &reading.scratchpad),
                // Every read converts and reads again, so a CRC spoilt by noise gets a second chance.
                Ok(_) => continue,
                Err(W1SlaveError::Empty) => return Err(SensorError::Missing),
                Err(W1SlaveError::Malformed(why)) => {
                    return Err(SensorError::Io(format!("{}: {why}", path.display())))
                }
            }
        }
        Err(SensorError::Crc)
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
        self.trigger_bulk_reads(&present);
        let known: Vec<SensorId> = self.known.iter().cloned().collect();
        Ok(known
            .into_iter()
            .map(|id| {
                let result = if present.iter().any(|p| p == id.as_str()) {
                    self.read_sensor(id.as_str())
                } else {
                    Err(SensorError::Missing)
                };
                Sample { sensor: id, result }
            })
            .collect())
    }

    fn take_resolution_reports(&mut self) -> Vec<ResolutionReport> {
        std::mem::take(&mut self.reports)
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
