//! Command line and config file, merged into one [`Config`].
//!
//! The TOML file's keys are exactly the long flag names (`server-timeout = "30s"`), and a flag given
//! on the command line wins over the file. The password is never a flag value: it would show in `ps`.

use crate::backlog::{Durability, DEFAULT_SPILL_AFTER, DEFAULT_SPILL_BOUND};
use cliser_common::config_file::{self, ConfigFileError};
use cliser_common::duration;
use cliser_common::secret::{self, SecretError};
use cliser_hal::resolution::{Resolution, ResolutionPlan};
use cliser_hal::SensorSpec;
use cliser_protocol::{ClientId, SensorId};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Environment variable holding the password when no password file is configured.
pub const PASSWORD_ENV: &str = "CLISER_PASSWORD";
/// Where the backlog lives on a Pi.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/cliser";
/// How often the sensors are read by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// How long a silent server is given before the connection is dropped, by default.
pub const DEFAULT_SERVER_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the per-sensor health summary is logged by default.
pub const DEFAULT_HEALTH_EVERY: Duration = Duration::from_secs(3600);
/// A server entry that starts with this is spoken to inside TLS.
pub const TLS_SCHEME: &str = "tls://";

/// The command line.
#[derive(Debug, Default, clap::Parser)]
#[command(
    name = "cliser-pi-client",
    version,
    about = "Reads the DS18B20 thermometers of this Pi and forwards the readings to a cliser server.",
    after_help = "The password comes from --password-file or the CLISER_PASSWORD environment variable."
)]
pub struct Cli {
    /// The server to connect to, or several separated by commas, tried in order (failover when one
    /// is down) (required: here or as `server` in the config file). `tls://HOST:PORT` speaks TLS
    /// (with --tls-ca); HOST must be a name on the server's certificate.
    #[arg(long, value_name = "[tls://]HOST:PORT[,...]")]
    pub server: Option<String>,
    /// The fleet CA's certificate (ca.pem of `cliser-server gen-tls`): a tls:// server's certificate
    /// must be signed by it. With it, every server must be tls://.
    #[arg(long, value_name = "PEM")]
    pub tls_ca: Option<PathBuf>,
    /// Also require the server's public key to have this digest (gen-tls prints it).
    #[arg(long, value_name = "sha256:HEX")]
    pub tls_pin: Option<String>,
    /// This client's id (1-32 of A-Z a-z 0-9 . _ -) [default: the host name]. With `probe
    /// --sensor sim`: the simulated sensors are those of this id, as a run reports them.
    #[arg(long, global = true, value_name = "ID")]
    pub id: Option<String>,
    /// File whose first line is the password.
    #[arg(long, value_name = "PATH")]
    pub password_file: Option<PathBuf>,
    /// Thermometers: w1, w1:DIR, gpio:PIN, sim (sim:crc-every=N: a flaky first sensor) or file:PATH
    /// [default: w1].
    #[arg(long, global = true, value_name = "SPEC")]
    pub sensor: Option<String>,
    /// How often all sensors are read, e.g. 10s or 500ms [default: 10s].
    #[arg(long, value_name = "DURATION")]
    pub interval: Option<String>,
    /// Reconnect when the server sends nothing for this long; must exceed the server's keep-alive
    /// interval [default: 30s].
    #[arg(long, value_name = "DURATION")]
    pub server_timeout: Option<String>,
    /// Where the backlog of unacknowledged readings is kept [default: /var/lib/cliser].
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// When readings are written to the state dir (the SD card). spill: kept in memory until the
    /// server acks them; those not acked within --spill-after are written in one batch with one
    /// sync (at most once per --spill-after), and all unacked ones on SIGTERM/SIGINT. A healthy link
    /// writes nothing (measured: 0 bytes a day at 8 sensors every 10 s); a sudden power cut loses up
    /// to --spill-after of readings. sync: every sample is written and fdatasync'ed before it is
    /// sent: a power cut loses nothing, at one synced write per interval (measured: about 54 MiB a
    /// day at 8 sensors every 10 s) [default: spill].
    #[arg(long, value_name = "spill|sync")]
    pub durability: Option<String>,
    /// With --durability spill: how long a reading may wait for its ack in memory only, which is
    /// also what a sudden power cut may lose [default: 60s].
    #[arg(long, value_name = "DURATION")]
    pub spill_after: Option<String>,
    /// How often to log one line per sensor with its reads, errors by reason and mean read time
    /// [default: 1h].
    #[arg(long, value_name = "DURATION")]
    pub health_every: Option<String>,
    /// Set every sensor to this resolution, 9..12 bits (9: 0.5 °C in 94 ms ... 12: 0.0625 °C in
    /// 750 ms), once per start and only where it differs; per sensor in the config file
    /// ([sensors."28-..."] resolution = 10) [default: each sensor keeps its own].
    #[arg(long, value_name = "BITS")]
    pub resolution: Option<String>,
    /// Also save a resolution that had to be written to the sensor's EEPROM, so it powers up at it
    /// (the EEPROM wears out after about 50,000 writes; written only when the resolution changed).
    #[arg(long)]
    pub persist_resolution: bool,
    /// Command run (with sh -c) when the server orders a shutdown (130) [default: none, just exit].
    #[arg(long, value_name = "CMD")]
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
    Probe {
        /// Keep reading: print each sensor's reading or error reason and its read time every
        /// --interval, until SIGINT (Ctrl-C).
        #[arg(long)]
        watch: bool,
        /// With --watch: how often to read, e.g. 2s [default: 10s].
        #[arg(long, value_name = "DURATION", requires = "watch")]
        interval: Option<String>,
    },
}

/// The config file: the long flags' names, each optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct FileConfig {
    #[serde(default, deserialize_with = "server_list")]
    server: Option<Vec<String>>,
    tls_ca: Option<PathBuf>,
    tls_pin: Option<String>,
    id: Option<String>,
    password_file: Option<PathBuf>,
    sensor: Option<String>,
    interval: Option<String>,
    server_timeout: Option<String>,
    state_dir: Option<PathBuf>,
    durability: Option<String>,
    spill_after: Option<String>,
    health_every: Option<String>,
    shutdown_command: Option<String>,
    resolution: Option<i64>,
    persist_resolution: Option<bool>,
    /// Per-sensor settings: `[sensors."28-0316a2795aff"]`.
    sensors: Option<BTreeMap<String, SensorSection>>,
}

/// One `[sensors."ID"]` table of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct SensorSection {
    resolution: Option<i64>,
}

/// What the client runs with.
#[derive(Debug, Clone)]
pub struct Config {
    /// `HOST:PORT` or `tls://HOST:PORT` of each server, in the order they are tried; never empty
    /// ([`Config::resolve`] refuses an empty list).
    pub server: Vec<String>,
    /// How tls:// servers are verified; present exactly when the servers are tls://.
    pub tls: Option<TlsClient>,
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
    /// When readings are written to the backlog's journal.
    pub durability: Durability,
    /// How often the per-sensor health summary is logged.
    pub health_every: Duration,
    /// What `130` runs; `None` means just exit.
    pub shutdown_command: Option<String>,
    /// The resolution asked of each sensor; empty: none is written.
    pub resolution: ResolutionPlan,
}

/// How the client verifies a tls:// server.
#[derive(Debug, Clone)]
pub struct TlsClient {
    /// The fleet CA file.
    pub ca: PathBuf,
    /// The pin, if any.
    pub pin: Option<cliser_tls::Pin>,
    /// The rustls configuration made of them.
    pub client: std::sync::Arc<cliser_tls::rustls::ClientConfig>,
}

/// Why the configuration is unusable. Every one of them ends the client with exit status 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file cannot be read, is not valid TOML, or has an unknown key.
    #[error(transparent)]
    File(#[from] ConfigFileError),
    /// A required setting is absent; the text says how to give it.
    #[error("{0}")]
    Missing(&'static str),
    /// A setting has a value that cannot be used.
    #[error("{setting} {value:?}: {why}")]
    Invalid {
        /// The flag (`--interval`) or config key (`config key interval`), as the user gave it.
        setting: String,
        /// The value given.
        value: String,
        /// Why it is refused.
        why: String,
    },
    /// The password file or variable is unusable.
    #[error(transparent)]
    Password(#[from] SecretError),
}

fn invalid(key: &str, from_flag: bool, value: &str, why: impl fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        setting: config_file::setting_name(key, from_flag),
        value: value.to_owned(),
        why: why.to_string(),
    }
}

/// `server` in the file: `"a:1111,b:1111"` as on the command line, or `["a:1111", "b:1111"]`; the
/// entries of either form are split at commas the same way.
fn server_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    struct Entries;
    impl<'de> serde::de::Visitor<'de> for Entries {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("\"HOST:PORT\", \"HOST:PORT,HOST:PORT\" or an array of \"HOST:PORT\" strings")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(split_servers(v))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut all = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                all.extend(split_servers(&item));
            }
            Ok(all)
        }
    }
    d.deserialize_any(Entries).map(Some)
}

/// The entries of a comma-separated list, trimmed; empty ones are kept so that they are refused.
fn split_servers(text: &str) -> Vec<String> {
    text.split(',').map(|e| e.trim().to_owned()).collect()
}

/// Checks each entry of the server list; an error names the entry (and, in a list, which one).
fn check_servers(servers: &[String], from_flag: bool) -> Result<(), ConfigError> {
    if servers.is_empty() {
        return Err(invalid("server", from_flag, "", "names no server: expected HOST:PORT[,HOST:PORT...]"));
    }
    for (i, entry) in servers.iter().enumerate() {
        if let Err(why) = check_host_port(entry) {
            let why = if servers.len() > 1 {
                format!("{why} (entry {} of {:?})", i + 1, servers.join(","))
            } else {
                why.to_owned()
            };
            return Err(invalid("server", from_flag, entry, why));
        }
    }
    Ok(())
}

fn check_host_port(entry: &str) -> Result<(), &'static str> {
    let entry = entry.strip_prefix(TLS_SCHEME).unwrap_or(entry);
    if entry.contains("://") {
        return Err("expected HOST:PORT or tls://HOST:PORT, the scheme is unknown");
    }
    let Some((host, port)) = entry.rsplit_once(':') else { return Err("expected HOST:PORT") };
    if host.is_empty() {
        return Err("expected HOST:PORT, the host is missing");
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err("expected HOST:PORT, the port is not a number from 1 to 65535"),
    }
}

/// The TLS settings: with tls:// servers the fleet CA is required, and with it every server must be
/// tls:// (a list that falls back to a server in clear would send the password in clear whenever
/// the TLS server is down).
fn tls_client(
    servers: &[String],
    servers_from_flag: bool,
    ca: Option<(PathBuf, bool)>,
    pin: Option<(String, bool)>,
) -> Result<Option<TlsClient>, ConfigError> {
    let tls_entry = servers.iter().find(|s| s.starts_with(TLS_SCHEME));
    let Some((ca, ca_from_flag)) = ca else {
        if let Some((text, from_flag)) = pin {
            return Err(invalid(
                "tls-pin",
                from_flag,
                &text,
                "needs --tls-ca PEM: the pin is checked in addition to the fleet CA",
            ));
        }
        return match tls_entry {
            Some(entry) => Err(invalid(
                "server",
                servers_from_flag,
                entry,
                "tls:// needs --tls-ca PEM (the fleet CA: ca.pem of `cliser-server gen-tls`)",
            )),
            None => Ok(None),
        };
    };
    let ca_text = ca.display().to_string();
    if let Some(plain) = servers.iter().find(|s| !s.starts_with(TLS_SCHEME)) {
        return Err(invalid(
            "server",
            servers_from_flag,
            plain,
            format!("speaks in clear while --tls-ca is given: write tls://{plain}, or drop --tls-ca"),
        ));
    }
    let pin = match pin {
        Some((text, from_flag)) => {
            Some(text.parse::<cliser_tls::Pin>().map_err(|e| invalid("tls-pin", from_flag, &text, e))?)
        }
        None => None,
    };
    let pem = std::fs::read(&ca)
        .map_err(|e| invalid("tls-ca", ca_from_flag, &ca_text, format!("cannot read it: {e}")))?;
    let client =
        cliser_tls::client_config(&pem, pin).map_err(|e| invalid("tls-ca", ca_from_flag, &ca_text, e))?;
    Ok(Some(TlsClient { ca, pin, client }))
}

fn duration(key: &str, given: Option<(String, bool)>, default: Duration) -> Result<Duration, ConfigError> {
    let Some((text, from_flag)) = given else { return Ok(default) };
    duration::parse_positive(&text).map_err(|e| invalid(key, from_flag, &text, e))
}

fn durability(given: Option<(String, bool)>, spill_after: Duration) -> Result<Durability, ConfigError> {
    match given {
        None => Ok(Durability::Spill { after: spill_after, bound: DEFAULT_SPILL_BOUND }),
        Some((text, from_flag)) => match text.as_str() {
            "spill" => Ok(Durability::Spill { after: spill_after, bound: DEFAULT_SPILL_BOUND }),
            "sync" => Ok(Durability::Sync),
            _ => Err(invalid("durability", from_flag, &text, "expected spill or sync")),
        },
    }
}

/// The resolution plan: `--resolution` over the file's `resolution` for every sensor, the file's
/// `[sensors."ID"] resolution` for one, `--persist-resolution` or `persist-resolution = true`.
fn resolution_plan(cli: &Cli, file: &FileConfig) -> Result<ResolutionPlan, ConfigError> {
    let default =
        match config_file::flag_or_file(cli.resolution.clone(), file.resolution.map(|b| b.to_string())) {
            None => None,
            Some((text, from_flag)) => {
                Some(text.parse::<Resolution>().map_err(|e| invalid("resolution", from_flag, &text, e))?)
            }
        };
    let mut per_sensor = BTreeMap::new();
    for (id, section) in file.sensors.iter().flatten() {
        let table = format!("sensors.{id:?}");
        let sensor =
            SensorId::new(id).map_err(|e| invalid(&table, false, id, format!("not a sensor id: {e}")))?;
        if let Some(bits) = section.resolution {
            let resolution = Resolution::try_from_bits(bits)
                .map_err(|e| invalid(&format!("{table}.resolution"), false, &bits.to_string(), e))?;
            per_sensor.insert(sensor, resolution);
        }
    }
    let persist = cli.persist_resolution || file.persist_resolution.unwrap_or(false);
    Ok(ResolutionPlan { default, per_sensor, persist })
}

/// What `probe` reads: the thermometers of a run with the same flags and config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTarget {
    /// Which thermometers.
    pub sensor: SensorSpec,
    /// The client's id, which names the simulated sensors (`sim`). `None` when it cannot be
    /// resolved and the backend does not need it: a real Pi's sensors are probed whatever its
    /// host name.
    pub id: Option<ClientId>,
}

/// The sensor and id settings as a run resolves them (flag over file; the id defaults to the host
/// name). The id is required only by `sim`, whose sensor ids derive from it.
pub fn probe_target(cli: &Cli) -> Result<ProbeTarget, ConfigError> {
    let file: FileConfig = config_file::load_or_default(cli.config.as_deref())?;
    let sensor = parse_sensor(config_file::flag_or_file(cli.sensor.clone(), file.sensor))?;
    let id = match client_id(cli.id.clone(), file.id) {
        Ok(id) => Some(id),
        Err(e) if matches!(sensor, SensorSpec::Sim(_)) => return Err(e),
        Err(_) => None,
    };
    Ok(ProbeTarget { sensor, id })
}

/// The client id: the flag over the file over the host name.
fn client_id(flag: Option<String>, file: Option<String>) -> Result<ClientId, ConfigError> {
    match config_file::flag_or_file(flag, file) {
        Some((text, from_flag)) => ClientId::new(&text).map_err(|e| invalid("id", from_flag, &text, e)),
        None => {
            let name =
                host_name().ok_or(ConfigError::Missing("no id given and no host name: pass --id ID"))?;
            ClientId::new(&name).map_err(|e| invalid("id", false, &name, format!("the host name: {e}")))
        }
    }
}

fn parse_sensor(given: Option<(String, bool)>) -> Result<SensorSpec, ConfigError> {
    let Some((text, from_flag)) = given else {
        return Ok(SensorSpec::W1(cliser_hal::DEFAULT_W1_ROOT.into()));
    };
    text.parse().map_err(|e| invalid("sensor", from_flag, &text, e))
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
        let file: FileConfig = config_file::load_or_default(cli.config.as_deref())?;
        let resolution = resolution_plan(cli, &file)?;
        let (server, server_from_flag) =
            config_file::flag_or_file(cli.server.as_deref().map(split_servers), file.server)
                .ok_or(ConfigError::Missing(
                "no server given: pass --server HOST:PORT or set server = \"HOST:PORT\" in the config file",
            ))?;
        check_servers(&server, server_from_flag)?;
        let tls = tls_client(
            &server,
            server_from_flag,
            config_file::flag_or_file(cli.tls_ca.clone(), file.tls_ca),
            config_file::flag_or_file(cli.tls_pin.clone(), file.tls_pin),
        )?;
        let id = client_id(cli.id.clone(), file.id)?;
        let password_file = cli.password_file.clone().or(file.password_file);
        let password = secret::secret_from("the password file", password_file.as_deref(), PASSWORD_ENV, env)?
            .ok_or(ConfigError::Missing("no password: pass --password-file PATH or set CLISER_PASSWORD"))?;
        Ok(Config {
            server,
            tls,
            id,
            password,
            sensor: parse_sensor(config_file::flag_or_file(cli.sensor.clone(), file.sensor))?,
            interval: duration(
                "interval",
                config_file::flag_or_file(cli.interval.clone(), file.interval),
                DEFAULT_INTERVAL,
            )?,
            server_timeout: duration(
                "server-timeout",
                config_file::flag_or_file(cli.server_timeout.clone(), file.server_timeout),
                DEFAULT_SERVER_TIMEOUT,
            )?,
            state_dir: cli.state_dir.clone().or(file.state_dir).unwrap_or_else(|| DEFAULT_STATE_DIR.into()),
            durability: durability(
                config_file::flag_or_file(cli.durability.clone(), file.durability),
                duration(
                    "spill-after",
                    config_file::flag_or_file(cli.spill_after.clone(), file.spill_after),
                    DEFAULT_SPILL_AFTER,
                )?,
            )?,
            health_every: duration(
                "health-every",
                config_file::flag_or_file(cli.health_every.clone(), file.health_every),
                DEFAULT_HEALTH_EVERY,
            )?,
            shutdown_command: cli
                .shutdown_command
                .clone()
                .or(file.shutdown_command)
                .filter(|c| !c.trim().is_empty()),
            resolution,
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
        assert_eq!(c.durability, Durability::spill());
        assert_eq!(c.health_every, DEFAULT_HEALTH_EVERY);
        let c = Config::resolve(
            &cli(&["--server", "h:1", "--id", "x", "--interval", "500ms", "--sensor", "sim"]),
            pw_env,
        )
        .unwrap();
        assert_eq!(c.interval, Duration::from_millis(500));
        assert_eq!(c.sensor, SensorSpec::Sim(Default::default()));
    }

    #[test]
    fn file_keys_are_the_flag_names_and_flags_win() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\r\n").unwrap();
        let cfg = dir.path().join("c.toml");
        let text = format!(
            "server = \"a:1\"\nid = \"pi-file\"\npassword-file = {:?}\nsensor = \"sim\"\ninterval = \"2s\"\n\
             server-timeout = \"5s\"\nstate-dir = \"/tmp/x\"\nshutdown-command = \"poweroff\"\n",
            pw.display().to_string()
        );
        std::fs::write(&cfg, text).unwrap();
        let c = Config::resolve(&cli(&["--config", cfg.to_str().unwrap()]), no_env).unwrap();
        assert_eq!(
            (c.server.join(","), c.id.as_str(), c.password.as_str()),
            ("a:1".into(), "pi-file", "s3cret")
        );
        assert_eq!((c.interval, c.server_timeout), (Duration::from_secs(2), Duration::from_secs(5)));
        assert_eq!(c.state_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.shutdown_command.as_deref(), Some("poweroff"));
        let c = Config::resolve(
            &cli(&["--config", cfg.to_str().unwrap(), "--server", "b:2", "--server-timeout", "1m"]),
            no_env,
        )
        .unwrap();
        assert_eq!((c.server, c.server_timeout), (vec!["b:2".to_owned()], Duration::from_secs(60)));
    }

    #[test]
    fn refuses_unknown_keys_missing_password_and_bad_values() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, "server_timeout = \"5s\"\n").unwrap();
        let e = Config::resolve(&cli(&["--config", cfg.to_str().unwrap()]), pw_env).unwrap_err();
        assert!(matches!(e, ConfigError::File(ConfigFileError::Parse { .. })), "{e}");
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
        assert!(matches!(e, ConfigError::Password(SecretError::Read { .. })), "{e}");
        assert!(e.to_string().starts_with("cannot read the password file /nonexistent/pw: "), "{e}");
        let two = dir.path().join("two-lines");
        std::fs::write(&two, "s3cret\nignored\n").unwrap();
        let e = Config::resolve(
            &cli(&["--server", "h:1", "--id", "x", "--password-file", two.to_str().unwrap()]),
            pw_env,
        )
        .unwrap_err();
        assert!(matches!(e, ConfigError::Password(SecretError::ManyLines { .. })), "{e}");
        std::fs::write(&cfg, "interval = \"0s\"\n").unwrap();
        let e = Config::resolve(
            &cli(&["--server", "h:1", "--id", "x", "--config", cfg.to_str().unwrap()]),
            pw_env,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("config key interval"), "{e}");
    }

    fn servers_of(args: &[&str], file: Option<&str>) -> Result<Vec<String>, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        let mut all = vec!["--id", "x"];
        all.extend_from_slice(args);
        if let Some(text) = file {
            std::fs::write(&cfg, text).unwrap();
            all.extend(["--config", cfg.to_str().unwrap()]);
        }
        Config::resolve(&cli(&all), pw_env).map(|c| c.server)
    }

    #[test]
    fn several_servers_as_a_comma_list_or_a_toml_array() {
        let list = vec!["a:1111".to_owned(), "b.example:1111".to_owned(), "[::1]:2222".to_owned()];
        assert_eq!(servers_of(&["--server", "a:1111, b.example:1111,[::1]:2222"], None).unwrap(), list);
        let file = "server = \"a:1111,b.example:1111, [::1]:2222\"\n";
        assert_eq!(servers_of(&[], Some(file)).unwrap(), list);
        let file = "server = [\"a:1111\", \"b.example:1111\", \"[::1]:2222\"]\n";
        assert_eq!(servers_of(&[], Some(file)).unwrap(), list);
        // The flag replaces the file's whole list.
        assert_eq!(servers_of(&["--server", "c:1"], Some(file)).unwrap(), ["c:1"]);
        assert_eq!(servers_of(&["--server", "c:1"], None).unwrap(), ["c:1"]);
    }

    #[test]
    fn a_bad_server_entry_is_named_with_where_it_came_from() {
        let e = servers_of(&["--server", "a:1111,b"], None).unwrap_err().to_string();
        assert_eq!(e, "--server \"b\": expected HOST:PORT (entry 2 of \"a:1111,b\")");
        let e = servers_of(&["--server", "h"], None).unwrap_err().to_string();
        assert_eq!(e, "--server \"h\": expected HOST:PORT");
        let e = servers_of(&["--server", "h:http"], None).unwrap_err().to_string();
        assert!(e.starts_with("--server \"h:http\": expected HOST:PORT, the port is not"), "{e}");
        let e = servers_of(&["--server", "a:1,"], None).unwrap_err().to_string();
        assert!(e.starts_with("--server \"\": expected HOST:PORT (entry 2 of"), "{e}");
        let e = servers_of(&[], Some("server = [\"a:1\", \":1111\"]\n")).unwrap_err().to_string();
        assert!(e.starts_with("config key server \":1111\": expected HOST:PORT, the host is missing"), "{e}");
        let e = servers_of(&[], Some("server = []\n")).unwrap_err().to_string();
        assert!(e.starts_with("config key server \"\": names no server"), "{e}");
        let e = servers_of(&[], Some("server = 1111\n")).unwrap_err().to_string();
        assert!(e.contains("HOST:PORT"), "{e}");
    }

    #[test]
    fn tls_servers_need_the_fleet_ca_and_then_every_server_is_tls() {
        let dir = tempfile::tempdir().unwrap();
        let ca = cliser_tls::gen::Ca::new().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.cert_pem()).unwrap();
        let ca_path = ca_file.to_str().unwrap();
        let resolve = |args: &[&str]| Config::resolve(&cli(&[&["--id", "x"], args].concat()), pw_env);
        let c = resolve(&["--server", "tls://a:1112,tls://[::1]:1112", "--tls-ca", ca_path]).unwrap();
        assert_eq!(c.server, ["tls://a:1112", "tls://[::1]:1112"]);
        assert!(c.tls.as_ref().is_some_and(|t| t.ca == ca_file && t.pin.is_none()));
        assert!(resolve(&["--server", "a:1111"]).unwrap().tls.is_none());

        let e = resolve(&["--server", "tls://a:1112"]).unwrap_err().to_string();
        assert!(e.starts_with("--server \"tls://a:1112\": tls:// needs --tls-ca"), "{e}");
        let e = resolve(&["--server", "tls://a:1112,b:1111", "--tls-ca", ca_path]).unwrap_err().to_string();
        assert!(e.starts_with("--server \"b:1111\": speaks in clear while --tls-ca is given"), "{e}");
        let e = resolve(&["--server", "tls://a", "--tls-ca", ca_path]).unwrap_err().to_string();
        assert!(e.contains("expected HOST:PORT"), "{e}");
        let e = resolve(&["--server", "https://a:1"]).unwrap_err().to_string();
        assert!(e.contains("the scheme is unknown"), "{e}");
        let e =
            resolve(&["--server", "tls://a:1", "--tls-ca", "/nonexistent/ca.pem"]).unwrap_err().to_string();
        assert!(e.starts_with("--tls-ca \"/nonexistent/ca.pem\": cannot read it"), "{e}");
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let e =
            resolve(&["--server", "tls://a:1", "--tls-ca", junk.to_str().unwrap()]).unwrap_err().to_string();
        assert!(e.contains("no certificate"), "{e}");
    }

    #[test]
    fn the_pin_is_checked_and_needs_the_ca() {
        let dir = tempfile::tempdir().unwrap();
        let ca = cliser_tls::gen::Ca::new().unwrap();
        let pin = ca.issue_server(&["a".to_owned()]).unwrap().pin.to_string();
        let conf = dir.path().join("c.toml");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca.cert_pem()).unwrap();
        std::fs::write(
            &conf,
            format!("server = \"tls://a:1112\"\ntls-ca = {ca_file:?}\ntls-pin = \"{pin}\"\n"),
        )
        .unwrap();
        let c = Config::resolve(&cli(&["--id", "x", "--config", conf.to_str().unwrap()]), pw_env).unwrap();
        assert_eq!(c.tls.unwrap().pin.map(|p| p.to_string()), Some(pin.clone()));
        let e =
            Config::resolve(&cli(&["--id", "x", "--server", "a:1", "--tls-pin", &pin]), pw_env).unwrap_err();
        assert!(e.to_string().contains("needs --tls-ca"), "{e}");
        let e = Config::resolve(
            &cli(&["--id", "x", "--config", conf.to_str().unwrap(), "--tls-pin", "md5:00"]),
            pw_env,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("--tls-pin \"md5:00\": expected sha256:"), "{e}");
    }

    #[test]
    fn durability_from_flags_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(&cfg, "durability = \"sync\"\nspill-after = \"5m\"\nhealth-every = \"10s\"\n")
            .unwrap();
        let base = ["--server", "h:1", "--id", "x", "--config", cfg.to_str().unwrap()];
        let c = Config::resolve(&cli(&base), pw_env).unwrap();
        assert_eq!((c.durability, c.health_every), (Durability::Sync, Duration::from_secs(10)));
        let c = Config::resolve(&cli(&[&base[..], &["--durability", "spill"]].concat()), pw_env).unwrap();
        assert_eq!(
            c.durability,
            Durability::Spill { after: Duration::from_secs(300), bound: DEFAULT_SPILL_BOUND }
        );
        let e = Config::resolve(&cli(&[&base[..], &["--durability", "fsync"]].concat()), pw_env).unwrap_err();
        assert_eq!(e.to_string(), "--durability \"fsync\": expected spill or sync");
        let e = Config::resolve(&cli(&[&base[..], &["--spill-after", "0s"]].concat()), pw_env).unwrap_err();
        assert!(e.to_string().starts_with("--spill-after"), "{e}");
    }

    #[test]
    fn resolution_from_flags_and_file_default_and_per_sensor() {
        let c = Config::resolve(&cli(&["--server", "h:1", "--id", "x"]), pw_env).unwrap();
        assert!(c.resolution.is_empty() && !c.resolution.persist, "no setting: nothing written");
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("c.toml");
        std::fs::write(
            &cfg,
            "resolution = 11\npersist-resolution = true\n[sensors.\"28-0316a2795aff\"]\nresolution = 9\n",
        )
        .unwrap();
        let base = ["--server", "h:1", "--id", "x", "--config", cfg.to_str().unwrap()];
        let c = Config::resolve(&cli(&base), pw_env).unwrap();
        let id = SensorId::new("28-0316a2795aff").unwrap();
        assert_eq!(c.resolution.default, Some(Resolution::Bits11));
        assert_eq!(c.resolution.per_sensor.get(&id), Some(&Resolution::Bits9));
        assert!(c.resolution.persist);
        let c = Config::resolve(&cli(&[&base[..], &["--resolution", "10"]].concat()), pw_env).unwrap();
        assert_eq!(c.resolution.default, Some(Resolution::Bits10), "the flag wins");
        assert_eq!(c.resolution.for_sensor(&id).map(|s| s.resolution), Some(Resolution::Bits9));
        let c =
            Config::resolve(&cli(&["--server", "h:1", "--id", "x", "--persist-resolution"]), pw_env).unwrap();
        assert!(c.resolution.persist);
    }

    #[test]
    fn a_bad_resolution_names_its_key() {
        let resolve = |args: &[&str], file: &str| {
            let dir = tempfile::tempdir().unwrap();
            let cfg = dir.path().join("c.toml");
            std::fs::write(&cfg, file).unwrap();
            let all = [&["--server", "h:1", "--id", "x", "--config", cfg.to_str().unwrap()], args].concat();
            Config::resolve(&cli(&all), pw_env).unwrap_err().to_string()
        };
        let e = resolve(&["--resolution", "13"], "");
        assert!(e.starts_with("--resolution \"13\": resolution 13 is outside 9..=12 bits"), "{e}");
        let e = resolve(&["--resolution", "fine"], "");
        assert!(e.starts_with("--resolution \"fine\": "), "{e}");
        let e = resolve(&[], "resolution = 8\n");
        assert!(e.starts_with("config key resolution \"8\": resolution 8 is outside"), "{e}");
        let e = resolve(&[], "[sensors.\"28-0316a2795aff\"]\nresolution = 16\n");
        assert!(e.starts_with("config key sensors.\"28-0316a2795aff\".resolution \"16\""), "{e}");
        let e = resolve(&[], "[sensors.\"no spaces\"]\nresolution = 9\n");
        assert!(e.starts_with("config key sensors.\"no spaces\" \"no spaces\": not a sensor id"), "{e}");
        let e = resolve(&[], "[sensors.\"28-0316a2795aff\"]\nprecision = 9\n");
        assert!(e.contains("precision"), "unknown keys are refused: {e}");
    }

    #[test]
    fn the_password_is_not_a_flag() {
        assert!(Cli::try_parse_from(["cliser-pi-client", "--password", "x"]).is_err());
    }

    #[test]
    fn probe_takes_the_global_flags() {
        let c = cli(&["probe", "--sensor", "w1:/tmp/w1"]);
        assert!(matches!(c.command, Some(Command::Probe { watch: false, interval: None })));
        assert_eq!(probe_target(&c).unwrap().sensor, SensorSpec::W1("/tmp/w1".into()));
        let c = cli(&["probe", "--watch", "--interval", "2s"]);
        assert!(matches!(c.command, Some(Command::Probe { watch: true, interval: Some(_) })));
    }

    #[test]
    fn probe_resolves_the_id_as_a_run_does() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("c.toml");
        std::fs::write(&conf, "id = \"from-file\"\nsensor = \"sim\"\n").unwrap();
        let conf = conf.to_str().unwrap();
        let t = probe_target(&cli(&["probe", "--config", conf])).unwrap();
        assert_eq!((t.sensor, t.id.unwrap().as_str()), (SensorSpec::Sim(Default::default()), "from-file"));
        let t = probe_target(&cli(&["probe", "--config", conf, "--id", "from-flag"])).unwrap();
        assert_eq!(t.id.unwrap().as_str(), "from-flag");
        // A run would refuse it: so does probe, when the sensors depend on it.
        let e = probe_target(&cli(&["probe", "--sensor", "sim", "--id", "no spaces"])).unwrap_err();
        assert!(e.to_string().starts_with("--id \"no spaces\""), "{e}");
        // A real Pi's sensors do not.
        let t = probe_target(&cli(&["probe", "--sensor", "w1:/x", "--id", "no spaces"])).unwrap();
        assert_eq!(t.id, None);
    }
}
