//! What people ask of the alerts from the console (carried out on the alerts thread, which has
//! the store connection), and how history and silences read as text, in the console and on the
//! command line alike. Times are UTC, as in the log.

use crate::alert::{utc, Kind};
use cliser_store::{AlertEvent, Silence};
use std::time::Duration;

/// The console's `H`: this many events, the newest.
pub const HISTORY_LINES: usize = 50;

/// A console request for the alerts thread; the answer is one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `H`: the last [`HISTORY_LINES`] events.
    History,
    /// `S`: the silences in force (and those to come).
    Silences,
    /// `S+`: a new silence from now for `duration`; answers its id.
    SilenceAdd {
        /// Client id or `*`.
        cid: String,
        /// Sensor id or name, or `*`.
        sensor: String,
        /// Alert kind or `*`.
        kind: String,
        /// How long.
        duration: Duration,
        /// Who.
        by: String,
        /// Why.
        comment: String,
    },
    /// `S-`: ends a silence now.
    SilenceEnd(i64),
    /// `F:`: forgets a node (`sensor` None) or a sensor; its readings are kept.
    Forget {
        /// The client id.
        cid: String,
        /// The sensor, or the whole node.
        sensor: Option<String>,
    },
    /// `K`: acknowledges a firing alert.
    Ack {
        /// Its kind.
        kind: Kind,
        /// Its client id.
        cid: String,
        /// Its sensor ("" for a node's alert).
        sensor: String,
        /// Who.
        by: String,
        /// Their note.
        note: String,
    },
}

/// One history event for people: `2026-12-01T08:00:00Z fired above_max: <message>`, then
/// ` — by WHO: NOTE` when a person did it.
pub fn event_line(e: &AlertEvent) -> String {
    let mut line = format!("{} {} {}: {}", utc(e.at_ms), e.event, e.kind, e.message);
    match (e.by.as_deref(), e.note.as_deref().filter(|n| !n.is_empty())) {
        (Some(by), Some(note)) => line.push_str(&format!(" \u{2014} by {by}: {note}")),
        (Some(by), None) => line.push_str(&format!(" \u{2014} by {by}")),
        (None, Some(note)) => line.push_str(&format!(" \u{2014} {note}")),
        (None, None) => {}
    }
    line
}

/// The history (given newest first, as the store does) oldest first, one event a line, as a log reads.
pub fn history_text(newest_first: &[AlertEvent]) -> String {
    if newest_first.is_empty() {
        return "No alert history".into();
    }
    newest_first.iter().rev().map(event_line).collect::<Vec<_>>().join("\n")
}

/// Where a silence stands at `now_ms`: `active`, `pending` (starts later), `ended` (early), `expired`.
pub fn silence_state(s: &Silence, now_ms: i64) -> &'static str {
    match s.ended_ms {
        _ if s.active(now_ms) => "active",
        Some(e) if e < s.ends_ms && e <= now_ms => "ended",
        _ if now_ms >= s.ends_ms => "expired",
        _ => "pending",
    }
}

fn left(ms: i64) -> String {
    cliser_common::duration::format(Duration::from_secs((ms.max(0) / 1000) as u64))
}

/// One silence for people: `silence 3: cid=garage sensor=* kind=* until 2026-12-01T10:00:00Z (1h 59m
/// left) by alice: defrosting`.
pub fn silence_line(s: &Silence, now_ms: i64) -> String {
    let when = match silence_state(s, now_ms) {
        "active" => format!("until {} ({} left)", utc(s.ends_ms), left(s.ends_ms - now_ms)),
        "pending" => format!("from {} until {}", utc(s.starts_ms), utc(s.ends_ms)),
        "ended" => format!("ended {} (was until {})", utc(s.ended_ms.unwrap_or(s.ends_ms)), utc(s.ends_ms)),
        _ => format!("expired {}", utc(s.ends_ms)),
    };
    let mut line =
        format!("silence {}: cid={} sensor={} kind={} {when} by {}", s.id, s.cid, s.sensor, s.kind, s.by);
    if !s.comment.is_empty() {
        line.push_str(&format!(": {}", s.comment));
    }
    line
}

/// The silences, one a line.
pub fn silences_text(silences: &[Silence], now_ms: i64) -> String {
    if silences.is_empty() {
        return "No silences".into();
    }
    silences.iter().map(|s| silence_line(s, now_ms)).collect::<Vec<_>>().join("\n")
}

/// Why a silence's matcher is refused; the text names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    /// A field is empty.
    #[error("{field}: empty (use * for any)")]
    Empty {
        /// `cid`, `sensor` or `kind`.
        field: &'static str,
    },
    /// A field holds white space.
    #[error("{field} {value:?}: no spaces allowed")]
    Spaces {
        /// `cid`, `sensor` or `kind`.
        field: &'static str,
        /// The value given.
        value: String,
    },
    /// The kind is neither an alert kind nor `*`.
    #[error("kind {kind:?}: not an alert kind ({} or *)", Kind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "))]
    UnknownKind {
        /// The kind given.
        kind: String,
    },
}

/// Checks a silence's matcher: a known kind or `*`, and ids without white space.
pub fn check_matcher(cid: &str, sensor: &str, kind: &str) -> Result<(), MatcherError> {
    for (field, v) in [("cid", cid), ("sensor", sensor), ("kind", kind)] {
        if v.is_empty() {
            return Err(MatcherError::Empty { field });
        }
        if v.chars().any(char::is_whitespace) {
            return Err(MatcherError::Spaces { field, value: v.to_owned() });
        }
    }
    if kind != "*" && Kind::parse(kind).is_none() {
        return Err(MatcherError::UnknownKind { kind: kind.to_owned() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn s(ended: Option<i64>) -> Silence {
        Silence {
            id: 3,
            cid: "garage".into(),
            sensor: "*".into(),
            kind: "*".into(),
            starts_ms: 0,
            ends_ms: 2 * HOUR,
            by: "alice".into(),
            comment: "defrosting".into(),
            ended_ms: ended,
        }
    }

    #[test]
    fn a_silence_reads_as_it_stands() {
        assert_eq!(
            silence_line(&s(None), 60_000),
            "silence 3: cid=garage sensor=* kind=* until 1970-01-01T02:00:00Z (1h 59m left) by alice: defrosting"
        );
        assert_eq!(silence_state(&s(None), 2 * HOUR), "expired");
        assert_eq!(silence_state(&s(Some(HOUR)), HOUR), "ended");
        assert!(silence_line(&s(Some(HOUR)), HOUR + 1).contains(" ended 1970-01-01T01:00:00Z (was until "));
        let mut later = s(None);
        later.starts_ms = HOUR;
        assert_eq!(silence_state(&later, 0), "pending");
    }

    #[test]
    fn history_reads_oldest_first_with_who_did_it() {
        let e = |id: i64, event: &str, by: Option<&str>, note: Option<&str>| AlertEvent {
            id,
            at_ms: id * 1000,
            event: event.into(),
            kind: "above_max".into(),
            cid: "garage".into(),
            sensor: "28-f".into(),
            name: None,
            since_ms: 0,
            value: None,
            message: "garage/28-f above max 30.0: 31.000".into(),
            by: by.map(Into::into),
            note: note.map(Into::into),
        };
        let text =
            history_text(&[e(2, "acknowledged", Some("bob"), Some("on it")), e(1, "fired", None, None)]);
        assert_eq!(
            text,
            "1970-01-01T00:00:01Z fired above_max: garage/28-f above max 30.0: 31.000\n\
             1970-01-01T00:00:02Z acknowledged above_max: garage/28-f above max 30.0: 31.000 \u{2014} by bob: on it"
        );
        assert_eq!(history_text(&[]), "No alert history");
    }

    #[test]
    fn a_matcher_names_what_is_wrong() {
        assert!(check_matcher("*", "*", "*").is_ok());
        assert!(check_matcher("pi", "freezer", "above_max").is_ok());
        assert!(check_matcher("pi", "*", "too_hot")
            .unwrap_err()
            .to_string()
            .starts_with("kind \"too_hot\": not an alert kind"));
        assert_eq!(check_matcher("", "*", "*").unwrap_err().to_string(), "cid: empty (use * for any)");
    }
}
