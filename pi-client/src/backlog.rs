//! The durable backlog: every reading taken and not yet acknowledged by the server.
//!
//! # On disk
//!
//! The state dir holds one journal, `backlog.log`, and a `lock` file held with `flock` so that two
//! clients never share one backlog. The journal is append-only text: a header line naming the format
//! and its version, then one record a line, each with a CRC32: readings with the clocks they were
//! taken at, `a` (ack) and `n` (the counter) (`backlog/journal_format.rs`).
//!
//! # What is durable when: `--durability`
//!
//! - **`sync`**: each sample batch is appended with one `write` and `fdatasync`ed before its
//!   readings are reported as taken or handed out to be sent ([`Backlog::after`] stops at the last
//!   synced one). A power cut can only tear the last batch, whose readings were never reported or
//!   sent.
//! - **`spill`** (the client's default): a batch stays in memory and is sent at once. Readings not
//!   acked within `spill-after` are appended in one batch with one `fdatasync`, at most once per
//!   `spill-after` ([`Backlog::maintain`]), or at once when more than `bound` wait unwritten; on a
//!   stop ([`Backlog::close`]) everything unacked is written. While the link is healthy every reading
//!   is acked within a keep-alive or two and nothing is written at all; a power cut loses at most the
//!   readings of the last `spill-after` (plus one interval).
//! - **The seq counter** is one past the highest of the journal's reading seqs, `a` and `n` records,
//!   and the journal never loses its highest seq (a rewrite starts with `n`). In `spill` mode the
//!   readings are mostly not in the journal, so seqs are reserved ahead: an `n` record
//!   [`SEQ_RESERVE`] past the counter is written (and synced) at start and whenever the counter
//!   reaches it; a clean stop writes the exact counter. After a crash the counter continues from the
//!   reservation: seqs never repeat, and the server sees one gap.
//! - **Acks** get no write or sync of their own. An ack the server sends is kept in memory and
//!   written as an `a` record in front of the next batch (so that batch's `fdatasync` makes it
//!   durable), alone without a sync if the journal has not been written for [`Limits::ack_every`]
//!   ([`Backlog::write_due_ack`]), and with a sync by [`Backlog::close`]. In `spill` mode an ack is
//!   only written when the journal holds readings it covers: writing the acks of a healthy link would
//!   be one write per keep-alive, the very writes spilling avoids. Losing one (a crash before the
//!   next batch) only means resending readings, which the server drops by seq. The exception is an
//!   ack at or above the counter (the state dir was wiped): it moves the counter, which must not go
//!   back after a restart, so it is written and synced at once (right after the answer to the
//!   message that carried it).
//! - **Rewrites** (compaction, repair after damage, conversion of an old journal): the header, `n`,
//!   `a` and the live readings go to `backlog.log.tmp`, which is synced, renamed over the journal,
//!   and the directory synced: after a crash the journal is the old one or the new one, whole.
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
//! The connection thread only writes an ack that is due, after it has answered, and never compacts
//! or spills: the sampler does ([`Backlog::maintain`] every interval, and after each batch).
//!
//! # Replay
//!
//! Opening reads the journal line by line: a torn last line (no newline: an interrupted write) or a
//! record that fails its check is reported with its line number and skipped, and the journal
//! rewritten; `acked` is the highest `a`; readings with `seq <= acked` are dropped; the counter
//! continues as above. A journal of another version is refused; one of the format before v1 is
//! read and rewritten as v1. The journal is rewritten without acknowledged readings and old `a`
//! records once those make up most of it, so it stays proportional to the backlog.

mod entry;
mod fs_util;
mod journal_format;
#[cfg(test)]
mod spill_tests;
#[cfg(test)]
mod tests;

pub use fs_util::StoreError;

use crate::clock::{Clock, SystemClock};
use cliser_protocol::{Reading, SensorId, Value};
use entry::Entry;
use fs_util::{io_err, AppendLog, SyncFn};
use journal_format::{push_ack, push_header, push_next, push_reading, replay, Replay, ReplayError};
use log::{error, info, warn};
use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

/// Readings kept at most: a week at the default 10 s interval is 60,480 per sensor, so this holds a
/// week for 8 sensors. A reading takes about 150 bytes in memory and 110 on disk, so a full backlog
/// costs ~75 MB of RAM and ~55 MB of disk, which a Pi 5 affords.
pub const DEFAULT_CAPACITY: usize = 500_000;

/// Dead (acknowledged or dropped readings, old `a` records) journal lines tolerated before a
/// rewrite, at the least.
pub const DEFAULT_COMPACT_MIN: usize = 4096;

/// An ack not yet in the journal is written (without a sync) at the latest this long after the
/// journal's last write, when no sample batch carries it there first.
pub const DEFAULT_ACK_EVERY: Duration = Duration::from_secs(60);

/// `spill` mode: readings not acked within this long are written to the journal.
pub const DEFAULT_SPILL_AFTER: Duration = Duration::from_secs(60);

/// `spill` mode: readings waiting unwritten at most before they are written at once (a minute of 68
/// sensors at 1 s; about 600 KB of memory).
pub const DEFAULT_SPILL_BOUND: usize = 4096;

/// `spill` mode: seqs reserved in the journal ahead of use (a day and a half of 8 sensors at 10 s: a
/// 30-byte synced write that often).
pub const SEQ_RESERVE: u64 = 100_000;

const JOURNAL: &str = "backlog.log";
const JOURNAL_TMP: &str = "backlog.log.tmp";
const LOCK: &str = "lock";

/// Readings a rewrite copies out per hold of the state lock: a full backlog is 500,000.
const SNAPSHOT_CHUNK: usize = 4096;

/// When a reading is written to the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Every sample batch is written and `fdatasync`ed before it is sent: nothing is lost on a
    /// power cut, at one synced write per interval.
    Sync,
    /// Readings stay in memory until acked; those waiting longer than `after` are written in one
    /// batch at most once per `after`, or at once when more than `bound` wait unwritten. A power cut
    /// loses at most `after` (plus one interval) of readings.
    Spill {
        /// How long a reading may wait for its ack in memory only.
        after: Duration,
        /// How many readings may wait unwritten.
        bound: usize,
    },
}

impl Durability {
    /// `spill` with the default settings.
    pub fn spill() -> Durability {
        Durability::Spill { after: DEFAULT_SPILL_AFTER, bound: DEFAULT_SPILL_BOUND }
    }
}

/// Size limits and durability of a [`Backlog`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Readings kept at most; beyond it the oldest are dropped.
    pub capacity: usize,
    /// The journal is rewritten once it has at least this many dead lines and more dead than live.
    pub compact_min: usize,
    /// How long an ack may wait in memory for a sample batch to carry it into the journal.
    pub ack_every: Duration,
    /// When readings are written (the library's default is [`Durability::Sync`]; the client's is
    /// `spill`).
    pub durability: Durability,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            capacity: DEFAULT_CAPACITY,
            compact_min: DEFAULT_COMPACT_MIN,
            ack_every: DEFAULT_ACK_EVERY,
            durability: Durability::Sync,
        }
    }
}

/// The backlog of unacknowledged readings and the sequence counter, kept in a state dir. Shared by
/// the sampler and the connection thread (`Arc<Backlog>`); see the module docs for its two locks.
#[derive(Debug)]
pub struct Backlog {
    limits: Limits,
    clock: Arc<dyn Clock>,
    boot: Arc<str>,
    /// What answering needs; never held across a write or a sync.
    state: Mutex<State>,
    /// The journal; its holder is the only writer. Taken before `state`, never while holding it.
    journal: Mutex<AppendLog>,
    /// The sampler's health reports waiting for the next answer (memory only: a lost one is
    /// acceptable).
    health: crate::health::HealthOutbox,
    /// Each sensor's facts, for the connection to send once per connection (memory only).
    facts: crate::facts_board::FactsBoard,
    _lock: File,
}

#[derive(Debug)]
struct State {
    /// Readings with `seq > acked`, in seq order.
    readings: VecDeque<Entry>,
    next_seq: u64,
    acked: u64,
    /// The highest seq whose batch is synced (or failed to be written and lives on in memory only;
    /// in `spill` mode, recorded): the readings after it are not handed out yet.
    settled: u64,
    /// The highest reading seq written to the journal.
    spilled: u64,
    /// `spill` mode: the counter the journal says (an `n` record); the counter may not pass it
    /// before a new one is written.
    reserved: u64,
    /// `spill` mode: `CLOCK_BOOTTIME` ms of the last spill.
    last_spill: Option<u64>,
    /// The highest ack written to the journal (synced or not).
    acked_in_journal: u64,
    /// The highest ack that moved the counter. While above `acked_in_journal` the ack is written and
    /// synced at once; every write that carries it syncs.
    ack_to_sync: u64,
    /// Lines in the journal after its header lines, live or dead.
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
    /// The highest reading seq in the text (0 if none).
    spilled: u64,
}

/// A panic elsewhere leaves the state consistent (every update is a few plain assignments), so a
/// poisoned lock is used as it is.
fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl State {
    /// Appends `a <n>` to `text` for an ack not yet in the journal; returns the lines added.
    fn push_pending_ack(&self, text: &mut String) -> usize {
        if self.acked > self.acked_in_journal {
            push_ack(text, self.acked);
            1
        } else {
            0
        }
    }

    /// Whether the ack in memory is due in the journal now, and if so whether synced: at once and
    /// synced if it moved the counter, unsynced once the journal has been idle for `ack_every` (in
    /// `spill` mode only if the journal holds readings it covers).
    fn ack_due(&self, ack_every: Duration, spill: bool) -> Option<bool> {
        if self.closed || self.acked <= self.acked_in_journal {
            return None;
        }
        if self.ack_to_sync > self.acked_in_journal {
            return Some(true);
        }
        if spill && self.spilled <= self.acked_in_journal {
            return None;
        }
        (self.last_write.elapsed() >= ack_every).then_some(false)
    }

    fn enforce_capacity(&mut self, capacity: usize) {
        let excess = self.readings.len().saturating_sub(capacity);
        if excess == 0 {
            return;
        }
        let first = self.readings.front().map_or(0, |r| r.seq);
        self.readings.drain(..excess);
        self.dropped += excess as u64;
        let last = first + excess as u64 - 1;
        warn!(
            "backlog full ({capacity} readings): dropped the {excess} oldest (seq {first}..={last}), {} dropped since start",
            self.dropped
        );
    }

    /// Readings that are also in the journal.
    fn live_in_journal(&self) -> usize {
        self.readings.partition_point(|r| r.seq <= self.spilled)
    }

    fn compaction_due(&self, compact_min: usize) -> bool {
        let live = self.live_in_journal();
        let dead = self.journal_lines.saturating_sub(live);
        !self.closed && dead >= compact_min.max(live)
    }

    /// The readings not in the journal yet.
    fn unspilled(&self) -> impl Iterator<Item = &Entry> {
        let start = self.readings.partition_point(|r| r.seq <= self.spilled);
        self.readings.range(start..)
    }
}

impl Backlog {
    /// Opens (creating if needed) the backlog in `dir` and replays it.
    pub fn open(dir: &Path, limits: Limits) -> Result<Backlog, StoreError> {
        Backlog::open_with(dir, limits, fs_util::fdatasync(), Arc::new(SystemClock::new()))
    }

    /// [`open`](Self::open) with the clocks `clock` (a test's).
    pub fn open_with_clock(dir: &Path, limits: Limits, clock: Arc<dyn Clock>) -> Result<Backlog, StoreError> {
        Backlog::open_with(dir, limits, fs_util::fdatasync(), clock)
    }

    /// [`open`](Self::open), with `sync` making the journal's writes durable.
    fn open_with(
        dir: &Path,
        limits: Limits,
        sync: SyncFn,
        clock: Arc<dyn Clock>,
    ) -> Result<Backlog, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_err("create state dir", dir))?;
        let lock = fs_util::lock_dir(dir, LOCK)?;
        let journal_path = dir.join(JOURNAL);
        let replay = match File::open(&journal_path) {
            Ok(f) => match replay(f) {
                Ok(r) => r,
                Err(ReplayError::Io(e)) => return Err(io_err("read", &journal_path)(e)),
                Err(ReplayError::Version(found)) => {
                    return Err(StoreError::Version { path: journal_path, found })
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Replay::default(),
            Err(e) => return Err(io_err("read", &journal_path)(e)),
        };
        let acked = replay.acked;
        let max_seq = replay.readings.back().map_or(0, |r| r.seq);
        let next_seq = replay.next_seq.max(max_seq.saturating_add(1)).max(acked.saturating_add(1));
        let mut state = State {
            readings: replay.readings.into_iter().filter(|r| r.seq > acked).collect(),
            next_seq,
            acked,
            settled: next_seq - 1,
            spilled: max_seq,
            reserved: next_seq,
            last_spill: None,
            acked_in_journal: acked,
            ack_to_sync: 0,
            journal_lines: replay.lines,
            last_write: Instant::now(),
            dropped: 0,
            closed: false,
            maybe_sent: next_seq - 1,
        };
        state.enforce_capacity(limits.capacity);
        let boot = clock.boot_id();
        let backlog = Backlog {
            limits,
            clock,
            boot,
            state: Mutex::new(state),
            journal: Mutex::new(AppendLog::new(dir, JOURNAL, JOURNAL_TMP, sync)),
            health: crate::health::HealthOutbox::default(),
            facts: crate::facts_board::FactsBoard::default(),
            _lock: lock,
        };
        {
            let mut journal = relock(&backlog.journal);
            if replay.legacy {
                info!("backlog: converting {} to journal format v1", journal_path.display());
            }
            if replay.damaged || replay.legacy || !replay.header {
                // Appending after a torn line would glue the next record onto it, and a new journal
                // starts with its header: rewrite first.
                backlog.rewrite(&mut journal)?;
            } else {
                journal.open()?;
                backlog.compact_locked(&mut journal);
            }
            backlog.reserve_locked(&mut journal)?;
        }
        let s = relock(&backlog.state);
        match (s.readings.front(), s.readings.back()) {
            (Some(first), Some(last)) => info!(
                "backlog: {} readings waiting (seq {}..={}), next seq {}",
                s.readings.len(),
                first.seq,
                last.seq,
                s.next_seq
            ),
            _ => info!("backlog: empty, next seq {}", s.next_seq),
        }
        drop(s);
        Ok(backlog)
    }

    fn spill_mode(&self) -> bool {
        matches!(self.limits.durability, Durability::Spill { .. })
    }

    /// `spill` mode: writes (and syncs) an `n` record [`SEQ_RESERVE`] past the counter if the counter
    /// has reached the last one.
    fn reserve_locked(&self, journal: &mut AppendLog) -> Result<(), StoreError> {
        if !self.spill_mode() || !journal.is_open() {
            return Ok(());
        }
        let (text, reserve) = {
            let s = relock(&self.state);
            if s.closed || s.next_seq < s.reserved {
                return Ok(());
            }
            let reserve = s.next_seq.saturating_add(SEQ_RESERVE);
            let mut text = String::with_capacity(24);
            push_next(&mut text, reserve);
            (text, reserve)
        };
        journal.append(text.as_bytes(), true)?;
        let mut s = relock(&self.state);
        s.reserved = reserve;
        s.journal_lines += 1;
        s.last_write = Instant::now();
        Ok(())
    }

    /// Gives the readings of one sample batch their seqs and the clocks now, and keeps them until
    /// acknowledged: in `sync` mode writes them durably first. Returns them as recorded (with their
    /// wall-clock time), once synced. If the disk fails they are still kept (and sent) from memory,
    /// and the journal is rewritten whole at the next chance. Waits for another write in progress;
    /// the connection thread can answer all along.
    pub fn record(&self, batch: Vec<(SensorId, Value)>) -> Vec<Reading> {
        self.record_entries(batch).iter().map(Entry::to_logged).collect()
    }

    /// [`record`](Self::record) without returning the readings: the sampler's way when its debug
    /// lines are off, so that a sample costs no copy made only for a log line nobody writes.
    pub fn record_unlogged(&self, batch: Vec<(SensorId, Value)>) {
        self.record_entries(batch);
    }

    fn record_entries(&self, batch: Vec<(SensorId, Value)>) -> Vec<Entry> {
        if batch.is_empty() {
            return Vec::new();
        }
        let at = self.clock.now();
        let mut journal = relock(&self.journal);
        let spill = self.spill_mode();
        let (entries, pending) = {
            let mut s = relock(&self.state);
            if s.closed {
                return Vec::new();
            }
            let entries: Vec<Entry> = batch
                .into_iter()
                .map(|(sensor, value)| {
                    let seq = s.next_seq;
                    s.next_seq += 1;
                    Entry { sensor, value, seq, boot: Some(self.boot.clone()), at }
                })
                .collect();
            s.readings.extend(entries.iter().cloned());
            s.enforce_capacity(self.limits.capacity);
            let last = entries.last().map_or(0, |r| r.seq);
            if spill {
                // Settled (sendable) only once the journal's reservation covers the seqs, below.
                (entries, None)
            } else {
                let mut text = String::with_capacity(16 + entries.len() * 110);
                let acks = s.push_pending_ack(&mut text);
                for r in &entries {
                    push_reading(&mut text, r);
                }
                let lines = acks + entries.len();
                (entries, Some(Pending { text, lines, ack: s.acked, spilled: last }))
            }
        };
        if let Some(pending) = pending {
            if let Err(e) = self.write(&mut journal, pending, true) {
                error!("backlog: {e}; keeping the readings in memory");
            }
            if let Some(last) = entries.last() {
                relock(&self.state).settled = last.seq;
            }
        } else {
            // A seq sent before the journal's counter covers it could be given again after a crash.
            if let Err(e) = self.reserve_locked(&mut journal) {
                error!("backlog: reserving seqs: {e}");
            }
            if let Some(last) = entries.last() {
                relock(&self.state).settled = last.seq;
            }
            if let Durability::Spill { bound, .. } = self.limits.durability {
                if relock(&self.state).unspilled().count() > bound {
                    self.spill_locked(&mut journal);
                }
            }
        }
        self.compact_locked(&mut journal);
        entries
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
        s.spilled = s.spilled.max(p.spilled);
        s.last_write = Instant::now();
        Ok(())
    }

    /// `spill` mode: writes every reading not in the journal yet, and the ack, with one sync.
    fn spill_locked(&self, journal: &mut AppendLog) {
        let (pending, first, n, waiting) = {
            let s = relock(&self.state);
            if s.closed {
                return;
            }
            let mut text = String::new();
            let acks = s.push_pending_ack(&mut text);
            let (mut first, mut n, mut last) = (0, 0, 0);
            for r in s.unspilled() {
                if n == 0 {
                    first = r.seq;
                }
                push_reading(&mut text, r);
                n += 1;
                last = r.seq;
            }
            if n == 0 {
                return;
            }
            (Pending { text, lines: acks + n, ack: s.acked, spilled: last }, first, n, s.readings.len())
        };
        let last = pending.spilled;
        let now = self.clock.boottime_ms();
        match self.write(journal, pending, true) {
            Ok(()) => {
                info!("backlog spilled {n} readings (seq {first}..={last}) to the journal, {waiting} unacked")
            }
            Err(e) => error!("backlog: spilling {n} readings: {e}"),
        }
        relock(&self.state).last_spill = Some(now);
    }

    /// `spill` mode: whether readings have waited `after` for their ack, and the last spill is at
    /// least `after` ago.
    fn spill_due(&self, after: Duration) -> bool {
        let after = after.as_millis() as u64;
        let now = self.clock.boottime_ms();
        let s = relock(&self.state);
        let Some(oldest) = s.unspilled().next() else { return false };
        let old = match &oldest.boot {
            Some(b) if *b == self.boot => now.saturating_sub(oldest.at.boottime_ms) >= after,
            _ => true,
        };
        old && s.last_spill.is_none_or(|t| now.saturating_sub(t) >= after)
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
        let n = s.readings.partition_point(|r| r.seq <= ack);
        let maybe_sent = s.maybe_sent;
        let never_sent: Vec<u64> =
            s.readings.range(..n).map(|r| r.seq).filter(|&seq| seq > maybe_sent).collect();
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
        let spill = self.spill_mode();
        let Some(sync) = relock(&self.state).ack_due(self.limits.ack_every, spill) else { return };
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
            let Some(sync) = s.ack_due(self.limits.ack_every, spill) else { return };
            let mut text = String::with_capacity(24);
            let lines = s.push_pending_ack(&mut text);
            (Pending { text, lines, ack: s.acked, spilled: 0 }, sync)
        };
        // Losing this write only means resending readings, which the server drops as duplicates.
        if let Err(e) = self.write(&mut journal, pending, sync) {
            error!("backlog: {e}");
        }
    }

    /// Journal upkeep, for the sampler every interval (it waits for a write in progress, and a
    /// rewrite takes a while): rewrites a journal that a failed write closed, or that acknowledged
    /// readings and old `a` records make up most of; in `spill` mode, spills readings that waited
    /// too long for their ack.
    pub fn maintain(&self) {
        let mut journal = relock(&self.journal);
        if journal.is_open() {
            self.compact_locked(&mut journal);
        } else if !relock(&self.state).closed {
            if let Err(e) = self.rewrite(&mut journal) {
                error!("backlog: rewriting the journal: {e}");
            }
        }
        if let Durability::Spill { after, .. } = self.limits.durability {
            if self.spill_due(after) {
                self.spill_locked(&mut journal);
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

    /// Rewrites the journal with the live readings after the header, `n` and `a` records, holding
    /// the state lock only while copying them out.
    fn rewrite(&self, journal: &mut AppendLog) -> Result<(), StoreError> {
        let (text, lines, acked, last, counter) = self.snapshot();
        journal.replace(text.as_bytes())?;
        let mut s = relock(&self.state);
        s.journal_lines = lines;
        // Every other write waits for the journal lock: nothing newer can be in it.
        s.acked_in_journal = acked;
        s.spilled = s.spilled.max(last);
        s.reserved = counter;
        s.last_write = Instant::now();
        Ok(())
    }

    /// The text of a rewritten journal, the readings in it, its ack, its highest reading seq and its
    /// counter, copied a chunk at a time so that an answer waits for one chunk at most. Readings
    /// acked between two chunks may still be in it: dead lines, which the next rewrite drops. None
    /// can be added (that takes the journal lock, which the caller holds). The counter is the
    /// reservation while running in `spill` mode, the exact one once closed.
    fn snapshot(&self) -> (String, usize, u64, u64, u64) {
        let (mut text, acked, counter) = {
            let s = relock(&self.state);
            let counter = if s.closed { s.next_seq } else { s.next_seq.max(s.reserved) };
            let mut text = String::with_capacity(128 + s.readings.len() * 110);
            push_header(&mut text, counter, s.acked);
            (text, s.acked, counter)
        };
        let (mut cursor, mut lines) = (acked, 0);
        loop {
            let s = relock(&self.state);
            let start = s.readings.partition_point(|r| r.seq <= cursor);
            let mut n = 0;
            for r in s.readings.range(start..).take(SNAPSHOT_CHUNK) {
                push_reading(&mut text, r);
                cursor = r.seq;
                n += 1;
            }
            lines += n;
            if n < SNAPSHOT_CHUNK {
                return (text, lines, acked, cursor, counter);
            }
        }
    }

    /// Up to `max` readings with `seq > after`, oldest first, stamped for sending now (an age for a
    /// reading of this boot, its wall-clock time for an earlier one); only settled ones (in `sync`
    /// mode a reading is never sent before it is durable).
    pub fn after(&self, after: u64, max: usize) -> Vec<Reading> {
        let now = self.clock.boottime_ms();
        let s = relock(&self.state);
        let start = s.readings.partition_point(|r| r.seq <= after);
        s.readings
            .range(start..)
            .take_while(|r| r.seq <= s.settled)
            .take(max)
            .map(|r| r.to_wire(&self.boot, now))
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

    /// The health reports the sampler left for the connection.
    pub fn health(&self) -> &crate::health::HealthOutbox {
        &self.health
    }

    /// Each sensor's facts the sampler learnt, for the connection.
    pub fn facts(&self) -> &crate::facts_board::FactsBoard {
        &self.facts
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

    /// In `sync` mode, writes (and syncs) an ack not yet in the journal; in `spill` mode rewrites the
    /// journal with every unacked reading, the ack and the exact counter. Then refuses all further
    /// writes. Waits for a write in progress: once this returns no write is half done and none will
    /// start, and the process may exit.
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
            Pending { text, lines, ack: s.acked, spilled: 0 }
        };
        if self.spill_mode() {
            let n = relock(&self.state).unspilled().count();
            match self.rewrite(&mut journal) {
                Ok(()) if n > 0 => info!("backlog spilled {n} readings to the journal before stopping"),
                Ok(()) => {}
                Err(e) => error!("backlog: writing the unacked readings before stopping: {e}"),
            }
        } else if pending.lines > 0 {
            if let Err(e) = self.write(&mut journal, pending, true) {
                error!("backlog: {e}");
            }
        }
    }
}
