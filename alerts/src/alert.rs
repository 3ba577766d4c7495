//! What an alert is: its kind, whom it is about, and its two transitions.

use cliser_store::Ack;
use std::fmt;

/// The kinds of alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A sensor's true value above its `max`.
    AboveMax,
    /// Below its `min`.
    BelowMin,
    /// `error_after` error readings in a row.
    SensorError,
    /// No reading (value or error) for `silent_after`.
    SensorSilent,
    /// A node's session ended `offline_after` ago and it has not come back.
    NodeOffline,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 5] =
        [Kind::AboveMax, Kind::BelowMin, Kind::SensorError, Kind::SensorSilent, Kind::NodeOffline];

    /// The name in logs, variables, JSON and the store: `above_max`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::AboveMax => "above_max",
            Kind::BelowMin => "below_min",
            Kind::SensorError => "sensor_error",
            Kind::SensorSilent => "sensor_silent",
            Kind::NodeOffline => "node_offline",
        }
    }

    /// The kind named `s`.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which alert: a kind about a sensor of a node, or about a node (`sensor` empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AlertKey {
    /// The kind.
    pub kind: Kind,
    /// The client id.
    pub cid: String,
    /// The sensor id; empty for `node_offline`.
    pub sensor: String,
}

/// A firing alert, as it is kept in the store and told to people.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Which.
    pub key: AlertKey,
    /// The sensor's name, when it has one.
    pub name: Option<String>,
    /// Since when the condition holds (Unix ms): the first reading past the limit, the first error
    /// of the run, the last reading before the silence, the end of the session.
    pub since_ms: i64,
    /// The (calibrated) value that fired it, if it is about a value.
    pub value: Option<f64>,
    /// The limit crossed (`max`, `min`, the error count).
    pub limit: Option<f64>,
    /// For people: `freezer (garage/28-0316a2795aff) above max -15.0: -12.250 for 2m`.
    pub message: String,
}

/// What happened to an alert, as delivered (`CLISER_ALERT_STATE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The condition started (after `for`); also an alert delivered once its silence ended.
    Firing,
    /// It ended.
    Resolved,
    /// Someone acknowledged it: it still fires and resolves as usual.
    Acknowledged,
    /// Its node or sensor was forgotten: it ends without resolving.
    Forgotten,
}

impl State {
    /// `firing`, `resolved`, `acknowledged` or `forgotten`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Firing => "firing",
            State::Resolved => "resolved",
            State::Acknowledged => "acknowledged",
            State::Forgotten => "forgotten",
        }
    }

    /// Whether the alert stops firing with it.
    pub fn ends(self) -> bool {
        matches!(self, State::Resolved | State::Forgotten)
    }
}

/// One transition of an alert, to be delivered once.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// Firing, resolved, or forgotten (the engine's); acknowledged (a person's).
    pub state: State,
    /// The alert; for a resolved one, `value` is the value that resolved it and `message` says so.
    pub alert: Alert,
    /// When it happened, Unix ms.
    pub at_ms: i64,
}

/// How a sensor is named in messages: `freezer (garage/28-...)` or `garage/28-...`.
pub fn label(cid: &str, sensor: &str, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("{n} ({cid}/{sensor})"),
        None => format!("{cid}/{sensor}"),
    }
}

/// A firing alert with what people did about it: for the console's `A`, the page and `/api/alerts`.
#[derive(Debug, Clone, PartialEq)]
pub struct Active {
    /// The alert.
    pub alert: Alert,
    /// Who acknowledged it, if anyone did.
    pub ack: Option<Ack>,
    /// The silence that holds its notifications now, if one does.
    pub silenced_by: Option<i64>,
}

/// `2026-12-01T08:00:00Z`: UTC to the second, as the log writes times.
pub fn utc(at_ms: i64) -> String {
    let ms = at_ms.clamp(0, cliser_common::when::LATEST_MS);
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The firing alerts for people, one a line: `above_max since 2026-12-01T08:00:00Z: <message>`,
/// then ` — silenced by silence 3` and ` — acknowledged by NAME at TIME: NOTE` when so.
pub fn list_text(firing: &[Active]) -> String {
    if firing.is_empty() {
        return "No alerts firing".into();
    }
    firing
        .iter()
        .map(|f| {
            let a = &f.alert;
            let mut line = format!("{} since {}: {}", a.key.kind, utc(a.since_ms), a.message);
            if let Some(id) = f.silenced_by {
                line.push_str(&format!(" \u{2014} silenced by silence {id}"));
            }
            if let Some(ack) = &f.ack {
                line.push_str(&format!(" \u{2014} acknowledged by {} at {}", ack.by, utc(ack.at_ms)));
                if !ack.note.is_empty() {
                    line.push_str(&format!(": {}", ack.note));
                }
            }
            line
        })
        .collect::<Vec<_>>()
        .join("\n")
}
