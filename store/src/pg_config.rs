//! A PostgreSQL connection's settings from the operator's URL: the same steps for every kind of
//! connection cliser opens (the store's, the fleet's leases); what differs is a [`Profile`]. What the
//! URL sets itself always wins, except options a profile must have last.

use crate::StoreError;
use postgres::Config;
use std::time::Duration;

/// How one kind of connection is set up where the URL is silent.
pub(crate) struct Profile<'a> {
    /// Connecting gives up after this long.
    pub connect_timeout: Duration,
    /// Shown in `pg_stat_activity`.
    pub application_name: &'a str,
    /// TCP keepalive probes: idle time before the first, interval, unanswered probes before dead.
    /// Always set: the kernel's defaults notice a vanished host after ~11 minutes.
    pub keepalives: (Duration, Duration, u32),
    /// A request in flight gives up when unacknowledged this long.
    pub tcp_user_timeout: Duration,
    /// Server-side settings (`-c name=value ...`).
    pub options: Options,
}

/// Where a profile's server-side settings go.
pub(crate) enum Options {
    /// Added unless the URL's own `options` mention `key`.
    UnlessUrlSets {
        /// The setting's name, e.g. `statement_timeout`.
        key: &'static str,
        /// What to add.
        text: String,
    },
    /// Added after the URL's own, so they win: bounds the design relies on.
    Last(String),
}

/// The settings of `url` (named `location` in errors, its password hidden) for `profile`.
pub(crate) fn config(url: &str, location: &str, profile: &Profile) -> Result<Config, StoreError> {
    let mut config: Config = url.parse().map_err(|source| StoreError::Postgres {
        url: location.to_owned(),
        op: "parse URL",
        source,
    })?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(profile.connect_timeout);
    }
    if config.get_application_name().is_none() {
        config.application_name(profile.application_name);
    }
    let (idle, interval, retries) = profile.keepalives;
    config.keepalives(true).keepalives_idle(idle).keepalives_interval(interval).keepalives_retries(retries);
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(profile.tcp_user_timeout);
    }
    let given = config.get_options().unwrap_or_default();
    let add = match &profile.options {
        Options::UnlessUrlSets { key, .. } if given.contains(key) => None,
        Options::UnlessUrlSets { text, .. } | Options::Last(text) => Some(text),
    };
    if let Some(add) = add {
        let with = match given {
            "" => add.clone(),
            other => format!("{other} {add}"),
        };
        config.options(&with);
    }
    Ok(config)
}
