//! The server's settings: clap flags, an optional TOML file with the same keys, and the passwords.

pub mod export_config;
pub mod reload_check;

use crate::auth::{BrakeSettings, Secret};
use crate::cidr::Cidr;
use crate::credentials::SharedClients;
use crate::store_location::{self, StoreLocation};
use clap::Parser;
use cliser_common::config_file::{self, ConfigFileError};
use cliser_common::duration;
use cliser_common::exit::{Classify, Outcome};
use cliser_common::secret::{secret_from_env, SecretError};
use cliser_common::sensors::Settings;
use serde::Deserialize;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Command-line flags. Every value may also come from `--config FILE`; a flag wins over the file.
#[derive(Debug, Parser, Default)]
#[command(
    name = "cliser-server",
    version,
    about = "The cliser server: authenticates Pi clients and logs their temperatures."
)]
pub struct Cli {
    /// Address for the Pi clients in clear, or `off` (then --listen-tls is the only way in)
    /// [default: 0.0.0.0:1111].
    #[arg(long, value_name = "ADDR|off")]
    pub listen: Option<String>,
    /// Address for the Pi clients inside TLS (needs --tls-cert and --tls-key) [default: none].
    #[arg(long, value_name = "ADDR")]
    pub listen_tls: Option<String>,
    /// The server's certificate chain, PEM, server certificate first (`gen-tls` writes one).
    #[arg(long, value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// The server certificate's private key, PEM.
    #[arg(long, value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Address for the admin console; a non-loopback address requires an admin password
    /// [default: 127.0.0.1:3333].
    #[arg(long, value_name = "ADDR")]
    pub backdoor: Option<String>,
    /// Address of the web page, its JSON API and /metrics, or `off`; with an admin password every
    /// request needs it (HTTP Basic auth), and a non-loopback address requires one
    /// [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR|off")]
    pub http: Option<String>,
    /// Keep-alive interval, e.g. `10s`, `500ms` [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse_positive)]
    pub keepalive: Option<Duration>,
    /// Time a new connection has to finish the password and id exchange (a console connection: its
    /// TLS handshake and the admin password) [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse_positive)]
    pub auth_timeout: Option<Duration>,
    /// A registered client silent for this many keep-alive intervals is dead [default: 3].
    #[arg(long, value_name = "N")]
    pub dead_after: Option<u32>,
    /// Connections (authenticating or registered) beyond this are refused [default: 1024].
    #[arg(long, value_name = "N")]
    pub max_clients: Option<usize>,
    /// Distinct sensor ids a client may report; readings of more are refused (not stored), with
    /// one warning naming the client [default: 64].
    #[arg(long, value_name = "N")]
    pub max_sensors_per_client: Option<usize>,
    /// Where readings are stored: `sqlite:PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`
    /// [default: sqlite:<data dir>/cliser.db].
    #[arg(long, global = true, value_name = "URL")]
    pub store: Option<String>,
    /// Directory of the default SQLite store, created if missing [default: $STATE_DIRECTORY, else
    /// ./cliser-data].
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Raw readings older than this are deleted (hourly rollups are kept forever); `0` keeps all
    /// [default: 90d].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub retain_raw: Option<Duration>,
    /// Replaced by the store (see --store); refused with a message that says so.
    #[arg(long, value_name = "PATH", hide = true)]
    pub readings_csv: Option<PathBuf>,
    /// File holding the client password (else the CLISER_PASSWORD environment variable).
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// File holding the admin console password (else CLISER_ADMIN_PASSWORD); required when the
    /// console listens on a non-loopback address.
    #[arg(long, value_name = "PATH")]
    pub admin_password_file: Option<PathBuf>,
    /// Per-client tokens: a TOML file of `id = "argon2 hash"` lines (`add-client` writes it). With
    /// it, an id listed there logs in only with its own token; other ids with the fleet password, if
    /// one is set. SIGHUP and the console's `R` read it again.
    #[arg(long, global = true, value_name = "PATH")]
    pub clients_file: Option<PathBuf>,
    /// Failed logins from one address within --auth-window that block it for --auth-block; `0`
    /// turns the brake off [default: 5].
    #[arg(long, value_name = "N")]
    pub auth_max_failures: Option<u32>,
    /// How far back failed logins count [default: 60s].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse_positive)]
    pub auth_window: Option<Duration>,
    /// How long a blocked address is refused [default: 60s].
    #[arg(long, value_name = "DURATION", value_parser = duration::parse_positive)]
    pub auth_block: Option<Duration>,
    /// Addresses the brake never blocks (their failures are still logged and counted), as
    /// fail2ban's ignoreip: e.g. a local TLS proxy in front of the server; `none` exempts nothing
    /// [default: 127.0.0.0/8,::1].
    #[arg(long, value_name = "CIDR[,CIDR...]|none")]
    pub auth_exempt: Option<String>,
    /// Once every listener is bound, write one line of JSON here (through `PATH.tmp` and a rename),
    /// so whoever started the server on port 0 learns its addresses:
    /// `{"listen":ADDR,"listen_tls":ADDR,"backdoor":ADDR,"http":ADDR,"pid":N}` (`listen` unless
    /// `--listen off`, `listen_tls` only with --listen-tls, `http` unless `--http off`).
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,
    /// Export every reading to this MQTT broker, with Home Assistant discovery: `mqtt://HOST:1883`
    /// or `mqtts://HOST:8883` (credentials, CA and topic prefixes in `[mqtt]` of --config).
    #[arg(long, value_name = "URL")]
    pub mqtt: Option<String>,
    /// Export every reading to InfluxDB or VictoriaMetrics (line protocol over HTTP):
    /// `http://HOST:8086/write?db=NAME` (1.x), `.../api/v2/write?org=ORG&bucket=BUCKET` (2.x, token in
    /// `[influx]` of --config), `http://HOST:8428/write` (VictoriaMetrics).
    #[arg(long, value_name = "URL")]
    pub influx: Option<String>,
    /// TOML file whose keys are these flags' long names, e.g. `keepalive = "10s"`.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// What to do; without one, run the server.
    #[command(subcommand)]
    pub command: Option<crate::commands::Command>,
}

/// The same settings as written in a `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    listen_tls: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    backdoor: Option<String>,
    http: Option<String>,
    #[serde(default, deserialize_with = "duration::optional")]
    keepalive: Option<Duration>,
    #[serde(default, deserialize_with = "duration::optional")]
    auth_timeout: Option<Duration>,
    dead_after: Option<u32>,
    max_clients: Option<usize>,
    max_sensors_per_client: Option<usize>,
    readings_csv: Option<PathBuf>,
    store: Option<String>,
    data_dir: Option<PathBuf>,
    #[serde(default, deserialize_with = "duration::optional")]
    retain_raw: Option<Duration>,
    password_file: Option<PathBuf>,
    admin_password_file: Option<PathBuf>,
    ready_file: Option<PathBuf>,
    clients_file: Option<PathBuf>,
    auth_max_failures: Option<u32>,
    #[serde(default, deserialize_with = "duration::optional")]
    auth_window: Option<Duration>,
    #[serde(default, deserialize_with = "duration::optional")]
    auth_block: Option<Duration>,
    auth_exempt: Option<Exempt>,
    // Names, calibration, limits and alert targets: read by `Settings::from_toml` (and again on
    // reload); named here so the file's other keys can stay strict.
    #[allow(dead_code)]
    sensors: Option<toml::Value>,
    #[allow(dead_code)]
    nodes: Option<toml::Value>,
    #[allow(dead_code)]
    alerts: Option<toml::Value>,
    mqtt: Option<crate::export_config::MqttFile>,
    influx: Option<crate::export_config::InfluxFile>,
}

/// `auth-exempt` in the file: `"127.0.0.0/8,::1"` as on the command line, or a list of ranges.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Exempt {
    Text(String),
    List(Vec<String>),
}

/// The settings the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where clients connect in clear; `None` with `--listen off`.
    pub listen: Option<SocketAddr>,
    /// Where clients connect inside TLS, and with what certificate.
    pub tls: Option<TlsListen>,
    /// Where the admin console listens.
    pub backdoor: SocketAddr,
    /// Where the web page is served; `None` with `--http off`.
    pub http: Option<SocketAddr>,
    /// Keep-alive interval.
    pub keepalive: Duration,
    /// Handshake deadline.
    pub auth_timeout: Duration,
    /// Keep-alive intervals of silence after which a session is dead.
    pub dead_after: u32,
    /// Most connections at once.
    pub max_clients: usize,
    /// Most distinct sensor ids per client ([`crate::sensor_cap`]).
    pub max_sensors_per_client: usize,
    /// Where readings are stored.
    pub store: StoreLocation,
    /// How long raw readings are kept; `None` keeps them all.
    pub retain_raw: Option<Duration>,
    /// The fleet password; only optional with a clients file.
    pub password: Option<Secret>,
    /// The per-client tokens (`--clients-file`), read at start; off without one (a reload that
    /// adds `clients-file` to the config file turns it on).
    pub clients: SharedClients,
    /// The failed-login brake's numbers.
    pub brake: BrakeSettings,
    /// The admin password, if any.
    pub admin_password: Option<Secret>,
    /// Where to announce the bound addresses, if anywhere.
    pub ready_file: Option<PathBuf>,
    /// Names, calibration, limits and alert targets (`[sensors]`, `[nodes]`, `[alerts]`).
    pub sensors: Settings,
    /// The `--config` file, read again on SIGHUP or the console's `R`.
    pub config_file: Option<PathBuf>,
    /// The exporters (`--mqtt`, `--influx`, `[mqtt]`, `[influx]`).
    pub export: crate::export_config::ExportConfig,
    /// The config file's keys at start and the keys flags set: a reload names what it cannot apply.
    pub baseline: crate::reload_check::Baseline,
}

/// The TLS listener's settings.
#[derive(Debug, Clone)]
pub struct TlsListen {
    /// Where it listens.
    pub listen: SocketAddr,
    /// The certificate chain file.
    pub cert: PathBuf,
    /// The key file.
    pub key: PathBuf,
    /// The rustls configuration made of them.
    pub server: Arc<cliser_tls::rustls::ServerConfig>,
}

/// Why the settings are unusable. The binary exits with status 2 for these.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No client password was given.
    #[error(
        "no client password: put it in a file and pass --password-file PATH \
         (or `password-file` in --config), or set CLISER_PASSWORD; or give each client its own \
         token with --clients-file PATH and `cliser-server add-client ID`"
    )]
    NoPassword,
    /// The clients file cannot be read or has a bad line.
    #[error(transparent)]
    Clients(#[from] crate::clients_file::FileError),
    /// A password file or variable is unusable.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The config file cannot be read or is not valid TOML of the expected keys.
    #[error(transparent)]
    File(#[from] ConfigFileError),
    /// The admin console would listen beyond loopback without a password.
    #[error(
        "the backdoor on {0} is reachable beyond this machine: give it a password with \
         --admin-password-file PATH (or CLISER_ADMIN_PASSWORD), or bind it to 127.0.0.1"
    )]
    NoAdminPassword(SocketAddr),
    /// The web page would be served beyond loopback without a password.
    #[error(
        "the web page on {0} is reachable beyond this machine: give it the admin password with \
         --admin-password-file PATH (or CLISER_ADMIN_PASSWORD), bind it to 127.0.0.1, or --http off"
    )]
    NoWebPassword(SocketAddr),
    /// Neither the plain nor the TLS listener is on.
    #[error("--listen off without --listen-tls ADDR: the server would have no way in for the clients")]
    NoListener,
    /// A TLS setting is missing, or its files cannot be used.
    #[error("{0}")]
    Tls(String),
    /// The `[sensors]`, `[nodes]` or `[alerts]` tables are not valid.
    #[error("{0}")]
    Sensors(String),
    /// An exporter's setting (`--mqtt`, `--influx`, `[mqtt]`, `[influx]`) is not valid.
    #[error("{0}")]
    Export(String),
    /// `--readings-csv` is gone: readings go to the store.
    #[error(
        "--readings-csv (or readings-csv in --config) was replaced by the database store: every reading \
         now goes to --store (default sqlite:<data dir>/cliser.db); load an existing ledger once with \
         `cliser-server import-csv FILE`, and `cliser-server export --format csv` writes the same columns"
    )]
    ReadingsCsvReplaced,
    /// A value is not valid; `setting` names it as the user wrote it (`--dead-after` or
    /// `config key dead-after`).
    #[error("{setting}: {message}")]
    Value {
        /// The flag or config key.
        setting: String,
        /// What is wrong.
        message: String,
    },
}

/// The address `text` of setting `key` (`HOST:PORT`), resolved now: an address without a port or a host
/// that does not resolve is a bad setting (exit 2), not a failure to listen.
fn address(key: &str, given: Option<(String, bool)>, default: &str) -> Result<SocketAddr, ConfigError> {
    let (text, from_flag) = given.unwrap_or_else(|| (default.to_owned(), false));
    let bad = |message: String| ConfigError::Value {
        setting: format!("{} {text:?}", config_file::setting_name(key, from_flag)),
        message,
    };
    if let Ok(a) = text.parse::<SocketAddr>() {
        return Ok(a);
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(bad("expected HOST:PORT, e.g. 0.0.0.0:1111".into()));
    };
    if port.parse::<u16>().is_err() {
        return Err(bad(format!("{port:?} is not a port number (expected HOST:PORT)")));
    }
    match text.to_socket_addrs() {
        Ok(mut all) => all.next().ok_or_else(|| bad(format!("{host} resolves to no address"))),
        Err(e) => Err(bad(format!("cannot resolve {host}: {e}"))),
    }
}

impl Classify for ConfigError {
    fn outcome(&self) -> Outcome {
        Outcome::BadSettings
    }
}

/// A count that must be at least 1, named as the user gave it.
fn at_least_one<T: PartialEq + From<u8>>(
    key: &str,
    flag: Option<T>,
    file: Option<T>,
    default: T,
) -> Result<T, ConfigError> {
    let from_flag = flag.is_some();
    let v = flag.or(file).unwrap_or(default);
    if v == T::from(0) {
        return Err(ConfigError::Value {
            setting: config_file::setting_name(key, from_flag),
            message: "must be at least 1".into(),
        });
    }
    Ok(v)
}

/// The TLS listener: an address, a certificate and a key, all three or none; the files are read and
/// checked now, so a bad certificate is a bad setting (exit 2) and not a failure at the first client.
fn tls_listen(
    listen: Option<(String, bool)>,
    cert: Option<(PathBuf, bool)>,
    key: Option<(PathBuf, bool)>,
) -> Result<Option<TlsListen>, ConfigError> {
    let (cert, key) = match (&listen, cert, key) {
        (None, None, None) => return Ok(None),
        (Some(_), Some(c), Some(k)) => (c, k),
        (None, c, k) => {
            let given = if c.is_some() { "tls-cert" } else { "tls-key" };
            let from_flag = c.or(k).is_some_and(|(_, f)| f);
            return Err(ConfigError::Tls(format!(
                "{} is given without --listen-tls ADDR (or listen-tls in --config): where should TLS listen?",
                config_file::setting_name(given, from_flag)
            )));
        }
        (Some((_, from_flag)), c, _) => {
            let missing = if c.is_none() { "--tls-cert PEM" } else { "--tls-key PEM" };
            return Err(ConfigError::Tls(format!(
                "{} needs {missing} (or the same key in --config); `cliser-server gen-tls --dir DIR --name HOST` \
                 writes a certificate and key",
                config_file::setting_name("listen-tls", *from_flag),
            )));
        }
    };
    let addr = address("listen-tls", listen, "")?;
    let read = |(path, from_flag): &(PathBuf, bool), key: &str| {
        std::fs::read(path).map_err(|e| {
            ConfigError::Tls(format!(
                "{} {}: cannot read: {e}",
                config_file::setting_name(key, *from_flag),
                path.display()
            ))
        })
    };
    let (cert_pem, key_pem) = (read(&cert, "tls-cert")?, read(&key, "tls-key")?);
    let server = cliser_tls::server_config(&cert_pem, &key_pem).map_err(|e| {
        let named = |(p, f): &(PathBuf, bool), k: &str| {
            format!("{} {}", config_file::setting_name(k, *f), p.display())
        };
        ConfigError::Tls(match e {
            cliser_tls::TlsError::NoCertificate => format!("{}: {e}", named(&cert, "tls-cert")),
            cliser_tls::TlsError::NoKey => format!("{}: {e}", named(&key, "tls-key")),
            e => format!("{} with {}: {e}", named(&cert, "tls-cert"), named(&key, "tls-key")),
        })
    })?;
    Ok(Some(TlsListen { listen: addr, cert: cert.0, key: key.0, server }))
}

/// Raw readings are kept this long unless `--retain-raw` says otherwise.
pub const DEFAULT_RETAIN_RAW: Duration = Duration::from_secs(90 * 24 * 3600);

fn store_location(
    cli_store: Option<String>,
    cli_dir: Option<PathBuf>,
    file_store: Option<String>,
    file_dir: Option<PathBuf>,
) -> StoreLocation {
    store_location::locate(
        cli_store.or(file_store),
        cli_dir.or(file_dir),
        std::env::var("STATE_DIRECTORY").ok(),
    )
}

/// The names and calibration of the `--config` file, for the subcommands (none without one).
pub fn sensors_for_commands(cli: &Cli) -> Result<Settings, ConfigError> {
    match &cli.config {
        Some(path) => Settings::load(path).map_err(ConfigError::Sensors),
        None => Ok(Settings::default()),
    }
}

/// The clients file for `add-client` and `remove-client`: `--clients-file` or the `clients-file` key
/// of `--config`.
pub fn clients_file_for_commands(cli: &Cli) -> Result<Option<PathBuf>, ConfigError> {
    let file: FileConfig = config_file::load_or_default(cli.config.as_deref())?;
    Ok(cli.clients_file.clone().or(file.clients_file))
}

/// The config file's keys (dotted, as [`crate::reload_check`] names them) that a flag sets: the
/// file's value of such a key is not used.
fn flags_given(cli: &Cli) -> Vec<&'static str> {
    [
        ("listen", cli.listen.is_some()),
        ("listen-tls", cli.listen_tls.is_some()),
        ("tls-cert", cli.tls_cert.is_some()),
        ("tls-key", cli.tls_key.is_some()),
        ("backdoor", cli.backdoor.is_some()),
        ("http", cli.http.is_some()),
        ("keepalive", cli.keepalive.is_some()),
        ("auth-timeout", cli.auth_timeout.is_some()),
        ("dead-after", cli.dead_after.is_some()),
        ("max-clients", cli.max_clients.is_some()),
        ("store", cli.store.is_some()),
        ("data-dir", cli.data_dir.is_some()),
        ("retain-raw", cli.retain_raw.is_some()),
        ("password-file", cli.password_file.is_some()),
        ("admin-password-file", cli.admin_password_file.is_some()),
        ("clients-file", cli.clients_file.is_some()),
        ("auth-max-failures", cli.auth_max_failures.is_some()),
        ("auth-window", cli.auth_window.is_some()),
        ("auth-block", cli.auth_block.is_some()),
        ("auth-exempt", cli.auth_exempt.is_some()),
        ("ready-file", cli.ready_file.is_some()),
        ("mqtt.url", cli.mqtt.is_some()),
        ("influx.url", cli.influx.is_some()),
    ]
    .into_iter()
    .filter_map(|(key, given)| given.then_some(key))
    .collect()
}

/// The brake's numbers from the flags and the file.
fn brake_settings(cli: &Cli, file: &FileConfig) -> Result<BrakeSettings, ConfigError> {
    let default = BrakeSettings::default();
    let window = config_file::flag_or_file(cli.auth_window, file.auth_window);
    let block = config_file::flag_or_file(cli.auth_block, file.auth_block);
    for (key, given) in [("auth-window", window), ("auth-block", block)] {
        if let Some((_, from_flag)) = given.filter(|(d, _)| d.is_zero()) {
            return Err(ConfigError::Value {
                setting: config_file::setting_name(key, from_flag),
                message: "must be more than zero (auth-max-failures = 0 turns the brake off)".into(),
            });
        }
    }
    let exempt_given = match (&cli.auth_exempt, &file.auth_exempt) {
        (Some(t), _) => Some((t.clone(), true)),
        (None, Some(Exempt::Text(t))) => Some((t.clone(), false)),
        (None, Some(Exempt::List(l))) if l.is_empty() => Some(("none".to_owned(), false)),
        (None, Some(Exempt::List(l))) => Some((l.join(","), false)),
        (None, None) => None,
    };
    let exempt = match exempt_given {
        None => default.exempt,
        Some((text, from_flag)) => Cidr::parse_list(&text).map_err(|message| ConfigError::Value {
            setting: config_file::setting_name("auth-exempt", from_flag),
            message,
        })?,
    };
    Ok(BrakeSettings {
        max_failures: cli.auth_max_failures.or(file.auth_max_failures).unwrap_or(default.max_failures),
        window: window.map_or(default.window, |(d, _)| d),
        block: block.map_or(default.block, |(d, _)| d),
        exempt,
    })
}

/// Where the store is, for the subcommands (`query`, `export`, `import-csv`), which need nothing
/// else of the settings: `--store`, `--data-dir`, or the same keys in `--config`.
pub fn store_for_commands(cli: &Cli) -> Result<StoreLocation, ConfigError> {
    let file: FileConfig = config_file::load_or_default(cli.config.as_deref())?;
    Ok(store_location(cli.store.clone(), cli.data_dir.clone(), file.store, file.data_dir))
}

impl Config {
    /// Builds the settings from the flags, the `--config` file they name, and the environment.
    pub fn from_cli(cli: Cli) -> Result<Config, ConfigError> {
        let file: FileConfig = config_file::load_or_default(cli.config.as_deref())?;
        let sensors = match &cli.config {
            Some(path) => Settings::load(path).map_err(ConfigError::Sensors)?,
            None => Settings::default(),
        };
        if cli.readings_csv.is_some() || file.readings_csv.is_some() {
            return Err(ConfigError::ReadingsCsvReplaced);
        }
        let brake = brake_settings(&cli, &file)?;
        let clients = match cli.clients_file.clone().or(file.clients_file.clone()) {
            Some(path) => SharedClients::load(&path)?,
            None => SharedClients::off(),
        };
        let baseline = crate::reload_check::Baseline {
            file: match &cli.config {
                Some(path) => crate::reload_check::read_table(path).unwrap_or_default(),
                None => toml::Table::new(),
            },
            flags: flags_given(&cli),
        };
        let positive = |key: &str, d: Option<Duration>| match d {
            Some(d) if d.is_zero() => Err(ConfigError::Value {
                setting: config_file::setting_name(key, false),
                message: "must be more than zero".into(),
            }),
            d => Ok(d),
        };
        let file_keepalive = positive("keepalive", file.keepalive)?;
        let file_auth = positive("auth-timeout", file.auth_timeout)?;
        let password_file = cli.password_file.or(file.password_file);
        let admin_file = cli.admin_password_file.or(file.admin_password_file);
        let dead_after = at_least_one("dead-after", cli.dead_after, file.dead_after, 3)?;
        let max_clients = at_least_one("max-clients", cli.max_clients, file.max_clients, 1024)?;
        let max_sensors_per_client = at_least_one(
            "max-sensors-per-client",
            cli.max_sensors_per_client,
            file.max_sensors_per_client,
            crate::sensor_cap::DEFAULT_MAX_SENSORS_PER_CLIENT,
        )?;
        let listen = match config_file::flag_or_file(cli.listen, file.listen) {
            Some((off, _)) if off == "off" => None,
            given => Some(address("listen", given, "0.0.0.0:1111")?),
        };
        let tls = tls_listen(
            config_file::flag_or_file(cli.listen_tls, file.listen_tls),
            config_file::flag_or_file(cli.tls_cert, file.tls_cert),
            config_file::flag_or_file(cli.tls_key, file.tls_key),
        )?;
        if listen.is_none() && tls.is_none() {
            return Err(ConfigError::NoListener);
        }
        let backdoor =
            address("backdoor", config_file::flag_or_file(cli.backdoor, file.backdoor), "127.0.0.1:3333")?;
        let http = match config_file::flag_or_file(cli.http, file.http) {
            Some((off, _)) if off == "off" => None,
            given => Some(address("http", given, "127.0.0.1:8080")?),
        };
        let export = crate::export_config::ExportConfig {
            mqtt: crate::export_config::mqtt(cli.mqtt, file.mqtt).map_err(ConfigError::Export)?,
            influx: crate::export_config::influx(cli.influx, file.influx).map_err(ConfigError::Export)?,
        };
        let config = Config {
            export,
            listen,
            tls,
            backdoor,
            http,
            keepalive: cli.keepalive.or(file_keepalive).unwrap_or(Duration::from_secs(10)),
            auth_timeout: cli.auth_timeout.or(file_auth).unwrap_or(Duration::from_secs(10)),
            dead_after,
            max_clients,
            max_sensors_per_client,
            store: store_location(cli.store, cli.data_dir, file.store, file.data_dir),
            retain_raw: match cli.retain_raw.or(file.retain_raw).unwrap_or(DEFAULT_RETAIN_RAW) {
                d if d.is_zero() => None,
                d => Some(d),
            },
            password: secret_from_env("the password file", password_file.as_deref(), "CLISER_PASSWORD")?
                .map(Secret::new),
            brake,
            admin_password: secret_from_env(
                "the admin password file",
                admin_file.as_deref(),
                "CLISER_ADMIN_PASSWORD",
            )?
            .map(Secret::new),
            ready_file: cli.ready_file.or(file.ready_file),
            clients,
            sensors,
            config_file: cli.config.clone(),
            baseline,
        };
        if config.password.is_none() && !config.clients.is_on() {
            return Err(ConfigError::NoPassword);
        }
        if !config.backdoor.ip().is_loopback() && config.admin_password.is_none() {
            return Err(ConfigError::NoAdminPassword(config.backdoor));
        }
        if let Some(http) = config.http.filter(|a| !a.ip().is_loopback() && config.admin_password.is_none()) {
            return Err(ConfigError::NoWebPassword(http));
        }
        Ok(config)
    }

    /// What the config file gave, for the start-up log: `config server.toml: 12 sensors named, 5
    /// with limits, alerts to command and webhook, exporters mqtt, influx`.
    pub fn summary(&self) -> String {
        let Some(file) = &self.config_file else {
            return "no --config file: no sensor names, limits or alert targets".into();
        };
        let s = &self.sensors;
        let named = s.configured_sensors().filter(|(_, c)| c.name.is_some()).count();
        let limits = s.configured_sensors().filter(|(_, c)| c.min.is_some() || c.max.is_some()).count();
        let alerts = match (s.alerts.command.is_some(), s.alerts.webhook.is_some()) {
            (true, true) => "alerts to command and webhook",
            (true, false) => "alerts to command",
            (false, true) => "alerts to webhook",
            (false, false) => "alerts to the log only",
        };
        let exporters: Vec<&str> =
            [("mqtt", self.export.mqtt.is_some()), ("influx", self.export.influx.is_some())]
                .into_iter()
                .filter_map(|(name, on)| on.then_some(name))
                .collect();
        let exporters = match exporters.is_empty() {
            true => "no exporters".to_owned(),
            false => format!("exporters {}", exporters.join(", ")),
        };
        format!(
            "config {}: {named} sensors named, {limits} with limits, {alerts}, {exporters}",
            file.display()
        )
    }

    /// How long a registered session may stay silent before it is dead.
    pub fn dead_timeout(&self) -> Duration {
        self.keepalive * self.dead_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("cliser-server").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let conf = dir.path().join("server.toml");
        std::fs::write(&conf, format!("keepalive = \"2s\"\nmax-clients = 7\npassword-file = {pw:?}\n"))
            .unwrap();
        let c = Config::from_cli(cli(&["--config", conf.to_str().unwrap(), "--keepalive", "500ms"])).unwrap();
        assert_eq!(c.keepalive, Duration::from_millis(500));
        assert_eq!(c.max_clients, 7);
        assert_eq!(c.listen.map(|a| a.to_string()).as_deref(), Some("0.0.0.0:1111"));
        assert_eq!(c.backdoor.to_string(), "127.0.0.1:3333");
        assert_eq!(c.http.map(|a| a.to_string()).as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(c.dead_timeout(), Duration::from_millis(1500));
        assert!(c.password.unwrap().matches("s3cret"));
        assert_eq!(c.brake, BrakeSettings::default());
        assert!(!c.clients.is_on());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("server.toml");
        std::fs::write(&conf, "keep-alive = \"2s\"\n").unwrap();
        let e = Config::from_cli(cli(&["--config", conf.to_str().unwrap()])).unwrap_err();
        assert!(e.to_string().contains("keep-alive"), "{e}");
        std::fs::write(&conf, "keepalive = \"soon\"\n").unwrap();
        let e = Config::from_cli(cli(&["--config", conf.to_str().unwrap()])).unwrap_err();
        // The TOML parser names the file and shows the line with the key.
        assert!(
            e.to_string().contains("keepalive = \"soon\"") && e.to_string().contains("invalid duration"),
            "{e}"
        );
    }

    #[test]
    fn the_ready_file_comes_from_the_flag_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let conf = dir.path().join("server.toml");
        std::fs::write(&conf, format!("ready-file = \"/run/r.json\"\npassword-file = {pw:?}\n")).unwrap();
        let c = Config::from_cli(cli(&["--config", conf.to_str().unwrap()])).unwrap();
        assert_eq!(c.ready_file.as_deref(), Some(Path::new("/run/r.json")));
        let args = ["--config", conf.to_str().unwrap(), "--ready-file", "x.json"];
        let c = Config::from_cli(cli(&args)).unwrap();
        assert_eq!(c.ready_file.as_deref(), Some(Path::new("x.json")));
    }

    #[test]
    fn the_web_page_can_be_off_and_needs_a_password_beyond_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let pw = pw.to_str().unwrap();
        let c = Config::from_cli(cli(&["--password-file", pw, "--http", "off"])).unwrap();
        assert_eq!(c.http, None);
        let e = Config::from_cli(cli(&["--password-file", pw, "--http", "0.0.0.0:8080"])).unwrap_err();
        assert!(matches!(e, ConfigError::NoWebPassword(_)), "{e}");
        let e = Config::from_cli(cli(&["--password-file", pw, "--http", "8080"])).unwrap_err();
        assert!(e.to_string().starts_with("--http \"8080\""), "{e}");
        let admin = dir.path().join("admin");
        std::fs::write(&admin, "adm\n").unwrap();
        let args =
            ["--password-file", pw, "--http", "0.0.0.0:0", "--admin-password-file", admin.to_str().unwrap()];
        assert!(Config::from_cli(cli(&args)).unwrap().http.is_some());
    }

    #[test]
    fn the_brake_comes_from_the_flags_or_the_file_and_bad_values_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let conf = dir.path().join("server.toml");
        let write = |extra: &str| {
            let base = "auth-max-failures = 3\nauth-window = \"10s\"\nauth-block = \"2s\"\n";
            std::fs::write(&conf, format!("password-file = {pw:?}\n{base}{extra}")).unwrap();
        };
        let from =
            |args: &[&str]| Config::from_cli(cli(&[&["--config", conf.to_str().unwrap()], args].concat()));
        write("auth-exempt = [\"10.0.0.0/8\", \"::1\"]\n");
        let b = from(&[]).unwrap().brake;
        assert_eq!((b.max_failures, b.window, b.block), (3, Duration::from_secs(10), Duration::from_secs(2)));
        assert_eq!(b.exempt, Cidr::parse_list("10.0.0.0/8,::1").unwrap());
        let b = from(&["--auth-exempt", "none", "--auth-max-failures", "0"]).unwrap().brake;
        assert_eq!((b.max_failures, b.exempt.len()), (0, 0));
        write("auth-exempt = \"127.0.0.1/8\"\n");
        let e = from(&[]).unwrap_err().to_string();
        assert!(e.starts_with("config key auth-exempt: ") && e.contains("did you mean 127.0.0.0/8"), "{e}");
        let e = from(&["--auth-exempt", "lo"]).unwrap_err().to_string();
        assert!(e.starts_with("--auth-exempt: "), "{e}");
        std::fs::write(&conf, format!("password-file = {pw:?}\nauth-window = \"0s\"\n")).unwrap();
        let e = from(&[]).unwrap_err().to_string();
        assert!(e.starts_with("config key auth-window: "), "{e}");
        assert!(Cli::try_parse_from(["cliser-server", "--auth-block", "0s"]).is_err());
    }

    #[test]
    fn a_clients_file_makes_the_fleet_password_optional_and_a_bad_one_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let clients = dir.path().join("clients.toml");
        std::fs::write(&clients, "# none yet\n").unwrap();
        let path = clients.to_str().unwrap();
        std::env::remove_var("CLISER_PASSWORD");
        let c = Config::from_cli(cli(&["--clients-file", path])).unwrap();
        assert!(c.password.is_none() && c.clients.is_on() && c.clients.get().is_empty());
        let e = Config::from_cli(cli(&[])).unwrap_err();
        assert!(matches!(e, ConfigError::NoPassword) && e.to_string().contains("--clients-file"), "{e}");
        std::fs::write(&clients, "# one\npi-1 = \"secret\"\n").unwrap();
        let e = Config::from_cli(cli(&["--clients-file", path])).unwrap_err().to_string();
        assert!(e.starts_with(&format!("clients file {path}, line 2: pi-1: not an argon2 hash")), "{e}");
    }

    #[test]
    fn the_summary_says_what_the_config_file_gave() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let conf = dir.path().join("server.toml");
        std::fs::write(
            &conf,
            format!(
                "password-file = {pw:?}\n[sensors.\"28-a\"]\nname = \"freezer\"\nmax = -15.0\n\
                 [sensors.\"28-b\"]\nname = \"hall\"\n[sensors.\"28-c\"]\nmin = 2.0\n\
                 [alerts]\ncommand = \"/bin/true\"\nwebhook = \"http://127.0.0.1:9/hook\"\n"
            ),
        )
        .unwrap();
        let c = Config::from_cli(cli(&[
            "--config",
            conf.to_str().unwrap(),
            "--influx",
            "http://127.0.0.1:9/write?db=x",
        ]))
        .unwrap();
        assert_eq!(
            c.summary(),
            format!(
                "config {}: 2 sensors named, 2 with limits, alerts to command and webhook, exporters influx",
                conf.display()
            )
        );
        let c = Config::from_cli(cli(&["--password-file", pw.to_str().unwrap()])).unwrap();
        assert_eq!(c.summary(), "no --config file: no sensor names, limits or alert targets");
    }

    #[test]
    fn an_empty_password_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "\n").unwrap();
        let e = Config::from_cli(cli(&["--password-file", pw.to_str().unwrap()])).unwrap_err();
        assert!(matches!(e, ConfigError::Secret(SecretError::EmptyFile { .. })), "{e}");
    }
}
