//! The exporter thread: reads the feed in batches, hands each to the far side, saves the cursor once
//! it was accepted, retries with backoff when it was not, and keeps its status. Problems are logged
//! once when they start and once when they end, never per reading.

use crate::cursor::Feed;
use crate::error::{LinkDown, SendError};
use crate::status::{StatusBoard, StatusCell};
use cliser_common::sensors::{Settings, SharedSettings};
use cliser_store::fleet::Fence;
use cliser_store::FeedRow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What an exporter's mailbox takes.
#[derive(Debug)]
pub enum Input {
    /// The store committed readings (coalesced: at most one waits in the mailbox).
    Stored,
    /// A node's session began (`<prefix>/<cid>/availability` goes `online`).
    NodeUp(String),
    /// A node's session ended.
    NodeDown(String),
    /// The far side's own network thread has news (MQTT): look at it.
    Net,
    /// End the thread.
    Stop,
}

/// Why a far side cannot take a batch now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// A first connection is being made: no problem yet.
    Connecting,
    /// It failed; the reason.
    Down(String),
}

impl From<String> for NotReady {
    fn from(why: String) -> Self {
        NotReady::Down(why)
    }
}

impl From<LinkDown> for NotReady {
    fn from(down: LinkDown) -> Self {
        NotReady::Down(down.0)
    }
}

/// What the runner needs of a far side (InfluxDB, an MQTT broker).
pub trait Far: Send {
    /// Most readings per batch.
    fn batch(&self) -> usize;
    /// How long a batch smaller than [`batch`](Self::batch) may wait to fill.
    fn linger(&self) -> Duration;
    /// Whether the far side can take a batch now; `Err` says why not (the runner then waits for
    /// [`Input::Net`] or its backoff). Also where the far side does its other work (MQTT:
    /// availability, discovery).
    fn ready(&mut self, feed: &mut Feed, settings: &Arc<Settings>) -> Result<(), NotReady>;
    /// Sends `rows`; `Ok` once the far side accepted every one. Bounded by the far side's timeouts.
    /// On an error the runner sends them again, soon or (not [`SendError::is_transient`]) at its
    /// slowest pace.
    fn send(&mut self, rows: &[FeedRow], feed: &mut Feed, settings: &Arc<Settings>) -> Result<(), SendError>;
    /// A node's session began or ended.
    fn node(&mut self, _cid: &str, _online: bool) {}
    /// Whether [`ready`](Self::ready) answered from a live connection (MQTT: the broker acknowledged
    /// it and what was published on it), so the exporter is connected before any batch; `false`
    /// where only a batch tells (HTTP).
    fn connected(&self) -> bool {
        false
    }
}

/// The exporters' watcher, one of the server's watchers: tells them what the server sees, commits
/// (the sink) and node sessions (the Manager).
/// Never waits: the mailboxes are unbounded and a commit's nudge is sent only when none is pending.
#[derive(Debug, Clone, Default)]
pub struct Watcher {
    to: Vec<(Sender<Input>, Arc<AtomicBool>)>,
}

impl Watcher {
    /// New readings are in the store.
    pub fn stored(&self) {
        for (tx, nudged) in &self.to {
            if !nudged.swap(true, Ordering::AcqRel) {
                let _ = tx.send(Input::Stored);
            }
        }
    }

    /// A node's session began.
    pub fn node_up(&self, cid: &str) {
        for (tx, _) in &self.to {
            let _ = tx.send(Input::NodeUp(cid.to_owned()));
        }
    }

    /// A node's session ended.
    pub fn node_down(&self, cid: &str) {
        for (tx, _) in &self.to {
            let _ = tx.send(Input::NodeDown(cid.to_owned()));
        }
    }

    /// Whether any exporter listens.
    pub fn is_empty(&self) -> bool {
        self.to.is_empty()
    }
}

/// In a fleet of servers on one PostgreSQL store, whether this server exports now: the fence its
/// cursor writes go under while it leads, `None` while another server does. The server gives it;
/// without one (SQLite: one server) the exporter always runs, unfenced.
pub type Gate = Box<dyn Fn() -> Option<Fence> + Send>;

/// A running exporter thread.
pub struct Exporter {
    tx: Sender<Input>,
    nudged: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// The wait when caught up with no nudge: another server writing the same PostgreSQL database
/// sends none.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// How often an exporter whose server does not lead looks whether it does now.
const FOLLOW_POLL: Duration = Duration::from_millis(500);
/// Retries start this soon after a failure and back off to the maximum.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// The lag (a count in the store) is read at most this often.
const LAG_EVERY: Duration = Duration::from_secs(1);

impl Exporter {
    /// Starts exporter `name` (sending to `target`, for the status) on its own thread; `far` makes
    /// the far side, given a sender that wakes the exporter (MQTT's network thread uses it).
    /// Its thread is `export-{name}` (`name` is `influx` or `mqtt`); `on_panic` is told if it panics.
    /// With a `gate` it follows the feed only while the gate gives a fence ([`Gate`]).
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        name: &str,
        target: &str,
        feed: Feed,
        far: impl FnOnce(Sender<Input>) -> Box<dyn Far>,
        settings: SharedSettings,
        board: &StatusBoard,
        on_panic: Option<cliser_common::core_thread::OnPanic>,
        gate: Option<Gate>,
    ) -> std::io::Result<Exporter> {
        let (tx, rx) = channel();
        let far = far(tx.clone());
        let cell = board.add(name, target);
        let nudged = Arc::new(AtomicBool::new(false));
        let runner = Runner {
            name: name.to_owned(),
            target: target.to_owned(),
            feed,
            far,
            settings,
            cell,
            nudged: nudged.clone(),
            down: None,
            ever_up: false,
            gate,
            leading: None,
        };
        let thread_name = match name {
            "influx" => "export-influx",
            "mqtt" => "export-mqtt",
            _ => "export",
        };
        let thread = cliser_common::core_thread::spawn(thread_name, on_panic, move || runner.run(rx))?;
        Ok(Exporter { tx, nudged, thread })
    }

    /// Asks the thread to end and waits for it (at most the far side's timeout).
    pub fn stop(self) -> std::thread::Result<()> {
        let _ = self.tx.send(Input::Stop);
        self.thread.join()
    }
}

/// A [`Watcher`] for `exporters`.
pub fn watcher<'a>(exporters: impl IntoIterator<Item = &'a Exporter>) -> Watcher {
    Watcher { to: exporters.into_iter().map(|e| (e.tx.clone(), e.nudged.clone())).collect() }
}

/// What [`Runner::lead`] found.
enum Lead {
    /// Another server exports: wait.
    Follows,
    /// This server leads since now: the cursor was read again.
    Took,
    /// This server leads, as before (or always: no fleet).
    Leads,
}

struct Runner {
    name: String,
    target: String,
    feed: Feed,
    far: Box<dyn Far>,
    settings: SharedSettings,
    cell: StatusCell,
    nudged: Arc<AtomicBool>,
    /// The problem in force, if any: logged when it starts and when it ends.
    down: Option<String>,
    ever_up: bool,
    /// In a fleet: whether this server exports now.
    gate: Option<Gate>,
    /// In a fleet: the fence of the lead this exporter follows the feed under, if it leads.
    leading: Option<Fence>,
}

impl Runner {
    fn run(mut self, inbox: Receiver<Input>) {
        let mut pending: Vec<FeedRow> = Vec::new();
        let mut pending_since = Instant::now();
        let mut retry_at: Option<Instant> = None;
        let mut backoff = BACKOFF_MIN;
        let mut caught_up = false;
        let mut lag_at: Option<Instant> = None;
        let mut not_ready = false;
        let mut following = false;
        loop {
            let now = Instant::now();
            let wait = if following {
                FOLLOW_POLL
            } else if not_ready {
                // Until the far side's network thread says more (Input::Net), or a look anyway.
                BACKOFF_MIN
            } else if let Some(t) = retry_at {
                t.saturating_duration_since(now)
            } else if !pending.is_empty() && pending.len() < self.far.batch() {
                (pending_since + self.far.linger()).saturating_duration_since(now)
            } else if caught_up {
                IDLE_POLL
            } else {
                Duration::ZERO
            };
            let mut input = match inbox.recv_timeout(wait) {
                Ok(i) => Some(i),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut stop = false;
            while let Some(i) = input.take() {
                match i {
                    Input::Stop => stop = true,
                    Input::Stored => {
                        self.nudged.store(false, Ordering::Release);
                        caught_up = false;
                    }
                    Input::NodeUp(cid) => self.far.node(&cid, true),
                    Input::NodeDown(cid) => self.far.node(&cid, false),
                    Input::Net => {}
                }
                input = inbox.try_recv().ok();
            }
            if stop {
                break;
            }
            match self.lead() {
                Lead::Follows => {
                    following = true;
                    continue;
                }
                Lead::Took => {
                    // Another server moved the cursor: what was read here is read again from it.
                    pending.clear();
                    (retry_at, backoff, caught_up, lag_at) = (None, BACKOFF_MIN, false, None);
                }
                Lead::Leads => {}
            }
            following = false;
            if lag_at.is_none_or(|t| t.elapsed() >= LAG_EVERY) {
                self.refresh_lag();
                lag_at = Some(Instant::now());
            }
            let settings = self.settings.get();
            match self.far.ready(&mut self.feed, &settings) {
                Ok(()) => {}
                Err(NotReady::Connecting) => {
                    not_ready = true;
                    continue;
                }
                Err(NotReady::Down(why)) => {
                    self.problem(why);
                    not_ready = true;
                    continue;
                }
            }
            not_ready = false;
            if !self.ever_up && self.far.connected() {
                // Said at once, not with the first batch: after a restart that waits for a Pi's
                // reading (one keep-alive), and nothing says the exporter is fine meanwhile.
                self.recovered();
            }
            if retry_at.is_some_and(|t| Instant::now() < t) {
                continue;
            }
            retry_at = None;
            let room = self.far.batch().saturating_sub(pending.len());
            if room > 0 {
                match self.feed.next(room) {
                    Ok(rows) => {
                        caught_up = rows.len() < room;
                        if pending.is_empty() {
                            pending_since = Instant::now();
                        }
                        pending.extend(rows);
                    }
                    Err(e) => {
                        self.problem(format!("reading the store: {e}"));
                        retry_at = Some(Instant::now() + backoff);
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        continue;
                    }
                }
            }
            if pending.is_empty()
                || (pending.len() < self.far.batch() && pending_since.elapsed() < self.far.linger())
            {
                continue;
            }
            match self.far.send(&pending, &mut self.feed, &settings) {
                Ok(()) => {
                    let last = pending.last().map_or(0, |r| r.id);
                    if let Err(e) = self.feed.save(last) {
                        // Sent but not recorded: sent again later (at-least-once).
                        self.problem(format!("saving the cursor: {e}"));
                        self.feed.rewind();
                        pending.clear();
                        retry_at = Some(Instant::now() + backoff);
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        continue;
                    }
                    let n = pending.len() as u64;
                    // For bench/export.sh: the accept time of each row (joined with the store's
                    // receive times by id gives each reading's export delay).
                    log::debug!(
                        "export {}: accepted ids {}..={} ({n} readings)",
                        self.name,
                        pending.first().map_or(0, |r| r.id),
                        last
                    );
                    pending.clear();
                    backoff = BACKOFF_MIN;
                    self.cell.update(|s| s.exported += n);
                    self.recovered();
                    if caught_up {
                        self.refresh_lag();
                        lag_at = Some(Instant::now());
                    }
                }
                Err(why) => {
                    // Refused for a reason only the far side's owner mends: still sent again (the
                    // readings wait in the store), but without hammering it meanwhile.
                    if !why.is_transient() {
                        backoff = BACKOFF_MAX;
                    }
                    self.problem(why.to_string());
                    retry_at = Some(Instant::now() + backoff);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
        log::debug!("export {}: stopped", self.name);
    }

    /// Whether this server exports now (always, without a gate); on becoming the leader it takes
    /// the cursor from the store under the new fence.
    fn lead(&mut self) -> Lead {
        let Some(gate) = &self.gate else { return Lead::Leads };
        match gate() {
            None => {
                self.cell.update(|s| {
                    s.standby = true;
                    s.connected = false;
                });
                if let Some(lost) = self.leading.take() {
                    log::info!(
                        "export {}: this server no longer leads (epoch {}): another server exports",
                        self.name,
                        lost.epoch()
                    );
                    self.feed.rewind();
                }
                Lead::Follows
            }
            Some(fence) if self.leading.as_ref() == Some(&fence) => Lead::Leads,
            Some(fence) => match self.feed.lead(fence.clone()) {
                Ok(()) => {
                    log::info!(
                        "export {} -> {}: this server leads (epoch {}): following the feed from reading {}",
                        self.name,
                        self.target,
                        fence.epoch(),
                        self.feed.saved()
                    );
                    self.leading = Some(fence);
                    self.cell.update(|s| s.standby = false);
                    Lead::Took
                }
                Err(e) => {
                    self.problem(format!("reading the cursor: {e}"));
                    Lead::Follows
                }
            },
        }
    }

    fn refresh_lag(&mut self) {
        match self.feed.lag() {
            Ok(lag) => {
                let secs =
                    lag.oldest_received_ms.map_or(0.0, |t| ((crate::now_ms() - t).max(0)) as f64 / 1000.0);
                self.cell.update(|s| {
                    s.lag_readings = lag.readings;
                    s.lag_seconds = secs;
                });
            }
            Err(e) => self.problem(format!("reading the store: {e}")),
        }
    }

    fn problem(&mut self, why: String) {
        if self.down.is_none() {
            log::warn!(
                "export {} -> {}: {why}; readings stay in the store and are sent once it is back",
                self.name,
                self.target
            );
        }
        self.cell.update(|s| {
            s.connected = false;
            s.last_error = Some(why.clone());
        });
        self.down = Some(why);
    }

    fn recovered(&mut self) {
        if self.down.take().is_some() {
            log::info!("export {} -> {}: back, sending what was stored meanwhile", self.name, self.target);
        } else if !self.ever_up {
            log::info!("export {} -> {}: connected", self.name, self.target);
        }
        self.ever_up = true;
        self.cell.update(|s| s.connected = true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cursor::Start;
    use cliser_protocol::{Celsius, ClientId, SensorId, Value};
    use cliser_store::NewReading;
    use std::sync::Mutex;

    /// A far side that refuses while `down` is set and records what it took.
    struct Fake {
        down: Arc<AtomicBool>,
        took: Arc<Mutex<Vec<u64>>>,
    }

    impl Far for Fake {
        fn batch(&self) -> usize {
            3
        }
        fn linger(&self) -> Duration {
            Duration::ZERO
        }
        fn ready(&mut self, _: &mut Feed, _: &Arc<Settings>) -> Result<(), NotReady> {
            Ok(())
        }
        fn send(&mut self, rows: &[FeedRow], _: &mut Feed, _: &Arc<Settings>) -> Result<(), SendError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(SendError::Status { status: 503, text: "refused".into() });
            }
            self.took.lock().unwrap().extend(rows.iter().map(|r| r.reading.seq.unwrap()));
            Ok(())
        }
    }

    fn reading(seq: u64) -> NewReading {
        NewReading {
            cid: ClientId::new("pi").unwrap(),
            sensor: SensorId::new("t").unwrap(),
            value: Value::Celsius(Celsius::new(20.0).unwrap()),
            sampled_ms: seq as i64,
            received_ms: seq as i64,
            seq: Some(seq),
            ts_quality: cliser_store::TsQuality::default(),
        }
    }

    #[test]
    fn what_the_far_side_refused_is_sent_again_in_order_and_the_status_follows() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("c.db").display());
        let mut writer = cliser_store::open(&url).unwrap();
        writer.commit(&[reading(1), reading(2), reading(3), reading(4)]).unwrap();
        let (down, took) = (Arc::new(AtomicBool::new(true)), Arc::new(Mutex::new(Vec::new())));
        let feed = Feed::open(cliser_store::open_as(&url).unwrap(), "fake", Start::Beginning).unwrap();
        let board = StatusBoard::default();
        let far = Fake { down: down.clone(), took: took.clone() };
        let e = Exporter::start(
            "fake",
            "nowhere",
            feed,
            |_| Box::new(far),
            SharedSettings::default(),
            &board,
            None,
            None,
        )
        .unwrap();
        let wait = |what: &str, f: &dyn Fn() -> bool| {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while !f() {
                assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        wait("the failure in the status", &|| board.snapshot()[0].last_error.is_some());
        assert!(!board.snapshot()[0].connected);
        down.store(false, Ordering::SeqCst);
        wait("every reading taken", &|| took.lock().unwrap().len() == 4);
        writer.commit(&[reading(5)]).unwrap();
        watcher([&e]).stored();
        wait("the nudged reading", &|| took.lock().unwrap().len() == 5);
        assert_eq!(*took.lock().unwrap(), [1, 2, 3, 4, 5]);
        // The far side took the fifth before the runner counts it: wait for the count, not the take.
        wait("5 exported, lag 0", &|| {
            let s = &board.snapshot()[0];
            s.exported == 5 && s.lag_readings == 0 && s.connected
        });
        e.stop().unwrap();
        let mut again = cliser_store::open(&url).unwrap();
        assert_eq!(again.cursor("fake").unwrap(), Some(5), "the cursor was saved after each batch");
    }
}
