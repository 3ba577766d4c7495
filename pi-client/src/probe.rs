//! `cliser-pi-client probe`: what a person runs on a freshly wired Pi to see whether the thermometers
//! work, before starting the service.

use cliser_hal::SensorSpec;
use std::io::Write;

/// Prints the hal diagnostics for the w1 root (only when the spec is a w1 one: the 1-Wire hints mean
/// nothing to `sim` or `file:`) and the current reading of every sensor found. Returns the exit
/// status: 0 when at least one sensor answered, 1 otherwise.
pub fn run(spec: &SensorSpec, out: &mut dyn Write) -> std::io::Result<u8> {
    if let SensorSpec::W1(root) = spec {
        writeln!(out, "{}", cliser_hal::diagnose(root).trim_end())?;
        if !root.is_dir() {
            // The diagnosis said why and how to fix it; opening would only say it again.
            return Ok(1);
        }
    } else {
        writeln!(out, "sensor backend: {spec}")?;
    }
    let mut sensors = match cliser_hal::open(spec) {
        Ok(s) => s,
        Err(e) => {
            writeln!(out, "cannot open the thermometers: {e}")?;
            return Ok(1);
        }
    };
    let samples = match sensors.read_all() {
        Ok(s) => s,
        Err(e) => {
            writeln!(out, "cannot read the thermometers: {e}")?;
            return Ok(1);
        }
    };
    if samples.is_empty() {
        writeln!(out, "no sensors found")?;
        return Ok(1);
    }
    writeln!(out, "{} sensor(s):", samples.len())?;
    let mut any_ok = false;
    for s in samples {
        match s.result {
            Ok(m) => {
                any_ok = true;
                writeln!(out, "  {}  {:.3} °C", s.sensor, f64::from(m) / 1000.0)?;
            }
            Err(e) => writeln!(out, "  {}  error: {e}", s.sensor)?,
        }
    }
    Ok(if any_ok { 0 } else { 1 })
}
