use crate::error::TokenError;
use crate::ident::{ErrorReason, SensorId};
use std::fmt;

/// A temperature in degrees Celsius: finite, with |v| < 1000.
///
/// On the wire it is a plain decimal (`-?digits[.digits]`, no exponent, no sign `+`), written in the
/// shortest form that parses back to the same value.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Celsius(f64);

impl Celsius {
    /// The largest magnitude accepted, exclusive.
    pub const LIMIT: f64 = 1000.0;

    /// Wraps `v` if it is finite and |v| < 1000.
    pub fn new(v: f64) -> Option<Self> {
        (v.is_finite() && v.abs() < Self::LIMIT).then_some(Self(v))
    }

    /// From integer millidegrees, the form the sensors give (e.g. `23125` is 23.125 °C).
    pub fn from_millis(m: i32) -> Option<Self> {
        Self::new(f64::from(m) / 1000.0)
    }

    /// The value in degrees Celsius.
    pub fn degrees(self) -> f64 {
        self.0
    }

    /// For people: always three decimals (`21.000`, `-0.500`), the DS18B20's resolution, so one value
    /// never shows as `21` in one line and `21.062` in the next. The wire form stays the shortest.
    pub fn fixed(self) -> impl fmt::Display {
        struct Fixed(f64);
        impl fmt::Display for Fixed {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // In integer millidegrees: the same text as `{:.3}` of the value rounded to
                // thousandths (|v| < 1000, so that double is the nearest to m / 1000), without
                // the float formatter, whose exact mode can fall back to big-number arithmetic
                // with a kilobyte of stack (a server thread's stack is a few pages). Rounding
                // can give -0 for tiny negatives; a person reads that as 0, so no sign then.
                let m = (self.0 * 1000.0).round() as i64;
                let sign = if m < 0 { "-" } else { "" };
                let m = m.unsigned_abs();
                write!(f, "{sign}{}.{:03}", m / 1000, m % 1000)
            }
        }
        Fixed(self.0)
    }

    /// Parses the wire form.
    pub fn parse(s: &str) -> Option<Self> {
        let digits = s.strip_prefix('-').unwrap_or(s);
        let (int, frac) = match digits.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (digits, None),
        };
        let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        // The length cap keeps a hostile 4 KiB "decimal" from costing a slow float parse.
        if s.len() > 40 || !all_digits(int) || !frac.is_none_or(all_digits) {
            return None;
        }
        match millis(int, frac) {
            // Exact: an integer below 2^53 divided by 1000 rounds once, to the double nearest
            // the decimal, as the float parser's result is.
            Some(m) => {
                let v = m as f64 / 1000.0;
                Self::new(if s.starts_with('-') { -v } else { v })
            }
            None => parse_float(s),
        }
    }
}

/// `int.frac` in thousandths when `frac` has at most three digits and `int` at most nine: every
/// value a sensor gives. Its frame is small: a server session parses every reading it hears on a
/// stack of two pages (docs/PERFORMANCE.md, "the session's stack back to 2 pages").
fn millis(int: &str, frac: Option<&str>) -> Option<i64> {
    let frac = frac.unwrap_or("");
    if int.len() > 9 || frac.len() > 3 {
        return None;
    }
    let digits = |p: &str| p.bytes().fold(0i64, |n, b| n * 10 + i64::from(b - b'0'));
    Some(digits(int) * 1000 + digits(frac) * [1000, 100, 10, 1][frac.len()])
}

/// The general case (more digits than a sensor gives), out of line: the float parser's frame is
/// ~800 bytes.
#[inline(never)]
#[cold]
fn parse_float(s: &str) -> Option<Celsius> {
    s.parse::<f64>().ok().and_then(Celsius::new)
}

impl fmt::Display for Celsius {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Rust prints f64 without exponent and in the shortest form that round-trips.
        write!(f, "{}", self.0)
    }
}

/// What a sensor gave: a temperature or the reason it gave none.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A temperature.
    Celsius(Celsius),
    /// No temperature; the reason, e.g. `crc`, `missing`, `reset`. On the wire: `err:<reason>`.
    Error(ErrorReason),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Celsius(c) => c.fmt(f),
            Value::Error(r) => write!(f, "err:{r}"),
        }
    }
}

impl Value {
    /// A value as the wire writes it (and [`Display`](fmt::Display) gives it): `21.375`, `err:crc`.
    pub fn parse(s: &str) -> Result<Self, TokenError> {
        if let Some(reason) = s.strip_prefix("err:") {
            return ErrorReason::new(reason).map(Value::Error).map_err(TokenError::Reason);
        }
        Celsius::parse(s).map(Value::Celsius).ok_or(TokenError::Value)
    }
}

/// When a reading was sampled, as the client tells it.
///
/// A client that knows how long ago it sampled (same boot, monotonic clock) sends the age, which
/// needs no trust in its wall clock; a reading from an earlier boot can only carry the wall-clock
/// time it was stamped with, marked when that clock was not synchronised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// `@<unix_ms>`, or `@<unix_ms>?` when the client's clock was not synchronised at sampling.
    At {
        /// Unix time in milliseconds by the client's wall clock.
        unix_ms: u64,
        /// False when the client said (`?`) its clock was not synchronised then.
        synced: bool,
    },
    /// `~<ms>`: sampled this many milliseconds before the line carrying it was sent.
    Age {
        /// Milliseconds between sampling and sending.
        ms: u64,
    },
}

impl Stamp {
    /// A wall-clock time from a synchronised clock: `@<unix_ms>`, the form older clients send.
    pub fn at(unix_ms: u64) -> Self {
        Stamp::At { unix_ms, synced: true }
    }

    fn parse(marker: char, s: &str) -> Result<Self, TokenError> {
        if marker == '~' {
            return parse_u64(s).map(|ms| Stamp::Age { ms }).ok_or(TokenError::Age);
        }
        let (digits, synced) = match s.strip_suffix('?') {
            Some(d) => (d, false),
            None => (s, true),
        };
        parse_u64(digits).map(|unix_ms| Stamp::At { unix_ms, synced }).ok_or(TokenError::Time)
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stamp::At { unix_ms, synced: true } => write!(f, "@{unix_ms}"),
            Stamp::At { unix_ms, synced: false } => write!(f, "@{unix_ms}?"),
            Stamp::Age { ms } => write!(f, "~{ms}"),
        }
    }
}

/// One reading as carried on a keep-alive answer:
/// `<sensor>=<value>[@<unix_ms>[?]|~<age_ms>][#<seq>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Which sensor.
    pub sensor: SensorId,
    /// What it gave.
    pub value: Value,
    /// When it was sampled; absent means "stamp it when received".
    pub stamp: Option<Stamp>,
    /// The client's sequence number, strictly increasing per client id; absent means no ack and no
    /// dedupe for this reading.
    pub seq: Option<u64>,
}

fn parse_u64(s: &str) -> Option<u64> {
    // `u64::from_str` accepts a leading '+'; the wire form does not.
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Reading {
    /// Parses one token of a keep-alive answer.
    pub fn parse(token: &str) -> Result<Self, TokenError> {
        let (sensor, rest) = token.split_once('=').ok_or(TokenError::MissingEquals)?;
        let sensor = SensorId::new(sensor).map_err(TokenError::Sensor)?;
        let (rest, seq) = match rest.rsplit_once('#') {
            Some((r, s)) => (r, Some(parse_u64(s).ok_or(TokenError::Seq)?)),
            None => (rest, None),
        };
        // Neither a value nor an error reason can hold '@' or '~', so the last one starts the stamp.
        let (value, stamp) = match rest.rfind(['@', '~']) {
            Some(at) => {
                let marker = if rest.as_bytes()[at] == b'@' { '@' } else { '~' };
                (&rest[..at], Some(Stamp::parse(marker, &rest[at + 1..])?))
            }
            None => (rest, None),
        };
        Ok(Reading { sensor, value: Value::parse(value)?, stamp, seq })
    }
}

impl fmt::Display for Reading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.sensor, self.value)?;
        if let Some(t) = self.stamp {
            t.fmt(f)?;
        }
        if let Some(s) = self.seq {
            write!(f, "#{s}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_short_parse_gives_the_float_parsers_value_to_the_bit() {
        let mut checked = 0;
        for m in -999_999i64..=999_999 {
            let text = format!("{}{}.{:03}", if m < 0 { "-" } else { "" }, m.abs() / 1000, m.abs() % 1000);
            for t in [text.clone(), text.trim_end_matches('0').trim_end_matches('.').to_owned()] {
                if t.is_empty() || t == "-" {
                    continue;
                }
                let fast = Celsius::parse(&t).map(|c| c.degrees().to_bits());
                let float = t.parse::<f64>().ok().and_then(Celsius::new).map(|c| c.degrees().to_bits());
                assert_eq!(fast, float, "{t}");
                checked += 1;
            }
        }
        assert!(checked > 3_000_000);
        for t in [
            "0",
            "-0",
            "-0.0",
            "007.5",
            "85",
            "125.0000001",
            "1.23456789",
            "0.",
            ".5",
            "-",
            "1e3",
            "+1",
            "999999999",
        ] {
            let float = if millis_form(t) { t.parse::<f64>().ok().and_then(Celsius::new) } else { None };
            assert_eq!(
                Celsius::parse(t).map(|c| c.degrees().to_bits()),
                float.map(|c| c.degrees().to_bits()),
                "{t}"
            );
        }
    }

    /// What `Celsius::parse` accepts at all: `-?digits(.digits)?`.
    fn millis_form(t: &str) -> bool {
        let d = t.strip_prefix('-').unwrap_or(t);
        let (i, f) = d.split_once('.').map_or((d, None), |(i, f)| (i, Some(f)));
        let all = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        all(i) && f.is_none_or(all)
    }

    #[test]
    fn people_see_three_decimals_the_wire_the_shortest_form() {
        let c = |v: f64| Celsius::new(v).unwrap();
        assert_eq!(c(21.0).fixed().to_string(), "21.000");
        assert_eq!(c(21.0).to_string(), "21");
        assert_eq!(c(21.0625).fixed().to_string(), "21.063");
        assert_eq!(c(-0.5).fixed().to_string(), "-0.500");
        assert_eq!(c(-0.0001).fixed().to_string(), "0.000");
        assert_eq!(c(-55.0).fixed().to_string(), "-55.000");
    }

    #[test]
    fn three_decimals_are_the_float_formatters_text_for_every_value() {
        // `fixed` formats integer millidegrees; it must read exactly as `{:.3}` of the value
        // rounded to thousandths did, over the whole range and between the thousandths.
        let by_float = |v: f64| {
            let v = (v * 1000.0).round() / 1000.0;
            format!("{:.3}", if v == 0.0 { 0.0 } else { v })
        };
        let halves = (-1_999_998..=1_999_998).map(|h: i32| f64::from(h) / 2000.0);
        let odd = [999.9999, -999.9999, 0.0004999, -0.0005, 0.0005, 1e-300, -1e-300, 85.0, -55.0625];
        for v in halves.chain(odd) {
            let c = Celsius::new(v).unwrap();
            assert_eq!(c.fixed().to_string(), by_float(v), "{v}");
        }
    }

    #[test]
    fn parses_the_full_form() {
        let r = Reading::parse("28-0316a2795aff=23.125@1763800000123#42").unwrap();
        assert_eq!(r.sensor.as_str(), "28-0316a2795aff");
        assert_eq!(r.value, Value::Celsius(Celsius::new(23.125).unwrap()));
        assert_eq!(r.stamp, Some(Stamp::at(1763800000123)));
        assert_eq!(r.seq, Some(42));
        assert_eq!(r.to_string(), "28-0316a2795aff=23.125@1763800000123#42");
    }

    #[test]
    fn parses_an_age_and_an_unsynchronised_time() {
        let r = Reading::parse("t=23.125~1500#7").unwrap();
        assert_eq!(r.stamp, Some(Stamp::Age { ms: 1500 }));
        assert_eq!(r.to_string(), "t=23.125~1500#7");
        let r = Reading::parse("t=err:crc@1763800000123?#8").unwrap();
        assert_eq!(r.stamp, Some(Stamp::At { unix_ms: 1763800000123, synced: false }));
        assert_eq!(r.to_string(), "t=err:crc@1763800000123?#8");
        assert_eq!(Reading::parse("t=1~0").unwrap().stamp, Some(Stamp::Age { ms: 0 }));
    }

    #[test]
    fn parses_errors_and_bare_values() {
        let r = Reading::parse("t=err:crc#43").unwrap();
        assert_eq!(r.value.to_string(), "err:crc");
        assert_eq!(r.stamp, None);
        assert_eq!(Reading::parse("t=-10.125").unwrap().value.to_string(), "-10.125");
    }

    #[test]
    fn refuses_each_bad_part_with_its_reason() {
        assert_eq!(Reading::parse("t23.5"), Err(TokenError::MissingEquals));
        assert!(matches!(
            Reading::parse("t t=1"),
            Err(TokenError::MissingEquals) | Err(TokenError::Sensor(_))
        ));
        assert_eq!(Reading::parse("t=1000"), Err(TokenError::Value));
        assert_eq!(Reading::parse("t=-1000.0"), Err(TokenError::Value));
        assert_eq!(Reading::parse("t=NaN"), Err(TokenError::Value));
        assert_eq!(Reading::parse("t=inf"), Err(TokenError::Value));
        assert_eq!(Reading::parse("t=1e2"), Err(TokenError::Value));
        assert_eq!(Reading::parse("t=+1"), Err(TokenError::Value));
        assert_eq!(Reading::parse("t=1."), Err(TokenError::Value));
        assert_eq!(Reading::parse("t=.5"), Err(TokenError::Value));
        assert_eq!(Reading::parse("t="), Err(TokenError::Value));
        assert!(matches!(Reading::parse("t=err:a.b"), Err(TokenError::Reason(_))));
        assert_eq!(Reading::parse("t=1@x"), Err(TokenError::Time));
        assert_eq!(Reading::parse("t=1@+5"), Err(TokenError::Time));
        assert_eq!(Reading::parse("t=1@5??"), Err(TokenError::Time));
        assert_eq!(Reading::parse("t=1@?"), Err(TokenError::Time));
        assert_eq!(Reading::parse("t=1~"), Err(TokenError::Age));
        assert_eq!(Reading::parse("t=1~5?"), Err(TokenError::Age));
        assert_eq!(Reading::parse("t=1~-5"), Err(TokenError::Age));
        assert_eq!(Reading::parse("t=1@5~6"), Err(TokenError::Value));
        assert_eq!(Reading::parse("t=1~5@6"), Err(TokenError::Value));
        assert_eq!(Reading::parse("t=1#18446744073709551616"), Err(TokenError::Seq));
        assert_eq!(Reading::parse("t=1#"), Err(TokenError::Seq));
    }

    #[test]
    fn limits_are_exclusive() {
        assert!(Celsius::parse("999.999").is_some());
        assert!(Celsius::parse("-999.9999").is_some());
        assert!(Celsius::parse("1000").is_none());
        assert_eq!(Celsius::from_millis(-55000).unwrap().to_string(), "-55");
        assert_eq!(Celsius::from_millis(21062).unwrap().to_string(), "21.062");
    }
}
