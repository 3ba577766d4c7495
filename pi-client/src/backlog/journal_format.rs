//! The journal's line format: one record a line, and reading a journal back.
//!
//! | line | means |
//! |---|---|
//! | `28-0316a2795aff=23.125@1763800000123#42` | a reading in its wire form (`sensor=value@unix_ms#seq`); seqs go up down the file |
//! | `ack 42` | the server has logged every reading with `seq <= 42` |
//! | `next 43` | the seq counter is at least 43 (first line of a rewritten journal) |
//!
//! Sensor ids never contain a space, so the three kinds cannot be mistaken for one another.

use cliser_protocol::Reading;
use log::warn;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read};

/// What a journal says.
#[derive(Debug)]
pub(super) struct Replay {
    /// The readings, in seq order.
    pub readings: VecDeque<Reading>,
    /// Complete lines after the `next`/`ack` header of a rewritten journal.
    pub lines: usize,
    /// The highest `ack` line (0 if none).
    pub acked: u64,
    /// The highest `next` line (1 if none).
    pub next_seq: u64,
    /// A line was torn or unreadable: the journal must be rewritten before anything is appended.
    pub damaged: bool,
}

impl Default for Replay {
    /// What an empty (or missing) journal says.
    fn default() -> Self {
        Replay { readings: VecDeque::new(), lines: 0, acked: 0, next_seq: 1, damaged: false }
    }
}

/// Appends `r` as a journal line.
pub(super) fn push_reading(text: &mut String, r: &Reading) {
    // Writing into a String cannot fail.
    let _ = writeln!(text, "{r}");
}

/// Appends an `ack` line.
pub(super) fn push_ack(text: &mut String, ack: u64) {
    let _ = writeln!(text, "ack {ack}");
}

/// Appends the header of a rewritten journal: the counter (the rewrite may drop the highest seq,
/// and the counter must never go back) and the ack.
pub(super) fn push_header(text: &mut String, next_seq: u64, acked: u64) {
    let _ = writeln!(text, "next {next_seq}");
    push_ack(text, acked);
}

/// One journal line.
#[derive(Debug, PartialEq)]
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

/// Reads a journal line by line (never the whole file at once: a full backlog is ~23 MB). A torn last
/// line (no newline: an interrupted write) and unreadable lines are dropped with a warning, as is a
/// reading whose seq does not go up; any of them marks the journal damaged.
pub(super) fn replay(input: impl Read) -> io::Result<Replay> {
    let mut out = Replay::default();
    let mut input = BufReader::with_capacity(16 * 1024, input);
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
    use cliser_protocol::{Celsius, SensorId, Value};

    fn reading(seq: u64) -> Reading {
        Reading {
            sensor: SensorId::new("28-0316a2795aff").unwrap(),
            value: Value::Celsius(Celsius::from_millis(23_125).unwrap()),
            stamp: Some(cliser_protocol::Stamp::at(1_763_800_000_123)),
            seq: Some(seq),
        }
    }

    #[test]
    fn records_are_written_as_documented_and_read_back() {
        let mut text = String::new();
        push_header(&mut text, 43, 40);
        push_reading(&mut text, &reading(41));
        push_ack(&mut text, 41);
        assert_eq!(text, "next 43\nack 40\n28-0316a2795aff=23.125@1763800000123#41\nack 41\n");
        let lines: Vec<Line> = text.lines().map(|l| parse_line(l.as_bytes()).unwrap()).collect();
        assert_eq!(lines, [Line::Next(43), Line::Ack(40), Line::Reading(reading(41)), Line::Ack(41)]);
    }

    #[test]
    fn numbers_must_be_plain_digits() {
        for bad in
            ["ack ", "ack x", "ack -1", "ack +1", "ack 1 ", "next", "ack 123456789012345678901", "ack\t1"]
        {
            assert_eq!(parse_line(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(parse_line(b"ack 18446744073709551615"), Some(Line::Ack(u64::MAX)));
    }

    #[test]
    fn a_rewritten_journal_counts_only_lines_after_its_header() {
        let r = replay("next 9\nack 5\n28-0316a2795aff=1@1#6\nack 6\n".as_bytes()).unwrap();
        assert_eq!((r.next_seq, r.acked, r.lines, r.damaged), (9, 6, 2, false));
        assert_eq!(r.readings.len(), 1);
    }

    #[test]
    fn torn_and_unreadable_lines_mark_the_journal_damaged() {
        let r = replay("a=1@5#1\nnot a reading\nb=2@6#1\nc=3@7#3\nack 2".as_bytes()).unwrap();
        // The repeated seq is refused, the torn `ack 2` not taken.
        assert_eq!(r.readings.iter().map(|r| r.seq.unwrap()).collect::<Vec<_>>(), [1, 3]);
        assert_eq!((r.acked, r.next_seq, r.damaged), (0, 1, true));
        assert!(!replay("a=1@5#1\n".as_bytes()).unwrap().damaged);
    }
}
