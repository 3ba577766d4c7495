//! The cap on distinct sensor ids per client (`--max-sensors-per-client`, default 64).
//!
//! Without it, a registered client could send any number of distinct sensor ids and grow the
//! Manager's last values, the web page's fleet view and `/metrics` without bound. A client's
//! first `limit` sensor ids (since the server started) are its own; readings of any other id are
//! refused by configuration: not stored, not acked on their own, counted, and said in ONE warning
//! per client. The readings of its known sensors in the same answer are stored and acked as usual.

use cliser_protocol::{ClientId, Reading, SensorId};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// The default of `--max-sensors-per-client`: a Pi has a handful of DS18B20s, a busy one a few
/// dozen on its 1-Wire buses.
pub const DEFAULT_MAX_SENSORS_PER_CLIENT: usize = 64;

/// What the server knows of one client's sensors.
#[derive(Debug, Default)]
struct Known {
    sensors: HashSet<SensorId>,
    /// Readings refused since the server started.
    refused: u64,
    /// The one warning is said.
    warned: bool,
}

/// The sensor ids each client has, shared by its sessions (a reconnect finds them again).
#[derive(Debug)]
pub struct SensorRoster {
    limit: usize,
    clients: Mutex<HashMap<ClientId, Known>>,
}

/// The readings of one answer that were refused.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Refused {
    /// How many readings were refused.
    pub readings: usize,
    /// Their distinct sensor ids, in line order.
    pub sensors: Vec<SensorId>,
    /// This is the client's first refusal: the one to warn about.
    pub first: bool,
}

impl SensorRoster {
    /// A roster letting each client have `limit` sensor ids.
    pub fn new(limit: usize) -> Self {
        SensorRoster { limit, clients: Mutex::new(HashMap::new()) }
    }

    /// The cap.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Keeps in `readings` those of `cid`'s known sensors and of new ones while it has fewer than
    /// the limit (they become known); takes the others out and says what they were.
    pub fn admit(&self, cid: &ClientId, readings: &mut Vec<Reading>) -> Refused {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let known = match clients.get_mut(cid) {
            Some(k) => k,
            None => clients.entry(cid.clone()).or_default(),
        };
        let mut refused = Refused::default();
        readings.retain(|r| {
            if known.sensors.contains(&r.sensor) {
                return true;
            }
            if known.sensors.len() < self.limit {
                known.sensors.insert(r.sensor.clone());
                return true;
            }
            refused.readings += 1;
            if !refused.sensors.contains(&r.sensor) {
                refused.sensors.push(r.sensor.clone());
            }
            false
        });
        if refused.readings > 0 {
            known.refused += refused.readings as u64;
            refused.first = !known.warned;
            known.warned = true;
        }
        refused
    }

    /// Readings of `cid` refused since the server started (the console's `L` shows them).
    pub fn refused(&self, cid: &ClientId) -> u64 {
        let clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        clients.get(cid).map_or(0, |k| k.refused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(tokens: &[String]) -> Vec<Reading> {
        tokens.iter().map(|t| Reading::parse(t).unwrap()).collect()
    }

    #[test]
    fn a_clients_first_sensors_are_kept_and_the_rest_refused_with_one_first() {
        let roster = SensorRoster::new(3);
        let pi = ClientId::new("pi").unwrap();
        let tokens: Vec<String> = (0..5).map(|i| format!("s{i}=1.0#{}", i + 1)).collect();
        let mut readings = line(&tokens);
        let refused = roster.admit(&pi, &mut readings);
        assert_eq!(readings.len(), 3);
        assert_eq!((refused.readings, refused.sensors.len(), refused.first), (2, 2, true));
        // Known sensors pass; the refused ones stay refused, without a second "first".
        let mut again = line(&["s0=2.0#6".into(), "s4=2.0#7".into(), "s2=2.0#8".into()]);
        let refused = roster.admit(&pi, &mut again);
        assert_eq!(again.iter().map(|r| r.seq).collect::<Vec<_>>(), [Some(6), Some(8)]);
        assert_eq!((refused.readings, refused.first), (1, false));
        assert_eq!(roster.refused(&pi), 3);
        // Another client has its own.
        let other = ClientId::new("other").unwrap();
        let mut readings = line(&tokens);
        assert_eq!(roster.admit(&other, &mut readings).readings, 2);
    }
}
