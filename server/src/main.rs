//! `cliser-server`: parses the settings, starts the server, turns SIGINT and SIGTERM into a stop, and
//! maps errors to exit codes (0 stopped cleanly, 1 runtime failure, 2 bad settings).

use clap::Parser;
use cliser_common::exit::{fail, Outcome};
use cliser_server::config::Cli;
use cliser_server::{start, Config, RunError, StopReason};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use std::process::ExitCode;

fn main() -> ExitCode {
    // First: a thread started before it would have an arena of its own.
    let arenas = cliser_server::link::process_limits::limit_malloc_arenas();
    let cli = Cli::parse();
    if let Err(e) = cliser_common::logging::init(log::LevelFilter::Info) {
        eprintln!("cliser-server: cannot start logging: {e}");
        return Outcome::Runtime.into();
    }
    match arenas {
        Some(n) => log::debug!("malloc arenas: at most {n}"),
        None => log::debug!("malloc arenas: as the environment or the allocator has them"),
    }
    cliser_server::link::process_limits::ignore_file_size_signal();
    match cliser_server::link::process_limits::widen_futex_hash() {
        Some(slots) => log::debug!("futex hash: {slots} slots (0: the kernel's global table)"),
        None => log::debug!("futex hash: the kernel's default"),
    }
    match cliser_common::limits::raise_open_files_limit() {
        Ok(n) => log::debug!("open files limit: {n}"),
        Err(e) => log::warn!("cannot raise the open files limit: {e}"),
    }
    if let Some(command) = cli.command.as_ref().filter(|c| c.edits_clients()) {
        let path = match cliser_server::config::clients_file_for_commands(&cli) {
            Ok(p) => p,
            Err(e) => return fail(&e),
        };
        let (mut out, mut note) = (std::io::stdout().lock(), std::io::stderr().lock());
        return match cliser_server::commands::run_clients(command, path.as_deref(), &mut out, &mut note) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    if let Some(command) = &cli.command {
        let found = cliser_server::config::store_for_commands(&cli)
            .and_then(|l| Ok((l, cliser_server::config::sensors_for_commands(&cli)?)));
        let (location, sensors) = match found {
            Ok(found) => found,
            Err(e) => return fail(&e),
        };
        return match cliser_server::commands::run(command, &location, &sensors, &mut std::io::stdout().lock())
        {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    let config = match Config::from_cli(cli) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Runs the server until SIGINT, SIGTERM or the console's `Q`; SIGHUP reloads the config file's
/// names, calibration, limits and alert targets, and the clients file.
fn run(config: Config) -> Result<(), RunError> {
    // Before the server starts: a signal that arrives while it does is kept and stops it once up,
    // instead of killing the process before the ready file or the log says it listens.
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP]).map_err(RunError::Start)?;
    let server = start(config)?;
    let (stopper, reloader) = (server.stopper(), server.reloader());
    let spawned = std::thread::Builder::new().name("signals".into()).spawn(move || {
        for sig in signals.forever() {
            match sig {
                SIGHUP => reloader.reload(),
                _ => stopper.stop(StopReason::Signal(sig)),
            }
        }
    });
    if let Err(e) = spawned {
        server.stop();
        server.join()?;
        return Err(RunError::Start(e));
    }
    server.join()
}
