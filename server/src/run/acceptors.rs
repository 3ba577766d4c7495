//! The client acceptors (clear and TLS): each hands what it accepts to the Manager.

use crate::link::manager::{ManagerEvent, Transport};
use crate::run::error::RunError;
use crate::run::spawn::spawn;
use cliser_common::core_thread::OnPanic;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The acceptors' threads, their listeners and the flag they check.
pub struct Acceptors {
    accepting: Arc<AtomicBool>,
    plain: Option<(Arc<TcpListener>, JoinHandle<()>)>,
    tls: Option<(Arc<TcpListener>, JoinHandle<()>)>,
}

impl Default for Acceptors {
    /// None running yet: they are added one by one, so a failed start stops those that run.
    fn default() -> Acceptors {
        Acceptors { accepting: Arc::new(AtomicBool::new(true)), plain: None, tls: None }
    }
}

impl Acceptors {
    /// Accepts clients on `listener` (in clear or inside TLS) for `manager`.
    pub fn start(
        &mut self,
        listener: Option<TcpListener>,
        transport: Transport,
        manager: &Sender<ManagerEvent>,
        on_panic: &OnPanic,
    ) -> Result<(), RunError> {
        let Some(listener) = listener.map(Arc::new) else { return Ok(()) };
        let (manager, accepting, l) = (manager.clone(), self.accepting.clone(), listener.clone());
        let name = match transport {
            Transport::Plain => "acceptor",
            Transport::Tls => "tls-acceptor",
        };
        let thread = spawn(name, on_panic, move || accept_loop(&l, transport, manager, accepting))?;
        match transport {
            Transport::Plain => self.plain = Some((listener, thread)),
            Transport::Tls => self.tls = Some((listener, thread)),
        }
        Ok(())
    }

    /// No connection is taken from now on. Not by connecting to ourselves: that needs a
    /// descriptor, and they may have run out.
    pub fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::SeqCst);
        for (listener, _) in [&self.plain, &self.tls].into_iter().flatten() {
            if let Err(e) = cliser_common::listener::stop_accepting(listener) {
                log::warn!("cannot stop a client listener: {e}");
            }
        }
    }

    /// Waits for the acceptors, each step named in `waiting` (after [`stop_accepting`](Self::stop_accepting)).
    pub fn stop(mut self, waiting: impl Fn(&'static str)) -> Result<(), RunError> {
        waiting("acceptor");
        let plain = self.plain.take().map(|(_, t)| t.join()).transpose();
        waiting("tls-acceptor");
        let tls = self.tls.take().map(|(_, t)| t.join()).transpose();
        plain.map_err(|_| RunError::Panicked("acceptor"))?;
        tls.map_err(|_| RunError::Panicked("tls-acceptor"))?;
        Ok(())
    }
}

impl Drop for Acceptors {
    /// Without a stop: told to stop accepting, not waited for.
    fn drop(&mut self) {
        if self.plain.is_some() || self.tls.is_some() {
            self.stop_accepting();
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    transport: Transport,
    manager: Sender<ManagerEvent>,
    accepting: Arc<AtomicBool>,
) {
    loop {
        match listener.accept() {
            Ok(_) if !accepting.load(Ordering::SeqCst) => return,
            Ok((stream, peer)) => {
                if manager.send(ManagerEvent::Accepted(stream, peer, transport)).is_err() {
                    return;
                }
            }
            Err(e) => {
                if !accepting.load(Ordering::SeqCst) {
                    return;
                }
                log::error!("accept failed: {e}");
                // Out of file descriptors, typically: give connections time to close instead of spinning.
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}
