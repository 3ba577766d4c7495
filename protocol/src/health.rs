//! The per-sensor health report a client sends inside a `100` answer, to a server that advertised
//! it understands them (`140: Connected ... health=1`): what one sensor did over one period.
//!
//! Wire form (one token, no spaces):
//! `h:<sensor>=<reads>,<crc>,<empty>,<reset>,<other>,<retries>,<read_ms>/<period_ms>~<age_ms>#<id>`:
//! the period's counts (the errors by reason, then the reads that were retried), the summed read time, the period's length, how long ago (when the line is
//! sent) the period started, and the report's id (strictly increasing per client and sensor, so a
//! repeated report is told apart). See docs/PROTOCOL.md, "Health reports".

use crate::ident::SensorId;
use crate::IdentError;
use std::fmt;

/// The prefix that marks a health token in a `100` answer. A reading's sensor id cannot hold `:`,
/// so no reading token starts with it.
pub const HEALTH_PREFIX: &str = "h:";

/// The health report version this codec speaks; a server advertises it as `health=1` in `140`.
pub const HEALTH_VERSION: u32 = 1;

/// Why a health token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthError {
    /// It does not start with `h:`.
    Prefix,
    /// No `=` between sensor and counts.
    MissingEquals,
    /// The sensor id is not 1-32 of `[A-Za-z0-9._-]`.
    Sensor(IdentError),
    /// The counts are not seven unsigned integers separated by `,`.
    Counts,
    /// The `/period_ms`, `~age_ms` or `#id` part is missing or not an unsigned integer.
    Period,
    /// The errors add up to more than the reads.
    MoreErrorsThanReads {
        /// crc + empty + reset + other.
        errors: u64,
        /// reads.
        reads: u64,
    },
}

impl fmt::Display for HealthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthError::Prefix => f.write_str("not a health token (no 'h:')"),
            HealthError::MissingEquals => f.write_str("no '=' between sensor and counts"),
            HealthError::Sensor(e) => write!(f, "bad sensor id: {e}"),
            HealthError::Counts => f.write_str("the counts are not seven comma-separated unsigned integers"),
            HealthError::Period => f.write_str("/period, ~age or #id missing or not an unsigned integer"),
            HealthError::MoreErrorsThanReads { errors, reads } => {
                write!(f, "more errors ({errors}) than reads ({reads})")
            }
        }
    }
}

impl std::error::Error for HealthError {}

/// What one sensor did over one period of the client's `--health-every`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthReport {
    /// The sensor.
    pub sensor: SensorId,
    /// Reads of it (each `read_all` that included it).
    pub reads: u64,
    /// Reads that failed their CRC (after the hal's one retry) or gave a known phantom.
    pub crc: u64,
    /// Empty reads: the sensor's file was empty or gone (`missing`).
    pub empty: u64,
    /// 85 °C power-on values (`reset`).
    pub reset: u64,
    /// Every other error (`no_presence`, `io`, ...).
    pub other: u64,
    /// Reads that failed their CRC and were read again (not an error: a retry that failed too is
    /// also in `crc`).
    pub retries: u64,
    /// The time its reads took, summed, in milliseconds.
    pub read_ms: u64,
    /// The period's length, in milliseconds.
    pub period_ms: u64,
    /// How long before the line was sent the period started, in milliseconds (the client's
    /// monotonic clock: a wrong wall clock on the Pi does not matter).
    pub age_ms: u64,
    /// Strictly increasing per client and sensor (the Pi client uses its reading seq at the end of
    /// the period): a report with an id already seen is a repeat.
    pub id: u64,
}

impl HealthReport {
    /// All errors of the period.
    pub fn errors(&self) -> u64 {
        self.crc + self.empty + self.reset + self.other
    }

    /// Parses one token; every part is checked and a hostile token gets a typed error.
    pub fn parse(token: &str) -> Result<Self, HealthError> {
        let rest = token.strip_prefix(HEALTH_PREFIX).ok_or(HealthError::Prefix)?;
        let (sensor, rest) = rest.split_once('=').ok_or(HealthError::MissingEquals)?;
        let sensor = SensorId::new(sensor).map_err(HealthError::Sensor)?;
        let (counts, rest) = rest.split_once('/').ok_or(HealthError::Period)?;
        let (period, rest) = rest.split_once('~').ok_or(HealthError::Period)?;
        let (age, id) = rest.split_once('#').ok_or(HealthError::Period)?;
        let mut n = [0u64; 7];
        let mut parts = counts.split(',');
        for slot in &mut n {
            *slot = parts.next().and_then(number).ok_or(HealthError::Counts)?;
        }
        if parts.next().is_some() {
            return Err(HealthError::Counts);
        }
        let [reads, crc, empty, reset, other, retries, read_ms] = n;
        let r = HealthReport {
            sensor,
            reads,
            crc,
            empty,
            reset,
            other,
            retries,
            read_ms,
            period_ms: number(period).ok_or(HealthError::Period)?,
            age_ms: number(age).ok_or(HealthError::Period)?,
            id: number(id).ok_or(HealthError::Period)?,
        };
        // Saturating: four huge counts must not overflow into a small sum.
        let errors = [crc, empty, reset, other].iter().fold(0u64, |a, b| a.saturating_add(*b));
        if errors > reads {
            return Err(HealthError::MoreErrorsThanReads { errors, reads });
        }
        Ok(r)
    }
}

/// An unsigned decimal of at most 20 digits (no sign, no spaces).
fn number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl fmt::Display for HealthReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{HEALTH_PREFIX}{}={},{},{},{},{},{},{}/{}~{}#{}",
            self.sensor,
            self.reads,
            self.crc,
            self.empty,
            self.reset,
            self.other,
            self.retries,
            self.read_ms,
            self.period_ms,
            self.age_ms,
            self.id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> HealthReport {
        HealthReport {
            sensor: SensorId::new("28-0316a2795aff").unwrap(),
            reads: 360,
            crc: 18,
            empty: 1,
            reset: 2,
            other: 0,
            retries: 25,
            read_ms: 270_123,
            period_ms: 3_600_000,
            age_ms: 3_601_500,
            id: 4242,
        }
    }

    #[test]
    fn round_trips() {
        let r = report();
        let text = r.to_string();
        assert_eq!(text, "h:28-0316a2795aff=360,18,1,2,0,25,270123/3600000~3601500#4242");
        assert_eq!(HealthReport::parse(&text), Ok(r.clone()));
        assert_eq!(r.errors(), 21);
        let max = HealthReport { reads: u64::MAX, retries: u64::MAX, read_ms: u64::MAX, id: u64::MAX, ..r };
        assert_eq!(HealthReport::parse(&max.to_string()), Ok(max));
    }

    #[test]
    fn hostile_tokens_get_typed_errors() {
        use HealthError::*;
        let cases: &[(&str, HealthError)] = &[
            ("28-a=1,0,0,0,0,0,1/1~1#1", Prefix),
            ("h:28-a", MissingEquals),
            ("h:=1,0,0,0,0,0,1/1~1#1", Sensor(IdentError::Length(0))),
            ("h:28 a=1,0,0,0,0,0,1/1~1#1", Sensor(IdentError::Character(' '))),
            ("h:28-a=1,0,0,0,0,1/1~1#1", Counts),
            ("h:28-a=1,0,0,0,0,0,1,7/1~1#1", Counts),
            ("h:28-a=1,-1,0,0,0,0,1/1~1#1", Counts),
            ("h:28-a=1,0,0,0,0,0,99999999999999999999/1~1#1", Counts),
            ("h:28-a=1,0,0,0,0,0,1", Period),
            ("h:28-a=1,0,0,0,0,0,1/1#1", Period),
            ("h:28-a=1,0,0,0,0,0,1/1~1", Period),
            ("h:28-a=1,0,0,0,0,0,1/1~1#x", Period),
            ("h:28-a=1,0,0,0,0,0,1/+1~1#1", Period),
            ("h:28-a=1,1,1,0,0,0,1/1~1#1", MoreErrorsThanReads { errors: 2, reads: 1 }),
        ];
        for (token, want) in cases {
            assert_eq!(HealthReport::parse(token).as_ref(), Err(want), "{token}");
        }
        let huge = format!("h:28-a={}", "9,".repeat(2000));
        assert_eq!(HealthReport::parse(&huge), Err(Period));
    }
}
