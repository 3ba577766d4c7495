//! Deletes raw readings older than `--retain-raw`, and the alert history (with the admin changes)
//! older than that too, in small batches on its own thread and its own store connection, off the
//! path from a Pi to its ack. Hourly rollups are kept forever.

use cliser_store::{Retention, StoreError};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often the old readings are looked for.
pub const EVERY: Duration = Duration::from_secs(3600);
/// Rows deleted per transaction: short enough that the sink's commits are never held up long.
const BATCH: usize = 2_000;
/// A breath between batches, for the same reason.
const PAUSE: Duration = Duration::from_millis(20);

/// Runs until `stop` closes: prunes at once, then every [`EVERY`].
pub fn run(mut store: Box<dyn Retention>, keep: Duration, stop: Receiver<()>) {
    let mut last_error: Option<String> = None;
    loop {
        match prune(store.as_mut(), keep, &stop) {
            Ok(Pruned { readings, events }) => {
                let keep = cliser_common::duration::format(keep);
                if readings > 0 {
                    log::info!(
                        "retention: deleted {readings} raw readings older than {keep} (hourly rollups kept)"
                    );
                }
                if events > 0 {
                    log::info!("retention: deleted {events} alert history events older than {keep}");
                }
            }
            Err(e) => {
                // Said once per error, not once an hour: a store that stays down says the same.
                let why = e.to_string();
                if last_error.as_deref() != Some(&why) {
                    log::warn!(
                        "retention: {why}; trying again in {}",
                        cliser_common::duration::format(EVERY)
                    );
                }
                last_error = Some(why);
                if let Err(RecvTimeoutError::Disconnected) = stop.recv_timeout(EVERY) {
                    return;
                }
                continue;
            }
        }
        last_error = None;
        if let Err(RecvTimeoutError::Disconnected) = stop.recv_timeout(EVERY) {
            return;
        }
    }
}

/// How much one round deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pruned {
    readings: u64,
    events: u64,
}

/// Deletes batch after batch, raw readings then alert events, until none is left or the server
/// stops; returns how many.
fn prune(store: &mut dyn Retention, keep: Duration, stop: &Receiver<()>) -> Result<Pruned, StoreError> {
    let cutoff = SystemTime::now().checked_sub(keep).unwrap_or(UNIX_EPOCH);
    let cutoff_ms = cutoff.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let readings = batches(stop, |n| store.prune_raw(cutoff_ms, n))?;
    let events = batches(stop, |n| store.prune_alert_events(cutoff_ms, n))?;
    Ok(Pruned { readings, events })
}

/// Calls `delete` with [`BATCH`] until it deletes fewer (or the server stops); the total.
fn batches(
    stop: &Receiver<()>,
    mut delete: impl FnMut(usize) -> Result<usize, StoreError>,
) -> Result<u64, StoreError> {
    let mut total = 0u64;
    loop {
        let n = delete(BATCH)?;
        total += n as u64;
        if n < BATCH {
            return Ok(total);
        }
        if let Err(RecvTimeoutError::Disconnected) = stop.recv_timeout(PAUSE) {
            return Ok(total);
        }
    }
}
