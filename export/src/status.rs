//! Each exporter's status (connected, how far behind, the last error), written by its thread and
//! read by the console's `X`, the web API and `/metrics`. A mutex held only to copy a few fields:
//! neither side ever waits on I/O while holding it.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// One exporter as shown.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExporterStatus {
    /// Its name (`influx`, `mqtt`), also the name of its cursor in the store.
    pub name: String,
    /// Where it sends (URL without password).
    pub target: String,
    /// Whether the far side took the last thing sent (or the connection is up).
    pub connected: bool,
    /// Readings stored but not yet accepted by the far side.
    pub lag_readings: u64,
    /// How long ago the oldest of them was received, seconds; 0 when caught up.
    pub lag_seconds: f64,
    /// Readings the far side accepted since the server started.
    pub exported: u64,
    /// The last problem, kept after it cleared (with `connected` saying whether it did).
    pub last_error: Option<String>,
    /// In a fleet of servers: another server leads and exports; this one waits (not connected).
    pub standby: bool,
}

/// Every exporter's status; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard(Arc<Mutex<Vec<ExporterStatus>>>);

impl StatusBoard {
    /// Adds an exporter; its thread updates the entry through the returned [`StatusCell`].
    pub fn add(&self, name: &str, target: &str) -> StatusCell {
        let mut all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        all.push(ExporterStatus { name: name.into(), target: target.into(), ..Default::default() });
        StatusCell { board: self.clone(), index: all.len() - 1 }
    }

    /// A copy of every exporter's status, in the order they were added.
    pub fn snapshot(&self) -> Vec<ExporterStatus> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The console's `X`: one line per exporter.
    pub fn text(&self) -> String {
        let all = self.snapshot();
        if all.is_empty() {
            return "No exporters configured ([mqtt] or [influx] in --config, or --mqtt URL / --influx URL)"
                .into();
        }
        let mut out = String::new();
        for s in all {
            let _ = write!(
                out,
                "{} -> {}: {}, lag {} readings / {:.1}s, {} exported",
                s.name,
                s.target,
                match (s.standby, s.connected) {
                    (true, _) => "standby (another server of the fleet exports)",
                    (false, true) => "connected",
                    (false, false) => "NOT connected",
                },
                s.lag_readings,
                s.lag_seconds,
                s.exported
            );
            if let Some(e) = &s.last_error {
                let _ = write!(out, ", last error: {e}");
            }
            out.push('\n');
        }
        out.pop();
        out
    }
}

/// One exporter's entry on the board.
#[derive(Debug, Clone)]
pub struct StatusCell {
    board: StatusBoard,
    index: usize,
}

impl StatusCell {
    /// Changes the entry.
    pub fn update(&self, f: impl FnOnce(&mut ExporterStatus)) {
        let mut all = self.board.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = all.get_mut(self.index) {
            f(s);
        }
    }

    /// A copy of the entry.
    pub fn get(&self) -> ExporterStatus {
        self.board.snapshot().get(self.index).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_console_text_has_one_line_per_exporter() {
        let board = StatusBoard::default();
        assert!(board.text().starts_with("No exporters"));
        let a = board.add("influx", "http://127.0.0.1:8086/write?db=x");
        board.add("mqtt", "mqtt://127.0.0.1:1883");
        a.update(|s| {
            s.connected = true;
            s.lag_readings = 3;
            s.lag_seconds = 1.25;
        });
        let text = board.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(
            lines[0]
                .starts_with("influx -> http://127.0.0.1:8086/write?db=x: connected, lag 3 readings / 1.2s"),
            "{text}"
        );
        assert!(lines[1].contains("NOT connected"), "{text}");
        a.update(|s| s.standby = true);
        assert!(board.text().starts_with("influx -> http://127.0.0.1:8086/write?db=x: standby"));
    }
}
