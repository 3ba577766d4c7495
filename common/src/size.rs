//! Amounts of memory as people write them (`64MiB`, `512 KiB`, `1G`), in flags and in TOML files.
//! Units are binary (`K`, `M` and `G` are `KiB`, `MiB` and `GiB`: what SQLite and the kernel count
//! in) and required: a bare `64` could be bytes or mebibytes.

use std::fmt;

/// What a bad size's message suggests.
const EXAMPLE: &str = "expected e.g. 64MiB, 512KiB, 1GiB";

/// Why a text is not a size; the text is meant for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// No number, or a number with a unit we do not know.
    #[error("{0:?} is not a size ({EXAMPLE})")]
    Unreadable(String),
    /// A number without a unit.
    #[error("{0:?} has no unit ({EXAMPLE})")]
    NoUnit(String),
    /// More than 2^64 bytes.
    #[error("{0:?} is too large")]
    TooLarge(String),
}

/// A number of bytes, shown in the largest binary unit that divides it (`64MiB`, `1536KiB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Size(pub u64);

impl Size {
    /// `n` mebibytes.
    pub const fn mib(n: u64) -> Size {
        Size(n << 20)
    }

    /// The bytes.
    pub const fn bytes(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [("GiB", 30), ("MiB", 20), ("KiB", 10)];
        for (name, shift) in units {
            if self.0 != 0 && self.0.is_multiple_of(1 << shift) {
                return write!(f, "{}{name}", self.0 >> shift);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl std::str::FromStr for Size {
    type Err = SizeError;
    fn from_str(s: &str) -> Result<Size, SizeError> {
        parse(s)
    }
}

/// Parses a size: digits, optional blanks, then `B`, `K`/`KiB`, `M`/`MiB` or `G`/`GiB` (any case).
/// A clap `value_parser`.
pub fn parse(text: &str) -> Result<Size, SizeError> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    if number.is_empty() {
        return Err(SizeError::Unreadable(text.to_owned()));
    }
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" => return Err(SizeError::NoUnit(text.to_owned())),
        "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return Err(SizeError::Unreadable(text.to_owned())),
    };
    let n: u64 = number.parse().map_err(|_| SizeError::TooLarge(text.to_owned()))?;
    n.checked_mul(1 << shift).map(Size).ok_or_else(|| SizeError::TooLarge(text.to_owned()))
}

/// `#[serde(default, deserialize_with = "cliser_common::size::optional")]` for an `Option<Size>`
/// key of a config file: the same [`parse`] as the flags.
pub fn optional<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Size>, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(d)?;
    parse(&text).map(Some).map_err(|e| serde::de::Error::custom(format!("invalid size: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_units_are_required_and_what_is_shown_parses_back() {
        assert_eq!(parse("64MiB"), Ok(Size(64 << 20)));
        assert_eq!(parse(" 512 kib "), Ok(Size(512 << 10)));
        assert_eq!(parse("1G"), Ok(Size(1 << 30)));
        assert_eq!(parse("100B"), Ok(Size(100)));
        assert_eq!(parse("64"), Err(SizeError::NoUnit("64".into())));
        assert_eq!(parse("MiB"), Err(SizeError::Unreadable("MiB".into())));
        assert_eq!(parse("64MB!"), Err(SizeError::Unreadable("64MB!".into())));
        assert_eq!(parse("-1MiB"), Err(SizeError::Unreadable("-1MiB".into())));
        assert_eq!(parse("99999999999999999999G"), Err(SizeError::TooLarge("99999999999999999999G".into())));
        assert_eq!(parse("17179869184G"), Err(SizeError::TooLarge("17179869184G".into())));
        assert!(parse("64").unwrap_err().to_string().contains("expected e.g. 64MiB"));
        for s in [Size::mib(64), Size(1536 << 10), Size(1 << 30), Size(100), Size(0)] {
            assert_eq!(parse(&s.to_string()), Ok(s), "{s}");
        }
        assert_eq!(Size(1536 << 10).to_string(), "1536KiB");
    }
}
