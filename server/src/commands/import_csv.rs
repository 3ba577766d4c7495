//! `cliser-server import-csv FILE`: loads a ledger of the former `--readings-csv` into the store.
//! Readings already stored (same client id and seq) are skipped, so importing twice is harmless,
//! and so are those the store cannot tell from readings retention pruned (sampled before their
//! client's pruned mark): storing those again would count them twice in the hourly rollups.

use super::CommandError;
use cliser_store::{Ledger, NewReading};
use std::io::{BufRead, Write};
use std::path::PathBuf;

/// Readings committed per transaction.
const GROUP: usize = 5_000;
/// Bad lines named one by one; past this only counted.
const NAMED: usize = 10;

/// `import-csv`'s arguments.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The CSV ledger (`ts,cid,sensor,temp_c,error,seq`), or `query --format csv`'s (with
    /// `ts_quality` last).
    pub file: PathBuf,
}

/// Opens the CSV, before the store is opened or its data dir made: a file that is not there is a
/// wrong argument (exit 2), as a missing `--config` is; one that cannot be read otherwise is a
/// failure (exit 1).
pub(super) fn open(args: &ImportArgs) -> Result<std::fs::File, CommandError> {
    std::fs::File::open(&args.file).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => {
            CommandError::BadArgument(format!("cannot read {}: {source}", args.file.display()))
        }
        _ => CommandError::Io { what: format!("reading {}", args.file.display()), source },
    })
}

pub(super) fn run(
    args: &ImportArgs,
    file: std::fs::File,
    store: &mut dyn Ledger,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    let what = |source| CommandError::Io { what: format!("reading {}", args.file.display()), source };
    let (mut group, mut stored, mut skipped, mut bad) = (Vec::with_capacity(GROUP), 0u64, 0u64, 0usize);
    let mut pruned = 0u64;
    let mut flush = |group: &mut Vec<NewReading>, store: &mut dyn Ledger| -> Result<(), CommandError> {
        let inserted = store.commit(group)?;
        let n = inserted.iter().filter(|&&i| i).count() as u64;
        stored += n;
        // Refused ones sampled before their client's pruned mark (read after the commit: marks
        // only rise) may have been stored and pruned: the rollups count them already.
        let marks = store.pruned_before()?;
        let old = group
            .iter()
            .zip(&inserted)
            .filter(|(r, &i)| !i && marks.get(&r.cid).is_some_and(|&m| r.sampled_ms < m))
            .count() as u64;
        pruned += old;
        skipped += group.len() as u64 - n - old;
        group.clear();
        Ok(())
    };
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(what)?;
        if line.is_empty() || (i == 0 && line.starts_with("ts,")) {
            continue;
        }
        match crate::readings::csv_format::parse(line.trim_end_matches('\r')) {
            Ok(r) => group.push(r),
            Err(why) => {
                bad += 1;
                if bad <= NAMED {
                    log::warn!("{} line {}: {why}; skipped", args.file.display(), i + 1);
                }
            }
        }
        if group.len() >= GROUP {
            flush(&mut group, store)?;
        }
    }
    flush(&mut group, store)?;
    let older = match pruned {
        0 => String::new(),
        n => {
            format!(", {n} older than the readings retention pruned (counted in the hourly rollups already)")
        }
    };
    let summary = format!(
        "imported {stored} readings from {} into {} ({skipped} already stored{older}, {bad} bad lines)",
        args.file.display(),
        store.location()
    );
    let _ = writeln!(out, "{summary}");
    if bad > 0 {
        return Err(CommandError::Partial(format!(
            "{summary}: see the warnings for the first {} bad lines",
            bad.min(NAMED)
        )));
    }
    Ok(())
}
