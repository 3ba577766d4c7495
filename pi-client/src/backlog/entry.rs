//! A reading as the backlog keeps it: what was measured, its seq, and the clocks when it was taken;
//! its wire stamp is worked out only when it is sent.

use crate::clock::Moment;
use cliser_protocol::{Reading, SensorId, Stamp, Value};
use std::sync::Arc;

/// One reading waiting for an ack.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub sensor: SensorId,
    pub value: Value,
    pub seq: u64,
    /// The boot it was taken in; `None` for a reading converted from a journal that did not say.
    pub boot: Option<Arc<str>>,
    /// The clocks when it was taken (`boottime_ms` is 0 without a boot).
    pub at: Moment,
}

impl Entry {
    /// The reading as sent now: with its age (`~ms`) when taken in this boot (`boot`, at
    /// `CLOCK_BOOTTIME` `now_boottime_ms`), else with its wall-clock time (`@ms`, `@ms?` when the
    /// clock was not synchronised).
    pub fn to_wire(&self, boot: &str, now_boottime_ms: u64) -> Reading {
        let stamp = match &self.boot {
            Some(b) if &**b == boot => Stamp::Age { ms: now_boottime_ms.saturating_sub(self.at.boottime_ms) },
            _ => Stamp::At { unix_ms: self.at.wall_ms, synced: self.at.synced },
        };
        Reading {
            sensor: self.sensor.clone(),
            value: self.value.clone(),
            stamp: Some(stamp),
            seq: Some(self.seq),
        }
    }

    /// The reading with its wall-clock time, as the log shows it.
    pub fn to_logged(&self) -> Reading {
        Reading {
            sensor: self.sensor.clone(),
            value: self.value.clone(),
            stamp: Some(Stamp::At { unix_ms: self.at.wall_ms, synced: self.at.synced }),
            seq: Some(self.seq),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliser_protocol::Celsius;

    #[test]
    fn this_boot_sends_an_age_an_earlier_one_its_wall_clock() {
        let e = Entry {
            sensor: SensorId::new("28-a").unwrap(),
            value: Value::Celsius(Celsius::from_millis(21_500).unwrap()),
            seq: 7,
            boot: Some("b1".into()),
            at: Moment { boottime_ms: 1_000, wall_ms: 1_700_000_000_000, synced: false },
        };
        assert_eq!(e.to_wire("b1", 4_500).to_string(), "28-a=21.5~3500#7");
        assert_eq!(e.to_wire("b2", 4_500).to_string(), "28-a=21.5@1700000000000?#7");
        let synced = Entry { at: Moment { synced: true, ..e.at }, ..e.clone() };
        assert_eq!(synced.to_wire("b2", 0).to_string(), "28-a=21.5@1700000000000#7");
        let legacy = Entry { boot: None, ..synced };
        assert_eq!(legacy.to_wire("b1", 9).to_string(), "28-a=21.5@1700000000000#7");
    }
}
