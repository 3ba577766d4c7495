//! The adapter to the exporters (the cliser-export crate): one thread per `--mqtt`/`--influx`, each
//! on its own store connection, and their handle.

use crate::config::Config;
use crate::fleet::duties::Leadership;
use crate::run::error::RunError;
use cliser_common::core_thread::OnPanic;
use cliser_common::sensors::SharedSettings;
use cliser_export::cursor::{Feed, Start};
use cliser_export::runner::{Far, Gate};
use cliser_export::{Exporter, StatusBoard, Watcher};

/// The exporter threads.
pub struct Exporters(Vec<Exporter>);

impl Exporters {
    /// Starts the exporters the settings ask for, each saying where it sends from.
    pub fn start(
        config: &Config,
        settings: &SharedSettings,
        board: &StatusBoard,
        leadership: Option<&Leadership>,
        on_panic: &OnPanic,
    ) -> Result<Exporters, RunError> {
        // In a fleet, only the server that leads exports (each exporter looks before each batch).
        let gate = || leadership.map(|l| -> Gate { Box::new(l.gate()) });
        // Held from the first: an exporter started before a later one fails is stopped on drop.
        let mut out = Exporters(Vec::new());
        if let Some(influx) = config.export.influx.clone() {
            let store = cliser_store::open_as_with(&config.store.url, &config.store_memory.other)
                .map_err(RunError::Store)?;
            let feed = Feed::open(store, "influx", Start::Beginning).map_err(RunError::Store)?;
            let target = influx.shown();
            log::info!("export influx -> {target}: from reading {} on", feed.saved());
            let far = move |_wake| -> Box<dyn Far> { Box::new(cliser_export::influx::Influx::new(influx)) };
            let started = Exporter::start(
                "influx",
                &target,
                feed,
                far,
                settings.clone(),
                board,
                Some(on_panic.clone()),
                gate(),
            );
            out.0.push(started.map_err(RunError::Start)?);
        }
        if let Some(mqtt) = config.export.mqtt.clone() {
            let store = cliser_store::open_as_with(&config.store.url, &config.store_memory.other)
                .map_err(RunError::Store)?;
            let feed = Feed::open(store, "mqtt", Start::End).map_err(RunError::Store)?;
            let target = mqtt.url.clone();
            log::info!(
                "export mqtt -> {target}: from reading {} on, topics {}/..., Home Assistant discovery under {}/",
                feed.saved(),
                mqtt.prefix,
                mqtt.discovery_prefix
            );
            let far = move |wake| -> Box<dyn Far> { Box::new(cliser_export::mqtt::Mqtt::new(mqtt, wake)) };
            let on_panic = Some(on_panic.clone());
            let started =
                Exporter::start("mqtt", &target, feed, far, settings.clone(), board, on_panic, gate());
            out.0.push(started.map_err(RunError::Start)?);
        }
        Ok(out)
    }

    /// What tells them of commits and sessions, when there is any exporter.
    pub fn watcher(&self) -> Option<Watcher> {
        let watcher = cliser_export::runner::watcher(&self.0);
        (!watcher.is_empty()).then_some(watcher)
    }

    /// Stops each (as far as its far side takes what is left now; the rest after the next start,
    /// from the cursor).
    pub fn stop(mut self) -> Result<(), RunError> {
        let mut result = Ok(());
        for e in std::mem::take(&mut self.0) {
            if e.stop().is_err() {
                result = Err(RunError::Panicked("export"));
            }
        }
        result
    }
}

impl Drop for Exporters {
    /// Without a stop (a start that failed later): each is stopped all the same, within its far
    /// side's timeout.
    fn drop(&mut self) {
        for e in std::mem::take(&mut self.0) {
            let _ = e.stop();
        }
    }
}
