//! The live view of the fleet: which nodes are up, what each sensor read last. The server feeds it
//! [`LiveEvent`]s through a mailbox; one thread (the live thread) applies them, keeps the metrics'
//! counters, and pushes what changed to the page's event streams in one message per tick.
//!
//! Nobody on the reading path waits for this: the Manager and the sink only `send` into an
//! unbounded mailbox whose one reader never blocks on I/O (a viewer that cannot keep up is dropped,
//! not waited for).

use crate::fleet_view::{self, FleetSnapshot, FleetSource, Seat};
use crate::json::{node_json, reading_json};
use crate::metrics::Metrics;
use cliser_common::sensors::SharedSettings;
use cliser_protocol::{Celsius, ClientId, SensorId, Value};
use cliser_store::{History, NewReading};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// What the server tells the live view.
#[derive(Debug)]
pub enum LiveEvent {
    /// A client registered (its `140` went out).
    NodeUp {
        /// The client id.
        cid: ClientId,
        /// Where it connects from.
        addr: SocketAddr,
        /// When.
        at: SystemTime,
    },
    /// A registered client's session ended (closed, dead, disconnected).
    NodeDown {
        /// The client id.
        cid: ClientId,
        /// When.
        at: SystemTime,
    },
    /// A registered client answered; `more` when it said it has a backlog to send.
    Seen {
        /// The client id.
        cid: ClientId,
        /// When.
        at: SystemTime,
        /// It answered with `more`.
        more: bool,
    },
    /// The sink committed a group.
    Stored(Stored),
    /// A commit failed (the store is down or full); the group is held and tried again.
    CommitFailed,
    /// How many connections the server has now (authenticating or registered).
    Sessions(usize),
    /// A login failed (client password, console or web).
    AuthFailed,
    /// The firing alerts changed; these fire now.
    Alerts(Vec<AlertView>),
    /// A client told what it knows of its sensors (power mode, resolution, clone kind): the page
    /// keeps the latest per sensor, in memory.
    Facts {
        /// The client id.
        cid: ClientId,
        /// Its sensors' facts.
        facts: Vec<cliser_protocol::SensorFactsReport>,
    },
    /// The sink kept these health reports (one row each, as added to the store): the sensors'
    /// health counters in `/metrics` grow by them.
    Health(Vec<cliser_store::HealthRow>),
    /// A node (`sensor` None) or one of its sensors was forgotten: it leaves the page, the API and
    /// the metrics until it reports again.
    Forgotten {
        /// The client id.
        cid: ClientId,
        /// The sensor, or the whole node.
        sensor: Option<SensorId>,
    },
}

/// An exporter (MQTT, InfluxDB) as the API and the metrics show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExporterView {
    /// `mqtt` or `influx`.
    pub name: String,
    /// Where it sends (no password).
    pub target: String,
    /// Whether the far side is taking readings.
    pub connected: bool,
    /// Readings stored but not yet accepted by the far side.
    pub lag_readings: u64,
    /// How long ago the oldest of them was received, seconds.
    pub lag_seconds: f64,
    /// Readings accepted since the server started.
    pub exported: u64,
    /// The last problem, if any (kept after it cleared).
    pub last_error: Option<String>,
}

/// The exporters' status, asked at each request (the server reads its status board).
pub type ExportersFn = dyn Fn() -> Vec<ExporterView> + Send + Sync;

/// A firing alert as the page, the API and the metrics show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AlertView {
    /// `above_max`, `below_min`, `sensor_error`, `sensor_silent`, `node_offline`.
    pub kind: &'static str,
    /// The client id.
    pub cid: String,
    /// The sensor id; empty for a node's alert.
    pub sensor: String,
    /// The sensor's name, if it has one.
    pub name: Option<String>,
    /// Since when, Unix ms.
    #[serde(rename = "since")]
    pub since_ms: i64,
    /// The value that fired it.
    pub value: Option<f64>,
    /// The limit crossed.
    pub limit: Option<f64>,
    /// For people.
    pub message: String,
    /// Who acknowledged it, their note and when (Unix ms), if anyone did.
    pub ack: Option<AckView>,
    /// The id of a silence that holds its notifications now, if one does.
    pub silenced_by: Option<i64>,
}

/// An acknowledgement as the page and the API show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AckView {
    /// Who.
    pub by: String,
    /// Their note.
    pub note: String,
    /// When, Unix ms.
    #[serde(rename = "at")]
    pub at_ms: i64,
}

/// What one commit of the sink stored.
#[derive(Debug, Default)]
pub struct Stored {
    /// The readings the store took as new.
    pub readings: Vec<NewReading>,
    /// Readings dropped as already stored.
    pub duplicates: u64,
    /// Gaps in clients' seqs noticed in this group.
    pub gaps: u64,
    /// How long the commit took.
    pub commit: Duration,
    /// Committed by another server of the fleet (heard through the fleet's news): shown, not
    /// counted in this server's metrics.
    pub elsewhere: bool,
}

/// One sensor as the page shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorState {
    /// The newest reading: sampled when (Unix ms), what, and its seq.
    pub last: (i64, Value, Option<u64>),
    /// The newest temperature (the last reading may be an error): sampled when, and the value.
    pub last_temp: Option<(i64, Celsius)>,
    /// When the store first received a reading of it, Unix ms.
    pub first_seen_ms: Option<i64>,
}

/// One node as the page shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeState {
    /// Registered now.
    pub online: bool,
    /// Where it connects from (while online, and the last known address after).
    pub addr: Option<String>,
    /// When its current (or last) session registered, Unix ms.
    pub since_ms: Option<i64>,
    /// When it was last heard, Unix ms.
    pub last_seen_ms: Option<i64>,
    /// When it last answered with `more` (a backlog still being sent), Unix ms.
    pub more_ms: Option<i64>,
    /// When the store first received a reading of it, Unix ms (`None` until its first reading).
    pub first_seen_ms: Option<i64>,
    /// Its sensors by id.
    pub sensors: BTreeMap<SensorId, SensorState>,
}

/// Every node the server has heard of, by client id.
pub type Fleet = BTreeMap<ClientId, NodeState>;

/// Each sensor's latest facts from its client, by (cid, sensor).
pub(crate) type SensorFacts = BTreeMap<(String, String), cliser_protocol::SensorFactsReport>;

/// A viewer's mailbox: whole SSE messages. Bounded: a viewer that falls this far behind is dropped.
pub(crate) type Subscriber = SyncSender<Arc<str>>;
const SUBSCRIBER_QUEUE: usize = 64;

/// What the live thread and the request threads share.
pub(crate) struct Shared {
    /// Names and calibration, applied when shown.
    pub(crate) settings: SharedSettings,
    fleet: Mutex<Fleet>,
    alerts: Mutex<Vec<AlertView>>,
    subscribers: Mutex<Vec<Subscriber>>,
    /// Forgettings done by a request thread, for the live thread to tell the viewers.
    forgotten: Mutex<Vec<(ClientId, Option<SensorId>)>>,
    /// The server is stopping (`Web::stopping`): the sessions it ends are not nodes going offline.
    pub(crate) stopping: AtomicBool,
    pub(crate) metrics: Metrics,
    /// Each sensor's latest facts (power mode, resolution, clone kind), by (cid, sensor).
    facts: Mutex<SensorFacts>,
    /// Who this server is and, on PostgreSQL, the fleet's latest snapshot.
    pub(crate) source: FleetSource,
}

impl Shared {
    pub(crate) fn new(settings: SharedSettings, source: FleetSource) -> Self {
        Shared {
            settings,
            fleet: Mutex::new(Fleet::new()),
            alerts: Mutex::new(Vec::new()),
            subscribers: Mutex::new(Vec::new()),
            forgotten: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            metrics: Metrics::new(),
            facts: Mutex::new(SensorFacts::new()),
            source,
        }
    }

    /// Each sensor's latest facts, by (cid, sensor).
    pub(crate) fn facts(&self) -> MutexGuard<'_, SensorFacts> {
        self.facts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The alerts firing now.
    pub(crate) fn alerts(&self) -> Vec<AlertView> {
        self.alerts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn fleet(&self) -> MutexGuard<'_, Fleet> {
        self.fleet.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new viewer: its mailbox, and the fleet as it is now (taken under the same lock as the
    /// subscription, so no change falls between the snapshot and the stream).
    pub(crate) fn subscribe(&self) -> (Receiver<Arc<str>>, Fleet) {
        let fleet = self.fleet();
        let (tx, rx) = std::sync::mpsc::sync_channel(SUBSCRIBER_QUEUE);
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
        (rx, fleet.clone())
    }

    pub(crate) fn viewers(&self) -> usize {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    fn broadcast(&self, message: Arc<str>) {
        let mut subs = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subs.retain(|s| match s.try_send(message.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                log::info!(
                    "web: a live viewer fell {SUBSCRIBER_QUEUE} messages behind; dropping it (it reconnects)"
                );
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        });
    }

    /// Forgets node `cid` (or one of its sensors) at once, as [`LiveEvent::Forgotten`] does: the
    /// request that forgot it answers with it already gone from `/api/nodes` and `/metrics`. The
    /// live thread tells the viewers at its next tick.
    pub(crate) fn forget_now(&self, cid: ClientId, sensor: Option<SensorId>) {
        drop_forgotten(&mut self.fleet(), &self.metrics, &cid, sensor.as_ref());
        forget_facts(self, &cid, sensor.as_ref());
        self.forgotten.lock().unwrap_or_else(|e| e.into_inner()).push((cid, sensor));
    }

    /// Ends every viewer's stream.
    fn close_viewers(&self) {
        self.subscribers.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

/// Changes since the last push to the viewers.
#[derive(Default)]
struct Pending {
    /// Sent first: a node forgotten and back within one tick is dropped, then shown again.
    forgotten: Vec<(ClientId, Option<SensorId>)>,
    readings: Vec<serde_json::Value>,
    nodes: BTreeMap<ClientId, ()>,
    alerts: bool,
    /// `/api/fleet` as it is now, when it changed.
    fleet: Option<serde_json::Value>,
}

/// What the live thread last told the viewers of the fleet (PostgreSQL), to push what a new
/// snapshot changed: nodes registered elsewhere, gone offline with their server, the servers.
#[derive(Default)]
struct FleetWatch {
    snapshot: Option<Arc<FleetSnapshot>>,
    seats: BTreeMap<String, Seat>,
    fleet: Option<serde_json::Value>,
}

/// Changes are pushed to the viewers at most this often: one message per tick instead of one per
/// reading keeps 50 viewers of 500 Pis cheap.
const TICK: Duration = Duration::from_millis(250);
/// A comment line this often keeps proxies from closing an idle stream and finds dead viewers.
const HEARTBEAT: Duration = Duration::from_secs(15);

/// Fills the fleet from what the store knows (nodes and sensors seen before this start).
pub(crate) fn load(shared: &Shared, store: &mut dyn History) -> Result<(), cliser_store::StoreError> {
    let nodes = store.nodes()?;
    let sensors = store.sensors()?;
    let mut fleet = shared.fleet();
    for n in nodes {
        let node = fleet.entry(n.cid).or_default();
        node.last_seen_ms = Some(n.last_seen_ms);
        node.first_seen_ms = Some(n.first_seen_ms);
    }
    for s in sensors {
        let Some(last) = s.last else { continue };
        let last_temp = match &last.1 {
            Value::Celsius(c) => Some((last.0, *c)),
            Value::Error(_) => None,
        };
        let state = SensorState { last, last_temp, first_seen_ms: Some(s.first_seen_ms) };
        fleet.entry(s.cid).or_default().sensors.insert(s.sensor, state);
    }
    Ok(())
}

/// The live thread's body: applies events until every sender is gone or `closed` is set, then
/// ends the viewers' streams.
pub(crate) fn run(shared: Arc<Shared>, mailbox: Receiver<LiveEvent>, closed: Arc<AtomicBool>) {
    let mut pending = Pending::default();
    let mut next_push = Instant::now() + TICK;
    let mut next_beat = Instant::now() + HEARTBEAT;
    let mut told_stopping = false;
    let mut watch = FleetWatch::default();
    while !closed.load(Ordering::SeqCst) {
        let wait = next_push.min(next_beat).saturating_duration_since(Instant::now());
        match mailbox.recv_timeout(wait) {
            Ok(event) => apply(&shared, event, &mut pending),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        forgotten_by_requests(&shared, &mut pending);
        if !told_stopping && shared.stopping.load(Ordering::SeqCst) {
            // What was stored before goes first; the page then says the server stopped, at once.
            push(&shared, &mut pending);
            shared.broadcast(sse("stopping", &serde_json::json!({ "at": unix_ms(SystemTime::now()) })));
            told_stopping = true;
        }
        let now = Instant::now();
        if now >= next_push {
            watch_fleet(&shared, &mut watch, &mut pending);
            push(&shared, &mut pending);
            next_push = now + TICK;
        }
        if now >= next_beat {
            shared.broadcast(Arc::from(": heartbeat\n\n"));
            next_beat = now + HEARTBEAT;
        }
    }
    push(&shared, &mut pending);
    shared.close_viewers();
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn apply(shared: &Shared, event: LiveEvent, pending: &mut Pending) {
    let m = &shared.metrics;
    match event {
        LiveEvent::NodeUp { cid, addr, at } => {
            let mut fleet = shared.fleet();
            let node = fleet.entry(cid.clone()).or_default();
            node.online = true;
            node.addr = Some(addr.to_string());
            node.since_ms = Some(unix_ms(at));
            node.last_seen_ms = Some(unix_ms(at));
            pending.nodes.insert(cid, ());
        }
        // Sessions the stopping server ends: the nodes are fine, the server is going.
        LiveEvent::NodeDown { .. } if shared.stopping.load(Ordering::SeqCst) => {}
        LiveEvent::NodeDown { cid, at } => {
            let mut fleet = shared.fleet();
            // A node forgotten while connected stays forgotten when its session ends.
            let Some(node) = fleet.get_mut(&cid) else { return };
            node.online = false;
            // "Last seen" stays when it was last heard: the session's end is not a sign of life.
            let _ = at;
            pending.nodes.insert(cid, ());
        }
        LiveEvent::Seen { cid, at, more } => {
            let mut fleet = shared.fleet();
            // An answer alone does not bring a forgotten node back; a reading or a registration does.
            let Some(node) = fleet.get_mut(&cid) else { return };
            node.last_seen_ms = Some(unix_ms(at));
            // Only a backlog is news to the viewers: "last seen" alone moves with every answer,
            // and the page moves it with the readings it gets anyway.
            if more {
                node.more_ms = Some(unix_ms(at));
                pending.nodes.insert(cid, ());
            }
        }
        LiveEvent::Stored(stored) => {
            if !stored.elsewhere {
                m.observe_commit(&stored);
            }
            let settings = shared.settings.get();
            let mut fleet = shared.fleet();
            for r in &stored.readings {
                if !fleet.contains_key(&r.cid) {
                    // New, or back after it was forgotten: the viewers learn of it as a node.
                    pending.nodes.insert(r.cid.clone(), ());
                }
                let node = fleet.entry(r.cid.clone()).or_default();
                node.last_seen_ms = Some(node.last_seen_ms.unwrap_or(0).max(r.received_ms));
                node.first_seen_ms.get_or_insert(r.received_ms);
                let newer = |s: &SensorState| r.sampled_ms >= s.last.0;
                match node.sensors.get_mut(&r.sensor) {
                    Some(s) if !newer(s) => {
                        // A backlog's older reading: stored, but not the newest.
                        continue;
                    }
                    Some(s) => {
                        s.last = (r.sampled_ms, r.value.clone(), r.seq);
                        if let Value::Celsius(c) = &r.value {
                            s.last_temp = Some((r.sampled_ms, *c));
                        }
                    }
                    None => {
                        let last_temp = match &r.value {
                            Value::Celsius(c) => Some((r.sampled_ms, *c)),
                            Value::Error(_) => None,
                        };
                        node.sensors.insert(
                            r.sensor.clone(),
                            SensorState {
                                last: (r.sampled_ms, r.value.clone(), r.seq),
                                last_temp,
                                first_seen_ms: Some(r.received_ms),
                            },
                        );
                    }
                }
                pending.readings.push(reading_json(
                    &r.cid,
                    &r.sensor,
                    r.sampled_ms,
                    &r.value,
                    r.seq,
                    &settings,
                ));
            }
        }
        LiveEvent::CommitFailed => {
            m.commit_failures.inc();
        }
        LiveEvent::Sessions(n) => {
            m.sessions.set(n as i64);
        }
        LiveEvent::AuthFailed => {
            m.auth_failures.inc();
        }
        LiveEvent::Forgotten { cid, sensor } => forget(shared, cid, sensor, pending),
        LiveEvent::Health(rows) => m.observe_health(&rows),
        LiveEvent::Facts { cid, facts } => {
            let mut known = shared.facts();
            for f in facts {
                known.insert((cid.to_string(), f.sensor.to_string()), f);
            }
        }
        LiveEvent::Alerts(firing) => {
            let changed = {
                let mut alerts = shared.alerts.lock().unwrap_or_else(|e| e.into_inner());
                let changed = *alerts != firing;
                *alerts = firing;
                changed
            };
            pending.alerts |= changed;
        }
    }
}

/// With a fleet board (PostgreSQL): the nodes whose seat a new snapshot changed, and `/api/fleet`
/// when it changed (a server came or went, a new leader, the snapshot went stale), for the viewers.
fn watch_fleet(shared: &Shared, watch: &mut FleetWatch, pending: &mut Pending) {
    let Some(board) = &shared.source.board else { return };
    let snapshot = board.latest();
    let same = match (&snapshot, &watch.snapshot) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    };
    if !same {
        let mut fleet = shared.fleet();
        let seats = fleet_view::seats(&fleet, &shared.source.name, snapshot.as_deref());
        for (cid, seat) in &seats {
            if watch.seats.get(cid) == Some(seat) {
                continue;
            }
            let Ok(cid) = ClientId::new(cid) else { continue };
            // A node another server holds that this one never heard of joins the view, so that
            // it stays listed (offline) once its lease ends; its readings come from the store.
            fleet
                .entry(cid.clone())
                .or_insert_with(|| NodeState { since_ms: seat.since_ms, ..NodeState::default() });
            pending.nodes.insert(cid, ());
        }
        drop(fleet);
        watch.seats = seats;
        watch.snapshot = snapshot;
    }
    let fleet = fleet_view::fleet_json(&shared.source, 0);
    if watch.fleet.as_ref() != Some(&fleet) {
        watch.fleet = Some(fleet.clone());
        pending.fleet = Some(fleet);
    }
}

/// Takes in what request threads forgot ([`Shared::forget_now`]) since the last look.
fn forgotten_by_requests(shared: &Shared, pending: &mut Pending) {
    let forgotten = std::mem::take(&mut *shared.forgotten.lock().unwrap_or_else(|e| e.into_inner()));
    for (cid, sensor) in forgotten {
        forget(shared, cid, sensor, pending);
    }
}

/// Drops the facts of node `cid` (`sensor` None) or of one of its sensors.
fn forget_facts(shared: &Shared, cid: &ClientId, sensor: Option<&SensorId>) {
    shared.facts().retain(|(c, s), _| c != cid.as_str() || sensor.is_some_and(|x| x.as_str() != s));
}

/// Removes node `cid` (`sensor` None) or one of its sensors from the fleet and the metrics' own
/// state. A node left without sensors by forgetting its last one stays: it is still a node.
fn drop_forgotten(fleet: &mut Fleet, metrics: &Metrics, cid: &ClientId, sensor: Option<&SensorId>) {
    match sensor {
        None => {
            fleet.remove(cid);
        }
        Some(s) => {
            if let Some(node) = fleet.get_mut(cid) {
                node.sensors.remove(s);
            }
        }
    }
    metrics.forget(cid, sensor);
}

/// Forgets a node or sensor and tells the viewers at the next tick; readings of it still pending
/// are not sent (they would bring it back on the page).
fn forget(shared: &Shared, cid: ClientId, sensor: Option<SensorId>, pending: &mut Pending) {
    drop_forgotten(&mut shared.fleet(), &shared.metrics, &cid, sensor.as_ref());
    forget_facts(shared, &cid, sensor.as_ref());
    pending.readings.retain(|r| {
        let of_cid = r["cid"].as_str() == Some(cid.as_str());
        !(of_cid && sensor.as_ref().is_none_or(|s| r["sensor"].as_str() == Some(s.as_str())))
    });
    if sensor.is_none() {
        pending.nodes.remove(&cid);
    }
    pending.forgotten.push((cid, sensor));
}

/// Sends what changed since the last tick as at most four SSE messages (`forget` as one per node
/// or sensor forgotten, rare).
fn push(shared: &Shared, pending: &mut Pending) {
    let Pending { forgotten, readings, nodes, alerts, fleet: fleet_now } = std::mem::take(pending);
    for (cid, sensor) in forgotten {
        let data = serde_json::json!({ "cid": cid.as_str(), "sensor": sensor.as_ref().map(|s| s.as_str()) });
        shared.broadcast(sse("forget", &data));
    }
    if alerts {
        shared.broadcast(sse("alerts", &serde_json::json!(shared.alerts())));
    }
    if !nodes.is_empty() {
        let settings = shared.settings.get();
        let source = &shared.source;
        let snapshot = source.board.as_ref().and_then(|b| b.latest());
        let fleet = shared.fleet();
        let unknown = NodeState::default();
        let changed: Vec<_> = nodes
            .keys()
            .filter_map(|cid| {
                let node = fleet.get(cid);
                if source.board.is_none() {
                    return node.map(|n| node_json(cid, n, None, false, &settings));
                }
                let seat = fleet_view::seat(cid.as_str(), node, &source.name, snapshot.as_deref())?;
                Some(node_json(cid, node.unwrap_or(&unknown), Some(&seat), false, &settings))
            })
            .collect();
        drop(fleet);
        shared.broadcast(sse("nodes", &serde_json::Value::Array(changed)));
    }
    if let Some(fleet) = fleet_now {
        shared.broadcast(sse("fleet", &fleet));
    }
    if !readings.is_empty() {
        shared.broadcast(sse("readings", &serde_json::Value::Array(readings)));
    }
}

/// One SSE message: `event:` and a one-line JSON `data:`.
pub(crate) fn sse(event: &str, data: &serde_json::Value) -> Arc<str> {
    Arc::from(format!("event: {event}\ndata: {data}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliser_store::TsQuality;

    fn cid(s: &str) -> ClientId {
        ClientId::new(s).unwrap()
    }

    fn sensor(s: &str) -> SensorId {
        SensorId::new(s).unwrap()
    }

    fn stored(readings: &[(&str, &str, &str, i64)]) -> LiveEvent {
        let readings = readings
            .iter()
            .map(|&(c, s, v, ms)| NewReading {
                cid: cid(c),
                sensor: sensor(s),
                value: cliser_protocol::Reading::parse(&format!("{s}={v}")).unwrap().value,
                sampled_ms: ms,
                received_ms: ms + 1,
                seq: None,
                ts_quality: TsQuality::Synced,
            })
            .collect();
        LiveEvent::Stored(Stored { readings, ..Stored::default() })
    }

    fn up(c: &str) -> LiveEvent {
        LiveEvent::NodeUp { cid: cid(c), addr: "127.0.0.1:9".parse().unwrap(), at: SystemTime::now() }
    }

    /// A fleet of pi-a (t1, t2 with an error) and pi-b (t3), both registered, and a viewer.
    fn fleet_of_two() -> (Shared, Pending, Receiver<Arc<str>>) {
        let shared = Shared::new(SharedSettings::new(Default::default()), FleetSource::single("test"));
        let mut pending = Pending::default();
        for e in [
            up("pi-a"),
            up("pi-b"),
            stored(&[
                ("pi-a", "t1", "20.5", 1000),
                ("pi-a", "t2", "err:crc", 1000),
                ("pi-b", "t3", "7", 1000),
            ]),
        ] {
            apply(&shared, e, &mut pending);
        }
        let (viewer, _) = shared.subscribe();
        (shared, pending, viewer)
    }

    fn metrics_of(shared: &Shared) -> String {
        shared.metrics.encode(&shared.fleet(), &[], &[], 0, &Default::default(), None)
    }

    /// The SSE messages pushed now, as (event, data).
    fn pushed(shared: &Shared, pending: &mut Pending, viewer: &Receiver<Arc<str>>) -> Vec<(String, String)> {
        push(shared, pending);
        viewer
            .try_iter()
            .map(|m| {
                let (event, data) = m.trim_end().split_once('\n').unwrap();
                (
                    event.strip_prefix("event: ").unwrap().to_owned(),
                    data.strip_prefix("data: ").unwrap().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn a_forgotten_node_leaves_the_fleet_the_metrics_and_the_page() {
        let (shared, mut pending, viewer) = fleet_of_two();
        assert!(metrics_of(&shared).contains("cid=\"pi-a\""));
        apply(&shared, LiveEvent::Forgotten { cid: cid("pi-a"), sensor: None }, &mut pending);
        assert!(!shared.fleet().contains_key(&cid("pi-a")));
        assert!(shared.fleet().contains_key(&cid("pi-b")));
        let text = metrics_of(&shared);
        assert!(!text.contains("pi-a"), "{text}");
        assert!(text.contains("cid=\"pi-b\""), "{text}");
        let events = pushed(&shared, &mut pending, &viewer);
        assert_eq!(events[0], ("forget".to_owned(), r#"{"cid":"pi-a","sensor":null}"#.to_owned()));
        // Its readings of this tick were not sent after it (they would bring it back on the page).
        let readings = events.iter().find(|(e, _)| e == "readings").unwrap();
        assert!(!readings.1.contains("pi-a") && readings.1.contains("pi-b"), "{readings:?}");
        assert!(!events.iter().any(|(e, d)| e == "nodes" && d.contains("pi-a")), "{events:?}");
        let (_, snapshot) = shared.subscribe();
        assert!(!snapshot.contains_key(&cid("pi-a")));
    }

    #[test]
    fn the_sessions_a_stopping_server_ends_are_not_nodes_going_offline() {
        let (shared, mut pending, viewer) = fleet_of_two();
        pushed(&shared, &mut pending, &viewer);
        shared.stopping.store(true, Ordering::SeqCst);
        apply(&shared, LiveEvent::NodeDown { cid: cid("pi-a"), at: SystemTime::now() }, &mut pending);
        assert!(shared.fleet()[&cid("pi-a")].online, "still online as far as anyone knows");
        assert_eq!(pushed(&shared, &mut pending, &viewer), [], "no `nodes` message");
    }

    #[test]
    fn a_forgotten_sensor_leaves_its_node_in_place() {
        let (shared, mut pending, viewer) = fleet_of_two();
        pushed(&shared, &mut pending, &viewer);
        apply(&shared, LiveEvent::Forgotten { cid: cid("pi-a"), sensor: Some(sensor("t2")) }, &mut pending);
        let fleet = shared.fleet().clone();
        let sensors: Vec<_> = fleet[&cid("pi-a")].sensors.keys().map(|s| s.to_string()).collect();
        assert_eq!(sensors, ["t1"]);
        let text = metrics_of(&shared);
        assert!(!text.contains("sensor=\"t2\""), "the error counter of t2 is gone: {text}");
        assert!(text.contains("sensor=\"t1\""), "{text}");
        let events = pushed(&shared, &mut pending, &viewer);
        assert_eq!(events, [("forget".to_owned(), r#"{"cid":"pi-a","sensor":"t2"}"#.to_owned())]);
    }

    #[test]
    fn a_forgotten_node_comes_back_when_it_reports_or_registers_and_not_before() {
        let (shared, mut pending, viewer) = fleet_of_two();
        pushed(&shared, &mut pending, &viewer);
        apply(&shared, LiveEvent::Forgotten { cid: cid("pi-a"), sensor: None }, &mut pending);
        apply(&shared, LiveEvent::Seen { cid: cid("pi-a"), at: SystemTime::now(), more: true }, &mut pending);
        apply(&shared, LiveEvent::NodeDown { cid: cid("pi-a"), at: SystemTime::now() }, &mut pending);
        assert!(!shared.fleet().contains_key(&cid("pi-a")), "an answer or a session's end is no return");
        apply(&shared, stored(&[("pi-a", "t1", "21", 5000)]), &mut pending);
        let node = shared.fleet()[&cid("pi-a")].clone();
        assert_eq!(node.first_seen_ms, Some(5001), "first seen anew");
        assert_eq!(node.sensors[&sensor("t1")].first_seen_ms, Some(5001));
        assert!(!node.sensors.contains_key(&sensor("t2")));
        let events: Vec<_> = pushed(&shared, &mut pending, &viewer).into_iter().map(|(e, _)| e).collect();
        assert_eq!(events, ["forget", "nodes", "readings"], "dropped, then shown again");

        apply(&shared, LiveEvent::Forgotten { cid: cid("pi-b"), sensor: None }, &mut pending);
        apply(&shared, up("pi-b"), &mut pending);
        assert!(shared.fleet()[&cid("pi-b")].online);
    }

    #[test]
    fn a_request_forgets_at_once_and_the_viewers_learn_at_the_next_tick() {
        let (shared, mut pending, viewer) = fleet_of_two();
        pushed(&shared, &mut pending, &viewer);
        shared.forget_now(cid("pi-b"), None);
        assert!(!shared.fleet().contains_key(&cid("pi-b")));
        assert!(!metrics_of(&shared).contains("pi-b"));
        forgotten_by_requests(&shared, &mut pending);
        let events = pushed(&shared, &mut pending, &viewer);
        assert_eq!(events, [("forget".to_owned(), r#"{"cid":"pi-b","sensor":null}"#.to_owned())]);
    }

    #[test]
    fn first_seen_comes_from_the_store_and_stays() {
        let shared = Shared::new(SharedSettings::new(Default::default()), FleetSource::single("test"));
        let dir = tempfile::tempdir().unwrap();
        let mut store = cliser_store::open(&format!("sqlite:{}", dir.path().join("s.db").display())).unwrap();
        if let LiveEvent::Stored(s) = stored(&[("pi-a", "t1", "20", 1000)]) {
            store.commit(&s.readings).unwrap();
        }
        load(&shared, &mut *store).unwrap();
        let mut pending = Pending::default();
        apply(&shared, stored(&[("pi-a", "t1", "21", 9000), ("pi-a", "t9", "21", 9000)]), &mut pending);
        let node = shared.fleet()[&cid("pi-a")].clone();
        assert_eq!(node.first_seen_ms, Some(1001));
        assert_eq!(node.sensors[&sensor("t1")].first_seen_ms, Some(1001));
        assert_eq!(node.sensors[&sensor("t9")].first_seen_ms, Some(9001));
    }
}
