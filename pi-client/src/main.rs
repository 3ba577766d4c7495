//! `cliser-pi-client`: see the crate docs and `--help`.

use clap::Parser;
use cliser_common::exit::{fail, Outcome};
use cliser_pi_client::config::{self, Cli, Command};
use cliser_pi_client::{client, sampler, ClientError, Config, Stop};
use log::{error, info, LevelFilter};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // RUST_LOG overrides the level; logs go to stderr (journald on a Pi).
    let _ = cliser_common::logging::init(LevelFilter::Info);
    match cli.command {
        Some(Command::Probe { watch: false, .. }) => probe(&cli),
        Some(Command::Probe { watch: true, ref interval }) => watch(&cli, interval.as_deref()),
        None => run(&cli),
    }
}

fn probe(cli: &Cli) -> ExitCode {
    let target = match config::probe_target(cli) {
        Ok(t) => t,
        Err(e) => return fail(&ClientError::Config(e)),
    };
    match cliser_pi_client::probe::run(&target, &mut std::io::stdout().lock()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            error!("writing the report: {e}");
            Outcome::Runtime.into()
        }
    }
}

fn watch(cli: &Cli, interval: Option<&str>) -> ExitCode {
    let target = match config::probe_target(cli) {
        Ok(t) => t,
        Err(e) => return fail(&ClientError::Config(e)),
    };
    let interval = match interval.map(cliser_common::duration::parse_positive) {
        None => config::DEFAULT_INTERVAL,
        Some(Ok(d)) => d,
        Some(Err(e)) => {
            let invalid = config::ConfigError::Invalid {
                setting: "--interval".into(),
                value: interval.unwrap_or_default().into(),
                why: e.to_string(),
            };
            return fail(&ClientError::Config(invalid));
        }
    };
    let Some(stop) = stop_on_signals() else { return Outcome::Runtime.into() };
    match cliser_pi_client::probe::watch(&target, interval, &mut std::io::stdout().lock(), &stop) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            error!("writing the report: {e}");
            Outcome::Runtime.into()
        }
    }
}

/// A stop handle that SIGTERM and SIGINT ring (`None`, said why, if that cannot be set up).
fn stop_on_signals() -> Option<Stop> {
    let stop = match Stop::new() {
        Ok(s) => s,
        Err(e) => {
            error!("cannot make the stop pipe: {e}");
            return None;
        }
    };
    let mut signals = match Signals::new([SIGTERM, SIGINT]) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            return None;
        }
    };
    let on_signal = stop.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                info!("got {}: stopping", if sig == SIGTERM { "SIGTERM" } else { "SIGINT" });
                on_signal.stop();
            }
        })
        .expect("spawn signal thread");
    Some(stop)
}

fn run(cli: &Cli) -> ExitCode {
    let cfg = match Config::resolve(cli, |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => return fail(&ClientError::Config(e)),
    };
    let Some(stop) = stop_on_signals() else { return Outcome::Runtime.into() };
    let durability = match cfg.durability {
        cliser_pi_client::backlog::Durability::Sync => "sync (every sample synced)".to_owned(),
        cliser_pi_client::backlog::Durability::Spill { after, .. } => format!(
            "spill (unacked readings written after {}: a power cut loses at most that much)",
            cliser_common::duration::format(after)
        ),
    };
    info!(
        "cliser-pi-client {}: id {}, server {}, sensor {}, interval {}, state dir {}, durability {durability}",
        env!("CARGO_PKG_VERSION"),
        cfg.id,
        cfg.server.join(","),
        cfg.sensor,
        cliser_common::duration::format(cfg.interval),
        cfg.state_dir.display()
    );
    if let Some(tls) = &cfg.tls {
        let pin = tls.pin.map(|p| format!(" and pin {p}")).unwrap_or_default();
        info!("TLS: the servers' certificates must be signed by {}{pin}", tls.ca.display());
    }
    if !cfg.resolution.is_empty() {
        info!("resolution: {}", cliser_pi_client::sensor_notes::describe_plan(&cfg.resolution));
    }
    if !cfg.state_dir.exists() {
        info!(
            "state dir {} does not exist: creating it{}",
            cfg.state_dir.display(),
            if cli.state_dir.is_none() { " (choose another with --state-dir)" } else { "" }
        );
    }
    let (spec, id, plan) = (cfg.sensor.clone(), cfg.id.clone(), cfg.resolution.clone());
    match client::run(&cfg, Box::new(move || sampler::open(&spec, Some(&id), &plan)), stop) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}
