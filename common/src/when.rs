//! Points in time as people write them: `24h` (that long ago) or an RFC 3339 time (`2026-11-30T08:00:00Z`).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Why a text is not a point in time; the text names the flag (or parameter) and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WhenError {
    /// Neither a duration nor an RFC 3339 time.
    #[error("{flag} {text:?}: expected a duration ago (24h, 30m) or a time (2026-11-30T08:00:00Z)")]
    Unreadable {
        /// The flag or parameter.
        flag: String,
        /// The value given.
        text: String,
    },
    /// A time before the Unix epoch.
    #[error("{flag} {text:?}: before 1970")]
    Before1970 {
        /// The flag or parameter.
        flag: String,
        /// The value given.
        text: String,
    },
}

/// The last millisecond RFC 3339 can write: 9999-12-31T23:59:59.999Z.
pub const LATEST_MS: i64 = 253_402_300_799_999;

/// Unix milliseconds as RFC 3339 UTC with milliseconds (`2026-12-06T05:55:59.777Z`), formatted
/// without a temporary string. A time RFC 3339 cannot write (before 1970, after 9999: a broken
/// stamp, which a store may hold from before the sink refused them) is written as the nearest one
/// it can, so that printing a stored time never fails: the formatter underneath panics on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rfc3339Ms(pub i64);

impl fmt::Display for Rfc3339Ms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = UNIX_EPOCH + Duration::from_millis(self.0.clamp(0, LATEST_MS) as u64);
        fmt::Display::fmt(&humantime::format_rfc3339_millis(at), f)
    }
}

/// Unix milliseconds of `text`, relative to `now`.
pub fn parse(flag: &str, text: &str, now: SystemTime) -> Result<i64, WhenError> {
    let before_1970 = || WhenError::Before1970 { flag: flag.to_owned(), text: text.to_owned() };
    let at = match crate::duration::parse(text) {
        Ok(ago) => now.checked_sub(ago).ok_or_else(before_1970)?,
        Err(_) => humantime::parse_rfc3339_weak(text)
            .map_err(|_| WhenError::Unreadable { flag: flag.to_owned(), text: text.to_owned() })?,
    };
    let ms = at.duration_since(UNIX_EPOCH).map_err(|_| before_1970())?.as_millis();
    Ok(ms as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_time_prints_as_rfc3339_and_one_out_of_its_range_as_the_nearest_it_can_write() {
        assert_eq!(Rfc3339Ms(1_796_536_559_777).to_string(), "2026-12-06T05:55:59.777Z");
        assert_eq!(Rfc3339Ms(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Rfc3339Ms(LATEST_MS).to_string(), "9999-12-31T23:59:59.999Z");
        assert_eq!(Rfc3339Ms(-1).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Rfc3339Ms(i64::MIN).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Rfc3339Ms(LATEST_MS + 1).to_string(), "9999-12-31T23:59:59.999Z");
        assert_eq!(Rfc3339Ms(i64::MAX).to_string(), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn ago_or_a_time() {
        let now = UNIX_EPOCH + Duration::from_secs(100_000);
        assert_eq!(parse("--since", "24h", now), Ok(100_000_000 - 86_400_000));
        assert_eq!(parse("--since", "1970-01-01T00:00:10Z", now), Ok(10_000));
        assert!(parse("--since", "soon", now)
            .unwrap_err()
            .to_string()
            .starts_with("--since \"soon\": expected"));
    }
}
