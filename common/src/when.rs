//! Points in time as people write them: `24h` (that long ago) or an RFC 3339 time (`2026-11-30T08:00:00Z`).

use std::time::{SystemTime, UNIX_EPOCH};

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
    use std::time::Duration;

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
