//! The durable backlog: every reading taken and not yet acknowledged by the server.
//!
//! # On disk
//!
//! The state dir holds one journal, `backlog.log`, and a `lock` file held with `flock` so that two
//! clients never share one backlog. The journal is append-only text, one record a line:
//!
//! | line | means |
//! |---|---|
//! | `28-0316a2795aff=23.125@1763800000123#42` | a reading in its wire form (`sensor=value@unix_ms#seq`); seqs go up down the file |
//! | `ack 42` | the server has logged every reading with `seq <= 42` |
//! | `next 43` | the seq counter is at least 43 (first line of a rewritten journal) |
//!
//! Sensor ids never contain a space, so the three kinds cannot be mistaken for one another.
//!
//! # What is durable when
//!
//! - **Readings**: each sample batch is appended with one `write` and `fdatasync`ed before its
//!   readings are reported as taken. A power cut can only tear the last batch, whose readings were
//!   never reported or sent.
//! - **The seq counter** is durable by construction: it is one past the highest of the journal's
//!   reading seqs, `ack` values and `next` line, and the journal never loses its highest seq (a
//!   rewrite starts with `next`).
//! - **Acks** get no write or sync of their own. An ack the server sends is kept in memory and
//!   written as an `ack` line in front of the next batch (so that batch's `fdatasync` makes it
//!   durable), alone without a sync if the journal has not been written for [`Limits::ack_every`],
//!   and with a sync by [`Backlog::close`]. Losing one (a crash before the next batch) only means
//!   resending readings, which the server drops by seq. The exception is an ack at or above the
//!   counter (the state dir was wiped): it moves the counter, which must not go back after a
//!   restart, so it is written and synced at once.
//! - **Rewrites** (compaction, and repair after a torn line): `next`, `ack` and the live readings go
//!   to `backlog.log.tmp`, which is synced, renamed over the journal, and the directory synced: after
//!   a crash the journal is the old one or the new one, whole.
//!
//! # Replay
//!
//! Opening reads the journal line by line: a torn last line (no newline: an interrupted write) or an
//! unreadable line is dropped with a warning and the journal rewritten; `acked` is the highest `ack`;
//! readings with `seq <= acked` are dropped; the counter continues as above. The journal is rewritten
//! without acknowledged readings and old `ack` lines once those make up most of it, so it stays
//! proportional to the backlog.
//!
//! Earlier versions kept `next_seq=` and `acked=` in a separate `state` file, replaced (temp file,
//! fsync, rename, fsync dir) on every ack. If one is found it counts like a `next` and an `ack` line,
//! the journal is rewritten at once with both, and the file is removed.

use cliser_protocol::{Reading, SensorId, Value};
use log::{error, info, warn};
use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
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
/// The state file of earlier versions; read once, then removed.
const LEGACY_STATE: &str = "state";
const LEGACY_STATE_TMP: &str = "state.tmp";
const LOCK: &str = "lock";

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

/// Why the backlog could not be opened.
#[derive(Debug)]
pub enum StoreError {
    /// An I/O error on a file of the state dir.
    Io {
        /// What was being done to which file.
        context: String,
        /// The error.
        source: io::Error,
    },
    /// Another client holds the state dir.
    Locked(PathBuf),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Io { context, source } => write!(f, "{context}: {source}"),
            StoreError::Locked(dir) => {
                write!(f, "state dir {} is in use by another cliser-pi-client", dir.display())
            }
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Io { source, .. } => Some(source),
            StoreError::Locked(_) => None,
        }
    }
}

fn io_err(context: impl fmt::Display, path: &Path) -> impl FnOnce(io::Error) -> StoreError {
    let context = format!("{context} {}", path.display());
    move |source| StoreError::Io { context, source }
}

/// The backlog of unacknowledged readings and the sequence counter, kept in a state dir.
#[derive(Debug)]
pub struct Backlog {
    dir: PathBuf,
    limits: Limits,
    /// Append handle on the journal; `None` after a failed write, until a rewrite succeeds.
    journal: Option<File>,
    /// Lines in the journal after its `next`/`ack` header, live or dead.
    journal_lines: usize,
    /// Readings with `seq > acked`, in seq order.
    readings: VecDeque<Reading>,
    next_seq: u64,
    acked: u64,
    /// The highest ack written to the journal (synced or not).
    acked_in_journal: u64,
    /// When the journal was last written.
    last_write: Instant,
    /// An earlier version's `state` file is there, to be removed once the journal holds what it says.
    legacy_state: bool,
    dropped: u64,
    closed: bool,
    _lock: File,
}

/// What an earlier version's state file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LegacyState {
    next_seq: u64,
    acked: u64,
}

impl LegacyState {
    fn parse(text: &str) -> Option<LegacyState> {
        let (mut next_seq, mut acked) = (None, None);
        for line in text.lines() {
            match line.split_once('=')? {
                ("next_seq", v) => next_seq = Some(v.parse().ok()?),
                ("acked", v) => acked = Some(v.parse().ok()?),
                _ => return None,
            }
        }
        Some(LegacyState { next_seq: next_seq?, acked: acked? })
    }

    /// Reads `dir/state`: `None` if there is none.
    fn read(dir: &Path) -> Result<Option<LegacyState>, StoreError> {
        let path = dir.join(LEGACY_STATE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(LegacyState::parse(&text).unwrap_or_else(|| {
                // Only a failing disk gets here (the file was replaced atomically). The journal and
                // the server's ack on 140 still give the counter back.
                warn!("backlog: {} is corrupt, ignoring it", path.display());
                LegacyState { next_seq: 1, acked: 0 }
            }))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err("fsync dir", dir))
}

/// Writes `data` to `dir/tmp`, syncs it, renames it over `dir/name` and syncs the directory, so that
/// after a crash the file is either the old one or the new one, whole.
fn replace_file(dir: &Path, tmp: &str, name: &str, data: &[u8]) -> Result<(), StoreError> {
    let tmp_path = dir.join(tmp);
    let mut f = File::create(&tmp_path).map_err(io_err("create", &tmp_path))?;
    f.write_all(data).map_err(io_err("write", &tmp_path))?;
    f.sync_data().map_err(io_err("fsync", &tmp_path))?;
    drop(f);
    let path = dir.join(name);
    std::fs::rename(&tmp_path, &path).map_err(io_err("rename to", &path))?;
    sync_dir(dir)
}

fn lock(dir: &Path) -> Result<File, StoreError> {
    let path = dir.join(LOCK);
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_err("open", &path))?;
    // SAFETY: flock on a file descriptor we own; released by the kernel when the process dies.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(StoreError::Locked(dir.to_owned()));
        }
        return Err(io_err("flock", &path)(e));
    }
    Ok(f)
}

/// Appends `r` as a journal line.
fn push_reading(text: &mut String, r: &Reading) {
    // Writing into a String cannot fail.
    let _ = writeln!(text, "{r}");
}

impl Backlog {
    /// Opens (creating if needed) the backlog in `dir` and replays it.
    pub fn open(dir: &Path, limits: Limits) -> Result<Backlog, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_err("create state dir", dir))?;
        let lock = lock(dir)?;
        let legacy = LegacyState::read(dir)?;
        let journal_path = dir.join(JOURNAL);
        let replay = match File::open(&journal_path) {
            Ok(f) => replay(f).map_err(io_err("read", &journal_path))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Replay::default(),
            Err(e) => return Err(io_err("read", &journal_path)(e)),
        };
        let legacy_acked = legacy.map_or(0, |s| s.acked);
        let acked = replay.acked.max(legacy_acked);
        let max_seq = replay.readings.back().and_then(|r| r.seq).unwrap_or(0);
        let next_seq = replay
            .next_seq
            .max(legacy.map_or(1, |s| s.next_seq))
            .max(max_seq.saturating_add(1))
            .max(acked.saturating_add(1));
        let mut backlog = Backlog {
            dir: dir.to_owned(),
            limits,
            journal: None,
            journal_lines: replay.lines,
            readings: replay.readings.into_iter().filter(|r| r.seq.is_some_and(|s| s > acked)).collect(),
            next_seq,
            acked,
            acked_in_journal: replay.acked,
            last_write: Instant::now(),
            legacy_state: legacy.is_some(),
            dropped: 0,
            closed: false,
            _lock: lock,
        };
        backlog.enforce_capacity();
        if replay.damaged || backlog.legacy_state {
            // Appending after a torn line would glue the next record onto it; a legacy state file
            // must be in the journal before it goes: rewrite first.
            backlog.rewrite()?;
        } else {
            backlog.journal = Some(backlog.open_journal()?);
            backlog.maybe_compact();
        }
        match (backlog.readings.front(), backlog.readings.back()) {
            (Some(first), Some(last)) => info!(
                "backlog: {} readings waiting (seq {}..={}), next seq {}",
                backlog.readings.len(),
                first.seq.unwrap_or(0),
                last.seq.unwrap_or(0),
                backlog.next_seq
            ),
            _ => info!("backlog: empty, next seq {}", backlog.next_seq),
        }
        Ok(backlog)
    }

    fn open_journal(&self) -> Result<File, StoreError> {
        let path = self.dir.join(JOURNAL);
        let existed = path.exists();
        let f = OpenOptions::new().create(true).append(true).open(&path).map_err(io_err("open", &path))?;
        if !existed {
            sync_dir(&self.dir)?;
        }
        Ok(f)
    }

    /// `ack <n>` for an ack not yet in the journal.
    fn push_pending_ack(&self, text: &mut String) -> usize {
        if self.acked > self.acked_in_journal {
            let _ = writeln!(text, "ack {}", self.acked);
            1
        } else {
            0
        }
    }

    /// Appends `text` (`lines` lines) to the journal with one `write`, then `fdatasync`s it if `sync`.
    /// On failure the journal is dropped (the next write rewrites it whole) and the error returned.
    fn append(&mut self, text: &str, lines: usize, sync: bool) -> Result<(), StoreError> {
        let path = self.dir.join(JOURNAL);
        let Some(f) = self.journal.as_mut() else {
            return self.rewrite();
        };
        let written = f.write_all(text.as_bytes()).and_then(|()| if sync { f.sync_data() } else { Ok(()) });
        match written {
            Ok(()) => {
                self.journal_lines += lines;
                self.acked_in_journal = self.acked;
                self.last_write = Instant::now();
                Ok(())
            }
            Err(e) => {
                self.journal = None;
                Err(io_err("write", &path)(e))
            }
        }
    }

    /// Gives the readings of one sample batch their seqs, writes them durably, and keeps them until
    /// acknowledged. Returns them as recorded. If the disk fails they are still kept (and sent) from
    /// memory, and the journal is rewritten whole at the next chance.
    pub fn record(&mut self, batch: Vec<(SensorId, Value)>, unix_ms: u64) -> Vec<Reading> {
        if self.closed || batch.is_empty() {
            return Vec::new();
        }
        let readings: Vec<Reading> = batch
            .into_iter()
            .map(|(sensor, value)| {
                let seq = self.next_seq;
                self.next_seq += 1;
                Reading { sensor, value, unix_ms: Some(unix_ms), seq: Some(seq) }
            })
            .collect();
        let mut text = String::with_capacity(16 + readings.len() * 48);
        let acks = self.push_pending_ack(&mut text);
        for r in &readings {
            push_reading(&mut text, r);
        }
        self.readings.extend(readings.iter().cloned());
        if let Err(e) = self.append(&text, acks + readings.len(), true) {
            error!("backlog: {e}; keeping the readings in memory");
        }
        self.enforce_capacity();
        self.maybe_compact();
        readings
    }

    fn enforce_capacity(&mut self) {
        let excess = self.readings.len().saturating_sub(self.limits.capacity);
        if excess == 0 {
            return;
        }
        let first = self.readings.front().and_then(|r| r.seq).unwrap_or(0);
        self.readings.drain(..excess);
        self.dropped += excess as u64;
        let last = first + excess as u64 - 1;
        warn!(
            "backlog full ({} readings): dropped the {excess} oldest (seq {first}..={last}), {} dropped since start",
            self.limits.capacity, self.dropped
        );
    }

    /// The server has logged every reading with `seq <= ack`: forget them. If the counter is not past
    /// `ack` (the state dir was lost, or another install used this id), it jumps past it, or the
    /// server would drop the next readings as duplicates.
    ///
    /// The ack reaches the journal lazily (see the module docs), except one that moves the counter.
    pub fn ack(&mut self, ack: u64) {
        let mut moved_counter = false;
        if ack >= self.next_seq {
            warn!(
                "backlog: server acked seq {ack} but the next seq is {}; continuing from {}",
                self.next_seq,
                ack + 1
            );
            self.next_seq = ack + 1;
            moved_counter = true;
        }
        if ack <= self.acked {
            return;
        }
        self.acked = ack;
        let n = self.readings.partition_point(|r| r.seq.is_some_and(|s| s <= ack));
        self.readings.drain(..n);
        if self.closed {
            return;
        }
        // A counter that went back would reuse seqs the server has: that ack is synced at once.
        if moved_counter || self.last_write.elapsed() >= self.limits.ack_every {
            self.write_ack(moved_counter);
        }
        self.maybe_compact();
    }

    /// Writes the pending ack line, synced if `sync`.
    fn write_ack(&mut self, sync: bool) {
        let mut text = String::with_capacity(24);
        let lines = self.push_pending_ack(&mut text);
        if lines == 0 {
            return;
        }
        // Losing this write only means resending readings, which the server drops as duplicates.
        if let Err(e) = self.append(&text, lines, sync) {
            error!("backlog: {e}");
        }
    }

    fn maybe_compact(&mut self) {
        let dead = self.journal_lines.saturating_sub(self.readings.len());
        if self.closed || dead < self.limits.compact_min.max(self.readings.len()) {
            return;
        }
        if let Err(e) = self.rewrite() {
            error!("backlog: compacting: {e}");
        }
    }

    /// Rewrites the journal with exactly the live readings, after a `next` line (the journal is
    /// about to lose its highest seq, and the counter must never go back) and an `ack` line.
    fn rewrite(&mut self) -> Result<(), StoreError> {
        self.journal = None;
        let mut text = String::with_capacity(48 + self.readings.len() * 48);
        let _ = write!(text, "next {}\nack {}\n", self.next_seq, self.acked);
        for r in &self.readings {
            push_reading(&mut text, r);
        }
        replace_file(&self.dir, JOURNAL_TMP, JOURNAL, text.as_bytes())?;
        self.journal_lines = self.readings.len();
        self.acked_in_journal = self.acked;
        self.last_write = Instant::now();
        if self.legacy_state {
            // The journal now says all the state file said. Should the removal itself be lost, the
            // file is read again as a lower bound, which it still is.
            for name in [LEGACY_STATE, LEGACY_STATE_TMP] {
                let path = self.dir.join(name);
                if let Err(e) = std::fs::remove_file(&path) {
                    if e.kind() != io::ErrorKind::NotFound {
                        warn!("backlog: cannot remove the old {}: {e}", path.display());
                    }
                }
            }
            self.legacy_state = false;
            info!("backlog: moved the old state file into {}", self.dir.join(JOURNAL).display());
        }
        self.journal = Some(self.open_journal()?);
        Ok(())
    }

    /// Up to `max` readings with `seq > after`, oldest first.
    pub fn after(&self, after: u64, max: usize) -> Vec<Reading> {
        let start = self.readings.partition_point(|r| r.seq.is_some_and(|s| s <= after));
        self.readings.range(start..).take(max).cloned().collect()
    }

    /// Readings waiting for an ack.
    pub fn len(&self) -> usize {
        self.readings.len()
    }

    /// Whether no reading waits for an ack.
    pub fn is_empty(&self) -> bool {
        self.readings.is_empty()
    }

    /// The seq the next reading will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The highest seq the server has acknowledged.
    pub fn acked(&self) -> u64 {
        self.acked
    }

    /// Readings dropped because the backlog was full, since this process started.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Writes (and syncs) an ack not yet in the journal, then refuses all further writes, so that
    /// once the caller holds the lock and calls this, no write is half done and none will start: the
    /// process may exit.
    pub fn close(&mut self) {
        if !self.closed {
            self.write_ack(true);
            self.closed = true;
        }
    }
}

/// What a journal says.
#[derive(Default)]
struct Replay {
    readings: VecDeque<Reading>,
    /// Complete lines after the `next`/`ack` header of a rewritten journal.
    lines: usize,
    /// The highest `ack` line.
    acked: u64,
    /// The highest `next` line (1 if none).
    next_seq: u64,
    /// A line was torn or unreadable: rewrite before appending.
    damaged: bool,
}

/// One journal line.
enum Line {
    Reading(Reading),
    Ack(u64),
    Next(u64),
}

fn parse_line(line: &[u8]) -> Option<Line> {
    let line = std::str::from_utf8(line).ok()?;
    let number = |v: &str| {
        if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        v.parse().ok()
    };
    if let Some(v) = line.strip_prefix("ack ") {
        return number(v).map(Line::Ack);
    }
    if let Some(v) = line.strip_prefix("next ") {
        return number(v).map(Line::Next);
    }
    Reading::parse(line).ok().map(Line::Reading)
}

/// Reads the journal line by line (never the whole file at once: a full backlog is ~23 MB).
fn replay(file: File) -> io::Result<Replay> {
    let mut out = Replay { next_seq: 1, ..Replay::default() };
    let mut input = BufReader::with_capacity(16 * 1024, file);
    let mut line = Vec::with_capacity(128);
    let mut last_seq = 0u64;
    let mut header = true;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let Some(body) = line.strip_suffix(b"\n") else {
            warn!("backlog: dropping a torn last line of {} bytes (the write was interrupted)", line.len());
            out.damaged = true;
            break;
        };
        let parsed = parse_line(body);
        // A rewritten journal starts with `next` and `ack`: not counted as dead lines.
        header &= matches!(parsed, Some(Line::Next(_) | Line::Ack(_)));
        match parsed {
            Some(Line::Reading(r)) if r.seq.is_some_and(|s| s > last_seq) => {
                last_seq = r.seq.unwrap_or(0);
                out.readings.push_back(r);
            }
            Some(Line::Ack(n)) => out.acked = out.acked.max(n),
            Some(Line::Next(n)) => out.next_seq = out.next_seq.max(n),
            _ => {
                let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
                warn!("backlog: dropping an unreadable journal line {shown:?}");
                out.damaged = true;
            }
        }
        if !header {
            out.lines += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliser_protocol::Celsius;

    fn batch(n: usize) -> Vec<(SensorId, Value)> {
        (0..n)
            .map(|i| {
                let sensor = SensorId::new(&format!("28-00000000000{i}")).unwrap();
                (sensor, Value::Celsius(Celsius::from_millis(21_000 + i as i32).unwrap()))
            })
            .collect()
    }

    fn seqs(b: &Backlog) -> Vec<u64> {
        b.after(0, usize::MAX).iter().map(|r| r.seq.unwrap()).collect()
    }

    fn small() -> Limits {
        Limits { capacity: 1000, compact_min: 10, ack_every: DEFAULT_ACK_EVERY }
    }

    fn journal_text(dir: &Path) -> String {
        std::fs::read_to_string(dir.join(JOURNAL)).unwrap()
    }

    fn append_raw(dir: &Path, bytes: &[u8]) {
        OpenOptions::new().append(true).open(dir.join(JOURNAL)).unwrap().write_all(bytes).unwrap();
    }

    #[test]
    fn seqs_go_up_by_one_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut b = Backlog::open(dir.path(), small()).unwrap();
            let r = b.record(batch(3), 1_700_000_000_000);
            assert_eq!(r.iter().map(|r| r.seq.unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
            b.record(batch(2), 1_700_000_010_000);
        }
        let mut b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!(seqs(&b), [1, 2, 3, 4, 5]);
        assert_eq!(b.next_seq(), 6);
        assert_eq!(b.after(0, 1)[0].unix_ms, Some(1_700_000_000_000));
        b.ack(5);
        assert!(b.is_empty());
        b.close();
        drop(b);
        // All acked and maybe compacted away: the counter still continues.
        let mut b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!((b.len(), b.next_seq(), b.acked()), (0, 6, 5));
        assert_eq!(b.record(batch(1), 1)[0].seq, Some(6));
    }

    #[test]
    fn ack_trims_and_moves_the_counter_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Backlog::open(dir.path(), small()).unwrap();
        b.record(batch(5), 1);
        b.ack(2);
        assert_eq!(seqs(&b), [3, 4, 5]);
        b.ack(1); // an old ack changes nothing
        assert_eq!(seqs(&b), [3, 4, 5]);
        assert_eq!(b.after(3, 10).len(), 2);
        assert_eq!(b.after(3, 1)[0].seq, Some(4));
        b.ack(100); // the server knows of more than this state dir does
        assert!(b.is_empty());
        assert_eq!(b.next_seq(), 101);
        assert_eq!(b.record(batch(1), 1)[0].seq, Some(101));
        drop(b);
        assert_eq!(Backlog::open(dir.path(), small()).unwrap().next_seq(), 102);
    }

    #[test]
    fn an_ack_that_moves_the_counter_is_durable_at_once() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut b = Backlog::open(dir.path(), small()).unwrap();
            b.record(batch(2), 1);
            b.ack(100);
            // Dropped without close: a crash before any other write.
        }
        assert!(journal_text(dir.path()).ends_with("ack 100\n"), "{}", journal_text(dir.path()));
        let mut b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!((b.len(), b.acked(), b.next_seq()), (0, 100, 101));
        assert_eq!(b.record(batch(1), 1)[0].seq, Some(101));
    }

    #[test]
    fn acks_ride_on_the_next_batch_without_a_write_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Backlog::open(dir.path(), small()).unwrap();
        b.record(batch(3), 1);
        let before = journal_text(dir.path());
        b.ack(2);
        b.ack(3);
        assert_eq!(journal_text(dir.path()), before, "an ack alone writes nothing");
        b.record(batch(1), 2);
        let text = journal_text(dir.path());
        let tail: Vec<&str> = text.lines().rev().take(2).collect();
        assert!(tail[1] == "ack 3" && tail[0].ends_with("#4"), "{text}");
        drop(b);
        let b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!((seqs(&b), b.acked(), b.next_seq()), (vec![4], 3, 5));
    }

    #[test]
    fn an_idle_journal_gets_the_ack_after_ack_every_and_close_writes_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Backlog::open(dir.path(), Limits { ack_every: Duration::ZERO, ..small() }).unwrap();
        b.record(batch(3), 1);
        b.ack(1);
        assert!(journal_text(dir.path()).ends_with("ack 1\n"));
        drop(b);
        let mut b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!((seqs(&b), b.acked()), (vec![2, 3], 1));
        b.ack(2);
        b.close();
        assert!(journal_text(dir.path()).ends_with("ack 2\n"));
        b.ack(3); // closed: trims memory, writes nothing
        assert!(journal_text(dir.path()).ends_with("ack 2\n"));
        drop(b);
        let b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!((seqs(&b), b.acked(), b.next_seq()), (vec![3], 2, 4));
    }

    #[test]
    fn an_ack_lost_before_it_was_synced_only_resends() {
        let dir = tempfile::tempdir().unwrap();
        {
            // Never written: a crash before the next batch.
            let mut b = Backlog::open(dir.path(), small()).unwrap();
            b.record(batch(3), 1);
            b.ack(2);
        }
        {
            let mut b = Backlog::open(dir.path(), small()).unwrap();
            assert_eq!((seqs(&b), b.acked(), b.next_seq()), (vec![1, 2, 3], 0, 4));
            // Written without a sync, and then lost with the page cache (a power cut).
            let len = std::fs::metadata(dir.path().join(JOURNAL)).unwrap().len();
            b.limits.ack_every = Duration::ZERO;
            b.ack(3);
            assert!(journal_text(dir.path()).ends_with("ack 3\n"));
            drop(b);
            OpenOptions::new().write(true).open(dir.path().join(JOURNAL)).unwrap().set_len(len).unwrap();
        }
        let mut b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!((seqs(&b), b.acked(), b.next_seq()), (vec![1, 2, 3], 0, 4));
        assert_eq!(b.record(batch(1), 2)[0].seq, Some(4), "no seq is reused");
    }

    #[test]
    fn a_torn_ack_line_is_dropped_and_appends_stay_clean() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut b = Backlog::open(dir.path(), small()).unwrap();
            b.record(batch(3), 1);
        }
        append_raw(dir.path(), b"ack 3"); // "ack 3\n" cut short (or "ack 31\n")
        {
            let mut b = Backlog::open(dir.path(), small()).unwrap();
            assert_eq!((seqs(&b), b.acked(), b.next_seq()), (vec![1, 2, 3], 0, 4));
            assert_eq!(b.record(batch(1), 2)[0].seq, Some(4));
        }
        let b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!((seqs(&b), b.acked()), (vec![1, 2, 3, 4], 0));
        let text = journal_text(dir.path());
        assert!(text.lines().all(|l| !l.starts_with("ack 3")), "{text}");
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_appends_stay_clean() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut b = Backlog::open(dir.path(), small()).unwrap();
            b.record(batch(3), 1);
        }
        append_raw(dir.path(), b"28-000000000000=21.5@1#");
        {
            let mut b = Backlog::open(dir.path(), small()).unwrap();
            assert_eq!(seqs(&b), [1, 2, 3]);
            assert_eq!(b.record(batch(1), 2)[0].seq, Some(4));
        }
        let b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!(seqs(&b), [1, 2, 3, 4]);
        // The repair rewrote the journal: a `next 4` and `ack 0` header, then the four readings.
        let text = journal_text(dir.path());
        assert_eq!(text.lines().filter(|l| l.contains('#')).count(), 4, "{text}");
        assert!(text.starts_with("next 4\nack 0\n"), "{text}");
    }

    #[test]
    fn garbage_lines_are_skipped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"a=1@5#1\n\0\0\0\0\nnot a reading\nack x\nack -1\nnext\nb=err:crc@6#2\nc=2@7#2\nd=3@8\n\xff\xfe\ne=4@9#7\n";
        std::fs::write(dir.path().join(JOURNAL), text).unwrap();
        let b = Backlog::open(dir.path(), small()).unwrap();
        // The repeated seq 2 and the seq-less line are refused as well.
        assert_eq!(seqs(&b), [1, 2, 7]);
        assert_eq!((b.acked(), b.next_seq()), (0, 8));
        assert_eq!(journal_text(dir.path()).lines().filter(|l| l.contains('#')).count(), 3);
    }

    #[test]
    fn an_old_state_file_moves_into_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let old: String = (39..=45).map(|s| format!("28-000000000000=21.5@1#{s}\n")).collect();
        std::fs::write(dir.path().join(JOURNAL), old).unwrap();
        std::fs::write(dir.path().join(LEGACY_STATE), "next_seq=50\nacked=40\n").unwrap();
        std::fs::write(dir.path().join(LEGACY_STATE_TMP), "next_seq=4").unwrap();
        {
            let b = Backlog::open(dir.path(), small()).unwrap();
            assert_eq!((seqs(&b), b.acked(), b.next_seq()), ((41..=45).collect(), 40, 50));
        }
        assert!(!dir.path().join(LEGACY_STATE).exists() && !dir.path().join(LEGACY_STATE_TMP).exists());
        assert!(journal_text(dir.path()).starts_with("next 50\nack 40\n"));
        let b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!((seqs(&b), b.acked(), b.next_seq()), ((41..=45).collect(), 40, 50));
    }

    #[test]
    fn a_corrupt_old_state_file_falls_back_to_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut b = Backlog::open(dir.path(), small()).unwrap();
            b.record(batch(4), 1);
        }
        std::fs::write(dir.path().join(LEGACY_STATE), "next_seq=zz\n").unwrap();
        let b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!(seqs(&b), [1, 2, 3, 4]);
        assert_eq!(b.next_seq(), 5);
        assert!(!dir.path().join(LEGACY_STATE).exists());
    }

    #[test]
    fn compaction_keeps_the_journal_proportional() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Backlog::open(dir.path(), small()).unwrap();
        for round in 0..50u64 {
            b.record(batch(4), round);
            b.ack(b.next_seq() - 2);
        }
        assert_eq!(b.len(), 1);
        // Live 1, dead below 10 readings and ack lines, the two header lines.
        let lines = journal_text(dir.path()).lines().count();
        assert!(lines <= 2 + 10 + 4 + 1, "journal has {lines} lines");
        drop(b);
        // A crash: the last ack (199) had not reached the journal yet, the one before had.
        let mut b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!((seqs(&b), b.acked()), ((196..=200).collect(), 195));
        b.ack(199);
        b.close();
        drop(b);
        let b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!(seqs(&b), [200]);
        assert_eq!(b.next_seq(), 201);
    }

    #[test]
    fn compaction_keeps_the_counter_when_everything_is_acked() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut b = Backlog::open(dir.path(), Limits { compact_min: 4, ..small() }).unwrap();
            b.record(batch(5), 1);
            b.ack(5); // 5 dead lines, none live: rewritten without a single reading
            let text = journal_text(dir.path());
            assert_eq!(text, "next 6\nack 5\n");
            // Dropped without close: nothing else reaches the journal.
        }
        let mut b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!((b.len(), b.acked(), b.next_seq()), (0, 5, 6));
        assert_eq!(b.record(batch(1), 1)[0].seq, Some(6));
        drop(b);
        // Header lines are not dead lines: reopening does not rewrite again and again.
        let before = journal_text(dir.path());
        let _b = Backlog::open(dir.path(), Limits { compact_min: 2, ..small() }).unwrap();
        assert_eq!(journal_text(dir.path()), before);
    }

    #[test]
    fn a_full_backlog_drops_the_oldest_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits { capacity: 10, compact_min: 4, ack_every: DEFAULT_ACK_EVERY };
        let mut b = Backlog::open(dir.path(), limits).unwrap();
        for _ in 0..5 {
            b.record(batch(3), 1);
        }
        assert_eq!(seqs(&b), (6..=15).collect::<Vec<_>>());
        assert_eq!(b.dropped(), 5);
        drop(b);
        let b = Backlog::open(dir.path(), limits).unwrap();
        assert_eq!(seqs(&b), (6..=15).collect::<Vec<_>>());
        assert_eq!(b.next_seq(), 16);
        let lines = journal_text(dir.path()).lines().count();
        assert!(lines <= 2 + 10 + 10, "journal has {lines} lines");
        // Reopening with a smaller bound keeps the newest.
        drop(b);
        let b = Backlog::open(dir.path(), Limits { capacity: 3, ..limits }).unwrap();
        assert_eq!(seqs(&b), [13, 14, 15]);
    }

    #[test]
    fn one_state_dir_one_client() {
        let dir = tempfile::tempdir().unwrap();
        let _b = Backlog::open(dir.path(), small()).unwrap();
        assert!(matches!(Backlog::open(dir.path(), small()), Err(StoreError::Locked(_))));
    }

    #[test]
    fn closed_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Backlog::open(dir.path(), small()).unwrap();
        b.close();
        assert!(b.record(batch(2), 1).is_empty());
        assert_eq!(b.next_seq(), 1);
    }
}
