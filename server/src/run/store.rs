//! The store at start: its data dir made, the sink's connection opened, the high-water marks read.

use crate::config::Config;
use crate::readings::registrations::Registrations;
use crate::readings::store_location::MadeAtStart;
use crate::run::error::RunError;
use cliser_protocol::ClientId;
use std::collections::HashMap;
use std::path::Path;

/// The store for the sink, the high-water marks it holds, and (for a database other servers may
/// write to as well) a connection that registrations read their client's mark from.
pub struct Opened {
    /// The sink's connection.
    pub store: Box<dyn cliser_store::SinkStore>,
    /// Each client's highest stored seq.
    pub high_water: HashMap<ClientId, u64>,
    /// With PostgreSQL: the registrations' connection.
    pub registrations: Option<Registrations>,
    /// Which database it is: with PostgreSQL other servers may share it (a fleet).
    pub backend: cliser_store::Backend,
}

/// Makes the data dir (removed again on drop unless kept), opens the store and says what it holds.
pub fn open(config: &Config) -> Result<(MadeAtStart, Opened), RunError> {
    let made = config.store.prepare_for_start().map_err(|source| RunError::DataDir {
        path: config.store.data_dir().unwrap_or(Path::new(".")).to_owned(),
        source,
    })?;
    if let Some(dir) = config.store.data_dir() {
        log::info!("data dir {}", dir.display());
    }
    let memory = &config.store_memory;
    let mut store: Box<dyn cliser_store::SinkStore> =
        cliser_store::open_as_with(&config.store.url, &memory.sink).map_err(RunError::Store)?;
    let info = store.info().map_err(RunError::Store)?;
    let high_water = store.high_water_all().map_err(RunError::Store)?;
    // Before the first commit: rows a killed server had not written yet are repaired now.
    let repaired = store.hold_display(crate::readings::sink::DISPLAY_EVERY).map_err(RunError::Store)?;
    if repaired > 0 {
        log::info!(
            "store: the nodes' and sensors' rows brought up to date from {repaired} readings stored before \
             the last stop (kill -9 or power cut) but not yet written to them"
        );
    }
    log::info!("store {info}; clients with a high-water mark: {}", high_water.len());
    match info.backend {
        cliser_store::Backend::Sqlite => log::info!("store memory {memory}"),
        cliser_store::Backend::Postgres => {
            log::info!("store memory: PostgreSQL's own (--store-memory is SQLite's)")
        }
    }
    match config.retain_raw {
        Some(keep) => {
            log::info!("raw readings kept {}, hourly rollups forever", cliser_common::duration::format(keep))
        }
        None => log::info!("raw readings kept forever (--retain-raw 0)"),
    }
    let registrations = match info.backend {
        cliser_store::Backend::Postgres => {
            let reader =
                cliser_store::open_with(&config.store.url, &memory.other).map_err(RunError::Store)?;
            Some(Registrations::new(reader).map_err(RunError::Start)?)
        }
        cliser_store::Backend::Sqlite => None,
    };
    Ok((made, Opened { store, high_water, registrations, backend: info.backend }))
}
