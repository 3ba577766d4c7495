//! Setting the sensors' resolution: what is asked ([`ResolutionSetting`]) and what came of it for
//! each sensor ([`ResolutionReport`]), the same for the kernel's w1 driver and the GPIO backend.
//!
//! A backend reads each sensor's resolution once, writes it only when it differs from the setting,
//! copies it to the sensor's EEPROM only when [`ResolutionSetting::persist`] says so (the EEPROM is
//! rated for about 50,000 writes), and reads it back. Each sensor gets one report per start; the
//! client decides how to show it (the library does not log it).

use std::collections::BTreeMap;
use std::fmt;

pub use crate::scratchpad::{Resolution, ResolutionError};
use crate::SensorId;

/// The resolution wanted for the sensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResolutionSetting {
    /// The resolution to set.
    pub resolution: Resolution,
    /// Whether to copy it to the sensor's EEPROM (Copy Scratchpad) when it had to be written, so the
    /// sensor powers up at it.
    pub persist: bool,
}

/// What came of the setting for one sensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolutionOutcome {
    /// The sensor was at the resolution already: nothing was written.
    Unchanged(Resolution),
    /// The sensor was at `from`, the setting was written and reads back.
    Changed {
        /// The resolution it had.
        from: Resolution,
        /// The resolution it has now.
        to: Resolution,
        /// Whether it was copied to the EEPROM.
        persisted: bool,
    },
    /// The setting was written, but the sensor reads back another resolution: a sensor (often a
    /// clone) that ignores it. It is not written again until the next start.
    Ignored {
        /// The resolution asked for.
        wanted: Resolution,
        /// The resolution it reads back.
        reads: Resolution,
    },
    /// The resolution could not be read or written; the text says why.
    Failed(String),
}

/// One sensor's [`ResolutionOutcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolutionReport {
    /// The sensor.
    pub sensor: SensorId,
    /// What came of it.
    pub outcome: ResolutionOutcome,
}

impl fmt::Display for ResolutionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id = &self.sensor;
        match &self.outcome {
            ResolutionOutcome::Unchanged(r) => write!(f, "{id}: resolution {r} bits already"),
            ResolutionOutcome::Changed { from, to, persisted } => {
                let eeprom = if *persisted { ", saved to its EEPROM" } else { "" };
                write!(f, "{id}: resolution set from {from} to {to} bits{eeprom}")
            }
            ResolutionOutcome::Ignored { wanted, reads } => write!(
                f,
                "{id}: ignores the resolution setting (asked for {wanted} bits, reads back {reads} bits); \
                 genuine DS18B20s accept it, clones may not"
            ),
            ResolutionOutcome::Failed(why) => write!(f, "{id}: cannot set the resolution: {why}"),
        }
    }
}

/// The resolution wanted per sensor: a default for every sensor and exceptions by id. An empty
/// plan (no default, no exceptions) writes nothing: every sensor keeps the resolution it has.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolutionPlan {
    /// The resolution of every sensor not named in [`ResolutionPlan::per_sensor`]; `None` leaves
    /// them as they are.
    pub default: Option<Resolution>,
    /// The resolution of particular sensors, by id (`28-0316a2795aff`).
    pub per_sensor: BTreeMap<SensorId, Resolution>,
    /// Whether a resolution that had to be written is also copied to the sensor's EEPROM.
    pub persist: bool,
}

impl ResolutionPlan {
    /// What is asked of sensor `id`, if anything.
    pub fn for_sensor(&self, id: &SensorId) -> Option<ResolutionSetting> {
        let resolution = self.per_sensor.get(id).copied().or(self.default)?;
        Some(ResolutionSetting { resolution, persist: self.persist })
    }

    /// Whether the plan asks nothing of any sensor.
    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.per_sensor.is_empty()
    }
}

/// The same setting for every sensor.
impl From<ResolutionSetting> for ResolutionPlan {
    fn from(setting: ResolutionSetting) -> ResolutionPlan {
        ResolutionPlan {
            default: Some(setting.resolution),
            per_sensor: BTreeMap::new(),
            persist: setting.persist,
        }
    }
}
