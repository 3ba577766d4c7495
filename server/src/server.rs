//! Starts the threads, waits for a stop request, and shuts down in order.

use crate::backdoor;
use crate::config::Config;
use crate::csv_ledger::CsvLedger;
use crate::manager::{Manager, ManagerEvent};
use crate::sink::Sink;
use std::collections::HashMap;
use std::fmt;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::channel;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Why the server stops.
#[derive(Debug, Clone, Copy)]
pub enum StopReason {
    /// SIGINT or SIGTERM.
    Signal(i32),
    /// `Q` on the admin console.
    Backdoor,
}

impl From<backdoor::Quit> for StopReason {
    fn from(_: backdoor::Quit) -> Self {
        StopReason::Backdoor
    }
}

/// Why the server could not run or did not stop cleanly. The binary exits with status 1 for these.
#[derive(Debug)]
pub enum RunError {
    /// A listening address could not be bound.
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The admin console would listen beyond loopback without a password.
    NoAdminPassword(SocketAddr),
    /// The readings CSV could not be opened.
    Ledger {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A thread could not be started, or signal handling could not be set up.
    Start(std::io::Error),
    /// A core thread panicked.
    Panicked(&'static str),
    /// The `--ready-file` could not be written.
    ReadyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Bind { what, addr, source } => {
                write!(f, "cannot listen for {what} on {addr}: {source}")
            }
            RunError::NoAdminPassword(a) => write!(
                f,
                "the backdoor on {a} is reachable beyond this machine: give it a password with \
                 --admin-password-file PATH (or CLISER_ADMIN_PASSWORD), or bind it to 127.0.0.1"
            ),
            RunError::Ledger { path, source } => {
                write!(f, "cannot open readings CSV {}: {source}", path.display())
            }
            RunError::Start(e) => write!(f, "cannot start: {e}"),
            RunError::Panicked(which) => write!(f, "the {which} thread panicked"),
            RunError::ReadyFile { path, source } => {
                write!(f, "cannot write the ready file {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for RunError {}

/// Connections the kernel may queue before accept (capped by `net.core.somaxconn`). std's default
/// of 128 drops the SYNs of a burst of Pis reconnecting after an outage, costing each a 1 s retry.
const LISTEN_BACKLOG: i32 = 4096;

fn bind(what: &'static str, addr: &str) -> Result<TcpListener, RunError> {
    let err = |source| RunError::Bind { what, addr: addr.to_owned(), source };
    let resolved = std::net::ToSocketAddrs::to_socket_addrs(addr).map_err(err)?.next().ok_or_else(|| {
        err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "resolves to no address"))
    })?;
    let socket = socket2::Socket::new(socket2::Domain::for_address(resolved), socket2::Type::STREAM, None)
        .map_err(err)?;
    // As std does: a restarted server may bind while old connections linger in TIME_WAIT.
    socket.set_reuse_address(true).map_err(err)?;
    socket.bind(&resolved.into()).map_err(err)?;
    socket.listen(LISTEN_BACKLOG).map_err(err)?;
    Ok(socket.into())
}

fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<JoinHandle<T>, RunError> {
    std::thread::Builder::new().name(name.into()).spawn(f).map_err(RunError::Start)
}

/// Runs the server until SIGINT, SIGTERM or the console's `Q`, then closes every connection (without
/// 999, so clients come back), drains the readings sink and returns.
pub fn run(config: Config) -> Result<(), RunError> {
    let backdoor = bind("the backdoor", &config.backdoor)?;
    let backdoor_addr = backdoor.local_addr().map_err(RunError::Start)?;
    if !backdoor_addr.ip().is_loopback() && config.admin_password.is_none() {
        return Err(RunError::NoAdminPassword(backdoor_addr));
    }
    let (ledger, high_water) = match &config.readings_csv {
        None => (None, HashMap::new()),
        Some(path) => {
            let (ledger, rec) =
                CsvLedger::open(path).map_err(|source| RunError::Ledger { path: path.clone(), source })?;
            if rec.torn_bytes > 0 {
                log::warn!(
                    "readings CSV {}: cut a torn last line of {} bytes",
                    path.display(),
                    rec.torn_bytes
                );
            }
            log::info!(
                "readings CSV {}: {} readings, high-water marks for {} clients",
                path.display(),
                rec.lines,
                rec.high_water.len()
            );
            (Some(ledger), rec.high_water)
        }
    };
    let listener = bind("clients", &config.listen)?;
    let addr = listener.local_addr().map_err(RunError::Start)?;
    log::info!("listening on {addr}");
    log::info!("backdoor on {backdoor_addr}");

    let config = Arc::new(config);
    let (manager_tx, manager_rx) = channel();
    let (sink_tx, sink_rx) = channel();
    let (stop_tx, stop_rx) = channel();

    let sink = Sink::new(ledger, high_water);
    let acks = sink.acks();
    let sink = spawn("sink", move || sink.run(sink_rx))?;
    let manager = Manager::new(config.clone(), manager_tx.clone(), sink_tx, acks);
    let manager = spawn("manager", move || manager.run(manager_rx))?;

    let mut signals =
        signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])
            .map_err(RunError::Start)?;
    let signal_stop = stop_tx.clone();
    spawn("signals", move || {
        for sig in signals.forever() {
            let _ = signal_stop.send(StopReason::Signal(sig));
        }
    })?;

    let (bd_manager, admin_pw) = (manager_tx.clone(), config.admin_password.clone());
    spawn("backdoor-accept", move || backdoor::serve(backdoor, bd_manager, stop_tx, admin_pw))?;

    let stopping = Arc::new(AtomicBool::new(false));
    let (acc_manager, acc_stopping) = (manager_tx.clone(), stopping.clone());
    let acceptor = spawn("acceptor", move || accept_loop(listener, acc_manager, acc_stopping))?;
    if let Some(path) = &config.ready_file {
        crate::ready_file::write(path, addr, backdoor_addr)
            .map_err(|source| RunError::ReadyFile { path: path.clone(), source })?;
    }

    let reason = stop_rx.recv().unwrap_or(StopReason::Backdoor);
    log::info!("stopping ({reason:?}): closing all connections");
    stopping.store(true, Ordering::SeqCst);
    // accept() has no timeout: a connection of our own wakes it to see the flag.
    let _ = TcpStream::connect_timeout(&wake_addr(addr), Duration::from_secs(1));
    let _ = manager_tx.send(ManagerEvent::Shutdown);
    drop(manager_tx);
    manager.join().map_err(|_| RunError::Panicked("manager"))?;
    acceptor.join().map_err(|_| RunError::Panicked("acceptor"))?;
    sink.join().map_err(|_| RunError::Panicked("sink"))?;
    log::info!("stopped");
    Ok(())
}

fn wake_addr(bound: SocketAddr) -> SocketAddr {
    let mut a = bound;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    a
}

fn accept_loop(
    listener: TcpListener,
    manager: std::sync::mpsc::Sender<ManagerEvent>,
    stopping: Arc<AtomicBool>,
) {
    loop {
        match listener.accept() {
            Ok(_) if stopping.load(Ordering::SeqCst) => return,
            Ok((stream, peer)) => {
                if manager.send(ManagerEvent::Accepted(stream, peer)).is_err() {
                    return;
                }
            }
            Err(e) => {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                log::error!("accept failed: {e}");
                // Out of file descriptors, typically: give connections time to close instead of spinning.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
