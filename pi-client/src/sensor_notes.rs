//! What the client says once per start about each sensor: how its resolution setting went
//! ([`ResolutionReport`]) and what the hal learnt of it ([`SensorFacts`]: power mode, resolution,
//! clone verdict), plus one warning for parasite-powered sensors that convert in bulk. Logged from
//! the sampler thread, right after the read that produced them.

use cliser_hal::facts::{parasite_warning, SensorFacts};
use cliser_hal::resolution::{ResolutionOutcome, ResolutionReport};
use cliser_hal::Thermometers;
use log::{info, warn};

/// The tail of a clone line: a verdict is a hint, never a reason to drop a sensor.
pub const CLONE_TAIL: &str = "(never refused, only reported)";

/// Remembers what was said since the start.
#[derive(Debug, Default)]
pub struct SensorNotes {
    parasite_warned: bool,
}

impl SensorNotes {
    /// Logs what `sensors` has to report since the last call (each sensor once per start, as the
    /// hal hands it out), and returns the facts logged (for the health line and the server).
    pub fn log_new(&mut self, sensors: &mut dyn Thermometers) -> Vec<SensorFacts> {
        for report in sensors.take_resolution_reports() {
            log_report(&report);
        }
        let facts = sensors.take_sensor_facts();
        for f in &facts {
            info!("sensor {f}");
            if let Some(line) = clone_line(f) {
                warn!("sensor {line}");
            }
        }
        if !self.parasite_warned {
            if let Some(warning) = parasite_warning(&facts) {
                self.parasite_warned = true;
                warn!("{warning}");
            }
        }
        facts
    }
}

fn log_report(report: &ResolutionReport) {
    match report.outcome {
        ResolutionOutcome::Unchanged(_) | ResolutionOutcome::Changed { .. } => info!("{report}"),
        ResolutionOutcome::Ignored { .. } | ResolutionOutcome::Failed(_) => warn!("{report}"),
    }
}

/// `28-...: looks like a clone (kind ...): known behaviour: ... (never refused, only reported)`,
/// when the hal's verdict says so.
pub fn clone_line(facts: &SensorFacts) -> Option<String> {
    let look = facts.clone.as_ref()?;
    Some(format!("{}: {look} {CLONE_TAIL}", facts.sensor))
}

/// The plan as the start-up line says it: `every sensor 10 bits, 28-0316a2795aff 12 bits, saved to
/// the EEPROM when changed`.
pub fn describe_plan(plan: &cliser_hal::resolution::ResolutionPlan) -> String {
    let mut parts = Vec::new();
    if let Some(r) = plan.default {
        parts.push(format!("every sensor {r} bits"));
    }
    parts.extend(plan.per_sensor.iter().map(|(id, r)| format!("{id} {r} bits")));
    if plan.persist {
        parts.push("saved to the EEPROM when changed".to_owned());
    }
    parts.join(", ")
}
