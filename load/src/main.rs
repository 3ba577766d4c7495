//! `cliser-load`: see `--help` and the crate docs.

use clap::Parser;
use cliser_common::exit::{Classify, Outcome};
use cliser_load::backlog::Backlog;
use cliser_load::cli::{self, Cli, Protocol};
use cliser_load::cliser::CliserSession;
use cliser_load::error::LoadError;
use cliser_load::mqtt::session::MqttSession;
use cliser_load::{engine, report};
use std::process::ExitCode;
use std::sync::Arc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(true) => ExitCode::SUCCESS,
        // Clients failed or readings went missing: the report says which.
        Ok(false) => Outcome::Runtime.into(),
        Err(e) => {
            eprintln!("cliser-load: {e}");
            e.outcome().into()
        }
    }
}

/// Sockets plus a margin for the process's own files.
const SPARE_FILES: u64 = 32;

fn run(cli: &Cli) -> Result<bool, LoadError> {
    let plan = cli.plan()?;
    let have = cliser_common::limits::raise_open_files_limit()?;
    let need = plan.clients as u64 + SPARE_FILES;
    if have < need {
        return Err(LoadError::OpenFiles { need, have });
    }
    // Opened before the run, so that a path that cannot be written fails at once.
    let handshakes_csv = match &cli.handshakes_csv {
        Some(path) => Some((
            path,
            std::fs::File::create(path).map_err(|e| {
                LoadError::Flag(format!("--handshakes-csv {}: cannot create it: {e}", path.display()))
            })?,
        )),
        None => None,
    };
    let mut outcome = match cli.protocol {
        Protocol::Cliser => {
            let password: Arc<str> = Arc::from(cli::password(cli.password_file.as_deref())?);
            let prefix = cli.id_prefix.clone();
            let (backlogs, shape) = (cli.backlog_clients, cli.backlog_shape());
            engine::run(&plan, |i, now| {
                let session = CliserSession::new(i, &prefix, password.clone(), now);
                if (i as usize) < backlogs {
                    session.with_backlog(Backlog::new(i, shape, unix_ms_now()))
                } else {
                    session
                }
            })?
        }
        Protocol::Mqtt => {
            let (prefix, topics, interval) = (&cli.id_prefix, &cli.topic_prefix, cli.interval);
            engine::run(&plan, |i, now| MqttSession::new(i, prefix, topics, interval, now))?
        }
    };
    let name = match cli.protocol {
        Protocol::Cliser => "cliser",
        Protocol::Mqtt => "mqtt",
    };
    print!("{}", report::render(name, plan.clients, cli.keepalive, &mut outcome));
    if let Some((path, file)) = handshakes_csv {
        let mut out = std::io::BufWriter::new(file);
        cliser_load::stats::write_handshakes_csv(&outcome.ctx.stats.handshakes, &mut out)
            .and_then(|()| std::io::Write::flush(&mut out))
            .map_err(|e| {
                LoadError::Io(std::io::Error::other(format!("--handshakes-csv {}: {e}", path.display())))
            })?;
    }
    if let Some(path) = &cli.timeline_csv {
        let written = std::fs::File::create(path).and_then(|file| {
            let mut out = std::io::BufWriter::new(file);
            cliser_load::stats::write_timeline_csv(&outcome.ctx.stats.timeline, &mut out)?;
            std::io::Write::flush(&mut out)
        });
        written.map_err(|e| {
            LoadError::Io(std::io::Error::other(format!("--timeline-csv {}: {e}", path.display())))
        })?;
    }
    Ok(report::passed(&outcome))
}

/// The wall clock, Unix milliseconds: the backlog's readings are stamped back from it.
fn unix_ms_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}
