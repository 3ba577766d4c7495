//! The client as a whole: the backlog, the sampler thread, and the reconnecting connection loop.

use crate::backlog::{Backlog, Limits};
use crate::backoff::Backoff;
use crate::config::Config;
use crate::error::ClientError;
use crate::sampler::{self, Opener};
use crate::session::{self, End};
use crate::stop::{Stop, Wake};
use log::{info, warn};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the client ended, when it ended as designed (exit status 0).
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Stopped by a signal (or [`Stop::stop`]).
    Stopped,
    /// `999`: disconnected by the operator.
    Disconnected,
    /// `130`: the shutdown command ran (or none was configured).
    ShutDown,
}

/// Runs the client until it stops. `open` gives the thermometers (the hal's `open` in the binary, a
/// fake in tests); `stop` ends it.
pub fn run(cfg: &Config, open: Opener, stop: Stop) -> Result<Outcome, ClientError> {
    let store = Arc::new(Backlog::open(&cfg.state_dir, Limits::default())?);
    let source = sampler::source_id(&cfg.sensor);
    let _sampler = sampler::spawn(open, source, cfg.interval, store.clone(), stop.clone());
    let end = connection_loop(cfg, &store, &stop);
    // Waits for a write in progress and refuses new ones: from here the process may exit at any time
    // without losing a reading. The sampler is not joined: it may be in a slow bus read.
    store.close();
    stop.stop();
    match end? {
        End::Disconnected => {
            info!("the server disconnected this client (999); exiting without reconnecting");
            Ok(Outcome::Disconnected)
        }
        End::ShutdownOrdered => run_shutdown_command(cfg.shutdown_command.as_deref()),
        _ => {
            info!("stopped");
            Ok(Outcome::Stopped)
        }
    }
}

fn run_shutdown_command(cmd: Option<&str>) -> Result<Outcome, ClientError> {
    let Some(cmd) = cmd else {
        info!("no --shutdown-command configured; exiting");
        return Ok(Outcome::ShutDown);
    };
    info!("running the shutdown command: {cmd}");
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .status()
        .map_err(|e| ClientError::ShutdownCommand(format!("cannot run {cmd:?}: {e}")))?;
    if !status.success() {
        return Err(ClientError::ShutdownCommand(format!("{cmd:?} failed: {status}")));
    }
    Ok(Outcome::ShutDown)
}

/// Connects, and connects again after every failure, until an ending that is not worth a retry.
fn connection_loop(cfg: &Config, store: &Backlog, stop: &Stop) -> Result<End, ClientError> {
    let mut backoff = Backoff::standard();
    let mut conn = 0u64;
    loop {
        if stop.is_stopped() {
            return Ok(End::Stopped);
        }
        conn += 1;
        let (why, healthy) = match session::run(cfg, store, stop, conn) {
            End::Retry { why, healthy } => (why, healthy),
            End::WrongPassword => return Err(ClientError::WrongPassword),
            End::IdInvalid => return Err(ClientError::IdInvalid(cfg.id.to_string())),
            other => return Ok(other),
        };
        if healthy {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        // Backoff caps this at one line a minute per failing server, so every failure is worth a line.
        warn!(
            "{why}; reconnecting in {} (attempt {})",
            humantime::format_duration(Duration::from_millis(delay.as_millis() as u64)),
            backoff.attempts()
        );
        let deadline = Instant::now() + delay;
        match stop.wait(None, deadline) {
            Ok(Wake::Stopped) => return Ok(End::Stopped),
            Ok(_) => {}
            // poll(2) on our own pipe cannot fail short of a bug; wait out the delay all the same.
            Err(_) => {
                if stop.sleep_until(deadline) {
                    return Ok(End::Stopped);
                }
            }
        }
    }
}
