//! Deletes raw readings older than `--retain-raw`, and the alert history (with the admin changes)
//! and the sensors' hourly health older than that too, in small batches on its own thread and its own store connection, off the
//! path from a Pi to its ack. Hourly rollups are kept forever.
//!
//! In a fleet (several servers on one PostgreSQL store) only the server that leads prunes: the
//! thread is given a [`Gate`], waits while it says another server leads, prunes at once when this
//! server becomes the leader, and its deletions go under the leader's fence, so a server that lost
//! the lead (paused, partitioned) deletes nothing afterwards.

use cliser_store::fleet::Fence;
use cliser_store::{Retention, StoreError};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the old readings are looked for.
pub const EVERY: Duration = Duration::from_secs(3600);
/// Rows deleted per transaction: short enough that the sink's commits are never held up long.
const BATCH: usize = 2_000;
/// A breath between batches, for the same reason.
const PAUSE: Duration = Duration::from_millis(20);
/// How often a server that does not lead looks whether it does now.
const FOLLOW_POLL: Duration = Duration::from_millis(500);

/// In a fleet: the fence to prune under while this server leads, `None` while another server
/// does. Without a gate (SQLite: one server) retention always runs here, unfenced.
pub type Gate = Box<dyn Fn() -> Option<Fence> + Send>;

/// Runs until `stop` closes: prunes at once, then every [`EVERY`]; with a `gate`, only while this
/// server leads (at once when it becomes the leader).
pub fn run(mut store: Box<dyn Retention>, keep: Duration, stop: Receiver<()>, gate: Option<Gate>) {
    let mut last_error: Option<String> = None;
    // The fence the store's deletions go under now.
    let mut fenced: Option<Fence> = None;
    loop {
        if let Some(gate) = &gate {
            let Some(fence) = wait_to_lead(gate, &stop) else { return };
            if fenced.as_ref() != Some(&fence) {
                log::info!("retention: this server leads (epoch {}): pruning here", fence.epoch());
                store.set_fence(Some(fence.clone()));
                fenced = Some(fence);
            }
        }
        let leads_still = || gate.as_ref().is_none_or(|g| g() == fenced);
        match prune(store.as_mut(), keep, &stop, &leads_still) {
            Ok(Pruned { readings, events, health }) => {
                let keep = cliser_common::duration::format(keep);
                if readings > 0 {
                    log::info!(
                        "retention: deleted {readings} raw readings older than {keep} (hourly rollups kept)"
                    );
                }
                if events > 0 {
                    log::info!("retention: deleted {events} alert history events older than {keep}");
                }
                if health > 0 {
                    log::info!("retention: deleted {health} hourly sensor health rows older than {keep}");
                }
                last_error = None;
            }
            Err(e) => {
                // Said once per error, not once an hour: a store that stays down says the same.
                let why = e.to_string();
                if last_error.as_deref() != Some(&why) {
                    match e {
                        StoreError::Fenced { .. } => {
                            log::warn!("retention: {why}; another server prunes now")
                        }
                        _ => log::warn!(
                            "retention: {why}; trying again in {}",
                            cliser_common::duration::format(EVERY)
                        ),
                    }
                }
                last_error = Some(why);
            }
        }
        if !wait_for_next_round(&stop, &leads_still) {
            return;
        }
    }
}

/// Waits until `gate` says this server leads, and returns its fence; `None`: the server stops.
fn wait_to_lead(gate: &Gate, stop: &Receiver<()>) -> Option<Fence> {
    loop {
        if let Some(fence) = gate() {
            return Some(fence);
        }
        if let Err(RecvTimeoutError::Disconnected) = stop.recv_timeout(FOLLOW_POLL) {
            return None;
        }
    }
}

/// Waits [`EVERY`], or less when the lead changed (lost, or taken again with a new epoch: the new
/// leader prunes at once); `false`: the server stops.
fn wait_for_next_round(stop: &Receiver<()>, leads_still: &dyn Fn() -> bool) -> bool {
    let next = Instant::now() + EVERY;
    loop {
        let left = next.saturating_duration_since(Instant::now());
        if left.is_zero() || !leads_still() {
            return true;
        }
        if let Err(RecvTimeoutError::Disconnected) = stop.recv_timeout(left.min(FOLLOW_POLL)) {
            return false;
        }
    }
}

/// How much one round deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pruned {
    readings: u64,
    events: u64,
    health: u64,
}

/// Deletes batch after batch, raw readings, alert events, then sensor health hours, until none is left, the server
/// stops or it no longer leads; returns how many.
fn prune(
    store: &mut dyn Retention,
    keep: Duration,
    stop: &Receiver<()>,
    leads_still: &dyn Fn() -> bool,
) -> Result<Pruned, StoreError> {
    let cutoff = SystemTime::now().checked_sub(keep).unwrap_or(UNIX_EPOCH);
    let cutoff_ms = cutoff.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let readings = batches(stop, leads_still, |n| store.prune_raw(cutoff_ms, n))?;
    let events = batches(stop, leads_still, |n| store.prune_alert_events(cutoff_ms, n))?;
    let health = batches(stop, leads_still, |n| store.prune_health(cutoff_ms, n))?;
    Ok(Pruned { readings, events, health })
}

/// Calls `delete` with [`BATCH`] until it deletes fewer (or the server stops, or no longer
/// leads); the total.
fn batches(
    stop: &Receiver<()>,
    leads_still: &dyn Fn() -> bool,
    mut delete: impl FnMut(usize) -> Result<usize, StoreError>,
) -> Result<u64, StoreError> {
    let mut total = 0u64;
    loop {
        if !leads_still() {
            return Ok(total);
        }
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
