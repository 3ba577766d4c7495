//! `cliser-server forget CID[/SENSOR]`: the store forgets a node or a sensor (it leaves the page,
//! `/api/nodes`, `/metrics` and the alerts of a running server within a second or two); its
//! readings stay queryable unless `--delete-readings`. A node that registers again is back.

use super::{write_err, CommandError};
use cliser_protocol::{ClientId, SensorId};
use cliser_store::AdminLog;
use std::io::Write;

/// `forget`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ForgetArgs {
    /// The node (`pi-garage`) or one of its sensors (`pi-garage/28-0316a2795aff`).
    #[arg(value_name = "CID[/SENSOR]")]
    pub target: String,
    /// Delete its raw readings and hourly rollups too.
    #[arg(long)]
    pub delete_readings: bool,
}

pub(super) fn run(
    args: &ForgetArgs,
    store: &mut dyn AdminLog,
    now_ms: i64,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let bad = CommandError::BadArgument;
    let (cid, sensor) = match args.target.split_once('/') {
        Some((c, s)) => (c, Some(s)),
        None => (args.target.as_str(), None),
    };
    ClientId::new(cid).map_err(|e| bad(format!("client id {cid:?}: {e}")))?;
    if let Some(s) = sensor {
        SensorId::new(s).map_err(|e| bad(format!("sensor {s:?}: {e}")))?;
    }
    let what = match sensor {
        None => format!("node {cid}"),
        Some(s) => format!("sensor {cid}/{s}"),
    };
    let done = store.forget(cid, sensor, args.delete_readings, now_ms)?;
    if !done.known {
        return Err(CommandError::NotFound(format!("no {what} known to the store")));
    }
    let readings = match args.delete_readings {
        true => format!("deleted {} raw readings and its hourly rollups", done.readings_deleted),
        false => "its readings are kept".to_owned(),
    };
    writeln!(out, "forgot {what}; {readings}").map_err(write_err)
}
