//! The alerts thread's mailbox, bounded where the volume is: every committed reading comes here,
//! and the thread makes a durable write per transition, so a slow store or a busy fleet must not
//! grow a queue of readings without limit.
//!
//! Readings are coalesced per sensor: the limits judge a sensor's newest values and silence only
//! asks whether it was heard, so a sensor holds one slot however many of its readings wait. A slot
//! keeps the newest [`PER_SENSOR`] readings in the order they came (a thread that keeps up sees
//! every reading, so `for` and the deadband judge each one) and folds older ones out: counted for
//! the console's `N`, and a run of folded error readings still counts toward `error_after`. What
//! is dropped: a reading folded out (its value never judged: a value past a limit and back while
//! the thread was behind fires nothing), and, with [`MAX_SENSORS`] sensors waiting, the readings
//! of any further sensor (counted, a WARN once per time full). Gaps are coalesced into a count per
//! client. Everything else (sessions, reloads, the console's requests) is queued in order and
//! never dropped: it comes at people's and connections' pace, not the readings'.

use crate::runner::Input;
use cliser_protocol::Value;
use cliser_store::NewReading;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// At most this many sensors wait at once; readings of another sensor are dropped meanwhile.
pub const MAX_SENSORS: usize = 4096;

/// A sensor keeps at most its newest this many readings waiting; older ones are folded out.
pub const PER_SENSOR: usize = 32;

/// A new mailbox: the server's end, and the alerts thread's.
pub fn mailbox() -> (Mailbox, Inbox) {
    let (tx, rx) = channel();
    let shared = Arc::new(Shared::default());
    (Mailbox { tx, shared: shared.clone() }, Inbox { rx, shared })
}

/// What went through the channel: an input in order, or a note that readings wait.
enum Msg {
    Input(Input),
    Waiting,
}

#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    /// Inputs other than readings and gaps in the channel now, and the most seen.
    others: AtomicUsize,
    others_max: AtomicUsize,
}

#[derive(Default)]
struct Pending {
    sensors: HashMap<(String, String), Slot>,
    gaps: BTreeMap<String, u64>,
    /// A [`Msg::Waiting`] is in the channel: one is enough, however much is added.
    signalled: bool,
    sensors_max: usize,
    superseded: u64,
    dropped: u64,
    /// Full, and the WARN about it given.
    full_warned: bool,
}

/// One sensor's waiting readings; see the module docs.
#[derive(Debug, Default)]
pub struct Slot {
    /// The readings to judge, in the order they came: the newest [`PER_SENSOR`].
    pub judge: Vec<NewReading>,
    /// Error readings folded out right before `judge[0]` with no good reading after them: how
    /// many, and the first one's sample time (they still count toward `error_after`).
    pub errors_before: Option<(u64, i64)>,
    /// Readings folded out (for the health counts).
    pub folded: Tally,
}

/// Readings counted without being judged.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// How many.
    pub readings: u64,
    /// Their error readings, by reason.
    pub errors: BTreeMap<String, u64>,
}

impl Tally {
    fn add(&mut self, r: &NewReading) {
        self.readings += 1;
        if let Value::Error(reason) = &r.value {
            *self.errors.entry(reason.to_string()).or_default() += 1;
        }
    }
}

impl Slot {
    /// Adds `r`, folding out the oldest past [`PER_SENSOR`]. True when one was folded.
    fn offer(&mut self, r: NewReading) -> bool {
        self.judge.push(r);
        if self.judge.len() <= PER_SENSOR {
            return false;
        }
        let old = self.judge.remove(0);
        self.folded.add(&old);
        self.errors_before = match old.value {
            Value::Error(_) => Some(self.errors_before.map_or((1, old.sampled_ms), |(n, at)| (n + 1, at))),
            Value::Celsius(_) => None,
        };
        true
    }
}

/// What the alerts thread takes out at once.
#[derive(Debug)]
pub enum Next {
    /// An input, in the order sent.
    Input(Input),
    /// The readings and gaps waiting (by sensor, by client).
    Readings(Vec<Slot>, BTreeMap<String, u64>),
}

/// The mailbox's depth, for the console's `N`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Depth {
    /// Sensors with readings waiting now.
    pub sensors: usize,
    /// The most sensors waiting at once since the start.
    pub sensors_max: usize,
    /// Other inputs waiting now.
    pub others: usize,
    /// The most other inputs waiting at once since the start.
    pub others_max: usize,
    /// Readings a newer one of their sensor superseded while waiting.
    pub superseded: u64,
    /// Readings dropped because [`MAX_SENSORS`] sensors were waiting.
    pub dropped: u64,
}

impl std::fmt::Display for Depth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "alerts mailbox: {} sensors waiting (most {}), {} other inputs (most {}); {} readings superseded while waiting, {} dropped (full)",
            self.sensors, self.sensors_max, self.others, self.others_max, self.superseded, self.dropped
        )
    }
}

/// The alerts thread is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

/// The server's end; cheap to clone.
#[derive(Clone)]
pub struct Mailbox {
    tx: Sender<Msg>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mailbox(..)")
    }
}

impl Mailbox {
    /// Hands `input` to the alerts thread: readings and gaps coalesced, the rest queued.
    pub fn send(&self, input: Input) -> Result<(), Closed> {
        match input {
            Input::Stored(readings) => self.pending(|p| {
                for r in readings {
                    p.offer(r);
                }
            }),
            Input::Gaps(cids) => self.pending(|p| {
                for cid in cids {
                    *p.gaps.entry(cid).or_default() += 1;
                }
            }),
            other => {
                let now = self.shared.others.fetch_add(1, Ordering::SeqCst) + 1;
                self.shared.others_max.fetch_max(now, Ordering::SeqCst);
                self.tx.send(Msg::Input(other)).map_err(|_| {
                    self.shared.others.fetch_sub(1, Ordering::SeqCst);
                    Closed
                })
            }
        }
    }

    fn pending(&self, add: impl FnOnce(&mut Pending)) -> Result<(), Closed> {
        let mut p = self.shared.pending.lock().unwrap_or_else(|e| e.into_inner());
        add(&mut p);
        p.sensors_max = p.sensors_max.max(p.sensors.len());
        if p.signalled || (p.sensors.is_empty() && p.gaps.is_empty()) {
            return Ok(());
        }
        p.signalled = true;
        self.tx.send(Msg::Waiting).map_err(|_| Closed)
    }
}

impl Pending {
    fn offer(&mut self, r: NewReading) {
        let key = (r.cid.to_string(), r.sensor.to_string());
        if let Some(slot) = self.sensors.get_mut(&key) {
            if slot.offer(r) {
                self.superseded += 1;
            }
            return;
        }
        if self.sensors.len() >= MAX_SENSORS {
            self.dropped += 1;
            if !self.full_warned {
                self.full_warned = true;
                log::warn!(
                    "alerts: {MAX_SENSORS} sensors' readings wait for the alerts thread; readings of other sensors \
                     are not judged until it catches up (the store has them all)"
                );
            }
            return;
        }
        let mut slot = Slot::default();
        slot.offer(r);
        self.sensors.insert(key, slot);
    }
}

/// The alerts thread's end.
pub struct Inbox {
    rx: Receiver<Msg>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inbox(..)")
    }
}

impl Inbox {
    /// The next input or the readings waiting, within `timeout`; disconnected once every
    /// [`Mailbox`] is gone and everything was taken.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Next, RecvTimeoutError> {
        match self.rx.recv_timeout(timeout)? {
            Msg::Input(input) => {
                self.shared.others.fetch_sub(1, Ordering::SeqCst);
                Ok(Next::Input(input))
            }
            Msg::Waiting => {
                let mut p = self.shared.pending.lock().unwrap_or_else(|e| e.into_inner());
                p.signalled = false;
                p.full_warned = false;
                let slots = std::mem::take(&mut p.sensors).into_values().collect();
                Ok(Next::Readings(slots, std::mem::take(&mut p.gaps)))
            }
        }
    }

    /// How deep the mailbox is, and was.
    pub fn depth(&self) -> Depth {
        let p = self.shared.pending.lock().unwrap_or_else(|e| e.into_inner());
        Depth {
            sensors: p.sensors.len(),
            sensors_max: p.sensors_max,
            others: self.shared.others.load(Ordering::SeqCst),
            others_max: self.shared.others_max.load(Ordering::SeqCst),
            superseded: p.superseded,
            dropped: p.dropped,
        }
    }
}

#[cfg(test)]
mod tests;
