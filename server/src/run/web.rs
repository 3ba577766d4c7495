//! The adapter to the web page (the cliser-web crate): its settings from the server's, the brake
//! and exporters' status as it sees them, the fleet view's thread (PostgreSQL), and its handle.

use crate::auth::brake::Brake;
use crate::config::Config;
use crate::run::error::RunError;
use crate::run::fleet_view::FleetViewThread;
use cliser_common::core_thread::OnPanic;
use cliser_common::sensors::SharedSettings;
use cliser_store::fleet::ServerIdentity;
use cliser_store::Backend;
use cliser_web::{FleetBoard, FleetSource};
use cliser_web::{LiveEvent, Web, WebConfig};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc::Receiver;
use std::sync::Arc;

/// The web page, when it is served (`--http`, not `off`), and the thread that reads the fleet for
/// it (PostgreSQL).
pub struct WebPage(Option<Web>, Option<FleetViewThread>);

/// What the page shows and reports to.
pub struct PageParts<'a> {
    /// Names, calibration and limits in force.
    pub settings: &'a SharedSettings,
    /// What the server tells the page.
    pub events: Receiver<LiveEvent>,
    /// The exporters' status.
    pub board: &'a cliser_export::StatusBoard,
    /// Told if a thread of the page panics.
    pub on_panic: &'a OnPanic,
}

impl WebPage {
    /// Serves the page on `listener`, if there is one, as the server `identity` of a store of
    /// `backend` (PostgreSQL: the page shows the whole fleet, read by a thread of its own).
    pub fn start(
        listener: Option<TcpListener>,
        config: &Config,
        brake: &Arc<Brake>,
        (identity, backend): (&ServerIdentity, Backend),
        parts: PageParts,
    ) -> Result<WebPage, RunError> {
        let PageParts { settings, events, board, on_panic } = parts;
        let Some(listener) = listener else { return Ok(WebPage(None, None)) };
        let mut fleet = FleetSource::single(identity.name());
        let view = match backend {
            Backend::Postgres => {
                let fleet_board = FleetBoard::new();
                fleet.board = Some(fleet_board.clone());
                let thread =
                    FleetViewThread::start(&config.store.url, identity.clone(), fleet_board, on_panic)
                        .map_err(RunError::Start)?;
                Some(thread)
            }
            _ => None,
        };
        let tls = listener.local_addr().ok().and_then(|addr| beyond_loopback_tls(config, addr));
        let board = board.clone();
        let exporters: Arc<cliser_web::ExportersFn> = Arc::new(move || {
            board
                .snapshot()
                .into_iter()
                .map(|s| cliser_web::ExporterView {
                    name: s.name,
                    target: s.target,
                    connected: s.connected,
                    lag_readings: s.lag_readings,
                    lag_seconds: s.lag_seconds,
                    exported: s.exported,
                    last_error: s.last_error,
                })
                .collect()
        });
        let password = config.admin_password.clone().map(|secret| {
            let check: Arc<cliser_web::PasswordCheck> = Arc::new(move |p: &str| secret.matches(p));
            check
        });
        let web_config = WebConfig {
            store_url: config.store.url.clone(),
            store_options: config.store_memory.other,
            password,
            brake: Arc::new(WebBrake(brake.clone())),
            keepalive: config.keepalive,
            settings: settings.clone(),
            tls,
            exporters,
            fleet,
            on_panic: Some(on_panic.clone()),
        };
        let mut page = WebPage(None, view);
        page.0 = Some(cliser_web::start(listener, web_config, events).map_err(RunError::Web)?);
        Ok(page)
    }

    /// Whether the page is served.
    pub fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// The server is about to stop: the viewers are told, and the sessions ended from now on are
    /// not shown as nodes going offline. Before the Manager ends the sessions.
    pub fn stopping(&self) {
        if let Some(web) = &self.0 {
            web.stopping();
        }
    }

    /// Stops accepting and ends the live thread and the fleet view's; `Err` names a thread that
    /// panicked.
    pub fn stop(mut self) -> Result<(), RunError> {
        let web = self.0.take().map(Web::stop).transpose();
        let view = self.1.take().map(FleetViewThread::stop).transpose();
        web.and(view).map(drop).map_err(RunError::Panicked)
    }
}

impl Drop for WebPage {
    /// A start that failed later: the page's threads end (its stop does not wait on anyone).
    fn drop(&mut self) {
        if let Some(web) = self.0.take() {
            let _ = web.stop();
        }
        if let Some(view) = self.1.take() {
            let _ = view.stop();
        }
    }
}

/// The server's brake, as the web page sees it.
struct WebBrake(Arc<Brake>);

impl cliser_web::LoginBrake for WebBrake {
    fn is_blocked(&self, ip: std::net::IpAddr) -> bool {
        self.0.is_blocked(ip)
    }

    fn failed(&self, ip: std::net::IpAddr) {
        self.0.record_failure(ip);
    }
}

/// The certificate of `--tls-cert` for a listener on `addr` beyond loopback; none on loopback (where
/// `nc` and a local browser keep working in clear) or without TLS.
pub fn beyond_loopback_tls(
    config: &Config,
    addr: SocketAddr,
) -> Option<Arc<cliser_tls::rustls::ServerConfig>> {
    let tls = config.tls.as_ref()?;
    (!addr.ip().is_loopback()).then(|| tls.server.clone())
}
