//! The lease connection's settings: short limits, so that a stuck or half-open connection cannot
//! hold a lease row's lock for longer than a few seconds.

use super::{FleetError, FleetSettings};
use crate::pg_config::{Options, Profile};
use postgres::Config;
use std::time::Duration;

/// Connecting gives up after this long when the URL sets no `connect_timeout`.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// PostgreSQL truncates `application_name` to 63 bytes.
const APPLICATION_NAME_MAX: usize = 63;

/// The connection settings of `url` for the fleet's leases of the server named `name`.
pub(super) fn config(url: &str, location: &str, name: &str, s: &FleetSettings) -> Result<Config, FleetError> {
    let profile = Profile {
        connect_timeout: CONNECT_TIMEOUT,
        // Shown in pg_stat_activity: which server's lease connection this is.
        application_name: &application_name(name),
        // A database host that vanished without a reset must show well within a TTL: probes from
        // 2 s idle, 3 unanswered 1 s apart; a request in flight gives up when unacknowledged for a
        // TTL (a lease could not be renewed by then anyway).
        keepalives: (Duration::from_secs(2), Duration::from_secs(1), 3),
        tcp_user_timeout: s.ttl.max(Duration::from_secs(1)),
        // Last on the line, so they win over the URL's own `options`: the bound on how long a stuck
        // session may hold a lease row's lock is part of the fleet's timing (docs/FLEET.md).
        options: Options::Last(format!(
            "-c statement_timeout={} -c idle_in_transaction_session_timeout={}",
            millis(s.statement_timeout),
            millis(s.idle_in_transaction_timeout)
        )),
    };
    Ok(crate::pg_config::config(url, location, &profile)?)
}

/// `cliser fleet NAME`, cut to what PostgreSQL keeps (on a character boundary).
fn application_name(name: &str) -> String {
    let mut s = format!("cliser fleet {name}");
    if s.len() > APPLICATION_NAME_MAX {
        let mut end = APPLICATION_NAME_MAX;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// A duration as PostgreSQL's settings take it: whole milliseconds, at least 1 (0 would mean
/// no limit).
fn millis(d: Duration) -> u128 {
    d.as_millis().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleets_limits_come_after_the_urls_own_options_so_they_win() {
        let s = FleetSettings::default();
        let c =
            config("postgres://u@db/cliser?options=-c%20statement_timeout%3D5min", "db", "a", &s).unwrap();
        let options = c.get_options().unwrap();
        assert!(options.starts_with("-c statement_timeout=5min -c statement_timeout="), "{options}");
        assert!(options.contains("idle_in_transaction_session_timeout="), "{options}");
        assert_eq!(c.get_application_name(), Some("cliser fleet a"));
        assert_eq!(c.get_keepalives_idle(), Duration::from_secs(2));
        assert_eq!(c.get_tcp_user_timeout(), Some(&s.ttl));
    }
}
