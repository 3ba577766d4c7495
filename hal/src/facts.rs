//! What a backend learnt of each sensor once per start: how it is powered, its resolution, and
//! whether it looks like a clone ([`crate::clones::assess`] on the signs the backend saw). A
//! backend hands each sensor's [`SensorFacts`] out once ([`crate::Thermometers::take_sensor_facts`]);
//! the client decides how to show them (the library does not log them).

use std::fmt;

use crate::clones::{self, CloneLook, Signs};
use crate::resolution::Resolution;
use crate::SensorId;

/// How a sensor is powered: its answer to Read Power Supply (0xB4), or the kernel's `ext_power`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerMode {
    /// From its VDD pin (three wires).
    External,
    /// From the data line (VDD tied to ground): it needs the line held high while it converts.
    Parasite,
}

impl fmt::Display for PowerMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PowerMode::External => "external power",
            PowerMode::Parasite => "parasite power",
        })
    }
}

/// What is known of one sensor after its first reads since the start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorFacts {
    /// The sensor.
    pub sensor: SensorId,
    /// Its power mode, when the backend could tell.
    pub power: Option<PowerMode>,
    /// Its resolution (after the resolution setting, if any); `None` for the DS18S20 (none to set)
    /// or when it could not be read.
    pub resolution: Option<Resolution>,
    /// What the backend saw of it, for the clone verdict.
    pub signs: Signs,
    /// The verdict of [`clones::assess`] on [`SensorFacts::signs`].
    pub clone: Option<CloneLook>,
    /// Set when the sensor is parasite-powered and converts together with the others of its bus
    /// (one Convert T for all): what to check on this backend. See [`parasite_warning`].
    pub bulk_parasite_advice: Option<&'static str>,
    /// The bus it hangs on: on w1 its bus master (`w1_bus_master1`), on GPIO `gpio:<pin>`; `None`
    /// when the backend does not say (the simulated and file backends hand out no facts at all).
    pub bus: Option<String>,
}

impl SensorFacts {
    /// The facts of `sensor` with the clone verdict made from `signs`.
    pub fn assessed(
        sensor: SensorId,
        power: Option<PowerMode>,
        resolution: Option<Resolution>,
        signs: Signs,
    ) -> SensorFacts {
        let clone = clones::assess(&signs);
        SensorFacts { sensor, power, resolution, signs, clone, bulk_parasite_advice: None, bus: None }
    }

    /// The same facts on bus `bus`.
    pub fn on_bus(mut self, bus: impl Into<String>) -> SensorFacts {
        self.bus = Some(bus.into());
        self
    }
}

/// `28-0316a2795aff: external power, 12 bits` (the clone verdict is a line of its own; the bus, when
/// known, ends it: `, on w1_bus_master1`).
impl fmt::Display for SensorFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.sensor)?;
        match self.power {
            Some(p) => write!(f, "{p}")?,
            None => f.write_str("power mode unknown")?,
        }
        match self.resolution {
            Some(r) => write!(f, ", {r} bits")?,
            None => f.write_str(", resolution unknown")?,
        }
        match &self.bus {
            Some(bus) => write!(f, ", on {bus}"),
            None => Ok(()),
        }
    }
}

/// What the w1 backend says about parasite-powered sensors converted in bulk.
pub const W1_BULK_PARASITE_ADVICE: &str = "the kernel holds the data line high during a conversion \
     (strong pull-up) only when the bus master can: add pullup=1 to the overlay \
     (dtoverlay=w1-gpio,pullup=1 in /boot/firmware/config.txt) and keep w1_therm's strong_pullup \
     parameter at its default 1, or power each sensor from 3.3 V (three wires)";

/// What the GPIO backend says about parasite-powered sensors (it converts all with Skip ROM).
pub const GPIO_BULK_PARASITE_ADVICE: &str = "this GPIO backend does not drive the data line high \
     during a conversion (no strong pull-up), so the pull-up resistor alone must feed every \
     converting sensor (up to 1.5 mA each): power each sensor from 3.3 V (three wires), or use the \
     kernel's driver (--sensor w1 with dtoverlay=w1-gpio,pullup=1 in /boot/firmware/config.txt)";

/// One warning for every parasite-powered sensor in `facts` that converts in bulk, or `None` when
/// there is none: which sensors, what to check, and the symptom.
pub fn parasite_warning<'a>(facts: impl IntoIterator<Item = &'a SensorFacts>) -> Option<String> {
    let mut ids = Vec::new();
    let mut advice = Vec::new();
    for f in facts {
        if let Some(a) = f.bulk_parasite_advice {
            ids.push(f.sensor.as_str());
            if !advice.contains(&a) {
                advice.push(a);
            }
        }
    }
    if ids.is_empty() {
        return None;
    }
    Some(format!(
        "parasite-powered sensor(s) converting together with the rest of their bus: {}. {}. \
         Readings of 85 °C or no reading at all are the symptom of too little power",
        ids.join(", "),
        advice.join("; ")
    ))
}
