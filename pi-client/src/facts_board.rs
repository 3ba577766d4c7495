//! Each sensor's facts (power mode, resolution, clone kind), as the hal learnt them once per start,
//! for the connection to send once per connection to a server that takes them (`health=1` in its
//! `140`; docs/PROTOCOL.md, "Sensor facts"). The sampler leaves them here; a short lock, never
//! held across I/O.

use cliser_hal::facts::{PowerMode, SensorFacts};
use cliser_protocol::{Power, SensorFactsReport, SensorId};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// The latest facts of every sensor met since the start, with a version that grows with each
/// change (so a connection knows cheaply whether there is anything new to send).
#[derive(Debug, Default)]
pub struct FactsBoard {
    state: Mutex<(u64, BTreeMap<SensorId, SensorFactsReport>)>,
}

/// The wire form of the hal's facts of one sensor.
pub fn to_wire(f: &SensorFacts) -> SensorFactsReport {
    SensorFactsReport {
        sensor: f.sensor.clone(),
        power: f.power.map(|p| match p {
            PowerMode::External => Power::External,
            PowerMode::Parasite => Power::Parasite,
        }),
        bits: f.resolution.map(|r| r.bits()),
        clone: f.clone.as_ref().map(|c| c.kind.to_owned()),
        bus: f.bus.clone(),
    }
}

impl FactsBoard {
    /// Notes `facts` (a sensor met again replaces what was known of it).
    pub fn put(&self, facts: &[SensorFacts]) {
        if facts.is_empty() {
            return;
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for f in facts {
            s.1.insert(f.sensor.clone(), to_wire(f));
        }
        s.0 += 1;
    }

    /// The version now, and every sensor's facts when it is past `seen` (else nothing).
    pub fn since(&self, seen: u64) -> (u64, Vec<SensorFactsReport>) {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.0 <= seen {
            return (s.0, Vec::new());
        }
        (s.0, s.1.values().cloned().collect())
    }
}

/// What one connection has sent of the board: each sensor's facts go once per connection (and
/// again only when they change).
#[derive(Debug, Default)]
pub struct FactsSent {
    seen: u64,
    sent: BTreeMap<SensorId, SensorFactsReport>,
}

impl FactsSent {
    /// The facts of `board` this connection has not sent yet.
    pub fn pending(&mut self, board: &FactsBoard) -> Vec<SensorFactsReport> {
        let (version, all) = board.since(self.seen);
        let pending: Vec<_> = all.into_iter().filter(|f| self.sent.get(&f.sensor) != Some(f)).collect();
        if pending.is_empty() {
            self.seen = version;
        }
        pending
    }

    /// `facts` went out on the line.
    pub fn mark(&mut self, facts: &[SensorFactsReport]) {
        for f in facts {
            self.sent.insert(f.sensor.clone(), f.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliser_hal::clones::Signs;
    use cliser_hal::resolution::Resolution;

    fn facts(id: &str, power: PowerMode) -> SensorFacts {
        SensorFacts::assessed(
            SensorId::new(id).unwrap(),
            Some(power),
            Some(Resolution::Bits10),
            Signs::default(),
        )
    }

    #[test]
    fn each_sensors_facts_go_once_per_connection_and_again_when_they_change() {
        let board = FactsBoard::default();
        let mut conn = FactsSent::default();
        assert!(conn.pending(&board).is_empty());
        board.put(&[facts("28-a", PowerMode::External), facts("28-b", PowerMode::Parasite)]);
        let first = conn.pending(&board);
        assert_eq!(first.len(), 2);
        assert_eq!(first[1].to_string(), "f:28-b=par,10,-");
        board.put(&[facts("28-b", PowerMode::Parasite).on_bus("w1_bus_master2")]);
        let first = conn.pending(&board);
        assert_eq!(first[1].to_string(), "f:28-b=par,10,-,w1_bus_master2", "the bus goes when known");
        conn.mark(&first[..1]);
        assert_eq!(conn.pending(&board), first[1..], "what did not fit goes next");
        conn.mark(&first[1..]);
        assert!(conn.pending(&board).is_empty());
        board.put(&[facts("28-a", PowerMode::Parasite)]);
        assert_eq!(conn.pending(&board).len(), 1, "a change goes again");
        let mut next = FactsSent::default();
        assert_eq!(next.pending(&board).len(), 2, "a new connection sends them all");
    }
}
