//! The journal's line format (v1): a header line, then one record a line, each ending in a CRC32 of
//! the rest of the line, and reading a journal back.
//!
//! | line | means |
//! |---|---|
//! | `cliser-backlog v1 *<crc>` | the header: the format and its version (first line) |
//! | `r 42 <boot id> 81234 1763800000123 s 28-0316a2795aff=23.125 *<crc>` | a reading: seq, the boot it was taken in (`-` if unknown), `CLOCK_BOOTTIME` ms, wall-clock Unix ms, `s`/`u` (wall clock synchronised or not), `sensor=value`; seqs go up down the file |
//! | `a 42 *<crc>` | the server has logged every reading with `seq <= 42` |
//! | `n 43 *<crc>` | the seq counter is at least 43 (written twice at the top of a rewritten journal, and to reserve seqs ahead in `spill` mode) |
//!
//! `<crc>` is the CRC32 (`crc32fast`) of the bytes before ` *`, as 8 lower-case hex digits. A record
//! whose check fails is reported with its line number and skipped: a damaged `a` is as if absent (the
//! readings it covered are sent again, and the server drops them by seq), so damage can cause a
//! resend, never a loss. A header with a good check and another version is refused.
//!
//! Journals written before v1 (no header, no checks: `sensor=value@unix_ms#seq`, `ack N`, `next N`)
//! are read once and rewritten as v1. Their readings have no boot id, so they are sent with their
//! wall-clock time.

use super::entry::Entry;
use crate::clock::Moment;
use cliser_protocol::{Reading, Stamp};
use log::warn;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read};

/// The header's text (before its check).
pub(super) const HEADER: &str = "cliser-backlog v1";
const HEADER_PREFIX: &str = "cliser-backlog ";

/// What a journal says.
#[derive(Debug)]
pub(super) struct Replay {
    /// The readings, in seq order.
    pub readings: VecDeque<Entry>,
    /// Complete lines after the header lines (`n`, `a`) of a rewritten journal.
    pub lines: usize,
    /// The highest `a` record (0 if none).
    pub acked: u64,
    /// The highest `n` record (1 if none).
    pub next_seq: u64,
    /// A line was torn, unreadable or failed its check: the journal must be rewritten before anything
    /// is appended.
    pub damaged: bool,
    /// The journal is in the format before v1: rewrite it as v1.
    pub legacy: bool,
    /// The first line is a good v1 header (false for an empty or missing journal: it is written
    /// whole, header first).
    pub header: bool,
}

impl Default for Replay {
    /// What an empty (or missing) journal says.
    fn default() -> Self {
        Replay {
            readings: VecDeque::new(),
            lines: 0,
            acked: 0,
            next_seq: 1,
            damaged: false,
            legacy: false,
            header: false,
        }
    }
}

/// The journal cannot be read at all.
#[derive(Debug)]
pub(super) enum ReplayError {
    /// Reading the file failed.
    Io(io::Error),
    /// A header with a good check names a version this client does not know.
    Version(String),
}

impl From<io::Error> for ReplayError {
    fn from(e: io::Error) -> Self {
        ReplayError::Io(e)
    }
}

/// Appends `body`, its check and the newline.
fn push_checked(text: &mut String, start: usize) {
    let crc = crc32fast::hash(&text.as_bytes()[start..]);
    // Writing into a String cannot fail.
    let _ = writeln!(text, " *{crc:08x}");
}

/// Appends `r` as a journal record.
pub(super) fn push_reading(text: &mut String, r: &Entry) {
    let start = text.len();
    let _ = write!(
        text,
        "r {} {} {} {} {} {}={}",
        r.seq,
        r.boot.as_deref().unwrap_or("-"),
        r.at.boottime_ms,
        r.at.wall_ms,
        if r.at.synced { 's' } else { 'u' },
        r.sensor,
        r.value
    );
    push_checked(text, start);
}

/// Appends an `a` record.
pub(super) fn push_ack(text: &mut String, ack: u64) {
    let start = text.len();
    let _ = write!(text, "a {ack}");
    push_checked(text, start);
}

/// Appends an `n` record.
pub(super) fn push_next(text: &mut String, next_seq: u64) {
    let start = text.len();
    let _ = write!(text, "n {next_seq}");
    push_checked(text, start);
}

/// Appends the start of a rewritten journal: the header, the counter (the rewrite may drop the
/// highest seq, and the counter must never go back: twice, so that one damaged record cannot lose
/// it) and the ack.
pub(super) fn push_header(text: &mut String, next_seq: u64, acked: u64) {
    let start = text.len();
    text.push_str(HEADER);
    push_checked(text, start);
    push_next(text, next_seq);
    push_next(text, next_seq);
    push_ack(text, acked);
}

/// One journal line.
#[derive(Debug, PartialEq)]
enum Line {
    Header(String),
    Reading(Entry),
    Ack(u64),
    Next(u64),
}

fn number(v: &str) -> Option<u64> {
    if v.is_empty() || v.len() > 20 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// A v1 line: `None` if its check fails or it makes no sense.
fn parse_v1(line: &[u8]) -> Option<Line> {
    let cut = line.len().checked_sub(10)?;
    let (body, tail) = line.split_at(cut);
    let hex = tail.strip_prefix(b" *")?;
    let hex = std::str::from_utf8(hex).ok()?;
    if !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    if u32::from_str_radix(hex, 16).ok()? != crc32fast::hash(body) {
        return None;
    }
    let body = std::str::from_utf8(body).ok()?;
    if let Some(version) = body.strip_prefix(HEADER_PREFIX) {
        return Some(Line::Header(version.to_owned()));
    }
    let mut fields = body.split(' ');
    let line = match fields.next()? {
        "a" => Line::Ack(number(fields.next()?)?),
        "n" => Line::Next(number(fields.next()?)?),
        "r" => {
            let seq = number(fields.next()?)?;
            let boot = match fields.next()? {
                "-" => None,
                b => Some(b.into()),
            };
            let boottime_ms = number(fields.next()?)?;
            let wall_ms = number(fields.next()?)?;
            let synced = match fields.next()? {
                "s" => true,
                "u" => false,
                _ => return None,
            };
            let r = Reading::parse(fields.next()?).ok()?;
            if r.stamp.is_some() || r.seq.is_some() {
                return None;
            }
            Line::Reading(Entry {
                sensor: r.sensor,
                value: r.value,
                seq,
                boot,
                at: Moment { boottime_ms, wall_ms, synced },
            })
        }
        _ => return None,
    };
    fields.next().is_none().then_some(line)
}

/// A line of a journal from before v1.
fn parse_legacy(line: &[u8]) -> Option<Line> {
    let line = std::str::from_utf8(line).ok()?;
    if let Some(v) = line.strip_prefix("ack ") {
        return number(v).map(Line::Ack);
    }
    if let Some(v) = line.strip_prefix("next ") {
        return number(v).map(Line::Next);
    }
    let r = Reading::parse(line).ok()?;
    let (wall_ms, synced) = match r.stamp {
        Some(Stamp::At { unix_ms, synced }) => (unix_ms, synced),
        // Never written by an older client; kept rather than lost, with a time that says so.
        _ => (0, false),
    };
    Some(Line::Reading(Entry {
        sensor: r.sensor,
        value: r.value,
        seq: r.seq?,
        boot: None,
        at: Moment { boottime_ms: 0, wall_ms, synced },
    }))
}

/// Reads a journal line by line (never the whole file at once: a full backlog is tens of MB).
///
/// The format is decided by the first line: a line of the old format makes the whole journal an old
/// one; anything else is v1 (a damaged header included). Torn last lines (no newline: an
/// interrupted write), lines that fail their check or cannot be read, and readings whose seq does not
/// go up are reported with their line number and skipped; any of them marks the journal damaged.
pub(super) fn replay(input: impl Read) -> Result<Replay, ReplayError> {
    let mut out = Replay::default();
    let mut input = BufReader::with_capacity(16 * 1024, input);
    let mut line = Vec::with_capacity(160);
    let mut last_seq = 0u64;
    let mut header = true;
    let mut lineno = 0usize;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        lineno += 1;
        let Some(body) = line.strip_suffix(b"\n") else {
            warn!(
                "backlog: journal line {lineno}: dropping a torn last line of {} bytes (the write was \
                 interrupted)",
                line.len()
            );
            out.damaged = true;
            break;
        };
        if lineno == 1 {
            out.legacy = parse_v1(body).is_none() && parse_legacy(body).is_some();
        }
        let parsed = if out.legacy { parse_legacy(body) } else { parse_v1(body) };
        // A rewritten journal starts with its header lines: not counted as dead lines.
        header &= matches!(parsed, Some(Line::Header(_) | Line::Next(_) | Line::Ack(_)));
        match parsed {
            Some(Line::Header(version)) if version == "v1" && lineno == 1 => out.header = true,
            Some(Line::Header(version)) if lineno == 1 => return Err(ReplayError::Version(version)),
            Some(Line::Reading(r)) if r.seq > last_seq => {
                last_seq = r.seq;
                out.readings.push_back(r);
            }
            Some(Line::Ack(n)) => out.acked = out.acked.max(n),
            Some(Line::Next(n)) => out.next_seq = out.next_seq.max(n),
            _ => {
                let shown = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
                warn!("backlog: journal line {lineno} is damaged or unreadable, skipping it: {shown:?}");
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
#[path = "journal_format_tests.rs"]
mod tests;
