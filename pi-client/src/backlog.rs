//! The durable backlog: every reading taken and not yet acknowledged by the server.
//!
//! On disk, in the state dir:
//! - `backlog.log`, an append-only journal, one reading a line in its wire form
//!   (`sensor=value@unix_ms#seq`), `fdatasync`ed after each batch before the readings are reported
//!   as taken. A power cut can only tear the last batch, whose readings were never reported or sent.
//! - `state`, `next_seq` and `acked`, replaced atomically (temp file, fsync, rename, fsync dir).
//! - `lock`, held with `flock` so that two clients never share one backlog.
//!
//! Opening replays the journal: a torn or unparsable line is dropped with a warning, readings with
//! `seq <= acked` are dropped, and the sequence counter continues after the highest seq ever seen.
//! The journal is rewritten without acknowledged readings (temp file + rename) once those make up
//! most of it, so it stays proportional to the backlog.

use cliser_protocol::{Reading, SensorId, Value};
use log::{error, info, warn};
use std::collections::VecDeque;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Readings kept at most: a week at the default 10 s interval is 60,480 per sensor, so this holds a
/// week for 8 sensors. A reading takes about 130 bytes in memory and 45 on disk, so a full backlog
/// costs ~65 MB of RAM and ~23 MB of disk, which a Pi 5 affords.
pub const DEFAULT_CAPACITY: usize = 500_000;

/// Dead (acknowledged or dropped) journal lines tolerated before a rewrite, at the least.
pub const DEFAULT_COMPACT_MIN: usize = 4096;

const JOURNAL: &str = "backlog.log";
const JOURNAL_TMP: &str = "backlog.log.tmp";
const STATE: &str = "state";
const STATE_TMP: &str = "state.tmp";
const LOCK: &str = "lock";

/// Size limits of a [`Backlog`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Readings kept at most; beyond it the oldest are dropped.
    pub capacity: usize,
    /// The journal is rewritten once it has at least this many dead lines and more dead than live.
    pub compact_min: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { capacity: DEFAULT_CAPACITY, compact_min: DEFAULT_COMPACT_MIN }
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
    /// Complete lines in the journal file, live or dead.
    journal_lines: usize,
    /// Readings with `seq > acked`, in seq order.
    readings: VecDeque<Reading>,
    next_seq: u64,
    acked: u64,
    dropped: u64,
    closed: bool,
    _lock: File,
}

/// What the state file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    next_seq: u64,
    acked: u64,
}

impl State {
    fn parse(text: &str) -> Option<State> {
        let (mut next_seq, mut acked) = (None, None);
        for line in text.lines() {
            match line.split_once('=')? {
                ("next_seq", v) => next_seq = Some(v.parse().ok()?),
                ("acked", v) => acked = Some(v.parse().ok()?),
                _ => return None,
            }
        }
        Some(State { next_seq: next_seq?, acked: acked? })
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

impl Backlog {
    /// Opens (creating if needed) the backlog in `dir` and replays it.
    pub fn open(dir: &Path, limits: Limits) -> Result<Backlog, StoreError> {
        std::fs::create_dir_all(dir).map_err(io_err("create state dir", dir))?;
        let lock = lock(dir)?;
        let state_path = dir.join(STATE);
        let state = match std::fs::read_to_string(&state_path) {
            Ok(text) => State::parse(&text).unwrap_or_else(|| {
                // Only a failing disk gets here (the file is replaced atomically). The journal and the
                // server's ack on 140 still give the counter back.
                warn!("backlog: {} is corrupt, ignoring it", state_path.display());
                State { next_seq: 1, acked: 0 }
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => State { next_seq: 1, acked: 0 },
            Err(e) => return Err(io_err("read", &state_path)(e)),
        };
        let journal_path = dir.join(JOURNAL);
        let bytes = match std::fs::read(&journal_path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err("read", &journal_path)(e)),
        };
        let replay = replay(&bytes);
        let max_seq = replay.readings.back().and_then(|r| r.seq).unwrap_or(0);
        let next_seq = state.next_seq.max(max_seq.saturating_add(1)).max(state.acked.saturating_add(1));
        let mut backlog = Backlog {
            dir: dir.to_owned(),
            limits,
            journal: None,
            journal_lines: replay.lines,
            readings: replay
                .readings
                .into_iter()
                .filter(|r| r.seq.is_some_and(|s| s > state.acked))
                .collect(),
            next_seq,
            acked: state.acked,
            dropped: 0,
            closed: false,
            _lock: lock,
        };
        backlog.enforce_capacity();
        if replay.damaged {
            // Appending after a torn line would glue the next reading onto it: rewrite first.
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
        let mut text = String::with_capacity(readings.len() * 48);
        for r in &readings {
            text.push_str(&r.to_string());
            text.push('\n');
        }
        self.readings.extend(readings.iter().cloned());
        match self.journal.as_mut() {
            Some(f) => {
                let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_data());
                match written {
                    Ok(()) => self.journal_lines += readings.len(),
                    Err(e) => {
                        error!(
                            "backlog: writing {}: {e}; keeping the readings in memory",
                            self.dir.join(JOURNAL).display()
                        );
                        self.journal = None;
                    }
                }
            }
            None => {
                if let Err(e) = self.rewrite() {
                    error!("backlog: {e}; keeping the readings in memory");
                }
            }
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
    pub fn ack(&mut self, ack: u64) {
        let mut changed = false;
        if ack >= self.next_seq {
            warn!(
                "backlog: server acked seq {ack} but the next seq is {}; continuing from {}",
                self.next_seq,
                ack + 1
            );
            self.next_seq = ack + 1;
            changed = true;
        }
        if ack > self.acked {
            self.acked = ack;
            let n = self.readings.partition_point(|r| r.seq.is_some_and(|s| s <= ack));
            self.readings.drain(..n);
            changed = true;
        }
        if changed && !self.closed {
            // Losing this write only means resending readings, which the server drops as duplicates.
            if let Err(e) = self.write_state() {
                error!("backlog: {e}");
            }
            self.maybe_compact();
        }
    }

    fn write_state(&self) -> Result<(), StoreError> {
        let text = format!("next_seq={}\nacked={}\n", self.next_seq, self.acked);
        replace_file(&self.dir, STATE_TMP, STATE, text.as_bytes())
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

    /// Rewrites the journal with exactly the live readings. The state is written first: the journal
    /// is about to lose the highest seq, and the counter must never go back.
    fn rewrite(&mut self) -> Result<(), StoreError> {
        self.journal = None;
        self.write_state()?;
        let mut text = String::with_capacity(self.readings.len() * 48);
        for r in &self.readings {
            text.push_str(&r.to_string());
            text.push('\n');
        }
        replace_file(&self.dir, JOURNAL_TMP, JOURNAL, text.as_bytes())?;
        self.journal_lines = self.readings.len();
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

    /// Refuses all further writes, so that once the caller holds the lock and calls this, no write is
    /// half done and none will start: the process may exit.
    pub fn close(&mut self) {
        self.closed = true;
    }
}

struct Replay {
    readings: VecDeque<Reading>,
    lines: usize,
    damaged: bool,
}

fn replay(bytes: &[u8]) -> Replay {
    let mut out = Replay { readings: VecDeque::new(), lines: 0, damaged: false };
    let mut rest = bytes;
    let mut last_seq = 0u64;
    while !rest.is_empty() {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            warn!("backlog: dropping a torn last line of {} bytes (the write was interrupted)", rest.len());
            out.damaged = true;
            break;
        };
        let line = &rest[..nl];
        rest = &rest[nl + 1..];
        out.lines += 1;
        let parsed = std::str::from_utf8(line).ok().and_then(|l| Reading::parse(l).ok());
        match parsed {
            Some(r) if r.seq.is_some_and(|s| s > last_seq) => {
                last_seq = r.seq.unwrap_or(0);
                out.readings.push_back(r);
            }
            _ => {
                let shown = String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned();
                warn!("backlog: dropping an unreadable journal line {shown:?}");
                out.damaged = true;
            }
        }
    }
    out
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
        Limits { capacity: 1000, compact_min: 10 }
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
    fn a_torn_last_line_is_dropped_and_appends_stay_clean() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut b = Backlog::open(dir.path(), small()).unwrap();
            b.record(batch(3), 1);
        }
        let journal = dir.path().join(JOURNAL);
        let mut f = OpenOptions::new().append(true).open(&journal).unwrap();
        f.write_all(b"28-000000000000=21.5@1#").unwrap();
        drop(f);
        {
            let mut b = Backlog::open(dir.path(), small()).unwrap();
            assert_eq!(seqs(&b), [1, 2, 3]);
            assert_eq!(b.record(batch(1), 2)[0].seq, Some(4));
        }
        let b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!(seqs(&b), [1, 2, 3, 4]);
        let text = std::fs::read_to_string(&journal).unwrap();
        assert_eq!(text.lines().count(), 4, "{text}");
    }

    #[test]
    fn garbage_lines_are_skipped_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"a=1@5#1\n\0\0\0\0\nnot a reading\nb=err:crc@6#2\nc=2@7#2\nd=3@8\n\xff\xfe\ne=4@9#7\n";
        std::fs::write(dir.path().join(JOURNAL), text).unwrap();
        let b = Backlog::open(dir.path(), small()).unwrap();
        // The repeated seq 2 and the seq-less line are refused as well.
        assert_eq!(seqs(&b), [1, 2, 7]);
        assert_eq!(b.next_seq(), 8);
        assert_eq!(std::fs::read_to_string(dir.path().join(JOURNAL)).unwrap().lines().count(), 3);
    }

    #[test]
    fn a_corrupt_state_file_falls_back_to_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut b = Backlog::open(dir.path(), small()).unwrap();
            b.record(batch(4), 1);
            b.ack(1);
        }
        std::fs::write(dir.path().join(STATE), "next_seq=zz\n").unwrap();
        let b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!(seqs(&b), [1, 2, 3, 4]); // resent; the server drops the duplicate
        assert_eq!(b.next_seq(), 5);
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
        let lines = std::fs::read_to_string(dir.path().join(JOURNAL)).unwrap().lines().count();
        assert!(lines <= 10 + 4 + 1, "journal has {lines} lines");
        drop(b);
        let b = Backlog::open(dir.path(), small()).unwrap();
        assert_eq!(seqs(&b), [200]);
        assert_eq!(b.next_seq(), 201);
    }

    #[test]
    fn a_full_backlog_drops_the_oldest_and_counts_them() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits { capacity: 10, compact_min: 4 };
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
        let lines = std::fs::read_to_string(dir.path().join(JOURNAL)).unwrap().lines().count();
        assert!(lines <= 10 + 10, "journal has {lines} lines");
        // Reopening with a smaller bound keeps the newest.
        drop(b);
        let b = Backlog::open(dir.path(), Limits { capacity: 3, compact_min: 4 }).unwrap();
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
