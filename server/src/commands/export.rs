//! `cliser-server export`: every stored reading, streamed, in the former CSV ledger's columns.

use super::{write_err, CommandError};
use cliser_store::History;
use std::io::Write;

/// What `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// `ts,cid,sensor,temp_c,error,seq`, as `--readings-csv` wrote.
    Csv,
}

/// `export`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    pub format: ExportFormat,
}

pub(super) fn run(
    args: &ExportArgs,
    store: &mut dyn History,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let ExportFormat::Csv = args.format;
    writeln!(out, "{}", crate::readings::csv_format::HEADER).map_err(write_err)?;
    let mut line = String::with_capacity(96);
    let mut failed = None;
    store.export(&mut |r| {
        line.clear();
        crate::readings::csv_format::line(&mut line, &r);
        out.write_all(line.as_bytes()).inspect_err(|e| failed = Some(e.kind()))
    })?;
    if let Some(kind) = failed {
        return Err(write_err(kind.into()));
    }
    out.flush().map_err(write_err)
}
