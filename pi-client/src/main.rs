//! `cliser-pi-client`: see the crate docs and `--help`.

use clap::Parser;
use cliser_common::exit::{fail, Outcome};
use cliser_pi_client::config::{self, Cli, Command};
use cliser_pi_client::{client, ClientError, Config, Stop};
use log::{error, info, LevelFilter};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // RUST_LOG overrides the level; logs go to stderr (journald on a Pi).
    let _ = cliser_common::logging::init(LevelFilter::Info);
    match cli.command {
        Some(Command::Probe) => probe(&cli),
        None => run(&cli),
    }
}

fn probe(cli: &Cli) -> ExitCode {
    let spec = match config::sensor_spec(cli) {
        Ok(s) => s,
        Err(e) => return fail(&ClientError::Config(e)),
    };
    match cliser_pi_client::probe::run(&spec, &mut std::io::stdout().lock()) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            error!("writing the report: {e}");
            Outcome::Runtime.into()
        }
    }
}

fn run(cli: &Cli) -> ExitCode {
    let cfg = match Config::resolve(cli, |k| std::env::var(k).ok()) {
        Ok(c) => c,
        Err(e) => return fail(&ClientError::Config(e)),
    };
    let stop = match Stop::new() {
        Ok(s) => s,
        Err(e) => {
            error!("cannot make the stop pipe: {e}");
            return Outcome::Runtime.into();
        }
    };
    let mut signals = match Signals::new([SIGTERM, SIGINT]) {
        Ok(s) => s,
        Err(e) => {
            error!("cannot install signal handlers: {e}");
            return Outcome::Runtime.into();
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
    info!(
        "cliser-pi-client {}: id {}, server {}, sensor {}, interval {}, state dir {}",
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
    if !cfg.state_dir.exists() {
        info!(
            "state dir {} does not exist: creating it{}",
            cfg.state_dir.display(),
            if cli.state_dir.is_none() { " (choose another with --state-dir)" } else { "" }
        );
    }
    let (spec, node) = (cfg.sensor.clone(), cfg.id.to_string());
    match client::run(&cfg, Box::new(move || cliser_hal::open_as(&spec, &node)), stop) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}
