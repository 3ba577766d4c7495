//! What a client knows of one sensor (learnt once per start): how it is powered, its resolution,
//! and the kind of clone it looks like. Sent inside a `100` answer once per connection, to a server
//! that advertised `health=1` in `140` (the same servers that take health reports).
//!
//! Wire form (one token, no spaces): `f:<sensor>=<power>,<bits>,<clone>`:
//! - `power`: `ext` (external), `par` (parasite) or `-` (unknown);
//! - `bits`: the resolution, `9` to `12`, or `-` (unknown; a DS18S20 has none);
//! - `clone`: the kind of clone it looks like, percent-encoded (every byte outside
//!   `[A-Za-z0-9._()-]` as `%XX`, e.g. `B1%20(GXCAS%2FUMW%2018B20)`), or `-` when it does not look
//!   like one. At most [`MAX_CLONE_KIND`] bytes once decoded.
//!
//! See docs/PROTOCOL.md, "Sensor facts".

use crate::ident::SensorId;
use crate::IdentError;
use std::fmt;
use std::fmt::Write as _;

/// The prefix that marks a facts token in a `100` answer (no sensor id holds `:`).
pub const FACTS_PREFIX: &str = "f:";

/// The longest clone kind, in bytes once decoded.
pub const MAX_CLONE_KIND: usize = 64;

/// How a sensor is powered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    /// From its VDD pin.
    External,
    /// From the data line.
    Parasite,
}

/// Why a facts token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactsError {
    /// It does not start with `f:`.
    Prefix,
    /// No `=` between sensor and facts.
    MissingEquals,
    /// The sensor id is not 1-32 of `[A-Za-z0-9._-]`.
    Sensor(IdentError),
    /// Not three comma-separated fields.
    Fields,
    /// The power field is not `ext`, `par` or `-`.
    Power,
    /// The resolution is not 9 to 12 or `-`.
    Bits,
    /// The clone kind is not percent-encoded printable UTF-8 of at most [`MAX_CLONE_KIND`] bytes.
    Clone,
}

impl fmt::Display for FactsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FactsError::Prefix => f.write_str("not a facts token (no 'f:')"),
            FactsError::MissingEquals => f.write_str("no '=' between sensor and facts"),
            FactsError::Sensor(e) => write!(f, "bad sensor id: {e}"),
            FactsError::Fields => f.write_str("not three comma-separated fields (power,bits,clone)"),
            FactsError::Power => f.write_str("power is not ext, par or -"),
            FactsError::Bits => f.write_str("bits is not 9 to 12 or -"),
            FactsError::Clone => write!(
                f,
                "the clone kind is not percent-encoded printable text of at most {MAX_CLONE_KIND} bytes"
            ),
        }
    }
}

impl std::error::Error for FactsError {}

/// One sensor's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensorFactsReport {
    /// The sensor.
    pub sensor: SensorId,
    /// Its power mode, if known.
    pub power: Option<Power>,
    /// Its resolution in bits (9 to 12), if known.
    pub bits: Option<u8>,
    /// The kind of clone it looks like (e.g. `B1 (GXCAS/UMW 18B20)`); `None`: it does not.
    pub clone: Option<String>,
}

fn raw(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"._()-".contains(&b)
}

fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b if raw(b) => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    let s = String::from_utf8(out).ok()?;
    (!s.is_empty() && s.len() <= MAX_CLONE_KIND && !s.chars().any(char::is_control)).then_some(s)
}

impl SensorFactsReport {
    /// Parses one token; every part is checked and a hostile token gets a typed error.
    pub fn parse(token: &str) -> Result<Self, FactsError> {
        let rest = token.strip_prefix(FACTS_PREFIX).ok_or(FactsError::Prefix)?;
        let (sensor, rest) = rest.split_once('=').ok_or(FactsError::MissingEquals)?;
        let sensor = SensorId::new(sensor).map_err(FactsError::Sensor)?;
        let mut fields = rest.split(',');
        let (Some(power), Some(bits), Some(clone), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(FactsError::Fields);
        };
        let power = match power {
            "ext" => Some(Power::External),
            "par" => Some(Power::Parasite),
            "-" => None,
            _ => return Err(FactsError::Power),
        };
        let bits = match bits {
            "-" => None,
            b => Some(b.parse().ok().filter(|n| (9..=12).contains(n)).ok_or(FactsError::Bits)?),
        };
        let clone = match clone {
            "-" => None,
            c => Some(decode(c).ok_or(FactsError::Clone)?),
        };
        Ok(SensorFactsReport { sensor, power, bits, clone })
    }
}

/// The wire form; a clone kind longer than [`MAX_CLONE_KIND`] is cut (at a character boundary).
impl fmt::Display for SensorFactsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let power = match self.power {
            Some(Power::External) => "ext",
            Some(Power::Parasite) => "par",
            None => "-",
        };
        write!(f, "{FACTS_PREFIX}{}={power},", self.sensor)?;
        match self.bits {
            Some(b) => write!(f, "{b},")?,
            None => f.write_str("-,")?,
        }
        match self.clone.as_deref().filter(|c| !c.is_empty()) {
            None => f.write_str("-"),
            Some(kind) => {
                let mut end = kind.len().min(MAX_CLONE_KIND);
                while !kind.is_char_boundary(end) {
                    end -= 1;
                }
                let mut out = String::new();
                for &b in &kind.as_bytes()[..end] {
                    if raw(b) {
                        out.push(b as char);
                    } else if b.is_ascii_control() {
                        out.push_str("%20");
                    } else {
                        let _ = write!(out, "%{b:02X}");
                    }
                }
                f.write_str(&out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_encodes_the_clone_kind() {
        let r = SensorFactsReport {
            sensor: SensorId::new("28-0316a2795aff").unwrap(),
            power: Some(Power::Parasite),
            bits: Some(12),
            clone: Some("B1, B2, C or F (byte 6 fixed)".into()),
        };
        let text = r.to_string();
        assert_eq!(text, "f:28-0316a2795aff=par,12,B1%2C%20B2%2C%20C%20or%20F%20(byte%206%20fixed)");
        assert_eq!(SensorFactsReport::parse(&text).unwrap(), r);
        let plain = SensorFactsReport { sensor: r.sensor.clone(), power: None, bits: None, clone: None };
        assert_eq!(plain.to_string(), "f:28-0316a2795aff=-,-,-");
        assert_eq!(SensorFactsReport::parse(&plain.to_string()).unwrap(), plain);
    }

    #[test]
    fn hostile_tokens_get_typed_errors() {
        use FactsError::*;
        for (token, want) in [
            ("h:28-a=ext,12,-", Prefix),
            ("f:28-a", MissingEquals),
            ("f:=ext,12,-", Sensor(IdentError::Length(0))),
            ("f:28-a=ext,12", Fields),
            ("f:28-a=ext,12,-,x", Fields),
            ("f:28-a=vdd,12,-", Power),
            ("f:28-a=ext,13,-", Bits),
            ("f:28-a=ext,x,-", Bits),
            ("f:28-a=ext,12,", Clone),
            ("f:28-a=ext,12,a%2", Clone),
            ("f:28-a=ext,12,a%zz", Clone),
            ("f:28-a=ext,12,%FF", Clone),
            ("f:28-a=ext,12,%0A", Clone),
            ("f:28-a=ext,12,a/b", Clone),
        ] {
            assert_eq!(SensorFactsReport::parse(token), Err(want.clone()), "{token}");
            assert!(!want.to_string().is_empty());
        }
        let long = format!("f:28-a=ext,12,{}", "a".repeat(MAX_CLONE_KIND + 1));
        assert_eq!(SensorFactsReport::parse(&long), Err(Clone));
    }
}
