//! The durable backlog: every reading taken and not yet acknowledged by the server.
//!
//! # On disk
//!
//! The state dir holds one journal, `backlog.log`, and a `lock` file held with `flock` so that two
//! clients never share one backlog. The journal is append-only text, one record a line: readings in
//! their wire form, `ack <seq>` and `next <seq>` (`backlog/journal_format.rs`).
//!
//! # What is durable when
//!
//! - **Readings**: each sample batch is appended with one `write` and `fdatasync`ed before its
//!   readings are reported as taken or handed out to be sent ([`Backlog::after`] stops at the last
//!   synced one). A power cut can only tear the last batch, whose readings were never reported or
//!   sent.
//! - **The seq counter** is durable by construction: it is one past the highest of the journal's
//!   reading seqs, `ack` values and `next` line, and the journal never loses its highest seq (a
//!   rewrite starts with `next`).
//! - **Acks** get no write or sync of their own. An ack the server sends is kept in memory and
//!   written as an `ack` line in front of the next batch (so that batch's `fdatasync` makes it
//!   durable), alone without a sync if the journal has not been written for [`Limits::ack_every`]
//!   ([`Backlog::write_due_ack`]), and with a sync by [`Backlog::close`]. Losing one (a crash before
//!   the next batch) only means resending readings, which the server drops by seq. The exception is
//!   an ack at or above the counter (the state dir was wiped): it moves the counter, which must not
//!   go back after a restart, so it is written and synced at once (right after the answer to the
//!   message that carried it).
//! - **Rewrites** (compaction, and repair after a torn line): `next`, `ack` and the live readings go
//!   to `backlog.log.tmp`, which is synced, renamed over the journal, and the directory synced: after
//!   a crash the journal is the old one or the new one, whole.
//!
//! # Two locks: the connection thread never waits for the disk
//!
//! The in-memory state (readings, counter, acks) has its own lock, held only to update or read it:
//! the connection thread needs it for every answer. The journal file has another, held by whoever
//! writes: records are formatted under the state lock, then written and synced holding only the
//! journal lock, and only then marked as synced in the state. A rewrite copies the live readings out
//! under the state lock a chunk at a time and writes the new file without it; nothing is appended
//! meanwhile, as every append takes the journal lock. The journal lock is always taken first.
//!
//! The connection thread only writes an ack that is due, after it has answered, and never compacts:
//! the sampler does ([`Backlog::maintain`] every interval, and after each batch).
//!
//! # Replay
//!
//! Opening reads the journal line by line: a torn last line (no newline: an interrupted write) or an
//! unreadable line is dropped with a warning and the journal rewritten; `acked` is the highest `ack`;
//! readings with `seq <= acked` are dropped; the counter continues as above. The journal is rewritten
//! without acknowledged readings and old `ack` lines once those make up most of it, so it stays
//! proportional to the backlog.

mod fs_util;
mod journal_format;
#[cfg(test)]
mod tests;

pub use fs_util::StoreError;

use cliser_protocol::{Reading, SensorId, Stamp, Value};
use fs_util::{io_err, AppendLog, SyncFn};
use journal_format::{push_ack, push_header, push_reading, replay, Replay};
use log::{error, info, warn};
use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

/// Readings kept at most: a week at the default 10 s interval is 60,480 per sensor, so this holds a
/// week for 8 sensors. A reading takes about 130 bytes in memory and 45 on disk, so a full backlog
/// costs ~65 MB of RAM and ~23 MB of disk, which a Pi 5 affords.
pub const DEFAULT_CAPACITY: usize = 500_000;

/// Dead (acknowledged or dropped readings, old `ack` lines) journal lines tolerated before a
/// rewrite, at the least.
pub const DEFAULT_COMPACT_MIN: usize = 4096;

/// An ack not yet in the journal is written (without a sync) at the latest this long after the
/// journal's last write, when no sample batch carries it there first.
pub const DEFAULT_ACK_EVERY: Duration = Duration::from_secs(60);

const JOURNAL: &str = "backlog.log";
const JOURNAL_TMP: &str = "backlog.log.tmp";
const LOCK: &str = "lock";

/// Readings a rewrite copies out per hold of the state lock: a full backlog is 500,000.
const SNAPSHOT_CHUNK: usize = 4096;

/// Size limits of a [`Backlog`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Readings kept at most; beyond it the oldest are dropped.
    pub capacity: usize,
    /// The journal is rewritten once it has at least this many dead lines and more dead than live.
    pub compact_min: usize,
    /// How long an ack may wait in memory for a sample batch to carry it into the journal.
    pub ack_every: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { capacity: DEFAULT_CAPACITY, compact_min: DEFAULT_COMPACT_MIN, ack_every: DEFAULT_ACK_EVERY }
    }
}

/// The backlog of unacknowledged readings and the sequence counter, kept in a state dir. Shared by
/// the sampler and the connection thread (`Arc<Backlog>`); see the module docs for its two locks.
#[derive(Debug)]
pub struct Backlog {
    limits: Limits,
    /// What answering needs; never held across a write or a sync.
    state: Mutex<State>,
    /// The journal; its holder is the only writer. Taken before `state`, never while holding it.
    journal: Mutex<AppendLog>,
    _lock: File,
}

#[derive(Debug)]
struct State {
    /// Readings with `seq > acked`, in seq order.
    readings: VecDeque<Reading>,
    next_seq: u64,
    acked: u64,
    /// The highest seq whose batch is synced (or failed to be written and lives on in memory only):
    /// the readings after it are not handed out yet.
    settled: u64,
    /// The highest ack written to the journal (synced or not).
    acked_in_journal: u64,
    /// The highest ack that moved the counter. While above `acked_in_journal` the ack is written and
    /// synced at once; every write that carries it syncs.
    ack_to_sync: u64,
    /// Lines in the journal after its `next`/`ack` header, live or dead.
    journal_lines: usize,
    /// When the journal was last written.
    last_write: Instant,
    dropped: u64,
    closed: bool,
    /// The highest seq that may have reached a server: sent by this process, or read back from the
    /// journal at start (a crash may have come after sending it). An ack above it acknowledges
    /// readings this client never sent: someone else sends under its id, or its state dir was reset.
    maybe_sent: u64,
}

/// Readings an ack dropped although this client never sent them: the server has the same seqs from
/// someone else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeverSent {
    /// How many.
    pub count: usize,
    /// The lowest seq.
    pub first: u64,
    /// The highest seq.
    pub last: u64,
}

/// Journal text formatted under the state lock, to be written after letting go of it.
struct Pending {
    text: String,
    lines: usize,
    /// The ack the text brings the journal up to.
    ack: u64,
}

/// A panic elsewhere leaves the state consistent (every update is a few plain assignments), so a
/// poisoned lock is used as it is.
fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    /// Appends `ack <n>` to `text` for an ack not yet in the journal; returns the lines added.
    fn push_pending_ack(&self, text: &mut String) -> usize {
        if self.acked > self.acked_in_journal {
            push_ack(text, self.acked);
            1
        } else {
            0
        }
    }

    /// Whether the ack in memory is due in the journal now, and if so whether synced: at once and
    /// synced if it moved the counter, unsynced once the journal has been idle for `ack_every`.
    fn ack_due(&self, ack_every: Duration) -> Option<bool> {
        if self.closed || self.acked <= self.acked_in_journal {
            return None;
        }
        if self.ack_to_sync > self.acked_in_journal {
            return Some(true);
        }
        (self.last_write.elapsed() >= ack_every).then_some(false)
    }

    fn enforce_capacity(&mut self, capacity: usize) {
        let excess = self.readings.len().saturating_sub(capacity);
        if excess == 0 {
            return;
        }
        let first = self.readings.front().and_then(|r| r.seq).unwrap_or(0);
        self.readings.drain(..excess);
        self.dropped += excess as u64;
        let last = first + excess as u64 - 1;
        warn!(
            "backlog full ({capacity} readings): dropped the {excess} oldest (seq {first}..={last}), {} dropped since start",
            self.dropped
        );
    }

    fn compaction_due(&self, compact_min: usize) -> bool {
        let dead = self.journal_lines.saturating_sub(self.readings.len());
        !self.closed && dead >= compact_min.max(self.readings.len())
    }
}

impl Backlog {
    /// Opens (creating if needed) the backlog in `dir` and replays it.
    pub fn open(dir: &Path, limits: Limits) -> Result<Backlog, StoreError> {
        Backlog::open_with(dir, limits, fs_util::fdatasync())
    }

    /// [`open`](Self::open), with `sync` making the journal's writes durable.
    fn open_with(dir: &Path, limits: Limits, sync: SyncFn) -> Result<Backlog, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_err("create state dir", dir))?;
        let lock = fs_util::lock_dir(dir, LOCK)?;
        let journal_path = dir.join(JOURNAL);
        let replay = match File::open(&journal_path) {
            Ok(f) => replay(f).map_err(io_err("read", &journal_path))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Replay::default(),
            Err(e) => return Err(io_err("read", &journal_path)(e)),
        };
        let acked = replay.acked;
        let max_seq = replay.readings.back().and_then(|r| r.seq).unwrap_or(0);
        let next_seq = replay.next_seq.max(max_seq.saturating_add(1)).max(acked.saturating_add(1));
        let mut state = State {
            readings: replay.readings.into_iter().filter(|r| r.seq.is_some_and(|s| s > acked)).collect(),
            next_seq,
            acked,
            settled: next_seq - 1,
            acked_in_journal: acked,
            ack_to_sync: 0,
            journal_lines: replay.lines,
            last_write: Instant::now(),
            dropped: 0,
            closed: false,
            maybe_sent: next_seq - 1,
        };
        state.enforce_capacity(limits.capacity);
        let backlog = Backlog {
            limits,
            state: Mutex::new(state),
            journal: Mutex::new(AppendLog::new(dir, JOURNAL, JOURNAL_TMP, sync)),
            _lock: lock,
        };
        {
            let mut journal = relock(&backlog.journal);
            if replay.damaged {
                // Appending after a torn line would glue the next record onto it: rewrite first.
                backlog.rewrite(&mut journal)?;
            } else {
                journal.open()?;
                backlog.compact_locked(&mut journal);
            }
        }
        let s = relock(&backlog.state);
        match (s.readings.front(), s.readings.back()) {
            (Some(first), Some(last)) => info!(
                "backlog: {} readings waiting (seq {}..={}), next seq {}",
                s.readings.len(),
                first.seq.unwrap_or(0),
                last.seq.unwrap_or(0),
                s.next_seq
            ),
            _ => info!("backlog: empty, next seq {}", s.next_seq),
        }
        drop(s);
        Ok(backlog)
    }

    /// Gives the readings of one sample batch their seqs, writes them durably, and keeps them until
    /// acknowledged. Returns them as recorded, once synced. If the disk fails they are still kept
    /// (and sent) from memory, and the journal is rewritten whole at the next chance. Waits for
    /// another write in progress; the connection thread can answer all along.
    pub fn record(&self, batch: Vec<(SensorId, Value)>, unix_ms: u64) -> Vec<Reading> {
        if batch.is_empty() {
            return Vec::new();
        }
        let mut journal = relock(&self.journal);
        let (readings, pending) = {
            let mut s = relock(&self.state);
            if s.closed {
                return Vec::new();
            }
            let readings: Vec<Reading> = batch
                .into_iter()
                .map(|(sensor, value)| {
                    let seq = s.next_seq;
                    s.next_seq += 1;
                    Reading { sensor, value, stamp: Some(Stamp::at(unix_ms)), seq: Some(seq) }
                })
                .collect();
            let mut text = String::with_capacity(16 + readings.len() * 48);
            let acks = s.push_pending_ack(&mut text);
            for r in &readings {
                push_reading(&mut text, r);
            }
            s.readings.extend(readings.iter().cloned());
            s.enforce_capacity(self.limits.capacity);
            let lines = acks + readings.len();
            (readings, Pending { text, lines, ack: s.acked })
        };
        if let Err(e) = self.write(&mut journal, pending, true) {
            error!("backlog: {e}; keeping the readings in memory");
        }
        if let Some(last) = readings.last().and_then(|r| r.seq) {
            relock(&self.state).settled = last;
        }
        self.compact_locked(&mut journal);
        readings
    }

    /// Writes `p` to the journal (the caller holds the journal lock, and not the state lock), then
    /// notes it in the state. A journal closed by an earlier failure is rewritten whole instead:
    /// what `p` says is in memory too.
    fn write(&self, journal: &mut AppendLog, p: Pending, sync: bool) -> Result<(), StoreError> {
        if !journal.is_open() {
            return self.rewrite(journal);
        }
        journal.append(p.text.as_bytes(), sync)?;
        let mut s = relock(&self.state);
        s.journal_lines += p.lines;
        s.acked_in_journal = s.acked_in_journal.max(p.ack);
        s.last_write = Instant::now();
        Ok(())
    }

    /// The server has logged every reading with `seq <= ack`: forget them. If the counter is not past
    /// `ack` (the state dir was lost, or another install used this id), it jumps past it, or the
    /// server would drop the next readings as duplicates.
    ///
    /// Memory only: the journal gets the ack from the next batch, or from
    /// [`write_due_ack`](Self::write_due_ack), which the connection thread calls after answering.
    ///
    /// Returns the readings the ack dropped that this client never sent, if any (the caller warns).
    pub fn ack(&self, ack: u64) -> Option<NeverSent> {
        let mut s = relock(&self.state);
        if ack >= s.next_seq {
            warn!(
                "backlog: server acked seq {ack} but the next seq is {}; continuing from {}",
                s.next_seq,
                ack + 1
            );
            s.next_seq = ack + 1;
            // A counter that went back after a crash would reuse seqs the server has.
            s.ack_to_sync = ack;
        }
        if ack <= s.acked {
            return None;
        }
        s.acked = ack;
        let n = s.readings.partition_point(|r| r.seq.is_some_and(|s| s <= ack));
        let maybe_sent = s.maybe_sent;
        let never_sent: Vec<u64> =
            s.readings.range(..n).filter_map(|r| r.seq).filter(|&seq| seq > maybe_sent).collect();
        s.readings.drain(..n);
        match (never_sent.first(), never_sent.last()) {
            (Some(&first), Some(&last)) => Some(NeverSent { count: never_sent.len(), first, last }),
            _ => None,
        }
    }

    /// Readings up to `seq` went out on a connection: an ack covering them is expected.
    pub fn mark_sent(&self, seq: u64) {
        let mut s = relock(&self.state);
        s.maybe_sent = s.maybe_sent.max(seq);
    }

    /// Writes the ack [`ack`](Self::ack) left in memory if it is due now (see the module docs);
    /// otherwise it rides on the next batch. Waits for a write in progress only for an ack that moved
    /// the counter (rare: the state dir was wiped); an idle-journal ack gives way to a batch being
    /// written, which makes the journal busy anyway. Never more than one line: a journal closed by a
    /// failed write is left for the next batch to rewrite.
    pub fn write_due_ack(&self) {
        let Some(sync) = relock(&self.state).ack_due(self.limits.ack_every) else { return };
        let mut journal = if sync {
            relock(&self.journal)
        } else {
            match self.journal.try_lock() {
                Ok(journal) => journal,
                Err(TryLockError::Poisoned(e)) => e.into_inner(),
                Err(TryLockError::WouldBlock) => return,
            }
        };
        if !journal.is_open() {
            return;
        }
        // Decided again with the journal in hand: a batch written meanwhile may have carried it.
        let (pending, sync) = {
            let s = relock(&self.state);
            let Some(sync) = s.ack_due(self.limits.ack_every) else { return };
            let mut text = String::with_capacity(24);
            let lines = s.push_pending_ack(&mut text);
            (Pending { text, lines, ack: s.acked }, sync)
        };
        // Losing this write only means resending readings, which the server drops as duplicates.
        if let Err(e) = self.write(&mut journal, pending, sync) {
            error!("backlog: {e}");
        }
    }

    /// Journal upkeep, for the sampler every interval (it waits for a write in progress, and a
    /// rewrite takes a while): rewrites a journal that a failed write closed, or that acknowledged
    /// readings and old `ack` lines make up most of.
    pub fn maintain(&self) {
        let mut journal = relock(&self.journal);
        if journal.is_open() {
            self.compact_locked(&mut journal);
        } else if !relock(&self.state).closed {
            if let Err(e) = self.rewrite(&mut journal) {
                error!("backlog: rewriting the journal: {e}");
            }
        }
    }

    fn compact_locked(&self, journal: &mut AppendLog) {
        if !relock(&self.state).compaction_due(self.limits.compact_min) {
            return;
        }
        if let Err(e) = self.rewrite(journal) {
            error!("backlog: compacting: {e}");
        }
    }

    /// Rewrites the journal with the live readings after a `next` and an `ack` line, holding the
    /// state lock only while copying them out.
    fn rewrite(&self, journal: &mut AppendLog) -> Result<(), StoreError> {
        let (text, lines, acked) = self.snapshot();
        journal.replace(text.as_bytes())?;
        let mut s = relock(&self.state);
        s.journal_lines = lines;
        // Every other write waits for the journal lock: nothing newer can be in it.
        s.acked_in_journal = acked;
        s.last_write = Instant::now();
        Ok(())
    }

    /// The text of a rewritten journal, the readings in it and its ack, copied a chunk at a time so
    /// that an answer waits for one chunk at most. Readings acked between two chunks may still be
    /// in it: dead lines, which the next rewrite drops. None can be added (that takes the journal
    /// lock, which the caller holds).
    fn snapshot(&self) -> (String, usize, u64) {
        let (mut text, acked) = {
            let s = relock(&self.state);
            let mut text = String::with_capacity(48 + s.readings.len() * 48);
            push_header(&mut text, s.next_seq, s.acked);
            (text, s.acked)
        };
        let (mut cursor, mut lines) = (acked, 0);
        loop {
            let s = relock(&self.state);
            let start = s.readings.partition_point(|r| r.seq.is_some_and(|q| q <= cursor));
            let mut n = 0;
            for r in s.readings.range(start..).take(SNAPSHOT_CHUNK) {
                push_reading(&mut text, r);
                cursor = r.seq.unwrap_or(cursor);
                n += 1;
            }
            lines += n;
            if n < SNAPSHOT_CHUNK {
                return (text, lines, acked);
            }
        }
    }

    /// Up to `max` readings with `seq > after`, oldest first; only synced ones (a reading is never
    /// sent before it is durable).
    pub fn after(&self, after: u64, max: usize) -> Vec<Reading> {
        let s = relock(&self.state);
        let start = s.readings.partition_point(|r| r.seq.is_some_and(|q| q <= after));
        s.readings
            .range(start..)
            .take_while(|r| r.seq.is_some_and(|q| q <= s.settled))
            .take(max)
            .cloned()
            .collect()
    }

    /// Readings waiting for an ack.
    pub fn len(&self) -> usize {
        relock(&self.state).readings.len()
    }

    /// Whether no reading waits for an ack.
    pub fn is_empty(&self) -> bool {
        relock(&self.state).readings.is_empty()
    }

    /// The seq the next reading will get.
    pub fn next_seq(&self) -> u64 {
        relock(&self.state).next_seq
    }

    /// The highest seq the server has acknowledged.
    pub fn acked(&self) -> u64 {
        relock(&self.state).acked
    }

    /// Readings dropped because the backlog was full, since this process started.
    pub fn dropped(&self) -> u64 {
        relock(&self.state).dropped
    }

    /// Writes (and syncs) an ack not yet in the journal, then refuses all further writes. Waits for
    /// a write in progress: once this returns no write is half done and none will start, and the
    /// process may exit.
    pub fn close(&self) {
        let mut journal = relock(&self.journal);
        let pending = {
            let mut s = relock(&self.state);
            if s.closed {
                return;
            }
            s.closed = true;
            let mut text = String::with_capacity(24);
            let lines = s.push_pending_ack(&mut text);
            Pending { text, lines, ack: s.acked }
        };
        if pending.lines > 0 {
            if let Err(e) = self.write(&mut journal, pending, true) {
                error!("backlog: {e}");
            }
        }
    }
}
