//! The fleet's subsystems, started when the store is PostgreSQL (other servers may share it):
//! presence, which keeps each client registered on one server at a time, and the duties, which
//! choose the one server that runs retention and the exporters. Both carry this server's one
//! [`ServerIdentity`]. With SQLite nothing starts here and nothing is added to the reading path.

use crate::config::Config;
use crate::fleet::duties::{DutiesThread, Leadership};
use crate::fleet::presence::{Presence, PresenceThread};
use crate::link::manager::ManagerEvent;
use crate::run::error::RunError;
use cliser_store::fleet::{FleetSettings, PgFleet, ServerIdentity};
use cliser_store::Backend;
use std::net::SocketAddr;
use std::sync::mpsc::Sender;

/// Who this server is in the fleet when `backend` is PostgreSQL (`--fleet-name`, or the host
/// and the clients' port); `None` with SQLite: one server, no fleet.
pub fn identity(
    config: &Config,
    backend: Backend,
    client_port: Option<SocketAddr>,
) -> Option<ServerIdentity> {
    if backend != Backend::Postgres {
        return None;
    }
    let name = config.fleet_name.clone().unwrap_or_else(|| default_name(client_port));
    Some(ServerIdentity::new(name))
}

/// Starts the duties thread on its own lease connection, as `identity`.
pub fn start_duties(
    config: &Config,
    identity: Option<&ServerIdentity>,
) -> Result<Option<(Leadership, DutiesThread)>, RunError> {
    let Some(identity) = identity else { return Ok(None) };
    let fleet = PgFleet::connect(&config.store.url, identity.clone(), FleetSettings::default())
        .map_err(RunError::Fleet)?;
    DutiesThread::start(fleet).map(Some).map_err(RunError::Start)
}

/// Starts presence on its own lease connection, as `identity`; a client whose lease another
/// server takes is closed through the Manager's mailbox `manager`.
pub fn start_presence(
    config: &Config,
    identity: Option<&ServerIdentity>,
    manager: &Sender<ManagerEvent>,
) -> Result<Option<(Presence, PresenceThread)>, RunError> {
    let Some(identity) = identity else { return Ok(None) };
    let fleet = PgFleet::connect(&config.store.url, identity.clone(), FleetSettings::default())
        .map_err(RunError::Fleet)?;
    log::info!("fleet: this server is {:?}; clients hold leases in {}", identity.name(), fleet.location());
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
