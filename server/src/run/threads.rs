//! The readings' threads (the sink, retention) and the Manager: each started by its own starter,
//! which returns a handle whose `stop` ends it and whose drop, without a stop, tells it to end.

use crate::auth::brake::Brake;
use crate::config::Config;
use crate::fleet::duties::Leadership;
use crate::link::manager::{AdminCmd, Fleetwide, Manager, ManagerEvent};
use crate::link::session::SessionEvent;
use crate::readings::ack_table::AckTable;
use crate::readings::sink::{Sink, SinkMailbox, SinkSender};
use crate::readings::watchers::Watchers;
use crate::run::error::RunError;
use crate::run::spawn::spawn;
use cliser_common::core_thread::OnPanic;
use cliser_common::sensors::SharedSettings;
use cliser_protocol::ClientId;
use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The sink thread: it ends once every sender to its mailbox (the Manager's sessions) is gone.
pub struct SinkThread(JoinHandle<()>);

impl SinkThread {
    /// Starts the sink committing to `store`, with the marks it holds; the table acks are read
    /// from comes back with it.
    pub fn start(
        store: Box<dyn cliser_store::SinkStore>,
        high_water: HashMap<ClientId, u64>,
        settings: &SharedSettings,
        keepalive: Duration,
        watchers: Watchers,
        mailbox: SinkMailbox<SessionEvent>,
        on_panic: &OnPanic,
    ) -> Result<(SinkThread, Arc<AckTable>), RunError> {
        let mut sink = Sink::new(store, high_water);
        sink.use_settings(settings.clone());
        sink.gather_for(keepalive);
        sink.tell(watchers);
        let acks = sink.acks();
        Ok((SinkThread(spawn("sink", on_panic, move || sink.run(mailbox))?), acks))
    }

    /// Waits for the sink to end (after the Manager, whose sessions hold its mailbox open).
    pub fn stop(self) -> Result<(), RunError> {
        self.0.join().map_err(|_| RunError::Panicked("sink"))
    }
}

/// The retention thread (`--retain-raw`), when there is one.
pub struct RetentionThread {
    /// Dropped to end the thread.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl RetentionThread {
    /// Starts pruning on a store connection of its own, if raw readings are not kept forever; in
    /// a fleet (`leadership`, PostgreSQL) only while this server leads.
    pub fn start(
        config: &Config,
        leadership: Option<&Leadership>,
        on_panic: &OnPanic,
    ) -> Result<RetentionThread, RunError> {
        let Some(keep) = config.retain_raw else { return Ok(RetentionThread { stop: None, thread: None }) };
        let pruner = cliser_store::open_with(&config.store.url, &config.store_memory.other)
            .map_err(RunError::Store)?;
        let gate = leadership.map(|l| -> crate::readings::retention::Gate { Box::new(l.gate()) });
        let (tx, rx) = channel();
        let run = move || crate::readings::retention::run(pruner, keep, rx, gate);
        let thread = spawn("retention", on_panic, run)?;
        Ok(RetentionThread { stop: Some(tx), thread: Some(thread) })
    }

    /// Tells it to end and waits for it.
    pub fn stop(mut self) -> Result<(), RunError> {
        drop(self.stop.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Err(_)) => Err(RunError::Panicked("retention")),
            _ => Ok(()),
        }
    }
}

impl Drop for RetentionThread {
    /// Without a stop: told to end, not waited for.
    fn drop(&mut self) {
        drop(self.stop.take());
    }
}

/// The Manager thread and its mailbox.
pub struct ManagerThread {
    tx: Option<Sender<ManagerEvent>>,
    thread: Option<JoinHandle<()>>,
}

/// What the Manager is started with besides its mailbox.
pub struct ManagerParts {
    /// The sink's mailbox, for the sessions.
    pub sink: SinkSender<SessionEvent>,
    /// The table acks are read from.
    pub acks: Arc<AckTable>,
    /// For a shared database: where registrations read a client's mark, and the fleet's leases.
    pub fleetwide: Fleetwide,
    /// The server's one brake.
    pub brake: Arc<Brake>,
    /// Who is told of nodes coming and going.
    pub watchers: Watchers,
}

impl ManagerThread {
    /// Starts the Manager on `mailbox` (whose sender `tx` the acceptors and the console hold too).
    /// If it cannot start, dropping it closes the sink's mailbox and the sink ends.
    pub fn start(
        config: &Arc<Config>,
        (tx, mailbox): (Sender<ManagerEvent>, Receiver<ManagerEvent>),
        parts: ManagerParts,
        settings: &SharedSettings,
        on_panic: &OnPanic,
    ) -> Result<ManagerThread, RunError> {
        let ManagerParts { sink, acks, fleetwide, brake, watchers } = parts;
        let mut manager = Manager::new(config.clone(), tx.clone(), sink, acks, fleetwide, brake, watchers);
        manager.use_settings(settings.clone());
        let thread = spawn("manager", on_panic, move || manager.run(mailbox))?;
        Ok(ManagerThread { tx: Some(tx), thread: Some(thread) })
    }

    /// Asks the Manager to carry out `cmd`; its answer.
    pub fn ask(&self, cmd: AdminCmd) -> String {
        let (tx, rx) = channel();
        let sent = self.tx.as_ref().is_some_and(|m| m.send(ManagerEvent::Admin(cmd, tx)).is_ok());
        if !sent {
            return "the Manager has stopped".into();
        }
        rx.recv_timeout(Duration::from_secs(5)).unwrap_or_else(|_| "no answer from the Manager".into())
    }

    /// Closes every connection (the Manager does, without 999) and waits for the Manager to end.
    pub fn stop(mut self) -> Result<(), RunError> {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(ManagerEvent::Shutdown);
        }
        match self.thread.take().map(JoinHandle::join) {
            Some(Err(_)) => Err(RunError::Panicked("manager")),
            _ => Ok(()),
        }
    }
}

impl Drop for ManagerThread {
    /// Without a stop: told to close every connection and end, not waited for.
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(ManagerEvent::Shutdown);
        }
    }
}
