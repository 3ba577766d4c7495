//! Command line and config file, merged into one [`Config`].
//!
//! The TOML file's keys are exactly the long flag names (`server-timeout = "30s"`), and a flag given
//! on the command line wins over the file. The password is never a flag value: it would show in `ps`.

use cliser_hal::SensorSpec;
use cliser_protocol::ClientId;
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variable holding the password when no password file is configured.
pub const PASSWORD_ENV: &str = "CLISER_PASSWORD";
/// Where the backlog lives on a Pi.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/cliser";
/// How often the sensors are read by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// How long a silent server is given before the connection is dropped, by default.
pub const DEFAULT_SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// The command line.
#[derive(Debug, Default, clap::Parser)]
#[command(
    name = "cliser-pi-client",
    version,
    about = "Reads the DS18B20 thermometers of this Pi and forwards the readings to a cliser server.",
    after_help = "The password comes from --password-file or the CLISER_PASSWORD environment variable."
)]
pub struct Cli {
    /// The server to connect to.
    #[arg(long, global = true, value_name = "HOST:PORT")]
    pub server: Option<String>,
    /// This client's id (1-32 of A-Z a-z 0-9 . _ -) [default: the host name].
    #[arg(long, global = true, value_name = "ID")]
    pub id: Option<String>,
    /// File whose first line is the password.
    #[arg(long, global = true, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// Thermometers: w1, w1:DIR, gpio:PIN, sim or file:PATH [default: w1].
    #[arg(long, global = true, value_name = "SPEC")]
    pub sensor: Option<String>,
    /// How often all sensors are read, e.g. 10s or 500ms [default: 10s].
    #[arg(long, global = true, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Reconnect when the server sends nothing for this long; must exceed the server's keep-alive
    /// interval [default: 30s].
    #[arg(long, global = true, value_name = "DURATION")]
    pub server_timeout: Option<String>,
    /// Where the backlog of unacknowledged readings is kept [default: /var/lib/cliser].
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Command run (with sh -c) when the server orders a shutdown (130) [default: none, just exit].
    #[arg(long, global = true, value_name = "CMD")]
    pub shutdown_command: Option<String>,
    /// TOML file with the same keys as the long flags; flags win over it.
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// What to do; without one, run the client.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Check the thermometers: print what the hal diagnostics find and the current readings, then exit.
    Probe,
}

/// The config file: the long flags' names, each optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileConfig {
    server: Option<String>,
    id: Option<String>,
    password_file: Option<PathBuf>,
    sensor: Option<String>,
    interval: Option<String>,
    server_timeout: Option<String>,
    state_dir: Option<PathBuf>,
    shutdown_command: Option<String>,
}

/// What the client runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// `HOST:PORT` of the server.
    pub server: String,
    /// This client's id.
    pub id: ClientId,
    /// The password sent on `110`.
    pub password: String,
    /// Which thermometers to read.
    pub sensor: SensorSpec,
    /// Sampling period.
    pub interval: Duration,
    /// Silence after which the connection is dropped and made again.
    pub server_timeout: Duration,
    /// Where the backlog lives.
    pub state_dir: PathBuf,
    /// What `130` runs; `None` means just exit.
    pub shutdown_command: Option<String>,
}

/// Why the configuration is unusable. Every one of them ends the client with exit status 2.
#[derive(Debug)]
pub enum ConfigError {
    /// The config file could not be read.
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The config file is not valid TOML or has an unknown key.
    ParseFile {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said.
        message: String,
    },
    /// A required setting is absent; the text says how to give it.
    Missing(&'static str),
    /// A setting has a value that cannot be used.
    Invalid {
        /// The flag/key name.
        key: &'static str,
        /// The value given.
        value: String,
        /// Why it is refused.
        why: String,
    },
    /// The password file could not be read.
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ReadFile { path, source } => {
                write!(f, "cannot read config {}: {source}", path.display())
            }
            ConfigError::ParseFile { path, message } => write!(f, "config {}: {message}", path.display()),
            ConfigError::Missing(what) => f.write_str(what),
            ConfigError::Invalid { key, value, why } => write!(f, "--{key} {value:?}: {why}"),
            ConfigError::PasswordFile { path, source } => {
                write!(f, "cannot read password file {}: {source}", path.display())
            }
        }
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::ReadFile { source, .. } | ConfigError::PasswordFile { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn invalid(key: &'static str, value: &str, why: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid { key, value: value.to_owned(), why: why.to_string() }
}

fn read_file_config(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::ReadFile { path: path.to_owned(), source })?;
    toml::from_str(&text)
        .map_err(|e| ConfigError::ParseFile { path: path.to_owned(), message: e.to_string() })
}

fn duration(key: &'static str, text: Option<String>, default: Duration) -> Result<Duration, ConfigError> {
    let Some(text) = text else { return Ok(default) };
    let d = humantime::parse_duration(&text).map_err(|e| invalid(key, &text, e))?;
    if d.is_zero() {
        return Err(invalid(key, &text, "must be longer than zero"));
    }
    Ok(d)
}

/// The sensor setting alone (all that `probe` needs), flag over file over the default `w1`.
pub fn sensor_spec(cli: &Cli) -> Result<SensorSpec, ConfigError> {
    let file = match &cli.config {
        Some(p) => read_file_config(p)?,
        None => FileConfig::default(),
    };
    parse_sensor(cli.sensor.clone().or(file.sensor))
}

fn parse_sensor(text: Option<String>) -> Result<SensorSpec, ConfigError> {
    let text = text.unwrap_or_else(|| "w1".into());
    text.parse().map_err(|e| invalid("sensor", &text, e))
}

/// Reads the first line of a password file (a trailing `\r` is dropped).
pub fn read_password_file(path: &Path) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::PasswordFile { path: path.to_owned(), source })?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    Ok(line.to_owned())
}

/// The host name, the default client id: on a fleet each Pi already has a distinct one.
fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    // A fully qualified name would be long and dotted; the first label is what people call the Pi.
    name.split('.').next().filter(|s| !s.is_empty()).map(str::to_owned)
}

impl Config {
    /// Merges the command line, the config file it names, and the password source (`env` is looked up
    /// for [`PASSWORD_ENV`]; tests pass their own).
    pub fn resolve(cli: &Cli, env: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let file = match &cli.config {
            Some(p) => read_file_config(p)?,
            None => FileConfig::default(),
        };
        let server = cli.server.clone().or(file.server).ok_or(ConfigError::Missing(
            "no server given: pass --server HOST:PORT or set server = \"HOST:PORT\" in the config file",
        ))?;
        if !server.contains(':') {
            return Err(invalid("server", &server, "expected HOST:PORT"));
        }
        let id_text = match cli.id.clone().or(file.id) {
            Some(id) => id,
            None => host_name().ok_or(ConfigError::Missing("no id given and no host name: pass --id ID"))?,
        };
        let id = ClientId::new(&id_text).map_err(|e| invalid("id", &id_text, e))?;
        let password = match cli.password_file.clone().or(file.password_file) {
            Some(path) => read_password_file(&path)?,
            None => env(PASSWORD_ENV).ok_or(ConfigError::Missing(
                "no password: pass --password-file PATH or set CLISER_PASSWORD",
            ))?,
        };
        if password.is_empty() {
            return Err(ConfigError::Missing("the password is empty"));
        }
        if password.contains(['\n', '\r']) {
            return Err(ConfigError::Missing("the password must be one line"));
        }
        Ok(Config {
            server,
            id,
            password,
            sensor: parse_sensor(cli.sensor.clone().or(file.sensor))?,
            interval: duration("interval", cli.interval.clone().or(file.interval), DEFAULT_INTERVAL)?,
            server_timeout: duration(
                "server-timeout",
                cli.server_timeout.clone().or(file.server_timeout),
                DEFAULT_SERVER_TIMEOUT,
            )?,
            state_dir: cli.state_dir.clone().or(file.state_dir).unwrap_or_else(|| DEFAULT_STATE_DIR.into()),
            shutdown_command: cli
                .shutdown_command
                .clone()
                .or(file.shutdown_command)
                .filter(|c| !c.trim().is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn cli(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("cliser-pi-client").chain(args.iter().copied())).unwrap()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn pw_env(k: &str) -> Option<String> {
        (k == PASSWORD_ENV).then(|| "from-env".to_owned())
    }

    #[test]
    fn defaults_and_flags() {
        let c = Config::resolve(&cli(&["--server", "h:1", "--id", "pi-1"]), pw_env).unwrap();
        assert_eq!(c.password, "from-env");
        assert_eq!(c.interval, DEFAULT_INTERVAL);
        assert_eq!(c.server_timeout, DEFAULT_SERVER_TIMEOUT);
        assert_eq!(c.state_dir, PathBuf::from(DEFAULT_STATE_DIR));
        assert_eq!(c.sensor, SensorSpec::W1(cliser_hal::DEFAULT_W1_ROOT.into()));
        assert_eq!(c.shutdown_command, None);
        let c = Config::resolve(
            &cli(&["--server", "h:1", "--id", "x", "--interval", "500ms", "--sensor", "sim"]),
            pw_env,
        )
        .unwrap();
        assert_eq!(c.interval, Duration::from_millis(500));
        assert_eq!(c.sensor, SensorSpec::Sim);
    }

    #[test]
    fn file_keys_are_the_flag_names_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\nignored\n").unwrap();
        let cfg = dir.path().join("c.toml");
        let text = format!(
            "server = \"a:1\"\nid = \"pi-file\"\npassword-file = {:?}\nsensor = \"sim\"\ninterval = \"2s\"\n\
             server-timeout = \"5s\"\nstate-dir = \"/tmp/x\"\nshutdown-command = \"poweroff\"\n",
            pw.display().to_string()
        );
        std::fs::write(&cfg, text).unwrap();
        let c = Config::resolve(&cli(&["--config", cfg.to_str().unwrap()]), no_env).unwrap();
        assert_eq!((c.server.as_str(), c.id.as_str(), c.password.as_str()), ("a:1", "pi-file", "s3cret"));
        assert_eq!((c.interval, c.server_timeout), (Duration::from_secs(2), Duration::from_secs(5)));
        assert_eq!(c.state_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.shutdown_command.as_deref(), Some("poweroff"));
        let c = Config::resolve(
            &cli(&["--config", cfg.to_str().unwrap(), "--server", "b:2", "--server-timeout", "1m"]),
            no_env,
        )
        .unwrap();
        assert_eq!((c.server.as_str(), c.server_timeout), ("b:2", Duration::from_secs(60)));
    }

    #[test]
    fn refuses_unknown_keys_missing_password_and_bad_values() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, "server_timeout = \"5s\"\n").unwrap();
        let e = Config::resolve(&cli(&["--config", cfg.to_str().unwrap()]), pw_env).unwrap_err();
        assert!(matches!(e, ConfigError::ParseFile { .. }), "{e}");
        let e = Config::resolve(&cli(&["--server", "h:1", "--id", "x"]), no_env).unwrap_err();
        assert!(e.to_string().contains("no password"), "{e}");
        let e = Config::resolve(&cli(&["--server", "h:1", "--id", "a b"]), pw_env).unwrap_err();
        assert!(e.to_string().contains("--id"), "{e}");
        let e =
            Config::resolve(&cli(&["--server", "h:1", "--id", "x", "--interval", "0s"]), pw_env).unwrap_err();
        assert!(e.to_string().contains("--interval"), "{e}");
        let e =
            Config::resolve(&cli(&["--server", "h:1", "--id", "x", "--sensor", "usb"]), pw_env).unwrap_err();
        assert!(e.to_string().contains("--sensor"), "{e}");
        let e = Config::resolve(&cli(&["--id", "x"]), pw_env).unwrap_err();
        assert!(e.to_string().contains("--server"), "{e}");
        let e = Config::resolve(
            &cli(&["--server", "h:1", "--id", "x", "--password-file", "/nonexistent/pw"]),
            pw_env,
        )
        .unwrap_err();
        assert!(matches!(e, ConfigError::PasswordFile { .. }), "{e}");
    }

    #[test]
    fn the_password_is_not_a_flag() {
        assert!(Cli::try_parse_from(["cliser-pi-client", "--password", "x"]).is_err());
    }

    #[test]
    fn probe_takes_the_global_flags() {
        let c = cli(&["probe", "--sensor", "w1:/tmp/w1"]);
        assert!(matches!(c.command, Some(Command::Probe)));
        assert_eq!(sensor_spec(&c).unwrap(), SensorSpec::W1("/tmp/w1".into()));
    }
}
