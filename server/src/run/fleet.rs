//! The fleet's subsystems, started when the store is PostgreSQL (other servers may share it):
//! presence, which keeps each client registered on one server at a time; the news between the
//! servers; and the duties, which choose the one server that runs the alerts, retention and the
//! exporters. All carry this server's one [`ServerIdentity`]. With SQLite nothing starts here and
//! nothing is added to the reading path.

use crate::config::Config;
use crate::fleet::duties::{DutiesThread, Leadership};
use crate::fleet::news::{LeaseSeen, NewsThreads};
use crate::fleet::presence::{Presence, PresenceThread};
use crate::link::manager::ManagerEvent;
use crate::run::error::RunError;
use cliser_alerts::Input as AlertInput;
use cliser_export::Watcher;
use cliser_store::fleet::{FleetSettings, Heard, News, PgFleet, ServerIdentity};
use cliser_store::Backend;
use cliser_web::{LiveEvent, Stored};
use std::net::SocketAddr;
use std::sync::mpsc::Sender;

/// Who this server is in the fleet: made once per process start, and handed (cloned) to each of
/// its fleet connections (presence, news, the fleet view, duties), so they all speak for one
/// server. Named by `--fleet-name`, else `host:port` (the port clients connect to).
pub fn identity(config: &Config, client_port: Option<SocketAddr>) -> ServerIdentity {
    ServerIdentity::new(config.fleet_name.clone().unwrap_or_else(|| default_name(client_port)))
}

/// `identity` when the store is one several servers may share (PostgreSQL); `None` for SQLite,
/// where there is no fleet.
pub fn in_fleet(identity: &ServerIdentity, backend: Backend) -> Option<&ServerIdentity> {
    (backend == Backend::Postgres).then_some(identity)
}

/// A lease connection of `identity`'s.
fn connect(config: &Config, identity: &ServerIdentity) -> Result<PgFleet, RunError> {
    PgFleet::connect(&config.store.url, identity.clone(), FleetSettings::default()).map_err(RunError::Fleet)
}

/// Starts the duties thread on its own lease connection, as `identity`.
pub fn start_duties(
    config: &Config,
    identity: Option<&ServerIdentity>,
) -> Result<Option<(Leadership, DutiesThread)>, RunError> {
    let Some(identity) = identity else { return Ok(None) };
    DutiesThread::start(connect(config, identity)?).map(Some).map_err(RunError::Start)
}

/// Starts the fleet's news (PostgreSQL): returns the mailbox the watchers tell this server's news
/// to, and the threads. What other servers say goes to the page's live view `live`, if served,
/// and to the duties that follow the whole fleet, the alerts and the exporters (`duties`), with
/// the fleet's leases coming and going (a server that dies says nothing: its leases run out).
pub fn start_news(
    config: &Config,
    identity: Option<&ServerIdentity>,
    live: Option<Sender<LiveEvent>>,
    duties: (Option<cliser_alerts::Mailbox>, Option<Watcher>),
) -> Result<Option<(Sender<News>, NewsThreads)>, RunError> {
    let Some(identity) = identity else { return Ok(None) };
    let (out, inbound) = (connect(config, identity)?, connect(config, identity)?);
    let (alerts, export) = duties;
    let (to_alerts, to_export) = (alerts.clone(), export.clone());
    let on_heard = Box::new(move |heard: Heard| {
        for news in heard.news {
            if let Some(alerts) = &to_alerts {
                let _ = alerts.send(alert_input(&news));
            }
            if let Some(export) = &to_export {
                tell_exporters(export, &news);
            }
            if let (Some(live), Some(event)) = (&live, live_event(news)) {
                let _ = live.send(event);
            }
        }
    });
    // The fleet's leases: who is online, also the Pis of a server that died without a word.
    let on_leases = Box::new(move |seen: Vec<LeaseSeen>| {
        for s in seen {
            match s {
                LeaseSeen::Up(cid) => {
                    if let Some(export) = &export {
                        export.node_up(&cid);
                    }
                    if let Some(alerts) = &alerts {
                        let _ = alerts.send(AlertInput::NodeUp(cid));
                    }
                }
                LeaseSeen::Down { cid, at_ms } => {
                    if let Some(export) = &export {
                        export.node_down(&cid);
                    }
                    if let Some(alerts) = &alerts {
                        let _ = alerts.send(AlertInput::NodeDownAt(cid, at_ms));
                    }
                }
            }
        }
    });
    crate::fleet::news::start(out, inbound, on_heard, on_leases).map(Some).map_err(RunError::Start)
}

/// Another server's news for the exporters (they run on the leader): new readings in the store to
/// follow, the other servers' nodes coming and going (MQTT availability).
fn tell_exporters(export: &Watcher, news: &News) {
    match news {
        News::Stored(_) => export.stored(),
        News::NodeUp { cid, .. } => export.node_up(cid.as_str()),
        News::NodeDown { cid, .. } => export.node_down(cid.as_str()),
    }
}

/// Another server's news as the alerts take it.
fn alert_input(news: &News) -> AlertInput {
    match news {
        News::Stored(readings) => AlertInput::Stored(readings.clone()),
        News::NodeUp { cid, .. } => AlertInput::NodeUp(cid.to_string()),
        News::NodeDown { cid, at_ms } => AlertInput::NodeDownAt(cid.to_string(), *at_ms),
    }
}

/// Another server's news as the page's live view takes it: its readings. Where nodes are
/// registered the page reads from the fleet's leases (the fleet view), which also knows when a
/// server died without a word.
fn live_event(news: News) -> Option<LiveEvent> {
    match news {
        News::Stored(readings) => {
            Some(LiveEvent::Stored(Stored { readings, elsewhere: true, ..Stored::default() }))
        }
        News::NodeUp { .. } | News::NodeDown { .. } => None,
    }
}

/// Starts presence on its own lease connection (PostgreSQL); a client whose lease another server
/// takes is closed through the Manager's mailbox `manager`.
pub fn start_presence(
    config: &Config,
    identity: Option<&ServerIdentity>,
    manager: &Sender<ManagerEvent>,
) -> Result<Option<(Presence, PresenceThread)>, RunError> {
    let Some(identity) = identity else { return Ok(None) };
    let fleet = connect(config, identity)?;
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
