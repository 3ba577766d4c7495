//! The fleet's subsystems, started when the store is PostgreSQL (other servers may share it):
//! presence, which keeps each client registered on one server at a time. With SQLite nothing
//! starts here and nothing is added to the reading path.

use crate::config::Config;
use crate::fleet::presence::{Presence, PresenceThread};
use crate::link::manager::ManagerEvent;
use crate::run::error::RunError;
use cliser_store::fleet::{FleetSettings, PgFleet, ServerIdentity};
use cliser_store::Backend;
use std::net::SocketAddr;
use std::sync::mpsc::Sender;

/// Starts presence on its own lease connection when `backend` is PostgreSQL; a client whose lease
/// another server takes is closed through the Manager's mailbox `manager`.
pub fn start_presence(
    config: &Config,
    backend: Backend,
    client_port: Option<SocketAddr>,
    manager: &Sender<ManagerEvent>,
) -> Result<Option<(Presence, PresenceThread)>, RunError> {
    if backend != Backend::Postgres {
        return Ok(None);
    }
    let name = config.fleet_name.clone().unwrap_or_else(|| default_name(client_port));
    let fleet = PgFleet::connect(&config.store.url, ServerIdentity::new(&name), FleetSettings::default())
        .map_err(RunError::Fleet)?;
    log::info!("fleet: this server is {name:?}; clients hold leases in {}", fleet.location());
    let manager = manager.clone();
    let on_lost = Box::new(move |cid| {
        let _ = manager.send(ManagerEvent::LeaseLost(cid));
    });
    Presence::start(fleet, on_lost).map(Some).map_err(RunError::Start)
}

/// The host name and the port clients connect to: what people tell servers apart by.
fn default_name(client_port: Option<SocketAddr>) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    match client_port {
        Some(addr) => format!("{host}:{}", addr.port()),
        None => host,
    }
}
