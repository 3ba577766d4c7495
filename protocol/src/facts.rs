//! What a client knows of one sensor (learnt once per start): how it is powered, its resolution,
//! and the kind of clone it looks like. Sent inside a `100` answer once per connection, to a server
//! that advertised `health=1` in `140` (the same servers that take health reports).
//!
//! Wire form (one token, no spaces): `f:<sensor>=<power>,<bits>,<clone>[,<bus>]`:
//! - `power`: `ext` (external), `par` (parasite) or `-` (unknown);
//! - `bits`: the resolution, `9` to `12`, or `-` (unknown; a DS18S20 has none);
//! - `clone`: the kind of clone it looks like, percent-encoded (every byte outside
//!   `[A-Za-z0-9._()-]` as `%XX`, e.g. `B1%20(GXCAS%2FUMW%2018B20)`), or `-` when it does not look
//!   like one. At most [`MAX_CLONE_KIND`] bytes once decoded;
//! - `bus`, when the client knows it: the bus the sensor hangs on (`w1_bus_master1`, `gpio:4`),
//!   1 to [`MAX_BUS`] of `[A-Za-z0-9._:-]`. A token without it says nothing of the bus.
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

/// The longest bus name, in bytes.
pub const MAX_BUS: usize = 32;

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
    /// Not three or four comma-separated fields.
    Fields,
    /// The power field is not `ext`, `par` or `-`.
    Power,
    /// The resolution is not 9 to 12 or `-`.
    Bits,
    /// The clone kind is not percent-encoded printable UTF-8 of at most [`MAX_CLONE_KIND`] bytes.
    Clone,
    /// The bus is not 1 to [`MAX_BUS`] of `[A-Za-z0-9._:-]`.
    Bus,
}

impl fmt::Display for FactsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FactsError::Prefix => f.write_str("not a facts token (no 'f:')"),
            FactsError::MissingEquals => f.write_str("no '=' between sensor and facts"),
            FactsError::Sensor(e) => write!(f, "bad sensor id: {e}"),
            FactsError::Fields => {
                f.write_str("not three or four comma-separated fields (power,bits,clone[,bus])")
            }
            FactsError::Power => f.write_str("power is not ext, par or -"),
            FactsError::Bits => f.write_str("bits is not 9 to 12 or -"),
            FactsError::Clone => write!(
                f,
                "the clone kind is not percent-encoded printable text of at most {MAX_CLONE_KIND} bytes"
            ),
            FactsError::Bus => write!(f, "the bus is not 1 to {MAX_BUS} of [A-Za-z0-9._:-]"),
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
    /// The bus it hangs on (`w1_bus_master1`, `gpio:4`), if the client said.
    pub bus: Option<String>,
}

/// Whether `bus` can go on the wire as it is: 1 to [`MAX_BUS`] of `[A-Za-z0-9._:-]`.
pub fn valid_bus(bus: &str) -> bool {
    (1..=MAX_BUS).contains(&bus.len())
        && bus.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
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
        let (Some(power), Some(bits), Some(clone), bus, None) =
            (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(FactsError::Fields);
        };
        let bus = match bus {
            None => None,
            Some(b) if valid_bus(b) => Some(b.to_owned()),
            Some(_) => return Err(FactsError::Bus),
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
        Ok(SensorFactsReport { sensor, power, bits, clone, bus })
    }
}

/// The wire form; a clone kind longer than [`MAX_CLONE_KIND`] is cut (at a character boundary), and
/// a bus that [`valid_bus`] refuses is left out.
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
            None => f.write_str("-")?,
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
                f.write_str(&out)?
            }
        }
        match self.bus.as_deref().filter(|b| valid_bus(b)) {
            Some(bus) => write!(f, ",{bus}"),
            None => Ok(()),
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
            bus: None,
        };
        let text = r.to_string();
        assert_eq!(text, "f:28-0316a2795aff=par,12,B1%2C%20B2%2C%20C%20or%20F%20(byte%206%20fixed)");
        assert_eq!(SensorFactsReport::parse(&text).unwrap(), r);
        let plain =
            SensorFactsReport { sensor: r.sensor.clone(), power: None, bits: None, clone: None, bus: None };
        assert_eq!(plain.to_string(), "f:28-0316a2795aff=-,-,-");
        assert_eq!(SensorFactsReport::parse(&plain.to_string()).unwrap(), plain);
    }

    #[test]
    fn the_bus_is_a_fourth_field_only_when_known() {
        let id = SensorId::new("28-0316a2795aff").unwrap();
        for (bus, text) in [
            ("w1_bus_master2", "f:28-0316a2795aff=ext,9,-,w1_bus_master2"),
            ("gpio:4", "f:28-0316a2795aff=ext,9,-,gpio:4"),
        ] {
            let r = SensorFactsReport {
                sensor: id.clone(),
                power: Some(Power::External),
                bits: Some(9),
                clone: None,
                bus: Some(bus.into()),
            };
            assert_eq!(r.to_string(), text);
            assert_eq!(SensorFactsReport::parse(text).unwrap(), r);
        }
        let odd = SensorFactsReport {
            sensor: id,
            power: None,
            bits: None,
            clone: Some("B1".into()),
            bus: Some("a bus".into()),
        };
        assert_eq!(
            odd.to_string(),
            "f:28-0316a2795aff=-,-,B1",
            "a bus that cannot go on the wire is left out"
        );
        assert!(valid_bus(&"b".repeat(MAX_BUS)) && !valid_bus(&"b".repeat(MAX_BUS + 1)) && !valid_bus(""));
    }

    #[test]
    fn hostile_tokens_get_typed_errors() {
        use FactsError::*;
        for (token, want) in [
            ("h:28-a=ext,12,-", Prefix),
            ("f:28-a", MissingEquals),
            ("f:=ext,12,-", Sensor(IdentError::Length(0))),
            ("f:28-a=ext,12", Fields),
            ("f:28-a=ext,12,-,x,y", Fields),
            ("f:28-a=ext,12,-,", Bus),
            ("f:28-a=ext,12,-,a/b", Bus),
            ("f:28-a=ext,12,-,a%20b", Bus),
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
