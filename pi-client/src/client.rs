//! The client as a whole: the backlog, the sampler thread, and the reconnecting connection loop.

use crate::backlog::{Backlog, Limits};
use crate::backoff::Backoff;
use crate::config::{Config, ConfigError};
use crate::error::ClientError;
use crate::sampler::{self, Opener};
use crate::session::{self, End};
use crate::stop::{Stop, Wake};
use log::{info, warn};
use std::sync::Arc;
use std::time::Instant;

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
    let limits = Limits { durability: cfg.durability, ..Limits::default() };
    let store = Arc::new(Backlog::open(&cfg.state_dir, limits)?);
    let source = sampler::source_id(&cfg.sensor);
    let _sampler = sampler::spawn(open, source, cfg.interval, cfg.health_every, store.clone(), stop.clone());
    let end = connection_loop(cfg, &store, &stop);
    // Waits for a write in progress, writes what is unacked (`spill` mode) and refuses new writes:
    // from here the process may exit at any time without losing a reading. It comes before the
    // shutdown command of `130`, which may power the Pi off. The sampler is not joined: it may be in a slow bus read.
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
///
/// With several servers a failure moves on to the next one at once; the backoff only runs after a
/// whole round of the list has failed, so a Pi whose server died is on another one in about a second.
fn connection_loop(cfg: &Config, store: &Backlog, stop: &Stop) -> Result<End, ClientError> {
    if cfg.server.is_empty() {
        return Err(ClientError::Config(ConfigError::Missing("no server given")));
    }
    let mut backoff = Backoff::standard();
    let mut rotation = Rotation::new(cfg.server.len());
    let mut conn = 0u64;
    loop {
        if stop.is_stopped() {
            return Ok(End::Stopped);
        }
        conn += 1;
        let from = &cfg.server[rotation.current()];
        let (why, healthy) = match session::run(cfg, from, store, stop, conn) {
            End::Retry { why, healthy } => (why, healthy),
            End::WrongPassword => return Err(ClientError::WrongPassword),
            End::IdInvalid => return Err(ClientError::IdInvalid(cfg.id.to_string())),
            End::Untrusted(failure) => {
                let ca = cfg.tls.as_ref().map(|t| t.ca.clone()).unwrap_or_default();
                return Err(ClientError::Untrusted { server: from.clone(), failure, ca });
            }
            other => return Ok(other),
        };
        if healthy {
            backoff.reset();
        }
        let wait = rotation.ended(healthy);
        let to = &cfg.server[rotation.current()];
        if !wait {
            warn!("server {from} failed ({why}); trying {to}");
            continue;
        }
        let delay = backoff.next_delay();
        let in_delay =
            format!("in {} (attempt {})", cliser_common::duration::format(delay), backoff.attempts());
        // Backoff caps this at one round of lines a minute, so every failure is worth a line.
        if cfg.server.len() == 1 {
            warn!("{why}; reconnecting {in_delay}");
        } else if to == from {
            warn!("server {from}: {why}; reconnecting {in_delay}");
        } else {
            warn!("server {from} failed ({why}); every server failed, trying {to} {in_delay}");
        }
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

/// Where in the server list the client is: which server to try next, and whether to back off first.
#[derive(Debug)]
struct Rotation {
    len: usize,
    current: usize,
    /// Failures since the last healthy connection or the last backoff.
    failed: usize,
}

impl Rotation {
    fn new(len: usize) -> Self {
        Rotation { len: len.max(1), current: 0, failed: 0 }
    }

    /// The index of the server to try.
    fn current(&self) -> usize {
        self.current
    }

    /// A connection to the current server ended. A healthy one keeps that server first (it worked,
    /// and the Pi's readings are acked there); any other ending moves on to the next. Returns whether
    /// to back off before the next try: after a healthy connection (the reset backoff's short first
    /// delay, as with one server) or once every server of the round has failed.
    fn ended(&mut self, healthy: bool) -> bool {
        if healthy {
            self.failed = 0;
            return true;
        }
        self.current = (self.current + 1) % self.len;
        self.failed += 1;
        if self.failed < self.len {
            return false;
        }
        self.failed = 0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::Rotation;

    /// (server tried, backed off after it) for each ending in turn.
    fn walk(len: usize, endings: &[bool]) -> Vec<(usize, bool)> {
        let mut r = Rotation::new(len);
        endings
            .iter()
            .map(|&healthy| {
                let tried = r.current();
                (tried, r.ended(healthy))
            })
            .collect()
    }

    #[test]
    fn one_server_backs_off_after_every_failure() {
        assert_eq!(walk(1, &[false, false, true, false]), [(0, true), (0, true), (0, true), (0, true)]);
    }

    #[test]
    fn failures_move_on_at_once_and_back_off_only_after_a_whole_round() {
        let failing = [false; 7];
        let expected = [(0, false), (1, false), (2, true), (0, false), (1, false), (2, true), (0, false)];
        assert_eq!(walk(3, &failing), expected);
    }

    #[test]
    fn a_healthy_server_stays_first_and_starts_a_new_round() {
        // 0 fails, 1 works for a while, then 1 and 2 fail: back to 0 at once, which fails too: the
        // round (1, 2, 0) is over.
        let endings = [false, true, false, false, false, false];
        let expected = [(0, false), (1, true), (1, false), (2, false), (0, true), (1, false)];
        assert_eq!(walk(3, &endings), expected);
    }
}
