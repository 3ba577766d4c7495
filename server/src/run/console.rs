//! The admin console's accept thread: started with its settings, stopped last of the server's own
//! threads (it answers while the Manager drains).

use crate::auth::brake::Brake;
use crate::config::Config;
use crate::console::listener::{serve, ConsoleConfig};
use crate::link::manager::ManagerEvent;
use crate::run::control::Control;
use crate::run::error::RunError;
use crate::run::spawn::spawn;
use crate::run::web::beyond_loopback_tls;
use cliser_common::core_thread::OnPanic;
use cliser_web::LiveEvent;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The console's accept thread.
pub struct ConsoleThread {
    addr: SocketAddr,
    closed: Arc<AtomicBool>,
    /// A duplicate of the thread's listener, to stop it at the end.
    listener: Option<TcpListener>,
    thread: Option<JoinHandle<()>>,
}

/// The mailboxes the console's commands go to.
pub struct ConsoleMailboxes {
    /// The Manager's (`L`, `K`, ...).
    pub manager: Sender<ManagerEvent>,
    /// The server thread's (`Q`, `R`, and the questions it answers).
    pub server: Sender<Control>,
    /// The page's live view, told of each failed login.
    pub live: Option<Sender<LiveEvent>>,
}

impl ConsoleThread {
    /// Serves the console on `listener`.
    pub fn start(
        listener: TcpListener,
        config: &Config,
        brake: &Arc<Brake>,
        to: ConsoleMailboxes,
        on_panic: &OnPanic,
    ) -> Result<ConsoleThread, RunError> {
        let addr = listener.local_addr().map_err(RunError::Start)?;
        let console_config = ConsoleConfig {
            password: config.admin_password.clone(),
            tls: beyond_loopback_tls(config, addr),
            brake: brake.clone(),
            auth_timeout: config.auth_timeout,
            live: to.live,
        };
        let closed = Arc::new(AtomicBool::new(false));
        let duplicate = listener.try_clone().ok();
        let (manager, server, on_thread) = (to.manager, to.server, closed.clone());
        let serve_console = move || serve(listener, manager, server, console_config, on_thread);
        let thread = spawn("console-accept", on_panic, serve_console)?;
        Ok(ConsoleThread { addr, closed, listener: duplicate, thread: Some(thread) })
    }

    /// Stops accepting and waits for the accept thread.
    pub fn stop(mut self) -> Result<(), RunError> {
        self.close();
        match self.thread.take().map(JoinHandle::join) {
            Some(Err(_)) => Err(RunError::Panicked("console-accept")),
            _ => Ok(()),
        }
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        match &self.listener {
            Some(l) => {
                if let Err(e) = cliser_common::listener::stop_accepting(l) {
                    log::warn!("cannot stop the console's listener: {e}");
                }
            }
            None => wake(self.addr),
        }
    }
}

impl Drop for ConsoleThread {
    /// Without a stop: told to stop accepting, not waited for.
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.close();
        }
    }
}

/// accept() has no timeout: a connection of our own wakes it to see its flag (only where the
/// listener could not be duplicated to stop it with [`cliser_common::listener::stop_accepting`]).
fn wake(bound: SocketAddr) {
    let _ = TcpStream::connect_timeout(&wake_addr(bound), Duration::from_secs(1));
}

fn wake_addr(bound: SocketAddr) -> SocketAddr {
    let mut a = bound;
    if a.ip().is_unspecified() {
        a.set_ip(if a.is_ipv4() { [127, 0, 0, 1].into() } else { std::net::Ipv6Addr::LOCALHOST.into() });
    }
    a
}
