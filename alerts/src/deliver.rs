//! Telling people: a log line for every transition, and, when configured, a command run with the
//! alert in its environment and a webhook POSTed the same fields as JSON. Commands and webhooks run
//! on threads of their own, so a command that hangs or a webhook that never answers delays no
//! reading, no ack, no poll, and no other alert's log line.

use crate::alert::{State, Transition};
use cliser_common::sensors::AlertTargets;
use cliser_store::Ack;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, UNIX_EPOCH};

/// At most this many alert commands run at once; more wait their turn.
pub const MAX_COMMANDS: usize = 4;
/// An alert command still running after this is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// One webhook attempt waits at most this long for an answer.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// A webhook is retried, with backoff, for this long before it is dropped.
pub const WEBHOOK_GIVE_UP: Duration = Duration::from_secs(3600);
/// The longest wait between two tries.
const WEBHOOK_BACKOFF_MAX: Duration = Duration::from_secs(300);
/// Deliveries waiting beyond this are dropped, oldest first, with an ERROR.
const QUEUE_MAX: usize = 10_000;

/// The fields of a transition, as environment variables and as JSON, and its transition id.
#[derive(Debug, Clone)]
pub struct Fields(Vec<(&'static str, String)>, Option<i64>);

impl Fields {
    /// The fields of `t`; `by` and `note` say who acknowledged it and why (empty otherwise); `id`
    /// is its transition id (the alert history event's id), the same in every delivery of it.
    pub fn of(t: &Transition, by: &str, note: &str, id: Option<i64>) -> Fields {
        let a = &t.alert;
        let num = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_default();
        let since = UNIX_EPOCH + Duration::from_millis(a.since_ms.max(0) as u64);
        let fields = vec![
            ("TRANSITION_ID", id.map(|id| id.to_string()).unwrap_or_default()),
            ("STATE", t.state.as_str().to_owned()),
            ("KIND", a.key.kind.as_str().to_owned()),
            ("CID", a.key.cid.clone()),
            ("SENSOR", a.key.sensor.clone()),
            ("NAME", a.name.clone().unwrap_or_default()),
            ("VALUE", num(a.value)),
            ("LIMIT", num(a.limit)),
            ("SINCE", humantime::format_rfc3339_millis(since).to_string()),
            ("MESSAGE", a.message.clone()),
            ("BY", by.to_owned()),
            ("NOTE", note.to_owned()),
        ];
        Fields(fields, id)
    }

    /// `CLISER_ALERT_STATE=firing`, ...
    pub fn env(&self) -> impl Iterator<Item = (String, &str)> {
        self.0.iter().map(|(k, v)| (format!("CLISER_ALERT_{k}"), v.as_str()))
    }

    /// `{"state":"firing", ...}`: the same names in lower case, empty values as null.
    pub fn json(&self) -> serde_json::Value {
        let mut j = json!({});
        for (k, v) in &self.0 {
            j[k.to_ascii_lowercase()] = if v.is_empty() { serde_json::Value::Null } else { json!(v) };
        }
        j
    }
}

/// Which transitions every target has taken (or given up on), by transition id: the alerts
/// thread marks them delivered in the store, so that a server taking the alerts duty over
/// delivers again only what was not.
#[derive(Clone, Default)]
struct Receipts(Arc<Mutex<ReceiptsInner>>);

#[derive(Default)]
struct ReceiptsInner {
    /// Targets yet to take each transition.
    left: HashMap<i64, usize>,
    /// Taken by every target, not yet asked for.
    taken: Vec<i64>,
}

impl Receipts {
    fn expect(&self, id: i64, targets: usize) {
        let mut r = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match targets {
            0 => r.taken.push(id),
            n => {
                r.left.insert(id, n);
            }
        }
    }

    fn took(&self, id: Option<i64>) {
        let Some(id) = id else { return };
        let mut r = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let Some(left) = r.left.get_mut(&id) else { return };
        *left -= 1;
        if *left == 0 {
            r.left.remove(&id);
            r.taken.push(id);
        }
    }

    fn taken(&self) -> Vec<i64> {
        std::mem::take(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()).taken)
    }
}

/// Where transitions go.
pub struct Delivery {
    commands: Option<(PathBuf, Sender<Fields>)>,
    webhook: Option<(String, Sender<Fields>)>,
    receipts: Receipts,
}

impl Delivery {
    /// Delivery to `targets` (the log always).
    pub fn new(targets: &AlertTargets) -> Delivery {
        let mut d = Delivery { commands: None, webhook: None, receipts: Receipts::default() };
        d.set_targets(targets);
        d
    }

    /// The transition ids every target has taken (or given up on) since the last call.
    pub fn taken(&self) -> Vec<i64> {
        self.receipts.taken()
    }

    /// New targets after a reload; what is already queued for the old ones still goes there.
    pub fn set_targets(&mut self, targets: &AlertTargets) {
        if self.commands.as_ref().map(|(p, _)| p) != targets.command.as_ref() {
            self.commands = targets.command.clone().map(|path| {
                let (tx, rx) = channel();
                let (p, receipts) = (path.clone(), self.receipts.clone());
                spawn("alert-commands", move || run_commands(p, rx, receipts));
                (path, tx)
            });
        }
        if self.webhook.as_ref().map(|(u, _)| u) != targets.webhook.as_ref() {
            self.webhook = targets.webhook.clone().map(|url| {
                let (tx, rx) = channel();
                let (u, receipts) = (url.clone(), self.receipts.clone());
                spawn("alert-webhook", move || run_webhook(u, rx, receipts));
                (url, tx)
            });
        }
    }

    /// Logs `t` and hands it to the command and the webhook; `ack` for an acknowledgement; `id`
    /// its transition id (its history event's), which [`taken`](Self::taken) gives back once
    /// every target has taken it.
    pub fn deliver(&self, t: &Transition, ack: Option<&Ack>, id: Option<i64>) {
        log_line(t, ack, "");
        let (by, note) = ack.map_or(("", ""), |a| (a.by.as_str(), a.note.as_str()));
        let fields = Fields::of(t, by, note, id);
        if let Some(id) = id {
            let targets = usize::from(self.commands.is_some()) + usize::from(self.webhook.is_some());
            self.receipts.expect(id, targets);
        }
        if let Some((_, tx)) = &self.commands {
            let _ = tx.send(fields.clone());
        }
        if let Some((_, tx)) = &self.webhook {
            let _ = tx.send(fields);
        }
    }

    /// Logs `t` only: a silence holds it from the command and the webhook (`why` says so).
    pub fn hold(&self, t: &Transition, ack: Option<&Ack>, why: &str) {
        log_line(t, ack, &format!(" ({why}, not sent)"));
    }

    /// Stops taking deliveries; the threads finish what they hold on their own.
    pub fn finish(self) {}
}

/// `alert firing: <message>`, and the like for the other states; `held` follows the state.
fn log_line(t: &Transition, ack: Option<&Ack>, held: &str) {
    let m = &t.alert.message;
    match t.state {
        State::Firing => log::warn!("alert firing{held}: {m}"),
        State::Resolved => log::info!("alert resolved{held}: {m}"),
        State::Forgotten => log::info!("alert forgotten{held}: {m}"),
        State::Acknowledged => {
            let (by, note) = ack.map_or(("?", ""), |a| (a.by.as_str(), a.note.as_str()));
            let note = if note.is_empty() { String::new() } else { format!(": {note}") };
            log::info!("alert acknowledged{held} by {by}{note}: {m}")
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        log::error!("alerts: cannot start the {name} thread: {e}; those alerts go to the log only");
    }
}

/// Runs the command for each transition, at most [`MAX_COMMANDS`] at once, in arrival order.
fn run_commands(path: PathBuf, inbox: Receiver<Fields>, receipts: Receipts) {
    let (done_tx, done_rx) = channel::<()>();
    let mut running = 0usize;
    let mut waiting: VecDeque<Fields> = VecDeque::new();
    let mut open = true;
    while open || !waiting.is_empty() || running > 0 {
        // Start what may start.
        while running < MAX_COMMANDS {
            let Some(fields) = waiting.pop_front() else { break };
            let (command, done, receipts) = (path.clone(), done_tx.clone(), receipts.clone());
            let started = std::thread::Builder::new().name("alert-command".into()).spawn(move || {
                run_one(&command, &fields);
                receipts.took(fields.1);
                let _ = done.send(());
            });
            match started {
                Ok(_) => running += 1,
                Err(e) => log::error!("alerts: cannot start a thread for {}: {e}", path.display()),
            }
        }
        if !open && waiting.is_empty() && running == 0 {
            break;
        }
        // Wait for a new alert or a finished command, whichever comes first.
        if open {
            match inbox.recv_timeout(Duration::from_millis(100)) {
                Ok(f) => {
                    waiting.push_back(f);
                    if waiting.len() > QUEUE_MAX {
                        waiting.pop_front();
                        log::error!(
                            "alerts: more than {QUEUE_MAX} alert commands waiting; dropped the oldest"
                        );
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        } else if done_rx.recv_timeout(Duration::from_millis(100)).is_ok() {
            running -= 1;
        }
        while done_rx.try_recv().is_ok() {
            running -= 1;
        }
    }
}

/// Runs the command once with the alert in its environment; logs a failure with its exit status
/// and the last line of its stderr, and kills it after [`COMMAND_TIMEOUT`].
fn run_one(path: &PathBuf, fields: &Fields) {
    let mut cmd = Command::new(path);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    for (k, v) in fields.env() {
        cmd.env(k, v);
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            log::error!("alert command {}: cannot run it: {e}", path.display());
            return;
        }
    };
    // Read stderr on the side so a chatty command cannot fill the pipe and stall.
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(64 * 1024).read_to_string(&mut text);
        }
        text
    });
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                log::error!("alert command {}: cannot wait for it: {e}", path.display());
                return;
            }
        }
    };
    let err = reader.join().unwrap_or_default();
    let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_owned();
    match status {
        None => log::error!(
            "alert command {} still running after {} s: killed{}",
            path.display(),
            COMMAND_TIMEOUT.as_secs(),
            if last.is_empty() { String::new() } else { format!(" (stderr: {last})") }
        ),
        Some(s) if !s.success() => log::error!(
            "alert command {} failed ({s}){}",
            path.display(),
            if last.is_empty() { String::new() } else { format!(": {last}") }
        ),
        Some(_) => {}
    }
}

struct Post {
    body: String,
    id: Option<i64>,
    first: Instant,
    next: Instant,
    tries: u32,
}

/// POSTs each transition in order; a failure is tried again with backoff for up to
/// [`WEBHOOK_GIVE_UP`], then dropped with an ERROR (the next one waits meanwhile: order is kept).
fn run_webhook(url: String, inbox: Receiver<Fields>, receipts: Receipts) {
    let agent: ureq::Agent =
        ureq::Agent::config_builder().timeout_global(Some(WEBHOOK_TIMEOUT)).build().into();
    let mut queue: VecDeque<Post> = VecDeque::new();
    let mut open = true;
    let mut failing_since: Option<Instant> = None;
    loop {
        let wait = match queue.front() {
            Some(p) => p.next.saturating_duration_since(Instant::now()),
            None if open => Duration::from_secs(3600),
            None => return,
        };
        if open {
            match inbox.recv_timeout(wait) {
                Ok(f) => {
                    let now = Instant::now();
                    queue.push_back(Post {
                        body: f.json().to_string(),
                        id: f.1,
                        first: now,
                        next: now,
                        tries: 0,
                    });
                    if queue.len() > QUEUE_MAX {
                        queue.pop_front();
                        log::error!("alerts: more than {QUEUE_MAX} webhook posts waiting for {url}; dropped the oldest");
                    }
                    continue;
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        } else {
            std::thread::sleep(wait);
        }
        let Some(p) = queue.front_mut() else { continue };
        if Instant::now() < p.next {
            continue;
        }
        p.tries += 1;
        let result = agent.post(&url).header("Content-Type", "application/json").send(p.body.as_str());
        match result {
            Ok(_) => {
                if failing_since.take().is_some() {
                    log::info!("alerts: webhook {url} answers again");
                }
                receipts.took(p.id);
                queue.pop_front();
            }
            Err(e) => {
                if failing_since.is_none() {
                    log::warn!(
                        "alerts: webhook {url} failed: {e}; trying again with backoff for up to an hour"
                    );
                    failing_since = Some(Instant::now());
                }
                if p.first.elapsed() >= WEBHOOK_GIVE_UP {
                    log::error!(
                        "alerts: webhook {url} failed for an hour ({} tries, last: {e}); dropped: {}",
                        p.tries,
                        p.body
                    );
                    receipts.took(p.id);
                    queue.pop_front();
                } else {
                    // 1 s after the first failure, doubling.
                    let backoff = Duration::from_secs(1u64 << (p.tries - 1).min(9)).min(WEBHOOK_BACKOFF_MAX);
                    p.next = Instant::now() + backoff;
                }
            }
        }
    }
}
