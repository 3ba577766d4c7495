//! Plain-words diagnostics of a w1 sysfs tree, for `cliser-pi-client probe`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use crate::w1_sysfs::{bus_masters, device_ids, W1Thermometers};
use crate::{family, format_millidegrees, Sample, SensorError, Thermometers};

/// The config.txt line that enables the kernel's 1-Wire bus on GPIO4.
const OVERLAY_HELP: &str = "On a Raspberry Pi 5 add the line\n    dtoverlay=w1-gpio\n\
     to /boot/firmware/config.txt (data on GPIO4 = pin 7; for another pin: dtoverlay=w1-gpio,gpiopin=17)\n\
     and reboot.";

/// Why `root` does not exist, in one message.
pub(crate) fn not_enabled(root: &Path) -> String {
    let what = if root.starts_with("/sys/bus/w1") && !Path::new("/sys/bus/w1").exists() {
        "there is no /sys/bus/w1: the 1-Wire interface is not enabled".to_owned()
    } else {
        format!(
            "{} does not exist: the 1-Wire interface is not enabled (or the path is wrong)",
            root.display()
        )
    };
    format!("{what}. {}", OVERLAY_HELP.replace("\n    ", " ").replace('\n', " "))
}

/// Looks at a w1 root and says in plain words what is wrong (if anything), then lists the sensors with
/// their current reading (which takes up to 750 ms a sensor on real hardware).
pub fn diagnose(w1_root: &Path) -> String {
    let mut out = String::new();
    if !w1_root.is_dir() {
        let _ = writeln!(out, "{}", not_enabled(w1_root));
        return out;
    }
    let masters = bus_masters(w1_root).unwrap_or_default();
    if masters.is_empty() {
        let _ = writeln!(
            out,
            "{} exists but there is no 1-Wire bus master (w1_bus_master1): the w1-gpio overlay is not \
             active. Check that the dtoverlay=w1-gpio line in /boot/firmware/config.txt is not commented \
             out, then reboot.",
            w1_root.display()
        );
    }
    for master in &masters {
        describe_master(&mut out, master);
    }
    let ids = match device_ids(w1_root) {
        Ok(ids) => ids,
        Err(e) => {
            let _ = writeln!(out, "cannot list {}: {e}", w1_root.display());
            return out;
        }
    };
    let others: Vec<&String> = ids
        .iter()
        .filter(|id| family::family_of_id(id).is_some_and(|f| f != 0 && !family::is_thermometer(f)))
        .collect();
    if !others.is_empty() {
        let list: Vec<&str> = others.iter().map(|s| s.as_str()).collect();
        let _ = writeln!(out, "other 1-Wire devices (not thermometers, ignored): {}", list.join(", "));
    }
    let samples = W1Thermometers::open(w1_root).and_then(|mut w1| w1.read_all());
    match samples {
        Ok(samples) => describe_samples(&mut out, &samples),
        Err(e) => {
            let _ = writeln!(out, "cannot read the sensors: {e}");
        }
    }
    out
}

fn describe_master(out: &mut String, master: &Path) {
    let name = master.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let slaves = std::fs::read_to_string(master.join("w1_master_slaves")).unwrap_or_default();
    let slaves: Vec<&str> =
        slaves.lines().map(str::trim).filter(|l| !l.is_empty() && *l != "not found.").collect();
    if slaves.is_empty() {
        let _ = writeln!(
            out,
            "{name}: no devices found on the bus. Check the wiring: sensor VDD to 3.3 V (pin 1), GND to \
             ground (pin 6), data to GPIO4 (pin 7), and the 4.7 kΩ pull-up resistor between data and 3.3 V."
        );
    }
    let ghosts: Vec<&str> = slaves.iter().copied().filter(|id| family::family_of_id(id) == Some(0)).collect();
    if !ghosts.is_empty() {
        let _ = writeln!(
            out,
            "{name}: ghost devices {}: the data line floats. The 4.7 kΩ pull-up between data and 3.3 V is \
             missing or not connected.",
            ghosts.join(", ")
        );
    }
}

fn describe_samples(out: &mut String, samples: &[Sample]) {
    if samples.is_empty() {
        let _ = writeln!(out, "no thermometers found.");
        return;
    }
    let mut failures: BTreeMap<&'static str, Vec<&str>> = BTreeMap::new();
    let _ = writeln!(out, "sensors:");
    for sample in samples {
        match &sample.result {
            Ok(m) => {
                let _ = writeln!(out, "  {}  {} °C", sample.sensor, format_millidegrees(*m));
            }
            Err(e) => {
                let _ = writeln!(out, "  {}  error: {e}", sample.sensor);
                failures.entry(e.reason()).or_default().push(sample.sensor.as_str());
            }
        }
    }
    for (reason, sensors) in &failures {
        let (what, advice) = match *reason {
            r if r == SensorError::Crc.reason() => (
                "failing the CRC check",
                "Electrical noise or a long cable: use twisted pair or shielded cable, keep it away from \
                 mains wiring, and for long runs try a stronger pull-up (2.2 kΩ).",
            ),
            r if r == SensorError::Reset.reason() => (
                "stuck at 85 °C, the power-on value",
                "The sensor resets before its conversion ends, a power problem: check its 3.3 V and GND \
                 wires; in parasite-power wiring (VDD tied to GND) connect VDD to 3.3 V instead.",
            ),
            r if r == SensorError::Missing.reason() => (
                "giving no data",
                "Unplugged, a loose wire, or a CRC that keeps failing (current kernels show both as an \
                 empty file; `dmesg` tells which).",
            ),
            _ => ("unreadable", "See the errors above."),
        };
        let _ = writeln!(out, "{what}: {}. {advice}", sensors.join(", "));
    }
    match (failures.is_empty(), samples.len()) {
        (true, 1) => {
            let _ = writeln!(out, "the sensor reads fine.");
        }
        (true, n) => {
            let _ = writeln!(out, "all {n} sensors read fine.");
        }
        _ => {}
    }
}
