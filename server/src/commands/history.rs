//! `cliser-server history`: the alert history (fired, resolved, acknowledged, silenced,
//! unsilenced, forgotten) from the store, oldest first, as a table or JSON.

use super::query::table;
use super::{write_err, CommandError};
use crate::readings::csv_format::rfc3339_ms;
use cliser_common::when;
use cliser_store::{AlertEvent, AlertStore, EventQuery};
use std::io::Write;
use std::time::SystemTime;

/// How `history` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// One JSON array of objects.
    Json,
}

/// `history`'s arguments.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// Only this client.
    #[arg(long, value_name = "ID")]
    pub cid: Option<String>,
    /// Only this sensor.
    #[arg(long, value_name = "ID")]
    pub sensor: Option<String>,
    /// Only this kind of alert.
    #[arg(long, value_name = "KIND")]
    pub kind: Option<String>,
    /// From this long ago (`24h`) or this time (RFC 3339) [default: 24h].
    #[arg(long, value_name = "WHEN", default_value = "24h")]
    pub since: String,
    /// Until this long ago or this time [default: now].
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// At most this many events (the newest).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

pub(super) fn run(
    args: &HistoryArgs,
    store: &mut dyn AlertStore,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let bad = CommandError::BadArgument;
    if let Some(kind) = args.kind.as_deref().filter(|k| cliser_alerts::Kind::parse(k).is_none()) {
        return Err(bad(format!("--kind {kind:?}: not an alert kind")));
    }
    let now = SystemTime::now();
    let q = EventQuery {
        cid: args.cid.clone(),
        sensor: args.sensor.clone(),
        kind: args.kind.clone(),
        since_ms: Some(when::parse("--since", &args.since, now).map_err(|e| bad(e.to_string()))?),
        until_ms: args
            .until
            .as_deref()
            .map(|u| when::parse("--until", u, now))
            .transpose()
            .map_err(|e| bad(e.to_string()))?,
        limit: args.limit.unwrap_or(0),
        pending_delivery: false,
    };
    let mut events = store.alert_events(&q)?;
    events.reverse();
    let text = match args.format {
        Format::Table => table(
            &["time", "event", "kind", "cid", "sensor", "name", "message", "by", "note"],
            events
                .iter()
                .map(|e| {
                    vec![
                        rfc3339_ms(e.at_ms),
                        e.event.clone(),
                        e.kind.clone(),
                        e.cid.clone(),
                        e.sensor.clone(),
                        e.name.clone().unwrap_or_default(),
                        e.message.clone(),
                        e.by.clone().unwrap_or_default(),
                        e.note.clone().unwrap_or_default(),
                    ]
                })
                .collect(),
            5,
        ),
        Format::Json => {
            let items: Vec<serde_json::Value> = events.iter().map(json).collect();
            format!("{}\n", serde_json::Value::Array(items))
        }
    };
    out.write_all(text.as_bytes()).map_err(write_err)
}

fn json(e: &AlertEvent) -> serde_json::Value {
    serde_json::json!({
        "id": e.id, "at": rfc3339_ms(e.at_ms), "event": e.event, "kind": e.kind, "cid": e.cid,
        "sensor": e.sensor, "name": e.name, "since": rfc3339_ms(e.since_ms), "value": e.value,
        "message": e.message, "by": e.by, "note": e.note,
    })
}
