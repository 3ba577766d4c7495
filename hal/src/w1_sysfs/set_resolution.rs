//! Setting one sensor's resolution through w1_therm: the `resolution` attribute (Linux 5.9 on), or
//! on older kernels the precision written into `w1_slave` (a number 9..12 sets it, 0 saves it to the
//! EEPROM, as w1_therm's `w1_slave_store` has done since before 5.9 and still does).

use std::path::Path;

use super::{W1Thermometers, EEPROM_ATTRIBUTES};
use crate::resolution::{Resolution, ResolutionOutcome, ResolutionSetting};
use crate::w1_slave;

/// What a kernel without the `resolution` attribute is.
const NO_ATTRIBUTE: &str = "this kernel's w1_therm has no resolution attribute (Linux 5.9+)";

impl W1Thermometers {
    fn read_resolution(&mut self, path: &Path) -> Result<Resolution, String> {
        let text = self.read_attribute(path).map_err(|e| format!("{}: {e}", path.display()))?;
        text.parse().map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The resolution in the configuration register (byte 4) of a `w1_slave` read that passed the
    /// CRC (one more read after a CRC failure). Each read costs the kernel a conversion.
    fn w1_slave_resolution(&mut self, path: &Path) -> Result<Resolution, String> {
        let mut why = String::new();
        for _ in 0..2 {
            let text = self.read_attribute(path).map_err(|e| format!("{}: {e}", path.display()))?;
            match w1_slave::parse(&text) {
                Ok(r) if r.crc_ok => return Ok(Resolution::from_config_byte(r.scratchpad[4])),
                Ok(_) => why = format!("{}: the CRC failed twice", path.display()),
                Err(e) => return Err(format!("{}: {e:?}", path.display())),
            }
        }
        Err(why)
    }

    pub(super) fn set_resolution(&mut self, id: &str, setting: ResolutionSetting) -> ResolutionOutcome {
        let dir = self.root.join(id);
        let path = dir.join("resolution");
        if !path.exists() {
            return self.set_resolution_in_w1_slave(&dir.join("w1_slave"), setting);
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
            return ResolutionOutcome::Failed(super::write_refused::refused(&path, &e));
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
                    "set to {wanted} bits, but not saved: {}",
                    super::write_refused::refused(&eeprom, &e)
                ));
            }
        }
        ResolutionOutcome::Changed { from, to: wanted, persisted: setting.persist }
    }

    /// Kernels before 5.9: the register read from `w1_slave`'s bytes, the precision written into
    /// `w1_slave`, read back the same way; `0` written to save it. A kernel that refuses the write
    /// (older still: `w1_slave` read-only) gets a `Failed` that says so.
    fn set_resolution_in_w1_slave(&mut self, slave: &Path, setting: ResolutionSetting) -> ResolutionOutcome {
        let from = match self.w1_slave_resolution(slave) {
            Ok(r) => r,
            Err(why) => return ResolutionOutcome::Failed(format!("{NO_ATTRIBUTE}, and {why}")),
        };
        let wanted = setting.resolution;
        if from == wanted {
            return ResolutionOutcome::Unchanged(from);
        }
        if let Err(e) = self.write_attribute(slave, &format!("{wanted}\n")) {
            return ResolutionOutcome::Failed(format!(
                "{NO_ATTRIBUTE}, and writing the precision into w1_slave failed: {}",
                super::write_refused::refused(slave, &e)
            ));
        }
        let reads = match self.w1_slave_resolution(slave) {
            Ok(r) => r,
            Err(why) => return ResolutionOutcome::Failed(format!("reading it back: {why}")),
        };
        if reads != wanted {
            return ResolutionOutcome::Ignored { wanted, reads };
        }
        if setting.persist {
            if let Err(e) = self.write_attribute(slave, "0\n") {
                return ResolutionOutcome::Failed(format!(
                    "set to {wanted} bits, but not saved: {}: {e}",
                    slave.display()
                ));
            }
        }
        ResolutionOutcome::Changed { from, to: wanted, persisted: setting.persist }
    }
}
