use crate::error::{ParseError, TokenError};
use crate::facts::{SensorFactsReport, FACTS_PREFIX};
use crate::health::{HealthReport, HEALTH_PREFIX};
use crate::reading::Reading;
use crate::server_msg::unknown;
use crate::MAX_LINE;
use std::fmt;

/// A client's answer to a keep-alive: `100[ <reading>]*[ <health>]*[ <facts>]*[ more]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeepAliveAnswer {
    /// The readings carried, oldest first.
    pub readings: Vec<Reading>,
    /// Health reports (only to a server that advertised `health=1`), after the readings.
    pub health: Vec<HealthReport>,
    /// Sensor facts (only to a server that advertised `health=1`, once per connection), after
    /// the health reports.
    pub facts: Vec<SensorFactsReport>,
    /// The client has a backlog beyond these readings: poll again at once.
    pub more: bool,
}

/// A token of a keep-alive answer that was not a valid reading. The rest of the line still counts.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedToken {
    /// The token, cut to 64 bytes for logging.
    pub token: String,
    /// What was wrong with it.
    pub error: TokenError,
}

/// A keep-alive answer as received: the valid readings and the tokens that were refused.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedAnswer {
    /// What was understood.
    pub answer: KeepAliveAnswer,
    /// What was not, in line order.
    pub rejected: Vec<RejectedToken>,
}

fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

impl KeepAliveAnswer {
    /// Parses an answer leniently: a malformed token is reported in [`ParsedAnswer::rejected`] and the
    /// line's valid readings are kept. Fails only when the line is not a `100` answer at all.
    pub fn parse(line: &str) -> Result<ParsedAnswer, ParseError> {
        let mut tokens = line.split_ascii_whitespace();
        match tokens.next() {
            None => return Err(ParseError::Empty),
            Some("100") => {}
            Some(_) => return Err(unknown(line)),
        }
        let mut parsed = ParsedAnswer::default();
        for token in tokens {
            if token == "more" {
                parsed.answer.more = true;
                continue;
            }
            if token.starts_with(HEALTH_PREFIX) {
                match HealthReport::parse(token) {
                    Ok(h) => parsed.answer.health.push(h),
                    Err(e) => parsed
                        .rejected
                        .push(RejectedToken { token: cut(token, 64), error: TokenError::Health(e) }),
                }
                continue;
            }
            if token.starts_with(FACTS_PREFIX) {
                match SensorFactsReport::parse(token) {
                    Ok(f) => parsed.answer.facts.push(f),
                    Err(e) => parsed
                        .rejected
                        .push(RejectedToken { token: cut(token, 64), error: TokenError::Facts(e) }),
                }
                continue;
            }
            match Reading::parse(token) {
                Ok(r) => parsed.answer.readings.push(r),
                Err(error) => parsed.rejected.push(RejectedToken { token: cut(token, 64), error }),
            }
        }
        Ok(parsed)
    }

    /// Takes as many readings from the front of `backlog` as fit in one line of at most
    /// [`MAX_LINE`] bytes (room for ` more` included), and sets `more` when some are left over.
    /// Returns the answer and how many readings it took.
    pub fn pack(backlog: &[Reading]) -> (Self, usize) {
        Self::pack_with(backlog, Vec::new())
    }

    /// [`pack`](Self::pack) with `health` reports on the line too: they go first in the budget
    /// (a few a period), and the readings fill what is left. Reports beyond one line's room
    /// (over about 60 sensors) are left out: the caller sees how many the answer took.
    pub fn pack_with(backlog: &[Reading], health: Vec<HealthReport>) -> (Self, usize) {
        Self::pack_all(backlog, health, Vec::new())
    }

    /// [`pack_with`](Self::pack_with) with sensor `facts` too, after the health reports in the
    /// budget (before the readings): what did not fit is left out, as the answer's lists show.
    pub fn pack_all(
        backlog: &[Reading],
        mut health: Vec<HealthReport>,
        mut facts: Vec<SensorFactsReport>,
    ) -> (Self, usize) {
        const MORE: usize = " more".len();
        let mut len = "100".len();
        // Room for at least one reading stays (a backlog must always move).
        let mut fits = |n: usize| {
            let ok = len + n + MORE + 128 <= MAX_LINE;
            if ok {
                len += n;
            }
            ok
        };
        let kept = health.iter().take_while(|h| fits(1 + h.to_string().len())).count();
        let all_health = kept == health.len();
        health.truncate(kept);
        let kept =
            if all_health { facts.iter().take_while(|f| fits(1 + f.to_string().len())).count() } else { 0 };
        facts.truncate(kept);
        let mut taken = 0;
        for r in backlog {
            let n = 1 + r.to_string().len();
            if len + n + MORE > MAX_LINE {
                break;
            }
            len += n;
            taken += 1;
        }
        let answer = KeepAliveAnswer {
            readings: backlog[..taken].to_vec(),
            health,
            facts,
            more: taken < backlog.len(),
        };
        (answer, taken)
    }
}

impl fmt::Display for KeepAliveAnswer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("100")?;
        for r in &self.readings {
            write!(f, " {r}")?;
        }
        for h in &self.health {
            write!(f, " {h}")?;
        }
        for x in &self.facts {
            write!(f, " {x}")?;
        }
        if self.more {
            f.write_str(" more")?;
        }
        Ok(())
    }
}

/// A line from a registered client: the answer to a keep-alive or the acknowledgement of `130`.
/// (The password and id lines of the handshake are free text and are not parsed here.)
#[derive(Debug, Clone, PartialEq)]
pub enum ClientLine {
    /// `100 ...`.
    KeepAlive(ParsedAnswer),
    /// `130`: the client got the shutdown command and is running it.
    ShutdownAck,
}

impl ClientLine {
    /// Parses a line from a registered client.
    pub fn parse(line: &str) -> Result<Self, ParseError> {
        if line.trim() == "130" {
            return Ok(ClientLine::ShutdownAck);
        }
        KeepAliveAnswer::parse(line).map(ClientLine::KeepAlive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Celsius, SensorId, Value};

    #[test]
    fn parses_the_spec_examples() {
        let p = KeepAliveAnswer::parse("100").unwrap();
        assert!(p.answer.readings.is_empty() && !p.answer.more && p.rejected.is_empty());
        let p = KeepAliveAnswer::parse("100 t=23.5").unwrap();
        assert_eq!(p.answer.readings.len(), 1);
        let line =
            "100 28-0316a2795aff=23.125@1763800000123#42 28-0316a2795aff=err:crc@1763800010123#43 more";
        let p = KeepAliveAnswer::parse(line).unwrap();
        assert_eq!(p.answer.readings.len(), 2);
        assert!(p.answer.more);
        assert_eq!(p.answer.to_string(), line);
    }

    #[test]
    fn keeps_valid_readings_beside_bad_tokens() {
        let p = KeepAliveAnswer::parse("100 a=1#1 garbage b=2000#2 c=3#3").unwrap();
        let seqs: Vec<_> = p.answer.readings.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [Some(1), Some(3)]);
        assert_eq!(p.rejected.len(), 2);
        assert_eq!(p.rejected[0].token, "garbage");
        assert_eq!(p.rejected[1].error, TokenError::Value);
    }

    #[test]
    fn health_tokens_ride_beside_readings_and_a_bad_one_loses_nothing_else() {
        let line = "100 a=1#1 h:a=20,1,0,0,0,2,150/1000~1200#1 h:b=1,2,0,0,0,0,1/1~1#1 more";
        let p = KeepAliveAnswer::parse(line).unwrap();
        assert_eq!(p.answer.readings.len(), 1);
        assert_eq!(p.answer.health.len(), 1);
        assert_eq!((p.answer.health[0].reads, p.answer.health[0].crc), (20, 1));
        assert!(matches!(p.rejected[0].error, TokenError::Health(_)));
        assert!(p.answer.more);
        let good = "100 a=1#1 h:a=20,1,0,0,0,2,150/1000~1200#1 more";
        assert_eq!(KeepAliveAnswer::parse(good).unwrap().answer.to_string(), good);
    }

    #[test]
    fn facts_tokens_ride_after_health_and_a_bad_one_loses_nothing_else() {
        let line = "100 a=1#1 h:a=20,1,0,0,0,2,150/1000~1200#1 f:a=par,12,B1%20(GXCAS) f:b=vdd,12,- more";
        let p = KeepAliveAnswer::parse(line).unwrap();
        assert_eq!((p.answer.readings.len(), p.answer.health.len(), p.answer.facts.len()), (1, 1, 1));
        assert_eq!(p.answer.facts[0].clone.as_deref(), Some("B1 (GXCAS)"));
        assert_eq!(p.rejected.len(), 1);
        assert!(matches!(p.rejected[0].error, TokenError::Facts(crate::FactsError::Power)));
        let good = "100 a=1#1 h:a=20,1,0,0,0,2,150/1000~1200#1 f:a=par,12,B1%20(GXCAS) more";
        assert_eq!(KeepAliveAnswer::parse(good).unwrap().answer.to_string(), good);
        let facts: Vec<_> = (0..200)
            .map(|i| crate::SensorFactsReport {
                sensor: crate::SensorId::new(&format!("28-{i:012}")).unwrap(),
                power: Some(crate::Power::External),
                bits: Some(12),
                clone: Some("G or H (HT18B20 and others)".into()),
                bus: Some("w1_bus_master1".into()),
            })
            .collect();
        let backlog: Vec<Reading> = (1..=50).map(|i| Reading::parse(&format!("a=1#{i}")).unwrap()).collect();
        let (answer, taken) = KeepAliveAnswer::pack_all(&backlog, Vec::new(), facts);
        assert!(answer.to_string().len() <= MAX_LINE && taken >= 1, "{taken}");
        assert!(answer.facts.len() > 20 && answer.facts.len() < 200, "{}", answer.facts.len());
    }

    #[test]
    fn pack_with_health_keeps_the_line_under_the_limit_and_room_for_readings() {
        let r = |seq| Reading {
            sensor: SensorId::new("28-0316a2795aff").unwrap(),
            value: Value::Celsius(Celsius::new(-10.125).unwrap()),
            stamp: Some(crate::Stamp::at(1_763_800_000_123)),
            seq: Some(seq),
        };
        let h = |i: u64| crate::HealthReport {
            sensor: SensorId::new(&format!("28-0000000000{i:02x}")).unwrap(),
            reads: 360,
            crc: 18,
            empty: 0,
            reset: 0,
            other: 0,
            retries: 20,
            read_ms: 270_000,
            period_ms: 3_600_000,
            age_ms: 3_601_000,
            id: 1_000_000 + i,
        };
        let backlog: Vec<_> = (1..500).map(r).collect();
        let (answer, taken) = KeepAliveAnswer::pack_with(&backlog, (0..200).map(h).collect());
        let line = answer.to_string();
        assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
        assert!(taken >= 1 && answer.health.len() > 30 && answer.health.len() < 200, "{taken}");
        assert_eq!(KeepAliveAnswer::parse(&line).unwrap().answer, answer);
    }

    #[test]
    fn refuses_lines_that_are_not_answers() {
        assert_eq!(KeepAliveAnswer::parse("  "), Err(ParseError::Empty));
        assert!(matches!(KeepAliveAnswer::parse("1000 a=1"), Err(ParseError::UnknownCode(_))));
        assert_eq!(ClientLine::parse("130"), Ok(ClientLine::ShutdownAck));
    }

    #[test]
    fn pack_fills_a_line_and_flags_the_rest() {
        let r = |seq| Reading {
            sensor: SensorId::new("28-0316a2795aff").unwrap(),
            value: Value::Celsius(Celsius::new(-10.125).unwrap()),
            stamp: Some(crate::Stamp::at(1_763_800_000_123)),
            seq: Some(seq),
        };
        let backlog: Vec<_> = (1_000_000..1_000_500).map(r).collect();
        let (answer, taken) = KeepAliveAnswer::pack(&backlog);
        assert!(taken > 50 && taken < 500, "took {taken}");
        assert!(answer.more);
        let line = answer.to_string();
        assert!(line.len() <= MAX_LINE, "{} bytes", line.len());
        let (rest, n) = KeepAliveAnswer::pack(&backlog[..3]);
        assert_eq!((n, rest.more), (3, false));
        assert_eq!(KeepAliveAnswer::pack(&[]).0.to_string(), "100");
    }
}
