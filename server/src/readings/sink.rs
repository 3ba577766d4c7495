//! The readings sink thread: commits every reading to the store (one transaction per group of
//! answers), publishes the highest seq stored per client id in the [`AckTable`], then logs what
//! is new (a log that blocks holds up no ack). Every ack the server sends is read from that table, so an ack never runs ahead of
//! the store.

use crate::readings::ack_table::AckTable;
use crate::readings::duplicates::{AnswerTally, DuplicateWatch};
use crate::readings::reading_log::log_reading;
use crate::readings::watchers::{CommitReport, Watchers};
use cliser_common::mailbox::Sender;
use cliser_common::sensors::SharedSettings;
use cliser_protocol::{ClientId, HealthReport, Reading, SensorFactsReport, Stamp};
use cliser_store::{HealthRow, NewReading, SinkStore, TsQuality, MAX_SEQ};
use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, SendError, TryRecvError};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A batch is written (or its write failed and the clients will resend it): a session that waits
/// to poll again (`more`) may now read the [`AckTable`]. The sink knows nothing of its senders'
/// mailboxes: a batch names a sender of any type that can carry this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flushed;

/// Readings from one keep-alive answer, as they arrive in the sink's mailbox; `W` is the type of the
/// mailbox that wants [`Flushed`].
#[derive(Debug)]
pub struct Batch<W> {
    /// Whose.
    pub cid: ClientId,
    /// The readings, in line order.
    pub readings: Vec<Reading>,
    /// The health reports of the same answer (docs/PROTOCOL.md, "Health reports").
    pub health: Vec<HealthReport>,
    /// The sensor facts of the same answer (docs/PROTOCOL.md, "Sensor facts"): kept in memory by
    /// the page, not stored.
    pub facts: Vec<SensorFactsReport>,
    /// When the line arrived (the time stamp of readings without `@`).
    pub received: SystemTime,
    /// Where to send [`Flushed`] once the batch is handled, if anyone waits for it.
    pub wake: Option<Sender<W>>,
}

/// The sink's mailbox as the sessions hold it. The sink gathers a group asleep for its whole
/// window, not woken by every answer (a wake-up of its thread costs about as much as storing a
/// reading); an answer whose `more` poll waits for the commit ([`Batch::wake`]) wakes it.
pub struct SinkSender<W> {
    tx: std::sync::mpsc::Sender<Batch<W>>,
    sink: Arc<OnceLock<Thread>>,
}

impl<W> Clone for SinkSender<W> {
    fn clone(&self) -> Self {
        SinkSender { tx: self.tx.clone(), sink: self.sink.clone() }
    }
}

impl<W> SinkSender<W> {
    /// Hands `batch` to the sink; an error if the sink has ended.
    pub fn send(&self, batch: Batch<W>) -> Result<(), SendError<Batch<W>>> {
        let waits = batch.wake.is_some();
        self.tx.send(batch)?;
        if waits {
            if let Some(sink) = self.sink.get() {
                sink.unpark();
            }
        }
        Ok(())
    }
}

/// The sink's end of its mailbox, for [`Sink::run`].
pub struct SinkMailbox<W> {
    rx: Receiver<Batch<W>>,
    sink: Arc<OnceLock<Thread>>,
}

/// A new mailbox for the sink.
pub fn mailbox<W>() -> (SinkSender<W>, SinkMailbox<W>) {
    let (tx, rx) = channel();
    let sink = Arc::new(OnceLock::new());
    (SinkSender { tx, sink: sink.clone() }, SinkMailbox { rx, sink })
}

/// At most this many batches are committed in one transaction ...
const GROUP: usize = 512;
/// ... gathered for at most this long after the first while a `more` poll waits for the commit ...
const GROUP_WINDOW: Duration = Duration::from_millis(2);
/// ... and, when none does, a tenth of the keep-alive within these bounds ([`Sink::gather_for`]):
/// every ack then goes out on its client's next poll, a keep-alive later, so waiting a little
/// costs no client anything, and each commit's fixed cost (its transaction, its fsync, the pages
/// it writes) is shared by as many more readings (at 2,000 Pis and a 1 s keep-alive, 100 ms
/// instead of 20 ms took the sink from 25-28 to 20 µs per reading).
const GROUP_WINDOW_UNWAITED: (Duration, Duration) = (Duration::from_millis(2), Duration::from_millis(100));
/// While the store fails, the group is tried again after this, doubling ...
const RETRY_FIRST: Duration = Duration::from_millis(100);
/// ... up to this.
const RETRY_MAX: Duration = Duration::from_secs(5);
/// The nodes' seen times and the sensors' newest readings are written at most this often (in a
/// commit's transaction, or on their own when no commit comes), not in every commit: readers see
/// them up to this late, and the store repairs them from the readings after a `kill -9`.
pub const DISPLAY_EVERY: Duration = Duration::from_secs(1);
/// The last sample time a reading may have: 9999-12-31T23:59:59.999Z, the last that RFC 3339 (the
/// log, the CSV, the page) can write. A reading sampled outside 1970 to this is dropped: its stamp
/// is broken (an age older than 1970, a Unix time in milliseconds times a thousand).
const LATEST_SAMPLE_MS: i64 = cliser_common::when::LATEST_MS;
/// Readings held for a store that is down, at most: past this, the newest answers are let go
/// unacknowledged (their clients keep them and resend after reconnecting).
const HOLD_MAX: usize = 500_000;

/// The sink's state; [`Sink::run`] is the thread's body.
pub struct Sink {
    acks: Arc<AckTable>,
    store: Box<dyn SinkStore>,
    duplicates: DuplicateWatch,
    /// Since when commits fail, and why (said once per state change, not per group).
    outage: Option<(Instant, String)>,
    /// Told of every commit.
    watchers: Watchers,
    /// Names and calibration for the log lines.
    settings: SharedSettings,
    /// No flush of the held display rows before this (set after one failed).
    flush_after: Option<Instant>,
    /// How long a group gathers while no `more` poll waits.
    window_unwaited: Duration,
}

/// A group's readings that passed the high-water marks, ready to commit.
struct Prepared {
    readings: Vec<NewReading>,
    /// The index in the group of each reading's batch.
    origin: Vec<usize>,
    marks: HashMap<ClientId, u64>,
    warnings: Vec<String>,
    tallies: Vec<(ClientId, AnswerTally)>,
    gaps: Vec<ClientId>,
}

impl Sink {
    /// A sink committing to `store`, with the high-water marks it already holds.
    pub fn new(store: Box<dyn SinkStore>, high_water: HashMap<ClientId, u64>) -> Self {
        Sink {
            acks: Arc::new(AckTable::new(high_water)),
            store,
            duplicates: DuplicateWatch::default(),
            outage: None,
            watchers: Watchers::default(),
            settings: SharedSettings::default(),
            flush_after: None,
            window_unwaited: Duration::from_millis(20),
        }
    }

    /// Gathers a group for a tenth of the server's `keepalive` (2 ms to 100 ms) while no `more`
    /// poll waits for its commit.
    pub fn gather_for(&mut self, keepalive: Duration) {
        let (least, most) = GROUP_WINDOW_UNWAITED;
        self.window_unwaited = (keepalive / 10).clamp(least, most);
    }

    /// Logs readings with the names and calibration in `settings` (read at each group, so a
    /// reload shows at once).
    pub fn use_settings(&mut self, settings: SharedSettings) {
        self.settings = settings;
    }

    /// Tells `watchers` about every commit from now on.
    pub fn tell(&mut self, watchers: Watchers) {
        self.watchers = watchers;
    }

    /// The table this sink publishes to, for the readers of acks.
    pub fn acks(&self) -> Arc<AckTable> {
        self.acks.clone()
    }

    /// Handles messages until every sender is gone. While the store fails, the groups are held and
    /// tried again with backoff (nothing of them is acknowledged meanwhile); new answers join them.
    pub fn run<W: From<Flushed>>(mut self, mailbox: SinkMailbox<W>) {
        let _ = mailbox.sink.set(std::thread::current());
        let mailbox = mailbox.rx;
        let mut held: Vec<Batch<W>> = Vec::new();
        let mut retry = RETRY_FIRST;
        let mut open = true;
        while open {
            let mut group = std::mem::take(&mut held);
            if group.capacity() == 0 {
                // Room for a full group at once: growing it batch by batch copied each again.
                group.reserve(GROUP);
            }
            if group.is_empty() {
                match self.flush_due() {
                    // Idle with display rows held: write them when due unless a commit does.
                    Some(due) => match mailbox.recv_timeout(due.saturating_duration_since(Instant::now())) {
                        Ok(first) => group.push(first),
                        Err(RecvTimeoutError::Timeout) => {
                            self.flush_display();
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => break,
                    },
                    None => match mailbox.recv() {
                        Ok(first) => group.push(first),
                        Err(_) => break,
                    },
                }
            } else {
                // Waiting to try the store again: keep taking answers meanwhile.
                let until = Instant::now() + retry;
                loop {
                    match mailbox.recv_timeout(until.saturating_duration_since(Instant::now())) {
                        Ok(b) => group.push(b),
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => {
                            open = false;
                            break;
                        }
                    }
                }
            }
            // Group commit: answers that arrive within a moment of each other share one transaction.
            // Nobody waits on this but a `more` poll; the ack itself goes out on the next poll.
            let first = Instant::now();
            let mut waited = group.iter().any(|b| b.wake.is_some());
            loop {
                // What has arrived, without waiting.
                while group.len() < GROUP {
                    match mailbox.try_recv() {
                        Ok(b) => {
                            waited |= b.wake.is_some();
                            group.push(b);
                        }
                        Err(TryRecvError::Empty) => break,
                        Err(TryRecvError::Disconnected) => {
                            open = false;
                            break;
                        }
                    }
                }
                let until = first + if waited { GROUP_WINDOW } else { self.window_unwaited };
                let now = Instant::now();
                if !open || group.len() >= GROUP || now >= until {
                    break;
                }
                // Asleep for the window, woken early only by an answer whose `more` poll
                // waits ([`SinkSender`]), which closes it sooner. Once one waits, the window is
                // short and slept through: a fleet catching up sends such answers by the dozen.
                if waited {
                    std::thread::sleep(until - now);
                } else {
                    std::thread::park_timeout(until - now);
                }
            }
            match self.handle_group(group) {
                Ok(()) => retry = RETRY_FIRST,
                Err(failed) => {
                    held = self.hold(failed);
                    retry = (retry * 2).min(RETRY_MAX);
                }
            }
        }
        self.flush_display();
        if !held.is_empty() {
            let n: usize = held.iter().map(|b| b.readings.len()).sum();
            log::error!("stopping with the store down: {n} readings not stored nor acknowledged (their clients keep them and resend)");
        }
    }

    /// When the display rows the store holds back are due to be written, if any are.
    fn flush_due(&self) -> Option<Instant> {
        let due = self.store.display_due()?;
        Some(self.flush_after.map_or(due, |after| due.max(after)))
    }

    /// Writes the display rows the store holds back; a failure is said and tried again later (the
    /// readings are safe, and the next commit that writes them writes these too).
    fn flush_display(&mut self) {
        match self.store.flush_display() {
            Ok(()) => self.flush_after = None,
            Err(e) => {
                if self.flush_after.is_none() {
                    log::warn!(
                        "store {}: cannot write the nodes' and sensors' rows yet: {e}",
                        self.store.location()
                    );
                }
                self.flush_after = Some(Instant::now() + RETRY_MAX);
            }
        }
    }

    /// Keeps what failed for the next try, one copy of each `(client, seq)` (a client resends its
    /// unacked readings with every answer: without this, each retry while the store is down would
    /// hold another copy of them), within [`HOLD_MAX`] readings. Readings without a seq cannot be
    /// told apart from new ones and are all kept.
    fn hold<W>(&self, mut failed: Vec<Batch<W>>) -> Vec<Batch<W>> {
        let mut seen: HashSet<(ClientId, u64)> = HashSet::new();
        for b in &mut failed {
            b.readings.retain(|r| r.seq.is_none_or(|seq| seen.insert((b.cid.clone(), seq))));
        }
        // A batch left empty is dropped; its poll was woken when the commit failed.
        failed.retain(|b| !b.readings.is_empty());
        let mut total = 0usize;
        let keep = failed.iter().take_while(|b| {
            total += b.readings.len();
            total <= HOLD_MAX
        });
        let keep = keep.count().max(1);
        if keep < failed.len() {
            let dropped: usize = failed[keep..].iter().map(|b| b.readings.len()).sum();
            log::warn!(
                "the store is still down: {dropped} newer readings let go unacknowledged (over {HOLD_MAX} held; \
                 their clients keep them and resend after reconnecting)"
            );
            failed.truncate(keep);
        }
        failed
    }

    /// Commits a group of batches in one transaction, then publishes the new marks, wakes whoever
    /// waits and logs what is new. If the store fails, nothing of the group is logged or
    /// acknowledged, and the group is handed back to be tried again.
    pub fn handle_group<W: From<Flushed>>(&mut self, mut group: Vec<Batch<W>>) -> Result<(), Vec<Batch<W>>> {
        let mut prepared = self.prepare(&mut group);
        let started = Instant::now();
        let result =
            if prepared.readings.is_empty() { Ok(Vec::new()) } else { self.store.commit(&prepared.readings) };
        let took = started.elapsed();
        let wake_all = |group: &[Batch<W>]| {
            for wake in group.iter().filter_map(|b| b.wake.as_ref()) {
                let _ = wake.send(Flushed.into());
            }
        };
        match result {
            Ok(inserted) => {
                // Committed: the acks go out first. A log that blocks (a stderr pipe nobody reads,
                // a journal that lags) must not hold up the Pis, and the readings are safe already.
                self.acks.publish(std::mem::take(&mut prepared.marks));
                wake_all(&group);
                if let Some((since, _)) = self.outage.take() {
                    log::info!(
                        "store {}: committing again after {}; {} held readings stored",
                        self.store.location(),
                        cliser_common::duration::format(Duration::from_secs(since.elapsed().as_secs())),
                        prepared.readings.len()
                    );
                }
                let settings = self.settings.get();
                // The group's lines in one write: two writes a line were a tenth of this thread.
                let stored_dups = cliser_common::logging::batch(|| {
                    for warning in &prepared.warnings {
                        log::warn!("{warning}");
                    }
                    let mut stored_dups = 0u64;
                    for (r, new) in prepared.readings.iter().zip(&inserted) {
                        if *new {
                            log_reading(r, &settings);
                        } else {
                            stored_dups += 1;
                            log::debug!("cid={} seq={:?} was already stored", r.cid, r.seq);
                        }
                    }
                    stored_dups
                });
                self.add_health(&group);
                self.tell_facts(&group);
                let table = self.acks.read();
                for (cid, tally) in &prepared.tallies {
                    if let Some(warning) = self.duplicates.note(cid, *tally, table.get(cid).copied()) {
                        log::warn!("{warning}");
                    }
                }
                drop(table);
                if self.watchers.any() {
                    let duplicates =
                        stored_dups + prepared.tallies.iter().map(|(_, t)| t.duplicates).sum::<u64>();
                    let readings = prepared
                        .readings
                        .into_iter()
                        .zip(inserted)
                        .filter_map(|(r, new)| new.then_some(r))
                        .collect();
                    self.watchers.committed(CommitReport::Stored {
                        readings,
                        duplicates,
                        gaps: prepared.gaps,
                        took,
                    });
                }
                Ok(())
            }
            Err(e) => {
                let why = e.to_string();
                // One ERROR per outage: a database going away fails in several words in a row
                // (terminating, shutting down, refused), so a change of words is no new state.
                match &self.outage {
                    Some((_, last)) if *last == why => {}
                    Some(_) => log::debug!("store {}: commits still failing: {why}", self.store.location()),
                    None => log::error!(
                        "store {}: cannot commit: {why}; holding {} readings unacknowledged (clients keep \
                         theirs) and trying again with backoff",
                        self.store.location(),
                        prepared.readings.len()
                    ),
                }
                let since = self.outage.as_ref().map_or_else(Instant::now, |(t, _)| *t);
                self.outage = Some((since, why));
                // A `more` poll may go on (with the old ack) rather than wait for the store.
                wake_all(&group);
                self.watchers.committed(CommitReport::Failed);
                restore(&mut group, prepared);
                Err(group)
            }
        }
    }

    /// Adds the group's health reports to the store's hourly rows, in their own short transaction
    /// (a few rows an hour per sensor: no cost per reading). A failure loses them, with a warning:
    /// a lost health report is acceptable, and the readings are already safe.
    fn add_health<W>(&mut self, group: &[Batch<W>]) {
        let rows: Vec<HealthRow> = group
            .iter()
            .flat_map(|b| b.health.iter().map(|h| health_row(&b.cid, h, unix_ms(b.received))))
            .collect();
        if rows.is_empty() {
            return;
        }
        match self.store.health_add(&rows) {
            // `/metrics` counts what the store kept (a repeat, which it skips, is rare enough:
            // a client sends each report once).
            Ok(_) => self.watchers.live(cliser_web::LiveEvent::Health(rows)),
            Err(e) => {
                log::warn!("store {}: {} health reports not kept: {e}", self.store.location(), rows.len())
            }
        }
    }

    /// Logs the group's sensor facts and tells the page (which keeps the latest per sensor) and
    /// the alerts thread (the buses, for the console's `N`).
    fn tell_facts<W>(&self, group: &[Batch<W>]) {
        for b in group.iter().filter(|b| !b.facts.is_empty()) {
            for f in &b.facts {
                log::info!("sensor facts cid={} {}", b.cid, facts_text(f));
            }
            self.watchers.facts(b.cid.clone(), b.facts.clone());
        }
    }

    /// Drops what the marks say is stored already (and seqs too big to store), notes gaps, and
    /// builds the rows to commit. The readings are moved out of their batches, not copied (two
    /// allocations a reading fewer); [`restore`] puts them back if the commit fails.
    fn prepare<W>(&self, group: &mut [Batch<W>]) -> Prepared {
        let mut marks: HashMap<ClientId, u64> = HashMap::new();
        let mut readings = Vec::with_capacity(group.iter().map(|b| b.readings.len()).sum());
        let mut warnings = Vec::new();
        let mut tallies = Vec::with_capacity(group.len());
        let mut gaps = Vec::new();
        // One read lock for the group: only this thread writes the table.
        let table = self.acks.read();
        let mut origin = Vec::with_capacity(readings.capacity());
        for (at, Batch { cid, readings: batch, received, .. }) in group.iter_mut().enumerate() {
            let mut tally = AnswerTally::default();
            let received_ms = unix_ms(*received);
            // The client's mark as of this batch, raised as it goes: looked up (under the ack
            // table's lock) and kept once a batch, not once a reading.
            let mut hw = marks.get(cid).or_else(|| table.get(cid)).copied();
            let hw_before = hw;
            for r in std::mem::take(batch) {
                if r.seq.is_some_and(|seq| seq > MAX_SEQ) {
                    // The databases' integers are signed 64-bit: one such seq would fail every
                    // commit of the group it rides in, everyone's readings with it.
                    warnings.push(format!(
                        "cid={cid}: dropped a reading with seq {} (above the largest storable, {MAX_SEQ})",
                        r.seq.unwrap_or_default()
                    ));
                    continue;
                }
                if let Some(seq) = r.seq {
                    if hw.is_some_and(|h| seq <= h) {
                        tally.duplicate(seq);
                        continue;
                    }
                    tally.fresh = true;
                    if let Some(h) = hw.filter(|&h| seq > h + 1) {
                        gaps.push(cid.clone());
                        warnings.push(format!(
                            "cid={cid}: {} readings missing (seq {} to {})",
                            seq - h - 1,
                            h + 1,
                            seq - 1
                        ));
                    }
                    hw = Some(seq);
                }
                let sampled_ms = sampled_ms(r.stamp, received_ms);
                if !(0..=LATEST_SAMPLE_MS).contains(&sampled_ms) {
                    // Acked with the others (its seq is marked above), so the Pi does not send
                    // it for ever; as a malformed stamp's token is, it is not stored.
                    warnings.push(format!(
                        "cid={cid}: dropped a reading of {} with a sample time outside 1970 to 9999 \
                         ({sampled_ms} ms since 1970: a broken stamp)",
                        r.sensor
                    ));
                    continue;
                }
                readings.push(NewReading {
                    cid: cid.clone(),
                    sensor: r.sensor,
                    value: r.value,
                    sampled_ms,
                    received_ms,
                    seq: r.seq,
                    ts_quality: ts_quality(r.stamp),
                });
                origin.push(at);
            }
            if hw != hw_before {
                if let Some(seq) = hw {
                    marks.insert(cid.clone(), seq);
                }
            }
            tallies.push((cid.clone(), tally));
        }
        Prepared { readings, origin, marks, warnings, tallies, gaps }
    }
}

/// Puts a failed group's readings back into their batches, to be tried again: each as it would
/// be stored again (its sample time as a time, or as the same age for one on the server's clock).
/// Those `prepare` dropped stay dropped: they would be again.
fn restore<W>(group: &mut [Batch<W>], prepared: Prepared) {
    for (r, at) in prepared.readings.into_iter().zip(prepared.origin) {
        let stamp = match r.ts_quality {
            TsQuality::Synced | TsQuality::Unsynced => {
                Stamp::At { unix_ms: r.sampled_ms as u64, synced: r.ts_quality == TsQuality::Synced }
            }
            TsQuality::FromAge => Stamp::Age { ms: r.received_ms.saturating_sub(r.sampled_ms).max(0) as u64 },
        };
        group[at].readings.push(Reading { sensor: r.sensor, value: r.value, stamp: Some(stamp), seq: r.seq });
    }
}

/// An age is counted back from when the line arrived: the Pi's wall clock plays no part.
/// A report as its hour's row: the hour its period ended in, on the server's clock (the line's
/// arrival less the period's age, plus its length).
fn health_row(cid: &ClientId, h: &HealthReport, received_ms: i64) -> HealthRow {
    let big = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let ended = received_ms.saturating_sub(big(h.age_ms)).saturating_add(big(h.period_ms)).min(received_ms);
    HealthRow {
        cid: cid.to_string(),
        sensor: h.sensor.to_string(),
        hour_ms: cliser_store::hour_of(ended),
        reads: big(h.reads),
        crc: big(h.crc),
        empty: big(h.empty),
        reset: big(h.reset),
        other: big(h.other),
        retries: big(h.retries),
        read_ms: big(h.read_ms),
        period_ms: big(h.period_ms),
        last_report: big(h.id),
    }
}

fn sampled_ms(stamp: Option<Stamp>, received_ms: i64) -> i64 {
    match stamp {
        None => received_ms,
        Some(Stamp::At { unix_ms, .. }) => i64::try_from(unix_ms).unwrap_or(i64::MAX),
        Some(Stamp::Age { ms }) => received_ms.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX)),
    }
}

/// Whose clock the sample time is. A reading without a stamp is counted as an age of zero: the
/// server's clock at arrival, as trustworthy as `~age` (and an `nc` user's typed reading is sampled
/// as it is sent).
fn ts_quality(stamp: Option<Stamp>) -> TsQuality {
    match stamp {
        Some(Stamp::At { synced: true, .. }) => TsQuality::Synced,
        Some(Stamp::At { synced: false, .. }) => TsQuality::Unsynced,
        Some(Stamp::Age { .. }) | None => TsQuality::FromAge,
    }
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// `sensor=28-x parasite power, 12 bits, looks like a clone (kind B1 (GXCAS/UMW 18B20))`.
fn facts_text(f: &SensorFactsReport) -> String {
    let power = match f.power {
        Some(cliser_protocol::Power::External) => "external power",
        Some(cliser_protocol::Power::Parasite) => "parasite power",
        None => "power mode unknown",
    };
    let bits = f.bits.map_or_else(|| "resolution unknown".to_owned(), |b| format!("{b} bits"));
    let clone = f.clone.as_ref().map(|k| format!(", looks like a clone (kind {k})")).unwrap_or_default();
    format!("sensor={} {power}, {bits}{clone}", f.sensor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliser_common::mailbox::mailbox as channel;
    use cliser_store::{Described, ReadingQuery, Store, StoreError, StoreInfo};
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn a_group_gathers_for_a_tenth_of_the_keepalive_within_bounds() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Sink::new(sink_store(&dir), HashMap::new());
        for (keepalive_ms, window_ms) in [(10_000, 100), (1_000, 100), (200, 20), (10, 2)] {
            sink.gather_for(Duration::from_millis(keepalive_ms));
            assert_eq!(
                sink.window_unwaited,
                Duration::from_millis(window_ms),
                "keep-alive {keepalive_ms} ms"
            );
        }
    }

    /// The state letter and the voluntary switches so far of this process's thread named `name`.
    fn thread_state(name: &str) -> Option<(char, u64)> {
        for task in std::fs::read_dir("/proc/self/task").ok()? {
            let dir = task.ok()?.path();
            if std::fs::read_to_string(dir.join("comm")).ok()?.trim_end() != name {
                continue;
            }
            let status = std::fs::read_to_string(dir.join("status")).ok()?;
            let field = |key: &str| status.lines().find_map(|l| l.strip_prefix(key)).map(str::trim);
            let state = field("State:")?.chars().next()?;
            return Some((state, field("voluntary_ctxt_switches:")?.parse().ok()?));
        }
        None
    }

    /// Waits until `name` sleeps after more than `switches` voluntary switches; returns its count.
    fn asleep_after(name: &str, switches: u64) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match thread_state(name) {
                Some(('S', n)) if n > switches => return n,
                _ if Instant::now() > deadline => panic!("{name} never slept: {:?}", thread_state(name)),
                _ => std::thread::yield_now(),
            }
        }
    }

    /// The sink gathers asleep, and only an answer whose `more` poll waits wakes it: one that
    /// arrives in a long window is committed at once, not when the window would have ended.
    #[test]
    fn an_answer_whose_poll_waits_wakes_the_gathering_sink() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Sink::new(sink_store(&dir), HashMap::new());
        let window = Duration::from_secs(60);
        sink.window_unwaited = window;
        let acks = sink.acks();
        let (tx, rx) = mailbox();
        let name = "sink-wake-test";
        let thread = std::thread::Builder::new().name(name.into()).spawn(move || sink.run(rx)).unwrap();
        // Asleep in its empty mailbox; then woken by an answer nobody waits for, and asleep again:
        // gathering for a window of a minute ...
        let idle = asleep_after(name, 0);
        let started = Instant::now();
        tx.send(batch("a", &["t=1#1"], None)).unwrap();
        asleep_after(name, idle);
        // ... which a waiting answer closes (without the wake-up, only after the minute).
        let (wake, woken) = channel();
        tx.send(batch("b", &["t=2#1"], Some(&wake))).unwrap();
        assert_eq!(woken.recv_timeout(Duration::from_secs(30)).ok(), Some(Flushed));
        assert!(started.elapsed() < window / 2, "woken, not at the window's end");
        assert_eq!((acks.get(&cid("a")), acks.get(&cid("b"))), (Some(1), Some(1)));
        drop(tx);
        thread.join().unwrap();
    }

    /// `prepare` moves the readings out of their batches; when the commit fails they go back,
    /// so that the retry stores exactly what the first try would have.
    #[test]
    fn a_failed_groups_readings_go_back_to_their_batches_and_prepare_again_to_the_same_rows() {
        let dir = tempfile::tempdir().unwrap();
        let sink = Sink::new(sink_store(&dir), HashMap::from([(cid("a"), 1)]));
        let mut group = vec![
            batch(
                "a",
                &["t=1#1", "t=2@1796536559777#2", "t=3@1796536559777?#3", "t=4~1500#4", "t=5#5"],
                None,
            ),
            batch("b", &["u=err:crc#7", "u=6~99999999999999999#8", "u=7"], None),
        ];
        let first = sink.prepare(&mut group);
        assert!(group.iter().all(|b| b.readings.is_empty()), "moved out");
        let rows = first.readings.clone();
        // The repeat of seq 1 and the broken age are dropped, the rest kept in order.
        let kept: Vec<(&str, Option<u64>)> = rows.iter().map(|r| (r.cid.as_str(), r.seq)).collect();
        assert_eq!(
            kept,
            [("a", Some(2)), ("a", Some(3)), ("a", Some(4)), ("a", Some(5)), ("b", Some(7)), ("b", None)]
        );
        restore(&mut group, first);
        assert_eq!(group.iter().map(|b| b.readings.len()).collect::<Vec<_>>(), [4, 2]);
        assert_eq!(sink.prepare(&mut group).readings, rows);
    }

    #[test]
    fn an_age_counts_back_from_arrival_and_a_time_is_taken_as_sent() {
        assert_eq!(sampled_ms(None, 10_000), 10_000);
        assert_eq!(sampled_ms(Some(Stamp::Age { ms: 1_500 }), 10_000), 8_500);
        assert_eq!(sampled_ms(Some(Stamp::Age { ms: u64::MAX }), 10_000), 10_000 - i64::MAX);
        assert_eq!(sampled_ms(Some(Stamp::at(7)), 10_000), 7);
        assert_eq!(sampled_ms(Some(Stamp::At { unix_ms: 7, synced: false }), 10_000), 7);
    }

    #[test]
    fn a_health_report_goes_to_the_hour_its_period_ended_in_on_the_servers_clock() {
        let h = HealthReport::parse("h:28-a=200,10,0,0,0,12,1500/60000~61000#7").unwrap();
        let received = 7 * cliser_store::HOUR_MS + 500;
        let row = health_row(&cid("pi"), &h, received);
        assert_eq!(
            (row.hour_ms, row.reads, row.crc, row.retries, row.last_report),
            (6 * cliser_store::HOUR_MS, 200, 10, 12, 7)
        );
        // A period "ending" in the future (a hostile age) counts at the arrival's hour.
        let odd = HealthReport::parse("h:28-a=1,0,0,0,0,0,1/999999999~0#8").unwrap();
        assert_eq!(health_row(&cid("pi"), &odd, received).hour_ms, 7 * cliser_store::HOUR_MS);
    }

    #[test]
    fn the_quality_says_whose_clock_and_a_bare_reading_is_the_servers() {
        assert_eq!(ts_quality(Some(Stamp::at(7))), TsQuality::Synced);
        assert_eq!(ts_quality(Some(Stamp::At { unix_ms: 7, synced: false })), TsQuality::Unsynced);
        assert_eq!(ts_quality(Some(Stamp::Age { ms: 1_500 })), TsQuality::FromAge);
        assert_eq!(ts_quality(None), TsQuality::FromAge);
    }

    fn cid(s: &str) -> ClientId {
        ClientId::new(s).unwrap()
    }

    fn store(dir: &tempfile::TempDir) -> Box<dyn Store> {
        cliser_store::open(&format!("sqlite:{}", dir.path().join("t.db").display())).unwrap()
    }

    fn sink_store(dir: &tempfile::TempDir) -> Box<dyn cliser_store::SinkStore> {
        cliser_store::open_as(&format!("sqlite:{}", dir.path().join("t.db").display())).unwrap()
    }

    fn batch(cid: &str, tokens: &[&str], wake: Option<&Sender<Flushed>>) -> Batch<Flushed> {
        Batch {
            cid: ClientId::new(cid).unwrap(),
            readings: tokens.iter().map(|t| Reading::parse(t).unwrap()).collect(),
            health: Vec::new(),
            facts: Vec::new(),
            received: SystemTime::now(),
            wake: wake.cloned(),
        }
    }

    /// Handles one group of `(cid, tokens)` batches that each want a wake-up; returns, per batch, what
    /// the table holds for its cid once it is woken.
    fn acks(sink: &mut Sink, group: &[(&str, &[&str])]) -> Vec<Option<u64>> {
        let wakes: Vec<_> = group.iter().map(|_| channel()).collect();
        let _ = sink
            .handle_group(group.iter().zip(&wakes).map(|((c, t), (tx, _))| batch(c, t, Some(tx))).collect());
        let table = sink.acks();
        group
            .iter()
            .zip(&wakes)
            .map(|((c, _), (_, rx))| {
                assert_eq!(rx.try_iter().collect::<Vec<_>>(), [Flushed], "one wake-up per batch");
                table.get(&cid(c))
            })
            .collect()
    }

    #[test]
    fn the_ack_table_holds_what_was_written_and_no_wake_up_is_sent_unasked() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Sink::new(sink_store(&dir), HashMap::new());
        let table = sink.acks();
        let (tx, rx) = channel();
        assert_eq!(table.get(&cid("q")), None);
        sink.handle_group(vec![batch("q", &["t=1#7", "t=2#8"], None)]).unwrap();
        assert_eq!(table.get(&cid("q")), Some(8));
        sink.handle_group(vec![batch("q", &["t=1"], None), batch("q", &["t=3"], Some(&tx))]).unwrap();
        assert_eq!(table.get(&cid("q")), Some(8));
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [Flushed], "only the batch that asked");
    }

    #[test]
    fn a_seq_too_big_to_store_is_dropped_and_blocks_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Sink::new(sink_store(&dir), HashMap::new());
        let huge = format!("t=1#{}", u64::MAX);
        sink.handle_group(vec![batch("evil", &[&huge], None), batch("good", &["t=2#1"], None)]).unwrap();
        assert_eq!(sink.acks().get(&cid("good")), Some(1));
        assert_eq!(sink.acks().get(&cid("evil")), None);
        assert_eq!(store(&dir).readings(&ReadingQuery::default()).unwrap().len(), 1);
    }

    #[test]
    fn a_sample_time_outside_1970_to_9999_is_dropped_acked_and_blocks_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Sink::new(sink_store(&dir), HashMap::new());
        let too_old = format!("t=1~{}#1", u64::MAX);
        let too_new = format!("t=2@{}#2", LATEST_SAMPLE_MS as u64 + 1);
        let last = format!("t=3@{LATEST_SAMPLE_MS}#3");
        sink.handle_group(vec![
            batch("odd", &[&too_old, &too_new, &last], None),
            batch("good", &["t=4#1"], None),
        ])
        .unwrap();
        assert_eq!(sink.acks().get(&cid("odd")), Some(3), "the dropped ones acked with the stored one");
        assert_eq!(sink.acks().get(&cid("good")), Some(1));
        let stored = store(&dir).readings(&ReadingQuery::default()).unwrap();
        let times: Vec<i64> = stored.iter().map(|r| r.sampled_ms).collect();
        assert_eq!(stored.len(), 2, "{times:?}");
        assert!(times.contains(&LATEST_SAMPLE_MS), "{times:?}");
    }

    #[test]
    fn dedupes_by_seq_and_acks_the_high_water_mark() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = Sink::new(sink_store(&dir), HashMap::new());
        assert_eq!(
            acks(&mut sink, &[("a", &["t=1#1", "t=2#2"]), ("a", &["t=2#2", "t=3#3"])]),
            [Some(3), Some(3)]
        );
        assert_eq!(acks(&mut sink, &[("a", &["t=1#1"]), ("b", &["t=9"])]), [Some(3), None]);
        let mut check = store(&dir);
        let all = check.readings(&ReadingQuery::default()).unwrap();
        assert_eq!(all.len(), 3 + 1, "{all:?}");
    }

    /// A store whose commits fail while `down` is set: a full disk, a database that went away.
    struct Flaky {
        inner: Box<dyn cliser_store::SinkStore>,
        down: Arc<AtomicBool>,
    }

    impl Described for Flaky {
        fn info(&mut self) -> Result<StoreInfo, StoreError> {
            self.inner.info()
        }
        fn location(&self) -> &str {
            self.inner.location()
        }
    }

    impl cliser_store::HealthLog for Flaky {
        fn health_add(&mut self, _: &[HealthRow]) -> Result<usize, StoreError> {
            Ok(0)
        }
        fn health_since(&mut self, _: i64) -> Result<Vec<HealthRow>, StoreError> {
            Ok(Vec::new())
        }
    }

    impl cliser_store::Ledger for Flaky {
        fn commit(&mut self, group: &[NewReading]) -> Result<Vec<bool>, StoreError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(StoreError::BadQuery("database or disk is full (test)".into()));
            }
            self.inner.commit(group)
        }
        fn high_water(&mut self, cid: &ClientId) -> Result<Option<u64>, StoreError> {
            self.inner.high_water(cid)
        }
        fn high_water_all(&mut self) -> Result<HashMap<ClientId, u64>, StoreError> {
            self.inner.high_water_all()
        }
    }

    #[test]
    fn a_client_resending_while_the_store_is_down_is_held_once_and_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let down = Arc::new(AtomicBool::new(true));
        let flaky = Flaky { inner: sink_store(&dir), down: down.clone() };
        let mut sink = Sink::new(Box::new(flaky), HashMap::new());
        let resend = || batch("a", &["t=1#1", "t=2#2", "t=3#3"], None);
        // As `run` does: each retry's group is what was held plus what arrived meanwhile, here the
        // same unacked readings again (the client resends them with every answer).
        let retry = |sink: &mut Sink, group| {
            let failed = sink.handle_group(group).unwrap_err();
            sink.hold(failed)
        };
        let mut held = retry(&mut sink, vec![resend()]);
        for _ in 0..50 {
            held.push(resend());
            held = retry(&mut sink, held);
        }
        held.push(batch("a", &["t=4#4", "t=9"], None));
        held = retry(&mut sink, held);
        let copies: usize = held.iter().map(|b| b.readings.len()).sum();
        assert_eq!(copies, 5, "51 resends of 3 readings, then 2 new ones: one copy each is held");
        down.store(false, Ordering::SeqCst);
        sink.handle_group(held).unwrap();
        assert_eq!(sink.acks().get(&cid("a")), Some(4));
        let stored = store(&dir).readings(&ReadingQuery::default()).unwrap();
        assert_eq!(stored.len(), 5, "each stored once: {stored:?}");
    }

    #[test]
    fn a_failed_commit_acks_nothing_and_the_held_group_is_stored_once_when_the_store_is_back() {
        let dir = tempfile::tempdir().unwrap();
        let down = Arc::new(AtomicBool::new(true));
        let flaky = Flaky { inner: sink_store(&dir), down: down.clone() };
        let mut sink = Sink::new(Box::new(flaky), HashMap::from([(cid("a"), 5)]));
        let (tx, rx) = channel();
        let held = sink.handle_group(vec![batch("a", &["t=1#6", "t=2#7"], Some(&tx))]).unwrap_err();
        assert_eq!(sink.acks().get(&cid("a")), Some(5), "nothing acked while the store fails");
        assert_eq!(rx.try_iter().count(), 1, "a waiting poll is not held up");
        down.store(false, Ordering::SeqCst);
        sink.handle_group(held).unwrap();
        assert_eq!(sink.acks().get(&cid("a")), Some(7));
        assert_eq!(store(&dir).readings(&ReadingQuery::default()).unwrap().len(), 2);
    }
}
