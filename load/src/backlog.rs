//! A simulated Pi back from an outage: it holds readings nobody has acknowledged yet, stamped in
//! the past as the real client stamps what it read back from its journal (`@<unix_ms>`), and
//! empties them as the real client does: each `100` is answered with the readings after the last
//! one sent on this connection, packed by the protocol crate's [`KeepAliveAnswer::pack`] (a line
//! of at most 4096 bytes, `more` when readings are left), and what a poll's `ack=` covers is
//! dropped.
//!
//! The readings are made when they are packed, not held: 100 clients of 69,120 readings would
//! otherwise be 6.9 million `Reading`s in this process, beside the server on the same machine.

use cliser_protocol::{Celsius, KeepAliveAnswer, Reading, SensorId, Stamp, Value};
use std::time::Duration;

/// What each backlog client holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BacklogShape {
    /// Unacknowledged readings per client.
    pub readings: u64,
    /// Sensors per client: reading `i` is sensor `i % sensors`'s.
    pub sensors: u32,
    /// Time between two samples of one sensor.
    pub every: Duration,
}

/// Readings made at most per answer before packing: more than a 4096-byte line holds of these
/// readings (each at least 33 bytes: a 15-byte sensor id, `=`, a value, `@` and 13 digits, `#` and a
/// seq), so the line is full whenever readings are left.
const PACK_WINDOW: u64 = 160;

/// One client's backlog and how far the server has taken it.
#[derive(Debug)]
pub struct Backlog {
    shape: BacklogShape,
    sensors: Vec<SensorId>,
    /// A number per client, so that the clients' values differ.
    client: u32,
    /// The seq before the first reading (the server's ack at registration: the real client moves
    /// its counter past it).
    base: u64,
    /// The sample time of reading 0, Unix ms: the backlog ends about now.
    first_ms: u64,
    /// Readings acknowledged (a prefix: seqs base+1 ..= base+acked).
    acked: u64,
    /// Readings sent on this connection (a prefix too).
    sent: u64,
}

impl Backlog {
    /// Client number `client`'s backlog, its last sample at `now_ms`.
    pub fn new(client: u32, shape: BacklogShape, now_ms: u64) -> Backlog {
        let sensors = (0..shape.sensors)
            .map(|k| SensorId::new(&format!("28-{client:06x}{k:06x}")).expect("a valid sensor id"))
            .collect();
        let samples = shape.readings.div_ceil(u64::from(shape.sensors.max(1)));
        let span = samples.saturating_mul(shape.every.as_millis() as u64);
        Backlog { shape, sensors, client, base: 0, first_ms: now_ms.saturating_sub(span), acked: 0, sent: 0 }
    }

    /// Registered (`140`): its readings take the seqs after the server's `ack`, as the real client
    /// moves its counter past an ack it is behind.
    pub fn registered(&mut self, ack: Option<u64>) {
        if self.acked == 0 && self.sent == 0 {
            self.base = ack.unwrap_or(0);
        }
    }

    /// A poll's `ack`: drops what it covers. Returns how many readings it newly acknowledged.
    pub fn ack(&mut self, ack: Option<u64>) -> u64 {
        let Some(a) = ack else { return 0 };
        let covered = a.saturating_sub(self.base).min(self.shape.readings);
        let newly = covered.saturating_sub(self.acked);
        self.acked = self.acked.max(covered);
        newly
    }

    /// Whether every reading is acknowledged.
    pub fn done(&self) -> bool {
        self.acked >= self.shape.readings
    }

    /// Readings sent and not yet acknowledged.
    pub fn unacked(&self) -> u64 {
        self.sent.saturating_sub(self.acked)
    }

    /// The answer to a poll: the readings after the last one sent, as many as one line holds, with
    /// `more` while some are left; `None` when everything has been sent. Returns how many it carries.
    pub fn answer(&mut self) -> Option<(KeepAliveAnswer, u64)> {
        let from = self.sent.max(self.acked);
        if from >= self.shape.readings {
            return None;
        }
        let to = (from + PACK_WINDOW).min(self.shape.readings);
        let window: Vec<Reading> = (from..to).map(|i| self.reading(i)).collect();
        let (mut answer, taken) = KeepAliveAnswer::pack(&window);
        self.sent = from + taken as u64;
        answer.more |= self.sent < self.shape.readings;
        Some((answer, taken as u64))
    }

    /// Reading number `i` (from 0): seq `base + i + 1`, sensor `i % sensors`, sampled at its slot.
    fn reading(&self, i: u64) -> Reading {
        let sensors = u64::from(self.shape.sensors.max(1));
        let (sample, k) = (i / sensors, (i % sensors) as usize);
        let sampled = self.first_ms + sample * self.shape.every.as_millis() as u64;
        // 15.000 to 24.875 °C in eighths, varying by client, sensor and sample.
        let eighths = (u64::from(self.client) * 7 + k as u64 * 13 + sample) % 80;
        let millis = 15_000 + 125 * eighths as i32;
        Reading {
            sensor: self.sensors[k].clone(),
            value: Value::Celsius(Celsius::from_millis(millis).expect("within range")),
            stamp: Some(Stamp::at(sampled)),
            seq: Some(self.base + i + 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cliser_protocol::MAX_LINE;

    fn shape(readings: u64) -> BacklogShape {
        BacklogShape { readings, sensors: 8, every: Duration::from_secs(10) }
    }

    #[test]
    fn full_lines_with_more_until_the_last_then_nothing() {
        let now = 1_765_000_000_000;
        let mut b = Backlog::new(3, shape(300), now);
        b.registered(Some(41));
        let (first, n1) = b.answer().unwrap();
        let line = first.to_string();
        assert!(line.len() <= MAX_LINE && line.len() > MAX_LINE - 60, "{} bytes", line.len());
        assert!(first.more && n1 > 80, "{n1}");
        assert_eq!(first.readings[0].seq, Some(42), "seqs follow the server's ack");
        assert_eq!(first.readings[0].stamp, Some(Stamp::at(now - 38 * 10_000)), "38 samples of 8 back");
        assert_eq!(first.readings[9].sensor.to_string(), "28-000003000001");
        // The next answer carries what follows, whether or not the first is acked yet.
        let (second, n2) = b.answer().unwrap();
        assert_eq!(second.readings[0].seq, Some(42 + n1));
        let (third, n3) = b.answer().unwrap();
        assert!(!third.more, "the last line has no `more`");
        assert_eq!(n1 + n2 + n3, 300);
        assert!(b.answer().is_none());
        assert_eq!((b.unacked(), b.done()), (300, false));
        assert_eq!(b.ack(Some(41 + n1)), n1);
        assert_eq!(b.ack(Some(41 + n1)), 0, "an ack counts once");
        assert_eq!(b.ack(Some(10_000)), 300 - n1, "no further than the backlog");
        assert!(b.done());
    }
}
