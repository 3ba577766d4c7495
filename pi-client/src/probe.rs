//! `cliser-pi-client probe`: what a person runs on a freshly wired Pi to see whether the thermometers
//! work, before starting the service.

use crate::config::ProbeTarget;
use crate::sampler;
use crate::sensor_notes::clone_line;
use cliser_hal::facts::SensorFacts;
use cliser_hal::resolution::ResolutionPlan;
use cliser_hal::SensorSpec;
use std::io::Write;

/// Probe only looks: it never writes a resolution (a run does, as its settings ask).
fn open(target: &ProbeTarget) -> Result<Box<dyn cliser_hal::Thermometers>, cliser_hal::HalError> {
    sampler::open(&target.sensor, target.id.as_ref(), &ResolutionPlan::default())
}

/// `  external power, 12 bits` (what the hal learnt of the sensor), or nothing.
fn facts_tail(facts: Option<&SensorFacts>) -> String {
    let Some(f) = facts else { return String::new() };
    let power = f.power.map_or_else(|| "power mode unknown".to_owned(), |p| p.to_string());
    match f.resolution {
        Some(r) => format!("  {power}, {r} bits"),
        None => format!("  {power}"),
    }
}

/// The backend as the report's first line names it; the simulation says whose sensors it shows.
fn backend(target: &ProbeTarget) -> String {
    match (&target.sensor, &target.id) {
        (SensorSpec::Sim(_), Some(id)) => format!("{} (the simulated sensors of id {id})", target.sensor),
        (spec, _) => spec.to_string(),
    }
}

/// Prints the hal diagnostics for the w1 root (only when the spec is a w1 one: the 1-Wire hints mean
/// nothing to `sim` or `file:`) and, for every sensor found (opened as a run opens them, but with
/// nothing written to them), its current reading, power mode and resolution, and the clone verdict
/// when there is one. Returns the exit status: 0 when at least one sensor answered, 1 otherwise.
pub fn run(target: &ProbeTarget, out: &mut dyn Write) -> std::io::Result<u8> {
    let spec = &target.sensor;
    if let SensorSpec::W1(root) = spec {
        writeln!(out, "{}", cliser_hal::diagnose(root).trim_end())?;
        if !root.is_dir() {
            // The diagnosis said why and how to fix it; opening would only say it again.
            return Ok(1);
        }
    } else {
        writeln!(out, "sensor backend: {}", backend(target))?;
    }
    let mut sensors = match open(target) {
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
    let facts = sensors.take_sensor_facts();
    writeln!(out, "{} sensor(s):", samples.len())?;
    let mut any_ok = false;
    for s in samples {
        let f = facts.iter().find(|f| f.sensor == s.sensor);
        let tail = facts_tail(f);
        match s.result {
            Ok(m) => {
                any_ok = true;
                writeln!(out, "  {}  {:.3} °C{tail}", s.sensor, f64::from(m) / 1000.0)?;
            }
            Err(e) => writeln!(out, "  {}  error: {e}{tail}", s.sensor)?,
        }
        if let Some(line) = f.and_then(clone_line) {
            writeln!(out, "    {line}")?;
        }
    }
    if let Some(warning) = cliser_hal::facts::parasite_warning(&facts) {
        writeln!(out, "warning: {warning}")?;
    }
    Ok(if any_ok { 0 } else { 1 })
}

/// `probe --watch`: reads every sensor each `interval` and prints one line per sensor (its reading or
/// error reason, and its read time: the read of all sensors, shared out equally, as the hal reads
/// them one after another) until `stop`. Returns the exit status: 0 once stopped.
pub fn watch(
    target: &ProbeTarget,
    interval: std::time::Duration,
    out: &mut dyn Write,
    stop: &crate::Stop,
) -> std::io::Result<u8> {
    writeln!(
        out,
        "sensor backend: {}; reading every {}, Ctrl-C to stop",
        backend(target),
        cliser_common::duration::format(interval)
    )?;
    let mut sensors = None;
    let mut next = std::time::Instant::now();
    loop {
        if sensors.is_none() {
            match open(target) {
                Ok(s) => sensors = Some(s),
                Err(e) => writeln!(out, "cannot open the thermometers: {e}")?,
            }
        }
        if let Some(s) = sensors.as_mut() {
            let started = std::time::Instant::now();
            let read = s.read_all();
            let took = started.elapsed();
            match read {
                Ok(samples) if samples.is_empty() => writeln!(out, "no sensors found")?,
                Ok(samples) => {
                    let share = (took / samples.len() as u32).as_millis();
                    for s in samples {
                        match s.result {
                            Ok(m) => writeln!(
                                out,
                                "{}  {:.3} °C  read {share} ms",
                                s.sensor,
                                f64::from(m) / 1000.0
                            )?,
                            Err(e) => {
                                writeln!(out, "{}  error {} ({e})  read {share} ms", s.sensor, e.reason())?
                            }
                        }
                    }
                }
                Err(e) => writeln!(out, "cannot read the thermometers: {e}")?,
            }
        }
        out.flush()?;
        let now = std::time::Instant::now();
        while next <= now {
            next += interval;
        }
        if stop.sleep_until(next) {
            return Ok(0);
        }
    }
}
