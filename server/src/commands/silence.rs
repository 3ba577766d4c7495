//! `cliser-server silence add|list|end`: silences in the store the server uses. A running server
//! reads the change within a second (its alerts thread follows the store's admin changes).

use super::query::table;
use super::{write_err, CommandError};
use cliser_alerts::admin::{check_matcher, silence_state};
use cliser_alerts::alert::utc;
use cliser_store::{AlertStore, Silence};
use std::io::Write;
use std::time::Duration;

/// `silence`'s actions.
#[derive(Debug, clap::Subcommand)]
pub enum SilenceCommand {
    /// Hold the command's and the webhook's notifications of matching alerts for a while; prints
    /// the new silence's id.
    Add(AddArgs),
    /// The silences in force and to come (with --all, every one kept).
    List(ListArgs),
    /// End a silence now (exit status 2 if no such silence is in force).
    End(EndArgs),
}

/// `silence add`'s arguments.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Only alerts of this client (`*`: any).
    #[arg(long, value_name = "ID", default_value = "*")]
    pub cid: String,
    /// Only alerts of this sensor, by id or name (`*`: any; a node's own alerts match only `*`).
    #[arg(long, value_name = "ID|NAME", default_value = "*")]
    pub sensor: String,
    /// Only alerts of this kind: above_max, below_min, sensor_error, sensor_silent, node_offline
    /// (`*`: any).
    #[arg(long, value_name = "KIND", default_value = "*")]
    pub kind: String,
    /// For how long, from now (`2h`, `30m`).
    #[arg(long = "for", value_name = "DURATION", value_parser = cliser_common::duration::parse_positive)]
    pub duration: Duration,
    /// Who makes it [default: $USER].
    #[arg(long, value_name = "WHO")]
    pub by: Option<String>,
    /// Why.
    #[arg(long, value_name = "WHY", default_value = "")]
    pub comment: String,
}

/// `silence list`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Also those over (expired or ended early), as far as the store keeps them.
    #[arg(long)]
    pub all: bool,
}

/// `silence end`'s arguments.
#[derive(Debug, clap::Args)]
pub struct EndArgs {
    /// The silence's id, as `add` printed it and `list` shows it.
    #[arg(value_name = "ID")]
    pub id: i64,
}

/// Who runs the command: `--by`, else `$USER`, else `cli`.
fn who(by: &Option<String>) -> String {
    by.clone()
        .filter(|b| !b.trim().is_empty())
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "cli".into())
}

pub(super) fn run(
    command: &SilenceCommand,
    store: &mut dyn AlertStore,
    now_ms: i64,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    match command {
        SilenceCommand::Add(a) => {
            check_matcher(&a.cid, &a.sensor, &a.kind)
                .map_err(|e| CommandError::BadArgument(e.to_string()))?;
            let ends_ms = now_ms.saturating_add(a.duration.as_millis().min(i64::MAX as u128) as i64);
            let s = Silence {
                id: 0,
                cid: a.cid.clone(),
                sensor: a.sensor.clone(),
                kind: a.kind.clone(),
                starts_ms: now_ms,
                ends_ms,
                by: who(&a.by),
                comment: a.comment.clone(),
                ended_ms: None,
            };
            let id = store.silence_add(&s)?;
            writeln!(out, "{id}").map_err(write_err)
        }
        SilenceCommand::List(a) => {
            let silences = store.silences(if a.all { None } else { Some(now_ms) })?;
            out.write_all(list(&silences, now_ms).as_bytes()).map_err(write_err)
        }
        SilenceCommand::End(a) => match store.silence_end(a.id, now_ms)? {
            true => writeln!(out, "silence {} ended", a.id).map_err(write_err),
            false => Err(CommandError::NotFound(format!("no silence {} in force", a.id))),
        },
    }
}

fn list(silences: &[Silence], now_ms: i64) -> String {
    let rows = silences
        .iter()
        .map(|s| {
            vec![
                s.id.to_string(),
                silence_state(s, now_ms).to_owned(),
                s.cid.clone(),
                s.sensor.clone(),
                s.kind.clone(),
                utc(s.starts_ms),
                utc(s.ended_ms.unwrap_or(s.ends_ms).min(s.ends_ms)),
                s.by.clone(),
                s.comment.clone(),
            ]
        })
        .collect();
    table(&["id", "state", "cid", "sensor", "kind", "starts", "ends", "by", "comment"], rows, usize::MAX)
}
