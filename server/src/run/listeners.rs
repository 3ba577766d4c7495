//! The server's listening sockets, all bound before anything else starts: a port that is taken
//! fails the start before a store or a thread exists.

use crate::config::Config;
use crate::run::error::{Listener, RunError};
use std::net::{SocketAddr, TcpListener};

/// Connections the kernel may queue before accept (capped by `net.core.somaxconn`). std's default
/// of 128 drops the SYNs of a burst of Pis reconnecting after an outage, costing each a 1 s retry.
const LISTEN_BACKLOG: i32 = 4096;

/// The bound listeners (each taken by the subsystem that serves it) and their addresses.
pub struct Listeners {
    /// The admin console's.
    pub console: TcpListener,
    /// The web page's, unless `--http off`.
    pub web: Option<TcpListener>,
    /// Clients in clear, unless `--listen off`.
    pub clients: Option<TcpListener>,
    /// Clients inside TLS, with `--listen-tls`.
    pub tls: Option<TcpListener>,
    /// Where each listens (the real ports when started on port 0).
    pub bound: crate::run::ready_file::Bound,
}

impl Listeners {
    /// Binds the console (refusing one beyond loopback without a password), the web page and the
    /// client ports, in that order.
    pub fn bind(config: &Config) -> Result<Listeners, RunError> {
        let console = bind(Listener::Console, config.console)?;
        let console_addr = console.local_addr().map_err(RunError::Start)?;
        if !console_addr.ip().is_loopback() && config.admin_password.is_none() {
            return Err(RunError::NoAdminPassword(console_addr));
        }
        let web = config.http.map(|addr| bind(Listener::Web, addr)).transpose()?;
        let clients = config.listen.map(|addr| bind(Listener::Clients, addr)).transpose()?;
        let tls = config.tls.as_ref().map(|t| bind(Listener::TlsClients, t.listen)).transpose()?;
        let addr = |l: &Option<TcpListener>| l.as_ref().map(TcpListener::local_addr).transpose();
        let bound = crate::run::ready_file::Bound {
            listen: addr(&clients).map_err(RunError::Start)?,
            listen_tls: addr(&tls).map_err(RunError::Start)?,
            console: console_addr,
            http: web.as_ref().and_then(|l| l.local_addr().ok()),
        };
        Ok(Listeners { console, web, clients, tls, bound })
    }
}

fn bind(what: Listener, resolved: SocketAddr) -> Result<TcpListener, RunError> {
    let err = |source| RunError::Bind { what, addr: resolved.to_string(), source };
    let socket = socket2::Socket::new(socket2::Domain::for_address(resolved), socket2::Type::STREAM, None)
        .map_err(err)?;
    // As std does: a restarted server may bind while old connections linger in TIME_WAIT.
    socket.set_reuse_address(true).map_err(err)?;
    socket.bind(&resolved.into()).map_err(err)?;
    socket.listen(LISTEN_BACKLOG).map_err(err)?;
    Ok(socket.into())
}
