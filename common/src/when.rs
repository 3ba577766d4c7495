//! Points in time as people write them: `24h` (that long ago) or an RFC 3339 time (`2026-11-30T08:00:00Z`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix milliseconds of `text`, relative to `now`.
pub fn parse(flag: &str, text: &str, now: SystemTime) -> Result<i64, String> {
    let at = match crate::duration::parse(text) {
        Ok(ago) => now.checked_sub(ago).ok_or_else(|| format!("{flag} {text:?}: before 1970"))?,
        Err(_) => humantime::parse_rfc3339_weak(text).map_err(|_| {
            format!("{flag} {text:?}: expected a duration ago (24h, 30m) or a time (2026-11-30T08:00:00Z)")
        })?,
    };
    let ms = at.duration_since(UNIX_EPOCH).map_err(|_| format!("{flag} {text:?}: before 1970"))?.as_millis();
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
        assert!(parse("--since", "soon", now).unwrap_err().starts_with("--since \"soon\": expected"));
    }
}
