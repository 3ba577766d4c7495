//! The lines a start says once every port is bound and the store is open: where it listens, what
//! is reachable in clear beyond this machine, the brake, the settings and the clients file.

use crate::auth::credentials::SharedClients;
use crate::config::Config;
use crate::run::ready_file::Bound;
use crate::run::web::beyond_loopback_tls;

/// Says where the server listens and with what.
pub fn say(config: &Config, bound: &Bound) {
    match bound.listen {
        Some(addr) => log::info!("listening on {addr}"),
        None => log::info!("not listening in clear (--listen off)"),
    }
    if let (Some(addr), Some(tls)) = (bound.listen_tls, &config.tls) {
        log::info!("listening for TLS on {addr} (certificate {})", tls.cert.display());
    }
    let console = bound.console;
    match (beyond_loopback_tls(config, console), console.ip().is_loopback()) {
        (Some(_), _) => log::info!("console on {console} (TLS, the certificate of --tls-cert)"),
        (None, true) => log::info!("console on {console}"),
        (None, false) => log::warn!(
            "console on {console}: reachable beyond this machine in clear, its password and commands \
             readable on the network; with --listen-tls it speaks TLS, or reach it through an SSH tunnel"
        ),
    }
    if let Some(addr) = bound.http {
        match (beyond_loopback_tls(config, addr), addr.ip().is_loopback()) {
            (Some(_), _) => log::info!("web page on https://{addr}/ (metrics at /metrics; the certificate of --tls-cert)"),
            (None, true) => log::info!("web page on http://{addr}/ (metrics at /metrics)"),
            (None, false) => log::warn!(
                "web page on http://{addr}/: reachable beyond this machine in clear, its password (HTTP Basic) \
                 readable on the network; with --listen-tls it is served over HTTPS, or reach it through an SSH tunnel"
            ),
        }
    }
    log::info!("failed-login brake: {}", config.brake);
    log::info!("{}", config.summary());
    if config.clients.is_on() {
        log::info!("{}", clients_line(&config.clients, config.password.is_some()));
    }
}

/// What the clients file in force means, for the start and reload lines.
pub fn clients_line(clients: &SharedClients, fleet: bool) -> String {
    let others = if fleet { "other ids log in with the fleet password" } else { "other ids are refused" };
    format!(
        "clients file {}: {} ids with their own token; {others}",
        clients.path().unwrap_or_default().display(),
        clients.get().len()
    )
}
