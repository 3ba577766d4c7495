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

/// Who this server is in the fleet: made once per process start, and handed (cloned) to each of
/// its fleet connections (presence, the fleet view, duties), so they all speak for one server.
/// Named by `--fleet-name`, else `host:port` (the port clients connect to).
pub fn identity(config: &Config, client_port: Option<SocketAddr>) -> ServerIdentity {
    ServerIdentity::new(config.fleet_name.clone().unwrap_or_else(|| default_name(client_port)))
}

/// Starts presence on its own lease connection when `backend` is PostgreSQL; a client whose lease
/// another server takes is closed through the Manager's mailbox `manager`.
pub fn start_presence(
    config: &Config,
    backend: Backend,
    identity: &ServerIdentity,
    manager: &Sender<ManagerEvent>,
) -> Result<Option<(Presence, PresenceThread)>, RunError> {
    if backend != Backend::Postgres {
        return Ok(None);
    }
    let name = identity.name().to_owned();
    let fleet = PgFleet::connect(&config.store.url, identity.clone(), FleetSettings::default())
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
