//! The adapter to the alerts (the cliser-alerts crate): its thread on its own store connection,
//! what it tells the web page, and its handle.

use crate::config::Config;
use crate::fleet::duties::Leadership;
use crate::run::error::RunError;
use cliser_alerts::{Input as AlertInput, Mailbox, Runner};
use cliser_common::core_thread::OnPanic;
use cliser_common::sensors::SharedSettings;
use cliser_web::{AckView, AlertView, LiveEvent};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

/// The alerts thread and its mailbox.
pub struct AlertsThread {
    /// Dropped (with the Manager's and the sink's clones) to end the thread.
    tx: Option<Mailbox>,
    thread: Option<JoinHandle<()>>,
}

impl AlertsThread {
    /// Starts the alerts thread; it tells `live` (the page) what fires and what is forgotten.
    pub fn start(
        config: &Config,
        settings: &SharedSettings,
        live: Option<Sender<LiveEvent>>,
        leadership: Option<&Leadership>,
        on_panic: &OnPanic,
    ) -> Result<AlertsThread, RunError> {
        let store = cliser_store::open_as_with(&config.store.url, &config.store_memory.other)
            .map_err(RunError::Store)?;
        let now = settings.get();
        let delivery = cliser_alerts::deliver::Delivery::new(&now.alerts);
        let changes = live.clone();
        let on_change: cliser_alerts::runner::OnChange = Box::new(move |firing| {
            if let Some(live) = &changes {
                let _ = live.send(LiveEvent::Alerts(firing.iter().map(alert_view).collect()));
            }
        });
        // The page drops a forgotten node or sensor as soon as the alerts thread has acted on it.
        let on_forget: cliser_alerts::runner::OnForget = Box::new(move |cid, sensor| {
            let Some(live) = &live else { return };
            let Ok(cid) = cliser_protocol::ClientId::new(cid) else { return };
            let sensor = match sensor.map(cliser_protocol::SensorId::new).transpose() {
                Ok(s) => s,
                Err(_) => return,
            };
            let _ = live.send(LiveEvent::Forgotten { cid, sensor });
        });
        let mut runner =
            Runner::new(store, now, delivery, on_change).map_err(RunError::Store)?.on_forget(on_forget);
        // In a fleet only the leader acts on alerts; the others follow, warm.
        if let Some(leadership) = leadership {
            runner = runner.lead_by(Box::new(leadership.gate()));
        }
        let (tx, rx) = cliser_alerts::mailbox();
        let thread = crate::run::spawn::spawn("alerts", on_panic, move || runner.run(rx))?;
        Ok(AlertsThread { tx: Some(tx), thread: Some(thread) })
    }

    /// A sender to its mailbox (the sink's and the Manager's watchers hold one).
    pub fn mailbox(&self) -> Option<Mailbox> {
        self.tx.clone()
    }

    /// Passes `input` on, while it runs.
    pub fn send(&self, input: AlertInput) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(input);
        }
    }

    /// Closes its mailbox; then, when `wait` (the other senders are gone), waits for it to end.
    pub fn stop(mut self, wait: bool) -> Result<(), RunError> {
        drop(self.tx.take());
        let thread = self.thread.take();
        match thread.filter(|_| wait).map(JoinHandle::join) {
            Some(Err(_)) => Err(RunError::Panicked("alerts")),
            _ => Ok(()),
        }
    }
}

impl Drop for AlertsThread {
    /// Without a stop: its mailbox closes, and the thread ends once the other senders are gone.
    fn drop(&mut self) {
        drop(self.tx.take());
    }
}

fn alert_view(active: &cliser_alerts::Active) -> AlertView {
    let a = &active.alert;
    AlertView {
        kind: a.key.kind.as_str(),
        cid: a.key.cid.clone(),
        sensor: a.key.sensor.clone(),
        name: a.name.clone(),
        since_ms: a.since_ms,
        value: a.value,
        limit: a.limit,
        message: a.message.clone(),
        ack: active.ack.as_ref().map(|k| AckView { by: k.by.clone(), note: k.note.clone(), at_ms: k.at_ms }),
        silenced_by: active.silenced_by,
    }
}
