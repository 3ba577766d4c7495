//! The alerts thread: feeds the [`Engine`] what the server tells it and the clock, keeps firing
//! alerts and their history in the store, passes each transition through the [`Gate`] (silences,
//! acknowledgements) and hands what is to be told to the [`Delivery`]. It is off the reading path:
//! the server only `send`s into its [`Mailbox`](crate::mailbox::Mailbox) (readings coalesced per
//! sensor, so it stays bounded however far behind this thread is), and nothing here waits for a command or a
//! webhook (they run on threads of their own). Each tick it also reads what people changed in the
//! store (acknowledgements, silences, forgotten nodes: `people.rs`), whichever process wrote it.

use crate::admin::Request;
use crate::alert::{Active, Alert, AlertKey, Kind, State, Transition};
use crate::deliver::Delivery;
use crate::engine::Engine;
use crate::gate::{Event, Gate, Step};
use crate::health::Health;
use crate::mailbox::{Inbox, Next, Slot};
use cliser_common::sensors::Settings;
use cliser_store::fleet::Fence;
use cliser_store::{
    Ack, AdminLog, AlertEvent, AlertStore, HealthLog, History, NewReading, OpenAs, PgStore, SqliteStore,
    StoredAlert,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod acting;
mod people;

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
    /// A node is offline since `at_ms` (Unix ms): in a fleet, when the lease of a server that
    /// died ran out, so `node_offline` counts from then.
    NodeDownAt(String, i64),
    /// Whether this server acts on alerts: keeps them in the store, records their history and
    /// delivers them. In a fleet only the server that holds the alerts duty acts; the others
    /// follow (their engine sees everything, so a takeover starts warm). On becoming the one that
    /// acts, it reconciles what the store says is firing with what its engine says.
    Acting(bool),
    /// New settings are in force.
    Reload(Arc<Settings>),
    /// The firing alerts.
    List(Sender<Vec<Active>>),
    /// The firing alerts as text, for the console's `A`.
    ListText(Sender<String>),
    /// The console's `N`: per-sensor health as text.
    Health(Sender<String>),
    /// What a node's Pi said of its sensors (`f:` tokens): the console's `N` groups a node's
    /// sensors by bus when they hang on more than one.
    Facts(String, Vec<cliser_protocol::SensorFactsReport>),
    /// The console's `H`, `S`, `S+`, `S-`, `F:` and `K`: the answer as text.
    Console(Request, Sender<String>),
}

/// The clock is looked at this often (silence, offline nodes, `for`, silences ending), and the
/// store asked for what people changed.
const TICK: Duration = Duration::from_secs(1);

/// After the store failed to say what people changed, it is asked again once a commit shows it
/// answers (the sink's next report), or after this long: a database that is down is not
/// reconnected to every second (the sink is already trying, with backoff).
const ADMIN_RETRY: Duration = Duration::from_secs(60);

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

fn from_row(r: StoredAlert) -> Option<(Alert, Option<Ack>)> {
    let kind = Kind::parse(&r.kind)?;
    let alert = Alert {
        key: AlertKey { kind, cid: r.cid, sensor: r.sensor },
        name: r.name,
        since_ms: r.since_ms,
        value: r.value,
        limit: r.limit,
        message: r.message,
    };
    Some((alert, r.ack))
}

/// Logs a store failure once while it lasts, and once when it is over.
#[derive(Debug, Default)]
struct Trouble(Option<String>);

impl Trouble {
    fn failed(&mut self, what: &str, e: &cliser_store::StoreError) {
        if self.0.is_none() {
            log::error!("alerts: cannot {what} ({e}); trying again once the store answers (logged once)");
        }
        self.0 = Some(what.to_owned());
    }

    fn ok(&mut self) {
        if let Some(what) = self.0.take() {
            log::info!("alerts: the store answers again ({what})");
        }
    }
}

/// Called with the firing alerts after every change (the web page's live view and metrics).
pub type OnChange = Box<dyn Fn(Vec<Active>) + Send>;
/// Called when a node (`sensor` None) or a sensor was forgotten (the web page's live view).
pub type OnForget = Box<dyn Fn(&str, Option<&str>) + Send>;
/// In a fleet: the fence this server's alert writes go under while it holds the alerts duty;
/// `None` while another server does.
pub type Lead = Box<dyn Fn() -> Option<Fence> + Send>;

/// What the alerts thread asks of the store: the firing alerts, their history and silences; the
/// admin changes people make; and, at start, the nodes and sensors known. Open one with
/// `cliser_store::open_as::<dyn RunnerStore>(url)`.
pub trait RunnerStore: AlertStore + AdminLog + History + HealthLog {}

impl<T: AlertStore + AdminLog + History + HealthLog + ?Sized> RunnerStore for T {}

impl OpenAs for dyn RunnerStore {
    fn sqlite(store: SqliteStore) -> Box<Self> {
        Box::new(store)
    }
    fn postgres(store: PgStore) -> Box<Self> {
        Box::new(store)
    }
}

/// The alerts thread's state.
pub struct Runner {
    engine: Engine,
    store: Box<dyn RunnerStore>,
    delivery: Delivery,
    health: Health,
    gate: Gate,
    /// The acknowledgements of firing alerts.
    acks: HashMap<AlertKey, Ack>,
    /// The last admin change acted on.
    admin_after: i64,
    /// Reading admin changes failed (logged once).
    admin_trouble: Trouble,
    /// When to read admin changes next after a failure (`None`: every tick).
    admin_retry: Option<Instant>,
    /// Writing the history failed (logged once).
    history_trouble: Trouble,
    on_change: OnChange,
    on_forget: OnForget,
    /// Whether this server acts on alerts ([`Input::Acting`]); true unless told otherwise.
    acting: bool,
    /// In a fleet: who acts on alerts, looked at each tick and before each change.
    lead: Option<Lead>,
    /// The fence the store's writes go under now (with a `lead`).
    fence: Option<Fence>,
}

impl Runner {
    /// Reads the firing alerts (with their acknowledgements), the silences, where the admin
    /// changes stand, and the known nodes and sensors from `store` (its own connection), and makes
    /// the engine under `settings`.
    pub fn new(
        mut store: Box<dyn RunnerStore>,
        settings: Arc<Settings>,
        delivery: Delivery,
        on_change: OnChange,
    ) -> Result<Runner, cliser_store::StoreError> {
        let rows: Vec<(Alert, Option<Ack>)> =
            store.alerts_firing()?.into_iter().filter_map(from_row).collect();
        if !rows.is_empty() {
            log::info!("alerts: {} firing since before this start (not sent again)", rows.len());
        }
        let acks = rows.iter().filter_map(|(a, ack)| Some((a.key.clone(), ack.clone()?))).collect();
        let admin_after = store.admin_changes_head()?;
        let mut gate = Gate::new();
        gate.set_silences(store.silences(Some(now_ms()))?);
        let mut health = Health::default();
        health.use_settings(settings.clone());
        let mut engine = Engine::new(settings, rows.into_iter().map(|(a, _)| a).collect());
        let now = now_ms();
        for n in store.nodes()? {
            engine.know_node(n.cid.as_str(), now);
        }
        for s in store.sensors()? {
            engine.know_sensor(s.cid.as_str(), s.sensor.as_str(), s.last_seen_ms);
            health.know(&s);
        }
        Ok(Runner {
            engine,
            store,
            delivery,
            health,
            gate,
            acks,
            admin_after,
            admin_trouble: Trouble::default(),
            admin_retry: None,
            history_trouble: Trouble::default(),
            on_change,
            on_forget: Box::new(|_, _| {}),
            acting: true,
            lead: None,
            fence: None,
        })
    }

    /// The console's view of the Pis' health reports over the last hour, from the store (a short
    /// query, asked only by a person at the console).
    fn bus_health(&mut self, now: i64) -> String {
        match self.store.health_since(cliser_store::last_hour_since(now)) {
            Ok(rows) => {
                let sums = cliser_store::HealthSum::of(&rows);
                crate::health::bus_report(&sums, &self.health.settings(), self.health.buses())
            }
            Err(e) => format!("bus health: the store failed: {e}"),
        }
    }

    /// Tells `f` of each node or sensor forgotten while the server runs.
    pub fn on_forget(mut self, f: OnForget) -> Runner {
        self.on_forget = f;
        self
    }

    /// In a fleet: acts on alerts only while `lead` gives a fence (this server holds the alerts
    /// duty), with the store's writes fenced by it; follows meanwhile ([`Input::Acting`]).
    pub fn lead_by(mut self, lead: Lead) -> Runner {
        self.lead = Some(lead);
        self.acting = false;
        self
    }

    /// Starts or stops acting as the lead says, fencing the store's writes with its fence.
    fn follow_lead(&mut self, now: i64) {
        let Some(lead) = &self.lead else { return };
        let fence = lead();
        if fence == self.fence {
            return;
        }
        self.store.set_fence(fence.clone());
        self.fence = fence;
        self.set_acting(self.fence.is_some(), now);
    }

    /// The thread's body: until every sender is gone.
    pub fn run(mut self, inbox: Inbox) {
        self.follow_lead(now_ms());
        self.start_up(now_ms());
        self.changed();
        let mut next_tick = Instant::now() + TICK;
        loop {
            match inbox.recv_timeout(next_tick.saturating_duration_since(Instant::now())) {
                // The console's `N` also shows how deep the mailbox is, and was.
                Ok(Next::Input(Input::Health(reply))) => {
                    let now = now_ms();
                    let bus = self.bus_health(now);
                    let _ = reply.send(format!("{}\n{bus}\n{}", self.health.report(now), inbox.depth()));
                }
                Ok(Next::Input(input)) => self.handle(input),
                Ok(Next::Readings(slots, gaps)) => self.readings(slots, gaps),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Instant::now() >= next_tick {
                self.tick(now_ms());
                next_tick = Instant::now() + TICK;
            }
        }
        self.delivery.finish();
    }

    /// The clock: the engine's rules, what people changed, silences that ended.
    fn tick(&mut self, now: i64) {
        self.follow_lead(now);
        let t = self.engine.tick(now);
        self.apply(t);
        if self.admin_retry.is_none_or(|at| Instant::now() >= at) {
            self.read_admin_changes(now);
        }
        for id in self.delivery.taken() {
            if let Err(e) = self.store.alert_event_delivered(id) {
                // Left pending: delivered again if another server takes the duty over.
                self.history_trouble.failed("mark an alert delivered", &e);
            }
        }
        if !self.acting {
            return;
        }
        let steps = self.gate.check(now);
        if !steps.is_empty() {
            self.record_all(steps, now);
            self.changed();
        }
    }

    /// Readings the store took, coalesced per sensor while they waited, and gaps per client.
    fn readings(&mut self, slots: Vec<Slot>, gaps: BTreeMap<String, u64>) {
        // The store took a commit: it answers again.
        if self.admin_retry.is_some() {
            self.admin_retry = Some(Instant::now());
        }
        let now = now_ms();
        let mut out = Vec::new();
        for r in slots.iter().filter_map(|s| s.judge.first()) {
            self.engine.arriving(r.cid.as_str(), r.sensor.as_str());
        }
        for slot in slots {
            let Some(first) = slot.judge.first() else { continue };
            let (cid, sensor) = (first.cid.to_string(), first.sensor.to_string());
            self.health.counted(&cid, &sensor, &slot.folded);
            if let Some((n, first_ms)) = slot.errors_before {
                self.engine.more_errors(&cid, &sensor, n, first_ms);
            }
            for r in &slot.judge {
                self.health.reading(r);
                out.extend(self.engine.reading(&cid, &sensor, &r.value, r.sampled_ms, now));
            }
        }
        self.apply(out);
        for (cid, n) in gaps {
            self.health.gaps(&cid, n);
        }
    }

    fn handle(&mut self, input: Input) {
        match input {
            // The mailbox turns these into `readings` (coalesced); a direct caller gets the same.
            Input::Stored(readings) => {
                let mut slots: Vec<Slot> = Vec::new();
                for r in readings {
                    slots.push(Slot { judge: vec![r], ..Slot::default() });
                }
                self.readings(slots, BTreeMap::new());
            }
            Input::Gaps(cids) => {
                let mut gaps = BTreeMap::new();
                for cid in cids {
                    *gaps.entry(cid).or_default() += 1;
                }
                self.readings(Vec::new(), gaps);
            }
            Input::NodeUp(cid) => {
                let t = self.engine.node_up(&cid, now_ms());
                self.apply(t);
            }
            Input::NodeDown(cid) => self.engine.node_down(&cid, now_ms()),
            Input::NodeDownAt(cid, at_ms) => self.engine.node_down(&cid, at_ms),
            Input::Acting(acting) => self.set_acting(acting, now_ms()),
            Input::Reload(settings) => {
                let t = self.engine.reload(settings.clone(), now_ms());
                self.delivery.set_targets(&settings.alerts);
                self.health.use_settings(settings);
                self.apply(t);
            }
            Input::List(reply) => {
                let _ = reply.send(self.active());
            }
            Input::ListText(reply) => {
                let _ = reply.send(crate::alert::list_text(&self.active()));
            }
            Input::Health(reply) => {
                let _ = reply.send(self.health.report(now_ms()));
            }
            Input::Facts(cid, facts) => self.health.facts(&cid, &facts),
            Input::Console(request, reply) => {
                let _ = reply.send(self.console(request, now_ms()));
            }
        }
    }

    /// The firing alerts with their acknowledgements and silences.
    fn active(&self) -> Vec<Active> {
        self.engine
            .firing()
            .map(|a| Active {
                alert: a.clone(),
                ack: self.acks.get(&a.key).cloned(),
                silenced_by: self.gate.silenced_by(&a.key),
            })
            .collect()
    }

    fn changed(&self) {
        (self.on_change)(self.active());
    }

    /// Keeps each of the engine's transitions in the store, then records and delivers it as the
    /// gate says.
    fn apply(&mut self, transitions: Vec<Transition>) {
        if transitions.is_empty() {
            return;
        }
        self.follow_lead(now_ms());
        if !self.acting {
            // A follower's engine moves on; what is kept and told is the acting server's.
            self.changed();
            return;
        }
        for t in &transitions {
            let k = &t.alert.key;
            let kept = match t.state {
                State::Firing => self.store.alert_fire(&to_row(&t.alert)),
                State::Resolved | State::Forgotten => {
                    self.store.alert_resolve(k.kind.as_str(), &k.cid, &k.sensor).map(|_| ())
                }
                State::Acknowledged => Ok(()),
            };
            if let Err(e) = kept {
                log::error!(
                    "alerts: cannot keep the {} alert {} in the store ({e}); it is delivered, but a restart \
                     before the store is back may send it again",
                    t.state.as_str(),
                    t.alert.key.kind
                );
            }
            let steps = match t.state {
                State::Firing => {
                    self.acks.remove(k);
                    self.gate.fired(k, t.alert.name.as_deref(), t.at_ms)
                }
                state => {
                    self.acks.remove(k);
                    vec![self.gate.ended(k, state)]
                }
            };
            for step in steps {
                self.record(&step, t);
            }
        }
        self.changed();
    }

    /// Records the gate's steps about alerts that fire now (silences started or ended).
    fn record_all(&mut self, steps: Vec<Step>, now: i64) {
        for step in steps {
            let Some(alert) = self.engine.firing().find(|a| a.key == step.key).cloned() else { continue };
            self.record(&step, &Transition { state: State::Firing, alert, at_ms: now });
        }
    }

    /// Adds `step` about `t`'s alert to the history, then delivers it or logs why not.
    fn record(&mut self, step: &Step, t: &Transition) {
        if !self.acting {
            return;
        }
        let a = &t.alert;
        let event = AlertEvent {
            id: 0,
            at_ms: t.at_ms,
            event: step.event.as_str().to_owned(),
            kind: a.key.kind.as_str().to_owned(),
            cid: a.key.cid.clone(),
            sensor: a.key.sensor.clone(),
            name: a.name.clone(),
            since_ms: a.since_ms,
            value: a.value,
            message: a.message.clone(),
            by: step.by.clone(),
            note: step.note.clone(),
        };
        // A transition to deliver is kept pending until every target took it: its id goes with
        // each delivery, and a server taking the alerts duty over delivers again what is pending.
        let added = match step.deliver {
            Some(_) => self.store.alert_event_add_to_deliver(&event),
            None => self.store.alert_event_add(&event),
        };
        let id = match added {
            Ok(id) => {
                self.history_trouble.ok();
                Some(id)
            }
            Err(e) => {
                self.history_trouble.failed("add to the alert history", &e);
                None
            }
        };
        let ack = (step.event == Event::Acknowledged).then(|| Ack {
            by: step.by.clone().unwrap_or_default(),
            note: step.note.clone().unwrap_or_default(),
            at_ms: t.at_ms,
        });
        let note = step.note.as_deref().unwrap_or("");
        match (step.event, step.deliver) {
            (_, Some(state)) => {
                if step.event == Event::Unsilenced {
                    log::info!("alert unsilenced ({note}): delivered now");
                }
                self.delivery.deliver(&Transition { state, ..t.clone() }, ack.as_ref(), id);
            }
            (Event::Silenced, None) => log::info!("alert silenced ({note}): {}", a.message),
            (Event::Unsilenced, None) => log::info!("alert unsilenced ({note}): {}", a.message),
            (Event::Fired, None) => self.delivery.hold(t, None, note),
            (_, None) => self.delivery.hold(t, ack.as_ref(), "held by a silence"),
        }
    }
}
