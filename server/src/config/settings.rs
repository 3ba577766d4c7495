//! Every server setting, declared once: its name (the field: `max_clients` is the flag
//! `--max-clients` and the config key `max-clients`), its type, its default, its doc (the `--help`
//! text) and whether a reload applies it. From that one declaration `settings!` makes
//!
//! - [`Cli`], which clap fills from the command line and serde from the `--config` file (the same
//!   struct twice: every field optional, absent unless given);
//! - [`Settings`], the two merged field by field by [`Cli::over`]: a flag wins over the file, a
//!   declared default fills what neither gave, and each value remembers where it came from
//!   ([`Given`]) so a message names it as the user wrote it (`--dead-after` or
//!   `config key dead-after`);
//! - the keys a reload applies and the keys the flags set, for the reload's key check (`reload_check`).

use super::export_config::{InfluxFile, MqttFile};
pub use super::given::{key, Given, Layer, Source};
use crate::auth::BrakeSettings;
use clap::Parser;
use cliser_common::duration;
use cliser_common::size::{self, Size};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Raw readings are kept this long unless `--retain-raw` says otherwise.
pub const DEFAULT_RETAIN_RAW: Duration = Duration::from_secs(90 * 24 * 3600);

/// The flag's value over the file's, with where it came from.
fn layer<T: Layer>(field: &'static str, flag: Option<T>, file: Option<T>) -> Option<Given<T>> {
    match (flag, file) {
        (Some(flag), file) => {
            let value = match file {
                Some(file) => flag.over(file),
                None => flag,
            };
            Some(Given { value, field, source: Source::Flag })
        }
        (None, Some(value)) => Some(Given { value, field, source: Source::File }),
        (None, None) => None,
    }
}

/// The key a flag sets, as the reload's key check (`reload_check`) names keys: `listen`, `mqtt.url`.
fn flag_key<T: Layer>(field: &str) -> String {
    match T::FLAG_SETS {
        Some(inner) => format!("{}.{inner}", key(field)),
        None => key(field),
    }
}

/// Declares the settings: each is `doc and clap/serde attributes, field: type [= default] [=> reload],`.
/// A field with a default is a [`Given<T>`] in [`Settings`], one without an `Option<Given<T>>`;
/// `=> reload` marks a key a reload applies (the others need a restart).
macro_rules! settings {
    // The one marker there is: a misspelt one does not compile.
    (@marker reload) => {};
    (@merged $ty:ty) => { Option<Given<$ty>> };
    (@merged $ty:ty, $default:expr) => { Given<$ty> };
    (@value $field:ident, $given:expr) => { $given };
    (@value $field:ident, $given:expr, $default:expr) => {
        $given.unwrap_or_else(|| Given {
            value: Into::into($default),
            field: stringify!($field),
            source: Source::Default,
        })
    };
    ($(
        $(#[$attr:meta])*
        $field:ident: $ty:ty $(= $default:expr)? $(=> $applied:ident)?,
    )*) => {
        /// The settings as given: clap fills it from the command line, serde from the `--config`
        /// file, whose keys are the flags' long names. A flag wins over the file ([`Cli::over`]).
        #[derive(Debug, Default, Parser, Deserialize)]
        #[command(
            name = "cliser-server",
            version,
            about = "The cliser server: authenticates Pi clients and logs their temperatures."
        )]
        #[serde(rename_all = "kebab-case", deny_unknown_fields)]
        pub struct Cli {
            $(
                $(#[$attr])*
                pub $field: Option<$ty>,
            )*
            /// TOML file whose keys are these flags' long names, e.g. `keepalive = "10s"`.
            #[arg(long, global = true, value_name = "PATH")]
            #[serde(skip)]
            pub config: Option<PathBuf>,
            /// What to do; without one, run the server.
            #[command(subcommand)]
            #[serde(skip)]
            pub command: Option<crate::commands::Command>,
        }

        /// The settings the server resolves into its [`super::Config`]: the flags over the file,
        /// defaults filled, each value with where it came from.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $(
                #[allow(missing_docs)]
                pub $field: settings!(@merged $ty $(, $default)?),
            )*
        }

        impl Cli {
            /// Old names still taken, as (alias, key): the file's `backdoor` is `console`.
            pub const KEY_ALIASES: &'static [(&'static str, &'static str)] = &[("backdoor", "console")];

            /// Every setting's field, in declaration order (its key is [`key`] of it).
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// The fields a reload applies; the file's other keys need a restart.
            pub const APPLIED_ON_RELOAD: &'static [&'static str] =
                &[$($({ settings!(@marker $applied); stringify!($field) },)?)*];

            /// These flags over `file` (the `--config` file's settings), field by field.
            pub fn over(&self, file: Cli) -> Settings {
                Settings {
                    $(
                        $field: settings!(
                            @value $field,
                            layer(stringify!($field), self.$field.clone(), file.$field)
                            $(, $default)?
                        ),
                    )*
                }
            }

            /// The keys these flags set, as the reload's key check (`reload_check`) names keys (`listen`, `mqtt.url`):
            /// the file's value of such a key is not used.
            pub fn flag_keys(&self) -> Vec<String> {
                let mut keys = Vec::new();
                $(
                    if self.$field.is_some() {
                        keys.push(flag_key::<$ty>(stringify!($field)));
                    }
                )*
                keys
            }
        }
    };
}

settings! {
    /// Address for the Pi clients in clear, or `off` (then --listen-tls is the only way in)
    /// [default: 0.0.0.0:1111].
    #[arg(long, value_name = "ADDR|off")]
    listen: String = "0.0.0.0:1111",
    /// Address for the Pi clients inside TLS (needs --tls-cert and --tls-key) [default: none].
    #[arg(long, value_name = "ADDR")]
    listen_tls: String,
    /// The server's certificate chain, PEM, server certificate first (`gen-tls` writes one).
    #[arg(long, value_name = "PEM")]
    tls_cert: PathBuf,
    /// The server certificate's private key, PEM.
    #[arg(long, value_name = "PEM")]
    tls_key: PathBuf,
    /// Address for the admin console (the original's "backdoor": that flag and key are taken too);
    /// a non-loopback address requires an admin password [default: 127.0.0.1:3333].
    #[arg(long, value_name = "ADDR", visible_alias = "backdoor")]
    #[serde(alias = "backdoor")]
    console: String = "127.0.0.1:3333",
    /// Address of the web page, its JSON API and /metrics, or `off`; with an admin password every
    /// request needs it (HTTP Basic auth), and a non-loopback address requires one
    /// [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR|off")]
    http: String = "127.0.0.1:8080",
    /// Keep-alive interval, e.g. `10s`, `500ms` [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse_positive)]
    #[serde(default, deserialize_with = "duration::optional")]
    keepalive: Duration = Duration::from_secs(10),
    /// Time a new connection has to finish the password and id exchange (a console connection: its
    /// TLS handshake and the admin password) [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse_positive)]
    #[serde(default, deserialize_with = "duration::optional")]
    auth_timeout: Duration = Duration::from_secs(10),
    /// A registered client silent for this many keep-alive intervals is dead [default: 3].
    #[arg(long, value_name = "N")]
    dead_after: u32 = 3u32,
    /// Connections (authenticating or registered) beyond this are refused [default: 1024].
    #[arg(long, value_name = "N")]
    max_clients: usize = 1024usize,
    /// Distinct sensor ids a client may report; readings of more are refused (not stored), with
    /// one warning naming the client [default: 64].
    #[arg(long, value_name = "N")]
    max_sensors_per_client: usize = crate::sensor_cap::DEFAULT_MAX_SENSORS_PER_CLIENT,
    /// Where readings are stored: `sqlite:PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`
    /// [default: sqlite:<data dir>/cliser.db].
    #[arg(long, global = true, value_name = "URL")]
    store: String,
    /// Directory of the default SQLite store, created if missing [default: $STATE_DIRECTORY, else
    /// ./cliser-data].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: PathBuf,
    /// Raw readings older than this are deleted (hourly rollups are kept forever); `0` keeps all
    /// [default: 90d].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    #[serde(default, deserialize_with = "duration::optional")]
    retain_raw: Duration = DEFAULT_RETAIN_RAW,
    /// What SQLite's page caches of all the server's store connections may hold together, e.g.
    /// `64MiB`, `512KiB`: the sink's connection gets half, the page's, the alerts', retention's and
    /// the exporters' share the rest; at least 4MiB [default: 64MiB].
    #[arg(long, value_name = "SIZE", value_parser = size::parse)]
    #[serde(default, deserialize_with = "size::optional")]
    store_memory: Size = super::store_memory::DEFAULT_STORE_MEMORY,
    /// Replaced by the store (see --store); refused with a message that says so.
    #[arg(long, value_name = "PATH", hide = true)]
    readings_csv: PathBuf,
    /// File holding the client password (else the CLISER_PASSWORD environment variable).
    #[arg(long, value_name = "PATH")]
    password_file: PathBuf,
    /// File holding the admin console password (else CLISER_ADMIN_PASSWORD); required when the
    /// console listens on a non-loopback address.
    #[arg(long, value_name = "PATH")]
    admin_password_file: PathBuf,
    /// Per-client tokens: a TOML file of `id = "argon2 hash"` lines (`add-client` writes it). With
    /// it, an id listed there logs in only with its own token; other ids with the fleet password, if
    /// one is set. SIGHUP and the console's `R` read it again.
    #[arg(long, global = true, value_name = "PATH")]
    clients_file: PathBuf => reload,
    /// Failed logins from one address within --auth-window that block it for --auth-block; `0`
    /// turns the brake off [default: 5].
    #[arg(long, value_name = "N")]
    auth_max_failures: u32 = BrakeSettings::default().max_failures,
    /// How far back failed logins count [default: 60s].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse_positive)]
    #[serde(default, deserialize_with = "duration::optional")]
    auth_window: Duration = BrakeSettings::default().window,
    /// How long a blocked address is refused [default: 60s].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse_positive)]
    #[serde(default, deserialize_with = "duration::optional")]
    auth_block: Duration = BrakeSettings::default().block,
    /// Addresses the brake never blocks (their failures are still logged and counted), as
    /// fail2ban's ignoreip: e.g. a local TLS proxy in front of the server; `none` exempts nothing
    /// [default: 127.0.0.0/8,::1].
    #[arg(long, value_name = "CIDR[,CIDR...]|none")]
    #[serde(default, deserialize_with = "exempt_text")]
    auth_exempt: String,
    /// Once every listener is bound, write one line of JSON here (through `PATH.tmp` and a rename),
    /// so whoever started the server on port 0 learns its addresses:
    /// `{"listen":ADDR,"listen_tls":ADDR,"console":ADDR,"http":ADDR,"pid":N}` (`listen` unless
    /// `--listen off`, `listen_tls` only with --listen-tls, `http` unless `--http off`).
    #[arg(long, value_name = "PATH")]
    ready_file: PathBuf,
    /// This server's name in a fleet of servers sharing one PostgreSQL store: shown with the
    /// clients it holds (a refused duplicate's log line, the fleet view) [default: the host name
    /// and the client port].
    #[arg(long, value_name = "NAME")]
    fleet_name: String,
    /// Export every reading to this MQTT broker, with Home Assistant discovery: `mqtt://HOST:1883`
    /// or `mqtts://HOST:8883` (credentials, CA and topic prefixes in `[mqtt]` of --config).
    #[arg(long, value_name = "URL", value_parser = MqttFile::from_url)]
    mqtt: MqttFile,
    /// Export every reading to InfluxDB or VictoriaMetrics (line protocol over HTTP):
    /// `http://HOST:8086/write?db=NAME` (1.x), `.../api/v2/write?org=ORG&bucket=BUCKET` (2.x, token in
    /// `[influx]` of --config), `http://HOST:8428/write` (VictoriaMetrics).
    #[arg(long, value_name = "URL", value_parser = InfluxFile::from_url)]
    influx: InfluxFile,
    /// Sensor names, calibration and limits (`[sensors]` of --config only, read by
    /// `Settings::load`, again on reload).
    #[arg(skip)]
    sensors: toml::Value => reload,
    /// Per-node settings (`[nodes]` of --config only, as `[sensors]`).
    #[arg(skip)]
    nodes: toml::Value => reload,
    /// Alert targets (`[alerts]` of --config only, as `[sensors]`).
    #[arg(skip)]
    alerts: toml::Value => reload,
}

/// `auth-exempt` in the file: `"127.0.0.0/8,::1"` as on the command line, or a list of ranges (an
/// empty list exempts nothing, as `none`).
fn exempt_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Exempt {
        Text(String),
        List(Vec<String>),
    }
    Ok(Some(match Exempt::deserialize(d)? {
        Exempt::Text(text) => text,
        Exempt::List(list) if list.is_empty() => "none".to_owned(),
        Exempt::List(list) => list.join(","),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("cliser-server").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn a_flag_wins_over_the_file_and_a_default_fills_the_rest_each_saying_where_it_came_from() {
        let file: Cli = toml::from_str("keepalive = \"2s\"\nmax-clients = 7\ndead-after = 4\n").unwrap();
        let s = cli(&["--keepalive", "500ms", "--dead-after", "5"]).over(file);
        assert_eq!(
            (s.keepalive.value, s.keepalive.name()),
            (Duration::from_millis(500), "--keepalive".into())
        );
        assert_eq!((s.max_clients.value, s.max_clients.name()), (7, "config key max-clients".into()));
        assert_eq!((s.listen.value.as_str(), s.listen.source), ("0.0.0.0:1111", Source::Default));
        assert_eq!(s.dead_after.value, 5);
        assert!(s.listen_tls.is_none());
    }

    #[test]
    fn a_tables_flag_is_one_key_of_the_table() {
        let flags = cli(&["--mqtt", "mqtt://b", "--listen", "off", "--max-sensors-per-client", "9"]);
        assert_eq!(flags.flag_keys(), ["listen", "max-sensors-per-client", "mqtt.url"]);
    }

    #[test]
    fn every_field_is_a_flag_or_a_table_of_the_file_and_the_help_names_each_flags_default() {
        let command = <Cli as clap::CommandFactory>::command();
        let longs: Vec<&str> = command.get_arguments().filter_map(|a| a.get_long()).collect();
        for field in Cli::FIELDS {
            let table = ["sensors", "nodes", "alerts"].contains(field);
            assert_eq!(longs.contains(&key(field).as_str()), !table, "{field}");
        }
        let s = cli(&[]).over(Cli::default());
        let default = |long: &str| {
            let arg = command.get_arguments().find(|a| a.get_long() == Some(long)).unwrap();
            let help = arg.get_help().unwrap().to_string();
            let (_, tail) = help.rsplit_once("[default: ").unwrap();
            tail.trim_end_matches('.').strip_suffix(']').unwrap().to_owned()
        };
        let d = |long: &str| duration::parse(&default(long)).unwrap();
        assert_eq!(d("keepalive"), s.keepalive.value);
        assert_eq!(d("auth-timeout"), s.auth_timeout.value);
        assert_eq!(d("retain-raw"), s.retain_raw.value);
        assert_eq!(size::parse(&default("store-memory")), Ok(s.store_memory.value));
        assert_eq!(d("auth-window"), s.auth_window.value);
        assert_eq!(d("auth-block"), s.auth_block.value);
        assert_eq!(default("dead-after"), s.dead_after.value.to_string());
        assert_eq!(default("max-clients"), s.max_clients.value.to_string());
        assert_eq!(default("max-sensors-per-client"), s.max_sensors_per_client.value.to_string());
        assert_eq!(default("auth-max-failures"), s.auth_max_failures.value.to_string());
        assert_eq!(default("listen"), s.listen.value);
        assert_eq!(default("console"), s.console.value);
        assert_eq!(default("http"), s.http.value);
        assert_eq!(
            crate::cidr::Cidr::parse_list(&default("auth-exempt")).unwrap(),
            BrakeSettings::default().exempt
        );
        assert_eq!(Cli::APPLIED_ON_RELOAD, ["clients_file", "sensors", "nodes", "alerts"]);
    }
}
