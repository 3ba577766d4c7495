//! The alerts thread: feeds the [`Engine`] what the server tells it and the clock, keeps firing
//! alerts in the store, and hands each transition to the [`Delivery`]. It is off the reading path:
//! the server only `send`s into its unbounded mailbox, and nothing here waits for a command or a
//! webhook (they run on threads of their own).

use crate::alert::{Alert, AlertKey, Kind, State, Transition};
use crate::deliver::Delivery;
use crate::engine::Engine;
use crate::health::Health;
use cliser_common::sensors::Settings;
use cliser_store::{NewReading, Store, StoredAlert};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the server tells the alerts thread.
#[derive(Debug)]
pub enum Input {
    /// Readings the store took (raw, as sent).
    Stored(Vec<NewReading>),
    /// Gaps in a client's seqs (one entry per gap), from the same commit.
    Gaps(Vec<String>),
    /// A node registered.
    NodeUp(String),
    /// A node's session ended.
    NodeDown(String),
    /// New settings are in force.
    Reload(Arc<Settings>),
    /// The firing alerts.
    List(Sender<Vec<Alert>>),
    /// The firing alerts as text, for the console's `A`.
    ListText(Sender<String>),
    /// The console's `N`: per-sensor health as text.
    Health(Sender<String>),
}

/// The clock is looked at this often (silence, offline nodes, `for`).
const TICK: Duration = Duration::from_secs(1);

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn to_row(a: &Alert) -> StoredAlert {
    StoredAlert {
        kind: a.key.kind.as_str().to_owned(),
        cid: a.key.cid.clone(),
        sensor: a.key.sensor.clone(),
        name: a.name.clone(),
        since_ms: a.since_ms,
        value: a.value,
        limit: a.limit,
        message: a.message.clone(),
        ack: None,
    }
}

fn from_row(r: StoredAlert) -> Option<Alert> {
    let kind = Kind::parse(&r.kind)?;
    Some(Alert {
        key: AlertKey { kind, cid: r.cid, sensor: r.sensor },
        name: r.name,
        since_ms: r.since_ms,
        value: r.value,
        limit: r.limit,
        message: r.message,
    })
}

/// The alerts thread's state.
pub struct Runner {
    engine: Engine,
    store: Box<dyn Store>,
    delivery: Delivery,
    health: Health,
    /// Told the firing alerts after every change (the web page's live view and metrics).
    on_change: Box<dyn Fn(Vec<Alert>) + Send>,
}

impl Runner {
    /// Reads the firing alerts and the known nodes and sensors from `store` (its own connection)
    /// and makes the engine under `settings`.
    pub fn new(
        mut store: Box<dyn Store>,
        settings: Arc<Settings>,
        delivery: Delivery,
        on_change: Box<dyn Fn(Vec<Alert>) + Send>,
    ) -> Result<Runner, cliser_store::StoreError> {
        let firing: Vec<Alert> = store.alerts_firing()?.into_iter().filter_map(from_row).collect();
        if !firing.is_empty() {
            log::info!("alerts: {} firing since before this start (not sent again)", firing.len());
        }
        let mut health = Health::default();
        health.names(settings.clone());
        let mut engine = Engine::new(settings, firing);
        let now = now_ms();
        for n in store.nodes()? {
            engine.know_node(n.cid.as_str(), now);
        }
        for s in store.sensors()? {
            engine.know_sensor(s.cid.as_str(), s.sensor.as_str(), s.last_seen_ms);
            health.know(&s);
        }
        Ok(Runner { engine, store, delivery, health, on_change })
    }

    /// The thread's body: until every sender is gone.
    pub fn run(mut self, inbox: Receiver<Input>) {
        (self.on_change)(self.engine.firing().cloned().collect());
        let mut next_tick = Instant::now() + TICK;
        loop {
            match inbox.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
                Ok(input) => self.handle(input),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() >= next_tick {
                let t = self.engine.tick(now_ms());
                self.apply(t);
                next_tick = Instant::now() + TICK;
            }
        }
        self.delivery.finish();
    }

    fn handle(&mut self, input: Input) {
        match input {
            Input::Stored(readings) => {
                let now = now_ms();
                let mut out = Vec::new();
                for r in &readings {
                    self.health.reading(r);
                    out.extend(self.engine.reading(
                        r.cid.as_str(),
                        r.sensor.as_str(),
                        &r.value,
                        r.sampled_ms,
                        now,
                    ));
                }
                self.apply(out);
            }
            Input::Gaps(cids) => {
                for cid in cids {
                    self.health.gap(&cid);
                }
            }
            Input::NodeUp(cid) => {
                let t = self.engine.node_up(&cid, now_ms());
                self.apply(t);
            }
            Input::NodeDown(cid) => self.engine.node_down(&cid, now_ms()),
            Input::Reload(settings) => {
                let t = self.engine.reload(settings.clone(), now_ms());
                self.delivery.set_targets(&settings.alerts);
                self.health.names(settings);
                self.apply(t);
            }
            Input::List(reply) => {
                let _ = reply.send(self.engine.firing().cloned().collect());
            }
            Input::ListText(reply) => {
                let _ =
                    reply.send(crate::alert::list_text(&self.engine.firing().cloned().collect::<Vec<_>>()));
            }
            Input::Health(reply) => {
                let _ = reply.send(self.health.report(now_ms()));
            }
        }
    }

    /// Keeps each transition in the store, then delivers it.
    fn apply(&mut self, transitions: Vec<Transition>) {
        if transitions.is_empty() {
            return;
        }
        for t in &transitions {
            let kept = match t.state {
                State::Firing => self.store.alert_fire(&to_row(&t.alert)),
                State::Resolved => {
                    let k = &t.alert.key;
                    self.store.alert_resolve(k.kind.as_str(), &k.cid, &k.sensor).map(|_| ())
                }
            };
            if let Err(e) = kept {
                log::error!(
                    "alerts: cannot keep the {} alert {} in the store ({e}); it is delivered, but a restart \
                     before the store is back may send it again",
                    t.state.as_str(),
                    t.alert.key.kind
                );
            }
            self.delivery.deliver(t);
        }
        (self.on_change)(self.engine.firing().cloned().collect());
    }
}
