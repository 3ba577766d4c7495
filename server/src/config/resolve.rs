//! The settings the server runs with ([`Config`]), resolved from the declared [`Settings`]: addresses
//! resolved, files read, passwords found, combinations checked. A bad setting is a [`ConfigError`]
//! naming it as the user wrote it.

use super::export_config::{self, ExportConfig};
use super::reload_check::{self, Baseline};
use super::settings::{Cli, Given, Settings};
use super::store_memory::{Others, StoreMemory, MIN_STORE_MEMORY};
use super::ConfigError;
use crate::auth::{BrakeSettings, Secret};
use crate::cidr::Cidr;
use crate::credentials::SharedClients;
use crate::store_location::{self, StoreLocation};
use cliser_common::config_file;
use cliser_common::secret::secret_from_env;
use cliser_common::sensors::Settings as SensorSettings;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The settings the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where clients connect in clear; `None` with `--listen off`.
    pub listen: Option<SocketAddr>,
    /// Where clients connect inside TLS, and with what certificate.
    pub tls: Option<TlsListen>,
    /// Where the admin console listens.
    pub console: SocketAddr,
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
    /// The store's memory budget and each connection's share of it.
    pub store_memory: StoreMemory,
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
    /// This server's name in a fleet (PostgreSQL store); `None`: the host name and client port.
    pub fleet_name: Option<String>,
    /// Names, calibration, limits and alert targets (`[sensors]`, `[nodes]`, `[alerts]`).
    pub sensors: SensorSettings,
    /// The `--config` file, read again on SIGHUP or the console's `R`.
    pub config_file: Option<PathBuf>,
    /// The exporters (`--mqtt`, `--influx`, `[mqtt]`, `[influx]`).
    pub export: ExportConfig,
    /// The config file's keys at start and the keys flags set: a reload names what it cannot apply.
    pub baseline: Baseline,
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

/// The address `given` (`HOST:PORT`), resolved now: an address without a port or a host that does
/// not resolve is a bad setting (exit 2), not a failure to listen.
fn address(given: &Given<String>) -> Result<SocketAddr, ConfigError> {
    let text = &given.value;
    let bad = |message: String| ConfigError::Value { setting: format!("{} {text:?}", given.name()), message };
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

/// An address that may be `off`.
fn address_or_off(given: &Given<String>) -> Result<Option<SocketAddr>, ConfigError> {
    match given.value.as_str() {
        "off" => Ok(None),
        _ => address(given).map(Some),
    }
}

/// A count that must be at least 1.
fn at_least_one<T: PartialEq + From<u8> + Copy>(given: &Given<T>) -> Result<T, ConfigError> {
    if given.value == T::from(0) {
        return Err(ConfigError::Value { setting: given.name(), message: "must be at least 1".into() });
    }
    Ok(given.value)
}

/// The store's memory budget divided among the connections these settings make the server open.
fn store_memory(
    s: &Settings,
    http: bool,
    retain: bool,
    export: &ExportConfig,
) -> Result<StoreMemory, ConfigError> {
    let budget = s.store_memory.value;
    if budget < MIN_STORE_MEMORY {
        return Err(ConfigError::Value {
            setting: format!("{} {budget}", s.store_memory.name()),
            message: format!("must be at least {MIN_STORE_MEMORY}"),
        });
    }
    let others = Others {
        page: if http { cliser_web::store_pool::POOL_SIZE } else { 0 },
        alerts: 1,
        retention: usize::from(retain),
        export: usize::from(export.mqtt.is_some()) + usize::from(export.influx.is_some()),
    };
    Ok(StoreMemory::split(budget, others))
}

/// The TLS listener: an address, a certificate and a key, all three or none; the files are read and
/// checked now, so a bad certificate is a bad setting (exit 2) and not a failure at the first client.
fn tls_listen(s: &Settings) -> Result<Option<TlsListen>, ConfigError> {
    let (listen, cert, key) = match (&s.listen_tls, &s.tls_cert, &s.tls_key) {
        (None, None, None) => return Ok(None),
        (Some(l), Some(c), Some(k)) => (l, c, k),
        (None, c, k) => {
            let given = c.as_ref().or(k.as_ref()).expect("one of them, by the first arm");
            return Err(ConfigError::Tls(format!(
                "{} is given without --listen-tls ADDR (or listen-tls in --config): where should TLS listen?",
                given.name()
            )));
        }
        (Some(l), c, _) => {
            let missing = if c.is_none() { "--tls-cert PEM" } else { "--tls-key PEM" };
            return Err(ConfigError::Tls(format!(
                "{} needs {missing} (or the same key in --config); `cliser-server gen-tls --dir DIR --name HOST` \
                 writes a certificate and key",
                l.name(),
            )));
        }
    };
    let addr = address(listen)?;
    let named = |g: &Given<PathBuf>| format!("{} {}", g.name(), g.value.display());
    let read = |g: &Given<PathBuf>| {
        std::fs::read(&g.value).map_err(|e| ConfigError::Tls(format!("{}: cannot read: {e}", named(g))))
    };
    let (cert_pem, key_pem) = (read(cert)?, read(key)?);
    let server = cliser_tls::server_config(&cert_pem, &key_pem).map_err(|e| {
        ConfigError::Tls(match e {
            cliser_tls::TlsError::NoCertificate => format!("{}: {e}", named(cert)),
            cliser_tls::TlsError::NoKey => format!("{}: {e}", named(key)),
            e => format!("{} with {}: {e}", named(cert), named(key)),
        })
    })?;
    Ok(Some(TlsListen { listen: addr, cert: cert.value.clone(), key: key.value.clone(), server }))
}

/// The brake's numbers.
fn brake_settings(s: &Settings) -> Result<BrakeSettings, ConfigError> {
    for given in [&s.auth_window, &s.auth_block] {
        if given.value.is_zero() {
            return Err(ConfigError::Value {
                setting: given.name(),
                message: "must be more than zero (auth-max-failures = 0 turns the brake off)".into(),
            });
        }
    }
    let exempt = match &s.auth_exempt {
        None => BrakeSettings::default().exempt,
        Some(given) => Cidr::parse_list(&given.value)
            .map_err(|source| ConfigError::Exempt { setting: given.name(), source })?,
    };
    Ok(BrakeSettings {
        max_failures: s.auth_max_failures.value,
        window: s.auth_window.value,
        block: s.auth_block.value,
        exempt,
    })
}

fn store_location(s: &Settings) -> StoreLocation {
    store_location::locate(
        s.store.as_ref().map(|g| g.value.clone()),
        s.data_dir.as_ref().map(|g| g.value.clone()),
        std::env::var("STATE_DIRECTORY").ok(),
    )
}

/// The flags over the `--config` file they name.
fn settings(cli: &Cli) -> Result<Settings, ConfigError> {
    let file: Cli = config_file::load_or_default(cli.config.as_deref())?;
    Ok(cli.over(file))
}

/// The names and calibration of the `--config` file, for the subcommands (none without one).
pub fn sensors_for_commands(cli: &Cli) -> Result<SensorSettings, ConfigError> {
    match &cli.config {
        Some(path) => Ok(SensorSettings::load(path)?),
        None => Ok(SensorSettings::default()),
    }
}

/// The clients file for `add-client` and `remove-client`: `--clients-file` or the `clients-file` key
/// of `--config`.
pub fn clients_file_for_commands(cli: &Cli) -> Result<Option<PathBuf>, ConfigError> {
    Ok(settings(cli)?.clients_file.map(|g| g.value))
}

/// Where the store is, for the subcommands (`query`, `export`, `import-csv`), which need nothing
/// else of the settings: `--store`, `--data-dir`, or the same keys in `--config`.
pub fn store_for_commands(cli: &Cli) -> Result<StoreLocation, ConfigError> {
    Ok(store_location(&settings(cli)?))
}

impl Config {
    /// Builds the settings from the flags, the `--config` file they name, and the environment.
    pub fn from_cli(cli: Cli) -> Result<Config, ConfigError> {
        let file: Cli = config_file::load_or_default(cli.config.as_deref())?;
        let sensors = sensors_for_commands(&cli)?;
        // The file's zero interval is refused even where a flag overrides it (the flags refuse
        // theirs as they are parsed).
        let file_zero = [("keepalive", file.keepalive), ("auth-timeout", file.auth_timeout)]
            .into_iter()
            .find(|(_, d)| d.is_some_and(|d| d.is_zero()));
        let baseline = Baseline {
            file: match &cli.config {
                Some(path) => reload_check::read_table(path).unwrap_or_default(),
                None => toml::Table::new(),
            },
            flags: cli.flag_keys(),
        };
        let s = cli.over(file);
        if s.readings_csv.is_some() {
            return Err(ConfigError::ReadingsCsvReplaced);
        }
        let brake = brake_settings(&s)?;
        let clients = match &s.clients_file {
            Some(given) => SharedClients::load(&given.value)?,
            None => SharedClients::off(),
        };
        if let Some((key, _)) = file_zero {
            return Err(ConfigError::Value {
                setting: config_file::setting_name(key, false),
                message: "must be more than zero".into(),
            });
        }
        let dead_after = at_least_one(&s.dead_after)?;
        let max_clients = at_least_one(&s.max_clients)?;
        let max_sensors_per_client = at_least_one(&s.max_sensors_per_client)?;
        let listen = address_or_off(&s.listen)?;
        let tls = tls_listen(&s)?;
        if listen.is_none() && tls.is_none() {
            return Err(ConfigError::NoListener);
        }
        let console = address(&s.console)?;
        let http = address_or_off(&s.http)?;
        let export = ExportConfig {
            mqtt: export_config::mqtt(s.mqtt.clone())?,
            influx: export_config::influx(s.influx.clone())?,
        };
        let retain_raw = Some(s.retain_raw.value).filter(|d| !d.is_zero());
        let store_memory = store_memory(&s, http.is_some(), retain_raw.is_some(), &export)?;
        let path = |g: &Option<Given<PathBuf>>| g.as_ref().map(|g| g.value.clone());
        let config = Config {
            export,
            listen,
            tls,
            console,
            http,
            keepalive: s.keepalive.value,
            auth_timeout: s.auth_timeout.value,
            dead_after,
            max_clients,
            max_sensors_per_client,
            store: store_location(&s),
            retain_raw,
            store_memory,
            password: secret_from_env(
                "the password file",
                path(&s.password_file).as_deref(),
                "CLISER_PASSWORD",
            )?
            .map(Secret::new),
            brake,
            admin_password: secret_from_env(
                "the admin password file",
                path(&s.admin_password_file).as_deref(),
                "CLISER_ADMIN_PASSWORD",
            )?
            .map(Secret::new),
            ready_file: path(&s.ready_file),
            fleet_name: s.fleet_name.as_ref().map(|g| g.value.clone()).filter(|n| !n.trim().is_empty()),
            clients,
            sensors,
            config_file: cli.config.clone(),
            baseline,
        };
        if config.password.is_none() && !config.clients.is_on() {
            return Err(ConfigError::NoPassword);
        }
        if !config.console.ip().is_loopback() && config.admin_password.is_none() {
            return Err(ConfigError::NoAdminPassword(config.console));
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
    use clap::Parser;
    use cliser_common::secret::SecretError;
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
        assert_eq!(c.console.to_string(), "127.0.0.1:3333");
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
