//! Durations as people write them (`10s`, `500ms`, `1h 30m`), in flags and in TOML files, parsed by
//! `humantime` in every binary.

use std::time::Duration;

/// What a bad duration's message suggests.
const EXAMPLE: &str = "expected e.g. 10s, 500ms";

/// Why a text is not a duration; the text is meant for the user.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DurationError {
    /// Not a duration with units.
    #[error("{0} ({EXAMPLE})")]
    Unreadable(#[source] humantime::DurationError),
    /// Zero where only more than zero makes sense.
    #[error("must be more than zero")]
    Zero,
}

/// Parses a duration.
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    humantime::parse_duration(s.trim()).map_err(DurationError::Unreadable)
}

/// Parses a duration that must be more than zero (an interval, a timeout). A clap `value_parser`.
pub fn parse_positive(s: &str) -> Result<Duration, DurationError> {
    let d = parse(s)?;
    if d.is_zero() {
        return Err(DurationError::Zero);
    }
    Ok(d)
}

/// `#[serde(default, deserialize_with = "cliser_common::duration::optional")]` for an
/// `Option<Duration>` key of a config file: the same [`parse`] as the flags, so a value that works on
/// the command line works in the file, and a bad one gets the same explanation.
pub fn optional<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = <String as serde::Deserialize>::deserialize(d)?;
    parse(&text).map(Some).map_err(|e| serde::de::Error::custom(format!("invalid duration {text:?}: {e}")))
}

/// Formats a duration the way it is parsed (`1m 30s`, `90d`, `500ms`), in days at most: humantime's
/// own formatter says `2months 29days 2h 52m 48s` for 90 days.
pub fn format(d: Duration) -> String {
    let units = [("d", 86_400_000u128), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    let mut left = d.as_millis();
    let mut parts = Vec::new();
    for (name, size) in units {
        if left >= size {
            parts.push(format!("{}{name}", left / size));
            left %= size;
        }
    }
    if parts.is_empty() {
        return "0s".into();
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_are_required_and_zero_is_refused_where_it_makes_no_sense() {
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("1m 30s"), Ok(Duration::from_secs(90)));
        assert!(parse("soon").unwrap_err().to_string().contains("expected e.g. 10s"));
        assert!(parse("10").is_err());
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_positive("0s").unwrap_err().to_string(), "must be more than zero");
        assert_eq!(format(Duration::from_secs(90)), "1m 30s");
        assert_eq!(format(Duration::from_secs(90 * 86_400)), "90d");
        assert_eq!(format(Duration::from_millis(1_500)), "1s 500ms");
        assert_eq!(format(Duration::ZERO), "0s");
        for d in [Duration::from_secs(90 * 86_400 + 3_661), Duration::from_millis(61_001)] {
            assert_eq!(parse(&format(d)), Ok(d), "what it prints parses back");
        }
    }

    #[test]
    fn toml_fields_parse_with_the_same_rule() {
        #[derive(Debug, serde::Deserialize)]
        struct F {
            #[serde(default, deserialize_with = "super::optional")]
            every: Option<Duration>,
        }
        let f: F = toml::from_str("every = \"2s\"").unwrap();
        assert_eq!(f.every, Some(Duration::from_secs(2)));
        let f: F = toml::from_str("").unwrap();
        assert_eq!(f.every, None);
        let e = toml::from_str::<F>("every = \"soon\"").unwrap_err().to_string();
        assert!(e.contains("invalid duration \"soon\"") && e.contains("expected e.g. 10s"), "{e}");
    }
}
