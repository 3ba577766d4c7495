//! The server's settings: clap flags, an optional TOML file with the same keys, and the passwords.

use crate::auth::Secret;
use clap::Parser;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Command-line flags. Every value may also come from `--config FILE`; a flag wins over the file.
#[derive(Debug, Parser, Default)]
#[command(
    name = "cliser-server",
    version,
    about = "The cliser server: authenticates Pi clients and logs their temperatures."
)]
pub struct Cli {
    /// Address for the Pi clients [default: 0.0.0.0:1111].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Address for the admin console; a non-loopback address requires an admin password
    /// [default: 127.0.0.1:3333].
    #[arg(long, value_name = "ADDR")]
    pub backdoor: Option<String>,
    /// Keep-alive interval, e.g. `10s`, `500ms` [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub keepalive: Option<Duration>,
    /// Time a new connection has to finish the password and id exchange [default: 10s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub auth_timeout: Option<Duration>,
    /// A registered client silent for this many keep-alive intervals is dead [default: 3].
    #[arg(long, value_name = "N")]
    pub dead_after: Option<u32>,
    /// Connections (authenticating or registered) beyond this are refused [default: 1024].
    #[arg(long, value_name = "N")]
    pub max_clients: Option<usize>,
    /// Also append every reading to this CSV file, the durable ledger that dedupe survives restarts on.
    #[arg(long, value_name = "PATH")]
    pub readings_csv: Option<PathBuf>,
    /// File holding the client password (else the CLISER_PASSWORD environment variable).
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// File holding the admin console password (else CLISER_ADMIN_PASSWORD); required when the
    /// console listens on a non-loopback address.
    #[arg(long, value_name = "PATH")]
    pub admin_password_file: Option<PathBuf>,
    /// Once both listeners are bound, write `{"listen":ADDR,"backdoor":ADDR,"pid":N}` here (through
    /// `PATH.tmp` and a rename), so whoever started the server on port 0 learns its addresses.
    #[arg(long, value_name = "PATH")]
    pub ready_file: Option<PathBuf>,
    /// TOML file whose keys are these flags' long names, e.g. `keepalive = "10s"`.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (expected e.g. 10s, 500ms)"))?;
    if d.is_zero() {
        return Err("must be more than zero".into());
    }
    Ok(d)
}

/// The same settings as written in a `--config` file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    backdoor: Option<String>,
    keepalive: Option<String>,
    auth_timeout: Option<String>,
    dead_after: Option<u32>,
    max_clients: Option<usize>,
    readings_csv: Option<PathBuf>,
    password_file: Option<PathBuf>,
    admin_password_file: Option<PathBuf>,
    ready_file: Option<PathBuf>,
}

/// The settings the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where clients connect.
    pub listen: String,
    /// Where the admin console listens.
    pub backdoor: String,
    /// Keep-alive interval.
    pub keepalive: Duration,
    /// Handshake deadline.
    pub auth_timeout: Duration,
    /// Keep-alive intervals of silence after which a session is dead.
    pub dead_after: u32,
    /// Most connections at once.
    pub max_clients: usize,
    /// The CSV ledger, if any.
    pub readings_csv: Option<PathBuf>,
    /// The client password.
    pub password: Secret,
    /// The admin password, if any.
    pub admin_password: Option<Secret>,
    /// Where to announce the bound addresses, if anywhere.
    pub ready_file: Option<PathBuf>,
}

/// Why the settings are unusable. The binary exits with status 2 for these.
#[derive(Debug)]
pub enum ConfigError {
    /// No client password was given.
    NoPassword,
    /// A password file or the config file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A password file or variable holds an empty password.
    EmptyPassword(String),
    /// The config file is not valid TOML of the expected keys.
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value in the config file is not valid.
    Value {
        /// The key.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::NoPassword => f.write_str(
                "no client password: put it in a file and pass --password-file PATH \
                 (or `password-file` in --config), or set CLISER_PASSWORD",
            ),
            ConfigError::Read { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            ConfigError::EmptyPassword(from) => write!(f, "the password from {from} is empty"),
            ConfigError::File { path, message } => write!(f, "{}: {message}", path.display()),
            ConfigError::Value { key, message } => write!(f, "config key {key}: {message}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Reads a password: the file's content without its final line ending.
fn read_secret_file(path: &Path) -> Result<Secret, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
    let pw = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
    if pw.is_empty() {
        return Err(ConfigError::EmptyPassword(path.display().to_string()));
    }
    Ok(Secret::new(pw.to_owned()))
}

fn secret_from(file: Option<&Path>, var: &str) -> Result<Option<Secret>, ConfigError> {
    if let Some(path) = file {
        return read_secret_file(path).map(Some);
    }
    match std::env::var(var) {
        Ok(v) if v.is_empty() => Err(ConfigError::EmptyPassword(var.to_owned())),
        Ok(v) => Ok(Some(Secret::new(v))),
        Err(_) => Ok(None),
    }
}

impl Config {
    /// Builds the settings from the flags, the `--config` file they name, and the environment.
    pub fn from_cli(cli: Cli) -> Result<Config, ConfigError> {
        let file = match &cli.config {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| ConfigError::Read { path: path.clone(), source })?;
                toml::from_str(&text)
                    .map_err(|e| ConfigError::File { path: path.clone(), message: e.to_string() })?
            }
        };
        let duration = |key: &'static str, v: Option<String>| -> Result<Option<Duration>, ConfigError> {
            v.map(|s| parse_duration(&s).map_err(|message| ConfigError::Value { key, message })).transpose()
        };
        let file_keepalive = duration("keepalive", file.keepalive)?;
        let file_auth = duration("auth-timeout", file.auth_timeout)?;
        let password_file = cli.password_file.or(file.password_file);
        let admin_file = cli.admin_password_file.or(file.admin_password_file);
        let dead_after = cli.dead_after.or(file.dead_after).unwrap_or(3);
        if dead_after == 0 {
            return Err(ConfigError::Value { key: "dead-after", message: "must be at least 1".into() });
        }
        Ok(Config {
            listen: cli.listen.or(file.listen).unwrap_or_else(|| "0.0.0.0:1111".into()),
            backdoor: cli.backdoor.or(file.backdoor).unwrap_or_else(|| "127.0.0.1:3333".into()),
            keepalive: cli.keepalive.or(file_keepalive).unwrap_or(Duration::from_secs(10)),
            auth_timeout: cli.auth_timeout.or(file_auth).unwrap_or(Duration::from_secs(10)),
            dead_after,
            max_clients: cli.max_clients.or(file.max_clients).unwrap_or(1024),
            readings_csv: cli.readings_csv.or(file.readings_csv),
            password: secret_from(password_file.as_deref(), "CLISER_PASSWORD")?
                .ok_or(ConfigError::NoPassword)?,
            admin_password: secret_from(admin_file.as_deref(), "CLISER_ADMIN_PASSWORD")?,
            ready_file: cli.ready_file.or(file.ready_file),
        })
    }

    /// How long a registered session may stay silent before it is dead.
    pub fn dead_timeout(&self) -> Duration {
        self.keepalive * self.dead_after
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(c.listen, "0.0.0.0:1111");
        assert_eq!(c.backdoor, "127.0.0.1:3333");
        assert_eq!(c.dead_timeout(), Duration::from_millis(1500));
        assert!(c.password.matches("s3cret"));
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
        assert!(e.to_string().starts_with("config key keepalive"), "{e}");
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
    fn an_empty_password_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "\n").unwrap();
        let e = Config::from_cli(cli(&["--password-file", pw.to_str().unwrap()])).unwrap_err();
        assert!(matches!(e, ConfigError::EmptyPassword(_)));
    }
}
